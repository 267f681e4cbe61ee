"""Process-wide coordinator state: the outbox's wake-up, the membership cache and the per-intake
locks. Kept in memory on purpose: after a restart memberships are asked again, and the outbox is
read anyway. (Pacing is the sender's, bot/sender.py.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Membership:
    allowed: bool
    until: datetime


@dataclass
class CoordinatorState:
    """What the coordinator side keeps in memory for the life of the process."""

    # Set when something is queued in the outbox, so that it is handed to the sender at once
    # instead of at the next periodic read (bot/delivery.py).
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    members: dict[int, Membership] = field(default_factory=dict)
    # One change at a time per intake: two coordinators pressing "claim" together must not
    # both see "nieuw" and tell the person twice. (Updates from different users in one group
    # run in parallel: SimpleEventIsolation keys on chat and user.)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, number: str) -> asyncio.Lock:
        return self._locks.setdefault(number, asyncio.Lock())

"""Process-wide coordinator state: the send pace per chat, the worker's wake-up and the
membership cache. Kept in memory on purpose: after a restart a fresh pace is safe (Telegram's
window is a minute) and memberships are asked again."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Telegram: about 20 messages a minute to one group, about one a second to one private chat
# (measurements.md). Spreading group messages 3 s apart keeps any 60 s window at 20.
GROUP_WINDOW = timedelta(seconds=60)
GROUP_PER_WINDOW = 20
GROUP_GAP = timedelta(seconds=3)
PRIVATE_GAP = timedelta(seconds=1)


def is_group(chat_id: int) -> bool:
    """Group and supergroup ids are negative; private chat ids are the user's id."""
    return chat_id < 0


@dataclass
class SendPace:
    """When the next message to a chat may leave, from the messages that left before.

    Both the outbox worker and the direct answers to coordinator commands record here, so a
    busy coordinator group does not push the worker over Telegram's group limit.
    """

    _sent: dict[int, deque[datetime]] = field(default_factory=dict)

    def record(self, chat_id: int, at: datetime) -> None:
        times = self._sent.setdefault(chat_id, deque())
        times.append(at)
        while len(times) > GROUP_PER_WINDOW:
            times.popleft()

    def next_free(self, chat_id: int, now: datetime) -> datetime:
        times = self._sent.get(chat_id)
        if not times:
            return now
        if not is_group(chat_id):
            return max(now, times[-1] + PRIVATE_GAP)
        earliest = times[-1] + GROUP_GAP
        if len(times) >= GROUP_PER_WINDOW:
            earliest = max(earliest, times[0] + GROUP_WINDOW)
        return max(now, earliest)

    def sent_within(self, chat_id: int, start: datetime, end: datetime) -> int:
        return sum(1 for t in self._sent.get(chat_id, ()) if start <= t < end)


@dataclass
class Membership:
    allowed: bool
    until: datetime


@dataclass
class CoordinatorState:
    """What the coordinator side keeps in memory for the life of the process."""

    pace: SendPace = field(default_factory=SendPace)
    # Set when something is queued, so the worker delivers at once instead of at its next poll.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    members: dict[int, Membership] = field(default_factory=dict)
    # One change at a time per intake: two coordinators pressing "claim" together must not
    # both see "nieuw" and tell the person twice. (Updates from different users in one group
    # run in parallel: SimpleEventIsolation keys on chat and user.)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, number: str) -> asyncio.Lock:
        return self._locks.setdefault(number, asyncio.Lock())

"""Ports: what the domain needs from the outside world, as Protocols the adapters implement.

`storage/` implements the repositories on TinyDB (and in memory for tests); tests pass a fake
clock. Methods are async because the real adapters move file I/O off the event loop.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from flows.records import (
    Actor,
    Delivery,
    HistoryEntry,
    Intake,
    IntakeKind,
    MessageRef,
    Note,
    Status,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware UTC."""
        ...


@dataclass(frozen=True, slots=True)
class IntakeFilter:
    """Filter for listing intakes. Every field that is set must match."""

    status: Status | None = None
    kind: IntakeKind | None = None
    target_group: str | None = None
    route: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class SentAbout:
    """Which intake a message the bot sent is about, and the history action that sent it."""

    number: str
    action: str


@dataclass(frozen=True, slots=True)
class IntakePage:
    items: Sequence[Intake]
    total: int
    offset: int
    limit: int


class IntakeRepository(Protocol):
    async def add(self, intake: Intake) -> Intake:
        """Store a confirmed intake; assigns its number (K-2026-0042) and returns it stored."""
        ...

    async def get(self, number: str) -> Intake | None:
        """One intake by number, or None."""
        ...

    async def list(self, filter: IntakeFilter, offset: int = 0, limit: int = 10) -> IntakePage:
        """Intakes that match, newest first."""
        ...

    async def search_name(self, text: str, limit: int = 20) -> Sequence[Intake]:
        """Intakes whose name contains the text, case-insensitive, newest first."""
        ...

    async def for_user(self, user_id: int) -> Sequence[Intake]:
        """Every intake of one Telegram user, for "my data" and erasure."""
        ...

    async def update(
        self,
        number: str,
        by: str,
        action: str,
        detail: str = "",
        *,
        status: Status | None = None,
        assignee_id: int | None = None,
        assignee_name: str | None = None,
        note: Note | None = None,
        card: tuple[int, int] | None = None,
        actor: Actor | None = None,
        messages: Sequence[MessageRef] = (),
    ) -> Intake | None:
        """Change an intake and append a history entry (who, what, when) in one durable write.
        `action` is a `HistoryAction`; `actor` is the coordinator who did it (then `by` is
        `actor.label`), `messages` what the action sent."""
        ...

    async def record(self, number: str, entry: HistoryEntry) -> None:
        """Append an audit entry only (a view, an export, a message)."""
        ...

    async def replace(self, intake: Intake) -> None:
        """Write an intake back whole (used by erasure of the sensitive answers)."""
        ...

    async def erase(self, tombstone: Intake) -> None:
        """Write an erased intake (a tombstone) over the stored one, leaving no copy of what
        it held in any file (an index file included), whatever a crash interrupts."""
        ...

    async def by_message(self, chat_id: int, message_id: int) -> SentAbout | None:
        """The intake a message the bot sent is about, from the history's `messages` of a
        relayed message, a note prompt or a message delivered to the person; None for any
        other message. An index lookup: no history is read."""
        ...

    async def last_written_to(self, user_id: int, since: datetime) -> str | None:
        """The number of this user's intake that a coordinator wrote to last (a
        `HistoryAction.TO_PERSON` line), if that was at or after `since`."""
        ...

    async def checkpoint(self) -> None:
        """Write now what is kept in memory and in derived files (the index snapshot): after
        an erasure no copy of the erased data may wait for the next periodic write."""
        ...

    # builtins.list: inside this class, `list` is the method above.
    async def delete_user(self, user_id: int) -> builtins.list[str]:
        """Delete every intake of one user for real; returns the numbers deleted."""
        ...

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete intakes created before the cutoff; returns how many."""
        ...

    async def all(self) -> Sequence[Intake]:
        """Every intake, oldest first, for export and figures."""
        ...


class Outbox(Protocol):
    async def put(self, delivery: Delivery) -> None:
        """Queue a delivery durably before anybody is told it was sent."""
        ...

    async def due(self, now: datetime, limit: int = 50) -> Sequence[Delivery]:
        """Undelivered deliveries whose next attempt is due, oldest first."""
        ...

    async def pending(self) -> Sequence[Delivery]:
        """Every undelivered delivery, oldest first."""
        ...

    async def get(self, delivery_id: str) -> Delivery | None:
        """One undelivered delivery as stored now; None once delivered or erased."""
        ...

    async def mark_delivered(self, delivery_id: str, at: datetime) -> None: ...

    async def mark_failed(
        self, delivery_id: str, error: str, next_attempt_at: datetime | None
    ) -> None:
        """Count a failed attempt and set when to try again; with None it failed for good
        (`DeliveryStatus.FAILED`): never tried again, still listed by `pending`."""
        ...

    async def delete_user(self, user_id: int) -> int:
        """Remove every delivery about one user; returns how many."""
        ...

    async def delete_intakes(self, numbers: Collection[str]) -> int:
        """Remove every delivery about these intakes (a card queued by someone else carries
        no user id); returns how many."""
        ...

    async def purge_delivered_before(self, cutoff: datetime) -> int: ...


class Conversations(Protocol):
    """The conversation store, as far as erasure needs it (storage.ConversationStore)."""

    async def delete_user(self, user_id: int) -> int:
        """Forget every conversation of one user; returns how many."""
        ...


class IntakeLocks(Protocol):
    """One change at a time per intake (two coordinators pressing together; an erasure while
    a coordinator changes the intake)."""

    def lock(self, number: str) -> AbstractAsyncContextManager[Any]: ...


class PersonNews(StrEnum):
    """What the person is told about their intake, in their language (the adapter words it)."""

    PICKED_UP = "picked-up"  # a coordinator picked it up
    CLOSED = "closed"  # placed or closed


class Handoff(Protocol):
    """Messages about an intake, queued durably (bot/handoff.py words and queues them; the
    outbox delivers). Each returns once the message is queued, not sent."""

    async def queue_card(self, intake: Intake) -> None:
        """The coordinators' card of a new intake, unless it is queued or placed already."""
        ...

    async def card_changed(self, intake: Intake) -> None:
        """The card shown anew, as the intake is now."""
        ...

    async def tell_person(self, intake: Intake, news: PersonNews) -> None: ...

    async def to_person(self, intake: Intake, text: str) -> None:
        """A coordinator's text to the person."""
        ...

    async def from_person(self, intake: Intake, text: str, to: Actor | None) -> None:
        """The person's text to one coordinator's private chat (`to`; None: nobody may get
        it), a line under the card that says where it went, and a thank-you to the person."""
        ...


class Funnel(Protocol):
    """Aggregate counts of how far people get, with no link to any person.

    Keys look like "candidate:started", "candidate:shown:age", "candidate:finished",
    "candidate:stopped:age", "candidate:ended:no_consent".
    """

    async def count(self, key: str) -> None: ...

    async def counts(self) -> dict[str, int]: ...

    async def close(self) -> None:
        """Write what is still only in memory."""
        ...

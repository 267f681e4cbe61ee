"""In-memory stores with the same behaviour as the TinyDB ones, for tests and dry runs.

Records are copied through JSON on the way in and out, as the file stores do, so a test that
passes here does not depend on sharing objects with the store.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from flows.ports import Clock, IntakeFilter, IntakePage, SentAbout
from flows.records import (
    Actor,
    Delivery,
    HistoryEntry,
    Intake,
    MessageRef,
    Note,
    Status,
    utc_iso,
)
from storage.conversations import MemoryConversationStorage
from storage.intake_index import (
    IndexEntry,
    IntakeIndex,
    apply_update,
    entry_for,
    json_copy,
    prepare_new,
)
from storage.outbox import delivered_record, failed, select_due

logger = logging.getLogger("baanwijzer.storage")

__all__ = ["MemoryConversationStorage", "MemoryIntakeRepository", "MemoryOutbox"]


class MemoryIntakeRepository:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._index = IntakeIndex()
        self._docs: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    def _load(self, entries: Sequence[IndexEntry]) -> list[Intake]:
        return [Intake.from_dict(json_copy(self._docs[e.number])) for e in entries]

    async def add(self, intake: Intake) -> Intake:
        async with self._lock:
            doc = prepare_new(intake, self._index, self._clock.now())
            self._docs[doc["number"]] = doc
            self._index.put(entry_for(doc, "", self._index.next_order()))
            return Intake.from_dict(json_copy(doc))

    async def get(self, number: str) -> Intake | None:
        doc = self._docs.get(number)
        return None if doc is None else Intake.from_dict(json_copy(doc))

    async def list(self, filter: IntakeFilter, offset: int = 0, limit: int = 10) -> IntakePage:
        entries, total = self._index.select(filter, offset, limit)
        return IntakePage(items=self._load(entries), total=total, offset=offset, limit=limit)

    async def search_name(self, text: str, limit: int = 20) -> Sequence[Intake]:
        return self._load(self._index.search(text, limit))

    async def for_user(self, user_id: int) -> Sequence[Intake]:
        return self._load(self._index.for_user(user_id))

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
        async with self._lock:
            intake = await self.get(number)
            if intake is None:
                return None
            apply_update(
                intake,
                self._clock.now(),
                by,
                action,
                detail,
                status=status,
                assignee_id=assignee_id,
                assignee_name=assignee_name,
                note=note,
                card=card,
                actor=actor,
                messages=messages,
            )
            return self._write_back(intake)

    def _write_back(self, intake: Intake) -> Intake | None:
        entry = self._index.entries.get(intake.number)
        if entry is None:
            return None
        doc: dict[str, Any] = json_copy(intake.to_dict())
        self._docs[intake.number] = doc
        self._index.put(entry_for(doc, "", entry.order))
        return Intake.from_dict(json_copy(doc))

    async def record(self, number: str, entry: HistoryEntry) -> None:
        async with self._lock:
            intake = await self.get(number)
            if intake is not None:
                intake.history.append(entry)
                self._write_back(intake)

    async def replace(self, intake: Intake) -> None:
        async with self._lock:
            self._write_back(intake)

    async def erase(self, tombstone: Intake) -> None:
        await self.replace(tombstone)

    def _remove(self, entries: Sequence[IndexEntry]) -> builtins.list[str]:
        numbers = [e.number for e in entries]
        for number in numbers:
            self._index.remove(number)
            del self._docs[number]
        return numbers

    async def delete_user(self, user_id: int) -> builtins.list[str]:
        async with self._lock:
            return self._remove(self._index.for_user(user_id))

    async def purge_numbers_before(self, cutoff: datetime) -> builtins.list[str]:
        async with self._lock:
            return self._remove(self._index.created_before(cutoff))

    async def purge_before(self, cutoff: datetime) -> int:
        return len(await self.purge_numbers_before(cutoff))

    async def purge_expired(
        self, created_cutoff: datetime, closed_cutoff: datetime
    ) -> builtins.list[str]:
        async with self._lock:
            return self._remove(self._index.expired(created_cutoff, closed_cutoff))

    async def by_message(self, chat_id: int, message_id: int) -> SentAbout | None:
        return self._index.about(chat_id, message_id)

    async def last_written_to(self, user_id: int, since: datetime) -> str | None:
        return self._index.last_written_to(user_id, since)

    async def all(self) -> Sequence[Intake]:
        return self._load(list(self._index.oldest_first()))

    async def count(self) -> int:
        return len(self._index)

    async def checkpoint(self) -> None:
        pass

    async def close(self) -> None:
        pass


class MemoryOutbox:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._pending: dict[str, dict[str, Any]] = {}  # in put order
        self._delivered: list[dict[str, Any]] = []

    def _all(self) -> list[Delivery]:
        return [Delivery.from_dict(json_copy(d)) for d in self._pending.values()]

    async def put(self, delivery: Delivery) -> None:
        if delivery.id not in self._pending:
            self._pending[delivery.id] = json_copy(delivery.to_dict())

    async def due(self, now: datetime, limit: int = 50) -> Sequence[Delivery]:
        return select_due(self._all(), now, limit)

    async def pending(self) -> Sequence[Delivery]:
        return self._all()

    async def get(self, delivery_id: str) -> Delivery | None:
        doc = self._pending.get(delivery_id)
        return None if doc is None else Delivery.from_dict(json_copy(doc))

    async def mark_delivered(self, delivery_id: str, at: datetime) -> None:
        doc = self._pending.pop(delivery_id, None)
        if doc is not None:
            self._delivered.append(delivered_record(Delivery.from_dict(doc), at))

    async def mark_failed(
        self, delivery_id: str, error: str, next_attempt_at: datetime | None
    ) -> None:
        doc = self._pending.get(delivery_id)
        if doc is not None:
            delivery = failed(Delivery.from_dict(json_copy(doc)), error, next_attempt_at)
            self._pending[delivery_id] = json_copy(delivery.to_dict())

    def _remove(self, field: str, values: Collection[Any]) -> int:
        gone = [i for i, d in self._pending.items() if d.get(field) in values]
        for delivery_id in gone:
            del self._pending[delivery_id]
        kept = [d for d in self._delivered if d.get(field) not in values]
        count = len(gone) + len(self._delivered) - len(kept)
        self._delivered = kept
        return count

    async def delete_user(self, user_id: int) -> int:
        return self._remove("user_id", {user_id})

    async def delete_intakes(self, numbers: Collection[str]) -> int:
        return self._remove("intake_number", set(numbers))

    async def purge_delivered_before(self, cutoff: datetime) -> int:
        stamp = utc_iso(cutoff)
        kept = [d for d in self._delivered if str(d.get("delivered_at") or "") >= stamp]
        count = len(self._delivered) - len(kept)
        self._delivered = kept
        return count

    async def delivered_count(self) -> int:
        return len(self._delivered)

    async def close(self) -> None:
        pass

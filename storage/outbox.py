"""The outbox on TinyDB: deliveries waiting to be sent, kept small.

Layout (under `DATA_DIR/outbox/`):

- `pending.json`: TinyDB (table `pending`) with the undelivered deliveries only; the document id
  is the order of `put`, which is the order deliveries leave `due()`. A delivery leaves this file
  when it is delivered, so the file stays as small as the queue.
- `delivered-2026-11-29.json`: one TinyDB file per day with what was delivered, without the
  message payload (the text may hold personal data and is not needed once sent). Purged by
  retention (`purge_delivered_before`) and by erasure (`delete_user`).

On `mark_delivered` the day file is written first, then the delivery leaves `pending.json`; a
crash in between is repaired at open (a pending delivery that is also in a day file is dropped).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tinydb import TinyDB
from tinydb.table import Document, Table

from flows.ports import Clock
from flows.records import Delivery, parse_iso, utc_iso
from storage.atomic import (
    AtomicJSONStorage,
    CorruptFileError,
    quarantine,
    remove_durably,
    remove_stale_temp_files,
)
from storage.base import StorageError
from storage.intake_index import json_copy
from storage.migrations import upgrade

logger = logging.getLogger("baanwijzer.storage")

T = TypeVar("T")
PENDING_FILE = "pending.json"
DELIVERED_RE = re.compile(r"^delivered-(\d{4}-\d{2}-\d{2})\.json$")
MAX_ERROR = 300


def select_due(pending: Sequence[Delivery], now: datetime, limit: int) -> list[Delivery]:
    """Due deliveries oldest first, keeping each chat in creation order.

    `pending` is in creation order. A chat whose oldest undelivered delivery is not due yet
    (waiting after a failure) gets nothing from this call, so that its later deliveries cannot
    overtake it. A sender should likewise stop a chat for this round when a send fails.
    """
    stamp = utc_iso(now)
    blocked: set[int] = set()
    due: list[Delivery] = []
    for delivery in pending:
        if delivery.chat_id in blocked:
            continue
        if delivery.next_attempt_at and utc_iso(parse_iso(delivery.next_attempt_at)) > stamp:
            blocked.add(delivery.chat_id)
            continue
        due.append(delivery)
        if len(due) >= limit:
            break
    return due


def delivered_record(delivery: Delivery, at: datetime) -> dict[str, Any]:
    """What is kept of a delivered delivery: the facts, not the message."""
    data = delivery.to_dict()
    data["payload"] = {}
    data["last_error"] = ""
    data["delivered_at"] = utc_iso(at)
    return data


def failed(delivery: Delivery, error: str, next_attempt_at: datetime) -> Delivery:
    delivery.attempts += 1
    delivery.last_error = error[:MAX_ERROR]
    delivery.next_attempt_at = utc_iso(next_attempt_at)
    return delivery


class TinyOutbox:
    """`Outbox` on TinyDB files; see the module docstring for the layout."""

    def __init__(self, directory: Path, clock: Clock, problems: list[str]) -> None:
        self._dir = directory
        self._clock = clock
        self._problems = problems
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._pending_db: TinyDB | None = None
        self._pending: dict[str, int] = {}  # id -> doc id, in put order
        # Group commit of puts (see `put`): waiting deliveries, and how many puts were made and
        # are on disk.
        self._put_lock = asyncio.Lock()
        self._to_put: list[Delivery] = []
        self._puts_made = 0
        self._puts_written = 0
        self._days: dict[str, TinyDB] = {}
        self._closed = False

    @classmethod
    async def open(cls, directory: Path, clock: Clock, problems: list[str]) -> TinyOutbox:
        outbox = cls(directory, clock, problems)
        await outbox._call(outbox._open_sync)
        return outbox

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StorageError("outbox is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    # -- files ---------------------------------------------------------------------------

    def _open_db(self, path: Path, table: str) -> TinyDB | None:
        db = TinyDB(path, storage=AtomicJSONStorage)
        try:
            tables = db.storage.read() or {}
            raw = tables.get(table, {})
            for doc_id, doc in list(raw.items()):
                if not doc_id.isdigit() or not isinstance(doc, dict):
                    raise CorruptFileError(path, f"document {doc_id!r} is not an object")
                try:
                    raw[doc_id] = current = upgrade("delivery", doc)
                    Delivery.from_dict(current)
                except (KeyError, TypeError, ValueError) as exc:
                    raise CorruptFileError(path, f"document {doc_id} malformed") from exc
        except CorruptFileError as exc:
            db.close()
            quarantine(path, self._clock.now(), self._problems, exc.reason)
            return None
        return db

    def _open_sync(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self._dir)
        delivered_ids: set[str] = set()
        for path in sorted(self._dir.iterdir()):
            match = DELIVERED_RE.match(path.name)
            if match is None:
                continue
            db = self._open_db(path, "delivered")
            if db is not None:
                self._days[match.group(1)] = db
                delivered_ids.update(str(d["id"]) for d in db.table("delivered").all())
        db = self._open_db(self._dir / PENDING_FILE, "pending")
        if db is None:
            db = TinyDB(self._dir / PENDING_FILE, storage=AtomicJSONStorage)
        self._pending_db = db
        table = self._table()
        for doc in sorted(table.all(), key=lambda d: d.doc_id):
            self._pending[str(doc["id"])] = doc.doc_id
        done = [self._pending.pop(i) for i in list(self._pending) if i in delivered_ids]
        if done:
            table.remove(doc_ids=done)
        logger.info("outbox opened: %d pending", len(self._pending))

    def _table(self) -> Table:
        assert self._pending_db is not None
        return self._pending_db.table("pending", cache_size=0)

    def _day(self, day: str, create: bool) -> Table | None:
        db = self._days.get(day)
        if db is None:
            if not create:
                return None
            db = TinyDB(self._dir / f"delivered-{day}.json", storage=AtomicJSONStorage)
            self._days[day] = db
        return db.table("delivered", cache_size=0)

    def _drop_day(self, day: str) -> None:
        db = self._days.pop(day)
        db.close()
        remove_durably(self._dir / f"delivered-{day}.json")

    def _all_pending(self) -> list[Delivery]:
        table = self._table()
        result = []
        for doc_id in self._pending.values():
            doc = table.get(doc_id=doc_id)
            if doc is not None:
                result.append(Delivery.from_dict(copy.deepcopy(dict(doc))))
        return result

    # -- Outbox ------------------------------------------------------------------------------

    async def put(self, delivery: Delivery) -> None:
        """Queue a delivery; return once it is durably in `pending.json`.

        TinyDB rewrites the whole file on every insert, so with many deliveries waiting (a burst
        of intakes while the coordinators' group takes 20 messages a minute) one write per put
        cost O(n) each: 1,000 intakes in one second took 16 s of CPU in this writer alone
        (bench/burst_bench.py). Puts that arrive while a write runs share the next one.
        """
        self._to_put.append(delivery)
        self._puts_made += 1
        mine = self._puts_made
        async with self._put_lock:
            if self._puts_written >= mine:
                return
            batch, self._to_put = self._to_put, []
            upto = self._puts_made

            def run() -> None:
                docs: list[Document] = []
                ids: dict[str, int] = {}
                next_id = max(self._pending.values(), default=0) + 1
                for item in batch:
                    if item.id in self._pending or item.id in ids:
                        continue
                    doc: dict[str, Any] = json_copy(item.to_dict())
                    docs.append(Document(doc, doc_id=next_id))
                    ids[item.id] = next_id
                    next_id += 1
                if docs:
                    self._table().insert_multiple(docs)
                    self._pending.update(ids)

            try:
                await self._call(run)
            except BaseException:
                self._to_put[:0] = batch  # the next waiter writes them, or fails the same way
                raise
            self._puts_written = upto

    async def due(self, now: datetime, limit: int = 50) -> Sequence[Delivery]:
        return await self._call(lambda: select_due(self._all_pending(), now, limit))

    async def pending(self) -> Sequence[Delivery]:
        return await self._call(self._all_pending)

    async def mark_delivered(self, delivery_id: str, at: datetime) -> None:
        def run() -> None:
            doc_id = self._pending.get(delivery_id)
            if doc_id is None:
                return
            doc = self._table().get(doc_id=doc_id)
            if doc is not None:
                record = delivered_record(Delivery.from_dict(copy.deepcopy(dict(doc))), at)
                day = self._day(utc_iso(at)[:10], create=True)
                assert day is not None
                day.insert(record)
            self._table().remove(doc_ids=[doc_id])
            del self._pending[delivery_id]

        await self._call(run)

    async def mark_failed(self, delivery_id: str, error: str, next_attempt_at: datetime) -> None:
        def run() -> None:
            doc_id = self._pending.get(delivery_id)
            doc = None if doc_id is None else self._table().get(doc_id=doc_id)
            if doc_id is None or doc is None:
                return
            delivery = failed(Delivery.from_dict(copy.deepcopy(dict(doc))), error, next_attempt_at)
            self._table().update(json_copy(delivery.to_dict()), doc_ids=[doc_id])

        await self._call(run)

    def _remove_where(self, test: Callable[[dict[str, Any]], bool], days: bool) -> int:
        table = self._table()
        gone = [i for i, d in self._pending.items() if test(dict(table.get(doc_id=d) or {}))]
        if gone:
            table.remove(doc_ids=[self._pending.pop(i) for i in gone])
        count = len(gone)
        if days:
            for day in list(self._days):
                day_table = self._day(day, create=False)
                assert day_table is not None
                docs = day_table.all()
                hit = [d.doc_id for d in docs if test(dict(d))]
                if hit and len(hit) == len(docs):
                    self._drop_day(day)
                elif hit:
                    day_table.remove(doc_ids=hit)
                count += len(hit)
        return count

    async def delete_user(self, user_id: int) -> int:
        def run() -> int:
            count = self._remove_where(lambda d: d.get("user_id") == user_id, days=True)
            logger.info("erased %d outbox deliveries of one user", count)
            return count

        return await self._call(run)

    async def delete_intakes(self, numbers: Collection[str]) -> int:
        wanted = set(numbers)
        return await self._call(
            self._remove_where, lambda d: d.get("intake_number") in wanted, True
        )

    async def purge_delivered_before(self, cutoff: datetime) -> int:
        def run() -> int:
            stamp = utc_iso(cutoff)
            count = 0
            for day in sorted(self._days):
                if day > stamp[:10]:
                    break
                table = self._day(day, create=False)
                assert table is not None
                docs = table.all()
                old = [d.doc_id for d in docs if str(d.get("delivered_at") or "") < stamp]
                if old and len(old) == len(docs):
                    self._drop_day(day)
                elif old:
                    table.remove(doc_ids=old)
                count += len(old)
            return count

        return await self._call(run)

    async def close(self) -> None:
        if self._closed:
            return

        def run() -> None:
            if self._pending_db is not None:
                self._pending_db.close()
            for db in self._days.values():
                db.close()
            self._days.clear()

        await self._call(run)
        self._closed = True
        self._executor.shutdown(wait=True)

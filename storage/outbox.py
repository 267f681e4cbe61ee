"""The outbox: deliveries waiting to be sent, one small file each, so a write never grows.

Layout (under `DATA_DIR/outbox/`):

- `pending/<32 hex>.json`: one file per undelivered delivery (the name is a hash of the delivery
  id, so it holds nothing personal whatever the id is). The file is the delivery record plus
  `seq`, the order of `put`, which is the order deliveries leave `due()`. `put` writes one such
  file (puts that overlap share one fsync of the directory), `mark_failed` rewrites that one
  file, and `mark_delivered` deletes it: none of them reads or writes anything that grows with
  the queue.
- `delivered-2026-11-29.jsonl`: one line per delivered delivery of that day, without the message
  payload (the text may hold personal data and is not needed once sent). `mark_delivered`
  appends and fsyncs one line. Purged by retention (`purge_delivered_before`) and by erasure
  (`delete_user`, `delete_intakes`), which rewrite the day's file atomically.

On `mark_delivered` the line is appended (and fsynced) first, then the pending file is deleted:
a crash in between leaves the delivery pending and delivered, which `open` resolves as delivered
(it deletes the pending file). A crash during an append can leave a last line without its
newline: that append was never acknowledged (the pending file still exists), so `open` cuts it
off. Any other unreadable file is reported and moved aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from flows.ports import Clock
from flows.records import Delivery, DeliveryStatus, parse_iso, utc_iso
from storage.atomic import (
    CorruptFileError,
    atomic_write_bytes,
    dumps,
    fsync_dir,
    quarantine,
    read_json_object,
    remove_durably,
    remove_stale_temp_files,
)
from storage.base import StorageError
from storage.intake_index import json_copy
from storage.migrations import FutureSchemaError, check_schema

logger = logging.getLogger("baanwijzer.storage")

T = TypeVar("T")
PENDING_DIR = "pending"
PENDING_NAME_RE = re.compile(r"^[0-9a-f]{32}\.json$")
DELIVERED_RE = re.compile(r"^delivered-(\d{4}-\d{2}-\d{2})\.jsonl$")
MAX_ERROR = 300


def select_due(pending: Iterable[Delivery], now: datetime, limit: int) -> list[Delivery]:
    """Due deliveries oldest first, keeping each chat in creation order.

    `pending` is in creation order. A chat whose oldest undelivered delivery is not due yet
    (waiting after a failure) gets nothing from this call, so that its later deliveries cannot
    overtake it. A sender should likewise stop a chat for this round when a send fails.
    """
    stamp = utc_iso(now)
    blocked: set[int] = set()
    due: list[Delivery] = []
    for delivery in pending:
        if delivery.chat_id in blocked or delivery.failed_for_good:
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
    data["status"] = str(DeliveryStatus.DELIVERED)
    return data


def failed(delivery: Delivery, error: str, next_attempt_at: datetime | None) -> Delivery:
    """Count a failed attempt; without a next attempt it failed for good."""
    delivery.attempts += 1
    delivery.last_error = error[:MAX_ERROR]
    if next_attempt_at is None:
        delivery.status = DeliveryStatus.FAILED
    else:
        delivery.next_attempt_at = utc_iso(next_attempt_at)
    return delivery


def pending_file_name(delivery_id: str) -> str:
    """The file name of a pending delivery: a hash of its id (nothing personal, always safe)."""
    return hashlib.sha256(delivery_id.encode("utf-8")).hexdigest()[:32] + ".json"


def checked_delivery(path: Path, raw: Any) -> dict[str, Any]:
    """A stored delivery record of the current schema; CorruptFileError if malformed, or if it
    was written by a newer version of the bot (the reason says so)."""
    if not isinstance(raw, dict):
        raise CorruptFileError(path, "a record is not an object")
    try:
        record = check_schema("delivery", dict(raw))
        Delivery.from_dict(record)
    except FutureSchemaError as exc:
        raise CorruptFileError(path, str(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(path, "a delivery is malformed") from exc
    if not isinstance(record.get("id"), str):
        raise CorruptFileError(path, "a delivery has no id")
    return record


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to `path` durably; on failure the file is cut back to its old end."""
    data = dumps(record) + b"\n"
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The records of a day file, cutting off a last line that an unacknowledged append left
    without its newline. CorruptFileError for any other unreadable content."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CorruptFileError(path, f"unreadable ({exc.__class__.__name__})") from exc
    end = raw.rfind(b"\n") + 1
    if end < len(raw):
        with open(path, "r+b") as handle:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
        logger.info("outbox: cut off an unfinished last line of %s", path.name)
        raw = raw[:end]
    records = []
    for line in raw.splitlines():
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptFileError(path, f"a line is not JSON ({exc.__class__.__name__})") from exc
        records.append(checked_delivery(path, value))
    return records


def write_lines(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace a day file atomically; delete it when no record is left."""
    if records:
        atomic_write_bytes(path, b"".join(dumps(r) + b"\n" for r in records))
    else:
        remove_durably(path)


class FileOutbox:
    """`Outbox` on small files, one per pending delivery (no TinyDB); see the module docstring
    for the layout."""

    def __init__(self, directory: Path, clock: Clock, problems: list[str]) -> None:
        self._dir = directory
        self._pending_dir = directory / PENDING_DIR
        self._clock = clock
        self._problems = problems
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        # id -> (seq, record): every undelivered delivery, in put order (the index and cache).
        self._pending: dict[str, tuple[int, dict[str, Any]]] = {}
        self._next_seq = 1
        # Group commit of puts (see `put`): waiting deliveries, and how many puts were made and
        # are on disk.
        self._put_lock = asyncio.Lock()
        self._to_put: list[Delivery] = []
        self._puts_made = 0
        self._puts_written = 0
        self._days: set[str] = set()  # days that have a delivered-<day>.jsonl
        self._closed = False

    @classmethod
    async def open(cls, directory: Path, clock: Clock, problems: list[str]) -> FileOutbox:
        outbox = cls(directory, clock, problems)
        await outbox._call(outbox._open_sync)
        return outbox

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StorageError("outbox is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    # -- files ---------------------------------------------------------------------------

    def _day_path(self, day: str) -> Path:
        return self._dir / f"delivered-{day}.jsonl"

    def _pending_path(self, delivery_id: str) -> Path:
        return self._pending_dir / pending_file_name(delivery_id)

    def _quarantine(self, exc: CorruptFileError) -> None:
        quarantine(exc.path, self._clock.now(), self._problems, exc.reason)

    def _read_day(self, day: str) -> list[dict[str, Any]] | None:
        """The records of one day file; None if it was corrupt (then it is moved aside)."""
        try:
            return read_lines(self._day_path(day))
        except FileNotFoundError:
            self._days.discard(day)
            return []
        except CorruptFileError as exc:
            self._quarantine(exc)
            self._days.discard(day)
            return None

    def _open_sync(self) -> None:
        for folder in (self._dir, self._pending_dir):
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                fsync_dir(folder.parent)
        remove_stale_temp_files(self._dir)
        delivered: set[str] = set()
        for path in sorted(self._dir.iterdir()):
            match = DELIVERED_RE.match(path.name)
            if match is None:
                continue
            self._days.add(match.group(1))
            records = self._read_day(match.group(1))
            delivered.update(str(r["id"]) for r in records or [])
        found = self._read_pending_files()
        resolved = [i for i in found if i in delivered]
        for delivery_id in resolved:  # a crash cut off mark_delivered: it is delivered
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._pending_path(delivery_id))
            del found[delivery_id]
        if resolved:
            fsync_dir(self._pending_dir)
        for delivery_id, entry in sorted(found.items(), key=lambda item: item[1][0]):
            self._pending[delivery_id] = entry
        self._next_seq = max((seq for seq, _ in found.values()), default=0) + 1
        logger.info(
            "outbox opened: %d pending, %d resolved as delivered", len(self._pending), len(resolved)
        )

    def _read_pending_files(self) -> dict[str, tuple[int, dict[str, Any]]]:
        found: dict[str, tuple[int, dict[str, Any]]] = {}
        for path in self._pending_dir.iterdir():
            if not PENDING_NAME_RE.match(path.name):
                continue
            try:
                raw = read_json_object(path)
                if raw is None:
                    continue
                seq = raw.pop("seq", None)
                if not isinstance(seq, int) or isinstance(seq, bool):
                    raise CorruptFileError(path, "no sequence number")
                record = checked_delivery(path, raw)
                if pending_file_name(record["id"]) != path.name:
                    raise CorruptFileError(path, "the file name does not match the delivery")
            except CorruptFileError as exc:
                self._quarantine(exc)
                continue
            found[record["id"]] = (seq, record)
        return found

    def _deliveries(self) -> Iterator[Delivery]:
        for _, record in list(self._pending.values()):
            yield Delivery.from_dict(json_copy(record))

    # -- Outbox ------------------------------------------------------------------------------

    async def put(self, delivery: Delivery) -> None:
        """Queue a delivery; return once its file is durably in `pending/`.

        One small file per delivery, so a put costs the same with 1 or 10,000 deliveries
        waiting. Puts that arrive while a write runs share the next directory fsync.
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
                added: dict[str, tuple[int, dict[str, Any]]] = {}
                seq = self._next_seq
                for item in batch:
                    if item.id in self._pending or item.id in added:
                        continue
                    record: dict[str, Any] = json_copy(item.to_dict())
                    data = dumps({"seq": seq, **record})
                    atomic_write_bytes(self._pending_path(item.id), data, sync_dir=False)
                    added[item.id] = (seq, record)
                    seq += 1
                if added:
                    fsync_dir(self._pending_dir)
                    self._pending.update(added)
                    self._next_seq = seq

            try:
                await self._call(run)
            except BaseException:
                self._to_put[:0] = batch  # the next waiter writes them, or fails the same way
                raise
            self._puts_written = upto

    async def due(self, now: datetime, limit: int = 50) -> Sequence[Delivery]:
        return await self._call(lambda: select_due(self._deliveries(), now, limit))

    async def pending(self) -> Sequence[Delivery]:
        return await self._call(lambda: list(self._deliveries()))

    async def get(self, delivery_id: str) -> Delivery | None:
        def run() -> Delivery | None:
            # From the index, which the executor thread keeps: no file is read.
            entry = self._pending.get(delivery_id)
            return None if entry is None else Delivery.from_dict(json_copy(entry[1]))

        return await self._call(run)

    async def mark_delivered(self, delivery_id: str, at: datetime) -> None:
        def run() -> None:
            entry = self._pending.get(delivery_id)
            if entry is None:
                return
            record = delivered_record(Delivery.from_dict(json_copy(entry[1])), at)
            day = utc_iso(at)[:10]
            append_line(self._day_path(day), record)
            self._days.add(day)
            del self._pending[delivery_id]
            # Delivered from here on: if this delete is lost, open deletes the file.
            remove_durably(self._pending_path(delivery_id))

        await self._call(run)

    async def mark_failed(
        self, delivery_id: str, error: str, next_attempt_at: datetime | None
    ) -> None:
        def run() -> None:
            entry = self._pending.get(delivery_id)
            if entry is None:
                return
            seq, record = entry
            delivery = failed(Delivery.from_dict(json_copy(record)), error, next_attempt_at)
            updated: dict[str, Any] = json_copy(delivery.to_dict())
            atomic_write_bytes(self._pending_path(delivery_id), dumps({"seq": seq, **updated}))
            self._pending[delivery_id] = (seq, updated)

        await self._call(run)

    def _remove_where(self, test: Callable[[dict[str, Any]], bool], days: bool) -> int:
        gone = [i for i, (_, record) in self._pending.items() if test(record)]
        for delivery_id in gone:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._pending_path(delivery_id))
            del self._pending[delivery_id]
        if gone:
            fsync_dir(self._pending_dir)
        count = len(gone)
        if days:
            for day in sorted(self._days):
                records = self._read_day(day)
                if not records:
                    continue
                kept = [r for r in records if not test(r)]
                if len(kept) < len(records):
                    write_lines(self._day_path(day), kept)
                    if not kept:
                        self._days.discard(day)
                    count += len(records) - len(kept)
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
                records = self._read_day(day)
                if not records:
                    continue
                kept = [r for r in records if str(r.get("delivered_at") or "") >= stamp]
                if len(kept) < len(records):
                    write_lines(self._day_path(day), kept)
                    if not kept:
                        self._days.discard(day)
                    count += len(records) - len(kept)
            return count

        return await self._call(run)

    async def close(self) -> None:
        if self._closed:
            return
        await self._call(self._pending.clear)
        self._closed = True
        self._executor.shutdown(wait=True)

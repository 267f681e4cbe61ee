"""Intakes on TinyDB: small partition files per month, an in-memory index, one writer thread.

Layout (under `DATA_DIR/intakes/`):

- `2026-11-001.json`, `2026-11-002.json`, ...: TinyDB files (table `intakes`) with at most
  `PARTITION_CAP` intakes each, by the month the intake was created. A write rewrites one such
  file only, so its cost does not grow with the number of stored intakes. Table `meta` holds the
  number counters as they were when an intake was added to that file: a new intake and the
  counter that numbered it land in the same atomic write.
- `counters.json`: the counters (`{"K-2026": 42}`), written before an erasure or purge deletes
  partition files, so that a number is never handed out twice, even after its intake is gone.
- `index/2026-11-001.json`, ...: the index entries of one partition (the fields listing,
  filtering, search and retention need), that partition's counters and its signature (inode,
  size, mtime) when they were written; at open, a partition whose signature still matches is
  not read. Our own JSON, not TinyDB. `checkpoint()` (hourly, and at close) writes only the
  files of partitions changed since their last one, a few per turn of the writer thread; an
  erasure or purge deletes the index file of each partition it changes before changing it (so
  no erased name stays in one).

The index (number -> partition, and the fields that listing, filtering and name search need)
lives in memory. All file work runs in one dedicated thread per repository: writes are
serialized, the event loop never waits on disk, and reads of cached partitions cost no I/O.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import dataclasses
import logging
import os
import re
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tinydb import TinyDB
from tinydb.table import Table

from flows.ports import Clock, IntakeFilter, IntakePage, SentAbout
from flows.records import Actor, HistoryEntry, Intake, MessageRef, Note, Status
from storage.atomic import (
    AtomicJSONStorage,
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
from storage.intake_index import (
    IndexEntry,
    IntakeIndex,
    apply_update,
    entry_for,
    json_copy,
    prepare_new,
)
from storage.migrations import INDEX_SCHEMA, FutureSchemaError, check_schema

logger = logging.getLogger("baanwijzer.storage")

PARTITION_CAP = 128
TABLE = "intakes"
META = "meta"
COUNTERS_FILE = "counters.json"
INDEX_DIR = "index"
# A partition written less than this long ago gets no index file yet: a rewrite within the file
# system's timestamp granularity could leave its signature unchanged.
FRESH_NS = 2_000_000_000
# Index files written per turn of the writer thread in a checkpoint: adds and updates that
# arrive meanwhile wait for at most this many small files, not for the whole checkpoint.
CHECKPOINT_CHUNK = 16
# Partitions a retention purge changes per turn of the writer thread (see `_purge`).
PURGE_CHUNK = 4
PART_RE = re.compile(r"^(\d{4}-\d{2})-(\d{3,})\.json$")

T = TypeVar("T")


def _signature(stat: os.stat_result) -> list[int]:
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


# The fields of an index entry an index file holds, in the order of its rows (the partition is
# the file's name; the order is given at open). An index file written with other fields is not
# used (its partition is read instead), so adding a field to IndexEntry needs nothing here.
INDEX_FIELDS = tuple(
    f.name for f in dataclasses.fields(IndexEntry) if f.name not in ("part", "order")
)


def _index_row(entry: IndexEntry) -> list[Any]:
    return [getattr(entry, name) for name in INDEX_FIELDS]


def _tuples(value: Any) -> Any:
    """JSON's lists back into the tuples IndexEntry holds."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _entry_from_row(row: Sequence[Any], part: str) -> IndexEntry:
    if len(row) != len(INDEX_FIELDS):
        raise ValueError("index row of another length")
    values = {name: _tuples(value) for name, value in zip(INDEX_FIELDS, row, strict=True)}
    return IndexEntry(part=part, order=0, **values)


class _Partition:
    """One partition file, opened through TinyDB with the atomic storage."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = TinyDB(path, storage=AtomicJSONStorage)
        self.table: Table = self.db.table(TABLE, cache_size=0)
        self.ids: dict[str, int] = {}

    def load(self) -> list[IndexEntry]:
        """Read and check the file (every intake of the current schema).

        Returns the index entries of its intakes (order 0: the caller numbers them).
        """
        tables = self.db.storage.read() or {}
        raw: dict[str, Any] = tables.get(TABLE, {})
        entries: list[IndexEntry] = []
        for doc_id, doc in list(raw.items()):
            if not isinstance(doc, dict) or not doc_id.isdigit():
                raise CorruptFileError(self.path, f"document {doc_id!r} is not an object")
            try:
                current = check_schema("intake", doc)
                entries.append(entry_for(current, self.path.name, 0))
            except FutureSchemaError as exc:
                raise CorruptFileError(self.path, f"document {doc_id}: {exc}") from exc
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptFileError(self.path, f"document {doc_id} malformed") from exc
            raw[doc_id] = current
            self.ids[str(current["number"])] = int(doc_id)
        self.counters()  # raises CorruptFileError if the meta table is malformed
        return entries

    def get(self, number: str) -> dict[str, Any] | None:
        doc_id = self.ids.get(number)
        if doc_id is None:
            return None
        doc = self.table.get(doc_id=doc_id)
        return None if doc is None else copy.deepcopy(dict(doc))

    def insert(self, docs: Sequence[dict[str, Any]], counters: dict[str, int]) -> None:
        """Add intakes and the number counters in a single atomic write of this file.

        Written through the TinyDB storage directly (not `Table.insert`), because the intakes
        and the `meta` table with the counters must land in the same write: a number is then
        durable exactly when its intake is. Several intakes added at once share the write.
        """
        first_id = max(self.ids.values(), default=0) + 1
        tables = dict(self.db.storage.read() or {})
        intakes = dict(tables.get(TABLE, {}))
        for offset, doc in enumerate(docs):
            intakes[str(first_id + offset)] = doc
        tables[TABLE] = intakes
        tables[META] = {"1": {"counters": dict(counters)}}
        self.db.storage.write(tables)
        self.table.clear_cache()
        for offset, doc in enumerate(docs):
            self.ids[str(doc["number"])] = first_id + offset

    def counters(self) -> dict[str, int]:
        tables = self.db.storage.read() or {}
        meta = tables.get(META, {}).get("1", {})
        try:
            return {str(k): int(v) for k, v in meta.get("counters", {}).items()}
        except (AttributeError, TypeError, ValueError) as exc:
            raise CorruptFileError(self.path, "meta table malformed") from exc

    def replace(self, doc: dict[str, Any]) -> None:
        self.table.update(doc, doc_ids=[self.ids[str(doc["number"])]])

    def remove(self, numbers: Iterable[str]) -> None:
        doc_ids = [self.ids[n] for n in numbers if n in self.ids]
        if doc_ids:
            self.table.remove(doc_ids=doc_ids)
        for number in numbers:
            self.ids.pop(number, None)

    def close(self) -> None:
        self.db.close()


class TinyIntakeRepository:
    """`IntakeRepository` on TinyDB partition files; see the module docstring for the layout."""

    def __init__(
        self,
        directory: Path,
        clock: Clock,
        problems: list[str],
        *,
        partition_cap: int = PARTITION_CAP,
        cached_partitions: int = 24,
    ) -> None:
        self._dir = directory
        self._index_dir = directory / INDEX_DIR
        self._clock = clock
        self._problems = problems
        self._cap = partition_cap
        self._cache_size = cached_partitions
        self._index = IntakeIndex()
        self._parts: OrderedDict[str, _Partition] = OrderedDict()
        self._counts: dict[str, int] = {}
        # Per partition: the counters its meta table holds (kept for its index file); and the
        # partitions whose index file is missing or older than the partition.
        self._part_counters: dict[str, dict[str, int]] = {}
        self._stale: set[str] = set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intakes")
        # Adds waiting for the writer thread, taken in groups (see `add`).
        self._adds: deque[tuple[Intake, asyncio.Future[Intake]]] = deque()
        self._adds_scheduled = False
        self._closed = False

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, directory: Path, clock: Clock, problems: list[str], **options: int
    ) -> TinyIntakeRepository:
        repo = cls(directory, clock, problems, **options)
        await repo._call(repo._open_sync)
        return repo

    def _open_sync(self) -> None:
        # No process-wide gc.disable() here: it ran in a worker thread and switched the
        # collector off for the event loop too, for a start-up gain no person notices.
        self._open_files()

    def _open_files(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._index_dir.mkdir(exist_ok=True)
        remove_stale_temp_files(self._dir)
        saved = self._load_counters()
        collected: dict[str, IndexEntry] = {}
        reread = 0
        for path in sorted(self._dir.iterdir()):
            if not PART_RE.match(path.name):
                continue
            name = path.name
            indexed = self._read_index_file(name)
            if indexed is not None and indexed[0] == _signature(path.stat()):
                counters, entries = indexed[1], indexed[2]
            else:
                part = _Partition(path)
                try:
                    entries = part.load()
                except CorruptFileError as exc:
                    part.close()
                    quarantine(path, self._clock.now(), self._problems, exc.reason)
                    continue
                counters = part.counters()
                self._remember(name, part)
                self._stale.add(name)
                reread += 1
            self._part_counters[name] = counters
            for key, value in counters.items():
                saved[key] = max(saved.get(key, 0), value)
            for entry in entries:
                if entry.number in collected:
                    message = (
                        f"intake {entry.number} found twice, in {collected[entry.number].part}"
                        f" and {name}; the first is used"
                    )
                    logger.warning(message)
                    self._problems.append(message)
                    continue
                entry.order = self._index.next_order()
                collected[entry.number] = entry
            self._counts[name] = len(entries)
        self._index.load_many(collected.values())
        for key, value in saved.items():
            if self._index.counters.get(key, 0) < value:
                self._index.counters[key] = value
        self._drop_orphan_index_files()
        logger.info(
            "intakes opened: %d intakes in %d partitions (%d read, the rest from the index)",
            len(self._index),
            len(self._counts),
            reread,
        )

    def _read_index_file(
        self, name: str
    ) -> tuple[list[int], dict[str, int], list[IndexEntry]] | None:
        """The signature, counters and entries in the index file of one partition; None when
        there is none usable (the partition is read instead)."""
        path = self._index_dir / name
        try:
            data = read_json_object(path)
            if data is None:
                return None
            if data.get("schema") != INDEX_SCHEMA or data.get("fields") != list(INDEX_FIELDS):
                logger.info("index file %s of another shape: its partition is read", name)
                return None
            signature = [int(x) for x in data["signature"]]
            counters = {str(k): int(v) for k, v in data["counters"].items()}
            entries = [_entry_from_row(row, name) for row in data["entries"]]
            return signature, counters, entries
        except CorruptFileError as exc:
            quarantine(path, self._clock.now(), self._problems, exc.reason)
        except (KeyError, TypeError, ValueError, AttributeError):
            quarantine(path, self._clock.now(), self._problems, "not an index file")
        return None

    def _drop_orphan_index_files(self) -> None:
        """Delete index files whose partition is gone (moved aside as corrupt, for one)."""
        orphans = [
            path
            for path in self._index_dir.iterdir()
            if PART_RE.match(path.name) and path.name not in self._counts
        ]
        for path in orphans:
            path.unlink()
        if orphans:
            fsync_dir(self._index_dir)

    def _write_index_files(self, names: Iterable[str]) -> int:
        """Write the index file of each of these partitions that is stale; returns how many.

        Each file is written atomically and fsynced; the directory is fsynced once. A partition
        written less than `FRESH_NS` ago stays stale, for the next checkpoint.
        """
        now = time.time_ns()
        written = 0
        for name in names:
            if name not in self._stale:
                continue
            try:
                stat = (self._dir / name).stat()
            except FileNotFoundError:
                stat = None
            if stat is None or name not in self._counts:
                self._stale.discard(name)
                continue
            if now - stat.st_mtime_ns <= FRESH_NS:
                continue
            record = {
                "schema": INDEX_SCHEMA,
                "fields": INDEX_FIELDS,
                "signature": _signature(stat),
                "counters": self._part_counters.get(name, {}),
                "entries": [_index_row(e) for e in self._index.in_part(name)],
            }
            atomic_write_bytes(self._index_dir / name, dumps(record), sync_dir=False)
            self._stale.discard(name)
            written += 1
        if written:
            fsync_dir(self._index_dir)
        return written

    def _drop_index_file(self, name: str) -> None:
        """Delete a partition's index file durably before the partition loses intakes, so that
        no copy of an erased name is left in one, whatever a crash interrupts."""
        self._stale.add(name)
        remove_durably(self._index_dir / name)

    def _load_counters(self) -> dict[str, int]:
        path = self._dir / COUNTERS_FILE
        try:
            data = read_json_object(path)
            if data is None:
                return {}
            counters = data.get("counters", {})
            if not isinstance(counters, dict):
                raise CorruptFileError(path, "no counters object")
            return {str(k): int(v) for k, v in counters.items()}
        except CorruptFileError as exc:
            quarantine(
                path,
                self._clock.now(),
                self._problems,
                exc.reason + "; counters rebuilt from the stored intakes, numbers of deleted"
                " intakes may be handed out again",
            )
            return {}
        except (TypeError, ValueError):
            quarantine(path, self._clock.now(), self._problems, "counter is not a number")
            return {}

    def _save_counters(self) -> None:
        atomic_write_bytes(
            self._dir / COUNTERS_FILE, dumps({"schema": 1, "counters": self._index.counters})
        )

    # -- partitions --------------------------------------------------------------------------

    def _remember(self, name: str, part: _Partition) -> None:
        self._parts[name] = part
        self._parts.move_to_end(name)
        while len(self._parts) > self._cache_size:
            _, old = self._parts.popitem(last=False)
            old.close()

    def _partition(self, name: str) -> _Partition:
        part = self._parts.get(name)
        if part is not None:
            self._parts.move_to_end(name)
            return part
        part = _Partition(self._dir / name)
        try:
            part.load()
        except CorruptFileError as exc:
            part.close()
            quarantine(part.path, self._clock.now(), self._problems, exc.reason)
            lost = [e.number for e in self._index.in_part(name)]
            for number in lost:
                self._index.remove(number)
            self._counts.pop(name, None)
            self._part_counters.pop(name, None)
            self._stale.discard(name)
            remove_durably(self._index_dir / name)
            raise StorageError(f"partition {name} became unreadable ({len(lost)} intakes)") from exc
        self._remember(name, part)
        return part

    def _partition_for_new(self, created: str) -> str:
        month = created[:7]
        names = sorted(n for n in self._counts if n.startswith(month + "-"))
        if names and self._counts[names[-1]] < self._cap:
            return names[-1]
        last = int(PART_RE.match(names[-1]).group(2)) if names else 0  # type: ignore[union-attr]
        name = f"{month}-{last + 1:03d}.json"
        self._counts[name] = 0
        return name

    def _load(self, entry: IndexEntry) -> Intake | None:
        doc = self._partition(entry.part).get(entry.number)
        return None if doc is None else Intake.from_dict(doc)

    def _load_many(self, entries: Iterable[IndexEntry]) -> list[Intake]:
        result: list[Intake] = []
        for entry in entries:
            intake = self._load(entry)
            if intake is not None:
                result.append(intake)
        return result

    def _remove_entries(self, entries: Sequence[IndexEntry]) -> list[str]:
        by_part: dict[str, list[str]] = defaultdict(list)
        for entry in entries:
            by_part[entry.part].append(entry.number)
        if by_part:
            # A partition file that is deleted takes its copy of the counters with it.
            self._save_counters()
        removed: list[str] = []
        for name, numbers in sorted(by_part.items()):
            part = self._partition(name)
            self._drop_index_file(name)
            if len(part.ids) <= len(numbers) and set(part.ids) <= set(numbers):
                # The last intakes of this file: remove the file itself.
                remove_durably(part.path)
                part.close()
                self._parts.pop(name, None)
                self._counts.pop(name, None)
                self._part_counters.pop(name, None)
                self._stale.discard(name)
            else:
                part.remove(numbers)
                self._counts[name] = len(part.ids)
            for number in numbers:
                self._index.remove(number)
            removed.extend(numbers)
        return removed

    # -- running in the writer thread -------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StorageError("intake repository is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    # -- IntakeRepository -------------------------------------------------------------------

    async def add(self, intake: Intake) -> Intake:
        """Store a new intake; returns it numbered, once it is durable.

        Adds are committed in groups: the writer thread takes every add that is waiting when it
        gets to them and writes each partition they go to once (one fsync for many intakes).
        A burst of 1,000 people confirming at once paid 1,000 rewrites of a partition file
        one after another (bench.burst_bench, the `klopt` round).
        """
        if self._closed:
            raise StorageError("intake repository is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Intake] = loop.create_future()
        self._adds.append((intake, future))
        if not self._adds_scheduled:
            self._adds_scheduled = True
            loop.run_in_executor(self._executor, self._drain_adds, loop)
        return await future

    def _drain_adds(self, loop: asyncio.AbstractEventLoop) -> None:
        # The flag is lowered before the queue is emptied: an add that comes in meanwhile
        # either is taken now or schedules the next drain itself; none is left waiting.
        self._adds_scheduled = False
        batch: list[tuple[Intake, asyncio.Future[Intake]]] = []
        while self._adds:
            batch.append(self._adds.popleft())
        if not batch:
            return
        results: list[Intake | BaseException]
        try:
            results = self._add_batch_sync([intake for intake, _ in batch])
        except BaseException as exc:  # every waiter must hear of it
            results = [exc] * len(batch)
        settled = [(future, result) for (_, future), result in zip(batch, results, strict=True)]
        # One wake-up of the event loop for the whole group, not one per intake.
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, settled)

    def _add_batch_sync(self, intakes: Sequence[Intake]) -> list[Intake | BaseException]:
        results: list[Intake | BaseException] = list(intakes)
        groups: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        now = self._clock.now()
        for position, intake in enumerate(intakes):
            try:
                doc = prepare_new(intake, self._index, now)
                name = self._partition_for_new(doc["created_at"])
            except Exception as exc:  # this intake fails, the others go on
                results[position] = exc
                continue
            groups[name].append((position, doc))
            # Counted now, so that the next intake of this batch goes to a new file at the cap.
            self._counts[name] += 1
        for name, items in groups.items():
            try:
                part = self._partition(name)
                part.insert([doc for _, doc in items], self._index.counters)
            except Exception as exc:  # these intakes fail, other files go on
                for position, _ in items:
                    results[position] = exc
                if name in self._counts:  # not dropped as unreadable: count what the file holds
                    part_now = self._parts.get(name)
                    self._counts[name] = len(part_now.ids) if part_now is not None else 0
                continue
            self._counts[name] = len(part.ids)
            self._part_counters[name] = dict(self._index.counters)
            self._stale.add(name)
            for position, doc in items:
                self._index.put(entry_for(doc, name, self._index.next_order()))
                logger.info("intake %s stored", doc["number"])
                results[position] = Intake.from_dict(json_copy(doc))
        return results

    async def get(self, number: str) -> Intake | None:
        return await self._call(self._get_sync, number)

    def _get_sync(self, number: str) -> Intake | None:
        entry = self._index.entries.get(number)
        return None if entry is None else self._load(entry)

    async def list(self, filter: IntakeFilter, offset: int = 0, limit: int = 10) -> IntakePage:
        return await self._call(self._list_sync, filter, offset, limit)

    def _list_sync(self, f: IntakeFilter, offset: int, limit: int) -> IntakePage:
        entries, total = self._index.select(f, offset, limit)
        return IntakePage(items=self._load_many(entries), total=total, offset=offset, limit=limit)

    async def search_name(self, text: str, limit: int = 20) -> Sequence[Intake]:
        return await self._call(lambda: self._load_many(self._index.search(text, limit)))

    async def for_user(self, user_id: int) -> Sequence[Intake]:
        return await self._call(lambda: self._load_many(self._index.for_user(user_id)))

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
        def run() -> Intake | None:
            entry = self._index.entries.get(number)
            intake = None if entry is None else self._load(entry)
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

        return await self._call(run)

    def _write_back(self, intake: Intake) -> Intake | None:
        entry = self._index.entries.get(intake.number)
        if entry is None:
            logger.warning("intake %s not found for writing", intake.number)
            return None
        doc: dict[str, Any] = json_copy(intake.to_dict())
        self._partition(entry.part).replace(doc)
        self._index.put(entry_for(doc, entry.part, entry.order))
        self._stale.add(entry.part)
        return Intake.from_dict(json_copy(doc))

    async def record(self, number: str, entry: HistoryEntry) -> None:
        def run() -> None:
            index_entry = self._index.entries.get(number)
            intake = None if index_entry is None else self._load(index_entry)
            if intake is None:
                logger.warning("intake %s not found for an audit entry", number)
                return
            intake.history.append(entry)
            self._write_back(intake)

        await self._call(run)

    async def replace(self, intake: Intake) -> None:
        await self._call(self._write_back, intake)

    async def erase(self, tombstone: Intake) -> None:
        def run() -> None:
            entry = self._index.entries.get(tombstone.number)
            if entry is not None:
                # The partition's index file holds the erased name: gone before the write.
                self._drop_index_file(entry.part)
            self._write_back(tombstone)

        await self._call(run)

    async def delete_user(self, user_id: int) -> builtins.list[str]:
        def run() -> builtins.list[str]:
            removed = self._remove_entries(self._index.for_user(user_id))
            logger.info("erased %d intakes of one user: %s", len(removed), ", ".join(removed))
            return removed

        return await self._call(run)

    async def purge_numbers_before(self, cutoff: datetime) -> builtins.list[str]:
        return await self._purge(lambda: self._index.created_before(cutoff))

    async def purge_before(self, cutoff: datetime) -> int:
        return len(await self.purge_numbers_before(cutoff))

    async def purge_expired(
        self, created_cutoff: datetime, closed_cutoff: datetime
    ) -> builtins.list[str]:
        return await self._purge(lambda: self._index.expired(created_cutoff, closed_cutoff))

    async def _purge(self, select: Callable[[], builtins.list[IndexEntry]]) -> builtins.list[str]:
        """Delete the intakes `select` picks, `PURGE_CHUNK` partitions per turn of the writer
        thread, so that adds and updates go in between (a month of 4,000 intakes held them up
        for seconds in one turn). An intake changed after it was picked is left for the next
        run, which judges it again."""
        picked: dict[str, builtins.list[IndexEntry]] = defaultdict(list)
        for entry in await self._call(select):
            picked[entry.part].append(entry)
        names = sorted(picked)
        removed: builtins.list[str] = []
        for start in range(0, len(names), PURGE_CHUNK):
            chunk = [e for name in names[start : start + PURGE_CHUNK] for e in picked[name]]
            removed += await self._call(self._remove_unchanged, chunk)
        if removed:
            logger.info("retention: deleted %d intakes", len(removed))
        return removed

    def _remove_unchanged(self, entries: Sequence[IndexEntry]) -> builtins.list[str]:
        # An update puts a new entry in the index: the same object means unchanged since picked.
        return self._remove_entries([e for e in entries if self._index.entries.get(e.number) is e])

    async def by_message(self, chat_id: int, message_id: int) -> SentAbout | None:
        # One dict lookup: safe on the event loop while the writer thread changes the index.
        return self._index.about(chat_id, message_id)

    async def last_written_to(self, user_id: int, since: datetime) -> str | None:
        return await self._call(self._index.last_written_to, user_id, since)

    async def all(self) -> Sequence[Intake]:
        return await self._call(lambda: self._load_many(self._index.oldest_first()))

    async def count(self) -> int:
        return len(self._index)

    async def checkpoint(self) -> None:
        """Write the index file of every partition changed since its last one (makes the next
        open fast); run by the retention loop and at close.

        The files are written `CHECKPOINT_CHUNK` at a time, each chunk one turn of the writer
        thread, so adds and updates that arrive meanwhile go in between; the event loop does
        none of it. At 100,000 intakes the one `index.json` of before took 4.35 s to write and
        stalled the event loop 1.3 s (its `json.dumps` of every entry held the GIL).
        """
        names = await self._call(lambda: sorted(self._stale))
        for start in range(0, len(names), CHECKPOINT_CHUNK):
            await self._call(self._write_index_files, names[start : start + CHECKPOINT_CHUNK])

    async def close(self) -> None:
        if self._closed:
            return

        def run() -> None:
            self._write_index_files(sorted(self._stale))
            for part in self._parts.values():
                part.close()
            self._parts.clear()

        await self._call(run)
        self._closed = True
        self._executor.shutdown(wait=True)


def _settle(settled: list[tuple[asyncio.Future[Intake], Intake | BaseException]]) -> None:
    for future, result in settled:
        if future.done():  # the waiting task was cancelled
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def write_partitions(
    directory: Path, docs: Iterable[dict[str, Any]], cap: int = PARTITION_CAP
) -> int:
    """Bulk-write intakes (already numbered, as `Intake.to_dict()`) straight into partition files.

    For imports and for seeding benchmarks; the directory must not be open in a repository.
    New partition files follow the existing ones of the same month; the counters are raised to
    the highest number written. Returns how many intakes were written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    by_month: dict[str, list[dict[str, Any]]] = defaultdict(list)
    index = IntakeIndex()
    saved = read_json_object(directory / COUNTERS_FILE) or {}
    index.counters.update({str(k): int(v) for k, v in saved.get("counters", {}).items()})
    for doc in docs:
        by_month[str(doc["created_at"])[:7]].append(doc)
        index.note_number(str(doc["number"]))
    written = 0
    for month, items in sorted(by_month.items()):
        matches = [PART_RE.match(p.name) for p in directory.iterdir()]
        last = max((int(m[2]) for m in matches if m and m[1] == month), default=0)
        for start in range(0, len(items), cap):
            chunk = items[start : start + cap]
            table = {str(i + 1): doc for i, doc in enumerate(chunk)}
            last += 1
            atomic_write_bytes(directory / f"{month}-{last:03d}.json", dumps({TABLE: table}))
            written += len(chunk)
    atomic_write_bytes(directory / COUNTERS_FILE, dumps({"schema": 1, "counters": index.counters}))
    return written

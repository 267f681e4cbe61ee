"""Conversations (aiogram FSM state and data): a snapshot plus an append-only journal.

Layout under `DATA_DIR/conversations/`:

- `snapshot-<gen>.json`: every open conversation at the moment generation `gen` began,
  `{"schema", "generation", "conversations": {<key hash>: <record>}}`, written atomically;
- `journal-<gen>.jsonl`: one line per change since that snapshot,
  `{"k": <key hash>, "r": <record> or null when the conversation was closed or deleted}`.

A record is `{"schema", "key", "state", "data", "updated_at"}`; the key hash is the first 32 hex
digits of the SHA-256 of the key, so no user or chat id is in a file name. Only the newest
generation is kept.

All writes go through one writer thread. A change is queued as a journal line and the caller
waits; the writer takes every queued line, appends them with one `write` and one `fsync` (group
commit: the conversations that changed meanwhile share one fsync), and only then are the callers
answered. The writer keeps a mirror of what the journal says, so that a compaction (a new
snapshot from the mirror, a new empty journal, the directory fsynced, the old generation
removed) runs in order with the writes. It compacts when the journal outgrows the snapshot and
`COMPACT_BYTES`, at open when the journal is not empty, and before `delete_user` and
`purge_idle_before` return when old copies of erased data may still be on disk.

Everything is read once at open; reads are served from memory, where each conversation's data
is kept as its JSON text (`get_data` decodes a fresh copy, `set_data` encodes once and the
journal line reuses that text).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import StateType, StorageKey

from flows.ports import Clock
from flows.records import parse_iso, utc_iso
from storage.atomic import (
    CorruptFileError,
    atomic_write_bytes,
    fsync_dir,
    quarantine,
    read_json_object,
    remove_stale_temp_files,
)
from storage.base import ConversationStore, KeyedLocks, StorageError
from storage.migrations import CONVERSATION_SCHEMA, check_schema

logger = logging.getLogger("baanwijzer.storage")


# A write that changes nothing is skipped, unless the stored updated_at (which idle retention
# reads) is older than this.
UNCHANGED_REFRESH = timedelta(hours=1)

# The journal is compacted into a new snapshot once it is larger than this and than the snapshot
# (so that rewriting the snapshot costs at most about as much as the journal lines did).
COMPACT_BYTES = 4 * 1024 * 1024

SNAPSHOT_SCHEMA = 1

_SNAPSHOT_NAME = re.compile(r"snapshot-(\d+)\.json")
_JOURNAL_NAME = re.compile(r"journal-(\d+)\.jsonl")
_OLD_FILE_NAME = re.compile(r"[0-9a-f]{32}\.json")  # the layout before 12/2026: a file each

_encode: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
EMPTY_DATA = "{}"


class _Keep(Enum):
    KEEP = 0


KEEP = _Keep.KEEP


def state_name(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


def key_to_dict(key: StorageKey) -> dict[str, Any]:
    return asdict(key)


def key_from_dict(data: Mapping[str, Any]) -> StorageKey:
    return StorageKey(
        bot_id=int(data["bot_id"]),
        chat_id=int(data["chat_id"]),
        user_id=int(data["user_id"]),
        thread_id=data.get("thread_id"),
        business_connection_id=data.get("business_connection_id"),
        destiny=str(data.get("destiny", "default")),
    )


@dataclass(frozen=True, slots=True)
class Ident:
    """A key's hash and its JSON, computed once per conversation (not once per step)."""

    hash: str
    key_json: str

    @classmethod
    def of(cls, key: StorageKey) -> Ident:
        key_json = _encode(key_to_dict(key))
        return cls(hashlib.sha256(key_json.encode()).hexdigest()[:32], key_json)


def key_hash(key: StorageKey) -> str:
    """A hash of the key: no user or chat id in file contents' names or in log lines."""
    return Ident.of(key).hash


def file_name(key: StorageKey) -> str:
    """The file of one conversation in the layout before the journal (imported at open)."""
    return key_hash(key) + ".json"


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation as stored; never changed in place (the writer thread shares it)."""

    ident: Ident
    state: str | None
    data_text: str  # the data as compact JSON
    updated_at: str

    @property
    def empty(self) -> bool:
        return self.state is None and self.data_text == EMPTY_DATA

    def record_text(self) -> str:
        return (
            f'{{"schema":{CONVERSATION_SCHEMA},"key":{self.ident.key_json},'
            f'"state":{_encode(self.state)},"data":{self.data_text},'
            f'"updated_at":{_encode(self.updated_at)}}}'
        )


def encode_data(data: Mapping[str, Any]) -> str:
    """The data as compact JSON; TypeError if it is not JSON (what is stored must be)."""
    return _encode(data if isinstance(data, dict) else dict(data))


class _ConversationBase(ConversationStore):
    """Everything but the file I/O; the memory store is this with no files."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._items: dict[StorageKey, Conversation] = {}
        self._locks = KeyedLocks()

    async def _persist(self, key: StorageKey, conversation: Conversation) -> None:
        """Make the change durable before it is visible (no-op in memory); an empty
        conversation means: delete it."""

    async def _erased_user(self, user_id: int, deleted: int) -> None:
        """Called after delete_user: remove every old copy of that user's data (no-op here)."""

    async def _erased_before(self, stamp: str, deleted: int) -> None:
        """Called after purge_idle_before: remove old copies of data older than `stamp`."""

    async def _change(
        self,
        key: StorageKey,
        *,
        state: str | _Keep | None = KEEP,
        data_text: str | _Keep = KEEP,
    ) -> None:
        """Set the state and/or the data (as JSON text) of one conversation; the caller holds
        the key's lock."""
        current = self._items.get(key)
        if current is None:
            new_state = None if isinstance(state, _Keep) else state
            new_text = EMPTY_DATA if isinstance(data_text, _Keep) else data_text
            if new_state is None and new_text == EMPTY_DATA:
                return
            ident = Ident.of(key)
        else:
            new_state = current.state if isinstance(state, _Keep) else state
            new_text = current.data_text if isinstance(data_text, _Keep) else data_text
            ident = current.ident
        now = utc_iso(self._clock.now())
        if (
            current is not None
            and new_state == current.state
            and new_text == current.data_text
            and parse_iso(now) - parse_iso(current.updated_at) < UNCHANGED_REFRESH
        ):
            return  # nothing to write: saves an fsync
        new = Conversation(ident, new_state, new_text, now)
        await self._persist(key, new)
        if new.empty:
            self._items.pop(key, None)
        else:
            self._items[key] = new

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        async with self._locks.hold(key):
            await self._change(key, state=state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        current = self._items.get(key)
        return None if current is None else current.state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        text = encode_data(data)
        async with self._locks.hold(key):
            await self._change(key, data_text=text)

    async def commit(self, key: StorageKey, state: str | None, data: Mapping[str, Any]) -> None:
        text = encode_data(data)
        async with self._locks.hold(key):
            await self._change(key, state=state, data_text=text)

    async def keys(self) -> list[StorageKey]:
        return list(self._items)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        current = self._items.get(key)
        if current is None:
            return {}
        data: dict[str, Any] = json.loads(current.data_text)
        return data

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        # The read-modify-write holds the key's lock: two updates of one chat both land.
        async with self._locks.hold(key):
            current = self._items.get(key)
            merged: dict[str, Any] = json.loads(current.data_text) if current else {}
            merged.update(data)
            text = encode_data(merged)
            await self._change(key, data_text=text)
            stored: dict[str, Any] = json.loads(text)  # a copy that went through JSON
            return stored

    async def delete(self, key: StorageKey) -> bool:
        async with self._locks.hold(key):
            if key not in self._items:
                return False
            await self._change(key, state=None, data_text=EMPTY_DATA)
            return True

    async def delete_user(self, user_id: int) -> int:
        keys = [k for k in self._items if k.user_id == user_id or k.chat_id == user_id]
        deleted = 0
        for key in keys:
            deleted += await self.delete(key)
        await self._erased_user(user_id, deleted)
        logger.info("erased %d conversations of one user", deleted)
        return deleted

    async def purge_idle_before(self, cutoff: datetime) -> int:
        stamp = utc_iso(cutoff)
        keys = [k for k, c in self._items.items() if c.updated_at < stamp]
        deleted = 0
        for key in keys:
            async with self._locks.hold(key):
                current = self._items.get(key)
                if current is not None and current.updated_at < stamp:
                    await self._change(key, state=None, data_text=EMPTY_DATA)
                    deleted += 1
        await self._erased_before(stamp, deleted)
        if deleted:
            logger.info("retention: deleted %d idle conversations", deleted)
        return deleted

    async def count(self) -> int:
        return len(self._items)

    async def close(self) -> None:
        pass


class MemoryConversationStorage(_ConversationBase):
    """In-memory conversations with the same semantics (JSON round trip, updated_at)."""


# -- the writer thread ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Append:
    conversation: Conversation  # empty: delete
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Compact:
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Stop:
    future: asyncio.Future[None]


_Item = _Append | _Compact | _Stop


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # the waiter was cancelled
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Answer the waiters from the writer thread: one wake-up of each event loop per batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for future in futures:
        by_loop.setdefault(future.get_loop(), []).append(future)
    for loop, waiting in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, waiting, error)


def snapshot_path(directory: Path, generation: int) -> Path:
    return directory / f"snapshot-{generation}.json"


def journal_path(directory: Path, generation: int) -> Path:
    return directory / f"journal-{generation}.jsonl"


def _generation_of(path: Path) -> int | None:
    match = _SNAPSHOT_NAME.fullmatch(path.name) or _JOURNAL_NAME.fullmatch(path.name)
    return int(match.group(1)) if match else None


class _Writer:
    """Owns the journal and the snapshots; after open, only its thread touches them."""

    def __init__(self, directory: Path, compact_bytes: int) -> None:
        self.dir = directory
        self.compact_bytes = compact_bytes
        self.mirror: dict[str, Conversation] = {}  # key hash -> what the files say
        self.generation = 0
        self.fd: int | None = None
        self.size = 0  # of the journal
        self.snapshot_size = 0
        # After a failed write or switch, the journal may hold part of a batch or a newer
        # snapshot may exist: nothing more is appended until a new generation is written.
        self.broken = False
        self.batches = 0
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="conversations", daemon=True)

    # -- called from the event loop ----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: _Item) -> None:
        self._queue.put(item)

    def join(self) -> None:
        self._thread.join()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self._queue.get_nowait())
            try:
                if self._handle(batch):
                    return
            except BaseException as exc:  # a bug here must not leave callers waiting forever
                logger.exception("conversation writer: unexpected error")
                self.broken = True
                _settle([item.future for item in batch], exc)

    def _handle(self, batch: list[_Item]) -> bool:
        """Work off one batch in order; True when the writer is to stop."""
        appends: list[_Append] = []
        for item in batch:
            if isinstance(item, _Append):
                appends.append(item)
                continue
            if appends:  # what was queued before a compaction or stop goes first
                self._commit(appends)
                appends = []
            if isinstance(item, _Compact):
                try:
                    self.compact()
                except Exception as exc:
                    logger.exception("conversation journal: compaction failed")
                    _settle([item.future], exc)
                else:
                    _settle([item.future], None)
            else:
                self.close_file()
                _settle([item.future], None)
                return True
        if appends:
            self._commit(appends)
        return False

    def _commit(self, appends: list[_Append]) -> None:
        try:
            lines = []
            for item in appends:
                conversation = item.conversation
                record = "null" if conversation.empty else conversation.record_text()
                lines.append(f'{{"k":"{conversation.ident.hash}","r":{record}}}\n')
            if self.broken:
                self.compact()
            self.append("".join(lines).encode())
        except Exception as exc:
            logger.exception("conversation journal: write failed")
            _settle([item.future for item in appends], exc)
            return
        for item in appends:
            conversation = item.conversation
            if conversation.empty:
                self.mirror.pop(conversation.ident.hash, None)
            else:
                self.mirror[conversation.ident.hash] = conversation
        self.batches += 1
        _settle([item.future for item in appends], None)
        if self.size > max(self.compact_bytes, self.snapshot_size):
            try:
                self.compact()
            except Exception:
                logger.exception("conversation journal: compaction failed; retried at next write")

    def append(self, data: bytes) -> None:
        """One write and one fsync for a whole batch."""
        assert self.fd is not None
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
            os.fsync(self.fd)
        except BaseException:
            self.broken = True
            raise
        self.size += len(data)

    def snapshot_bytes(self, generation: int) -> bytes:
        body = ",".join(f'"{h}":{c.record_text()}' for h, c in self.mirror.items())
        head = f'{{"schema":{SNAPSHOT_SCHEMA},"generation":{generation},"conversations":{{'
        return (head + body + "}}\n").encode()

    def switch(self) -> None:
        """Start a new generation from the mirror: snapshot, empty journal, directory fsync."""
        new = self.generation + 1
        snapshot = snapshot_path(self.dir, new)
        journal = journal_path(self.dir, new)
        body = self.snapshot_bytes(new)
        written = False
        try:
            atomic_write_bytes(snapshot, body, sync_dir=False)
            written = True
            fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            try:
                fsync_dir(self.dir)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            if written:
                # A newer snapshot would win at the next open over lines still appended to the
                # current journal: take it back, and append nothing until a switch succeeds.
                self.broken = True
                for path in (snapshot, journal):
                    with contextlib.suppress(OSError):
                        path.unlink()
            raise
        old_fd = self.fd
        self.fd, self.size, self.generation, self.snapshot_size = fd, 0, new, len(body)
        self.broken = False
        if old_fd is not None:
            os.close(old_fd)

    def remove_old(self, extra: list[Path] | None = None) -> None:
        """Delete every older generation (and `extra` files), then fsync the directory."""
        doomed = list(extra or [])
        for path in self.dir.iterdir():
            generation = _generation_of(path)
            if generation is not None and generation < self.generation:
                doomed.append(path)
        removed = 0
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        if removed:
            fsync_dir(self.dir)

    def compact(self) -> None:
        self.switch()
        self.remove_old()
        logger.info(
            "conversation journal compacted: generation %d, %d open, snapshot %d bytes",
            self.generation,
            len(self.mirror),
            self.snapshot_size,
        )

    def open_journal(self, generation: int, size: int, snapshot_size: int) -> None:
        self.generation = generation
        self.fd = os.open(journal_path(self.dir, generation), os.O_WRONLY | os.O_APPEND)
        self.size, self.snapshot_size = size, snapshot_size

    def close_file(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def write_snapshot(directory: Path, generation: int, records: Mapping[str, Any]) -> None:
    """Write a snapshot of `records` (key hash -> record) as generation `generation` with an
    empty journal: what the store writes, for seeding benchmarks and tests."""
    snapshot = {"schema": SNAPSHOT_SCHEMA, "generation": generation, "conversations": records}
    atomic_write_bytes(snapshot_path(directory, generation), _encode(snapshot).encode())
    journal_path(directory, generation).write_bytes(b"")


# -- loading -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Loaded:
    key: StorageKey
    ident: Ident
    state: str | None
    data: dict[str, Any]
    updated_at: str


def _parse_record(raw: Any) -> _Loaded:
    """A stored record of the current schema, checked; TypeError/ValueError/KeyError if not one."""
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    data = check_schema("conversation", raw)
    key = key_from_dict(data["key"])
    state = data.get("state")
    payload = data.get("data", {})
    updated = utc_iso(parse_iso(str(data["updated_at"])))
    if not isinstance(payload, dict) or not (state is None or isinstance(state, str)):
        raise TypeError("state or data of the wrong type")
    return _Loaded(key, Ident.of(key), state, payload, updated)


def _read_snapshot(path: Path) -> tuple[dict[str, _Loaded], list[str]]:
    """The records of a snapshot and what was wrong with some of them; CorruptFileError if
    the file as a whole is unreadable."""
    raw = read_json_object(path)
    if raw is None:
        raise CorruptFileError(path, "gone")
    conversations = raw.get("conversations")
    schema = raw.get("schema")
    if (
        not isinstance(schema, int)
        or schema > SNAPSHOT_SCHEMA
        or not isinstance(conversations, dict)
    ):
        raise CorruptFileError(path, "not a conversation snapshot")
    records: dict[str, _Loaded] = {}
    bad: list[str] = []
    for hashed, value in conversations.items():
        try:
            record = _parse_record(value)
        except (KeyError, TypeError, ValueError) as exc:
            bad.append(exc.__class__.__name__)
            continue
        if record.ident.hash != hashed:
            bad.append("key hash does not match the key")
            continue
        records[hashed] = record
    return records, bad


@dataclass(slots=True)
class _Replay:
    lines: int = 0
    torn: bool = False
    bad: list[str] = field(default_factory=list)


def _replay_journal(path: Path, records: dict[str, _Loaded]) -> _Replay:
    """Apply a journal's lines to `records`. An unfinished last line (no newline, or one that
    does not parse) was never acknowledged and is dropped; a bad line elsewhere is skipped and
    reported in `bad`, the lines before and after it are kept."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise CorruptFileError(path, f"unreadable ({exc.__class__.__name__})") from exc
    lines = blob.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    result = _Replay(lines=len(lines), torn=bool(tail))
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            if number == len(lines) and not tail:
                result.torn = True
            else:
                result.bad.append(f"line {number} is not JSON ({exc.__class__.__name__})")
            continue
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("k"), str):
                raise TypeError("not a journal entry")
            hashed: str = entry["k"]
            if entry.get("r") is None:
                records.pop(hashed, None)
                continue
            record = _parse_record(entry["r"])
            if record.ident.hash != hashed:
                raise ValueError("key hash does not match the key")
        except (KeyError, TypeError, ValueError) as exc:
            result.bad.append(f"line {number} is not a conversation ({exc.__class__.__name__})")
            continue
        records[hashed] = record
    return result


class FileConversationStorage(_ConversationBase):
    """Conversations in a snapshot and a journal with group commit; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        clock: Clock,
        problems: list[str],
        *,
        compact_bytes: int | None = None,
    ) -> None:
        super().__init__(clock)
        self._dir = directory
        self._problems = problems
        self._writer = _Writer(directory, COMPACT_BYTES if compact_bytes is None else compact_bytes)
        self._closed = False
        # Who and how old the lines of the current journal are (an over-estimate: a compaction
        # at the size threshold does not clear them), for erasure and retention to compact.
        self._journal_ids: set[int] = set()
        self._journal_since: str | None = None

    @classmethod
    async def open(
        cls,
        directory: Path,
        clock: Clock,
        problems: list[str],
        *,
        compact_bytes: int | None = None,
    ) -> FileConversationStorage:
        store = cls(directory, clock, problems, compact_bytes=compact_bytes)
        await asyncio.to_thread(store._load)
        store._writer.start()
        return store

    @property
    def generation(self) -> int:
        return self._writer.generation

    @property
    def batches(self) -> int:
        """How many group commits (journal fsyncs) were written since open."""
        return self._writer.batches

    def _load(self) -> None:
        directory = self._dir
        directory.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(directory)
        snapshots: dict[int, Path] = {}
        journals: dict[int, Path] = {}
        old_files: list[Path] = []
        for path in directory.iterdir():
            if match := _SNAPSHOT_NAME.fullmatch(path.name):
                snapshots[int(match.group(1))] = path
            elif match := _JOURNAL_NAME.fullmatch(path.name):
                journals[int(match.group(1))] = path
            elif _OLD_FILE_NAME.fullmatch(path.name):
                old_files.append(path)
        records: dict[str, _Loaded] = {}
        aside: list[tuple[Path, str]] = []  # moved aside once the new generation is durable
        generations = set(snapshots) | set(journals)
        generation = max(generations, default=0)
        compact = True
        if generations:
            snapshot = snapshots.get(generation)
            journal = journals.get(generation)
            if snapshot is None:
                message = f"conversation snapshot {snapshot_path(directory, generation)} missing"
                logger.warning(message)
                self._problems.append(message)
            else:
                try:
                    records, bad = _read_snapshot(snapshot)
                except CorruptFileError as exc:
                    aside.append((snapshot, exc.reason))
                else:
                    if bad:
                        aside.append((snapshot, f"{len(bad)} bad records skipped ({bad[0]})"))
            replay = _Replay()
            if journal is not None:
                try:
                    replay = _replay_journal(journal, records)
                except CorruptFileError as exc:
                    aside.append((journal, exc.reason))
                if replay.bad:
                    reason = f"{'; '.join(replay.bad[:3])}; of {replay.lines} lines, the rest kept"
                    aside.append((journal, reason))
                if replay.torn:
                    logger.info("conversation journal: dropped an unfinished last line")
            compact = (
                snapshot is None
                or journal is None
                or replay.lines > 0
                or replay.torn
                or bool(aside)
                or len(generations) > 1
                or bool(old_files)
            )
            if old_files:
                logger.warning(
                    "removing %d conversation files of the old layout (already imported)",
                    len(old_files),
                )
        else:
            records = self._import_old_files(old_files)
        for hashed, record in records.items():
            if record.state is None and not record.data:
                continue
            conversation = Conversation(
                record.ident, record.state, _encode(record.data), record.updated_at
            )
            self._items[record.key] = conversation
            self._writer.mirror[hashed] = conversation
        writer = self._writer
        if compact:
            writer.generation = generation
            writer.switch()
            for path, reason in aside:
                quarantine(path, self._clock.now(), self._problems, reason)
            writer.remove_old(old_files)
        else:
            snapshot = snapshots[generation]
            journal = journals[generation]
            writer.open_journal(generation, journal.stat().st_size, snapshot.stat().st_size)
        logger.info(
            "conversations opened: %d open, generation %d", len(self._items), writer.generation
        )

    def _import_old_files(self, paths: list[Path]) -> dict[str, _Loaded]:
        """Read the one-file-per-conversation layout; the files are removed once the first
        snapshot holding them is durable."""
        records: dict[str, _Loaded] = {}
        for path in sorted(paths):
            try:
                raw = read_json_object(path)
                if raw is None:
                    continue
                try:
                    record = _parse_record(raw)
                except (KeyError, TypeError, ValueError) as exc:
                    raise CorruptFileError(
                        path, f"not a conversation ({exc.__class__.__name__})"
                    ) from exc
            except CorruptFileError as exc:
                quarantine(path, self._clock.now(), self._problems, exc.reason)
                continue
            if path.name != record.ident.hash + ".json":
                logger.warning("conversation file %s has an unexpected name; ignored", path.name)
                continue
            records[record.ident.hash] = record
        if paths:
            logger.info("conversations: importing %d files of the old layout", len(records))
        return records

    async def _submit(self, make: Callable[[asyncio.Future[None]], _Item]) -> None:
        if self._closed:
            raise StorageError("the conversation store is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writer.submit(make(future))
        await future

    async def _persist(self, key: StorageKey, conversation: Conversation) -> None:
        if self._closed:
            raise StorageError("the conversation store is closed")
        self._journal_ids.add(key.user_id)
        self._journal_ids.add(key.chat_id)
        if self._journal_since is None or conversation.updated_at < self._journal_since:
            self._journal_since = conversation.updated_at
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writer.submit(_Append(conversation, future))
        await future

    async def compact(self) -> None:
        """Write a new generation now (ordered after every write queued before); returns when it
        is durable and the old generation is gone."""
        # Lines queued from here on go to the new journal.
        self._journal_ids = set()
        self._journal_since = None
        await self._submit(_Compact)

    async def _erased_user(self, user_id: int, deleted: int) -> None:
        # Old lines (or the snapshot) may still hold what was deleted, also of a conversation
        # the user closed earlier: erasure returns only when no copy is left.
        if deleted or user_id in self._journal_ids:
            await self.compact()

    async def _erased_before(self, stamp: str, deleted: int) -> None:
        if deleted or (self._journal_since is not None and self._journal_since < stamp):
            await self.compact()

    async def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True  # nothing is queued after the stop
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writer.submit(_Stop(future))
        await future
        await asyncio.to_thread(self._writer.join)

"""Conversations (aiogram FSM state and data): a snapshot plus an append-only journal.

Layout under `DATA_DIR/conversations/`:

- `snapshot-<gen>.jsonl`: every open conversation at the moment generation `gen` began, written
  atomically: a first line `{"schema": 2, "generation": gen}`, then one line per conversation,
  `{"k": <key hash>, "r": <record>}`;
- `journal-<gen>.jsonl`: one line per change since that snapshot, in write order,
  `{"k": <key hash>, "r": <record> or null when the conversation was closed or deleted}`.

A record is `{"schema", "key", "state", "updated_at", "data"}`, written in that order (`data`
last); the key hash is the first 32 hex digits of the SHA-256 of the key, so no user or chat id
is in a file name. Only the newest generation is kept.

**Lazy open.** Opening reads the snapshot a block at a time and decodes, per line, only the part
before `,"data":` (a block's heads in one `json.loads`): key, state and `updated_at`. The data
stays in the file; each conversation keeps where it is (a `Ref`: the snapshot's generation and
offsets; `Snapshots` holds the open files) and reads and decodes it when it is used
(`get_data`, a write). The journal's lines (the changes since the
snapshot) are decoded whole. A conversation written since the last compaction keeps its data as
JSON text in memory; a compaction hands it back to the file.

All writes go through one writer thread. A change is queued as a journal line and the caller
waits; the writer takes every queued line, appends them with one `write` and one `fsync` (group
commit: the conversations that changed meanwhile share one fsync), and only then are the callers
answered. The writer keeps a mirror of what the files say (the same `Conversation` objects the
event loop reads), so that a compaction runs in order with the writes: it streams a new snapshot
into a temp file in chunks of `CHUNK_BYTES` (a conversation still in the old snapshot is copied
as its raw line, undecoded; the GIL is released at every chunk's write, so the event loop is
never kept waiting for the whole snapshot), fsyncs and renames it, starts an empty journal,
fsyncs the directory, points every conversation at the new file and removes the old generation.
It compacts when the journal outgrows the snapshot and `COMPACT_BYTES`, at open when the journal
is not empty, at close when it is larger than `CLOSE_COMPACT_BYTES`, and before `delete_user`
and `purge_idle_before` return when old copies of erased data may still be on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import mmap
import os
import queue
import re
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    TMP_SUFFIX,
    CorruptFileError,
    fsync_dir,
    quarantine,
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

# At close, a journal larger than this is compacted: the next start then reads the snapshot
# lazily instead of decoding every line of the journal (and holding their data in memory).
CLOSE_COMPACT_BYTES = 1024 * 1024

# A compaction writes the new snapshot in pieces of about this size; each write releases the GIL.
CHUNK_BYTES = 256 * 1024

# The writer lets the event loop's thread have the GIL at least once per this many conversations
# while it walks them all (a compaction): without it the loop waits for the interpreter's
# switch interval (5 ms) at each of its I/O calls meanwhile.
YIELD_EVERY = 256

# Opening reads a snapshot in blocks of this size.
READ_BYTES = 1024 * 1024

# Erasure and retention look for what to delete this many conversations at a time.
SCAN_SLICE = 4096

# Deletions of a purge are queued this many at a time (they share group commits).
PURGE_BATCH = 64

SNAPSHOT_SCHEMA = 2

_SNAPSHOT_NAME = re.compile(r"snapshot-(\d+)\.jsonl")
_JOURNAL_NAME = re.compile(r"journal-(\d+)\.jsonl")
_DATA_MARK = b',"data":'  # the first one in a line ends the record's head (see Ref)

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


def key_hash(key: StorageKey) -> str:
    """A hash of the key: no user or chat id in file contents' names or in log lines."""
    return hashlib.sha256(_encode(key_to_dict(key)).encode()).hexdigest()[:32]


# Where a conversation's line is in a snapshot: (generation, start of the line, start of its
# data, end of the line). The line is `{"k":...,"r":{...,"updated_at":...,"data":<data>}}\n`.
Ref = tuple[int, int, int, int]


class Snapshots:
    """The open snapshot files, by generation, read by offset.

    A conversation refers to its line by a `Ref`, a tuple of ints: the cyclic GC does not track
    those, so a compaction that points 50,000 conversations at a new snapshot gives the
    collector nothing new to walk (objects did: a full collection over them stalled the event
    loop by up to 0.7 s in the bench). The writer adds a file per compaction and then closes
    the one two generations back: by then nothing the event loop can reach refers to it (every
    conversation in the writer's mirror was pointed at the newest file; one replaced or deleted
    meanwhile is out of the store once its write was answered)."""

    def __init__(self) -> None:
        self._fds: dict[int, int] = {}

    def add(self, generation: int, fd: int) -> None:
        self._fds[generation] = fd

    def _read(self, generation: int, start: int, end: int) -> bytes:
        fd = self._fds.get(generation)
        if fd is None:
            raise StorageError(f"conversation snapshot {generation} is closed")
        return os.pread(fd, end - start, start)

    def line(self, ref: Ref) -> bytes:
        return self._read(ref[0], ref[1], ref[3])

    def data(self, ref: Ref) -> bytes:
        return self._read(ref[0], ref[2], ref[3] - 3)  # without "}}\n"

    @contextlib.contextmanager
    def viewer(self) -> Iterator[SnapshotView]:
        """A view for reading many conversations' data in place (see SnapshotView); its maps
        are closed on leaving."""
        view = SnapshotView(self._fds)
        try:
            yield view
        finally:
            view.close()

    def close_before(self, generation: int) -> None:
        for old in [g for g in self._fds if g < generation]:
            with contextlib.suppress(OSError):
                os.close(self._fds.pop(old))

    def __del__(self) -> None:
        self.close_before(sys.maxsize)


class SnapshotView:
    """The snapshot files mapped into memory, each on first use, to search many conversations'
    data where it lies: no read call and no bytes object per conversation. A map holds its own
    copy of the file descriptor, so a compaction that closes the file meanwhile does not pull
    it away; a conversation moved to a newer snapshot meanwhile is found there."""

    def __init__(self, fds: Mapping[int, int]) -> None:
        self._fds = fds
        self._maps: dict[int, mmap.mmap] = {}

    def holds_all(self, ref: Ref, fragments: Sequence[bytes]) -> bool:
        generation, _, start, end = ref
        end -= 3  # without "}}\n"
        mapped = self._maps.get(generation)
        if mapped is None:
            fd = self._fds.get(generation)
            if fd is None:
                raise StorageError(f"conversation snapshot {generation} is closed")
            try:
                mapped = self._maps[generation] = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # no map to be had: read this one
                data = os.pread(fd, end - start, start)
                return all(fragment in data for fragment in fragments)
        # From the end: a record's own fields are written after the person's answers.
        search = mapped.rfind
        return all(search(fragment, start, end) >= 0 for fragment in fragments)

    def close(self) -> None:
        for mapped in self._maps.values():
            mapped.close()
        self._maps.clear()


class Conversation:
    """One conversation as stored. The event loop never changes one (it makes a new one per
    write); the writer thread only moves its data between memory and the snapshot: it sets
    `ref` first and clears `data_text` after, so a reader that finds no text finds the ref.
    Its data is `data_text`, or where `ref` points in a snapshot (`text`)."""

    __slots__ = ("data_text", "hash", "key", "ref", "state", "updated_at")

    def __init__(
        self,
        key: StorageKey,
        hashed: str,
        state: str | None,
        updated_at: str,
        data_text: str | None,
        ref: Ref | None = None,
    ) -> None:
        self.key = key
        self.hash = hashed
        self.state = state
        self.updated_at = updated_at
        self.data_text = data_text  # the data as compact JSON, or None: read it from `ref`
        self.ref = ref

    def text(self, snapshots: Snapshots) -> str:
        text = self.data_text
        if text is not None:
            return text
        ref = self.ref
        assert ref is not None
        return snapshots.data(ref).decode()

    def same_text(self, text: str, snapshots: Snapshots) -> bool:
        """Whether `text` is this conversation's data; a text of another length is told
        without reading the snapshot."""
        mine = self.data_text
        if mine is not None:
            return text == mine
        ref = self.ref
        assert ref is not None
        stored_bytes = ref[3] - 3 - ref[2]
        if len(text) > stored_bytes or (text.isascii() and len(text) != stored_bytes):
            return False
        return text == snapshots.data(ref).decode()

    def holds_all(
        self, fragments: Sequence[str], encoded: Sequence[bytes], view: SnapshotView
    ) -> bool:
        """Whether this conversation's data, as compact JSON, contains every fragment
        (`encoded`: the same in UTF-8, to search the snapshot with)."""
        text = self.data_text
        if text is not None:
            return all(fragment in text for fragment in fragments)
        ref = self.ref
        assert ref is not None
        return view.holds_all(ref, encoded)

    @property
    def empty(self) -> bool:
        return self.state is None and self.data_text == EMPTY_DATA

    def head_text(self) -> str:
        """The record up to and including `"data":`."""
        return (
            f'{{"schema":{CONVERSATION_SCHEMA},"key":{_encode(key_to_dict(self.key))},'
            f'"state":{_encode(self.state)},"updated_at":{_encode(self.updated_at)},"data":'
        )

    def record_text(self, snapshots: Snapshots) -> str:
        return self.head_text() + self.text(snapshots) + "}"


def encode_data(data: Mapping[str, Any]) -> str:
    """The data as compact JSON; TypeError if it is not JSON (what is stored must be)."""
    return _encode(data if isinstance(data, dict) else dict(data))


class _ConversationBase(ConversationStore):
    """Everything but the file I/O; the memory store is this with no files."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._items: dict[StorageKey, Conversation] = {}
        self._locks = KeyedLocks()
        self._snapshots = Snapshots()  # none in memory: every conversation has its text

    async def _persist(self, conversation: Conversation) -> None:
        """Make the change durable before it is visible (no-op in memory); an empty
        conversation means: delete it."""

    async def _erased_user(self, user_id: int, deleted: int) -> None:
        """Called after delete_user: remove every old copy of that user's data (no-op here)."""

    async def _erased_before(self, stamp: str, deleted: int) -> None:
        """Called after purge_idle_before: remove old copies of data older than `stamp`."""

    def _read(self, conversation: Conversation) -> dict[str, Any]:
        """A fresh copy of a conversation's data."""
        data: dict[str, Any] = json.loads(conversation.text(self._snapshots))
        return data

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
            hashed = key_hash(key)
        else:
            new_state = current.state if isinstance(state, _Keep) else state
            new_text = current.text(self._snapshots) if isinstance(data_text, _Keep) else data_text
            hashed = current.hash
            key = current.key  # the same key, as made at open: no new object to keep
        now = utc_iso(self._clock.now())
        if (
            current is not None
            and new_state == current.state
            and parse_iso(now) - parse_iso(current.updated_at) < UNCHANGED_REFRESH
            and current.same_text(new_text, self._snapshots)
        ):
            return  # nothing to write: saves an fsync
        new = Conversation(key, hashed, new_state, now, new_text)
        await self._persist(new)
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
        return self._read(current)

    async def data_text(self, key: StorageKey) -> str:
        current = self._items.get(key)
        return EMPTY_DATA if current is None else current.text(self._snapshots)

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        # The read-modify-write holds the key's lock: two updates of one chat both land.
        async with self._locks.hold(key):
            current = self._items.get(key)
            merged: dict[str, Any] = self._read(current) if current else {}
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

    async def _select(self, chosen: Callable[[StorageKey, Conversation], bool]) -> list[StorageKey]:
        """The keys of the conversations `chosen` picks, looked at a slice at a time with the
        event loop free in between (all 50,000 at once took 5-10 ms). Only a list of the keys
        is made, no object per conversation (50,000 new objects set off collections of the
        cyclic GC: up to 97 ms without the event loop)."""
        keys = list(self._items)
        picked: list[StorageKey] = []
        for start in range(0, len(keys), SCAN_SLICE):
            if start:
                await asyncio.sleep(0)
            items = self._items
            for key in keys[start : start + SCAN_SLICE]:
                conversation = items.get(key)
                if conversation is not None and chosen(key, conversation):
                    picked.append(key)
        return picked

    async def keys_lacking(self, fragments: Sequence[str]) -> list[StorageKey]:
        encoded = [fragment.encode() for fragment in fragments]
        with self._snapshots.viewer() as view:
            return await self._select(lambda _, c: not c.holds_all(fragments, encoded, view))

    async def delete_user(self, user_id: int) -> int:
        keys = await self._select(lambda k, _: k.user_id == user_id or k.chat_id == user_id)
        deleted = 0
        for key in keys:
            deleted += await self.delete(key)
        await self._erased_user(user_id, deleted)
        logger.info("erased %d conversations of one user", deleted)
        return deleted

    async def _delete_idle(self, key: StorageKey, stamp: str) -> bool:
        async with self._locks.hold(key):
            current = self._items.get(key)
            if current is None or current.updated_at >= stamp:
                return False  # written meanwhile
            await self._change(key, state=None, data_text=EMPTY_DATA)
            return True

    async def purge_idle_before(self, cutoff: datetime) -> int:
        stamp = utc_iso(cutoff)
        keys = await self._select(lambda _, c: c.updated_at < stamp)
        deleted = 0
        # A batch at a time, so that the deletions share the journal's group commits.
        for start in range(0, len(keys), PURGE_BATCH):
            batch = keys[start : start + PURGE_BATCH]
            done = await asyncio.gather(*(self._delete_idle(key, stamp) for key in batch))
            deleted += sum(done)
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
    return directory / f"snapshot-{generation}.jsonl"


def journal_path(directory: Path, generation: int) -> Path:
    return directory / f"journal-{generation}.jsonl"


def _generation_of(path: Path) -> int | None:
    match = _SNAPSHOT_NAME.fullmatch(path.name) or _JOURNAL_NAME.fullmatch(path.name)
    return int(match.group(1)) if match else None


def _snapshot_header(generation: int) -> bytes:
    return f'{{"schema":{SNAPSHOT_SCHEMA},"generation":{generation}}}\n'.encode()


def write_snapshot_file(
    path: Path, generation: int, conversations: list[Conversation], snapshots: Snapshots
) -> tuple[int, array[int]]:
    """Write a snapshot durably (temp file, chunked writes, fsync, rename; the caller fsyncs
    the directory). Returns its descriptor, open for reading, and where each conversation's
    line is: start of the line, start of its data, end of the line, three per conversation."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    placed: array[int] = array("q")
    try:
        chunk: list[bytes] = [_snapshot_header(generation)]
        chunk_size = offset = len(chunk[0])
        for n, conversation in enumerate(conversations):
            if n % YIELD_EVERY == 0:
                time.sleep(0)  # releases the GIL: see YIELD_EVERY
            ref = conversation.ref
            text = conversation.data_text
            if text is None and ref is not None:
                line = snapshots.line(ref)  # unchanged since that snapshot: copied, not decoded
                data_at = offset + ref[2] - ref[1]
            else:
                head = f'{{"k":"{conversation.hash}","r":{conversation.head_text()}'.encode()
                line = head + conversation.text(snapshots).encode() + b"}}\n"
                data_at = offset + len(head)
            placed.extend((offset, data_at, offset + len(line)))
            chunk.append(line)
            offset += len(line)
            chunk_size += len(line)
            if chunk_size >= CHUNK_BYTES:
                _write_all(fd, b"".join(chunk))
                chunk, chunk_size = [], 0
        _write_all(fd, b"".join(chunk))
        os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return fd, placed


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_snapshot(directory: Path, generation: int, records: Mapping[str, Any]) -> None:
    """Write a snapshot of `records` (key hash -> record, as stored) as generation `generation`
    with an empty journal: what the store writes, for seeding benchmarks and tests."""
    directory.mkdir(parents=True, exist_ok=True)
    conversations = []
    for hashed, raw in records.items():
        record = _parse_record(raw)
        conversations.append(
            Conversation(record.key, hashed, record.state, record.updated_at, record.data_text)
        )
    path = snapshot_path(directory, generation)
    fd, _ = write_snapshot_file(path, generation, conversations, Snapshots())
    os.close(fd)
    journal_path(directory, generation).write_bytes(b"")
    fsync_dir(directory)


class _Writer:
    """Owns the journal and the snapshots; after open, only its thread touches them."""

    def __init__(self, directory: Path, compact_bytes: int, snapshots: Snapshots) -> None:
        self.dir = directory
        self.compact_bytes = compact_bytes
        self.snapshots = snapshots
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
                if self.size > CLOSE_COMPACT_BYTES:
                    try:
                        self.compact()
                    except Exception:
                        logger.exception("conversation journal: compaction at close failed")
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
                record = "null" if conversation.empty else conversation.record_text(self.snapshots)
                lines.append(f'{{"k":"{conversation.hash}","r":{record}}}\n')
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
                self.mirror.pop(conversation.hash, None)
            else:
                self.mirror[conversation.hash] = conversation
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
        try:
            _write_all(self.fd, data)
            os.fsync(self.fd)
        except BaseException:
            self.broken = True
            raise
        self.size += len(data)

    def switch(self) -> None:
        """Start a new generation from the mirror: snapshot, empty journal, directory fsync;
        then every conversation reads its data from the new snapshot."""
        new = self.generation + 1
        snapshot = snapshot_path(self.dir, new)
        journal = journal_path(self.dir, new)
        conversations = list(self.mirror.values())
        written: int | None = None
        try:
            written, placed = write_snapshot_file(snapshot, new, conversations, self.snapshots)
            fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            try:
                fsync_dir(self.dir)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            if written is not None:
                os.close(written)
                # A newer snapshot would win at the next open over lines still appended to the
                # current journal: take it back, and append nothing until a switch succeeds.
                self.broken = True
                for path in (snapshot, journal):
                    with contextlib.suppress(OSError):
                        path.unlink()
            raise
        self.snapshots.add(new, written)
        for i, conversation in enumerate(conversations):
            if i % YIELD_EVERY == 0:
                time.sleep(0)  # releases the GIL: see YIELD_EVERY
            conversation.ref = (new, placed[3 * i], placed[3 * i + 1], placed[3 * i + 2])
            conversation.data_text = None  # after the ref: see Conversation
        self.snapshots.close_before(new - 1)
        old_fd = self.fd
        self.fd, self.size, self.generation = fd, 0, new
        self.snapshot_size = placed[-1] if placed else len(_snapshot_header(new))
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


# -- loading -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Loaded:
    key: StorageKey
    state: str | None
    data_text: str
    updated_at: str

    @property
    def empty(self) -> bool:
        return self.state is None and self.data_text == EMPTY_DATA


def _parse_record(raw: Any) -> _Loaded:
    """A stored record of the current schema, checked; TypeError/ValueError/KeyError if it is
    not one."""
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    data = check_schema("conversation", raw)
    key = key_from_dict(data["key"])
    state = data.get("state")
    payload = data.get("data", {})
    updated = utc_iso(parse_iso(str(data["updated_at"])))
    if not isinstance(payload, dict) or not (state is None or isinstance(state, str)):
        raise TypeError("state or data of the wrong type")
    return _Loaded(key, state, _encode(payload), updated)


def _head(raw: Any, shared: dict[str, str]) -> tuple[str, StorageKey, str | None, str]:
    """(key hash, key, state, updated_at) of a snapshot line's head; TypeError/ValueError/
    KeyError if it is not one. Strings in `shared` are used instead of equal ones."""
    if not isinstance(raw, dict) or not isinstance(raw.get("r"), dict):
        raise TypeError("not a snapshot line")
    hashed = raw["k"]
    record = check_schema("conversation", raw["r"])
    state = record.get("state")
    updated = record["updated_at"]
    if not isinstance(hashed, str) or len(hashed) != 32:
        raise ValueError("not a key hash")
    if not (state is None or isinstance(state, str)) or not isinstance(updated, str):
        raise TypeError("state or updated_at of the wrong type")
    fields = record["key"]
    destiny = fields.get("destiny")
    if isinstance(destiny, str):
        fields["destiny"] = shared.setdefault(destiny, destiny)
    if state is not None:
        state = shared.setdefault(state, state)
    return hashed, key_from_dict(fields), state, updated


def _read_snapshot(
    path: Path, generation: int, snapshots: Snapshots
) -> tuple[list[Conversation], list[str]]:
    """The conversations of a snapshot, their data left in the file (added to `snapshots`; see
    the module docstring), and what was wrong with some lines; CorruptFileError if the file as
    a whole is unreadable.

    The cyclic GC is paused meanwhile: it would walk the growing heap again and again while
    the objects of every conversation are made (the same load took 0.1 to 0.5 s at random)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise CorruptFileError(path, f"unreadable ({exc.__class__.__name__})") from exc
    paused = gc.isenabled()
    gc.disable()
    try:
        found = _read_snapshot_lines(path, fd, generation)
    except BaseException:
        os.close(fd)
        raise
    finally:
        if paused:
            gc.enable()
    snapshots.add(generation, fd)
    return found.conversations, found.bad


def _read_snapshot_lines(path: Path, fd: int, generation: int) -> _Found:
    try:
        size = os.fstat(fd).st_size
    except OSError as exc:
        raise CorruptFileError(path, f"unreadable ({exc.__class__.__name__})") from exc
    found = _Found(generation)
    # Read a block at a time (whole lines; the rest is carried over), so that the file is never
    # in memory whole, nor all heads decoded at once.
    carry, carry_at, read_at = b"", 0, 0
    header = False
    while read_at < size:
        try:
            piece = os.pread(fd, min(size - read_at, READ_BYTES), read_at)
        except OSError as exc:
            raise CorruptFileError(path, f"unreadable ({exc.__class__.__name__})") from exc
        if not piece:
            break  # shrunk meanwhile: the check below fails
        read_at += len(piece)
        blob = carry + piece
        stop = blob.rfind(b"\n") + 1
        start = 0
        if stop and not header:
            start = blob.find(b"\n") + 1
            try:
                head = json.loads(blob[: start - 1])
            except (ValueError, UnicodeDecodeError):
                head = None
            if not isinstance(head, dict) or head.get("schema") != SNAPSHOT_SCHEMA:
                raise CorruptFileError(path, "not a conversation snapshot")
            header = True
        found.scan(blob, start, stop, carry_at)
        carry, carry_at = blob[stop:], carry_at + stop
    if carry or not header:
        raise CorruptFileError(path, "not a conversation snapshot")
    return found


class _Found:
    """The conversations found in a snapshot so far."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.conversations: list[Conversation] = []
        self.bad: list[str] = []
        self.shared: dict[str, str] = {}  # few distinct states and destinies: one string each

    def scan(self, blob: bytes, start: int, stop: int, base: int) -> None:
        """The whole lines in `blob[start:stop]`, which is at `base` in the file. Each is cut at
        its first `,"data":` (which no key, state or time can hold: a quote inside a JSON string
        is escaped), and the heads are decoded together in one json.loads."""
        spans: list[tuple[int, int, int]] = []
        heads: list[bytes] = []
        find = blob.find
        while start < stop:
            end = find(b"\n", start) + 1
            cut = find(_DATA_MARK, start, end)
            if cut < 0 or blob[end - 3 : end] != b"}}\n":
                self.bad.append("a line without data")
            else:
                spans.append((base + start, base + cut + len(_DATA_MARK), base + end))
                heads.append(blob[start:cut])
            start = end
        if not heads:
            return
        try:
            decoded: list[Any] = json.loads(b"[" + b"}},".join(heads) + b"}}]")
        except (ValueError, UnicodeDecodeError):
            decoded = []  # one of them is bad: decode them one by one to find it
            for head in heads:
                try:
                    decoded.append(json.loads(head + b"}}"))
                except (ValueError, UnicodeDecodeError):
                    decoded.append(None)
        for raw, (line_at, data_at, end) in zip(decoded, spans, strict=True):
            try:
                hashed, key, state, updated = _head(raw, self.shared)
            except (KeyError, TypeError, ValueError) as exc:
                self.bad.append(exc.__class__.__name__)
                continue
            ref = (self.generation, line_at, data_at, end)
            self.conversations.append(Conversation(key, hashed, state, updated, None, ref))


@dataclass(slots=True)
class _Replay:
    lines: int = 0
    torn: bool = False
    bad: list[str] = field(default_factory=list)


def _replay_journal(path: Path, records: dict[str, Conversation]) -> _Replay:
    """Apply a journal's lines to `records` (key hash -> conversation). An unfinished last line
    (no newline, or one that does not parse) was never acknowledged and is dropped; a bad line
    elsewhere is skipped and reported in `bad`, the lines before and after it are kept."""
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
            if key_hash(record.key) != hashed:
                raise ValueError("key hash does not match the key")
        except (KeyError, TypeError, ValueError) as exc:
            result.bad.append(f"line {number} is not a conversation ({exc.__class__.__name__})")
            continue
        records[hashed] = Conversation(
            record.key, hashed, record.state, record.updated_at, record.data_text
        )
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
        self._writer = _Writer(
            directory,
            COMPACT_BYTES if compact_bytes is None else compact_bytes,
            self._snapshots,
        )
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

    def _read(self, conversation: Conversation) -> dict[str, Any]:
        try:
            return super()._read(conversation)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            # Only a damaged disk gets here (a snapshot is written whole or not at all): the
            # conversation goes on without its data rather than failing every step.
            message = (
                f"conversation data unreadable in {self._dir} ({exc.__class__.__name__});"
                " that conversation goes on without it"
            )
            logger.warning(message)
            self._problems.append(message)
            return {}

    def _load(self) -> None:
        directory = self._dir
        directory.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(directory)
        snapshots: dict[int, Path] = {}
        journals: dict[int, Path] = {}
        for path in directory.iterdir():
            if match := _SNAPSHOT_NAME.fullmatch(path.name):
                snapshots[int(match.group(1))] = path
            elif match := _JOURNAL_NAME.fullmatch(path.name):
                journals[int(match.group(1))] = path
        records: dict[str, Conversation] = {}
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
                    found, bad = _read_snapshot(snapshot, generation, self._snapshots)
                except CorruptFileError as exc:
                    aside.append((snapshot, exc.reason))
                else:
                    records = {c.hash: c for c in found}
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
            )
        writer = self._writer
        for hashed, conversation in records.items():
            if conversation.ref is None and conversation.empty:
                continue
            self._items[conversation.key] = conversation
            writer.mirror[hashed] = conversation
        if compact:
            writer.generation = generation
            writer.switch()
            for path, reason in aside:
                quarantine(path, self._clock.now(), self._problems, reason)
            writer.remove_old()
        else:
            snapshot = snapshots[generation]
            journal = journals[generation]
            writer.open_journal(generation, journal.stat().st_size, snapshot.stat().st_size)
        logger.info(
            "conversations opened: %d open, generation %d", len(self._items), writer.generation
        )

    async def _submit(self, make: Callable[[asyncio.Future[None]], _Item]) -> None:
        if self._closed:
            raise StorageError("the conversation store is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writer.submit(make(future))
        await future

    async def _persist(self, conversation: Conversation) -> None:
        if self._closed:
            raise StorageError("the conversation store is closed")
        self._journal_ids.add(conversation.key.user_id)
        self._journal_ids.add(conversation.key.chat_id)
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

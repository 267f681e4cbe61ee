"""Conversations (aiogram FSM state and data), one small file per open conversation.

Layout: `DATA_DIR/conversations/<sha256 of the key>.json`, each holding
`{"schema", "key", "state", "data", "updated_at"}`. A conversation step rewrites only its own file
(temp file, fsync, rename, fsync dir), so its cost does not depend on how many conversations are
open. A conversation with no state and no data has no file: `state.clear()` removes it.

All files are read once at open (a corrupt one is reported and moved aside); reads are served
from memory. Writes of one conversation are serialized by a lock per key, different
conversations write in parallel in worker threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
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
    dumps,
    quarantine,
    read_json_object,
    remove_durably,
    remove_stale_temp_files,
)
from storage.base import ConversationStore, KeyedLocks
from storage.intake_index import json_copy
from storage.migrations import CONVERSATION_SCHEMA, upgrade

logger = logging.getLogger("baanwijzer.storage")


# A write that changes nothing is skipped, unless the stored updated_at (which idle retention
# reads) is older than this.
UNCHANGED_REFRESH = timedelta(hours=1)


class _Keep(Enum):
    KEEP = 0


KEEP = _Keep.KEEP


@dataclass(slots=True)
class Conversation:
    state: str | None
    data: dict[str, Any]
    updated_at: str

    @property
    def empty(self) -> bool:
        return self.state is None and not self.data


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


def file_name(key: StorageKey) -> str:
    """A name made from a hash of the key: no user or chat id in file names (nor in log lines
    that name a file)."""
    return hashlib.sha256(dumps(key_to_dict(key))).hexdigest()[:32] + ".json"


class _ConversationBase(ConversationStore):
    """Everything but the file I/O; the memory store is this with no files."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._items: dict[StorageKey, Conversation] = {}
        self._locks = KeyedLocks()

    async def _persist(self, key: StorageKey, conversation: Conversation) -> None:
        """Make the change durable before it is visible (no-op in memory)."""

    async def _change(
        self,
        key: StorageKey,
        *,
        state: str | _Keep | None = KEEP,
        data: Mapping[str, Any] | _Keep = KEEP,
    ) -> None:
        """Set the state and/or the data of one conversation; the caller holds the key's lock.

        Stored data is never changed in place (readers get copies), so a change of the state
        alone shares the data instead of copying it.
        """
        current = self._items.get(key)
        new = Conversation(
            state=(current.state if current else None) if isinstance(state, _Keep) else state,
            data=(
                (current.data if current else {})
                if isinstance(data, _Keep)
                else json_copy(dict(data))
            ),
            updated_at=utc_iso(self._clock.now()),
        )
        if current is None and new.empty:
            return
        if (
            current is not None
            and new.state == current.state
            and new.data == current.data
            and parse_iso(new.updated_at) - parse_iso(current.updated_at) < UNCHANGED_REFRESH
        ):
            return  # nothing to write: saves an fsync
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
        async with self._locks.hold(key):
            await self._change(key, data=data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        current = self._items.get(key)
        return {} if current is None else json_copy(current.data)

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        # The read-modify-write holds the key's lock: two updates of one chat both land.
        async with self._locks.hold(key):
            current = self._items.get(key)
            merged = json_copy(current.data) if current else {}
            merged.update(data)
            await self._change(key, data=merged)
            stored = self._items.get(key)
            return {} if stored is None else json_copy(stored.data)

    async def delete(self, key: StorageKey) -> bool:
        async with self._locks.hold(key):
            if key not in self._items:
                return False
            await self._change(key, state=None, data={})
            return True

    async def delete_user(self, user_id: int) -> int:
        keys = [k for k in self._items if k.user_id == user_id or k.chat_id == user_id]
        deleted = 0
        for key in keys:
            deleted += await self.delete(key)
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
                    await self._change(key, state=None, data={})
                    deleted += 1
        if deleted:
            logger.info("retention: deleted %d idle conversations", deleted)
        return deleted

    async def count(self) -> int:
        return len(self._items)

    async def close(self) -> None:
        pass


class MemoryConversationStorage(_ConversationBase):
    """In-memory conversations with the same semantics (JSON round trip, updated_at)."""


class FileConversationStorage(_ConversationBase):
    """Conversations in one small file each; see the module docstring."""

    def __init__(self, directory: Path, clock: Clock, problems: list[str]) -> None:
        super().__init__(clock)
        self._dir = directory
        self._problems = problems

    @classmethod
    async def open(
        cls, directory: Path, clock: Clock, problems: list[str]
    ) -> FileConversationStorage:
        store = cls(directory, clock, problems)
        await asyncio.to_thread(store._load)
        return store

    def _load(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self._dir)
        for path in sorted(self._dir.glob("*.json")):
            try:
                raw = read_json_object(path)
                if raw is None:
                    continue
                try:
                    data = upgrade("conversation", raw)
                    key = key_from_dict(data["key"])
                    state = data.get("state")
                    payload = data.get("data", {})
                    updated = utc_iso(parse_iso(str(data["updated_at"])))
                    if not isinstance(payload, dict) or not (
                        state is None or isinstance(state, str)
                    ):
                        raise TypeError("state or data of the wrong type")
                except (KeyError, TypeError, ValueError) as exc:
                    raise CorruptFileError(
                        path, f"not a conversation ({exc.__class__.__name__})"
                    ) from exc
            except CorruptFileError as exc:
                quarantine(path, self._clock.now(), self._problems, exc.reason)
                continue
            if path.name != file_name(key):
                logger.warning("conversation file %s has an unexpected name; ignored", path.name)
                continue
            self._items[key] = Conversation(state=state, data=payload, updated_at=updated)
        logger.info("conversations opened: %d open", len(self._items))

    async def _persist(self, key: StorageKey, conversation: Conversation) -> None:
        path = self._dir / file_name(key)
        if conversation.empty:
            await asyncio.to_thread(remove_durably, path)
            return
        record = {
            "schema": CONVERSATION_SCHEMA,
            "key": key_to_dict(key),
            "state": conversation.state,
            "data": conversation.data,
            "updated_at": conversation.updated_at,
        }
        await asyncio.to_thread(atomic_write_bytes, path, dumps(record))

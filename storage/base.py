"""The interfaces `storage/` offers beyond `flows.ports`, shared by the TinyDB and memory stores."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator, Collection, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

from aiogram.fsm.storage.base import BaseStorage, StorageKey

from flows.ports import IntakeRepository, Outbox


class StorageError(RuntimeError):
    """A store refuses to go on (for example after a write it could not undo)."""


class IntakeStore(IntakeRepository, Protocol):
    """An IntakeRepository that also tells which numbers a purge removed (for the outbox)."""

    async def purge_numbers_before(self, cutoff: datetime) -> list[str]:
        """Delete intakes created before the cutoff; returns their numbers."""
        ...

    async def purge_expired(self, created_cutoff: datetime, closed_cutoff: datetime) -> list[str]:
        """Retention: delete the intakes created before `created_cutoff`, and those closed
        before `closed_cutoff` without the consent to keep them longer; returns their numbers."""
        ...

    async def checkpoint(self) -> None:
        """Save what makes the next start fast (the TinyDB index snapshot); may do nothing."""
        ...

    async def close(self) -> None: ...


class OutboxStore(Outbox, Protocol):
    async def delete_intakes(self, numbers: Collection[str]) -> int:
        """Remove every delivery about these intakes (retention); returns how many."""
        ...

    async def close(self) -> None: ...


class ConversationStore(BaseStorage):
    """aiogram FSM storage plus what erasure and retention need."""

    @abstractmethod
    async def delete(self, key: StorageKey) -> bool:
        """Forget one conversation (state and data); False if there was none."""

    @abstractmethod
    async def delete_user(self, user_id: int) -> int:
        """Forget every conversation of one Telegram user; returns how many."""

    @abstractmethod
    async def purge_idle_before(self, cutoff: datetime) -> int:
        """Forget conversations not touched since the cutoff; returns how many."""

    @abstractmethod
    async def count(self) -> int:
        """How many conversations are open."""

    @abstractmethod
    async def commit(self, key: StorageKey, state: str | None, data: Mapping[str, Any]) -> None:
        """Set the state and the data of one conversation in one durable write."""

    @abstractmethod
    async def data_text(self, key: StorageKey) -> str:
        """The data of one conversation as the compact JSON it is stored as ("{}" if none),
        without decoding it: for the sender's check that a record still holds a call."""

    @abstractmethod
    async def keys_lacking(self, fragments: Sequence[str]) -> list[StorageKey]:
        """The keys of the conversations whose data, as the compact JSON `data_text` gives,
        lacks one of `fragments`, found without decoding any: at start-up, the few
        conversations that may have work left, among every open one."""

    @abstractmethod
    async def keys(self) -> list[StorageKey]:
        """The keys of every open conversation (for resuming queued calls at start-up)."""


class KeyedLocks:
    """One asyncio.Lock per key, dropped again when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)

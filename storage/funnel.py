"""Aggregate funnel counts ("candidate:shown:age" -> 17) in one small file.

The counts hold no link to any person, so they are kept when intakes are erased or purged. The
file stays a few kilobytes (one key per question), so rewriting it atomically on each count costs
the same at any number of intakes; the write runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from storage.atomic import CorruptFileError, atomic_write_bytes, dumps, quarantine, read_json_object


class MemoryFunnel:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    async def count(self, key: str) -> None:
        self._counts[key] = self._counts.get(key, 0) + 1

    async def counts(self) -> dict[str, int]:
        return dict(self._counts)


class FileFunnel:
    def __init__(self, path: Path, problems: list[str] | None = None) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        try:
            raw = read_json_object(path) or {}
        except CorruptFileError as exc:
            # Moved aside and reported, never silently replaced by empty counts.
            quarantine(path, datetime.now(UTC), problems if problems is not None else [], str(exc))
            raw = {}
        self._counts: dict[str, int] = {
            str(k): int(v) for k, v in raw.items() if isinstance(v, int)
        }
        self._changes = 0  # counts made so far
        self._written = 0  # counts that are on disk

    async def count(self, key: str) -> None:
        """Add one; return once a write that includes it is on disk.

        Counts that arrive while a write runs share the next write (group commit): one file
        write per batch, not one per count behind the lock, which made every intake step queue
        for its own fsync (bench/step_bench.py: 150 -> 300 steps/s).
        """
        self._counts[key] = self._counts.get(key, 0) + 1
        self._changes += 1
        mine = self._changes
        async with self._lock:
            if self._written >= mine:
                return
            upto = self._changes
            data = dumps(self._counts)
            await asyncio.to_thread(atomic_write_bytes, self.path, data)
            self._written = upto

    async def counts(self) -> dict[str, int]:
        return dict(self._counts)

"""Aggregate funnel counts ("candidate:shown:age" -> 17) in one small file.

The counts hold no link to any person, so they are kept when intakes are erased or purged. The
file stays a few kilobytes (one key per question). Counting is in memory; the file is rewritten
atomically at most once per `flush_every` and at close, in a worker thread. These are statistics,
not records a person relies on: a crash may lose the last second of counts, and in return no
intake step waits for a funnel fsync (bench/step_bench.py: a write per shown question was the
second largest cost of a step).
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

    async def close(self) -> None:
        return None


class FileFunnel:
    def __init__(
        self, path: Path, problems: list[str] | None = None, *, flush_every: float = 1.0
    ) -> None:
        self.path = path
        self.flush_every = flush_every
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
        self._dirty = False
        self._flusher: asyncio.Task[None] | None = None

    async def count(self, key: str) -> None:
        """Add one; the file follows within `flush_every` seconds."""
        self._counts[key] = self._counts.get(key, 0) + 1
        self._dirty = True
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later(), name="funnel-flush")

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_every)
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            data = dumps(self._counts)
            await asyncio.to_thread(atomic_write_bytes, self.path, data)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        await self.flush()

    async def counts(self) -> dict[str, int]:
        return dict(self._counts)

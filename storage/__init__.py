"""Storage: everything the bot must not lose, under one data directory.

Use `open_stores(data_dir, clock, retention_days=..., conversation_days=...,
after_close_days=...)` in the bot and
`memory_stores(clock)` in tests. See docs/storage.md for the layout and the guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.ports import Clock
from flows.usecases.rights import Erasure, erase
from storage.atomic import CORRUPT_MARK, AtomicJSONStorage, CorruptFileError
from storage.base import ConversationStore, IntakeStore, OutboxStore, StorageError
from storage.conversations import FileConversationStorage, MemoryConversationStorage
from storage.intakes import TinyIntakeRepository
from storage.memory import MemoryIntakeRepository, MemoryOutbox
from storage.outbox import FileOutbox

logger = logging.getLogger("baanwijzer.storage")

__all__ = [
    "AtomicJSONStorage",
    "ConversationStore",
    "CorruptFileError",
    "FileConversationStorage",
    "FileOutbox",
    "IntakeStore",
    "MemoryConversationStorage",
    "MemoryIntakeRepository",
    "MemoryOutbox",
    "OutboxStore",
    "PurgeReport",
    "StorageError",
    "Stores",
    "SystemClock",
    "TinyIntakeRepository",
    "memory_stores",
    "open_stores",
    "run_retention",
]


class SystemClock:
    """The real clock: timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    intakes: int
    conversations: int
    deliveries: int
    quarantined_files: int


@dataclass
class Stores:
    """The three stores, what went wrong while opening them, and the retention settings."""

    intakes: IntakeStore
    outbox: OutboxStore
    conversations: ConversationStore
    problems: list[str] = field(default_factory=list)
    # The longest an intake is kept, counted from when it was sent (with the person's consent
    # to keep it longer, a closed intake is kept this long).
    retention_days: int = 28
    conversation_days: int = 7
    data_dir: Path | None = None
    # Without that consent a closed intake is deleted this many days after it was closed.
    after_close_days: int = 28
    # The clock of the stores (the erasure's tombstones are dated with it).
    clock: Clock = field(default_factory=lambda: SystemClock())

    async def erase_user(self, user_id: int) -> Erasure:
        """Erasure (AVG art. 17) with the one erasure the bot uses (`flows.usecases.erase`):
        every intake to a tombstone, every conversation and delivery of one person gone. No
        cards are shown anew here (the bot does that: bot/privacy.py)."""
        return await erase(
            user_id,
            intakes=self.intakes,
            outbox=self.outbox,
            conversations=self.conversations,
            clock=self.clock,
        )

    async def purge(self, now: datetime) -> PurgeReport:
        """Retention: delete expired intakes (and their deliveries), idle conversations,
        delivered deliveries older than `conversation_days`, and moved-aside corrupt files older
        than `retention_days` (they may hold personal data too).

        An intake expires `after_close_days` after it was closed, unless the person agreed (at
        the end of the intake) to keep it longer; and in any case `retention_days` after it was
        sent. What the person is told (templates/*/privacy.html, outcome.html, why.html) says
        exactly this."""
        numbers = await self.intakes.purge_expired(
            now - timedelta(days=self.retention_days),
            now - timedelta(days=min(self.after_close_days, self.retention_days)),
        )
        deliveries = await self.outbox.delete_intakes(numbers) if numbers else 0
        short = now - timedelta(days=self.conversation_days)
        conversations = await self.conversations.purge_idle_before(short)
        deliveries += await self.outbox.purge_delivered_before(short)
        quarantined = 0
        if self.data_dir is not None:
            cutoff = now - timedelta(days=self.retention_days)
            quarantined = await asyncio.to_thread(_purge_quarantined, self.data_dir, cutoff)
        await self.intakes.checkpoint()
        report = PurgeReport(len(numbers), conversations, deliveries, quarantined)
        logger.info(
            "retention: %d intakes, %d conversations, %d deliveries, %d corrupt files deleted",
            report.intakes,
            report.conversations,
            report.deliveries,
            report.quarantined_files,
        )
        return report

    async def close(self) -> None:
        await self.conversations.close()
        await self.outbox.close()
        await self.intakes.close()


def _purge_quarantined(data_dir: Path, cutoff: datetime) -> int:
    """Delete moved-aside corrupt files older than the cutoff (by the stamp in their name)."""
    removed = 0
    for path in data_dir.rglob(f"*{CORRUPT_MARK}*"):
        stamp = path.name.split(CORRUPT_MARK, 1)[1][:16]
        try:
            moved = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            moved = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if moved < cutoff:
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


async def open_stores(
    data_dir: Path,
    clock: Clock,
    *,
    retention_days: int,
    conversation_days: int,
    after_close_days: int = 28,
) -> Stores:
    """Open (or create) the stores under `data_dir`: `intakes/`, `outbox/`, `conversations/`.

    Corrupt files are moved aside and listed in `Stores.problems` (also logged as warnings).
    """
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    problems: list[str] = []
    intakes = await TinyIntakeRepository.open(data_dir / "intakes", clock, problems)
    outbox = await FileOutbox.open(data_dir / "outbox", clock, problems)
    conversations = await FileConversationStorage.open(data_dir / "conversations", clock, problems)
    return Stores(
        intakes=intakes,
        outbox=outbox,
        conversations=conversations,
        problems=problems,
        retention_days=retention_days,
        conversation_days=conversation_days,
        data_dir=data_dir,
        after_close_days=after_close_days,
        clock=clock,
    )


def memory_stores(
    clock: Clock,
    *,
    retention_days: int = 28,
    conversation_days: int = 7,
    after_close_days: int = 28,
) -> Stores:
    """In-memory stores with the same behaviour, for tests."""
    return Stores(
        intakes=MemoryIntakeRepository(clock),
        outbox=MemoryOutbox(clock),
        conversations=MemoryConversationStorage(clock),
        retention_days=retention_days,
        conversation_days=conversation_days,
        after_close_days=after_close_days,
        clock=clock,
    )


async def run_retention(
    stores: Stores,
    clock: Clock,
    every: timedelta,
    *,
    first_delay: timedelta = timedelta(0),
) -> None:
    """Run `stores.purge(clock.now())` now (after `first_delay`) and then every `every`.

    Start it as a task (`asyncio.create_task(run_retention(stores, clock, timedelta(hours=1)))`)
    and cancel it on shutdown. A failed run is logged and retried at the next interval.
    """
    await asyncio.sleep(first_delay.total_seconds())
    while True:
        try:
            await stores.purge(clock.now())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("retention run failed")
        await asyncio.sleep(every.total_seconds())

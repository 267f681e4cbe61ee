"""Burst: 1,000 candidates start in the same second and each completes a whole intake.

Every simulated candidate types the same 20 messages (`/start kandidaat`, the answers, `klopt`
on the summary; see `bench.common.CANDIDATE_SCRIPT`). They go interleaved: in each round every
candidate sends its next message, all at once, fed like polling feeds updates (tasks, batches of
100), through the real Dispatcher and the TinyDB stores in a temporary data directory, with
COORDINATOR_CHAT_ID set so that each intake queues a handoff card in the outbox.

Afterwards the stores are closed and opened again from disk, and the intakes and the outbox
deliveries are counted there. Nothing may be lost: every count must equal the number of
candidates, or the exit status is 1.

    python -m bench.burst_bench [--quick] [--users N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    CANDIDATE_SCRIPT,
    BenchBot,
    Row,
    UpdateFactory,
    bench_settings,
    feed_round,
    open_bench_bot,
    peak_rss_mb,
    percentile,
    print_rows,
    report_json,
    settle_gc,
    unfreeze_gc,
)
from storage import SystemClock, open_stores

FIRST_USER = 500_000


@dataclass
class BurstResult:
    users: int
    steps_each: int
    finished: int
    intakes_stored: int
    handoffs_queued: int
    distinct_people: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    peak_rss_mb: float
    slowest_round: tuple[str, float] = ("", 0.0)  # (message typed, seconds for all candidates)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        expected = self.users
        return not self.errors and (
            self.finished == self.intakes_stored == self.handoffs_queued == expected
        )

    def rows(self) -> list[Row]:
        steps = self.users * self.steps_each
        return [
            ("burst: candidates x steps", f"{self.users:,} x {self.steps_each}"),
            ("burst: all finished", f"{self.finished:,} of {self.users:,}"),
            ("burst: intakes stored (read back)", f"{self.intakes_stored:,}"),
            ("burst: handoffs queued (outbox)", f"{self.handoffs_queued:,}"),
            ("burst: lost", "none" if self.ok else "YES: see errors"),
            ("burst: wall time", f"{self.wall_s:.1f} s ({steps / self.wall_s:,.0f} steps/s)"),
            ("burst: per step p50 / p99", f"{self.p50_ms:,.0f} / {self.p99_ms:,.0f} ms"),
            (
                "burst: slowest round",
                f"{self.slowest_round[0]!r}, {self.slowest_round[1]:.1f} s for all candidates",
            ),
            ("burst: peak RSS", f"{self.peak_rss_mb:,.0f} MB"),
            ("burst: errors", str(len(self.errors))),
        ]


async def run_burst_bench(users: int = 1000) -> BurstResult:
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        data_dir = Path(tmp) / "data"
        bench = await open_bench_bot(data_dir, coordinator=True)
        try:
            result = await _run(bench, users)
        finally:
            await bench.close()
            unfreeze_gc()
        # Read back from disk: what a restart would find.
        stores = await open_stores(
            data_dir,
            SystemClock(),
            retention_days=bench.settings.RETENTION_DAYS,
            conversation_days=bench.settings.CONVERSATION_RETENTION_DAYS,
        )
        try:
            intakes = await stores.intakes.all()
            deliveries = await stores.outbox.pending()
        finally:
            await stores.close()
        ids = set(range(FIRST_USER, FIRST_USER + users))
        result.intakes_stored = sum(1 for i in intakes if i.user_id in ids)
        result.distinct_people = len({i.user_id for i in intakes if i.user_id in ids})
        group = bench_settings(data_dir).COORDINATOR_CHAT_ID
        # A new intake's card: a sendMessage to the coordinators' group about that intake.
        result.handoffs_queued = sum(
            1
            for d in deliveries
            if d.chat_id == group and d.method == "sendMessage" and d.intake_number is not None
        )
        if result.distinct_people != result.intakes_stored:
            result.errors.append(
                f"{result.intakes_stored} intakes but {result.distinct_people} people"
            )
        result.peak_rss_mb = peak_rss_mb()
        return result


async def _run(bench: BenchBot, users: int) -> BurstResult:
    updates = UpdateFactory()
    ids = [FIRST_USER + i for i in range(users)]
    # Telegram's side: every round's updates exist before the bot sees them.
    rounds = [[updates.message(u, text) for u in ids] for text in CANDIDATE_SCRIPT]
    settle_gc()
    latencies: list[float] = []
    errors: list[str] = []
    slowest = ("", 0.0)
    started = time.perf_counter()
    for text, raws in zip(CANDIDATE_SCRIPT, rounds, strict=True):
        result = await feed_round(bench.dp, bench.bot, raws)
        if result.wall > slowest[1]:
            slowest = (text, result.wall)
        latencies.extend(result.latencies)
        errors.extend(result.errors)
        if result.unhandled:
            errors.append(f"{result.unhandled} updates not handled")
    wall = time.perf_counter() - started
    finished = 0
    store = bench.stores.conversations
    for user in ids:
        key = bench.key(user)
        data = await store.get_data(key)
        if await store.get_state(key) is None and data.get("last_intake"):
            finished += 1
    return BurstResult(
        users=users,
        steps_each=len(CANDIDATE_SCRIPT),
        finished=finished,
        intakes_stored=0,
        handoffs_queued=0,
        distinct_people=0,
        wall_s=wall,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=max(latencies, default=0.0) * 1000,
        peak_rss_mb=0.0,
        slowest_round=slowest,
        errors=errors[:20],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 candidates")
    parser.add_argument("--users", type=int)
    parser.add_argument("--json", action="store_true", help="one JSON line for python -m bench")
    args = parser.parse_args(argv)
    users = args.users or (200 if args.quick else 1000)
    result = asyncio.run(run_burst_bench(users))
    if args.json:
        print(report_json("burst", result.ok, result.rows(), errors=result.errors))
    else:
        print_rows("Burst", result.rows())
        for error in result.errors:
            print("  error:", error, file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

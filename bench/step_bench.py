"""Step throughput: one intake step through the real Dispatcher against a bare `answer("ok")`.

Many users each stand at the same single-choice question in the middle of the candidate flow
(`work_setting`) and type its number. One step is everything production does for that update:
JSON -> Update, filters and routing, the conversation read from the file conversation store,
the engine, the durable writes of state and data, the funnel count, template rendering, the
cached keyboard, the edit of the old question and the new question sent through a session that
encodes and decodes like aiohttp. Beside it, in the same process and over the same session, a
Dispatcher whose only handler is `await message.answer("ok")`. Rounds alternate between the two
and the medians are compared.

    python -m bench.step_bench [--quick] [--users N] [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.types import Message

from bench.common import (
    CANDIDATE_ANSWERS,
    MID_ANSWER,
    MID_NEXT,
    MID_QUESTION,
    START_TEXT,
    BenchBot,
    RoundResult,
    Row,
    UpdateFactory,
    feed_round,
    median,
    open_bench_bot,
    print_rows,
    report_json,
    settle_gc,
    unfreeze_gc,
)

FIRST_USER = 100_000
TARGET_RATIO = 0.5


@dataclass
class StepResult:
    users: int
    rounds: int
    intake_per_s: float
    bare_per_s: float
    intake_cpu_ms: float = 0.0
    bare_cpu_ms: float = 0.0
    intake_rounds: list[float] = field(default_factory=list)
    bare_rounds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.intake_per_s / self.bare_per_s if self.bare_per_s else 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def rows(self) -> list[Row]:
        meets = "meets" if self.ratio >= TARGET_RATIO else "BELOW"
        return [
            ("step: users x rounds", f"{self.users} x {self.rounds}"),
            ("step: bare answer('ok'), updates/s", f"{self.bare_per_s:,.0f}"),
            ("step: intake step, updates/s", f"{self.intake_per_s:,.0f}"),
            ("step: ratio intake / bare", f"{self.ratio:.2f} ({meets} target {TARGET_RATIO})"),
            (
                "step: CPU per update, bare / intake",
                f"{self.bare_cpu_ms:.2f} / {self.intake_cpu_ms:.2f} ms",
            ),
            ("step: errors", str(len(self.errors))),
        ]


def bare_dispatcher() -> Dispatcher:
    """aiogram with one handler and nothing else: the floor a step is compared with."""
    router = Router(name="bare")

    @router.message()
    async def ok(message: Message) -> None:
        await message.answer("ok")

    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def template_at_mid_question(bench: BenchBot, updates: UpdateFactory) -> tuple[str, Any]:
    """Walk one user to the middle question through the Dispatcher; return its state and data."""
    user = FIRST_USER - 1
    key = bench.key(user)
    store = bench.stores.conversations
    for text in (START_TEXT, *CANDIDATE_ANSWERS):
        result = await feed_round(bench.dp, bench.bot, [updates.message(user, text)])
        if result.errors or result.unhandled:
            raise RuntimeError(f"walking to {MID_QUESTION} failed at {text!r}: {result.errors}")
        data = await store.get_data(key)
        if (data.get("flow_state") or {}).get("current") == MID_QUESTION:
            state = await store.get_state(key)
            assert state is not None
            await store.delete(key)
            return state, data
    raise RuntimeError(f"the candidate script never reached {MID_QUESTION}")


async def seed(bench: BenchBot, users: Sequence[int], state: str, data: Any) -> None:
    """Put every user at the middle question (untimed): state and data, durably."""
    store = bench.stores.conversations

    async def one(user: int) -> None:
        key = bench.key(user)
        await store.set_state(key, state)
        await store.set_data(key, data)

    for first in range(0, len(users), 200):
        await asyncio.gather(*(one(u) for u in users[first : first + 200]))


async def moved_on(bench: BenchBot, users: Sequence[int]) -> list[str]:
    """Each user must now be at the next question: the step really happened."""
    problems = []
    for user in users:
        data = await bench.stores.conversations.get_data(bench.key(user))
        current = (data.get("flow_state") or {}).get("current")
        if current != MID_NEXT:
            problems.append(f"user {user} is at {current!r} after the step, not {MID_NEXT}")
    return problems


async def run_step_bench(
    users: int = 1000, rounds: int = 5, data_dir: Path | None = None
) -> StepResult:
    with tempfile.TemporaryDirectory(prefix="bench-step-") as tmp:
        bench = await open_bench_bot(data_dir or Path(tmp) / "data")
        try:
            return await _run(bench, users, rounds)
        finally:
            await bench.close()
            unfreeze_gc()


async def _run(bench: BenchBot, users: int, rounds: int) -> StepResult:
    updates = UpdateFactory()
    bare = bare_dispatcher()
    state, data = await template_at_mid_question(bench, updates)
    ids = [FIRST_USER + i for i in range(users)]
    errors: list[str] = []

    async def bare_round() -> RoundResult:
        raws = [updates.message(u, MID_ANSWER) for u in ids]
        return await feed_round(bare, bench.bot, raws)

    async def intake_round() -> RoundResult:
        await seed(bench, ids, state, data)
        raws = [updates.message(u, MID_ANSWER) for u in ids]
        result = await feed_round(bench.dp, bench.bot, raws)
        errors.extend(await moved_on(bench, ids))
        return result

    # One untimed round of each warms caches (templates, keyboards, pydantic validators).
    await bare_round()
    await intake_round()
    settle_gc()
    bare_rates: list[float] = []
    intake_rates: list[float] = []
    bare_cpu: list[float] = []
    intake_cpu: list[float] = []
    for _ in range(rounds):
        for rates, cpu, run in (
            (bare_rates, bare_cpu, bare_round),
            (intake_rates, intake_cpu, intake_round),
        ):
            result = await run()
            errors.extend(result.errors)
            if result.unhandled:
                errors.append(f"{result.unhandled} updates not handled")
            rates.append(result.per_second)
            cpu.append(result.cpu_ms_each)
    return StepResult(
        users=users,
        rounds=rounds,
        intake_per_s=median(intake_rates),
        bare_per_s=median(bare_rates),
        intake_cpu_ms=median(intake_cpu),
        bare_cpu_ms=median(bare_cpu),
        intake_rounds=intake_rates,
        bare_rounds=bare_rates,
        errors=errors[:20],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.step_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 users, 3 rounds")
    parser.add_argument("--users", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--json", action="store_true", help="one JSON line for python -m bench")
    args = parser.parse_args(argv)
    users = args.users or (200 if args.quick else 1000)
    rounds = args.rounds or (3 if args.quick else 7)
    result = asyncio.run(run_step_bench(users, rounds))
    if args.json:
        print(
            report_json(
                "step",
                result.ok,
                result.rows(),
                intake_rounds=result.intake_rounds,
                bare_rounds=result.bare_rounds,
                errors=result.errors,
            )
        )
    else:
        print_rows("Step throughput", result.rows())
        for error in result.errors:
            print("  error:", error, file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

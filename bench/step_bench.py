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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.types import InlineKeyboardMarkup, Message

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
class Variant:
    """One handler measured over several rounds: medians of updates/s and CPU ms per update."""

    name: str
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return median(self.rates)

    @property
    def cpu_ms_each(self) -> float:
        return median(self.cpu_ms)

    def add(self, result: RoundResult) -> None:
        self.rates.append(result.per_second)
        self.cpu_ms.append(result.cpu_ms_each)


@dataclass
class StepResult:
    users: int
    rounds: int
    bare: Variant
    one_call: Variant
    same_calls: Variant
    intake: Variant
    errors: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.intake.per_s / self.bare.per_s if self.bare.per_s else 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def rows(self) -> list[Row]:
        meets = "meets" if self.ratio >= TARGET_RATIO else "BELOW"

        def line(v: Variant) -> str:
            return f"{v.per_s:,.0f} updates/s, {v.cpu_ms_each:.2f} ms CPU each"

        def ratio(a: Variant, b: Variant) -> str:
            return f"{a.per_s / b.per_s:.2f}" if b.per_s else "-"

        return [
            ("step: users x rounds", f"{self.users:,} x {self.rounds}"),
            ("step: bare answer('ok')", line(self.bare)),
            ("step: bare, 1 call: the next question only", line(self.one_call)),
            ("step: bare, the same 2 API calls as a step", line(self.same_calls)),
            ("step: intake step", line(self.intake)),
            ("step: RATIO intake / bare", f"{self.ratio:.2f} ({meets} target {TARGET_RATIO})"),
            ("step: ratio intake / same 2 API calls", ratio(self.intake, self.same_calls)),
            ("step: floor: same 2 API calls / bare", ratio(self.same_calls, self.bare)),
            ("step: floor: 1 call / bare", ratio(self.one_call, self.bare)),
            ("step: errors", str(len(self.errors))),
        ]


def same_calls_dispatcher(answered: str, question: str, markup: InlineKeyboardMarkup) -> Dispatcher:
    """aiogram making the same two Bot API calls as an intake step, and nothing else.

    An intake step edits the question just answered (its keyboard off, the answer under it) and
    sends the next question with its keyboard; the texts and the keyboard are the ones the intake
    sent. The gap between this and the intake step is the bot's own work (storage, engine,
    templates); the gap between this and the bare handler is what aiogram charges for the calls.
    """
    router = Router(name="same-calls")

    @router.message()
    async def two_calls(message: Message, bot: Bot) -> None:
        await bot.edit_message_text(
            chat_id=message.chat.id, message_id=message.message_id - 1, text=answered
        )
        await message.answer(question, reply_markup=markup)

    dp = Dispatcher()
    dp.include_router(router)
    return dp


def one_call_dispatcher(question: str, markup: InlineKeyboardMarkup) -> Dispatcher:
    """aiogram sending only the next question with its keyboard: a step of one API call.

    Not what the bot does (issue 4 wants the answered question edited too); it shows what the
    second call costs, which is what a product decision to drop that edit would save.
    """
    router = Router(name="one-call")

    @router.message()
    async def one_call(message: Message) -> None:
        await message.answer(question, reply_markup=markup)

    dp = Dispatcher()
    dp.include_router(router)
    return dp


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
    state, data = await template_at_mid_question(bench, updates)
    ids = [FIRST_USER + i for i in range(users)]
    errors: list[str] = []

    async def intake_round() -> RoundResult:
        await seed(bench, ids, state, data)
        raws = [updates.message(u, MID_ANSWER) for u in ids]
        result = await feed_round(bench.dp, bench.bot, raws)
        errors.extend(await moved_on(bench, ids))
        return result

    # One untimed intake round warms caches (templates, keyboards, pydantic validators) and
    # shows the two calls a step makes; the reference handlers copy them.
    await intake_round()
    sent = bench.session.last
    same_calls = same_calls_dispatcher(
        answered=sent["editMessageText"]["text"],
        question=sent["sendMessage"]["text"],
        markup=InlineKeyboardMarkup.model_validate_json(sent["sendMessage"]["reply_markup"]),
    )
    one_call = one_call_dispatcher(
        question=sent["sendMessage"]["text"],
        markup=InlineKeyboardMarkup.model_validate_json(sent["sendMessage"]["reply_markup"]),
    )
    bare = bare_dispatcher()

    def reference(dp: Dispatcher) -> Callable[[], Awaitable[RoundResult]]:
        async def run() -> RoundResult:
            return await feed_round(dp, bench.bot, [updates.message(u, MID_ANSWER) for u in ids])

        return run

    variants = [
        (Variant("bare"), reference(bare)),
        (Variant("one call"), reference(one_call)),
        (Variant("same calls"), reference(same_calls)),
        (Variant("intake"), intake_round),
    ]
    for _, run in variants[:3]:
        await run()
    settle_gc()
    for _ in range(rounds):
        for variant, run in variants:
            result = await run()
            errors.extend(result.errors)
            if result.unhandled:
                errors.append(f"{variant.name}: {result.unhandled} updates not handled")
            variant.add(result)
    return StepResult(
        users=users,
        rounds=rounds,
        bare=variants[0][0],
        one_call=variants[1][0],
        same_calls=variants[2][0],
        intake=variants[3][0],
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
                rounds_per_s={
                    v.name: [round(r) for r in v.rates]
                    for v in (result.bare, result.one_call, result.same_calls, result.intake)
                },
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

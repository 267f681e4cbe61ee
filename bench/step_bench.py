"""Step guard: the bot's own CPU per intake step costs no more than the two calls a step makes.

Many users each stand at the same single-choice question in the middle of the candidate flow
(`work_setting`) and type its number. One intake step is everything production does for that
update: JSON -> Update, filters and routing, the conversation record loaded, the engine, the
screens rendered, the record and its queued calls committed in one durable write (the file
conversation store), then the sender: the next question sent (`sendMessage` with its keyboard),
the answered question edited (`editMessageText`), and each result kept for the record's next
write (ChatOutbox.sent). That next write is the person's next step, whose commit carries it at no
extra cost; here it is written after the timed round (a person who stops gets it from the flush,
once per conversation). The sender runs without limits here: this measures CPU, not Telegram's
pace (that is the burst).

In the same process, over the same session (aiogram's AiohttpSession without the network, so
encoding and decoding are paid), rounds alternate with two bare aiogram Dispatchers:

- **no call**: a handler that returns at once; parsing and routing only.
- **the same 2 calls**: a handler that makes the two calls a step makes, with the texts and the
  keyboard the intake sent.

The bot's own CPU per step is `intake - same 2 calls`. The guard: it is no more than what the
bare Dispatcher making the same two calls costs (`intake <= 2 x same 2 calls`). The exit status
is 1 when the guard is broken or a step went wrong.

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
    fresh_gc,
    median,
    open_bench_bot,
    print_rows,
    report_json,
    settle_gc,
    unfreeze_gc,
)

FIRST_USER = 100_000
# The bot's own CPU per step may be at most this many times the bare two calls.
GUARD = 1.0


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
    no_call: Variant
    same_calls: Variant
    intake: Variant
    calls_per_step: float = 0.0  # API calls per intake step, counted at the session
    errors: list[str] = field(default_factory=list)

    @property
    def own_ms(self) -> float:
        """The bot's own CPU per step: the intake step minus the bare Dispatcher making the
        same two calls."""
        return self.intake.cpu_ms_each - self.same_calls.cpu_ms_each

    @property
    def calls_ms(self) -> float:
        """What the bare Dispatcher making the two calls costs per update."""
        return self.same_calls.cpu_ms_each

    @property
    def own_ratio(self) -> float:
        return self.own_ms / self.calls_ms if self.calls_ms > 0 else float("inf")

    @property
    def guard_ok(self) -> bool:
        return self.own_ratio <= GUARD

    @property
    def ok(self) -> bool:
        return not self.errors

    def rows(self) -> list[Row]:
        def line(v: Variant) -> str:
            return f"{v.cpu_ms_each:.2f} ms CPU each ({v.per_s:,.0f} updates/s)"

        verdict = "ok" if self.guard_ok else "BROKEN"
        return [
            ("step: users x rounds", f"{self.users:,} x {self.rounds}"),
            ("step: bare aiogram, no call", line(self.no_call)),
            ("step: bare aiogram, the same 2 API calls", line(self.same_calls)),
            (
                "step: intake step (commit, sender)",
                f"{line(self.intake)}, {self.calls_per_step:.1f} calls each",
            ),
            (
                "step: bot's own CPU (intake - same 2 calls)",
                f"{self.own_ms:.2f} ms ({self.own_ratio:.2f}x the bare 2 calls' "
                f"{self.calls_ms:.2f} ms; of that, the calls alone "
                f"{self.same_calls.cpu_ms_each - self.no_call.cpu_ms_each:.2f} ms)",
            ),
            ("step: GUARD own <= the 2 calls", f"{verdict} ({self.own_ratio:.2f} <= {GUARD})"),
            ("step: errors", str(len(self.errors))),
        ]


def same_calls_dispatcher(answered: str, question: str, markup: InlineKeyboardMarkup) -> Dispatcher:
    """aiogram making the same two Bot API calls as an intake step, and nothing else.

    An intake step sends the next question with its keyboard and edits the question just
    answered (its keyboard off, the answer under it); the texts and the keyboard are the ones
    the intake sent.
    """
    router = Router(name="same-calls")

    @router.message()
    async def two_calls(message: Message, bot: Bot) -> None:
        await message.answer(question, reply_markup=markup)
        await bot.edit_message_text(
            chat_id=message.chat.id, message_id=message.message_id - 1, text=answered
        )

    dp = Dispatcher()
    dp.include_router(router)
    return dp


def no_call_dispatcher() -> Dispatcher:
    """aiogram with one handler that does nothing: parsing and routing only."""
    router = Router(name="no-call")

    @router.message()
    async def nothing(message: Message) -> None:
        return None

    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def template_at_mid_question(bench: BenchBot, updates: UpdateFactory) -> tuple[str, Any]:
    """Walk one user to the middle question through the Dispatcher and the sender; return its
    state and record (every call sent and written back)."""
    user = FIRST_USER - 1
    key = bench.key(user)
    store = bench.stores.conversations
    for text in (START_TEXT, *CANDIDATE_ANSWERS):
        raws = [updates.message(user, text)]
        result = await feed_round(bench.dp, bench.bot, raws, settle=bench.sender.idle)
        if result.errors or result.unhandled:
            raise RuntimeError(f"walking to {MID_QUESTION} failed at {text!r}: {result.errors}")
        await bench.dp["chat_outbox"].flush()  # the sent calls' results, written now
        data = await store.get_data(key)
        if (data.get("flow_state") or {}).get("current") == MID_QUESTION:
            state = await store.get_state(key)
            assert state is not None
            await store.delete(key)
            return state, data
    raise RuntimeError(f"the candidate script never reached {MID_QUESTION}")


async def seed(bench: BenchBot, users: Sequence[int], state: str, data: Any) -> None:
    """Put every user at the middle question (untimed): the record, durably."""
    store = bench.stores.conversations

    async def one(user: int) -> None:
        await store.commit(bench.key(user), state, data)

    for first in range(0, len(users), 200):
        await asyncio.gather(*(one(u) for u in users[first : first + 200]))


async def moved_on(bench: BenchBot, users: Sequence[int]) -> list[str]:
    """Each user must now be at the next question, with nothing left to send."""
    # The results of the sent calls wait for the record's next write (ChatOutbox.sent), which
    # is the user's next step; here, write them now, outside the timed round.
    await bench.dp["chat_outbox"].flush()
    problems = []
    for user in users:
        data = await bench.stores.conversations.get_data(bench.key(user))
        current = (data.get("flow_state") or {}).get("current")
        if current != MID_NEXT:
            problems.append(f"user {user} is at {current!r} after the step, not {MID_NEXT}")
        elif data.get("outbox"):
            problems.append(f"user {user} still has {len(data['outbox'])} calls queued")
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
    calls: list[float] = []

    async def intake_round() -> RoundResult:
        await seed(bench, ids, state, data)
        before = sum(bench.session.calls.values())
        raws = [updates.message(u, MID_ANSWER) for u in ids]
        fresh_gc()
        result = await feed_round(bench.dp, bench.bot, raws, settle=bench.sender.idle)
        calls.append((sum(bench.session.calls.values()) - before) / len(ids))
        errors.extend(await moved_on(bench, ids))
        return result

    # One untimed intake round warms caches (templates, keyboards, pydantic validators) and
    # shows the two calls a step makes; the reference handler copies them.
    await intake_round()
    sent = bench.session.last
    same_calls = same_calls_dispatcher(
        answered=sent["editMessageText"]["text"],
        question=sent["sendMessage"]["text"],
        markup=InlineKeyboardMarkup.model_validate_json(sent["sendMessage"]["reply_markup"]),
    )
    no_call = no_call_dispatcher()

    def reference(dp: Dispatcher) -> Callable[[], Awaitable[RoundResult]]:
        async def run() -> RoundResult:
            raws = [updates.message(u, MID_ANSWER) for u in ids]
            fresh_gc()
            return await feed_round(dp, bench.bot, raws)

        return run

    variants = [
        (Variant("no call"), reference(no_call)),
        (Variant("same calls"), reference(same_calls)),
        (Variant("intake"), intake_round),
    ]
    for _, run in variants[:2]:
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
        no_call=variants[0][0],
        same_calls=variants[1][0],
        intake=variants[2][0],
        calls_per_step=median(calls[1:]),
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
    ok = result.ok and result.guard_ok
    if args.json:
        print(
            report_json(
                "step",
                ok,
                result.rows(),
                cpu_ms={
                    v.name: [round(c, 3) for c in v.cpu_ms]
                    for v in (result.no_call, result.same_calls, result.intake)
                },
                errors=result.errors
                + ([] if result.guard_ok else ["the bot's own CPU per step exceeds the guard"]),
            )
        )
    else:
        print_rows("Step guard", result.rows())
        for error in result.errors:
            print("  error:", error, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

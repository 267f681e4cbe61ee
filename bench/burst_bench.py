"""Burst: 1,000 candidates start in the same second; each completes a whole candidate intake.

Every simulated person starts at a random moment in the first second, types `/start kandidaat`,
then waits, as a person does, until the bot's next question for them has actually been sent
before typing the next answer (`bench.common.CANDIDATE_SCRIPT`: 18 typed answers, then `klopt`
on the summary), and finally waits for the message with their intake number.

Everything is the bot's own: the Dispatcher from `create_dispatcher`, the real stores, the real
`Sender` with its default `Limits()`, the outbox source for the coordinators' group
(`start_background_tasks`), updates fed as polling feeds them (batches of up to 100, one task
per update). Only the Bot API is fake, at the session seam (`bench.common.BenchSession`,
aiogram's AiohttpSession without the network), with Telegram's flood control modelled
(`tests.support.flood.FloodModel`): 30 limited calls per rolling second for the bot, a bucket
of 3 refilled at 1 per second per private chat, 20 per rolling minute per group, and a 429 with
`retry_after` beyond that. `--latency LOW HIGH` adds a network delay each way to every API call
(none by default; the updates still reach the bot at once).

At 30 calls a second such a burst takes 25-60 minutes, so the event loop runs on fake,
fast-forwarded time (looptime, `VirtualTimeLoop`): `loop.time()` and every sleep are virtual,
and the wall time reported is virtual. What the run costs the machine is reported as real CPU
time; the longest event-loop stall is measured in real time by a ticker task (the longest real
gap between its wake-ups). On virtual time the loop's work takes no time, so the stall is an
upper bound on a single callback's run: all work due within one tick counts as one gap.

The stores: the memory stores by default, so that every virtual figure depends on the bot's
logic only. `--stores file` runs the file stores (fsynced, in a temporary directory) instead;
their writer threads work in real time, and looptime moves the virtual clock on to the next
timer while the loop waits for them, so the virtual figures then also carry the disk's (real,
noisy) latency, magnified: a 5 ms fsync can cost up to one tick of the next timer.

    python -m bench.burst_bench [--quick] [--users N] [--stores memory|file]
                                [--latency LOW_MS HIGH_MS] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import logging
import math
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVarTuple

import looptime
from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update

from bench.common import (
    BATCH,
    CANDIDATE_SCRIPT,
    BenchSession,
    Row,
    UpdateFactory,
    bench_settings,
    make_bot,
    peak_rss_mb,
    percentile,
    print_rows,
    report_json,
    settle_gc,
    unfreeze_gc,
)
from bot.app import create_dispatcher, create_services
from bot.sender import Limits, Sender
from bot.tasks import start_background_tasks
from storage import Stores, memory_stores, open_stores
from storage.funnel import FileFunnel, MemoryFunnel
from tests.support.flood import LIMITED, FloodModel

FIRST_USER = 500_000
START_SPREAD = 1.0  # every person starts within this many seconds
TICK = 0.05  # the stall ticker's sleep, virtual seconds
# The virtual clock's tick: 2**-20 s (about 1 us), so that every loop time is a binary
# fraction and `t + 1.0`, `now - 60.0` and the like are exact (see VirtualTimeLoop).
TIME_TICK = 2.0**-20
QUIET = 120.0  # virtual seconds without progress while people wait: they wait for ever
MAX_VIRTUAL = 6 * 3600.0
# Telegram's modelled limits (tests/support/flood.py), for the physical minimum.
TELEGRAM_PER_SECOND = 30
TELEGRAM_GROUP_PER_MINUTE = 20
TELEGRAM_CHAT_BURST = 3
TELEGRAM_CHAT_PER_SECOND = 1.0
# The sender at Telegram's own figures (SEND_PER_SECOND=30, SEND_GROUP_PER_MINUTE=20), without
# the margins of `Limits()`: what is left above the minimum is then the bot's own scheduling.
TELEGRAM_PACE = Limits(
    global_per_second=TELEGRAM_PER_SECOND, group_per_minute=TELEGRAM_GROUP_PER_MINUTE
)
TARGET_RATIO = 1.2

QUESTION = re.compile(r"^(?:<i>)?Vraag (\d+)(?:</i>)? · ")
NUMBER = re.compile(r"K-\d{4}-\d+")
SUMMARY_ORDER = 10_000
OUTCOME_ORDER = 10_001

StoresKind = Literal["file", "memory"]
_Ts = TypeVarTuple("_Ts")


def screen_order(text: str) -> int | None:
    """Where a message stands in the intake: question n -> n, the summary, the outcome; None
    for anything else (the privacy notice, the offer to delete the chat)."""
    if (match := QUESTION.match(text)) is not None:
        return int(match.group(1))
    if text.startswith("📋"):
        return SUMMARY_ORDER
    if NUMBER.search(text):
        return OUTCOME_ORDER
    return None


class LoopClock:
    """The services' and stores' clock, following the event loop's (virtual) time."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._base = datetime.now(UTC) - timedelta(seconds=self._loop.time())

    def now(self) -> datetime:
        return self._base + timedelta(seconds=self._loop.time())


class BurstSession(BenchSession):
    """Counts the limited calls that went through, and tells each person when a message
    reached their chat."""

    def __init__(self, flood: FloodModel, latency_ms: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__(flood)
        self.clock = flood.clock
        # One way, uniform in this range (virtual time), seeded: the call reaches Telegram (and
        # its flood control) that much after it left, and the answer comes back as late.
        self.latency = (latency_ms[0] / 1000, latency_ms[1] / 1000)
        self._rng = random.Random(7)
        self.inbox: dict[int, list[tuple[float, str]]] = {}
        self.arrived: dict[int, asyncio.Event] = {}
        self.private_calls = 0
        self.per_chat: dict[int, int] = {}
        self.group_calls = 0
        self.cards: set[str] = set()
        self.last_private = 0.0
        self.last_group = 0.0

    def event(self, chat_id: int) -> asyncio.Event:
        event = self.arrived.get(chat_id)
        if event is None:
            event = self.arrived[chat_id] = asyncio.Event()
        return event

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - signature fixed by BaseSession
    ) -> TelegramType:
        low, high = self.latency
        if high <= 0:
            return await super().make_request(bot, method, timeout)
        await asyncio.sleep(self._rng.uniform(low, high))
        try:
            return await super().make_request(bot, method, timeout)
        finally:
            await asyncio.sleep(self._rng.uniform(low, high))

    def delivered(self, name: str, fields: dict[str, str]) -> None:
        if name.lower() not in LIMITED:
            return
        chat = int(fields["chat_id"])
        now = self.clock()
        text = fields.get("text", "")
        if chat < 0:
            self.group_calls += 1
            self.last_group = now
            if name == "sendMessage" and (found := NUMBER.search(text)) is not None:
                self.cards.add(found.group(0))
            return
        self.private_calls += 1
        self.per_chat[chat] = self.per_chat.get(chat, 0) + 1
        self.last_private = now
        if name == "sendMessage":
            self.inbox.setdefault(chat, []).append((now, text))
            self.event(chat).set()


class Poller:
    """Feeds updates the way `Dispatcher.start_polling` does with handle_as_tasks: up to 100
    per getUpdates answer, parsed in the polling loop, one task per update."""

    def __init__(self, dp: Dispatcher, bot: Bot) -> None:
        self.dp = dp
        self.bot = bot
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()
        self.handled = 0
        self.unhandled = 0
        self.errors: list[str] = []

    def post(self, raw: str) -> None:
        self.queue.put_nowait(raw)

    @property
    def busy(self) -> bool:
        return bool(self.tasks) or not self.queue.empty()

    async def run(self) -> None:
        while True:
            raws = [await self.queue.get()]
            while len(raws) < BATCH and not self.queue.empty():
                raws.append(self.queue.get_nowait())
            for raw in raws:
                update = Update.model_validate_json(raw, context={"bot": self.bot})
                task = asyncio.create_task(self._handle(update))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            await asyncio.sleep(0)

    async def _handle(self, update: Update) -> None:
        try:
            response = await self.dp.feed_update(self.bot, update)
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
        else:
            if response is UNHANDLED:
                self.unhandled += 1
        self.handled += 1


class Ticker:
    """Sleeps TICK virtual seconds at a time and keeps the longest real gap between wake-ups."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.longest = 0.0
        self.longest_at = 0.0  # virtual time of the wake-up after the longest gap

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            gap = now - last
            last = now
            self.gaps.append(gap)
            if gap > self.longest:
                self.longest = gap
                self.longest_at = loop.time()


class CollectorWatch:
    """Times the garbage collector's full (generation 2) collections: a full collection walks
    every live object, and on this event loop nothing else runs meanwhile."""

    def __init__(self) -> None:
        self.full_runs = 0
        self.longest = 0.0
        self._started = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.full_runs += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)


class CallbackWatch:
    """Times every callback the event loop runs (each step of a task is one): the longest is
    the longest a person's update or a send could have waited behind the bot's own work. On
    virtual time the ticker's gaps add up everything due at one virtual instant, so they are
    only an upper bound; this is the figure for one piece of work. It wraps
    `asyncio.Handle._run` while the burst runs (the benchmark's own set-up and final checks
    are outside)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_name = ""
        self._original = asyncio.events.Handle._run

    def start(self) -> None:
        original = self._original
        watch = self

        def timed(handle: asyncio.events.Handle) -> None:
            started = time.perf_counter()
            original(handle)
            took = time.perf_counter() - started
            if took > watch.longest:
                watch.longest = took
                watch.longest_name = repr(handle)[:120]

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]

    def stop(self) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]


class WarningCounter(logging.Handler):
    """Counts the bot's warnings and errors during the run; keeps the first few."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(f"{record.name}: {record.getMessage()}"[:300])


@dataclass
class BurstResult:
    users: int
    stores: str
    latency_ms: tuple[float, float] = (0.0, 0.0)
    limits: Limits = field(default_factory=Limits)
    messages_each: int = len(CANDIDATE_SCRIPT)
    finished: int = 0  # got the message with their number
    intakes_stored: int = 0
    lost_older: int = 0  # got a question older than the last one they saw
    lost_silent: int = 0  # never got their next question
    cards: int = 0  # distinct intake numbers in sendMessage calls to the group
    cards_pending: int = 0  # deliveries still in the outbox at the end
    private_calls: int = 0
    busiest_chat: int = 0  # calls to the person's chat that got the most
    group_calls: int = 0
    refused: int = 0  # 429s from the flood model
    too_soon: int = 0  # calls made before the retry_after of a 429 had passed
    wall_private_s: float = 0.0  # virtual: the last call to a person's chat
    wall_group_s: float = 0.0  # virtual: the last call to the group
    waits_s: list[float] = field(default_factory=list)
    stall_s: float = 0.0
    stall_at_s: float = 0.0
    gc_full_runs: int = 0
    gc_longest_s: float = 0.0
    callback_longest_s: float = 0.0
    stall_p99_s: float = 0.0
    cpu_s: float = 0.0
    real_s: float = 0.0
    peak_rss_mb: float = 0.0
    warnings: int = 0
    first_warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.lost_older + self.lost_silent

    @property
    def private_min_s(self) -> float:
        """At 30 calls a second for the bot, and no faster than one chat's bucket allows (3 at
        once, then 1 a second: that bounds a small burst)."""
        return max(self.private_calls / TELEGRAM_PER_SECOND, self.one_chat_min_s)

    @property
    def one_chat_min_s(self) -> float:
        """The busiest person's chat alone: 3 calls at once, then 1 a second."""
        return max(0, self.busiest_chat - TELEGRAM_CHAT_BURST) / TELEGRAM_CHAT_PER_SECOND

    @property
    def first_card_min_s(self) -> float:
        """The earliest an intake can be confirmed: a person types each next message only after
        the bot's answer to the one before, so the replies up to the summary (one per typed
        message but the last) reach one chat first: 3 at once, then 1 a second. The edits of
        answered questions may come later, so they do not count here."""
        replies = self.messages_each - 1
        return max(0, replies - TELEGRAM_CHAT_BURST) / TELEGRAM_CHAT_PER_SECOND

    @property
    def group_min_s(self) -> float:
        """No card before one intake could be confirmed, then 20 a minute: the last of n
        cards leaves at least 60 s x floor((n - 1) / 20) after the first."""
        if not self.group_calls:
            return 0.0
        minutes = (self.group_calls - 1) // TELEGRAM_GROUP_PER_MINUTE
        return self.first_card_min_s + 60.0 * minutes

    @property
    def minimum_s(self) -> float:
        return max(self.private_min_s, self.group_min_s)

    @property
    def pace_min_s(self) -> float:
        """The persons' calls at the sender's own global limit (`limits.global_per_second`)."""
        return self.private_calls / self.limits.global_per_second

    @property
    def wall_s(self) -> float:
        return max(self.wall_private_s, self.wall_group_s)

    @staticmethod
    def _ratio(wall: float, minimum: float) -> float:
        return wall / minimum if minimum > 0 else float("inf")

    @property
    def ratio(self) -> float:
        return self._ratio(self.wall_s, self.minimum_s)

    @property
    def private_ratio(self) -> float:
        return self._ratio(self.wall_private_s, self.private_min_s)

    @property
    def group_ratio(self) -> float:
        return self._ratio(self.wall_group_s, self.group_min_s)

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and self.lost == 0
            and self.finished == self.intakes_stored == self.cards == self.users
            and self.cards_pending == 0
        )

    def _warnings_text(self) -> str:
        if not self.first_warnings:
            return str(self.warnings)
        return f"{self.warnings} (first: {self.first_warnings[0]})"

    def rows(self) -> list[Row]:
        def meets(ratio: float) -> str:
            return "meets" if ratio <= TARGET_RATIO else "ABOVE"

        p50 = percentile(self.waits_s, 0.50)
        p99 = percentile(self.waits_s, 0.99)
        return [
            (
                "burst: candidates x messages",
                f"{self.users:,} x {self.messages_each} ({self.stores} stores, "
                + (
                    "Limits() defaults"
                    if self.limits == Limits()
                    else f"sender at {self.limits.global_per_second:g}/s, "
                    f"{self.limits.group_per_minute}/min per group"
                )
                + (
                    f", latency {self.latency_ms[0]:.0f}-{self.latency_ms[1]:.0f} ms each way)"
                    if self.latency_ms[1] > 0
                    else ")"
                ),
            ),
            (
                "burst: finished intakes",
                f"{self.finished:,} of {self.users:,} (stored: {self.intakes_stored:,})",
            ),
            (
                "burst: lost answers",
                f"{self.lost:,} ({self.lost_older} got an older question, "
                f"{self.lost_silent} no next question)",
            ),
            (
                "burst: cards delivered to the group",
                f"{self.cards:,} (still in the outbox: {self.cards_pending})",
            ),
            (
                "burst: limited calls",
                f"{self.private_calls:,} to persons' chats, {self.group_calls:,} to the group; "
                f"{self.refused} refused (429), {self.too_soon} too soon",
            ),
            (
                "burst: physical minimum, persons' chats",
                f"{self.private_min_s:,.0f} s ({self.private_calls:,} calls / "
                f"{TELEGRAM_PER_SECOND} per s; one chat's {self.busiest_chat} at 1 per s after 3)",
            ),
            (
                "burst: physical minimum, cards",
                f"{self.group_min_s:,.0f} s ({self.group_calls:,} calls, "
                f"{TELEGRAM_GROUP_PER_MINUTE} per min, the first after "
                f"{self.first_card_min_s:.0f} s: the earliest an intake can be confirmed)",
            ),
            (
                "burst: wall time (virtual), persons' chats",
                f"{self.wall_private_s:,.0f} s = {self.private_ratio:.2f}x its minimum "
                f"(at the sender's {self.limits.global_per_second:.0f}/s: "
                f"{self.pace_min_s:,.0f} s)",
            ),
            (
                "burst: wall time (virtual), last card",
                f"{self.wall_group_s:,.0f} s = {self.group_ratio:.2f}x its minimum",
            ),
            (
                "burst: RATIO wall / physical minimum",
                f"{self.ratio:.2f} ({self.wall_s:,.0f} / {self.minimum_s:,.0f} s; "
                f"{meets(self.ratio)} target {TARGET_RATIO})",
            ),
            (
                "burst: wait for the next question p50 / p99",
                f"{p50:,.1f} / {p99:,.1f} s (virtual)",
            ),
            (
                "burst: longest event-loop stall (real)",
                f"{self.stall_s * 1000:,.0f} ms at {self.stall_at_s:,.0f} s virtual "
                f"(p99 of gaps {self.stall_p99_s * 1000:,.1f} ms, tick {TICK * 1000:.0f} ms)",
            ),
            (
                "burst: longest single callback (real)",
                f"{self.callback_longest_s * 1000:,.0f} ms (one step of one task: the longest "
                "anything waited behind one piece of the bot's work, the collector included)",
            ),
            (
                "burst: of which the garbage collector",
                f"longest full collection {self.gc_longest_s * 1000:,.0f} ms "
                f"({self.gc_full_runs} full collections)",
            ),
            (
                "burst: CPU (real)",
                f"{self.cpu_s:,.1f} s CPU in {self.real_s:,.1f} s real "
                f"({self.cpu_s / max(self.wall_s, 1e-9) * 100:.1f} % of one core at real speed)",
            ),
            ("burst: peak RSS", f"{self.peak_rss_mb:,.0f} MB"),
            ("burst: warnings logged", self._warnings_text()),
            ("burst: errors", str(len(self.errors))),
        ]


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Burst:
    """The bot under load and what the people saw."""

    session: BurstSession
    poller: Poller
    updates: UpdateFactory
    result: BurstResult
    progress: float = 0.0  # virtual time of the last step any person made


async def open_stores_of(kind: StoresKind, data_dir: Path, clock: LoopClock) -> Stores:
    if kind == "memory":
        return memory_stores(clock)
    return await open_stores(data_dir, clock, retention_days=365, conversation_days=30)


async def person(burst: Burst, user: int, start_at: float) -> bool:
    """One candidate: True once they read their number; False if an answer was lost."""
    loop = asyncio.get_running_loop()
    session = burst.session
    result = burst.result
    await asyncio.sleep(start_at)
    inbox = session.inbox.setdefault(user, [])
    event = session.event(user)
    seen = 0  # the order of the last screen seen
    cursor = 0
    for text in CANDIDATE_SCRIPT:
        burst.poller.post(burst.updates.message(user, text))
        asked = loop.time()
        while True:
            order = None
            while cursor < len(inbox) and order is None:
                at, message = inbox[cursor]
                cursor += 1
                order = screen_order(message)
            if order is not None:
                if order <= seen:
                    result.lost_older += 1
                    result.errors.append(f"person {user} got screen {order} after {seen}")
                    return False
                seen = order
                result.waits_s.append(at - asked)
                burst.progress = loop.time()
                break
            event.clear()
            await event.wait()
    return seen == OUTCOME_ORDER


async def wait_for_people(burst: Burst, people: list[asyncio.Task[bool]]) -> None:
    """Until everyone is done, or nothing moves while some still wait (they would for ever)."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[bool]] = set(people)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=QUIET / 4)
        quiet = loop.time() - max(burst.progress, burst.session.last_private) > QUIET
        if pending and ((quiet and not burst.poller.busy) or loop.time() > MAX_VIRTUAL):
            burst.result.lost_silent += len(pending)
            burst.result.errors.append(f"{len(pending)} people never got their next question")
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return


async def wait_for_cards(burst: Burst, stores: Stores, sender: Sender) -> int:
    """Until the outbox is empty (every card sent), or the group got nothing for a while."""
    loop = asyncio.get_running_loop()
    while True:
        await sender.idle()
        pending = len(await stores.outbox.pending())
        if not pending:
            return 0
        if loop.time() - burst.session.last_group > 3 * QUIET or loop.time() > MAX_VIRTUAL:
            burst.result.errors.append(f"{pending} deliveries never left the outbox")
            return pending
        await asyncio.sleep(1.0)


async def run_burst(
    users: int,
    stores_kind: StoresKind,
    latency_ms: tuple[float, float] = (0.0, 0.0),
    seed: int = 1,
    limits: Limits | None = None,
) -> BurstResult:
    """The whole burst, inside a looptime event loop (see `run_burst_bench`)."""
    loop = asyncio.get_running_loop()
    limits = limits or Limits()
    result = BurstResult(users=users, stores=stores_kind, latency_ms=latency_ms, limits=limits)
    warnings = WarningCounter()
    logging.getLogger().addHandler(warnings)
    flood = FloodModel(clock=loop.time)
    session = BurstSession(flood, latency_ms)
    bot = make_bot(session)
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        data_dir = Path(tmp) / "data"
        clock = LoopClock()
        settings = bench_settings(data_dir)
        # bot.__main__._assemble, with the stores chosen here and a clock on loop time.
        stores = await open_stores_of(stores_kind, data_dir, clock)
        funnel = (
            MemoryFunnel()
            if stores_kind == "memory"
            else FileFunnel(data_dir / "funnel.json", stores.problems)
        )
        services = create_services(
            settings, intakes=stores.intakes, outbox=stores.outbox, clock=clock, funnel=funnel
        )
        services.bot_username = "baanwijzer_bench_bot"
        sender = Sender(bot, limits)
        dp = create_dispatcher(services, stores.conversations, sender)
        await dp["chat_outbox"].resume()
        sender.start()
        background = start_background_tasks(bot, services, stores, sender)
        poller = Poller(dp, bot)
        ticker = Ticker()
        helpers = [asyncio.create_task(poller.run()), asyncio.create_task(ticker.run())]
        burst = Burst(session, poller, UpdateFactory(), result)
        rng = random.Random(seed)
        ids = [FIRST_USER + i for i in range(users)]
        settle_gc()
        cpu_started = time.process_time()
        real_started = time.perf_counter()
        began = loop.time()
        collector = CollectorWatch()
        collector.start()
        callbacks = CallbackWatch()
        callbacks.start()
        try:
            people = [
                asyncio.create_task(person(burst, user, rng.random() * START_SPREAD))
                for user in ids
            ]
            await wait_for_people(burst, people)
            result.finished = sum(
                1 for task in people if not task.cancelled() and task.result() is True
            )
            result.cards_pending = await wait_for_cards(burst, stores, sender)
            await sender.idle()
            callbacks.stop()  # what follows is the benchmark's own checking
            result.cpu_s = time.process_time() - cpu_started
            result.real_s = time.perf_counter() - real_started
            result.wall_private_s = session.last_private - began
            result.wall_group_s = session.last_group - began
            stored = [i for u in ids for i in await stores.intakes.for_user(u)]
            result.intakes_stored = len(stored)
            if len({i.user_id for i in stored}) != len(stored):
                result.errors.append("someone has more than one intake")
        finally:
            collector.stop()
            callbacks.stop()
            for task in (*helpers, *background):
                task.cancel()
            await asyncio.gather(*helpers, *background, return_exceptions=True)
            await sender.stop()
            await funnel.close()
            await stores.close()
            await bot.session.close()
            unfreeze_gc()
            logging.getLogger().removeHandler(warnings)
    result.cards = len(session.cards)
    result.private_calls = session.private_calls
    result.busiest_chat = max(session.per_chat.values(), default=0)
    result.group_calls = session.group_calls
    result.refused = flood.refused
    result.too_soon = flood.too_soon
    result.stall_s = ticker.longest
    result.gc_full_runs = collector.full_runs
    result.gc_longest_s = collector.longest
    result.callback_longest_s = callbacks.longest
    result.stall_at_s = ticker.longest_at - began
    result.stall_p99_s = percentile(ticker.gaps, 0.99)
    result.peak_rss_mb = peak_rss_mb()
    result.warnings = warnings.count
    result.errors.extend(poller.errors)
    if poller.unhandled:
        result.errors.append(f"{poller.unhandled} updates not handled")
    result.first_warnings = warnings.first
    result.errors = result.errors[:20]
    return result


class VirtualTimeLoop(looptime.LoopTimeEventLoop, asyncio.SelectorEventLoop):
    """The selector event loop on looptime's virtual clock, counting in ticks of 2**-20 s.

    Two things make float time misbehave on a clock that stands still while code runs:

    - Rounding. The sender and the flood model both keep sliding windows: an entry `t` is
      dropped when `t <= now - 1.0`, and the next free moment is `t + 1.0`. With decimal
      microseconds (looptime's default) the two can disagree by one ulp exactly at the window's
      edge: `t` is not dropped, yet `t + 1.0 <= now` says "free", so at that one instant every
      waiting call goes (the sender sent 2,000 calls in one virtual second, and the model let
      them through). On a real clock that instant passes within nanoseconds. With a binary tick
      every loop time is a binary fraction and that arithmetic is exact, as it would be on paper.
    - Tiny sleeps. asyncio runs a timer due within a nanosecond of now at once; a task that
      sleeps for a rounding error is woken at the same instant, finds the same tiny wait and
      sleeps again, for ever (time never moves while something is ready). Here a timer between
      two ticks fires on the later one, and a positive delay is at least one tick.
    """

    def call_later(
        self,
        delay: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        if 0 < delay < TIME_TICK:
            delay = TIME_TICK
        return super().call_later(delay, callback, *args, context=context)

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        ticks = math.ceil(when / TIME_TICK)
        return super().call_at(ticks * TIME_TICK, callback, *args, context=context)


def virtual_time_loop() -> asyncio.AbstractEventLoop:
    """An event loop on virtual time, starting at 0."""
    return VirtualTimeLoop(start=0.0, resolution=TIME_TICK)


def run_burst_bench(
    users: int = 1000,
    stores: StoresKind = "memory",
    latency_ms: tuple[float, float] = (0.0, 0.0),
    limits: Limits | None = None,
) -> BurstResult:
    """Run the burst in a new event loop on virtual time (not inside a running loop)."""
    with asyncio.Runner(loop_factory=virtual_time_loop) as runner:
        return runner.run(run_burst(users, stores, latency_ms, limits=limits))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 candidates")
    parser.add_argument("--users", type=int)
    parser.add_argument(
        "--stores",
        choices=["memory", "file"],
        default="memory",
        help="memory (default: virtual time is exact) or the file stores (see the docstring)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        nargs=2,
        default=(0.0, 0.0),
        metavar=("LOW_MS", "HIGH_MS"),
        help="one-way network latency, uniform in this range (default: none)",
    )
    parser.add_argument(
        "--telegram-pace",
        action="store_true",
        help="the sender at Telegram's own figures (30/s, 20/min per group; SEND_PER_SECOND=30"
        " and GROUP_PER_MINUTE=20) instead of the defaults' margins",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line for python -m bench")
    args = parser.parse_args(argv)
    users = args.users or (100 if args.quick else 1000)
    limits = TELEGRAM_PACE if args.telegram_pace else Limits()
    result = run_burst_bench(users, args.stores, (args.latency[0], args.latency[1]), limits)
    if args.json:
        print(
            report_json(
                "burst",
                result.ok,
                result.rows(),
                errors=result.errors,
                warnings=result.first_warnings,
            )
        )
    else:
        print_rows("Burst", result.rows())
        for line in result.first_warnings:
            print("  warning:", line, file=sys.stderr)
        for error in result.errors:
            print("  error:", error, file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The one sender: every Bot API call that sends or edits leaves the process through here.

Where the calls come from does not matter to it: an `Outgoing` knows how to build its call, and
what to record when it was sent or failed for good. The durable ones are the calls a handler
queued in a conversation record (bot/chat.py) and the deliveries of the coordinators' outbox
(bot/delivery.py); a few are kept in memory only (an answer to a coordinator's command, the
confirmation of an erasure, after which nothing about the person may be stored).

The rules, from Telegram's limits (docs/sending.md):

- Limits. At most `global_per_second` calls in any second for the whole bot, a bucket of
  `chat_burst` refilled at `chat_per_second` per private chat, and `group_per_minute` in any
  minute per group. One call at a time per chat, so the order per chat is kept.
- Priorities. Replies (the next question, answers to a person, cards) go before cosmetic edits
  (the keyboard off an answered question), within a chat and across chats. A cosmetic edit that
  a later edit of the same message makes useless is dropped before it is sent.
- Order across chats. The coordinators' groups go first (20 a minute is a small share). Then
  the conversations in progress before newer ones: when more people write than Telegram lets
  the bot answer, a person halfway through an intake gets the next question at once rather
  than after every newcomer's, so intakes get done (and their cards start) while the newcomers
  wait once, at the start. That head start is at most `headstart` seconds: a call that has
  waited that long goes before every call that came later, so nobody waits for ever.
- Errors. A 429 blocks that chat for `retry_after` seconds (never less); 5xx, network errors and
  anything unknown are retried with exponential backoff and jitter; permanent errors (blocked,
  chat not found, message gone, not modified) end the call, and its `Outgoing` is told.

The clock is the event loop's, so tests can run it on fake time (looptime).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response

log = logging.getLogger(__name__)

REPLIES = "replies"
COSMETIC = "cosmetic"
# A private chat that had nothing to send for this long starts a new conversation (its rank).
FORGET_AFTER = 15 * 60.0
BACKOFF_BASE = 1.0
BACKOFF_MAX = 300.0
# Descriptions of a 400 that mean "this call is done", not "try again".
HARMLESS = ("message is not modified",)


class Undeliverable(Exception):  # noqa: N818 - a verdict on a call, not an error in the code
    """Raised by `Outgoing.prepare`: this call can never be made as queued (its card is gone)."""


def is_group(chat_id: int) -> bool:
    """Group and supergroup ids are negative; private chat ids are the user's id."""
    return chat_id < 0


def backoff(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """1, 2, 4, ... seconds after the 1st, 2nd, 3rd failure (at most 5 minutes), each with up
    to a quarter more, so that chats that failed together do not retry together."""
    base = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** min(max(attempts - 1, 0), 16))
    return float(base * (1.0 + 0.25 * rand()))


@dataclass(frozen=True, slots=True)
class Limits:
    """Kept a little under Telegram's published figures (about 30/s, 1/s per chat, 20/min per
    group): the server counts from when a call arrives, we from when it leaves."""

    global_per_second: float = 25.0
    chat_per_second: float = 1.0
    chat_burst: int = 2
    # Telegram's own figure is 20: at 20, any delay between leaving and arriving gives a 429.
    group_per_minute: int = 19
    # How long a conversation in progress may go before newer ones (see the module docstring).
    headstart: float = 120.0

    @classmethod
    def unlimited(cls) -> Limits:
        """For tests that are not about pacing."""
        huge = 10**9
        return cls(
            global_per_second=huge, chat_per_second=huge, chat_burst=huge, group_per_minute=huge
        )


class SlidingWindow:
    """At most `limit` events in any `period` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = max(1, limit)
        self.period = period
        self._times: deque[float] = deque()

    def next_free(self, now: float) -> float:
        times = self._times
        # The same sum as the value returned below: with float time, `times[0] <= now - period`
        # can disagree with it at the edge and let a whole window through at once.
        while times and times[0] + self.period <= now:
            times.popleft()
        return now if len(times) < self.limit else times[0] + self.period

    def take(self, now: float) -> None:
        self._times.append(now)

    def refund(self) -> None:
        if self._times:
            self._times.pop()

    def rested(self, now: float) -> bool:
        self.next_free(now)
        return not self._times


class TokenBucket:
    """`capacity` events at once, refilled at `rate` per second."""

    def __init__(self, capacity: int, rate: float) -> None:
        self.capacity = float(max(1, capacity))
        self.rate = rate
        self._tokens = self.capacity
        self._stamp: float | None = None

    def _refill(self, now: float) -> None:
        if self._stamp is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def next_free(self, now: float) -> float:
        self._refill(now)
        return now if self._tokens >= 1.0 else now + (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0

    def refund(self) -> None:
        self._tokens = min(self.capacity, self._tokens + 1.0)

    def rested(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.capacity


class Outgoing(Protocol):
    """One call in the sender's queue, and what to do with its result."""

    @property
    def id(self) -> str: ...

    @property
    def chat_id(self) -> int: ...

    @property
    def cosmetic(self) -> bool: ...

    @property
    def supersedes(self) -> str | None:
        """Calls with the same value replace each other while they wait (edits of a message)."""
        ...

    async def prepare(self) -> TelegramMethod[Any] | None:
        """The call to make now, or None when it is no longer wanted (erased, replaced)."""
        ...

    async def sent(self, result: Any) -> None:
        """Record the result (a message id that later calls need); then the call is done."""
        ...

    async def failed(self, error: BaseException) -> None:
        """The call can never succeed (blocked, chat not found): record it and let it go."""
        ...

    async def retrying(self, error: BaseException, attempts: int, delay: float) -> None:
        """A transient failure; the sender tries again after `delay` seconds."""
        ...

    async def superseded(self) -> None:
        """A later call with the same `supersedes` replaced this one before it left."""
        ...


class VolatileCall:
    """A call kept in memory only: an answer to a coordinator's command, a last word after an
    erasure. It is paced and retried like the rest but does not survive a restart."""

    cosmetic = False
    supersedes = None

    def __init__(
        self,
        method: TelegramMethod[Any],
        chat_id: int,
        on_sent: Callable[[Any], Awaitable[None]] | None = None,
        on_failed: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> None:
        self.id = f"volatile-{next(_volatile_ids)}"
        self.chat_id = chat_id
        self._method = method
        self._on_sent = on_sent
        self._on_failed = on_failed

    async def prepare(self) -> TelegramMethod[Any] | None:
        return self._method

    async def sent(self, result: Any) -> None:
        if self._on_sent is not None:
            await self._on_sent(result)

    async def failed(self, error: BaseException) -> None:
        log.info("a call to a %s chat failed for good: %s", _kind(self.chat_id), _name(error))
        if self._on_failed is not None:
            await self._on_failed(error)

    async def retrying(self, error: BaseException, attempts: int, delay: float) -> None:
        pass

    async def superseded(self) -> None:
        pass


_volatile_ids = itertools.count(1)


@dataclass
class _Lane:
    """The calls waiting for one chat, replies before cosmetic edits; one in flight at most."""

    chat_id: int
    limiter: TokenBucket | SlidingWindow
    replies: deque[Outgoing] = field(default_factory=deque)
    cosmetic: deque[Outgoing] = field(default_factory=deque)
    busy: bool = False
    queued: bool = False
    blocked_until: float = 0.0
    attempts: int = 0
    # Its place among the ready lanes: lower goes first (see Sender._rank).
    rank: float = 0.0
    # Which ready queue holds it, and the ticket of its entry there; an entry whose ticket is
    # not the lane's any more was left behind when the lane moved, and is skipped.
    ready_in: str = ""
    ticket: int = 0

    def head(self) -> Outgoing | None:
        if self.replies:
            return self.replies[0]
        if self.cosmetic:
            return self.cosmetic[0]
        return None

    def pop(self, item: Outgoing) -> None:
        for queue in (self.replies, self.cosmetic):
            if queue and queue[0] is item:
                queue.popleft()
                return
        with contextlib.suppress(ValueError):
            self.replies.remove(item)
        with contextlib.suppress(ValueError):
            self.cosmetic.remove(item)

    def __len__(self) -> int:
        return len(self.replies) + len(self.cosmetic)


@dataclass
class SenderStats:
    sent: int = 0
    retried_429: int = 0
    retried_transient: int = 0
    failed: int = 0
    dropped: int = 0
    superseded: int = 0


class Sender:
    """Delivers queued calls within Telegram's limits; start `run()` as a task."""

    def __init__(self, bot: Bot, limits: Limits | None = None) -> None:
        self.bot = bot
        self.limits = limits or Limits()
        self.stats = SenderStats()
        self._global = SlidingWindow(int(self.limits.global_per_second), 1.0)
        self._lanes: dict[int, _Lane] = {}
        # Ready lanes with a reply at their head, lowest rank first; ties in the order they
        # became ready.
        self._ready_replies: list[tuple[float, int, int, _Lane]] = []
        self._ready_cosmetic: deque[tuple[int, _Lane]] = deque()
        # When each private chat's conversation was first seen busy, and when it was last seen:
        # the rank of its replies. Forgotten after FORGET_AFTER of quiet.
        self._since: OrderedDict[int, tuple[float, float]] = OrderedDict()
        self._waiting: list[tuple[float, int, _Lane]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._count = 0
        # Strong references to aiogram's response models, one per method sent (see _attempt).
        self._response_models: dict[type[TelegramMethod[Any]], type[Response[Any]]] = {}
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the sender in this event loop, if it does not run yet."""
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        """Stop sending; what is still queued stays stored and goes after the next start."""
        tasks = [t for t in (self._runner, *self._tasks, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner = None

    # -- queueing --------------------------------------------------------------------------

    def put(self, item: Outgoing) -> None:
        """Queue one call; calls for one chat leave in the order they were put."""
        lane = self._lane(item.chat_id)
        queue = lane.cosmetic if item.cosmetic else lane.replies
        key = item.supersedes
        if key is not None:
            # A waiting edit of the same message is replaced; the one in flight (the head of a
            # busy lane) is not.
            in_flight = lane.head() if lane.busy else None
            gone = [c for c in queue if c is not in_flight and c.supersedes == key]
            for old in gone:
                queue.remove(old)
                self._count -= 1
                self.stats.superseded += 1
                self.track(old.superseded(), "dropping a replaced call")
        queue.append(item)
        self._count += 1
        self._idle.clear()
        if not item.cosmetic and lane.ready_in == COSMETIC:
            # It waited for its turn among the edits; with a reply it goes among the replies.
            lane.queued = False
        self._schedule(lane)
        self.start()

    def send_volatile(self, method: TelegramMethod[Any], chat_id: int) -> None:
        self.put(VolatileCall(method, chat_id))

    def track(self, work: Awaitable[Any], name: str) -> None:
        """Run background work that belongs to sending (a submit that queues calls): `idle()`
        waits for it too, and an error in it is logged, not lost."""

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", name)

        self._idle.clear()
        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._check_idle()

    def waiting(self) -> int:
        return self._count

    def replies_waiting(self, chat_id: int) -> int:
        """How many replies (not cosmetic edits) to this chat are queued or in flight."""
        lane = self._lanes.get(chat_id)
        return 0 if lane is None else len(lane.replies)

    async def idle(self) -> None:
        """Return when nothing is queued, in flight or being prepared."""
        while True:
            await self._idle.wait()
            # A task that finished may have queued more in the same loop turn.
            await asyncio.sleep(0)
            if self._idle.is_set():
                return

    def _check_idle(self) -> None:
        if self._count == 0 and not self._tasks:
            self._idle.set()

    def _lane(self, chat_id: int) -> _Lane:
        lane = self._lanes.get(chat_id)
        if lane is None:
            limits = self.limits
            limiter: TokenBucket | SlidingWindow = (
                SlidingWindow(limits.group_per_minute, 60.0)
                if is_group(chat_id)
                else TokenBucket(limits.chat_burst, limits.chat_per_second)
            )
            lane = self._lanes[chat_id] = _Lane(chat_id, limiter)
        return lane

    # -- scheduling ------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _schedule(self, lane: _Lane) -> None:
        if lane.busy or lane.queued:
            return
        now = self._now()
        if not len(lane):
            # An idle lane whose limit is fully restored holds nothing: memory stays flat.
            if lane.attempts == 0 and lane.blocked_until <= now and lane.limiter.rested(now):
                self._lanes.pop(lane.chat_id, None)
            return
        at = max(lane.blocked_until, lane.limiter.next_free(now))
        lane.queued = True
        lane.rank = self._rank(lane.chat_id, now)
        if at <= now:
            self._make_ready(lane)
        else:
            lane.ready_in, lane.ticket = "", 0  # any entry left in a ready queue is stale
            heapq.heappush(self._waiting, (at, next(self._order), lane))
        self._wake.set()

    def _make_ready(self, lane: _Lane, *, front: bool = False) -> None:
        """Put a lane that may send now in its ready queue: at the back of its rank, or at the
        front when it was next and only the bot's own limit held it back."""
        lane.queued = True
        lane.ticket = ticket = next(self._order)
        if lane.replies:
            lane.ready_in = REPLIES
            entry = (lane.rank, -ticket if front else ticket, ticket, lane)
            heapq.heappush(self._ready_replies, entry)
        else:
            lane.ready_in = COSMETIC
            if front:
                self._ready_cosmetic.appendleft((ticket, lane))
            else:
                self._ready_cosmetic.append((ticket, lane))

    def _rank(self, chat_id: int, now: float) -> float:
        """Groups first; then a private chat by when its conversation began, but never more
        than `headstart` seconds before now (a newcomer waits at most that long extra)."""
        if is_group(chat_id):
            return -math.inf
        since = self._since
        first, _ = since.pop(chat_id, (now, now))
        since[chat_id] = (first, now)
        # The oldest activity is at the front: forget the chats that went quiet.
        while since:
            oldest_chat, (_, last) = next(iter(since.items()))
            if last > now - FORGET_AFTER:
                break
            del since[oldest_chat]
        return max(first, now - self.limits.headstart)

    def _next_lane(self, now: float) -> _Lane | None:
        while self._waiting and self._waiting[0][0] <= now:
            _, _, lane = heapq.heappop(self._waiting)
            lane.queued = False
            self._schedule(lane)
        replies = self._ready_replies
        while replies:
            _, _, ticket, lane = heapq.heappop(replies)
            if ticket == lane.ticket and self._usable(lane, now):
                return lane
        cosmetic = self._ready_cosmetic
        while cosmetic:
            ticket, lane = cosmetic.popleft()
            if ticket == lane.ticket and self._usable(lane, now):
                return lane
        return None

    def _usable(self, lane: _Lane, now: float) -> bool:
        """Taken off the ready queue: may it send now? If not, it is scheduled again."""
        lane.queued = False
        lane.ready_in = ""
        lane.ticket = 0
        if lane.busy or not len(lane):
            return False
        if max(lane.blocked_until, lane.limiter.next_free(now)) > now:
            self._schedule(lane)
            return False
        return True

    async def run(self) -> None:
        """Deliver for ever; cancel the task to stop."""
        while True:
            now = self._now()
            lane = self._next_lane(now)
            if lane is None:
                await self._sleep(self._waiting[0][0] - now if self._waiting else None)
                continue
            free = self._global.next_free(now)
            if free > now:
                # Back at the front: it was next, and stays next when the bot may send again.
                self._make_ready(lane, front=True)
                await self._sleep(free - now)
                continue
            item = lane.head()
            assert item is not None
            lane.busy = True
            self._global.take(now)
            lane.limiter.take(now)
            task = asyncio.ensure_future(self._deliver(lane, item))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _sleep(self, seconds: float | None) -> None:
        self._wake.clear()
        if seconds is None:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            # At least a millisecond: a sleep of a rounding error would spin.
            await asyncio.wait_for(self._wake.wait(), timeout=max(seconds, 0.001))

    # -- one call --------------------------------------------------------------------------

    async def _deliver(self, lane: _Lane, item: Outgoing) -> None:
        try:
            await self._attempt(lane, item)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug in an Outgoing must not stop the chat for ever: log, back off, try again.
            log.exception("sending a call failed unexpectedly")
            lane.attempts += 1
            lane.blocked_until = self._now() + backoff(lane.attempts)
        finally:
            lane.busy = False
            self._schedule(lane)
            self._check_idle()

    def _done(self, lane: _Lane, item: Outgoing) -> None:
        lane.pop(item)
        lane.attempts = 0
        self._count -= 1

    async def _attempt(self, lane: _Lane, item: Outgoing) -> None:
        try:
            method = await item.prepare()
        except Undeliverable as exc:
            self._global.refund()
            lane.limiter.refund()
            await self._give_up(lane, item, exc)
            return
        if method is None:
            self._global.refund()
            lane.limiter.refund()
            self.stats.dropped += 1
            self._done(lane, item)
            return
        kind = type(method)
        if kind not in self._response_models:
            # aiogram validates each answer with `Response[T]`, a pydantic generic model, and
            # pydantic caches those weakly: once the garbage collector freed one, the next call
            # built the model class again (about 8 ms; in bench.step_bench every tenth step,
            # most of the bot's own CPU). Holding each one here builds it once per process.
            self._response_models[kind] = Response[kind.__returning__]  # type: ignore[name-defined]
        try:
            try:
                result = await self.bot(method)
            except TelegramMigrateToChat as exc:
                # A group became a supergroup: the same call, to the new id, right away.
                log.warning("chat moved to %s: update COORDINATOR_CHAT_ID", exc.migrate_to_chat_id)
                moved = method.model_copy(update={"chat_id": exc.migrate_to_chat_id})
                result = await self.bot(moved)
        except TelegramRetryAfter as exc:
            lane.attempts += 1
            self.stats.retried_429 += 1
            delay = float(max(exc.retry_after, 1))
            lane.blocked_until = self._now() + delay
            log.warning(
                "429 from Telegram for a %s chat: waiting %.0f s", _kind(lane.chat_id), delay
            )
            await item.retrying(exc, lane.attempts, delay)
            return
        except TelegramBadRequest as exc:
            if any(h in exc.message for h in HARMLESS):
                await item.sent(None)
                self.stats.sent += 1
                self._done(lane, item)
                return
            await self._give_up(lane, item, exc)
            return
        except (TelegramForbiddenError, TelegramNotFound, TelegramUnauthorizedError) as exc:
            await self._give_up(lane, item, exc)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # 5xx, network errors and anything unknown: the call may succeed later.
            lane.attempts += 1
            self.stats.retried_transient += 1
            delay = backoff(lane.attempts)
            lane.blocked_until = self._now() + delay
            log.warning(
                "a call to a %s chat failed (%s); next try in %.1f s",
                _kind(lane.chat_id), _name(exc), delay,
            )  # fmt: skip
            await item.retrying(exc, lane.attempts, delay)
            return
        self.stats.sent += 1
        await item.sent(result)
        self._done(lane, item)

    async def _give_up(self, lane: _Lane, item: Outgoing, exc: BaseException) -> None:
        self.stats.failed += 1
        log.warning("a call to a %s chat failed for good: %s", _kind(lane.chat_id), _name(exc))
        await item.failed(exc)
        self._done(lane, item)


def _kind(chat_id: int) -> str:
    return "group" if is_group(chat_id) else "private"


def _name(error: BaseException) -> str:
    # Telegram's descriptions name no person; keep them short anyway.
    text = str(getattr(error, "message", "") or "")[:80]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


__all__ = [
    "Limits",
    "Outgoing",
    "Sender",
    "SlidingWindow",
    "TokenBucket",
    "Undeliverable",
    "VolatileCall",
]

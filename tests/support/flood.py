"""Telegram's flood control as the tests model it, for the fake Bot API at the session seam.

Telegram publishes only rough numbers (about 30 messages a second for a bot, about one a second
per chat, 20 a minute per group; docs/sending.md). The model: a global window of 30 limited
calls per rolling second; per private chat a bucket of 3 refilled at 1 per second; per group 20
per rolling 60 s. Beyond that: HTTP 429 with `parameters.retry_after`, whole seconds until the
call would be allowed (at least 1). Not limited: answerCallbackQuery, getUpdates, getMe,
setMyCommands, getChatMember and the like.

The clock is the event loop's, so tests can run on fake time (looptime). Faults are windows of
time in which a chat (or every chat) answers 429 or 5xx regardless.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

LIMITED = frozenset(
    {
        "sendmessage",
        "editmessagetext",
        "editmessagereplymarkup",
        "editmessagecaption",
        "deletemessage",
        "deletemessages",
        "senddocument",
        "sendphoto",
        "setmessagereaction",
    }
)


@dataclass
class Fault:
    """From `start` to `end` (loop time), calls to `chat_id` (None: every chat) fail."""

    start: float
    end: float
    status: int  # 429 or a 5xx
    chat_id: int | None = None
    retry_after: int = 5


@dataclass
class FloodModel:
    clock: Callable[[], float]
    global_per_second: int = 30
    chat_burst: int = 3
    chat_per_second: float = 1.0
    group_per_minute: int = 20
    faults: list[Fault] = field(default_factory=list)
    # What happened, for the tests' assertions.
    refused: int = 0
    # Per chat: when a 429 said to come back; a call before that is a retry too soon.
    not_before: dict[int, float] = field(default_factory=dict)
    too_soon: int = 0
    _global: deque[float] = field(default_factory=deque)
    _groups: dict[int, deque[float]] = field(default_factory=dict)
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)

    def check(self, method: str, chat_id: int | None) -> tuple[int, int] | None:
        """None if the call may go; else (status, retry_after) to answer with."""
        name = method.lower()
        if name not in LIMITED or chat_id is None:
            return None
        now = self.clock()
        if now < self.not_before.get(chat_id, -math.inf) - 1e-6:
            self.too_soon += 1
        for fault in self.faults:
            if fault.start <= now < fault.end and fault.chat_id in (None, chat_id):
                return self._refuse(chat_id, fault.status, fault.retry_after, now)
        wait = max(self._global_wait(now), self._chat_wait(chat_id, now))
        if wait > 0:
            return self._refuse(chat_id, 429, max(1, math.ceil(wait)), now)
        self._take(chat_id, now)
        return None

    def _refuse(self, chat_id: int, status: int, retry_after: int, now: float) -> tuple[int, int]:
        self.refused += 1
        if status == 429:
            self.not_before[chat_id] = now + retry_after
        return status, retry_after

    def _global_wait(self, now: float) -> float:
        window = self._global
        while window and window[0] + 1.0 <= now:
            window.popleft()
        return 0.0 if len(window) < self.global_per_second else window[0] + 1.0 - now

    def _chat_wait(self, chat_id: int, now: float) -> float:
        if chat_id < 0:
            window = self._groups.setdefault(chat_id, deque())
            while window and window[0] + 60.0 <= now:
                window.popleft()
            return 0.0 if len(window) < self.group_per_minute else window[0] + 60.0 - now
        tokens, stamp = self._buckets.get(chat_id, (float(self.chat_burst), now))
        tokens = min(float(self.chat_burst), tokens + (now - stamp) * self.chat_per_second)
        self._buckets[chat_id] = (tokens, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.chat_per_second

    def _take(self, chat_id: int, now: float) -> None:
        self._global.append(now)
        if chat_id < 0:
            self._groups.setdefault(chat_id, deque()).append(now)
        else:
            tokens, stamp = self._buckets[chat_id]
            self._buckets[chat_id] = (tokens - 1.0, stamp)

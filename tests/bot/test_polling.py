"""The poller: a batch of updates is handled at once and confirmed only after its commits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import Update

from bot.polling import Poller
from tests.bot.intake_harness import Harness, build_harness
from tests.support.session import RecordingSession
from tests.support.updates import message_update


class PollingSession(RecordingSession):
    """Answers getUpdates from prepared batches, then holds the call open like Telegram."""

    def __init__(self, batches: list[list[Update]], on_poll: Any = None) -> None:
        super().__init__()
        self.batches = list(batches)
        self.offsets: list[int | None] = []
        self.on_poll = on_poll

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - signature fixed by BaseSession
    ) -> Any:
        if isinstance(method, GetUpdates):
            self.offsets.append(method.offset)
            if self.on_poll is not None:
                await self.on_poll(len(self.offsets))
            if method.timeout == 0:
                return []
            if self.batches:
                return self.batches.pop(0)
            await asyncio.Event().wait()  # nothing new: held open until cancelled
        return await super().make_request(bot, method, timeout)


async def poll_until(
    harness: Harness, session: PollingSession, polls: int, also: Any = None
) -> Poller:
    """Run the poller until it made `polls` getUpdates calls, then stop it."""
    poller = Poller(harness.dp, harness.bot, allowed_updates=["message", "callback_query"])
    reached = asyncio.Event()

    async def on_poll(n: int) -> None:
        if also is not None:
            await also(n)
        if n >= polls:
            reached.set()

    session.on_poll = on_poll
    task = asyncio.create_task(poller.run(handle_signals=False))
    await asyncio.wait_for(reached.wait(), timeout=30)
    poller.stop()
    await asyncio.wait_for(task, timeout=30)
    return poller


async def test_a_batch_is_confirmed_only_after_every_update_in_it_was_committed(
    tmp_path: Path,
) -> None:
    batch = [
        message_update("/start kandidaat", user_id=501, update_id=10),
        message_update("/start werkgever", user_id=502, update_id=11),
        message_update("/start kandidaat", user_id=503, update_id=12),
    ]
    session = PollingSession([batch])
    harness = await build_harness(tmp_path, session=session)
    committed_at_second_poll: list[bool] = []

    async def on_poll(n: int) -> None:
        if n == 2:
            states = [await harness.conversation(u) for u in (501, 502, 503)]
            committed_at_second_poll.append(all(state is not None for state, _ in states))

    try:
        # `on_poll` looks at the store at the moment the second call goes out.
        await poll_until(harness, session, polls=2, also=on_poll)
        # The first call confirms nothing; the second, sent after the batch, confirms it.
        assert session.offsets[:2] == [None, 13]
        assert committed_at_second_poll == [True]
        # At the stop, one more call confirms it for good (timeout 0: it waits for nothing).
        assert session.offsets[-1] == 13
        await harness.settle()
        for user in (501, 502, 503):
            assert session.sent_texts(user), f"user {user} got no answer"
    finally:
        await harness.close()


async def test_one_failing_update_does_not_stop_the_others_or_the_poller(tmp_path: Path) -> None:
    batch = [
        message_update("/start kandidaat", user_id=601, update_id=20),
        message_update("/start kandidaat", user_id=602, update_id=21),
    ]
    session = PollingSession([batch, [message_update("/help", user_id=602, update_id=22)]])
    harness = await build_harness(tmp_path, session=session)
    original = harness.dp.feed_update

    async def feed(bot: Bot, update: Update, **kwargs: Any) -> Any:
        if update.update_id == 20:
            raise RuntimeError("a bug in one handler")
        return await original(bot, update, **kwargs)

    harness.dp.feed_update = feed  # type: ignore[method-assign]
    try:
        await poll_until(harness, session, polls=3)
        await harness.settle()
        assert session.sent_texts(601) == []
        assert len(session.sent_texts(602)) >= 2  # the welcome, then the help
        assert session.offsets[:3] == [None, 22, 23]
    finally:
        await harness.close()


async def test_a_failing_get_updates_is_tried_again_and_a_stop_ends_the_wait(
    tmp_path: Path,
) -> None:
    session = PollingSession([[message_update("/start", user_id=701, update_id=30)]])
    harness = await build_harness(tmp_path, session=session)
    calls = 0
    original = session.make_request

    async def flaky(bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109
        nonlocal calls
        if isinstance(method, GetUpdates):
            calls += 1
            if calls == 1:
                raise ConnectionError("no network")
        return await original(bot, method, timeout)

    session.make_request = flaky  # type: ignore[method-assign]
    try:
        # The backoff's first delay is a second: the retry comes, then the poll that waits.
        await poll_until(harness, session, polls=2)
        await harness.settle()
        assert session.sent_texts(701)
    finally:
        await harness.close()

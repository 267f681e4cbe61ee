"""Long polling that handles each batch of updates at once and confirms it only afterwards.

Telegram hands out an update again until a later getUpdates confirms it (its `offset`). aiogram's
`start_polling` offers two ways: confirm each update when its task starts (`handle_as_tasks`:
a crash before the commit loses the update), or handle the updates one after another (nothing
is lost, but one slow commit holds up every person behind it, and a tap waits for the answers
to all the updates before it). This poller does neither: it handles all updates of one batch
concurrently (their commits share the store's group commit, `SimpleEventIsolation` keeps each
chat's updates in order), and the next getUpdates, which confirms the batch, goes out only when
every one of them was handled and committed. A crash mid-batch makes Telegram send the batch
again; the chat middleware skips what was committed already (`ChatRecord.last_update`).

SIGINT and SIGTERM stop it the way an operator expects: the batch in hand is finished, one last
getUpdates confirms it, and the caller stops the sender and closes the stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig

log = logging.getLogger(__name__)

POLL_TIMEOUT = 30  # seconds Telegram holds a getUpdates open when there is nothing new
BACKOFF = BackoffConfig(min_delay=1.0, max_delay=60.0, factor=1.5, jitter=0.1)


class Poller:
    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        *,
        allowed_updates: Sequence[str] | None = None,
        timeout: int = POLL_TIMEOUT,
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.allowed_updates = list(allowed_updates) if allowed_updates is not None else None
        self.timeout = timeout
        self.offset: int | None = None
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()

    async def run(self, *, handle_signals: bool = True) -> None:
        """Poll until `stop()` (or a signal).

        It emits no Dispatcher shutdown: aiogram's first shutdown handler closes the FSM
        storage (our conversation store) while the sender may still write back to it. The
        caller stops the sender, writes off the sent edits and closes the stores, in that
        order (bot/__main__.py)."""
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
        try:
            await self._loop()
            await self._confirm()
        finally:
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    async def _loop(self) -> None:
        backoff = Backoff(config=BACKOFF)
        while not self.stopping.is_set():
            updates = await self._fetch(backoff)
            if updates is None:
                return  # stopped while waiting for updates
            if updates:
                # A stop waits for this: the batch in hand is finished and committed. (Were the
                # task cancelled instead, the unfinished updates stay unconfirmed and come again.)
                await self._handle(updates)
                self.offset = updates[-1].update_id + 1

    async def _fetch(self, backoff: Backoff) -> list[Update] | None:
        """The next batch (this call confirms the one before); None once stopping."""
        method = GetUpdates(
            offset=self.offset, timeout=self.timeout, allowed_updates=self.allowed_updates
        )
        while True:
            request = asyncio.ensure_future(
                self.bot(method, request_timeout=self.timeout + POLL_TIMEOUT)
            )
            stopped = asyncio.ensure_future(self.stopping.wait())
            try:
                await asyncio.wait({request, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            if self.stopping.is_set():
                request.cancel()
                with contextlib.suppress(BaseException):
                    await request
                return None
            try:
                updates = request.result()
            except Exception as exc:  # the network or Telegram: try again later
                delay = next(backoff)
                log.warning("getUpdates failed (%s); next try in %.1f s", type(exc).__name__, delay)
                await self._sleep(delay)
                if self.stopping.is_set():
                    return None
                continue
            backoff.reset()
            return updates

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _handle(self, updates: list[Update]) -> None:
        await asyncio.gather(*(self._one(update) for update in updates))

    async def _one(self, update: Update) -> None:
        try:
            await self.dp.feed_update(self.bot, update)
        except Exception as exc:  # one bad update must not stop the others
            # The type only: an exception's text may quote what a person typed.
            log.error("handling an update failed: %s", type(exc).__name__)

    async def _confirm(self) -> None:
        """Confirm the last batch handled, so a restart does not get it again."""
        if self.offset is None:
            return
        try:
            await self.bot(GetUpdates(offset=self.offset, timeout=0, limit=1), request_timeout=10)
        except Exception as exc:  # the chat middleware skips a replay anyway
            log.info("could not confirm the last updates at shutdown: %s", type(exc).__name__)


__all__ = ["Poller"]

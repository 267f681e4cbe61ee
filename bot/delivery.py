"""The outbox worker: delivers every queued message to the coordinators' group and to persons.

Rules it keeps:
- Order per chat: only the oldest waiting delivery of a chat may be sent; a later one waits
  while an earlier one is backing off (so a card edit never overtakes its card).
- Pace: at most 20 messages a minute to a group (3 s apart), one a second to a private chat
  (`bot/coordinator/state.py`), counting the direct answers to coordinator commands too.
- Retries with exponential backoff on network errors, 5xx and unknown failures; on 429 it waits
  the `retry_after` Telegram asks for. Nothing is dropped: a delivery stays in the durable outbox
  until it is delivered.
- Permanent errors (403: blocked, or the bot is not in the chat; 400: chat not found, message to
  edit gone, ...) are not retried: `mark_failed` gets a `last_error` that starts with
  "permanent:" and a next attempt in the year 9999, so `due()` never returns it again and it
  shows in /wachtrij as failed. A message to a person that cannot be delivered is reported to
  the coordinators under the card.

The worker reads `outbox.pending()` instead of `outbox.due()`: a permanently failed delivery
must not block the rest of its chat, and `due()` would block that chat forever.
Clock and sleep are injected, so tests run on fake time without waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import Message

from bot import handoff
from bot.coordinator.state import is_group
from bot.logging_setup import pseudonym
from bot.services import Services
from flows.records import Delivery, HistoryEntry, parse_iso, utc_iso

log = logging.getLogger(__name__)

METHODS: dict[str, type[TelegramMethod[Any]]] = {
    "sendMessage": SendMessage,
    "editMessageText": EditMessageText,
    "editMessageReplyMarkup": EditMessageReplyMarkup,
    "deleteMessage": DeleteMessage,
}
PERMANENT = "permanent:"
NEVER = datetime(9999, 1, 1, tzinfo=UTC)
BACKOFF_BASE = 2.0
BACKOFF_MAX = 600.0
IDLE_POLL = 30.0
Sleep = Callable[[float], Awaitable[None]]


class PermanentError(Exception):
    """A delivery that can never succeed as queued (its card is gone, an unknown method)."""


def is_permanent(delivery: Delivery) -> bool:
    return delivery.last_error.startswith(PERMANENT)


def error_type(last_error: str) -> str:
    return last_error.removeprefix(PERMANENT).strip().split(":", 1)[0] or "-"


def backoff(attempts: int) -> float:
    """2, 4, 8, ... seconds after the 1st, 2nd, 3rd failure, at most 10 minutes."""
    return float(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** min(max(0, attempts), 16)))


@dataclass(frozen=True, slots=True)
class QueueSummary:
    group: int
    private: int
    failed: int
    oldest_seconds: float | None
    last_error: str

    @property
    def waiting(self) -> int:
        return self.group + self.private

    def log_text(self) -> str:
        oldest = "-" if self.oldest_seconds is None else f"{int(self.oldest_seconds)}s"
        return (
            f"{self.waiting} waiting ({self.group} group, {self.private} private), "
            f"{self.failed} failed for good, oldest {oldest}, last error {self.last_error}"
        )


def summarize(pending: Sequence[Delivery], now: datetime) -> QueueSummary:
    """Counts for /wachtrij and the log: per chat kind, the oldest, the latest error's type."""
    waiting = [d for d in pending if not is_permanent(d)]
    oldest = min((parse_iso(d.created_at) for d in waiting), default=None)
    # The error of the delivery that waits longest for its next try is the freshest one; when
    # nothing waits after an error, the newest permanent failure.
    retrying = [d for d in waiting if d.last_error]
    failed = [d for d in pending if is_permanent(d)]
    latest = max(retrying, key=lambda d: d.next_attempt_at, default=None) or (
        max(failed, key=lambda d: d.created_at) if failed else None
    )
    return QueueSummary(
        group=sum(1 for d in waiting if is_group(d.chat_id)),
        private=sum(1 for d in waiting if not is_group(d.chat_id)),
        failed=len(failed),
        oldest_seconds=None if oldest is None else (now - oldest).total_seconds(),
        last_error=error_type(latest.last_error) if latest is not None else "-",
    )


@dataclass(frozen=True, slots=True)
class Round:
    sent: int
    failed: int
    waiting: int
    next_at: datetime | None


class DeliveryWorker:
    def __init__(self, bot: Bot, services: Services, *, sleep: Sleep = asyncio.sleep) -> None:
        self.bot = bot
        self.services = services
        self.sleep = sleep
        self._last_log = ""

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver for ever: start it as a task and cancel it on shutdown."""
        log.info("outbox worker started")
        while True:
            try:
                result = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox round failed; trying again shortly")
                await self.sleep(5.0)
                continue
            if result.sent or result.failed:
                continue
            now = self.services.clock.now()
            wait = IDLE_POLL if result.next_at is None else (result.next_at - now).total_seconds()
            await self._wait(min(max(wait, 0.05), IDLE_POLL))

    async def drain(self, max_rounds: int = 10_000) -> None:
        """Deliver until nothing deliverable is left, sleeping (the injected sleep) between."""
        for _ in range(max_rounds):
            result = await self.run_once()
            if result.waiting == 0:
                return
            if result.sent or result.failed:
                continue
            now = self.services.clock.now()
            if result.next_at is None:
                return
            await self.sleep(max((result.next_at - now).total_seconds(), 0.0))
        raise RuntimeError("outbox did not drain")

    async def _wait(self, seconds: float) -> None:
        wake = self.services.coordinator.wake
        if wake.is_set():
            wake.clear()
            return
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                task.cancel()
            wake.clear()

    # -- one round -------------------------------------------------------------------------

    async def run_once(self) -> Round:
        """Try every chat's oldest waiting delivery that is due and within the pace."""
        services = self.services
        pending = list(await services.outbox.pending())
        now = services.clock.now()
        self._log_queue(pending, now)
        heads: dict[int, Delivery] = {}
        for delivery in pending:
            if not is_permanent(delivery):
                heads.setdefault(delivery.chat_id, delivery)
        sent = failed = 0
        next_at: datetime | None = None
        for delivery in heads.values():
            now = services.clock.now()
            ready = max(
                parse_iso(delivery.next_attempt_at),
                services.coordinator.pace.next_free(delivery.chat_id, now),
            )
            if ready > now:
                next_at = ready if next_at is None else min(next_at, ready)
                continue
            if await self._attempt(delivery):
                sent += 1
            else:
                failed += 1
        waiting = sum(1 for d in pending if not is_permanent(d)) - sent
        return Round(sent=sent, failed=failed, waiting=waiting, next_at=next_at)

    def _log_queue(self, pending: Sequence[Delivery], now: datetime) -> None:
        text = summarize(pending, now).log_text() if pending else ""
        # Only when the picture changes, and only counts: no text, names or chat ids.
        shape = text.split(", oldest")[0]
        if shape != self._last_log:
            self._last_log = shape
            if text:
                log.info("outbox: %s", text)

    async def _attempt(self, delivery: Delivery) -> bool:
        services = self.services
        now = services.clock.now()
        services.coordinator.pace.record(delivery.chat_id, now)
        try:
            result = await self._send(delivery)
        except TelegramRetryAfter as exc:
            await self._retry(delivery, exc, float(max(exc.retry_after, 1)))
            return False
        except (TelegramNetworkError, TelegramServerError) as exc:
            await self._retry(delivery, exc, backoff(delivery.attempts))
            return False
        except TelegramBadRequest as exc:
            if "message is not modified" in exc.message:
                result = True  # the card already shows this: nothing to do
            else:
                await self._give_up(delivery, exc)
                return False
        except (TelegramForbiddenError, TelegramNotFound, PermanentError) as exc:
            await self._give_up(delivery, exc)
            return False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._retry(delivery, exc, backoff(delivery.attempts))
            return False
        await self._delivered(delivery, result)
        return True

    async def _send(self, delivery: Delivery) -> Any:
        method = METHODS.get(delivery.method)
        if method is None:
            raise PermanentError(f"unknown method {delivery.method}")
        payload = dict(delivery.payload)
        chat_id = delivery.chat_id
        if delivery.purpose == handoff.CARD_EDIT or delivery.purpose in handoff.UNDER_CARD:
            intake = await self.services.intakes.get(delivery.intake_number or "")
            card = (intake.card_chat_id, intake.card_message_id) if intake else (None, None)
            if delivery.purpose == handoff.CARD_EDIT:
                if card[0] is None or card[1] is None:
                    raise PermanentError("the card was never delivered")
                chat_id = card[0]
                payload["message_id"] = card[1]
            elif card[1] is not None and card[0] == chat_id:
                payload["reply_parameters"] = {
                    "message_id": card[1],
                    "allow_sending_without_reply": True,
                }
        try:
            return await self.bot(method(chat_id=chat_id, **payload))
        except TelegramMigrateToChat as exc:
            # The group became a supergroup: same delivery, new chat id, right away.
            log.warning("chat moved to %s: update COORDINATOR_CHAT_ID", exc.migrate_to_chat_id)
            return await self.bot(method(chat_id=exc.migrate_to_chat_id, **payload))

    async def _delivered(self, delivery: Delivery, result: Any) -> None:
        services = self.services
        now = services.clock.now()
        await services.outbox.mark_delivered(delivery.id, now)
        number = delivery.intake_number
        if number is None or not isinstance(result, Message):
            return
        chat_id, message_id = result.chat.id, result.message_id
        at = utc_iso(now)
        if delivery.purpose == handoff.CARD:
            await services.intakes.update(
                number, "bot", "kaart-geplaatst", f"kaart {message_id}", card=(chat_id, message_id)
            )
        elif delivery.purpose == handoff.TO_PERSON:
            await services.intakes.record(
                number, HistoryEntry(at, "bot", "bericht-bezorgd", str(message_id))
            )
        elif delivery.purpose == handoff.RELAY:
            # `msg:<chat>:<id>` lets erasure find and delete this group message (bot/privacy.py).
            await services.intakes.record(
                number, HistoryEntry(at, "bot", "doorgestuurd", f"msg:{chat_id}:{message_id}")
            )
        elif delivery.purpose == handoff.NOTE_PROMPT:
            await services.intakes.record(
                number, HistoryEntry(at, "bot", "notitie-gevraagd", str(message_id))
            )

    async def _retry(self, delivery: Delivery, exc: BaseException, delay: float) -> None:
        now = self.services.clock.now()
        await self.services.outbox.mark_failed(
            delivery.id, f"{type(exc).__name__}: {_brief(exc)}", now + timedelta(seconds=delay)
        )
        log.warning(
            "delivery %s (%s to %s) failed: %s; next try in %.0f s (attempt %d)",
            delivery.id[:8], delivery.purpose or delivery.method, _kind(delivery.chat_id),
            type(exc).__name__, delay, delivery.attempts + 1,
        )  # fmt: skip

    async def _give_up(self, delivery: Delivery, exc: BaseException) -> None:
        services = self.services
        await services.outbox.mark_failed(
            delivery.id, f"{PERMANENT} {type(exc).__name__}: {_brief(exc)}", NEVER
        )
        log.warning(
            "delivery %s (%s to %s, %s) failed for good: %s",
            delivery.id[:8], delivery.purpose or delivery.method, _kind(delivery.chat_id),
            delivery.intake_number or "-", type(exc).__name__,
        )  # fmt: skip
        if delivery.purpose == handoff.TO_PERSON and delivery.intake_number:
            intake = await services.intakes.get(delivery.intake_number)
            if intake is not None:
                await services.intakes.record(
                    intake.number,
                    HistoryEntry(
                        utc_iso(services.clock.now()), "bot", "niet-bezorgd", type(exc).__name__
                    ),
                )
                lang = services.settings.DEFAULT_LANGUAGE
                text = services.renderer.render(lang, "coord_undeliverable", number=intake.number)
                await handoff.queue_under_card(services, intake, text, purpose=handoff.GROUP_NOTICE)


def _kind(chat_id: int) -> str:
    return "group" if is_group(chat_id) else pseudonym(chat_id)


def _brief(exc: BaseException) -> str:
    # Telegram's error descriptions name no person; cut them short anyway.
    return str(getattr(exc, "message", "") or exc)[:120]


def start_delivery_worker(bot: Bot, services: Services) -> asyncio.Task[None]:
    return asyncio.create_task(DeliveryWorker(bot, services).run(), name="outbox")

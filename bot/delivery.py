"""The coordinators' outbox as a source for the sender: every queued delivery, to the group and
to persons, leaves through `bot/sender.py`.

`DeliveryOutbox` reads `outbox.pending()` (oldest first) and puts each delivery the sender does
not hold yet into it as a `DeliveryCall`. The sender keeps the order of `put` per chat, paces,
waits out 429s and backs off on 5xx and network errors; this module decides what a delivery
becomes and what its result means:

- Built late. `prepare` re-reads the delivery, so one that was erased while it waited is never
  sent, and fills in the card's message id (a card edit, a reply under the card), which may not
  have existed when the delivery was queued.
- Durable. A transient failure is written back (`mark_failed` with the next attempt), so
  /wachtrij shows it and a restart waits for it; nothing is dropped until it is delivered.
- Permanent errors (403: blocked, or the bot is not in the chat; 400: chat not found, message to
  edit gone; a card edit whose card was never delivered) mark the delivery failed for good
  (`DeliveryStatus.FAILED`): it is never tried again and shows in /wachtrij as failed. A
  message to a person that cannot be delivered is reported to the coordinators under the card,
  and so is a person's message that cannot reach a coordinator's private chat.
- A card edit renders the whole card, so a later edit of the same card replaces one that has
  not left yet (`supersedes`); the replaced one counts as delivered.

It reads `pending()` rather than `due()`: it skips a delivery that failed for good itself,
so that one never blocks the rest of its chat, and keeps the order per chat as `due()` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram.methods import (
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import Message

from bot import handoff
from bot.coordinator import relay
from bot.logging_setup import pseudonym
from bot.sender import Sender, Undeliverable, is_group
from bot.services import Services
from flows.records import (
    Delivery,
    HistoryAction,
    HistoryEntry,
    MessageRef,
    parse_iso,
    utc_iso,
)

log = logging.getLogger(__name__)

METHODS: dict[str, type[TelegramMethod[Any]]] = {
    "sendMessage": SendMessage,
    "editMessageText": EditMessageText,
    "editMessageReplyMarkup": EditMessageReplyMarkup,
    "deleteMessage": DeleteMessage,
}
# The history line a delivered message of these purposes leaves, with the message in it: the
# person's reply to a delivered message, a coordinator's to a relayed message or a note prompt,
# is found by it (IntakeRepository.by_message); erasure deletes a relayed message.
RESULT_ACTIONS: dict[str, HistoryAction] = {
    handoff.Purpose.TO_PERSON: HistoryAction.DELIVERED,
    handoff.Purpose.RELAY: HistoryAction.RELAYED,
    handoff.Purpose.NOTE_PROMPT: HistoryAction.NOTE_ASKED,
}
# The outbox is read again at least this often, besides whenever `coordinator.wake` is set.
IDLE_POLL = 30.0
ERROR_PAUSE = 5.0


def is_permanent(delivery: Delivery) -> bool:
    return delivery.failed_for_good


def error_type(last_error: str) -> str:
    return last_error.strip().split(":", 1)[0] or "-"


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


async def build_method(services: Services, delivery: Delivery) -> TelegramMethod[Any]:
    """The Bot API call of a delivery, with the card's chat and message id filled in."""
    method = METHODS.get(delivery.method)
    if method is None:
        raise Undeliverable(f"unknown method {delivery.method}")
    payload = dict(delivery.payload)
    chat_id = delivery.chat_id
    if delivery.purpose == handoff.Purpose.CARD_EDIT or delivery.purpose in handoff.UNDER_CARD:
        intake = await services.intakes.get(delivery.intake_number or "")
        card = (intake.card_chat_id, intake.card_message_id) if intake else (None, None)
        if delivery.purpose == handoff.Purpose.CARD_EDIT:
            if card[0] is None or card[1] is None:
                raise Undeliverable("the card was never delivered")
            chat_id = card[0]
            payload["message_id"] = card[1]
        elif card[1] is not None and card[0] == chat_id:
            payload["reply_parameters"] = {
                "message_id": card[1],
                "allow_sending_without_reply": True,
            }
    try:
        return method(chat_id=chat_id, **payload)
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        # A stored payload that does not make a call never will: retrying would stop the chat.
        raise Undeliverable(f"{delivery.method} does not fit its payload") from exc


@dataclass(frozen=True, slots=True)
class _Round:
    put: int
    # When the first chat that waits after a failure from before a restart may go on.
    next_due: datetime | None


class DeliveryOutbox:
    """Hands the outbox to the sender; start `run()` as a task (tests call `drain()`)."""

    def __init__(self, services: Services, sender: Sender) -> None:
        self.services = services
        self.sender = sender
        # Ids of the deliveries the sender holds: a delivery is put once until it is done.
        self._queued: set[str] = set()
        self._lock = asyncio.Lock()
        self._last_log = ""

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Read the outbox whenever something was queued (and every IDLE_POLL seconds)."""
        log.info("outbox source started")
        wake = self.services.coordinator.wake
        while True:
            # Cleared before the read: whatever is queued after it sets the event again.
            wake.clear()
            try:
                result = await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the outbox failed; trying again shortly")
                wait = ERROR_PAUSE
            else:
                wait = IDLE_POLL
                if result.next_due is not None:
                    left = (result.next_due - self.services.clock.now()).total_seconds()
                    wait = min(wait, max(left, 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait)

    async def refresh(self) -> int:
        """Put every pending delivery that the sender does not hold yet into it, oldest first;
        returns how many."""
        return (await self._refresh()).put

    async def drain(self) -> None:
        """Hand over the outbox and wait until the sender sent it all, again and again while
        that queues more (a notice about an undeliverable message)."""
        while True:
            put = await self.refresh()
            await self.sender.idle()
            if not put:
                return

    async def _refresh(self) -> _Round:
        services = self.services
        async with self._lock:
            pending = list(await services.outbox.pending())
            now = services.clock.now()
            self._log_queue(pending, now)
            blocked: set[int] = set()
            next_due: datetime | None = None
            put = 0
            for delivery in pending:
                if is_permanent(delivery) or delivery.id in self._queued:
                    continue
                if delivery.chat_id in blocked:
                    continue
                due = parse_iso(delivery.next_attempt_at) if delivery.next_attempt_at else now
                if due > now:
                    # It was waiting after a failure when the process stopped: its chat waits
                    # with it, so that nothing overtakes it.
                    blocked.add(delivery.chat_id)
                    next_due = due if next_due is None else min(next_due, due)
                    continue
                self._queued.add(delivery.id)
                self.sender.put(DeliveryCall(self, delivery))
                put += 1
            return _Round(put=put, next_due=next_due)

    def _log_queue(self, pending: Sequence[Delivery], now: datetime) -> None:
        text = summarize(pending, now).log_text() if pending else ""
        # Only when the picture changes, and only counts: no text, names or chat ids.
        shape = text.split(", oldest")[0]
        if shape != self._last_log:
            self._last_log = shape
            if text:
                log.info("outbox: %s", text)

    def done(self, delivery_id: str) -> None:
        """The sender let go of this delivery: a later read may put it again if still pending."""
        self._queued.discard(delivery_id)

    # -- results ---------------------------------------------------------------------------

    async def delivered(self, delivery: Delivery, result: Any) -> None:
        """Record what the send gave (the card's id, the audit lines), then mark it delivered:
        a kill between the two sends it again (a card already placed is not, see `prepare`),
        rather than losing the id that later edits and erasure need."""
        services = self.services
        now = services.clock.now()
        number = delivery.intake_number
        if number is not None and isinstance(result, Message):
            await self._record_result(delivery, number, result, utc_iso(now))
        await services.outbox.mark_delivered(delivery.id, now)

    async def _record_result(
        self, delivery: Delivery, number: str, result: Message, at: str
    ) -> None:
        intakes = self.services.intakes
        chat_id, message_id = result.chat.id, result.message_id
        sent = [MessageRef(chat_id, message_id)]
        if delivery.purpose == handoff.Purpose.CARD:
            await intakes.update(
                number,
                "bot",
                HistoryAction.CARD_PLACED,
                f"kaart {message_id}",
                card=(chat_id, message_id),
                messages=sent,
            )
            return
        action = RESULT_ACTIONS.get(delivery.purpose)
        if action is not None:
            await intakes.record(number, HistoryEntry(at, "bot", action, messages=sent))

    async def retrying(
        self, delivery: Delivery, error: BaseException, attempts: int, delay: float
    ) -> None:
        now = self.services.clock.now()
        await self.services.outbox.mark_failed(
            delivery.id, f"{type(error).__name__}: {_brief(error)}", now + timedelta(seconds=delay)
        )
        log.warning(
            "delivery %s (%s to %s) failed: %s; next try in %.0f s (attempt %d)",
            delivery.id[:8], delivery.purpose or delivery.method, _kind(delivery.chat_id),
            type(error).__name__, delay, attempts,
        )  # fmt: skip

    async def give_up(self, delivery: Delivery, error: BaseException) -> None:
        services = self.services
        await services.outbox.mark_failed(
            delivery.id, f"{type(error).__name__}: {_brief(error)}", None
        )
        log.warning(
            "delivery %s (%s to %s, %s) failed for good: %s",
            delivery.id[:8], delivery.purpose or delivery.method, _kind(delivery.chat_id),
            delivery.intake_number or "-", type(error).__name__,
        )  # fmt: skip
        if delivery.purpose == handoff.Purpose.TO_PERSON and delivery.intake_number:
            intake = await services.intakes.get(delivery.intake_number)
            if intake is not None:
                await services.intakes.record(
                    intake.number,
                    HistoryEntry.new(
                        services.clock.now(), HistoryAction.NOT_DELIVERED, type(error).__name__
                    ),
                )
                lang = services.settings.DEFAULT_LANGUAGE
                text = services.renderer.render(lang, "coord_undeliverable", number=intake.number)
                await handoff.queue_under_card(
                    services, intake, text, purpose=handoff.Purpose.GROUP_NOTICE
                )
        elif delivery.purpose == handoff.Purpose.RELAY and not is_group(delivery.chat_id):
            # A person's message that cannot reach the coordinator's private chat.
            await relay.undeliverable(services, delivery)

    async def replaced(self, delivery: Delivery) -> None:
        # The later edit shows everything this one would have: it is done.
        await self.services.outbox.mark_delivered(delivery.id, self.services.clock.now())


class DeliveryCall:
    """One delivery in the sender's queue."""

    cosmetic = False

    def __init__(self, source: DeliveryOutbox, delivery: Delivery) -> None:
        self.source = source
        self.delivery = delivery
        self.id = delivery.id
        self.chat_id = delivery.chat_id
        number = delivery.intake_number
        self.supersedes: str | None = (
            f"card:{number}" if delivery.purpose == handoff.Purpose.CARD_EDIT and number else None
        )

    async def prepare(self) -> TelegramMethod[Any] | None:
        current = await self.source.services.outbox.get(self.id)
        if current is None or is_permanent(current):
            # Erased while it waited, or this is a second copy of a delivery already done (a
            # read of the outbox that overlapped its delivery).
            self.source.done(self.id)
            return None
        self.delivery = current
        if current.purpose == handoff.Purpose.CARD and current.intake_number:
            intake = await self.source.services.intakes.get(current.intake_number)
            if intake is not None and intake.card_message_id is not None:
                # Placed before a restart that cut off marking it delivered.
                await self.source.replaced(current)
                self.source.done(self.id)
                return None
        return await build_method(self.source.services, current)

    # `done` only after the outcome is stored: if storing fails, the sender tries the call
    # again and `prepare` sees what was stored, and no second copy is put meanwhile.

    async def sent(self, result: Any) -> None:
        await self.source.delivered(self.delivery, result)
        self.source.done(self.id)

    async def failed(self, error: BaseException) -> None:
        await self.source.give_up(self.delivery, error)
        self.source.done(self.id)

    async def retrying(self, error: BaseException, attempts: int, delay: float) -> None:
        await self.source.retrying(self.delivery, error, attempts, delay)

    async def superseded(self) -> None:
        await self.source.replaced(self.delivery)
        self.source.done(self.id)


def _kind(chat_id: int) -> str:
    return "group" if is_group(chat_id) else pseudonym(chat_id)


def _brief(exc: BaseException) -> str:
    # Telegram's error descriptions name no person; cut them short anyway.
    return str(getattr(exc, "message", "") or exc)[:120]


__all__ = [
    "DeliveryCall",
    "DeliveryOutbox",
    "QueueSummary",
    "build_method",
    "is_permanent",
    "summarize",
]

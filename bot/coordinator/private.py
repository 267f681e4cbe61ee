"""Personal data go to a coordinator's private chat with the bot, never to the group.

A view of an intake, a note prompt and an export are sent to the coordinator's own chat
(`chat_id` = their user id) through the sender, kept in memory only like every direct answer to
a coordinator. Telegram refuses that (403, "chat not found") until the coordinator has opened a
private chat with the bot and pressed Start: then the group is told so, or the button's toast
says it.

What left is written to the audit trail once it left (`on_sent`), with the message it made
(`HistoryEntry.messages`), so that an erasure deletes it again (bot/privacy.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNotFound
from aiogram.methods import SendMessage
from aiogram.types import Message, ReplyParameters, User

from bot.coordinator import audit
from bot.coordinator.cards import coordinator_lang, view_context
from bot.logging_setup import pseudonym
from bot.sender import Sender, VolatileCall
from bot.services import Services
from flows.records import HistoryAction, Intake, MessageRef

log = logging.getLogger(__name__)

# How long a button waits to hear whether its private message went out: a callback query must
# be answered within seconds, whatever the sender is waiting for (a 429, say).
BUTTON_WAIT = 5.0

OnSent = Callable[[Any], Awaitable[None]]
OnFailed = Callable[[BaseException], Awaitable[None]]


def cannot_reach(error: BaseException) -> bool:
    """Telegram's answer when the coordinator never started the bot, or blocked it."""
    if isinstance(error, TelegramForbiddenError | TelegramNotFound):
        return True
    return isinstance(error, TelegramBadRequest) and "chat not found" in error.message.lower()


def sent_ref(result: Any) -> list[MessageRef]:
    """The message a call made, for the audit trail; none when Telegram returned none."""
    if isinstance(result, Message):
        return [MessageRef(result.chat.id, result.message_id)]
    return []


def group_line(
    services: Services, sender: Sender, chat_id: int, reply_to: int | None, **context: Any
) -> None:
    """A short line in the group about something that went to a private chat (coord_private)."""
    text = services.renderer.render(
        coordinator_lang(services),
        "coord_private",
        username=services.bot_username,
        **context,
    )
    reply = (
        None
        if reply_to is None
        else ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
    )
    sender.send_volatile(SendMessage(chat_id=chat_id, text=text, reply_parameters=reply), chat_id)


def to_coordinator(
    sender: Sender,
    user_id: int,
    text: str,
    *,
    on_sent: OnSent | None = None,
    on_failed: OnFailed | None = None,
) -> asyncio.Future[bool]:
    """Send `text` to the coordinator's private chat; the future says whether it got there."""
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def sent(result: Any) -> None:
        try:
            if on_sent is not None:
                await on_sent(result)
        except Exception:
            # Raising here would make the sender send the personal data a second time.
            log.exception("after a private message to a coordinator")
        if not outcome.done():
            outcome.set_result(True)

    async def failed(error: BaseException) -> None:
        log.info(
            "a private message to coordinator %s failed: %s",
            pseudonym(user_id),
            type(error).__name__,
        )
        try:
            if on_failed is not None:
                await on_failed(error)
        except Exception:
            log.exception("after a failed private message to a coordinator")
        if not outcome.done():
            outcome.set_result(False)

    method = SendMessage(chat_id=user_id, text=text)
    sender.put(VolatileCall(method, user_id, on_sent=sent, on_failed=failed))
    return outcome


async def in_time(outcome: asyncio.Future[bool], wait: float = BUTTON_WAIT) -> bool:
    """Whether the private message went out; after `wait` it is taken to be on its way (the
    sender still delivers it, and audits it then)."""
    try:
        return await asyncio.wait_for(asyncio.shield(outcome), timeout=wait)
    except TimeoutError:
        return True


def show_intake(
    services: Services,
    sender: Sender,
    intake: Intake,
    user: User,
    *,
    action: HistoryAction,
    group_chat: int | None = None,
    reply_to: int | None = None,
) -> asyncio.Future[bool]:
    """The whole intake to the coordinator's private chat, audited as `action` once sent. With
    `group_chat` (the command came from the group) the group hears where it went."""
    text = services.renderer.render(
        coordinator_lang(services), "coord_intake", **view_context(services, intake)
    )
    by = audit.actor(user)

    async def sent(result: Any) -> None:
        await audit.record(services, [intake.number], by, action, audit.PRIVATE, sent_ref(result))
        if group_chat is not None:
            group_line(
                services, sender, group_chat, reply_to, key="view_sent", number=intake.number
            )

    async def failed(error: BaseException) -> None:
        if group_chat is not None:
            key = "start_bot" if cannot_reach(error) else "failed"
            group_line(services, sender, group_chat, reply_to, key=key)

    return to_coordinator(sender, user.id, text, on_sent=sent, on_failed=failed)


def ask_note(
    services: Services, sender: Sender, intake: Intake, user: User
) -> asyncio.Future[bool]:
    """The note prompt, to the coordinator's private chat: a note is free text about a person,
    so it is written there, and its reply is matched by the reference kept here."""
    text = services.renderer.render(
        coordinator_lang(services), "coord_note_prompt", number=intake.number
    )
    by = audit.actor(user)

    async def sent(result: Any) -> None:
        ref = sent_ref(result)
        if ref:
            # The reply to this prompt is found by this message (IntakeRepository.by_message).
            await audit.record(services, [intake.number], by, HistoryAction.NOTE_ASKED, "", ref)

    return to_coordinator(sender, user.id, text, on_sent=sent)


class Export:
    """The files of one /export, sent to the requester's private chat and audited together once
    each was sent or failed for good.

    Audit: one entry on every exported intake, naming the coordinator and the messages (the
    files in their chat). Per intake rather than one line somewhere else, because the question
    the audit answers is per person ("who has had my data?"), and because erasure deletes the
    files it finds named there.
    """

    def __init__(
        self,
        services: Services,
        sender: Sender,
        numbers: list[str],
        user: User,
        files: int,
        *,
        group_chat: int | None,
        reply_to: int | None,
    ) -> None:
        self.services = services
        self.sender = sender
        self.numbers = numbers
        self.by = audit.actor(user)
        self.chat_id = user.id
        self.group_chat = group_chat
        self.reply_to = reply_to
        self._left = files
        self._sent: list[MessageRef] = []
        self._errors: list[BaseException] = []

    def call(self, method: Any) -> VolatileCall:
        return VolatileCall(
            method, self.chat_id, on_sent=self._sent_one, on_failed=self._failed_one
        )

    async def _sent_one(self, result: Any) -> None:
        self._sent.extend(sent_ref(result))
        await self._settled()

    async def _failed_one(self, error: BaseException) -> None:
        log.warning("an export file was not sent: %s", type(error).__name__)
        self._errors.append(error)
        await self._settled()

    async def _settled(self) -> None:
        self._left -= 1
        if self._left:
            return
        if self._sent:
            try:
                await audit.record(
                    self.services,
                    self.numbers,
                    self.by,
                    HistoryAction.EXPORTED,
                    audit.PRIVATE,
                    self._sent,
                )
            except Exception:
                # Raising here would make the sender send the file a second time.
                log.exception("the audit of an export failed")
        if self.group_chat is None:
            return
        if self._sent:
            key = "export_sent"
        elif any(cannot_reach(e) for e in self._errors):
            key = "start_bot"
        else:
            key = "failed"
        group_line(self.services, self.sender, self.group_chat, self.reply_to, key=key)

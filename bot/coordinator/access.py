"""Who may use the coordinator commands and buttons.

COORDINATOR_IDS is the authority: a user may when their id is on that list, in the group and in a
private chat alike. Being in the coordinators' group is not enough, because membership is managed
in Telegram and nobody audits it.

With COORDINATOR_ACCESS=group (an opt-in, see the README for its risk) every member of the
coordinators' group (COORDINATOR_CHAT_ID) may too, according to getChatMember. Memberships are
then cached for a few minutes, so a busy group costs one API call per person per five minutes,
and somebody removed from the group loses access within that time. If Telegram cannot be asked,
the answer is no.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User

from bot.coordinator.state import Membership
from bot.logging_setup import pseudonym
from bot.services import Services

log = logging.getLogger(__name__)

MEMBER_TTL = timedelta(minutes=5)
NOT_MEMBER_TTL = timedelta(minutes=1)
_MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})


async def is_coordinator(bot: Bot, services: Services, user: User | None) -> bool:
    if user is None or user.is_bot:
        return False
    settings = services.settings
    if settings.is_coordinator_id(user.id):
        return True
    group = settings.COORDINATOR_CHAT_ID
    if settings.COORDINATOR_ACCESS != "group" or group is None:
        return False
    now = services.clock.now()
    cache = services.coordinator.members
    known = cache.get(user.id)
    if known is not None and known.until > now:
        return known.allowed
    try:
        member = await bot.get_chat_member(chat_id=group, user_id=user.id)
    except TelegramAPIError as exc:
        log.warning(
            "membership of %s unknown (%s): access refused", pseudonym(user.id), type(exc).__name__
        )
        return False
    status = str(member.status)
    allowed = status in _MEMBER_STATUSES or (
        status == "restricted" and bool(getattr(member, "is_member", False))
    )
    cache[user.id] = Membership(allowed, now + (MEMBER_TTL if allowed else NOT_MEMBER_TTL))
    return allowed


def coordinator_place(services: Services, chat: Chat) -> bool:
    """Coordinator commands work in the coordinators' group and in a private chat, nowhere else."""
    return chat.type == "private" or chat.id == services.settings.COORDINATOR_CHAT_ID


def _chat_of(event: TelegramObject) -> Chat | None:
    if isinstance(event, Message):
        return event.chat
    if isinstance(event, CallbackQuery) and event.message is not None:
        return event.message.chat
    return None


class Coordinator(Filter):
    """The sender is a coordinator and the chat is the coordinators' group or a private chat."""

    async def __call__(self, event: TelegramObject, bot: Bot, services: Services) -> bool:
        chat = _chat_of(event)
        if chat is None or not coordinator_place(services, chat):
            return False
        user = event.from_user if isinstance(event, Message | CallbackQuery) else None
        return await is_coordinator(bot, services, user)


class InCoordinatorGroup(Filter):
    async def __call__(self, event: TelegramObject, services: Services) -> bool:
        chat = _chat_of(event)
        return chat is not None and chat.id == services.settings.COORDINATOR_CHAT_ID


def in_private(event: TelegramObject) -> bool:
    """Whether personal details may be shown where this event happened: only a private chat
    (the coordinator's own chat with the bot), never a group."""
    chat = _chat_of(event)
    return chat is not None and chat.type == "private"

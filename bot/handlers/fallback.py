"""Everything the other handlers do not take: a kind answer, and nothing stored changes.

Registered last, so known commands and answers are matched first.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.methods import LeaveChat, SendMessage
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.chat import Chat
from bot.chat_state import ScreenKind
from bot.filters import IsCommand, NotPrivateChat, PrivateChat
from bot.handlers.intake import role_in, stale, start_role
from bot.screens import show_current, show_welcome
from bot.sender import Sender
from bot.services import Services


async def edited(message: Message, chat: Chat) -> None:
    chat.say(chat.render("edited", flow=chat.record.flow))
    if chat.record.flow is not None:
        show_current(chat)


async def edited_elsewhere(message: Message) -> None:
    """Edits in groups are ordinary group life; the coordinator router sees its own."""


async def unknown_command(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    chat.say(chat.render("unknown_command"))
    if chat.record.flow is not None:
        show_current(chat)


async def anything_else(message: Message, chat: Chat) -> None:
    """Photos, stickers, voice, files, or text when no intake is running."""
    record = chat.record
    record.track(message.message_id)
    if message.text is None:
        chat.say(chat.render("not_text", flow=record.flow))
        show_current(chat)
    elif record.screen_is(ScreenKind.WELCOME_IDLE) and (role := role_in(message.text)) is not None:
        # The welcome was shown (after a sticker, say) without a state: "1" still picks a role.
        start_role(chat, role)
    elif record.submitting is not None:
        show_current(chat)  # typed while the intake is being sent: say so, start nothing
    else:
        show_welcome(chat)


async def stale_button(
    callback: CallbackQuery, chat: Chat, callback_answer: CallbackAnswer
) -> None:
    """A button whose data does not parse or belongs to no screen the person is on."""
    stale(chat, callback_answer)


async def group_button(
    callback: CallbackQuery, services: Services, callback_answer: CallbackAnswer
) -> None:
    callback_answer.text = services.renderer.render(
        services.settings.DEFAULT_LANGUAGE, "private_only_short"
    )


async def group_message(message: Message, services: Services, sender: Sender) -> None:
    """The intake runs only in private chats. Answer commands and mentions, not every chat line."""
    text = message.text or message.caption or ""
    mentioned = (
        bool(services.bot_username) and f"@{services.bot_username}".casefold() in text.casefold()
    )
    replied_to_bot = (
        message.reply_to_message is not None
        and message.reply_to_message.from_user is not None
        and message.reply_to_message.from_user.is_bot
    )
    # "/start@other_bot" in a group with several bots is not for us.
    target = text.split(maxsplit=1)[0].partition("@")[2] if text.startswith("/") else ""
    command = text.startswith("/") and (
        not target or target.casefold() == services.bot_username.casefold()
    )
    if command or mentioned or replied_to_bot:
        reply = services.renderer.render(
            services.settings.DEFAULT_LANGUAGE, "private_only", username=services.bot_username
        )
        sender.send_volatile(
            SendMessage(
                chat_id=message.chat.id, text=reply, reply_to_message_id=message.message_id
            ),
            message.chat.id,
        )


async def channel_post(message: Message, services: Services, sender: Sender) -> None:
    """A channel is no place for an intake: say so once, and leave rather than post again."""
    reply = services.renderer.render(
        services.settings.DEFAULT_LANGUAGE, "private_only", username=services.bot_username
    )
    sender.send_volatile(SendMessage(chat_id=message.chat.id, text=reply), message.chat.id)
    # Leaving is no message, but it goes the same way: paced, retried, never a traceback.
    sender.send_volatile(LeaveChat(chat_id=message.chat.id), message.chat.id)


def build_router() -> Router:
    """A new router with these handlers, in the order they are tried.

    Each Dispatcher needs its own: aiogram attaches a router to one parent only, so a module-level
    router would make a second `create_dispatcher` (a test, a restart in one process) fail.
    """
    router = Router(name=__name__)
    router.edited_message.register(edited, PrivateChat())
    router.edited_message.register(edited_elsewhere)
    router.message.register(unknown_command, PrivateChat(), IsCommand())
    router.message.register(anything_else, PrivateChat())
    router.callback_query.register(stale_button, PrivateChat())
    router.callback_query.register(group_button, NotPrivateChat())
    router.message.register(group_message, NotPrivateChat())
    router.channel_post.register(channel_post)
    return router

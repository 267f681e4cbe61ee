"""Everything the other handlers do not take: a kind answer, and nothing stored changes.

Registered last, so known commands and answers are matched first.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import chat_state
from bot.chat_state import IntakeStates
from bot.filters import IsCommand, NotPrivateChat, PrivateChat
from bot.handlers.intake import load_record, role_in, start_role
from bot.screens import send, show_current, show_welcome, welcome_on_screen
from bot.services import Services


async def edited(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    if message.chat.type != "private":
        return  # edits in groups are ordinary group life; the coordinator router sees its own
    record = await load_record(state, message.from_user, services)
    await send(
        bot,
        message.chat.id,
        record,
        services.renderer.render(record.lang, "edited", flow=record.flow),
    )
    if record.flow is not None:
        await show_current(bot, message.chat.id, services, record, state)
    await chat_state.save(state, record)


async def unknown_command(
    message: Message, state: FSMContext, services: Services, bot: Bot
) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    await send(
        bot, message.chat.id, record, services.renderer.render(record.lang, "unknown_command")
    )
    if record.flow is not None:
        await show_current(bot, message.chat.id, services, record, state)
    await chat_state.save(state, record)


async def anything_else(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    """Photos, stickers, voice, files, or text when no intake is running."""
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    if message.text is None:
        await send(
            bot,
            message.chat.id,
            record,
            services.renderer.render(record.lang, "not_text", flow=record.flow),
        )
        await show_current(bot, message.chat.id, services, record, state)
    elif welcome_on_screen(record) and (role := role_in(message.text)) is not None:
        # The welcome was shown (after a sticker, say) without a state: "1" still picks a role.
        await start_role(bot, message.chat.id, services, state, record, role)
    else:
        await state.set_state(IntakeStates.choosing_role)
        await show_welcome(bot, message.chat.id, services, record)
    await chat_state.save(state, record)


async def stale_button(
    callback: CallbackQuery, state: FSMContext, services: Services, bot: Bot
) -> None:
    """A button whose data does not parse or belongs to no screen the person is on."""
    await callback.answer()
    record = await load_record(state, callback.from_user, services)
    chat_id = callback.from_user.id
    await send(
        bot,
        chat_id,
        record,
        services.renderer.render(
            record.lang, "stale", busy=record.flow is not None, flow=record.flow
        ),
    )
    if record.flow is None:
        await state.set_state(IntakeStates.choosing_role)
    await show_current(bot, chat_id, services, record, state)
    await chat_state.save(state, record)


async def group_button(callback: CallbackQuery, services: Services) -> None:
    await callback.answer(
        services.renderer.render(services.settings.DEFAULT_LANGUAGE, "private_only_short")
    )


async def group_message(message: Message, services: Services, bot: Bot) -> None:
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
        await bot.send_message(
            chat_id=message.chat.id, text=reply, reply_to_message_id=message.message_id
        )


async def channel_post(message: Message, services: Services, bot: Bot) -> None:
    """A channel is no place for an intake: say so once, and leave rather than post again."""
    reply = services.renderer.render(
        services.settings.DEFAULT_LANGUAGE, "private_only", username=services.bot_username
    )
    await bot.send_message(chat_id=message.chat.id, text=reply)
    await bot.leave_chat(chat_id=message.chat.id)


def build_router() -> Router:
    """A new router with these handlers, in the order they are tried.

    Each Dispatcher needs its own: aiogram attaches a router to one parent only, so a module-level
    router would make a second `create_dispatcher` (a test, a restart in one process) fail.
    """
    router = Router(name=__name__)
    router.edited_message.register(edited)
    router.message.register(unknown_command, PrivateChat(), IsCommand())
    router.message.register(anything_else, PrivateChat())
    router.callback_query.register(stale_button, PrivateChat())
    router.callback_query.register(group_button, NotPrivateChat())
    router.message.register(group_message, NotPrivateChat())
    router.channel_post.register(channel_post)
    return router

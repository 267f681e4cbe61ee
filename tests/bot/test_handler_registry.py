"""`Handlers` (bot/handlers/registry.py): a module declares its handlers once and every
Dispatcher gets a router of its own, which routes updates in the order they were declared.

Commands are routed apart from other messages (behind one cheap gate); that keeps the declared
order only if a module declares its commands first, so a command declared later is refused.
"""

from __future__ import annotations

import pytest
from aiogram import Bot, Dispatcher
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.filters import PrivateChat
from bot.handlers.registry import Handlers
from tests.support.updates import callback_update, group_message_update, message_update


def test_a_command_declared_after_a_message_handler_is_refused() -> None:
    handlers = Handlers("example")

    @handlers.message()
    async def anything(message: Message) -> None: ...

    @handlers.message(Command("help"))
    async def help_command(message: Message) -> None: ...

    with pytest.raises(ValueError, match="help_command is declared after a message handler"):
        handlers.build()


def _example(handled: list[str]) -> Handlers:
    handlers = Handlers("example", message=(PrivateChat(),))

    @handlers.message(Command("help"))
    async def help_command(message: Message) -> None:
        handled.append(f"help: {message.text}")

    @handlers.message()
    async def anything(message: Message) -> None:
        handled.append(f"anything: {message.text}")

    @handlers.callback_query()
    async def button(callback: CallbackQuery) -> None:
        handled.append(f"button: {callback.data}")

    return handlers


async def test_each_message_reaches_the_handler_declared_for_it(bot: Bot) -> None:
    handled: list[str] = []
    handlers = _example(handled)
    # Two Dispatchers in one process (a test after another, a restart in place) each route.
    for _ in range(2):
        dispatcher = Dispatcher()
        dispatcher.include_router(handlers.build())
        handled.clear()
        await dispatcher.feed_update(bot, message_update("/help"))
        await dispatcher.feed_update(bot, message_update("hallo"))
        await dispatcher.feed_update(bot, message_update("/onbekend"))  # not a command here
        await dispatcher.feed_update(bot, callback_update("x:1"))
        await dispatcher.feed_update(bot, group_message_update("/help"))  # the router's filter
        assert handled == [
            "help: /help",
            "anything: hallo",
            "anything: /onbekend",
            "button: x:1",
        ]

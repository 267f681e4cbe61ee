"""Async filters. aiogram runs a synchronous filter (a magic `F` filter) in a worker thread,
about 100 µs each (docs/telegram-limits.md); these are coroutines and cost next to nothing."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject


def _chat_type(event: TelegramObject) -> str | None:
    if isinstance(event, Message):
        return event.chat.type
    if isinstance(event, CallbackQuery) and event.message is not None:
        return event.message.chat.type
    return None


class PrivateChat(Filter):
    async def __call__(self, event: TelegramObject) -> bool:
        return _chat_type(event) == "private"


class NotPrivateChat(Filter):
    async def __call__(self, event: TelegramObject) -> bool:
        kind = _chat_type(event)
        return kind is not None and kind != "private"


class HasText(Filter):
    """Typed text that is not a /command: an unknown command must reach the fallback's "I do
    not know that command", not be taken as an answer (and counted as a miss)."""

    async def __call__(self, message: Message) -> bool:
        return message.text is not None and not message.text.startswith("/")


class IsCommand(Filter):
    """Any message that starts with a slash: known commands are matched before this."""

    async def __call__(self, message: Message) -> bool:
        return message.text is not None and message.text.startswith("/")

"""Keep aiogram's response models alive for the whole process.

aiogram decodes every Bot API answer with `Response[method.__returning__]`. pydantic caches such
parametrised models only in a `WeakValueDictionary`, and a model class lives in reference cycles,
so whenever the cyclic GC runs and no request is in flight it frees them, and the next call builds
the model again: 1-20 ms each (`Response[list[Update]]` the slowest). Under load that happened
every few hundred updates: `python -m bench.step_bench` counted 32 rebuilds in one round of 300
intake steps. Holding one reference per returned type for the methods the bot calls stops that.
"""

from __future__ import annotations

from typing import Any

from aiogram import methods
from aiogram.methods.base import Response

USED_METHODS: tuple[type[methods.TelegramMethod[Any]], ...] = (
    methods.GetUpdates,
    methods.GetMe,
    methods.SendMessage,
    methods.EditMessageText,
    methods.EditMessageReplyMarkup,
    methods.AnswerCallbackQuery,
    methods.DeleteMessage,
    methods.DeleteMessages,
    methods.SendDocument,
    methods.SendPhoto,
    methods.SetMyCommands,
    methods.DeleteWebhook,
    methods.SetWebhook,
    methods.GetChat,
    methods.GetChatMember,
    methods.GetFile,
    methods.LeaveChat,
    methods.SetMessageReaction,
)

_kept: dict[Any, type[Response[Any]]] = {}


def response_model(returning: Any) -> type[Response[Any]]:
    """`Response[returning]`, built once and held for the whole process (see above)."""
    model = _kept.get(returning)
    if model is None:
        model = _kept[returning] = Response[returning]
    return model


def keep_response_models() -> None:
    """Build (once) and hold the response model of every method in USED_METHODS."""
    for method in USED_METHODS:
        response_model(method.__returning__)


__all__ = ["USED_METHODS", "keep_response_models", "response_model"]

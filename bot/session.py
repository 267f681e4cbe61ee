"""The HTTP session to the Bot API: aiogram's `AiohttpSession`, with cheaper encoding and decoding.

`python -m bench.step_bench` showed aiogram's per-call work to be most of an intake step:

- Encoding. aiogram dumps the whole method to Python dicts (`model_dump`) and then walks the
  result with `prepare_value`, one Python call per key, value and list item (about 170 calls for
  one question with its keyboard). Our keyboards are built once and never changed
  (`bot/keyboards.py`), so the encoded form of a keyboard is kept beside it, keyed by the object
  itself: the second time the same keyboard is sent, its JSON is reused.
- Decoding. aiogram parses every answer with `json.loads` and then validates the dicts; pydantic
  validates straight from the JSON text in one pass (`model_validate_json`), which is faster and
  gives the same objects. Errors (not `ok`, or a status outside 2xx) still go through aiogram's
  own `check_response`, so every `TelegramAPIError` subclass is raised exactly as before.

Both are pure functions of their input, so the bytes on the wire and the objects handed back are
the same as aiogram's: `tests/bot/test_session.py` compares them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    InputFile,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiohttp import FormData
from pydantic import ValidationError

from bot.api_models import response_model

# Reply markups hold no files, dates or defaults, so their encoding depends on nothing but
# themselves; other objects (media with files, link previews with defaults) go the long way.
MARKUP_TYPES = (InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove, ForceReply)

# Enough for every cached keyboard of both flows in both languages with room to spare; keyboards
# built per message (multiple choice with ticks) come and go, so the cache is emptied when full.
MARKUP_CACHE_SIZE = 4096


class EncodingCache:
    """Encoded reply markups, keyed by the markup object (kept alive here, so ids stay unique)."""

    def __init__(self, size: int = MARKUP_CACHE_SIZE) -> None:
        self._size = size
        self._encoded: dict[int, tuple[object, str]] = {}

    def get(self, markup: object) -> str | None:
        hit = self._encoded.get(id(markup))
        if hit is not None and hit[0] is markup:
            return hit[1]
        return None

    def put(self, markup: object, encoded: str) -> None:
        if len(self._encoded) >= self._size:
            self._encoded.clear()
        self._encoded[id(markup)] = (markup, encoded)

    def __len__(self) -> int:
        return len(self._encoded)


class BaanwijzerSession(AiohttpSession):
    """`AiohttpSession` with the encoding and decoding above; the rest is aiogram's."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._markups = EncodingCache()

    def build_form_data(self, bot: Bot, method: TelegramMethod[TelegramType]) -> FormData:
        """aiogram's form, with each reply markup encoded once per object."""
        form = FormData(quote_fields=False)
        files: dict[str, InputFile] = {}
        for key, raw in method:
            if raw is None:
                continue
            value: Any
            if isinstance(raw, MARKUP_TYPES):
                value = self._markups.get(raw)
                if value is None:
                    value = self.prepare_value(raw, bot=bot, files=files)
                    self._markups.put(raw, value)
            else:
                value = self.prepare_value(raw, bot=bot, files=files)
            if not value:
                continue
            form.add_field(key, value)
        for key, file in files.items():
            form.add_field(key, file.read(bot), filename=file.filename or key)
        return form

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        """A successful answer is validated straight from its JSON; the rest as aiogram does."""
        if HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED:
            model = response_model(method.__returning__)
            try:
                response = model.model_validate_json(content, context={"bot": bot})
            except ValidationError:
                pass  # aiogram's check_response below raises its ClientDecodeError
            else:
                if response.ok:
                    return response
        return super().check_response(
            bot=bot, method=method, status_code=status_code, content=content
        )


__all__ = ["MARKUP_TYPES", "BaanwijzerSession", "EncodingCache"]

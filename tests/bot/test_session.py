"""The production session encodes and decodes exactly as aiogram's AiohttpSession does.

`BaanwijzerSession` reuses the encoded form of a keyboard object and validates answers straight
from JSON (bot/session.py). These tests compare its form fields and its results with aiogram's
own `AiohttpSession` for the calls the bot makes, and check that error answers still raise
aiogram's exceptions.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardRemove,
)

from bot.session import BaanwijzerSession, EncodingCache


def _bot(session: AiohttpSession) -> Bot:
    return Bot(token="42:TEST", session=session, default=DefaultBotProperties(parse_mode="HTML"))


def _fields(session: AiohttpSession, bot: Bot, method: TelegramMethod[Any]) -> list[Any]:
    """What goes on the wire: (name, filename, content type, value) per form field."""
    form = session.build_form_data(bot, method)
    attached: dict[str, str] = {}  # the random attach:// names, numbered in order
    fields = []
    for options, headers, value in form._fields:
        name = options["name"]
        if isinstance(value, str) and value.startswith("attach://"):
            value = attached.setdefault(value.removeprefix("attach://"), f"#{len(attached)}")
        elif not isinstance(value, str):
            value = type(value).__name__  # the file's content stream
        fields.append((attached.get(name, name), options.get("filename"), dict(headers), value))
    return fields


def _keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="1. Ja, dat is goed", callback_data="a:c:0:0")],
            [InlineKeyboardButton(text='<b>Nee</b> & "quotes" ü', callback_data="a:c:0:1")],
            [InlineKeyboardButton(text="Website", url="https://example.org/?a=1&b=2")],
        ]
    )


METHODS = [
    pytest.param(lambda kb: SendMessage(chat_id=7, text="ok"), id="send-plain"),
    pytest.param(
        lambda kb: SendMessage(chat_id=7, text="Vraag <b>1</b> van 9", reply_markup=kb),
        id="send-keyboard",
    ),
    pytest.param(
        lambda kb: EditMessageText(chat_id=7, message_id=3, text="✅ Ja", reply_markup=None),
        id="edit-text",
    ),
    pytest.param(
        lambda kb: SendMessage(
            chat_id=-100,
            text="x",
            reply_markup=ReplyKeyboardRemove(),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        id="send-remove-preview",
    ),
    pytest.param(lambda kb: AnswerCallbackQuery(callback_query_id="q1", text="Oké"), id="answer"),
    pytest.param(
        lambda kb: SendDocument(
            chat_id=-100, document=BufferedInputFile(b"a;b\n1;2\n", filename="intakes.csv")
        ),
        id="document",
    ),
]


@pytest.mark.parametrize("make", METHODS)
async def test_form_fields_are_aiograms(make: Any) -> None:
    ours, theirs = BaanwijzerSession(), AiohttpSession()
    bot_ours, bot_theirs = _bot(ours), _bot(theirs)
    keyboard = _keyboard()
    expected = _fields(theirs, bot_theirs, make(keyboard))
    # Twice: the second time the keyboard's encoding comes from the cache.
    assert _fields(ours, bot_ours, make(keyboard)) == expected
    assert _fields(ours, bot_ours, make(keyboard)) == expected
    await ours.close()
    await theirs.close()


async def test_a_keyboard_is_encoded_once_and_an_equal_new_one_again() -> None:
    session = BaanwijzerSession()
    bot = _bot(session)
    keyboard = _keyboard()
    calls: list[Any] = []
    original = session.prepare_value

    def counting(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, InlineKeyboardMarkup):
            calls.append(value)
        return original(value, *args, **kwargs)

    session.prepare_value = counting  # type: ignore[method-assign]
    for _ in range(3):
        _fields(session, bot, SendMessage(chat_id=1, text="q", reply_markup=keyboard))
    assert len(calls) == 1
    other = _keyboard()  # equal content, another object: encoded on its own
    _fields(session, bot, SendMessage(chat_id=1, text="q", reply_markup=other))
    assert len(calls) == 2
    await session.close()


def test_encoding_cache_is_bounded_and_checks_identity() -> None:
    cache = EncodingCache(size=2)
    a, b, c = object(), object(), object()
    cache.put(a, "A")
    cache.put(b, "B")
    assert cache.get(a) == "A"
    assert cache.get(b) == "B"
    cache.put(c, "C")  # full: emptied first
    assert len(cache) == 1
    assert cache.get(c) == "C"
    assert cache.get(a) is None


MESSAGE_JSON = (
    '{"ok":true,"result":{"message_id":5,"date":1764400000,'
    '"chat":{"id":7,"type":"private","first_name":"Sanne"},'
    '"from":{"id":42,"is_bot":true,"first_name":"Baanwijzer"},'
    '"text":"Vraag 1 van 9","reply_markup":{"inline_keyboard":[[{"text":"1. Ja",'
    '"callback_data":"a:c:0:0"}]]}}}'
)


async def test_answers_decode_to_the_same_objects() -> None:
    ours, theirs = BaanwijzerSession(), AiohttpSession()
    bot_ours, bot_theirs = _bot(ours), _bot(theirs)
    method = SendMessage(chat_id=7, text="Vraag 1 van 9")
    mine = ours.check_response(bot_ours, method, 200, MESSAGE_JSON).result
    aiograms = theirs.check_response(bot_theirs, method, 200, MESSAGE_JSON).result
    assert isinstance(mine, Message)
    assert mine == aiograms
    assert mine.reply_markup is not None
    assert mine.reply_markup.inline_keyboard[0][0].callback_data == "a:c:0:0"
    assert mine.bot is bot_ours  # the context reaches the objects, so message.answer works
    done = ours.check_response(
        bot_ours, AnswerCallbackQuery(callback_query_id="q"), 200, '{"ok":true,"result":true}'
    )
    assert done.result is True
    await ours.close()
    await theirs.close()


@pytest.mark.parametrize(
    ("status", "content", "error"),
    [
        (400, '{"ok":false,"error_code":400,"description":"Bad Request: x"}', TelegramBadRequest),
        (
            403,
            '{"ok":false,"error_code":403,"description":"Forbidden: blocked"}',
            TelegramForbiddenError,
        ),
        (
            429,
            '{"ok":false,"error_code":429,"description":"Too Many Requests",'
            '"parameters":{"retry_after":7}}',
            TelegramRetryAfter,
        ),
        (200, "not json", ClientDecodeError),
        (200, '{"ok":true,"result":{"message_id":"x"}}', ClientDecodeError),
    ],
)
async def test_errors_raise_aiograms_exceptions(status: int, content: str, error: type) -> None:
    session = BaanwijzerSession()
    bot = _bot(session)
    with pytest.raises(error):
        session.check_response(bot, SendMessage(chat_id=7, text="x"), status, content)
    await session.close()

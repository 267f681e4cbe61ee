"""The fake Bot API server speaks HTTP the way aiogram's real AiohttpSession expects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound, TelegramRetryAfter
from aiogram.methods import GetUpdates
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from tests.support.bot_api_state import BotApiError
from tests.support.fake_bot_api import FakeBotApiServer, ServerRequest
from tests.support.session import TEST_TOKEN

USER = 2002


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApiServer]:
    async with FakeBotApiServer() as running:
        yield running


@pytest.fixture
async def http_bot(server: FakeBotApiServer) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
    bot = Bot(TEST_TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    yield bot
    await session.close()


async def test_get_me_over_http(http_bot: Bot, server: FakeBotApiServer) -> None:
    me = await http_bot.get_me()

    assert (me.id, me.is_bot, me.username) == (42, True, "baanwijzer_bot")
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.sent == [("getMe", {})]


async def test_send_and_edit_message_over_http(http_bot: Bot, server: FakeBotApiServer) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Start", callback_data="flow:start")]]
    )

    first = await http_bot.send_message(USER, "<b>Hallo</b>", reply_markup=markup)
    second = await http_bot.send_message(USER, "Nog iets")
    edited = await http_bot.edit_message_text(
        "Bijgewerkt", chat_id=USER, message_id=first.message_id
    )

    assert (first.message_id, second.message_id) == (1, 2)
    assert first.text == "Hallo"
    assert isinstance(edited, Message)
    assert (edited.message_id, edited.text) == (1, "Bijgewerkt")
    method, params = server.sent[0]
    assert method == "sendMessage"
    assert params["parse_mode"] == "HTML"
    assert json.loads(params["reply_markup"])["inline_keyboard"][0][0]["text"] == "Start"
    assert [m.get("text") for m in server.messages[USER]] == ["Bijgewerkt", "Nog iets"]
    found = await server.wait_for_message(USER, "Nog")
    assert found.result["message_id"] == 2


async def test_long_polling_returns_a_pushed_message_and_offsets_confirm(
    http_bot: Bot, server: FakeBotApiServer
) -> None:
    waiting = asyncio.create_task(http_bot(GetUpdates(timeout=5)))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # held open until something arrives

    update_id = server.push_message("/start", user_id=USER)
    [update] = await asyncio.wait_for(waiting, 2)

    assert update.update_id == update_id
    assert update.message is not None
    assert update.message.text == "/start"
    assert update.message.from_user is not None
    assert update.message.from_user.id == USER
    # Without an offset the update is delivered again; with offset it is confirmed.
    assert [u.update_id for u in await http_bot(GetUpdates(timeout=0))] == [update_id]
    assert await http_bot(GetUpdates(offset=update_id + 1, timeout=0)) == []
    assert server.polls[-1]["offset"] == str(update_id + 1)


async def test_dispatcher_polling_answers_a_click(http_bot: Bot, server: FakeBotApiServer) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def ask(message: Message) -> None:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Werkzoekende", callback_data="role:c")]]
        )
        await message.answer("Wie ben je?", reply_markup=markup)

    @dispatcher.callback_query()
    async def chosen(query: object) -> None:
        await http_bot.send_message(USER, "Welkom, werkzoekende")

    server.push_message("te vroeg", user_id=USER)
    await http_bot.delete_webhook(drop_pending_updates=True)
    polling = asyncio.create_task(
        dispatcher.start_polling(http_bot, handle_signals=False, close_bot_session=False)
    )
    try:
        await server.wait_until_polling()
        server.push_message("hoi", user_id=USER)
        await server.wait_for_message(USER, "Wie ben je?")
        assert server.button_data("Werkzoekende", USER) == "role:c"
        server.click("Werkzoekende", user_id=USER)
        await server.wait_for_message(USER, "Welkom")
        assert len(server.requests_of("sendMessage")) == 2  # "te vroeg" was dropped
    finally:
        await dispatcher.stop_polling()
        await polling


async def test_send_document_arrives_as_multipart(http_bot: Bot, server: FakeBotApiServer) -> None:
    content = b"naam;doelgroep\nAnna;banenafspraak\n"

    message = await http_bot.send_document(
        USER, BufferedInputFile(content, filename="intakes.csv"), caption="Export"
    )

    assert message.document is not None
    assert message.document.file_name == "intakes.csv"
    assert message.caption == "Export"
    request = await server.wait_for(lambda r: r.method == "sendDocument")
    [upload] = request.files.values()
    assert (upload.filename, upload.content) == ("intakes.csv", content)
    assert request.params["document"] == f"attach://{upload.field}"
    file = await http_bot.get_file(message.document.file_id)
    assert file.file_path is not None
    downloaded = await http_bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == content


async def test_errors_reach_aiogram_as_its_exceptions(
    http_bot: Bot, server: FakeBotApiServer
) -> None:
    server.fail_next("sendMessage", BotApiError.retry_after_seconds(3))

    with pytest.raises(TelegramRetryAfter) as raised:
        await http_bot.send_message(USER, "x")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await http_bot.edit_message_text("y", chat_id=USER, message_id=99)

    assert raised.value.retry_after == 3
    assert [r.ok for r in server.requests] == [False, False]


async def test_unknown_method_is_404(server: FakeBotApiServer) -> None:
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{server.base_url}/bot{TEST_TOKEN}/noSuchMethod") as response,
    ):
        body = await response.json()

    assert response.status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


async def test_unknown_method_raises_not_found_in_aiogram(http_bot: Bot) -> None:
    with pytest.raises(TelegramNotFound):
        await http_bot.get_user_profile_photos(USER)


def test_server_request_ok_reflects_error() -> None:
    assert not ServerRequest("sendMessage", {}, error=BotApiError.blocked_by_user()).ok

"""RecordingSession encodes like a real session, records, answers, and fails on demand."""

from __future__ import annotations

import json
import socket

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ChatMemberLeft,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from tests.support.bot_api_state import BotApiError
from tests.support.session import RecordingSession, network_error
from tests.support.updates import (
    ChatDriver,
    as_json,
    callback_update,
    message_update,
    reply_message_update,
)

CHAT = 1001


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Ja", callback_data="answer:yes")],
            [InlineKeyboardButton(text="Nee", callback_data="answer:no")],
        ]
    )


async def test_send_message_is_encoded_recorded_and_answered(
    recording_session: RecordingSession, bot: Bot
) -> None:
    message = await bot.send_message(CHAT, "<b>Welkom</b> &amp; hallo", reply_markup=keyboard())

    assert isinstance(message, Message)
    assert message.message_id == 1
    assert message.chat.id == CHAT
    assert message.text == "Welkom & hallo"
    assert message.reply_markup is not None
    assert message.reply_markup.model_dump() == keyboard().model_dump()
    [request] = recording_session.requests_of("sendMessage")
    # The wire form: every value a string, the default parse mode resolved, markup as JSON.
    assert request.params["chat_id"] == str(CHAT)
    assert request.params["parse_mode"] == "HTML"
    assert json.loads(request.params["reply_markup"]) == {
        "inline_keyboard": [
            [{"text": "Ja", "callback_data": "answer:yes"}],
            [{"text": "Nee", "callback_data": "answer:no"}],
        ]
    }
    assert recording_session.sent_texts(CHAT) == ["<b>Welkom</b> &amp; hallo"]
    assert recording_session.sent_texts(CHAT, visible=True) == ["Welkom & hallo"]
    assert recording_session.last_keyboard(CHAT) == [
        [("Ja", "answer:yes")],
        [("Nee", "answer:no")],
    ]
    second = await bot.send_message(CHAT, "Tweede")
    assert second.message_id == 2


async def test_edit_returns_the_edited_message_and_drops_an_unrepeated_keyboard(
    recording_session: RecordingSession, bot: Bot
) -> None:
    sent = await bot.send_message(CHAT, "Vraag", reply_markup=keyboard())

    edited = await bot.edit_message_text("Beantwoord", chat_id=CHAT, message_id=sent.message_id)

    assert isinstance(edited, Message)
    assert edited.message_id == sent.message_id
    assert edited.text == "Beantwoord"
    assert recording_session.last_keyboard(CHAT) == []
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Beantwoord", chat_id=CHAT, message_id=sent.message_id)


async def test_queued_retry_after_is_raised_once(
    recording_session: RecordingSession, bot: Bot
) -> None:
    recording_session.fail_next("sendMessage", BotApiError.retry_after_seconds(7))

    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(CHAT, "Eerste poging")
    message = await bot.send_message(CHAT, "Tweede poging")

    assert raised.value.retry_after == 7
    attempts = recording_session.requests_of("sendMessage")
    assert [attempt.ok for attempt in attempts] == [False, True]
    assert recording_session.sent_texts() == ["Tweede poging"]
    assert message.message_id == 1


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (BotApiError.server_error(502, "Bad Gateway"), TelegramServerError),
        (BotApiError.blocked_by_user(), TelegramForbiddenError),
        (BotApiError.chat_not_found(), TelegramBadRequest),
        (network_error(), TelegramNetworkError),
    ],
)
async def test_queued_failures_raise_what_aiogram_raises(
    recording_session: RecordingSession,
    bot: Bot,
    failure: BotApiError,
    expected: type[Exception],
) -> None:
    recording_session.fail_next("sendMessage", failure)

    with pytest.raises(expected):
        await bot.send_message(CHAT, "x")


async def test_other_methods_answer_plausibly(
    recording_session: RecordingSession, bot: Bot
) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (42, True, "baanwijzer_bot")
    assert await bot.set_my_commands([]) is True
    assert await bot.delete_webhook() is True
    assert await bot.answer_callback_query("1") is True

    doc = await bot.send_document(CHAT, BufferedInputFile(b"a;b\n", filename="intakes.csv"))
    assert doc.document is not None
    assert doc.document.file_name == "intakes.csv"
    [upload] = recording_session.requests_of("sendDocument")[0].files.values()
    assert (upload.filename, upload.content) == ("intakes.csv", b"a;b\n")

    file = await bot.get_file(doc.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == b"a;b\n"

    recording_session.state.set_member_status(-100, CHAT, "left")
    assert isinstance(await bot.get_chat_member(-100, CHAT), ChatMemberLeft)
    assert isinstance(await bot.get_chat_member(-100, 7), ChatMemberMember)
    assert (await bot.get_chat(-100)).type == "supergroup"
    assert await bot.delete_message(CHAT, doc.message_id) is True
    assert await bot.delete_messages(CHAT, [1, 2, 3]) is True


async def test_chat_driver_sends_and_clicks_through_the_dispatcher(bot: Bot) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Ben je op zoek naar werk?", reply_markup=keyboard())

    @router.callback_query(F.data.startswith("answer:"))
    async def answered(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"Je koos: <i>{query.data}</i>")
        await query.answer("Dank je")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    driver = ChatDriver(dispatcher, bot)

    await driver.send("/start")
    assert driver.last_text == "Ben je op zoek naar werk?"
    assert driver.last_keyboard[0] == [("Ja", "answer:yes")]

    await driver.click("Nee")
    assert driver.texts_since_last_action == ["Je koos: answer:no"]
    assert driver.last_alert == "Dank je"
    assert driver.last_keyboard == []
    with pytest.raises(AssertionError, match="no message with an inline keyboard"):
        await driver.click("Ja")


async def test_builders_survive_the_json_path(bot: Bot) -> None:
    seen: list[str] = []
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def any_message(message: Message) -> None:
        seen.append(f"{message.chat.type}:{message.text}:{message.reply_to_message is not None}")

    @dispatcher.callback_query()
    async def any_callback(query: CallbackQuery) -> None:
        seen.append(f"callback:{query.data}")

    first = message_update("hallo")
    reply = reply_message_update("akkoord", reply_to_message_id=5)
    click = callback_update("answer:yes", message_id=3)
    assert reply.update_id > first.update_id
    for update in (first, reply, click):
        await dispatcher.feed_raw_update(bot, json.loads(as_json(update)))

    assert seen == ["private:hallo:False", "supergroup:akkoord:True", "callback:answer:yes"]


async def test_never_opens_a_socket(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("RecordingSession tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    await bot.get_me()
    await bot.send_message(CHAT, "offline")

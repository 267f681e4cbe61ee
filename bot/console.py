"""The terminal try-out: the same Dispatcher, engine, templates and storage, shown as plain text.

A `ConsoleSession` stands where the network would be: what the bot would send to Telegram is
printed, and what the person types becomes a message update. Buttons are pressed by typing `!`
and part of the button's text (`!waarom`); numbers and labels work as in Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Any, TextIO, cast

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)

from bot.render import plain

CONSOLE_USER_ID = 1
_BOT_USER = User(id=42, is_bot=True, first_name="Baanwijzer", username="baanwijzer_bot")


class ConsoleSession(BaseSession):
    """A session that prints instead of calling Telegram, and answers like Telegram would."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out
        self._ids = itertools.count(1)
        self.keyboards: dict[int, InlineKeyboardMarkup] = {}
        self.texts: dict[int, str] = {}
        self.last_keyboard_message: int | None = None

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _show_keyboard(self, markup: InlineKeyboardMarkup | None) -> None:
        if markup is None:
            return
        for row in markup.inline_keyboard:
            self._print("   " + "   ".join(f"[{b.text}]" for b in row))

    def _message(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> Message:
        return Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=_BOT_USER,
            text=text,
            reply_markup=markup,
        )

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = type(method).__name__
        params = method.model_dump()
        result: Any = True
        if name == "SendMessage":
            message_id = next(self._ids)
            text = plain(str(params["text"]))
            markup = cast(InlineKeyboardMarkup | None, getattr(method, "reply_markup", None))
            self._print("\n" + text)
            self._show_keyboard(markup)
            self.texts[message_id] = text
            if markup is not None:
                self.keyboards[message_id] = markup
                self.last_keyboard_message = message_id
            result = self._message(int(params["chat_id"]), message_id, text, markup)
        elif name == "EditMessageText":
            message_id = int(params["message_id"])
            text = plain(str(params["text"]))
            # Show only what changed: the answer line under the question.
            self._print("   " + text.strip().splitlines()[-1])
            self.keyboards.pop(message_id, None)
            result = self._message(int(params["chat_id"]), message_id, text, None)
        elif name == "EditMessageReplyMarkup":
            message_id = int(params["message_id"])
            markup = cast(InlineKeyboardMarkup | None, getattr(method, "reply_markup", None))
            if markup is None:
                self.keyboards.pop(message_id, None)
            else:
                self.keyboards[message_id] = markup
                self._show_keyboard(markup)
            result = self._message(
                int(params["chat_id"]), message_id, self.texts.get(message_id, ""), markup
            )
        elif name == "AnswerCallbackQuery":
            if params.get("text"):
                self._print("   (" + str(params["text"]) + ")")
        elif name == "SendDocument":
            message_id = next(self._ids)
            self._print(f"\n[bestand / file: {getattr(method.document, 'filename', 'document')}]")  # type: ignore[attr-defined]
            result = self._message(int(params["chat_id"]), message_id, "", None)
        elif name == "GetMe":
            result = _BOT_USER
        return cast(TelegramType, result)

    def find_button(self, query: str) -> tuple[int, str] | None:
        """The callback data of the newest button whose text contains the query."""
        if self.last_keyboard_message is None:
            return None
        markup = self.keyboards.get(self.last_keyboard_message)
        if markup is None:
            return None
        wanted = query.strip().casefold()
        for row in markup.inline_keyboard:
            for button in row:
                if wanted and wanted in button.text.casefold() and button.callback_data:
                    return self.last_keyboard_message, button.callback_data
        return None


async def run_console(
    dp: Dispatcher,
    bot: Bot,
    session: ConsoleSession,
    flow: str | None,
    read_line: Callable[[], str | None] | None = None,
    *,
    language: str = "nl",
) -> None:
    """Run one intake in the terminal until it is sent, stopped, or input ends.

    `flow` "candidate" or "employer" starts that intake at once (as the deep links do); None
    starts at the welcome, which asks which of the two. `language` stands for the Telegram
    app's language: the person at the terminal is spoken to in DEFAULT_LANGUAGE.
    """
    user = User(id=CONSOLE_USER_ID, is_bot=False, first_name="Console", language_code=language)
    chat = Chat(id=CONSOLE_USER_ID, type="private")
    # Update ids only grow, as Telegram's do: the chat record skips an id it handled already,
    # and the try-out's records outlive one run.
    counter = itertools.count(time.time_ns() // 1_000_000)
    read = read_line or TerminalInput()

    async def feed(update: Update) -> None:
        await dp.feed_update(bot, update)
        # What the update queued is printed before the next prompt.
        await dp["sender"].idle()

    def message(text: str) -> Update:
        deep = {"candidate": "kandidaat", "employer": "werkgever"}
        return Update(
            update_id=next(counter),
            message=Message(
                message_id=10_000 + next(counter),
                date=datetime.now(UTC),
                chat=chat,
                from_user=user,
                text=text if text != "/start" else f"/start {deep.get(flow or '', '')}".strip(),
            ),
        )

    session._print(
        "Baanwijzer in de terminal. Typ je antwoord, of ! en een deel van een knop (bijvoorbeeld "
        "!waarom). Ctrl-D stopt.\nTry-out in the terminal. Type an answer, or ! and part of a "
        "button (for example !why). Ctrl-D quits."
    )
    await feed(message("/start"))
    while True:
        line = await _in_daemon_thread(read)
        if line is None:
            break
        line = line.rstrip("\n")
        if line.startswith("!"):
            found = session.find_button(line[1:])
            if found is None:
                session._print("   (geen knop gevonden / no such button)")
                continue
            message_id, data = found
            kb_message = session._message(
                CONSOLE_USER_ID, message_id, session.texts.get(message_id, ""), None
            )
            await feed(
                Update(
                    update_id=next(counter),
                    callback_query=CallbackQuery(
                        id=str(next(counter)),
                        from_user=user,
                        chat_instance="console",
                        message=kb_message,
                        data=data,
                    ),
                )
            )
        else:
            await feed(message(line))
        state = await dp.fsm.get_context(bot, CONSOLE_USER_ID, CONSOLE_USER_ID).get_state()
        if state is None:
            # Sent, stopped or ended early: the try-out is over.
            break


class TerminalInput:
    """Lines from standard input, read from its file descriptor.

    Not `input()`: a thread blocked in it holds the lock of `sys.stdin`, and after Ctrl-C the
    interpreter could not shut down past it. A terminal hands over a whole line at a time (its
    line editing still works); a pipe may hand over several, kept here until asked for.
    """

    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self._buffer = b""

    def __call__(self) -> str | None:
        print("> ", end="", flush=True)
        while b"\n" not in self._buffer:
            chunk = os.read(self.fd, 4096)
            if not chunk:  # Ctrl-D, or the end of a pipe
                rest, self._buffer = self._buffer, b""
                return rest.decode("utf-8", "replace") if rest else None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace")


async def _in_daemon_thread(read: Callable[[], str | None]) -> str | None:
    """`read()` in a daemon thread. asyncio.to_thread would use the default executor, which
    asyncio.run waits for at the end: after Ctrl-C the try-out would hang until Enter."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str | None] = loop.create_future()

    def deliver(line: str | None, error: BaseException | None) -> None:
        if future.done():  # cancelled by Ctrl-C meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(line)

    def work() -> None:
        line: str | None = None
        error: BaseException | None = None
        try:
            line = read()
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, line, error)

    threading.Thread(target=work, name="try-out input", daemon=True).start()
    return await future


__all__ = ["ConsoleSession", "TerminalInput", "run_console"]

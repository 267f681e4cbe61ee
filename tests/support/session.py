"""RecordingSession: a BaseSession that answers like Telegram and never opens a socket."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile

from tests.support.bot_api_state import (
    DEFAULT_BOT_ID,
    BotApiError,
    BotApiState,
    UploadedFile,
    keyboard_rows,
    visible_text,
)
from tests.support.flood import FloodModel

TEST_TOKEN = f"{DEFAULT_BOT_ID}:TEST"

ExceptionFactory: TypeAlias = Callable[[TelegramMethod[Any]], BaseException]
Failure: TypeAlias = BotApiError | BaseException | ExceptionFactory
"""What `fail_next` queues: an error answer (classified by aiogram's own check_response), an
exception to raise as is, or a factory that builds one from the method being called."""


def network_error(message: str = "Request timeout error") -> ExceptionFactory:
    """What AiohttpSession raises on a timeout or a dropped connection."""
    return lambda method: TelegramNetworkError(method=method, message=message)


@dataclass
class RecordedRequest:
    """One call as it would have left the process."""

    name: str
    method: TelegramMethod[Any]
    params: dict[str, str]
    files: dict[str, UploadedFile] = field(default_factory=dict)
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def chat_id(self) -> str | None:
        return self.params.get("chat_id")


class RecordingSession(BaseSession):
    """Encodes every call like AiohttpSession, records it, and answers from a BotApiState.

    Failures queued with `fail_next` are consumed in order, one per call of that method.
    """

    def __init__(self, state: BotApiState | None = None) -> None:
        super().__init__()
        self.state = state or BotApiState()
        self.requests: list[RecordedRequest] = []
        self.closed = False
        self._failures: dict[str, deque[Failure]] = {}
        # Telegram's flood control and fault windows, when a test sets one (tests/support/flood.py).
        self.flood: FloodModel | None = None
        # Per chat: set whenever a call to it was answered, so a simulated person can wait for
        # their next message instead of polling.
        self._arrived: dict[int, asyncio.Event] = {}

    # -- configuration -------------------------------------------------------------------------

    def fail_next(self, method: str, failure: Failure, *, times: int = 1) -> None:
        """Make the next `times` calls of `method` (e.g. "sendMessage") fail with `failure`."""
        queue = self._failures.setdefault(method.lower(), deque())
        queue.extend([failure] * times)

    def arrival(self, chat_id: int) -> asyncio.Event:
        return self._arrived.setdefault(chat_id, asyncio.Event())

    def clear(self) -> None:
        """Forget recorded requests and queued failures; chats and messages stay."""
        self.requests.clear()
        self._failures.clear()

    # -- reading what was sent -----------------------------------------------------------------

    def requests_of(self, method: str) -> list[RecordedRequest]:
        """Every attempt of `method`, failed ones included."""
        return [request for request in self.requests if request.name.lower() == method.lower()]

    def sent_texts(self, chat_id: int | str | None = None, *, visible: bool = False) -> list[str]:
        """Texts of successful sendMessage and editMessageText calls, in order.

        As encoded (Telegram HTML) by default; `visible=True` gives what the user reads.
        """
        texts: list[str] = []
        for request in self.requests:
            if not request.ok or request.name not in ("sendMessage", "editMessageText"):
                continue
            if chat_id is not None and request.chat_id != str(chat_id):
                continue
            text = request.params.get("text", "")
            texts.append(visible_text(text, request.params.get("parse_mode")) if visible else text)
        return texts

    def last_keyboard(self, chat_id: int) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard of the newest message in the chat that still has one (edits count)."""
        message = self.state.last_keyboard_message(chat_id)
        return keyboard_rows(message.get("reply_markup") if message else None)

    # -- BaseSession ---------------------------------------------------------------------------

    async def close(self) -> None:
        self.closed = True

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - signature fixed by BaseSession
    ) -> TelegramType:
        params, files = await self._encode(bot, method)
        request = RecordedRequest(
            name=method.__api_method__, method=method, params=params, files=files
        )
        self.requests.append(request)
        try:
            result = self._answer(bot, method, request)
        except BaseException as error:
            request.error = error
            raise
        finally:
            chat = getattr(method, "chat_id", None)
            if isinstance(chat, int):
                self.arrival(chat).set()
        request.result = result
        return result

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - signature fixed by BaseSession
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        marker = "/file/bot"
        file_path = url.split(marker, 1)[-1].split("/", 1)[-1] if marker in url else url
        upload = self.state.file_content(file_path)
        if upload is None:
            raise AssertionError(f"RecordingSession has no file at {url}")
        for start in range(0, len(upload.content), chunk_size):
            yield upload.content[start : start + chunk_size]

    # -- internals -----------------------------------------------------------------------------

    async def _encode(
        self, bot: Bot, method: TelegramMethod[Any]
    ) -> tuple[dict[str, str], dict[str, UploadedFile]]:
        """The same steps as AiohttpSession.build_form_data, keeping the parts as values."""
        params: dict[str, str] = {}
        attachments: dict[str, InputFile] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=attachments)
            if not prepared:
                continue
            params[key] = prepared
        files: dict[str, UploadedFile] = {}
        for key, input_file in attachments.items():
            content = b"".join([chunk async for chunk in input_file.read(bot)])
            files[key] = UploadedFile(key, input_file.filename or key, content)
        return params, files

    def _answer(
        self, bot: Bot, method: TelegramMethod[TelegramType], request: RecordedRequest
    ) -> TelegramType:
        status_code = 200
        try:
            failure = self._next_failure(request.name)
            if failure is None and self.flood is not None:
                chat = request.params.get("chat_id")
                refused = self.flood.check(
                    request.name, int(chat) if chat and chat.lstrip("-").isdigit() else None
                )
                if refused is not None:
                    status, retry_after = refused
                    failure = (
                        BotApiError.retry_after_seconds(retry_after)
                        if status == 429
                        else BotApiError.server_error(status, "Bad Gateway")
                    )
            if isinstance(failure, BotApiError):
                raise failure
            if isinstance(failure, BaseException):
                raise failure
            if failure is not None:
                raise failure(method)
            body = {
                "ok": True,
                "result": self.state.answer(
                    request.name, request.params, request.files, bot_id=bot.id
                ),
            }
        except BotApiError as error:
            status_code, body = error.status_code, error.body()
        # Decoding through check_response gives real aiogram types and real exceptions.
        response = self.check_response(
            bot=bot, method=method, status_code=status_code, content=self.json_dumps(body)
        )
        return cast(TelegramType, response.result)

    def _next_failure(self, method: str) -> Failure | None:
        queue = self._failures.get(method.lower())
        return queue.popleft() if queue else None


def make_bot(session: BaseSession | None = None) -> Bot:
    """A Bot with a valid fake token and HTML parse mode, talking to `session`."""
    return Bot(
        token=TEST_TOKEN,
        session=session if session is not None else RecordingSession(),
        default=DefaultBotProperties(parse_mode="HTML"),
    )

"""FakeBotApiServer: enough of the Telegram Bot API over HTTP to run the real bot process.

Start it in-process and point the bot at it::

    async with FakeBotApiServer() as server:
        env = {"TELEGRAM_API_BASE": server.base_url, ...}

aiogram builds `{base}/bot{token}/{method}` and `{base}/file/bot{token}/{path}`
(TelegramAPIServer.from_base) and POSTs form data: urlencoded without files, multipart with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.support.bot_api_state import (
    BotApiError,
    BotApiState,
    JsonDict,
    UploadedFile,
    keyboard_rows,
)
from tests.support.updates import (
    DEFAULT_FIRST_NAME,
    DEFAULT_USER_ID,
    chat_json,
    user_json,
)

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_MAX_UPLOAD = 50 * 1024 * 1024


@dataclass
class ServerRequest:
    """One Bot API call the server received (getUpdates is kept apart, in `polls`)."""

    method: str
    params: dict[str, str]
    files: dict[str, UploadedFile] = field(default_factory=dict)
    result: Any = None
    error: BotApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def chat_id(self) -> str | None:
        return self.params.get("chat_id")


class FakeBotApiServer:
    """An aiohttp server on 127.0.0.1 (a free port) that answers from a BotApiState."""

    def __init__(
        self,
        *,
        state: BotApiState | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = state or BotApiState()
        self.token = token
        self.host = host
        self.port = port
        self.requests: list[ServerRequest] = []
        self.polls: list[dict[str, str]] = []
        self._updates: list[JsonDict] = []
        self._next_update_id = 1
        self._failures: dict[str, list[BotApiError]] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._closing = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=_MAX_UPLOAD)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Binding the socket ourselves tells us which free port port=0 picked.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        self._closing = True
        self._signal()  # long polls return at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """For TELEGRAM_API_BASE / TelegramAPIServer.from_base."""
        return f"http://{self.host}:{self.port}"

    # -- test controls: incoming updates ----------------------------------------------------

    def push_update(self, kind: str, payload: JsonDict) -> int:
        """Queue `{kind: payload}` for getUpdates; returns its update_id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: payload})
        self._signal()
        return update_id

    def push_message(
        self,
        text: str,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | None = None,
        *,
        first_name: str = DEFAULT_FIRST_NAME,
        language_code: str | None = "nl",
    ) -> int:
        """A user sends `text` (private chat unless chat_id is negative); returns update_id."""
        target = chat_id if chat_id is not None else user_id
        chat = self.state.chat(target) if target in self.state.chats else None
        message: JsonDict = {
            "message_id": self.state.next_message_id(target),
            "from": user_json(user_id, first_name, language_code),
            "chat": chat or chat_json(target, "private" if target > 0 else "supergroup"),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self.state.remember(message)
        return self.push_update("message", message)

    def push_callback(
        self,
        data: str,
        user_id: int = DEFAULT_USER_ID,
        message_id: int | None = None,
        chat_id: int | None = None,
    ) -> int:
        """The user presses a button with `data` on message `message_id` (default: the newest
        message in the chat with a keyboard); returns update_id."""
        target = chat_id if chat_id is not None else user_id
        if message_id is None:
            found = self.state.last_keyboard_message(target)
            if found is None:
                raise AssertionError(f"no message with an inline keyboard in chat {target}")
            message_id = int(found["message_id"])
        message = self.state.messages.get(target, {}).get(message_id) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.state.chat(target),
        }
        callback: JsonDict = {
            "id": f"cb{self._next_update_id}",
            "from": user_json(user_id),
            "chat_instance": str(target),
            "message": message,
            "data": data,
        }
        return self.push_update("callback_query", callback)

    def button_data(self, text: str, chat_id: int) -> str:
        """callback_data of the button labelled `text` on the newest keyboard in the chat."""
        message = self.state.last_keyboard_message(chat_id)
        rows = keyboard_rows(message.get("reply_markup") if message else None)
        for row in rows:
            for label, data in row:
                if label == text and data is not None:
                    return data
        raise AssertionError(f"no button {text!r} in chat {chat_id}; keyboard is {rows}")

    def click(self, text: str, user_id: int = DEFAULT_USER_ID, chat_id: int | None = None) -> int:
        """Press the button labelled `text` on the newest keyboard in the chat."""
        target = chat_id if chat_id is not None else user_id
        return self.push_callback(self.button_data(text, target), user_id, chat_id=target)

    # -- test controls: outgoing -----------------------------------------------------------------

    @property
    def sent(self) -> list[tuple[str, dict[str, str]]]:
        """(method, params) of every call except getUpdates; params as sent, JSON as text."""
        return [(request.method, request.params) for request in self.requests]

    def requests_of(self, method: str) -> list[ServerRequest]:
        """Every call of `method`, failed ones included."""
        return [request for request in self.requests if request.method.lower() == method.lower()]

    @property
    def messages(self) -> dict[int, list[JsonDict]]:
        """Message JSON per chat (users' and the bot's), reply_markup parsed."""
        return {chat_id: self.state.chat_messages(chat_id) for chat_id in self.state.messages}

    def fail_next(self, method: str, error: BotApiError, *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `error` (e.g. 429, 5xx)."""
        self._failures.setdefault(method.lower(), []).extend([error] * times)

    async def wait_for(
        self,
        predicate: Callable[[ServerRequest], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is what tests want to say
    ) -> ServerRequest:
        """The first recorded request (earlier ones included) that matches, waiting if needed."""

        def match() -> ServerRequest | None:
            return next((r for r in self.requests if predicate(r)), None)

        async with asyncio.timeout(timeout):
            while (found := match()) is None:
                await self._changed.wait()
        return found

    async def wait_for_message(
        self,
        chat_id: int,
        containing: str = "",
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is what tests want to say
    ) -> ServerRequest:
        """The first successful sendMessage/editMessageText to `chat_id` containing the text."""

        def wanted(request: ServerRequest) -> bool:
            return (
                request.ok
                and request.method in ("sendMessage", "editMessageText")
                and request.chat_id == str(chat_id)
                and containing in request.params.get("text", "")
            )

        return await self.wait_for(wanted, timeout)

    async def wait_until_polling(
        self,
        polls: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a bounded wait is what tests want to say
    ) -> None:
        """Wait until getUpdates has been called `polls` times: the bot process is listening.

        Push updates after this if the bot starts with deleteWebhook(drop_pending_updates=True).
        """
        async with asyncio.timeout(timeout):
            while len(self.polls) < polls:
                await self._changed.wait()

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if not _TOKEN.match(token) or (self.token is not None and token != self.token):
            return _error(BotApiError(401, "Unauthorized"))
        params, files = await _read_params(request)
        bot_id = int(token.split(":", 1)[0])
        if method.lower() == "getupdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        recorded = ServerRequest(method=method, params=params, files=files)
        try:
            failures = self._failures.get(method.lower())
            if failures:
                raise failures.pop(0)
            recorded.result = self.state.answer(method, params, files, bot_id=bot_id)
            if method.lower() == "deletewebhook" and params.get("drop_pending_updates") == "true":
                self._updates.clear()
        except BotApiError as error:
            recorded.error = error
        self.requests.append(recorded)
        self._signal()
        if recorded.error is not None:
            return _error(recorded.error)
        return web.json_response({"ok": True, "result": recorded.result})

    async def _get_updates(self, params: Mapping[str, str]) -> list[JsonDict]:
        self.polls.append(dict(params))
        self._signal()
        offset = int(params.get("offset", "0") or 0)
        limit = int(params.get("limit", "100") or 100)
        timeout = float(params.get("timeout", "0") or 0)
        allowed = json.loads(params["allowed_updates"]) if "allowed_updates" in params else None
        if offset > 0:
            # Telegram forgets every update below the offset once it has been asked for it.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if allowed:
            self._updates = [u for u in self._updates if set(u) - {"update_id"} <= set(allowed)]
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    while not self._updates and not self._closing:
                        await self._changed.wait()
        return self._updates[:limit]

    async def _handle_file(self, request: web.Request) -> web.Response:
        upload = self.state.file_content(request.match_info["path"])
        if upload is None:
            return _error(BotApiError(404, "Not Found"))
        return web.Response(body=upload.content, content_type="application/octet-stream")

    def _signal(self) -> None:
        # Wake every waiter; each then re-checks its own condition against the new state.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


def _error(error: BotApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status_code)


async def _read_params(request: web.Request) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Query string plus a urlencoded, multipart or JSON body, flattened to wire strings."""
    params: dict[str, str] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json":
        body = await request.json()
        for key, value in body.items():
            params[key] = value if isinstance(value, str) else json.dumps(value)
    elif request.method == "POST" and request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = UploadedFile(key, value.filename, value.file.read())
            elif isinstance(value, str):
                params[key] = value
            else:
                params[key] = bytes(value).decode()
    return params, files

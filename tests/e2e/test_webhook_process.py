"""End to end, webhook mode: the real `python -m bot` process serves its webhook on 127.0.0.1 and
talks to an in-process fake Bot API server.

What an operator sees: a body that is not an update gets 400 and leaves no traceback in the log;
SIGTERM lets the request in hand finish (its update committed, Telegram told 200), closes the
stores and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.fsm.storage.base import StorageKey
from aiohttp import web

from storage import SystemClock, open_stores
from storage.lock import hold_data_dir
from tests.support.bot_process import bot_env, spawn_bot
from tests.support.fake_bot_api import FakeBotApiServer
from tests.support.updates import (
    DEFAULT_USER_ID,
    as_json,
    message_update,
    next_update_id,
    user_json,
)

# Each test runs the bot in a process of its own: the second, slow step of .ci/run.
pytestmark = pytest.mark.slow

TOKEN = "42:TEST-e2e_token"
BOT_ID = 42
SECRET = "e2e-Webhook_secret"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
START_TIMEOUT = 25.0  # Python, aiogram and the stores starting
STEP_TIMEOUT = 10.0


class SlowableBotApi(FakeBotApiServer):
    """The fake Bot API, with some methods answered only after `slow[method]` seconds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slow: dict[str, float] = {}
        self.held = asyncio.Event()  # set when a slow call arrived and is being held

    async def _handle_method(self, request: web.Request) -> web.Response:
        delay = self.slow.get(request.match_info["method"])
        if delay:
            self.held.set()
            await asyncio.sleep(delay)
        return await super()._handle_method(request)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebhookBot:
    server: SlowableBotApi
    process: asyncio.subprocess.Process
    port: int
    data_dir: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def post(
        self, body: bytes | str, *, secret: str | None = SECRET, content_type: str = "json"
    ) -> int:
        headers = {
            "Content-Type": "application/json"
            if content_type == "json"
            else "application/x-www-form-urlencoded"
        }
        if secret is not None:
            headers[HEADER] = secret
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, data=body, headers=headers) as response,
        ):
            await response.read()
            return response.status

    async def welcomed(self, user_id: int) -> None:
        """The bot's first message to this person reached Telegram."""
        await self.server.wait_for_message(user_id, timeout=STEP_TIMEOUT)

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STEP_TIMEOUT):
            return await self.process.wait()


@pytest.fixture
async def webhook_bot(tmp_path: Path) -> AsyncIterator[WebhookBot]:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "bot.log"
    port = free_port()
    server = SlowableBotApi(token=TOKEN)
    async with server:
        env = bot_env(
            home=tmp_path,
            token=TOKEN,
            api_base=server.base_url,
            data_dir=data_dir,
            WEBHOOK_URL="https://bot.example.org",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(port),
        )
        process = await spawn_bot(env, tmp_path, log_path)
        bot = WebhookBot(server, process, port, data_dir, log_path)
        try:
            try:
                # setWebhook goes out once the server listens.
                await server.wait_for(lambda r: r.method == "setWebhook", timeout=START_TIMEOUT)
            except TimeoutError:
                raise AssertionError(f"the webhook was not set:\n{bot.log()}") from None
            yield bot
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            print(bot.log())  # shown by pytest when the test fails


async def stored_conversation(data_dir: Path, user_id: int) -> dict[str, object]:
    stores = await open_stores(data_dir, SystemClock(), retention_days=365, conversation_days=30)
    try:
        key = StorageKey(bot_id=BOT_ID, chat_id=user_id, user_id=user_id)
        return dict(await stores.conversations.get_data(key))
    finally:
        await stores.close()


def assert_clean_log(log: str) -> None:
    assert "Traceback" not in log, log
    assert "Task exception was never retrieved" not in log, log
    assert "Anna" not in log, log  # the person's name in the updates never reaches the log


async def test_bad_bodies_get_400_and_sigterm_exits_cleanly(webhook_bot: WebhookBot) -> None:
    bot = webhook_bot
    [set_webhook] = bot.server.requests_of("setWebhook")
    assert set_webhook.params["url"] == "https://bot.example.org/webhook"
    assert set_webhook.params["secret_token"] == SECRET

    assert await bot.post(b"[1, 2]", secret=None) == 401  # the secret first
    assert await bot.post(b'{"update_id": 1, "message": {"text": "Anna') == 400
    assert await bot.post(b"") == 400
    assert await bot.post(b"update_id=1&text=Anna", content_type="form") == 400
    assert await bot.post(b'[{"update_id": 1}]') == 400
    assert await bot.post(b'{"update_id": 2, "message": {"text": "Anna"}}') == 400

    assert await bot.post(as_json(message_update("/start kandidaat"))) == 200
    await bot.welcomed(DEFAULT_USER_ID)

    assert await bot.stop() == 0
    log = bot.log()
    assert_clean_log(log)
    assert log.count("refused a request body") == 5
    assert "stopping" in log
    data = await stored_conversation(bot.data_dir, DEFAULT_USER_ID)
    assert data["flow"] == "candidate"


async def test_sigterm_finishes_the_update_in_hand(webhook_bot: WebhookBot) -> None:
    bot = webhook_bot
    assert await bot.post(as_json(message_update("/start kandidaat"))) == 200
    await bot.welcomed(DEFAULT_USER_ID)
    await bot.server.wait_for(lambda r: "Vraag 1" in r.params.get("text", ""), STEP_TIMEOUT)

    # The update in hand: a tap whose handling waits on Telegram (the callback query is
    # answered within the update, and this Telegram takes 3 s to answer).
    bot.server.slow["answerCallbackQuery"] = 3.0
    tap = asyncio.create_task(bot.post(tap_json(bot.server, "1. Ja, dat is goed")))
    async with asyncio.timeout(STEP_TIMEOUT):
        await bot.server.held.wait()  # the update is in hand: committed, being answered
    bot.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    assert bot.process.returncode is None, "the process did not wait for the update in hand"
    # Meanwhile it takes no new request: the listener is gone.
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", bot.port)
    async with asyncio.timeout(STEP_TIMEOUT):
        assert await tap == 200  # Telegram is told the update arrived: it is not sent again
        assert await bot.process.wait() == 0
    assert_clean_log(bot.log())
    # The update in hand was committed before the process went: the answer is stored.
    data = await stored_conversation(bot.data_dir, DEFAULT_USER_ID)
    flow_state = data["flow_state"]
    assert isinstance(flow_state, dict)
    assert "consent" in flow_state["answers"]
    # The stores were closed and the data directory let go of.
    with hold_data_dir(bot.data_dir):
        pass


def tap_json(server: FakeBotApiServer, label: str) -> str:
    """The callback query update of a tap on the newest keyboard, as Telegram posts it."""
    message = server.state.last_keyboard_message(DEFAULT_USER_ID)
    assert message is not None
    # Update ids only grow, as Telegram's do: the chat record ignores an id it has seen.
    update_id = next_update_id()
    update = {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": user_json(DEFAULT_USER_ID, language_code="nl"),
            "chat_instance": str(DEFAULT_USER_ID),
            "message": message,
            "data": server.button_data(label, DEFAULT_USER_ID),
        },
    }
    return json.dumps(update)

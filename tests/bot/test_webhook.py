"""Webhook mode: the aiohttp app of `bot.__main__` takes updates only with the right secret."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.__main__ import create_webhook_app
from tests.bot.intake_fixtures import Harness, build_harness
from tests.support.updates import DEFAULT_USER_ID, as_json, message_update

SECRET = "s3cret-Token_1"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
async def webhook(
    tmp_path: Path,
) -> AsyncIterator[tuple[Harness, TestClient[web.Request, web.Application]]]:
    harness = await build_harness(
        tmp_path, WEBHOOK_URL="https://bot.example.org", WEBHOOK_SECRET=SECRET
    )
    app = create_webhook_app(harness.settings, harness.bot, harness.dp)
    async with TestClient(TestServer(app)) as client:
        yield harness, client
    await harness.stores.close()


async def post_start(
    client: TestClient[web.Request, web.Application], headers: dict[str, str]
) -> int:
    body = as_json(message_update("/start kandidaat"))
    response = await client.post(
        "/webhook", data=body, headers={"Content-Type": "application/json", **headers}
    )
    return response.status


async def until_handled(harness: Harness) -> None:
    """Wait (at most 5 s) until the /start was handled: the handler answers Telegram at once
    and handles the update in a background task."""
    for _ in range(500):
        _, data = await harness.conversation()
        if len(harness.session.requests_of("sendMessage")) >= 2 and data.get("flow"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the update was not handled: {harness.session.requests}")


@pytest.mark.parametrize(
    "headers",
    [{}, {HEADER: "wrong"}, {HEADER: ""}, {HEADER: SECRET + "x"}],
    ids=["none", "wrong", "empty", "longer"],
)
async def test_without_the_right_secret_the_update_is_refused(
    webhook: tuple[Harness, TestClient[web.Request, web.Application]], headers: dict[str, str]
) -> None:
    harness, client = webhook
    assert await post_start(client, headers) == 401
    await asyncio.sleep(0.05)  # a background task would have run by now
    assert harness.session.requests == []
    assert await harness.conversation() == (None, {})


async def test_with_the_right_secret_the_update_is_handled(
    webhook: tuple[Harness, TestClient[web.Request, web.Application]],
) -> None:
    harness, client = webhook
    assert await post_start(client, {HEADER: SECRET}) == 200
    await until_handled(harness)
    notice, question = harness.session.requests_of("sendMessage")
    assert notice.params["chat_id"] == str(DEFAULT_USER_ID)
    assert "Eerst dit" in notice.params["text"]
    assert "Vraag 1 van 22" in question.params["text"]
    _, data = await harness.conversation()
    assert data["flow"] == "candidate"


async def test_webhook_settings_need_a_secret(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(
            _env_file=None,
            BOT_TOKEN="42:TEST",
            WEBHOOK_URL="https://bot.example.org",
            WEBHOOK_SECRET=None,
        )

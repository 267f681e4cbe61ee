"""Webhook mode: the aiohttp app of `bot.webhook` takes updates only with the right secret, and
answers a body that is not an update with 400, without a traceback.

The app runs on a real aiohttp server on 127.0.0.1 (TestServer); SIGTERM of the real process in
webhook mode is in tests/e2e/test_webhook_process.py."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.webhook import create_webhook_app
from tests.bot.intake_harness import Harness, build_harness
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
    assert "Vraag 1" in question.params["text"]
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


# -- bodies that are not an update ------------------------------------------------------------

PERSONAL = "Anna de Vries 0612345678"  # must never reach the logs
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

BAD_BODIES: list[tuple[str, bytes, dict[str, str]]] = [
    ("invalid JSON", b'{"update_id": 1, "message": {"text": "' + PERSONAL.encode(), JSON),
    ("empty body", b"", JSON),
    ("form body", b"update_id=1&text=" + PERSONAL.replace(" ", "+").encode(), FORM),
    ("JSON array", json.dumps([{"update_id": 1}]).encode(), JSON),
    ("JSON string", json.dumps(PERSONAL).encode(), JSON),
    ("JSON null", b"null", JSON),
    ("no update_id", json.dumps({"message": {"text": PERSONAL}}).encode(), JSON),
    ("update_id not a number", json.dumps({"update_id": PERSONAL}).encode(), JSON),
    (
        "message of the wrong shape",
        json.dumps({"update_id": 7, "message": {"text": PERSONAL}}).encode(),
        JSON,
    ),
    (
        "no known update type",
        json.dumps({"update_id": 8, "future_kind": {"text": PERSONAL}}).encode(),
        JSON,
    ),
    ("not UTF-8", b'{"update_id": 1, "message": "\xff\xfe"}', JSON),
    ("bytes that are not text", b"\xff\xfe\x00\x01", JSON),
    ("nested too deep", b"[" * 100_000 + b"]" * 100_000, JSON),
]


def assert_quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback, no error, and nothing of what was posted in the logs."""
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert record.levelno < logging.ERROR, record.getMessage()
    assert "Traceback" not in caplog.text
    assert "Task exception was never retrieved" not in caplog.text
    assert PERSONAL not in caplog.text
    assert "0612345678" not in caplog.text


@pytest.mark.parametrize(
    ("body", "headers"),
    [(body, headers) for _, body, headers in BAD_BODIES],
    ids=[name for name, _, _ in BAD_BODIES],
)
async def test_a_body_that_is_not_an_update_gets_400_without_a_traceback(
    webhook: tuple[Harness, TestClient[web.Request, web.Application]],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str],
) -> None:
    harness, client = webhook
    caplog.set_level(logging.DEBUG)
    response = await client.post("/webhook", data=body, headers={HEADER: SECRET, **headers})
    assert response.status == 400
    assert (await response.text()).startswith("Bad Request: ")
    # A background task that failed would be reported when it is collected.
    await asyncio.sleep(0.05)
    gc.collect()
    await asyncio.sleep(0)
    assert harness.session.requests == []
    assert await harness.conversation() == (None, {})
    assert_quiet_logs(caplog)
    [refused] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refused.levelno == logging.WARNING


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[1, 2]"], ids=["empty", "not JSON", "JSON array"]
)
async def test_the_secret_is_checked_before_the_body(
    webhook: tuple[Harness, TestClient[web.Request, web.Application]],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    _, client = webhook
    caplog.set_level(logging.DEBUG)
    response = await client.post("/webhook", data=body, headers=JSON)
    assert response.status == 401
    assert not [r for r in caplog.records if "refused" in r.getMessage()]
    assert_quiet_logs(caplog)


async def test_after_bad_bodies_a_good_update_is_still_handled(
    webhook: tuple[Harness, TestClient[web.Request, web.Application]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness, client = webhook
    caplog.set_level(logging.DEBUG)
    for _, body, headers in BAD_BODIES:
        response = await client.post("/webhook", data=body, headers={HEADER: SECRET, **headers})
        assert response.status == 400
    assert await post_start(client, {HEADER: SECRET}) == 200
    await until_handled(harness)
    assert_quiet_logs(caplog)

"""`python -m bot` keeps the cyclic collector off while it starts; polling runs with it on."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.__main__ as bot_main
from bot.config import load_settings
from bot.polling import Poller
from tests.support.fake_bot_api import FakeBotApiServer

TOKEN = "123456:ABC-def_ghi"


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector as `python -m bot` leaves it for run_bot: off."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("collector_off")
async def test_the_collector_is_on_again_once_the_bot_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer
    on_while_polling: list[bool] = []

    async def first_poll(self: Poller) -> None:
        on_while_polling.append(gc.isenabled())

    monkeypatch.setattr(Poller, "run", first_poll)
    async with FakeBotApiServer(token=TOKEN) as server:
        settings = load_settings(
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE=server.base_url,
            DATA_DIR=tmp_path / "data",
            SERVICE_CONTACT="Bel 070 123 45 67",
        )
        assert await bot_main.run_bot(settings) == 0
    assert on_while_polling == [True]

"""The command menus: Dutch names in the Dutch menu, English names in the English one."""

from __future__ import annotations

import json
from pathlib import Path

from bot.app import set_commands
from tests.bot.intake_harness import build_harness


async def test_the_english_menu_lists_the_english_commands_and_each_one_works(
    tmp_path: Path,
) -> None:
    harness = await build_harness(tmp_path / "data")
    try:
        await set_commands(harness.bot, harness.settings)
        menus = {
            r.params.get("language_code") or "nl": [
                c["command"] for c in json.loads(r.params["commands"])
            ]
            for r in harness.session.requests_of("setMyCommands")
            if json.loads(r.params["scope"])["type"] == "all_private_chats"
        }
        assert "mijngegevens" in menus["nl"]
        assert "mydata" not in menus["nl"]
        assert menus["en"] == [
            "start", "help", "back", "stop", "language", "human", "mydata", "delete", "withdraw"
        ]  # fmt: skip
        # Every English name is a command the bot answers (not "I don't know that command").
        driver = harness.driver(language_code="en")
        await driver.send("/start kandidaat")
        for command in menus["en"]:
            await driver.send(f"/{command}")
            assert not any(
                "don't know that command" in t for t in driver.texts_since_last_action
            ), command
    finally:
        await harness.close()

"""End to end: the real `python -m bot` process against an in-process fake Bot API server.

A person starts the bot, picks "I look for work", answers every question (buttons and typed),
confirms the summary and gets a number; the card reaches the coordinators' group. After SIGTERM
the intake is read back from the data directory the process wrote.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from storage import SystemClock, open_stores
from tests.support.bot_process import bot_env, spawn_bot
from tests.support.fake_bot_api import FakeBotApiServer, ServerRequest
from tests.support.updates import DEFAULT_USER_ID

# Each test runs the bot in a process of its own: the second, slow step of .ci/run.
pytestmark = pytest.mark.slow

TOKEN = "42:TEST-e2e_token"
SERVICE_CONTACT = "Bel 070 123 45 67 of mail intake@example.nl"
GROUP = -100123
CHAT = DEFAULT_USER_ID
STEP_TIMEOUT = 10.0  # one answer; generous for a loaded CI machine
START_TIMEOUT = 25.0  # Python, aiogram and the stores starting


class RunningBot:
    """The running process, the fake server it talks to, and the person in the chat."""

    def __init__(self, server: FakeBotApiServer, process: asyncio.subprocess.Process) -> None:
        self.server = server
        self.process = process

    def mark(self) -> int:
        return len(self.server.requests)

    async def after(
        self, mark: int, wanted: Callable[[ServerRequest], bool], what: str
    ) -> ServerRequest:
        """The first request after `mark` that matches, waiting at most STEP_TIMEOUT."""

        def newer(request: ServerRequest) -> bool:
            return any(request is r for r in self.server.requests[mark:]) and wanted(request)

        try:
            return await self.server.wait_for(newer, timeout=STEP_TIMEOUT)
        except TimeoutError:
            shown = [(r.method, r.params.get("text", "")[:80]) for r in self.server.requests[mark:]]
            raise AssertionError(f"no {what} after step; the bot sent {shown}") from None

    async def shown(self, mark: int, containing: str) -> str:
        request = await self.after(
            mark,
            lambda r: (
                r.ok
                and r.method == "sendMessage"
                and r.chat_id == str(CHAT)
                and containing in r.params.get("text", "")
            ),
            f"message containing {containing!r}",
        )
        return request.params["text"]

    async def send(self, text: str, expect: str) -> str:
        mark = self.mark()
        self.server.push_message(text, CHAT)
        return await self.shown(mark, expect)

    async def click(self, label: str, expect: str) -> str:
        mark = self.mark()
        self.server.click(label, CHAT)
        return await self.shown(mark, expect)

    async def toggle(self, label: str) -> None:
        mark = self.mark()
        self.server.click(label, CHAT)
        await self.after(mark, lambda r: r.ok and r.method == "editMessageReplyMarkup", label)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[RunningBot, Path]]:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "bot.log"
    async with FakeBotApiServer(token=TOKEN) as server:
        env = bot_env(
            home=tmp_path,
            token=TOKEN,
            api_base=server.base_url,
            data_dir=data_dir,
            COORDINATOR_CHAT_ID=str(GROUP),
            SERVICE_CONTACT=SERVICE_CONTACT,  # /mens shows it
        )
        process = await spawn_bot(env, tmp_path, log_path)
        try:
            try:
                await server.wait_until_polling(timeout=START_TIMEOUT)
            except TimeoutError:
                raise AssertionError(
                    f"the bot did not start polling:\n{log_path.read_text(errors='replace')}"
                ) from None
            yield RunningBot(server, process), data_dir
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            # pytest shows captured output only when the test fails: the process's log.
            print(log_path.read_text(errors="replace"))


async def test_a_whole_candidate_intake_through_the_real_process(
    running: tuple[RunningBot, Path],
) -> None:
    bot, data_dir = running
    server = bot.server
    # Start-up: who am I, the command menu, and polling (not a webhook).
    assert server.requests_of("getMe")
    commands = [json.loads(r.params["commands"]) for r in server.requests_of("setMyCommands")]
    assert {"command": "start", "description": "Begin (opnieuw)"} in commands[0]
    group_menus = [
        json.loads(r.params["commands"])
        for r in server.requests_of("setMyCommands")
        if json.loads(r.params["scope"]).get("chat_id") == GROUP and "language_code" not in r.params
    ]
    [group_menu] = group_menus  # the coordinators' group has its own menu, in Dutch by default
    assert {"command": "intakes", "description": "De nieuwste intakes (met filter)"} in group_menu
    assert server.requests_of("deleteWebhook")

    welcome = await bot.send("/start", "Welkom bij Baanwijzer")
    assert "geen mens" in welcome
    await bot.click("🔎 Ik zoek werk", "Vraag 1</i> · ")
    await bot.click("1. Ja, dat is goed", "Wie vult de vragen in?")
    await bot.click("1. Ik, voor mezelf", "Hoe oud ben je?")
    await bot.send("3", "Dat is privé.")  # typed number: 18 to 26
    why = await bot.click("❓ Waarom vragen we dit?", "Waarom vragen we dit?")
    assert "Zonder deze antwoorden helpen we je ook." in why
    await bot.click("2. Nee, sla ze over", "Wie helpt je nu met werk zoeken?")
    await bot.toggle("⬜️ 2. UWV")
    await bot.toggle("⬜️ 5. Een jobcoach")
    await bot.click("✅ Klaar", "Wat voor werk wil je doen?")
    await bot.send("catering", "Wil je werken in een groep")  # typed label
    await bot.click("1. In een groep met begeleiding", "Waar wil je graag werken?")
    await bot.send("1", "Hoeveel uur per week")
    refused = await bot.send("100", "Het getal mag hoogstens 40 zijn.")
    assert "Hoeveel uur" not in refused
    await bot.send("24", "Op welke dagen kun je werken?")
    await bot.send("1 2", "4 cijfers van je postcode")
    await bot.send("3511 AB", "Hoe wil je naar je werk reizen?")
    await bot.click("2. Met de bus of trein", "Hoe wil je dat we contact met je opnemen?")
    await bot.click("1. Bellen", "Hoe mogen we je noemen?")
    await bot.send("Anna", "Op welk telefoonnummer")
    await bot.send("06-12345678", "De laatste vraag gaat over je gegevens")
    summary = await bot.click("2. Nee, dan wissen", "Dit zijn je antwoorden")
    assert "UWV, Een jobcoach" in summary
    assert "0612345678" in summary

    mark = bot.mark()
    outcome = await bot.click("✅ Klopt, versturen", "Je nummer is")
    number = outcome.split("Je nummer is <b>", 1)[1].split("</b>", 1)[0]
    assert number.startswith("K-")
    assert "Werken in een groep met begeleiding" in outcome
    assert "Binnen 5 werkdagen" in outcome
    # The outbox worker delivers the card to the coordinators' group.
    card = await bot.after(
        mark,
        lambda r: r.ok and r.method == "sendMessage" and r.chat_id == str(GROUP),
        "card in the coordinators' group",
    )
    assert number in card.params["text"]

    bot.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(STEP_TIMEOUT):
        await bot.process.wait()

    stores = await open_stores(data_dir, SystemClock(), retention_days=365, conversation_days=30)
    try:
        intake = await stores.intakes.get(number)
        assert intake is not None
        assert intake.name == "Anna"
        assert intake.answers["helpers"] == ["uwv", "jobcoach"]
        assert intake.answers["work_kind"] == ["catering"]
        assert intake.answers["hours"] == 24
        assert intake.answers["postcode"] == "3511"
        assert intake.answers["phone"] == "0612345678"
        assert "register_basis" not in intake.answers  # the sensitive questions were skipped
        assert intake.routes == ["collectief"]  # "in een groep": not a regular job as well
        assert [c.scope for c in intake.consents] == ["general"]
        assert await stores.outbox.pending() == []  # the card was delivered before the stop
    finally:
        await stores.close()

"""`python -m bot try candidate|employer`: the same intake in a terminal, without Telegram."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from aiogram import Bot

from bot.app import create_dispatcher
from bot.console import ConsoleSession, run_console
from bot.sender import Limits, Sender
from tests.bot.intake_fixtures import Harness, build_harness

REPO = Path(__file__).resolve().parents[2]

CANDIDATE_LINES = [
    "1",  # consent: ja
    "1",  # filled in by: myself
    "3",  # age 18-26
    "1",  # sensitive questions: yes
    "1",  # in the register: yes
    "5",  # Wajong
    "2",  # a little help
    "1",  # adjusted hours
    "2",  # helped by UWV
    "2",  # catering
    "1",  # in a team
    "1",  # central government
    "24",
    "1 2",  # Monday, Tuesday
    "3511",
    "2",  # bus or train
    "3",  # here in Telegram: no phone or e-mail asked
    "Anna",
    "2",  # do not keep the data longer
    "klopt",
]

EMPLOYER_LINES = [
    "1",  # akkoord
    "1",  # central government
    "Ministerie van Voorbeelden",
    "1",  # a vacancy
    "Post rondbrengen",
    "20",
    "4",  # permanent contract
    "1",  # trial: yes
    "1",  # a regular supervisor
    "2511",
    "Bram",
    "2",  # e-mail
    "bram@example.nl",
    "2",  # do not keep the data longer
    "klopt",
]


def start_try_out(
    tmp_path: Path, flow: str, lines: list[str]
) -> tuple[subprocess.Popen[str], list[str]]:
    tmp_path.mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "try", flow],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, lines


def finish(process: subprocess.Popen[str], lines: list[str]) -> tuple[str, str, int]:
    try:
        out, err = process.communicate("\n".join(lines) + "\n", timeout=60)
    finally:
        process.kill()
    return out, err, process.returncode


def stored_intakes(data_dir: Path) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for path in sorted((data_dir / "intakes").glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        table = content.get("intakes") if isinstance(content, dict) else None
        if isinstance(table, dict):
            found.extend(doc for doc in table.values() if isinstance(doc, dict))
    return found


def test_a_whole_intake_in_the_terminal_is_stored(tmp_path: Path) -> None:
    # Both try-outs run at once: starting Python with aiogram is most of the time they take.
    runs = {
        flow: start_try_out(tmp_path / flow, flow, lines)
        for flow, lines in (("candidate", CANDIDATE_LINES), ("employer", EMPLOYER_LINES))
    }
    results = {flow: finish(process, lines) for flow, (process, lines) in runs.items()}
    for flow, prefix, name in (("candidate", "K", "Anna"), ("employer", "W", "Bram")):
        out, err, code = results[flow]
        assert code == 0, err
        assert "Traceback" not in err
        assert "Baanwijzer in de terminal." in out
        assert "Vraag 1 · " in out
        assert re.search(r"Dit zijn (je|uw) antwoorden", out)
        found = re.search(rf"(?:Je|Uw) nummer is ({prefix}-\d{{4}}-\d{{4}})\.", out)
        assert found is not None, out[-2000:]
        assert "<b>" not in out  # plain text in the terminal, not Telegram HTML

        [intake] = stored_intakes(tmp_path / flow / "data" / "try-out")
        assert intake["number"] == found.group(1)
        assert intake["name"] == name
        assert intake["kind"] == flow


# -- the same console loop in this process: quicker for the finer points ----------------------


async def console_run(tmp_path: Path, lines: list[str]) -> tuple[str, Harness]:
    harness = await build_harness(tmp_path)
    out = io.StringIO()
    session = ConsoleSession(out)
    bot = Bot(token="1:TERMINAL", session=session)
    pending = iter(lines)
    # The sender of the try-out talks to the terminal's bot, as `python -m bot try` does.
    sender = Sender(bot, Limits.unlimited())
    dp = create_dispatcher(harness.services, harness.stores.conversations, sender)
    try:
        await run_console(dp, bot, session, "candidate", read_line=lambda: next(pending, None))
    finally:
        await sender.stop()
        await harness.close()
    return out.getvalue(), harness


async def test_input_ending_early_stores_nothing(tmp_path: Path) -> None:
    out, harness = await console_run(tmp_path, CANDIDATE_LINES[:5])
    assert "Vraag 5 · " in out
    assert "Je nummer is" not in out
    assert await harness.intakes() == []


async def test_a_button_can_be_pressed_by_typing_part_of_it(tmp_path: Path) -> None:
    lines = ["!ja, dat is goed", "!waarom", "!mezelf", "!geen knop", "/stop", "!ja, stoppen", "1"]
    out, harness = await console_run(tmp_path, lines)
    assert "Waarom vragen we dit?" in out
    assert "Zo weten de medewerkers met wie ze praten als ze bellen." in out
    assert "Vraag 3 · " in out
    assert "(geen knop gevonden / no such button)" in out
    assert "Je bent gestopt." in out
    assert "Wie ben jij?" not in out  # the try-out ended at the stop; "1" was not read
    assert await harness.intakes() == []

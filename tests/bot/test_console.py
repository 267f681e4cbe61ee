"""`python -m bot try candidate|employer`: the same intake in a terminal, without Telegram."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from aiogram import Bot

from bot.app import create_dispatcher
from bot.console import ConsoleSession, run_console
from bot.sender import Limits, Sender
from flows.loader import load_shipped_flows
from storage.lock import hold_data_dir
from tests.bot.intake_harness import Harness, build_harness

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


@pytest.mark.slow  # a process of its own
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


# -- `python -m bot` without a token, at a terminal -------------------------------------------


class Terminal:
    """`python -m bot` with a pseudo-terminal as its stdin, stdout and stderr, as a person who
    types the command sees it."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.data_dir = tmp_path / "data"
        self.master, slave = pty.openpty()
        self.output = ""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=tmp_path,  # no .env of the developer is read
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PYTHONPATH": str(REPO),
                "HOME": str(tmp_path),
                "DATA_DIR": str(self.data_dir),
                "TERM": "dumb",
                **env,
            },
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
            # Its own session with this terminal as the controlling one, so Ctrl-C is SIGINT.
            preexec_fn=_take_terminal,
        )
        os.close(slave)

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """Everything shown until `text` appears (the terminal's \\r\\n read as \\n)."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.output}")
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the process closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"{text!r} did not appear before the end:\n{self.output}")
            self.output += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return self.output

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def interrupt(self) -> int:
        """Ctrl-C, as a person stops anything in a terminal; the exit code."""
        os.write(self.master, b"\x03")
        try:
            return self.process.wait(timeout=15)
        finally:
            os.close(self.master)

    def end_input(self) -> int:
        """Ctrl-D at the prompt, as a person ends the try-out; the exit code."""
        os.write(self.master, b"\x04")
        try:
            return self.process.wait(timeout=30)
        finally:
            os.close(self.master)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _take_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def first_question(flow: str, language: str) -> str:
    """The start of the flow's first question, as the flow file words it today."""
    text = load_shipped_flows()[flow].questions[0].text
    return str(getattr(text, language))[:40]


@pytest.mark.slow  # a process of its own
def test_at_a_terminal_without_a_token_the_try_out_starts_and_asks_who_you_are(
    tmp_path: Path,
) -> None:
    terminal = Terminal(tmp_path)
    try:
        shown = terminal.expect("Wie ben jij?")
        hint, intro = shown.strip().splitlines()[:2]
        assert "BOT_TOKEN is not set" in hint
        assert "@BotFather" in hint
        assert intro.startswith("Baanwijzer in de terminal.")
        assert "Traceback" not in shown
        # The employer's button, beside the candidate's: the buttons are printed after the text
        # and may come in a later read, so wait for it (expect fails if it never comes).
        shown = terminal.expect("[🏢")
        assert "[🏢" in shown
        assert "Traceback" not in shown

        terminal.type("2")  # "I am an employer"
        terminal.expect(first_question("employer", "nl"))
        assert terminal.end_input() == 0
    finally:
        terminal.close()
    # It ran on the try-out's own folder, never on the real intakes.
    assert (terminal.data_dir / "try-out").is_dir()
    assert not (terminal.data_dir / "conversations").exists()


@pytest.mark.slow  # a process of its own
def test_at_a_terminal_the_try_out_speaks_the_default_language(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path, DEFAULT_LANGUAGE="en")
    try:
        shown = terminal.expect("Who are you?")
        assert "Wie ben jij?" not in shown
        terminal.type("1")  # "I am looking for work"
        terminal.expect(first_question("candidate", "en"))
        assert terminal.end_input() == 0
    finally:
        terminal.close()


@pytest.mark.slow  # a process of its own
def test_ctrl_c_ends_the_try_out_at_once(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path)
    try:
        terminal.expect("Wie ben jij?")
        terminal.type("1")
        terminal.expect(first_question("candidate", "nl"))
        assert terminal.interrupt() == 130  # not left waiting for an Enter
    finally:
        terminal.close()
    assert "Traceback" not in terminal.output
    # The stores were closed on the way out: the data directory is free for the next run.
    with hold_data_dir(terminal.data_dir / "try-out"):
        pass


@pytest.mark.slow  # a process of its own
def test_try_honours_the_default_language(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        "DEFAULT_LANGUAGE": "en",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "try", "employer"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert first_question("employer", "en") in result.stdout
    assert first_question("employer", "nl") not in result.stdout

"""Starting the real `python -m bot` process against a local Bot API server, for e2e tests."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Required with a token (bot/config.py); any line will do in a test.
SERVICE_CONTACT = "Bel 070 123 45 67"


def bot_env(
    *, home: Path, token: str, api_base: str, data_dir: Path, **settings: str
) -> dict[str, str]:
    """The environment of a bot process in a test: this checkout, the fake Bot API, a fresh
    DATA_DIR, INFO logs, and nothing of the developer's own environment; `settings` add to it."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(home),
        "BOT_TOKEN": token,
        "TELEGRAM_API_BASE": api_base,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",
        "SERVICE_CONTACT": SERVICE_CONTACT,
        **settings,
    }


async def spawn_bot(env: dict[str, str], cwd: Path, log_path: Path) -> asyncio.subprocess.Process:
    """`python -m bot` with `env`, its output (stdout and stderr) in `log_path`."""
    with log_path.open("wb") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=cwd,  # no .env of the developer is read
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )

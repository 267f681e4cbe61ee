"""Composition root: `python -m bot` (polling or webhook) and `python -m bot try candidate`."""

from __future__ import annotations

import gc

if __name__ == "__main__":
    # The cyclic collector is off until the bot is assembled (run_bot turns it on, the try-out
    # too). The imports (aiogram's pydantic models most of all) set off about 400 collections
    # that walk every object made so far, 0.4 s of CPU, to free some 2,000 objects in all: an
    # eighth of the start-up, while nobody is answered (bench/footprint_bench.py).
    gc.disable()

import argparse
import asyncio
import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiogram import Bot, Dispatcher

from bot.app import create_bot, create_dispatcher, create_services, set_commands
from bot.config import ConfigError, Settings, load_settings
from bot.console import ConsoleSession, run_console
from bot.logging_setup import setup_logging
from bot.polling import Poller
from bot.sender import Limits, Sender
from bot.services import Services
from bot.tasks import start_background_tasks
from storage import Stores, SystemClock, open_stores
from storage.funnel import FileFunnel
from storage.lock import DataDirError, hold_data_dir, os_reason

log = logging.getLogger("bot")

NO_TOKEN = (
    "BOT_TOKEN is not set: talk to @BotFather in Telegram, send /newbot, and put the token in "
    "a .env file as BOT_TOKEN=123456:ABC... (see README.md).\n"
    "Without a token you can try the same intake in this terminal: {python} -m bot try candidate "
    "(or: {python} -m bot try employer)."
)


def _python_command() -> str:
    """How the person started Python, so the hint can be copied: `.venv/bin/python` or `python`."""
    try:
        relative = os.path.relpath(sys.executable)
    except ValueError:
        return "python"
    return relative if not relative.startswith("..") else "python"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Baanwijzer Telegram bot")
    sub = parser.add_subparsers(dest="command")
    try_parser = sub.add_parser("try", help="run an intake in the terminal, without Telegram")
    try_parser.add_argument(
        "flow", choices=["candidate", "employer"], nargs="?", default="candidate"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command != "try" and settings.BOT_TOKEN is not None:
            settings.check_for_telegram()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.command == "try":
        return _try_out(settings, args.flow)
    if settings.BOT_TOKEN is None:
        hint = NO_TOKEN.format(python=_python_command())
        if sys.stdin.isatty():
            # Someone at a terminal gets something that runs: the token line, then the
            # try-out, whose welcome asks whether they look for work or have work to offer.
            print(hint.splitlines()[0], file=sys.stderr)
            return _try_out(settings, None)
        print(hint, file=sys.stderr)
        return 2
    setup_logging(settings.LOG_LEVEL)
    return _in_data_dir(settings.DATA_DIR, lambda: asyncio.run(run_bot(settings)))


def _try_out(settings: Settings, flow: str | None) -> int:
    gc.enable()  # off while the modules were imported; nothing here waits for the start-up
    # The try-out talks in the terminal: only problems are logged there, not routine lines.
    setup_logging("ERROR")
    settings = try_out_settings(settings)
    try:
        return _in_data_dir(settings.DATA_DIR, lambda: asyncio.run(try_in_terminal(settings, flow)))
    except KeyboardInterrupt:
        # Ctrl-C ends a try-out as Ctrl-D does; the stores were closed on the way out.
        print(file=sys.stderr)
        return 130


def _in_data_dir(data_dir: Path, run: Callable[[], int]) -> int:
    """Run while holding the data directory; a directory that cannot be used is one line."""
    try:
        with hold_data_dir(data_dir):
            return run()
    except DataDirError as exc:
        print(f"Setting DATA_DIR: {exc}", file=sys.stderr)
        return 2


async def _assemble(
    settings: Settings, bot: Bot, limits: Limits
) -> tuple[Services, Dispatcher, Stores, Sender]:
    clock = SystemClock()
    try:
        stores = await open_stores(
            settings.DATA_DIR,
            clock,
            retention_days=settings.RETENTION_DAYS,
            conversation_days=settings.CONVERSATION_RETENTION_DAYS,
            after_close_days=settings.RETENTION_AFTER_CLOSE_DAYS,
        )
    except OSError as exc:
        # The folder itself was checked (hold_data_dir); this is a file or folder inside it,
        # for example one left by another user. The path names no person.
        if exc.filename and exc.errno in (errno.EEXIST, errno.ENOTDIR):
            reason = f"{exc.filename} is a file, not a folder"
        else:
            reason = os_reason(exc) + (f" ({exc.filename})" if exc.filename else "")
        raise DataDirError(f"cannot open the stores: {reason}") from None
    for problem in stores.problems:
        log.warning("storage: %s", problem)
    funnel = FileFunnel(settings.DATA_DIR / "funnel.json", stores.problems)
    services = create_services(
        settings, intakes=stores.intakes, outbox=stores.outbox, clock=clock, funnel=funnel
    )
    services.storage_problems = list(stores.problems)
    sender = Sender(bot, limits)
    dp = create_dispatcher(services, stores.conversations, sender)
    # Calls that were queued but not sent when the process stopped go first, in order.
    await dp["chat_outbox"].resume()
    return services, dp, stores, sender


def try_out_settings(settings: Settings) -> Settings:
    """The settings of a try-out. It is not a real intake for the coordinators: no card is
    queued for their group. Its intakes are kept apart too, so they never show up in /intakes,
    /export or /stats."""
    return settings.model_copy(
        update={"COORDINATOR_CHAT_ID": None, "DATA_DIR": settings.DATA_DIR / "try-out"}
    )


async def try_in_terminal(settings: Settings, flow: str | None) -> int:
    """Run one intake in the terminal with `settings` from try_out_settings; `flow` None lets
    the welcome ask whether the person looks for work or offers it."""
    session = ConsoleSession(sys.stdout)
    bot = Bot(token="1:TERMINAL", session=session)
    # No limits in a terminal: nothing goes to Telegram.
    services, dp, stores, sender = await _assemble(settings, bot, Limits.unlimited())
    try:
        await run_console(dp, bot, session, flow, language=settings.DEFAULT_LANGUAGE)
    finally:
        await _shut_down(services, dp, stores, sender)
    return 0


async def _shut_down(services: Services, dp: Dispatcher, stores: Stores, sender: Sender) -> None:
    """Stop sending; with nothing writing back any more, write off the sent edits; then close
    the stores (aiogram's own shutdown is not used: it closes the conversation store first)."""
    await sender.stop()
    await dp["chat_outbox"].close()
    await services.funnel.close()
    await stores.close()


async def run_bot(settings: Settings) -> int:
    bot = create_bot(settings)
    services, dp, stores, sender = await _assemble(settings, bot, settings.send_limits())
    me = await bot.get_me()
    services.bot_username = me.username or ""
    await set_commands(bot, settings)
    sender.start()
    tasks = start_background_tasks(bot, services, stores, sender)
    # Objects made at start-up live for the whole process: moving them out of the collector's
    # view keeps its passes short under load (the cyclic GC halved throughput when measured:
    # docs/telegram-limits.md). They are not collected first: the 2,000 or so garbage objects
    # of the imports (a few hundred KB) are not worth the 0.2 s a pass over all of them costs.
    gc.freeze()
    gc.enable()
    try:
        if settings.WEBHOOK_URL:
            # Imported only here: aiohttp's web server is not needed for polling, and its
            # import is part of every start-up otherwise.
            from bot.webhook import serve_webhook

            await serve_webhook(settings, bot, dp)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            log.info("polling for updates")
            # Each batch is handled at once, and the next getUpdates (which confirms it to
            # Telegram) goes out only after all of it was committed: a crash mid-update loses
            # nothing, Telegram hands the update out again (tests/e2e/test_kills.py).
            await Poller(bot=bot, dp=dp, allowed_updates=dp.resolve_used_update_types()).run()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _shut_down(services, dp, stores, sender)
        await bot.session.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

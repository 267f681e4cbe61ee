"""Composition root: `python -m bot` (polling or webhook) and `python -m bot try candidate`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import create_bot, create_dispatcher, create_services, set_commands
from bot.config import ConfigError, Settings, load_settings
from bot.console import ConsoleSession, run_console
from bot.logging_setup import setup_logging
from bot.sender import Limits, Sender
from bot.services import Services
from bot.tasks import start_background_tasks
from storage import Stores, SystemClock, open_stores
from storage.funnel import FileFunnel

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
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    # The try-out talks in the terminal: only problems are logged there, not routine lines.
    setup_logging("ERROR" if args.command == "try" else settings.LOG_LEVEL)
    if args.command == "try":
        return asyncio.run(try_in_terminal(settings, args.flow))
    if settings.BOT_TOKEN is None:
        print(NO_TOKEN.format(python=_python_command()), file=sys.stderr)
        if sys.stdin.isatty():
            answer = input("Nu proberen in de terminal? / Try it in the terminal now? [j/y/N] ")
            if answer.strip().casefold() in ("j", "ja", "y", "yes"):
                return asyncio.run(try_in_terminal(settings, "candidate"))
        return 2
    return asyncio.run(run_bot(settings))


async def _assemble(
    settings: Settings, bot: Bot, limits: Limits
) -> tuple[Services, Dispatcher, Stores, Sender]:
    clock = SystemClock()
    stores = await open_stores(
        settings.DATA_DIR,
        clock,
        retention_days=settings.RETENTION_DAYS,
        conversation_days=settings.CONVERSATION_RETENTION_DAYS,
        after_close_days=settings.RETENTION_AFTER_CLOSE_DAYS,
    )
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


async def try_in_terminal(settings: Settings, flow: str) -> int:
    # A try-out is not a real intake for the coordinators: no card is queued for their group.
    # Its intakes are kept apart too, so they never show up in /intakes, /export or /stats.
    settings = settings.model_copy(
        update={"COORDINATOR_CHAT_ID": None, "DATA_DIR": settings.DATA_DIR / "try-out"}
    )
    session = ConsoleSession(sys.stdout)
    bot = Bot(token="1:TERMINAL", session=session)
    # No limits in a terminal: nothing goes to Telegram.
    services, dp, stores, sender = await _assemble(settings, bot, Limits.unlimited())
    try:
        await run_console(dp, bot, session, flow)
    finally:
        await sender.stop()
        await services.funnel.close()
        await stores.close()
    return 0


async def run_bot(settings: Settings) -> int:
    bot = create_bot(settings)
    services, dp, stores, sender = await _assemble(settings, bot, settings.send_limits())
    me = await bot.get_me()
    services.bot_username = me.username or ""
    await set_commands(bot, settings)
    sender.start()
    tasks = start_background_tasks(bot, services, stores, sender)
    # Objects made at start-up live for the whole process: moving them out of the collector's
    # view keeps its passes short under load (measurements.md: the cyclic GC halved throughput).
    gc.collect()
    gc.freeze()
    try:
        if settings.WEBHOOK_URL:
            await _serve_webhook(settings, bot, dp)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            log.info("polling for updates")
            await dp.start_polling(
                bot,
                allowed_updates=dp.resolve_used_update_types(),
                handle_signals=True,
                # The next getUpdates (which confirms this batch to Telegram) goes out only
                # after the batch was handled and committed: a crash mid-update loses nothing,
                # Telegram hands the update out again (tests/e2e/test_kills.py).
                handle_as_tasks=False,
            )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sender.stop()
        await services.funnel.close()
        await stores.close()
        await bot.session.close()
    return 0


def create_webhook_app(settings: Settings, bot: Bot, dp: Dispatcher) -> web.Application:
    """The aiohttp app for webhook mode; a request without the right secret gets 401."""
    assert settings.WEBHOOK_SECRET is not None
    app = web.Application()
    # handle_in_background=False: Telegram gets its 200 only after the update was committed,
    # so an update cut off by a crash is sent again instead of lost.
    SimpleRequestHandler(
        dispatcher=dp,
        bot=bot,
        secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
        handle_in_background=False,
    ).register(app, path="/webhook")
    setup_application(app, dp, bot=bot)
    return app


async def _serve_webhook(settings: Settings, bot: Bot, dp: Dispatcher) -> None:
    assert settings.WEBHOOK_URL is not None and settings.WEBHOOK_SECRET is not None
    app = create_webhook_app(settings, bot, dp)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.WEBHOOK_HOST, settings.WEBHOOK_PORT)
    await site.start()
    await bot.set_webhook(
        url=f"{settings.WEBHOOK_URL}/webhook",
        secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
        allowed_updates=dp.resolve_used_update_types(),
    )
    log.info("webhook listening on %s:%s", settings.WEBHOOK_HOST, settings.WEBHOOK_PORT)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())

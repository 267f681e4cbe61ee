"""Webhook mode: the aiohttp app Telegram posts updates to, and serving it until SIGTERM.

Order of the checks on each request: the secret first (401), then the body (400 unless it is one
JSON object that is a Telegram update), and only then the Dispatcher. A body that is not an
update is the sender's mistake, not ours: it is answered with a short reason and one warning
line, never a traceback, and nothing of the body is logged (it may hold what a person typed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from bot.config import Settings

log = logging.getLogger("bot.webhook")

PATH = "/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# How long a SIGTERM waits for the requests in hand. Ours commit in milliseconds; this only
# bounds a stuck one, well inside systemd's 90 s and Telegram's own 60 s wait for an answer.
SHUTDOWN_TIMEOUT = 25.0


class NotAnUpdateError(Exception):
    """The body is not a Telegram update; the message says why, without any of its content."""


class UpdateRequestHandler(SimpleRequestHandler):
    """aiogram's handler, with a body that is not an update answered 400 instead of 500."""

    async def handle(self, request: web.Request) -> web.Response:
        bot = await self.resolve_bot(request)
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), bot):
            return web.Response(text="Unauthorized", status=401)
        try:
            update = parse_update(await request.read(), bot)
        except NotAnUpdateError as exc:
            log.warning("webhook: refused a request body: %s", exc)
            return web.Response(text=f"Bad Request: {exc}", status=400)
        # handle_in_background=False (see create_webhook_app): the answer waits for the commit.
        result: TelegramMethod[Any] | None = await self.dispatcher.feed_webhook_update(
            bot, update, **self.data
        )
        return web.Response(body=self._build_response_writer(bot=bot, result=result))

    __call__ = handle


def parse_update(body: bytes, bot: Bot) -> Update:
    """The update in a request body, or NotAnUpdateError naming what is wrong with it."""
    if not body.strip():
        raise NotAnUpdateError("empty body")
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and bytes that are not UTF-8; RecursionError a body nested
        # deeper than the parser goes.
        raise NotAnUpdateError("not JSON") from None
    if not isinstance(data, dict):
        raise NotAnUpdateError(f"a JSON {type(data).__name__}, not an object")
    try:
        update = Update.model_validate(data, context={"bot": bot})
    except (ValidationError, RecursionError) as exc:
        # Only the place of the first error: the values may be what a person typed.
        where = _first_error_place(exc)
        raise NotAnUpdateError(f"not an update ({where})" if where else "not an update") from None
    try:
        update.event_type  # noqa: B018 - raises for an update with no event aiogram knows
    except UpdateTypeLookupError:
        # aiogram would log such an update whole, with whatever a person wrote in it.
        raise NotAnUpdateError("no known update type") from None
    return update


def _first_error_place(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return ""
    errors = exc.errors(include_input=False, include_url=False)
    if not errors:
        return ""
    first = errors[0]
    place = ".".join(str(part) for part in first["loc"])
    return f"{place}: {first['type']}" if place else str(first["type"])


def create_webhook_app(settings: Settings, bot: Bot, dp: Dispatcher) -> web.Application:
    """The aiohttp app for webhook mode; a request without the right secret gets 401."""
    assert settings.WEBHOOK_SECRET is not None
    app = web.Application()
    # handle_in_background=False: Telegram gets its 200 only after the update was committed,
    # so an update cut off by a crash is sent again instead of lost.
    handler = UpdateRequestHandler(
        dispatcher=dp,
        bot=bot,
        secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
        handle_in_background=False,
    )
    # Not handler.register(): that closes the bot's session when the app shuts down, before
    # the requests in hand are finished. run_bot closes it last, as in polling mode.
    app.router.add_post(PATH, handler.handle)
    return app


async def serve_webhook(settings: Settings, bot: Bot, dp: Dispatcher) -> None:
    """Serve the webhook until SIGTERM or SIGINT; then take no new requests, finish the ones
    in hand, and return, so the caller stops the sender and closes the stores."""
    assert settings.WEBHOOK_URL is not None and settings.WEBHOOK_SECRET is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # As aiogram's polling does: the handlers stay until the loop closes, so a second
        # signal while the stores are being closed changes nothing either.
        loop.add_signal_handler(sig, stop.set)
    app = create_webhook_app(settings, bot, dp)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.WEBHOOK_HOST, settings.WEBHOOK_PORT)
        await site.start()
        await bot.set_webhook(
            url=f"{settings.WEBHOOK_URL}{PATH}",
            secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
            allowed_updates=dp.resolve_used_update_types(),
        )
        log.info("webhook listening on %s:%s", settings.WEBHOOK_HOST, settings.WEBHOOK_PORT)
        await stop.wait()
        log.info("stopping: finishing the requests in hand")
    finally:
        # Stops listening first, then waits (at most SHUTDOWN_TIMEOUT) for the handlers that
        # are running. The webhook stays set: Telegram keeps new updates until the next start.
        await runner.cleanup()
    # No dp.emit_shutdown() here: aiogram's closes the FSM storage, which is our conversation
    # store, while the sender may still write a sent call back to it. run_bot stops the sender
    # first and closes the stores after.


__all__ = ["NotAnUpdateError", "create_webhook_app", "parse_update", "serve_webhook"]

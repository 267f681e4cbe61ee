"""Handler routers, in the order they are tried: specific first, the fallback last."""

from __future__ import annotations

from aiogram import Router


def coordinator_router() -> Router:
    """A fresh router for one Dispatcher: aiogram attaches a router to a single parent."""
    from bot.handlers import coordinator

    return coordinator.build_router()


def private_routers() -> list[Router]:
    """The routers under the private parent (bot/app.py), in the order they are tried."""
    from bot.handlers import fallback, intake, privacy

    return [
        intake.build_answers_router(),
        privacy.build_router(),
        intake.build_router(),
        fallback.build_router(),
    ]

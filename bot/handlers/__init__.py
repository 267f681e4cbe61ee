"""Handler routers, in the order they are tried: specific first, the fallback last."""

from __future__ import annotations

from aiogram import Router


def routers() -> list[Router]:
    """Fresh routers for one Dispatcher: aiogram attaches a router to a single parent."""
    from bot.handlers import coordinator, fallback, intake, privacy

    return [
        coordinator.build_router(),
        privacy.build_router(),
        intake.build_router(),
        fallback.build_router(),
    ]

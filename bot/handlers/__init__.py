"""Handler routers, in the order they are tried: specific first, the fallback last."""

from __future__ import annotations

from aiogram import Router


def routers() -> list[Router]:
    from bot.handlers import coordinator, fallback, intake, privacy

    return [coordinator.router, privacy.router, intake.router, fallback.router]

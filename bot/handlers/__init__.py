"""Handler routers, in the order they are tried: specific first, the fallback last."""

from __future__ import annotations

from aiogram import Router


def routers() -> list[Router]:
    from bot.handlers import fallback, intake, privacy

    return [privacy.router, intake.router, fallback.router]

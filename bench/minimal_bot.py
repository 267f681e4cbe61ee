"""A minimal aiogram bot, the reference of the footprint benchmark: one handler, `answer("ok")`.

It imports aiogram and nothing of the bot's, so its memory and start-up are what aiogram itself
costs. Two ways to run it (the footprint benchmark does both, each in a fresh process):

    python -m bench.minimal_bot            # poll: BOT_TOKEN and TELEGRAM_API_BASE from the env
    python -m bench.minimal_bot --measure  # assemble, collect garbage, print {"rss_mb": ...}
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
from collections.abc import Sequence

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


def build(token: str, api_base: str | None = None) -> tuple[Bot, Dispatcher]:
    session = AiohttpSession()
    if api_base:
        session.api = TelegramAPIServer.from_base(api_base)
    router = Router(name="minimal")

    @router.message()
    async def ok(message: Message) -> None:
        await message.answer("ok")

    dp = Dispatcher()
    dp.include_router(router)
    return Bot(token=token, session=session), dp


async def poll() -> None:
    bot, dp = build(os.environ["BOT_TOKEN"], os.environ.get("TELEGRAM_API_BASE"))
    try:
        await dp.start_polling(bot, handle_signals=True)
    finally:
        await bot.session.close()


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


async def measure() -> dict[str, float]:
    bot, _dp = build("1:MINIMAL")
    gc.collect()
    result = {"rss_mb": rss_mb()}
    await bot.session.close()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.minimal_bot", description=__doc__)
    parser.add_argument("--measure", action="store_true", help="print the RSS once assembled")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(asyncio.run(measure())))
        return 0
    asyncio.run(poll())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

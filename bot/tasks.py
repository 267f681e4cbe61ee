"""Background work inside the bot process: the outbox delivery worker and the retention purge."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from aiogram import Bot

from bot.delivery import start_delivery_worker
from bot.services import Services
from storage import run_retention

log = logging.getLogger(__name__)


def start_background_tasks(bot: Bot, services: Services, stores: Any) -> list[asyncio.Task[None]]:
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(
            run_retention(stores, services.clock, every=timedelta(hours=1)), name="retention"
        ),
        start_delivery_worker(bot, services),
    ]
    return tasks

"""Background work inside the bot process: the outbox source for the sender and the retention
purge."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from aiogram import Bot

from bot.delivery import DeliveryOutbox
from bot.sender import Sender
from bot.services import Services
from storage import run_retention

log = logging.getLogger(__name__)


def start_background_tasks(
    bot: Bot, services: Services, stores: Any, sender: Sender
) -> list[asyncio.Task[None]]:
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(
            run_retention(stores, services.clock, every=timedelta(hours=1)), name="retention"
        ),
        # The coordinators' outbox: read now (what waited over a restart) and whenever a
        # handler queues something; the sender delivers it.
        asyncio.create_task(DeliveryOutbox(services, sender).run(), name="outbox"),
    ]
    return tasks

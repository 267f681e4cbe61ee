"""The person's data rights in the chat, as far as they need the bot: see my data, and the
bot's side of erasing and withdrawing.

The rules are the use cases' (flows/usecases/rights.py: `erase`, `withdraw`); this module hands
them the bot's ports. The handlers (`bot/handlers/privacy.py`) do the Telegram part.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.coordinator.notices import OutboxHandoff
from bot.logging_setup import pseudonym
from bot.services import Services
from flows.ports import Conversations
from flows.records import Intake, utc_iso
from flows.usecases import rights
from flows.usecases.rights import (
    Erasure,
    Withdrawal,
    group_messages,
    withdraw_in_conversation,
)

log = logging.getLogger(__name__)

__all__ = [
    "Erasure",
    "Withdrawal",
    "erase_person",
    "export_bytes",
    "export_data",
    "group_messages",
    "is_empty",
    "withdraw_in_conversation",
    "withdraw_sensitive",
    "withdrawable",
]


# -- export ------------------------------------------------------------------------------------


async def export_data(
    services: Services, user_id: int, conversation: dict[str, Any] | None
) -> dict[str, Any]:
    """Everything stored about one person: intakes (with answers, outcome, consents, status,
    history and notes), the open conversation, and messages still waiting to be sent to them."""
    intakes = await services.intakes.for_user(user_id)
    pending = [
        d.to_dict()
        for d in await services.outbox.pending()
        if d.user_id == user_id or d.chat_id == user_id
    ]
    log.info(
        "data export for %s: %d intakes, %d deliveries",
        pseudonym(user_id),
        len(intakes),
        len(pending),
    )
    return {
        "about": "Baanwijzer: alles wat we van je bewaren / everything we keep about you",
        "made_at": utc_iso(services.clock.now()),
        "telegram_user_id": user_id,
        "retention_days": services.settings.RETENTION_DAYS,
        "intakes": [i.to_dict() for i in intakes],
        "conversation": conversation,
        "pending_messages": pending,
    }


def export_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")


def is_empty(data: dict[str, Any]) -> bool:
    return not (data["intakes"] or data["conversation"] or data["pending_messages"])


# -- erasure and withdrawal, with the bot's ports ------------------------------------------------


async def erase_person(services: Services, user_id: int, conversations: Conversations) -> Erasure:
    """`flows.usecases.rights.erase` for this bot: the intakes under the coordinators' lock,
    the cards shown anew through the outbox."""
    erasure = await rights.erase(
        user_id,
        intakes=services.intakes,
        outbox=services.outbox,
        conversations=conversations,
        clock=services.clock,
        locks=services.coordinator,
        cards=OutboxHandoff(services),
    )
    log.info(
        "erased the data of %s: %d intakes, %d deliveries, %d conversations",
        pseudonym(user_id),
        len(erasure.numbers),
        erasure.deliveries,
        erasure.conversations,
    )
    return erasure


async def withdrawable(services: Services, user_id: int) -> list[Intake]:
    return await rights.withdrawable(services.intakes, services.engines, user_id)


async def withdraw_sensitive(services: Services, user_id: int) -> Withdrawal:
    withdrawal = await rights.withdraw(
        user_id,
        intakes=services.intakes,
        engines=services.engines,
        clock=services.clock,
        locks=services.coordinator,
        cards=OutboxHandoff(services),
    )
    log.info(
        "sensitive consent withdrawn by %s: %d intakes", pseudonym(user_id), len(withdrawal.numbers)
    )
    return withdrawal

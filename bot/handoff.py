"""Hand a confirmed intake to the coordinators: a card in their group, through the outbox.

The card goes into the durable outbox before the person is told the intake was sent, so a crash
or a Telegram outage between the two loses nothing; the outbox worker delivers it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from bot.services import Services
from flows.records import Delivery, Intake, utc_iso

log = logging.getLogger(__name__)


def new_delivery(
    services: Services,
    chat_id: int,
    method: str,
    payload: dict[str, Any],
    *,
    intake: Intake | None = None,
    user_id: int | None = None,
    purpose: str = "",
) -> Delivery:
    now = utc_iso(services.clock.now())
    return Delivery(
        id=uuid.uuid4().hex,
        chat_id=chat_id,
        method=method,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
        intake_number=intake.number if intake else None,
        user_id=user_id if user_id is not None else (intake.user_id if intake else None),
        purpose=purpose,
    )


async def queue_new_intake(services: Services, intake: Intake) -> None:
    group = services.settings.COORDINATOR_CHAT_ID
    if group is None:
        log.warning(
            "intake %s stored; COORDINATOR_CHAT_ID is not set, so no card is queued", intake.number
        )
        return
    text = services.renderer.render("nl", "card", intake=intake.to_dict())
    delivery = new_delivery(
        services, group, "sendMessage", {"text": text}, intake=intake, purpose="card"
    )
    await services.outbox.put(delivery)

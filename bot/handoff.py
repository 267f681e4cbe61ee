"""Hand a confirmed intake to the coordinators, and everything after: through the outbox.

The card goes into the durable outbox before the person is told the intake was sent, so a crash
or a Telegram outage between the two loses nothing; `bot/delivery.py` hands it to the sender,
which delivers it. Card edits, notices under the card, messages to the person and the person's
answers (to a coordinator's private chat, never the group) go the same way. A payload that refers
to the card (an edit, a reply under it) may leave out the card's message id: it is filled in when
the call is built, because the card may not be delivered yet.
"""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum
from typing import Any

from bot.coordinator.cards import card_payload, person_lang
from bot.services import Services
from flows.records import Delivery, Intake, utc_iso

log = logging.getLogger(__name__)


class Purpose(StrEnum):
    """`Delivery.purpose`: what bot/delivery.py does with the result (the history's actions
    are another list: `flows.records.HistoryAction`)."""

    CARD = "card"  # sendMessage of a new card; its message id is stored on the intake
    CARD_EDIT = "card-edit"  # editMessageText of the card; chat and message id filled in at send
    TO_PERSON = "person"  # a message to the person; its id is kept so a reply can be relayed
    PERSON_ACK = "person-ack"  # "your message was passed on"
    RELAY = "relay"  # the person's message, to a coordinator's private chat (once: under the card)
    NOTE_PROMPT = "note-prompt"  # "reply to this with the note", under the card
    GROUP_NOTICE = "group-notice"  # anything else in the group about an intake, under the card


UNDER_CARD = frozenset({Purpose.RELAY, Purpose.NOTE_PROMPT, Purpose.GROUP_NOTICE})


def new_delivery(
    services: Services,
    chat_id: int,
    method: str,
    payload: dict[str, Any],
    *,
    intake: Intake | None = None,
    user_id: int | None = None,
    purpose: str = "",
    delivery_id: str | None = None,
) -> Delivery:
    now = utc_iso(services.clock.now())
    person = user_id if user_id is not None else (intake.user_id if intake else None)
    return Delivery(
        id=delivery_id or uuid.uuid4().hex,
        chat_id=chat_id,
        method=method,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
        intake_number=intake.number if intake else None,
        # An erased intake (a tombstone) has user id 0: it belongs to nobody any more.
        user_id=person or None,
        purpose=purpose,
    )


async def _put(services: Services, delivery: Delivery) -> None:
    await services.outbox.put(delivery)
    services.coordinator.wake.set()


def _group(services: Services, intake: Intake) -> int | None:
    return intake.card_chat_id or services.settings.COORDINATOR_CHAT_ID


def card_delivery_id(intake: Intake) -> str:
    """The card's delivery id, from the submit id: queuing the same card again is visible."""
    return f"card-{intake.submit_id}" if intake.submit_id else uuid.uuid4().hex


async def queue_new_intake(services: Services, intake: Intake) -> None:
    group = services.settings.COORDINATOR_CHAT_ID
    if group is None:
        log.warning(
            "intake %s stored; COORDINATOR_CHAT_ID is not set, so no card is queued", intake.number
        )
        return
    payload = card_payload(services, intake)
    card = new_delivery(
        services,
        group,
        "sendMessage",
        payload,
        intake=intake,
        purpose=Purpose.CARD,
        delivery_id=card_delivery_id(intake),
    )
    await _put(services, card)


async def queue_card_update(services: Services, intake: Intake) -> None:
    """Re-render the card from the intake as it is now and queue the edit."""
    group = _group(services, intake)
    if group is None:
        return
    payload = card_payload(services, intake)
    delivery = new_delivery(
        services, group, "editMessageText", payload, intake=intake, purpose=Purpose.CARD_EDIT
    )
    await _put(services, delivery)


async def queue_to_person(
    services: Services, intake: Intake, text: str, *, purpose: Purpose = Purpose.TO_PERSON
) -> None:
    if not intake.chat_id:
        return  # erased: there is nobody to write to
    payload = {"text": text, "parse_mode": "HTML"}
    await _put(
        services,
        new_delivery(
            services, intake.chat_id, "sendMessage", payload, intake=intake, purpose=purpose
        ),
    )


async def queue_to_coordinator(
    services: Services,
    intake: Intake,
    coordinator_id: int,
    text: str,
    *,
    purpose: Purpose = Purpose.RELAY,
) -> None:
    """A message with personal data, to one coordinator's private chat (never the group)."""
    payload: dict[str, Any] = {"text": text, "parse_mode": "HTML"}
    await _put(
        services,
        new_delivery(
            services, coordinator_id, "sendMessage", payload, intake=intake, purpose=purpose
        ),
    )


async def queue_under_card(services: Services, intake: Intake, text: str, *, purpose: str) -> None:
    """A message in the coordinators' group, as a reply to the intake's card."""
    group = _group(services, intake)
    if group is None:
        return
    payload: dict[str, Any] = {"text": text, "parse_mode": "HTML"}
    await _put(
        services,
        new_delivery(services, group, "sendMessage", payload, intake=intake, purpose=purpose),
    )


async def tell_person_status(services: Services, intake: Intake, template: str) -> None:
    """Tell the person, in their own language, that their intake was picked up or closed."""
    text = services.renderer.render(
        person_lang(services, intake), template, number=intake.number, flow=str(intake.kind)
    )
    await queue_to_person(services, intake, text)

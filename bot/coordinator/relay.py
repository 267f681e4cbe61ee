"""The person's answers to a coordinator: to that coordinator's private chat, not the group.

What a person writes back is free text and may say anything about their health, so it goes to
one coordinator's private chat with the bot: the one who picked the intake up, or else the one
who wrote to the person last. The group gets a line under the card that says where it went,
without the text. If Telegram cannot deliver it there (the coordinator never pressed Start),
the group is told so; the text is kept in the intake's history, and /intake in a private chat
shows it.

With COORDINATOR_ACCESS=list a coordinator who is no longer on the list gets nothing.
"""

from __future__ import annotations

import logging

from markupsafe import Markup

from bot import handoff
from bot.coordinator.cards import MAX_PERSON_MESSAGE, coordinator_lang, person_lang, short
from bot.services import Services
from flows.records import Delivery, HistoryAction, Intake

log = logging.getLogger(__name__)

MAX_RELAYED = 3000


def _allowed(services: Services, user_id: int) -> bool:
    settings = services.settings
    return settings.COORDINATOR_ACCESS == "group" or settings.is_coordinator_id(user_id)


def recipient(services: Services, intake: Intake) -> tuple[int, str] | None:
    """Who gets the person's message: the assignee, else whoever wrote to the person last."""
    if intake.assignee_id and _allowed(services, intake.assignee_id):
        return intake.assignee_id, intake.assignee_name
    for entry in reversed(intake.history):
        actor = entry.actor if entry.action == HistoryAction.TO_PERSON else None
        if actor is not None and _allowed(services, actor.id):
            return actor.id, actor.name
    return None


def _name_of(intake: Intake, user_id: int) -> str:
    if intake.assignee_id == user_id and intake.assignee_name:
        return intake.assignee_name
    for entry in reversed(intake.history):
        actor = entry.actor
        if actor is not None and actor.id == user_id:
            return actor.name
    return ""


def mention(user_id: int, name: str) -> Markup:
    """A coordinator's name that notifies them in the group (no personal data of the person)."""
    return Markup('<a href="tg://user?id={}">{}</a>').format(user_id, short(name or "?", 40))


def fit_escaped(text: str, limit: int) -> str:
    """The text cut so that it is at most `limit` characters once escaped for Telegram HTML.

    A cut after escaping would have to drop whole lines (bot/render.py `fit`), which for a
    one-line message is all of it; `'` and `"` grow to five characters when escaped.
    """
    size = 0
    for i, char in enumerate(text):
        size += len(Markup.escape(char))
        if size > limit:
            return text[:i].rstrip() + "…"
    return text


async def from_person(services: Services, intake: Intake, text: str) -> None:
    """Pass the person's message on, tell the group where it went, and thank the person."""
    lang = coordinator_lang(services)
    target = recipient(services, intake)
    # Kept for the coordinators (the private /intake shows it) and as the audit line.
    await services.intakes.update(
        intake.number, "person", HistoryAction.FROM_PERSON, short(text, MAX_PERSON_MESSAGE)
    )
    if target is not None:
        coordinator_id, name = target
        relayed = services.renderer.render(
            lang,
            "relay_from_person",
            number=intake.number,
            name=short(intake.name, 80),
            text=fit_escaped(text, MAX_RELAYED),
        )
        await handoff.queue_to_coordinator(services, intake, coordinator_id, relayed)
        notice = services.renderer.render(
            lang,
            "coord_relay_notice",
            key="sent",
            number=intake.number,
            mention=mention(coordinator_id, name),
            username=services.bot_username,
        )
    else:
        notice = services.renderer.render(
            lang, "coord_relay_notice", key="nobody", number=intake.number, username=""
        )
    await handoff.queue_under_card(services, intake, notice, purpose=handoff.GROUP_NOTICE)
    ack = services.renderer.render(
        person_lang(services, intake), "person_relayed", number=intake.number, flow=str(intake.kind)
    )
    await handoff.queue_to_person(services, intake, ack, purpose=handoff.PERSON_ACK)
    log.info("message from the person of %s passed to a coordinator", intake.number)


async def undeliverable(services: Services, delivery: Delivery) -> None:
    """A relay that cannot reach the coordinator's private chat: tell the group, without text."""
    intake = await services.intakes.get(delivery.intake_number or "")
    if intake is None:
        return
    notice = services.renderer.render(
        coordinator_lang(services),
        "coord_relay_notice",
        key="failed",
        number=intake.number,
        mention=mention(delivery.chat_id, _name_of(intake, delivery.chat_id)),
        username=services.bot_username,
    )
    await handoff.queue_under_card(services, intake, notice, purpose=handoff.GROUP_NOTICE)

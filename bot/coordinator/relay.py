"""The person's answers to a coordinator: to that coordinator's private chat, not the group.

What a person writes back is free text and may say anything about their health, so it goes to
one coordinator's private chat with the bot: the one who picked the intake up, or else the one
who wrote to the person last (`flows.usecases.relay_recipient`). The group gets a line under the
card that says where it went, without the text. If Telegram cannot deliver it there (the
coordinator never pressed Start), the group is told so; the text is kept in the intake's
history, and /intake in a private chat shows it.

With COORDINATOR_ACCESS=list a coordinator who is no longer on the list gets nothing.
"""

from __future__ import annotations

import logging

from markupsafe import Markup

from bot import handoff
from bot.coordinator.cards import coordinator_lang, person_lang
from bot.services import Services
from flows.records import Actor, Delivery, Intake, short
from flows.usecases import name_in_history

log = logging.getLogger(__name__)

MAX_RELAYED = 3000


def may_receive(services: Services, user_id: int) -> bool:
    """Whether a coordinator may get a person's message (still on the list, or any member)."""
    settings = services.settings
    return settings.COORDINATOR_ACCESS == "group" or settings.is_coordinator_id(user_id)


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


async def queue_from_person(
    services: Services, intake: Intake, text: str, to: Actor | None
) -> None:
    """Pass the person's message on to `to`, tell the group where it went, thank the person."""
    lang = coordinator_lang(services)
    if to is not None:
        relayed = services.renderer.render(
            lang,
            "relay_from_person",
            number=intake.number,
            name=short(intake.name, 80),
            text=fit_escaped(text, MAX_RELAYED),
        )
        await handoff.queue_to_coordinator(services, intake, to.id, relayed)
        notice = services.renderer.render(
            lang,
            "coord_relay_notice",
            key="sent",
            number=intake.number,
            mention=mention(to.id, to.name),
            username=services.bot_username,
        )
    else:
        notice = services.renderer.render(
            lang, "coord_relay_notice", key="nobody", number=intake.number, username=""
        )
    await handoff.queue_under_card(services, intake, notice, purpose=handoff.Purpose.GROUP_NOTICE)
    ack = services.renderer.render(
        person_lang(services, intake), "person_relayed", number=intake.number, flow=str(intake.kind)
    )
    await handoff.queue_to_person(services, intake, ack, purpose=handoff.Purpose.PERSON_ACK)
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
        mention=mention(delivery.chat_id, name_in_history(intake, delivery.chat_id)),
        username=services.bot_username,
    )
    await handoff.queue_under_card(services, intake, notice, purpose=handoff.Purpose.GROUP_NOTICE)

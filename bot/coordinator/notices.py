"""The `Handoff` port (flows/ports.py) over the durable outbox: what the use cases in
flows/usecases queue about an intake, worded here in the coordinators' or the person's
language and queued through bot/handoff.py."""

from __future__ import annotations

from bot import handoff
from bot.coordinator import relay
from bot.coordinator.cards import person_lang
from bot.services import Services
from flows.ports import PersonNews
from flows.records import Actor, Intake

PERSON_TEMPLATES = {PersonNews.PICKED_UP: "person_picked_up", PersonNews.CLOSED: "person_closed"}


class OutboxHandoff:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def queue_card(self, intake: Intake) -> None:
        services = self.services
        # One lookup by the card's delivery id, not a read of every waiting delivery.
        if await services.outbox.get(handoff.card_delivery_id(intake)) is None:
            await handoff.queue_new_intake(services, intake)

    async def card_changed(self, intake: Intake) -> None:
        await handoff.queue_card_update(self.services, intake)

    async def tell_person(self, intake: Intake, news: PersonNews) -> None:
        await handoff.tell_person_status(self.services, intake, PERSON_TEMPLATES[news])

    async def to_person(self, intake: Intake, text: str) -> None:
        services = self.services
        body = services.renderer.render(
            person_lang(services, intake),
            "person_message",
            number=intake.number,
            text=relay.fit_escaped(text, relay.MAX_RELAYED),
            flow=str(intake.kind),
        )
        await handoff.queue_to_person(services, intake, body)

    async def from_person(self, intake: Intake, text: str, to: Actor | None) -> None:
        await relay.queue_from_person(self.services, intake, text, to)

"""What the routing rules tell the coordinators only (a rule's `note`, issue 12 item 6)."""

from __future__ import annotations

from bot.coordinator.cards import card_context, view_context
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    Harness,
    confirm_summary,
    walk,
)
from tests.support.updates import DEFAULT_USER_ID


async def test_the_private_view_shows_what_the_rules_tell_coordinators_only(
    harness: Harness,
) -> None:
    # Issue 12 item 6: a rule's `note` (for example on beschut werk and the register) is for
    # the coordinators, in the private view, and never for the person or the group card.
    await walk(harness, "candidate", {**CANDIDATE_ANSWERS, "register_basis": ["uwv-onderzoek"]})
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    services = harness.services
    view = services.renderer.render("nl", "coord_intake", **view_context(services, intake))
    card = services.renderer.render("nl", "card", **card_context(intake))
    note = "indicatie beschut werk heeft, staat niet in het register"
    assert note in view
    assert note not in card
    assert not any(note in t for t in harness.session.sent_texts(DEFAULT_USER_ID))

"""/mens during an intake: a person may ask to be contacted, and the coordinators get a card.

Issue 12 item 7: the request holds what was answered so far, within the consent given; the
coordinators claim it like a card and answer through the relay; the intake itself goes on.
"""

from __future__ import annotations

import re

from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    COORDINATOR_GROUP,
    Harness,
    confirm_summary,
    walk,
)
from tests.support.updates import DEFAULT_USER_ID, callback_update

NUMBER = re.compile(r"K-\d{4}-\d{4}")
OFFER = "Wil je dat een medewerker van het intakebureau contact met je opneemt?"


async def group_texts(harness: Harness) -> list[str]:
    """The cards queued for the coordinators' group (the harness runs no delivery worker)."""
    return [
        str(d.payload.get("text", ""))
        for d in await harness.deliveries()
        if d.chat_id == COORDINATOR_GROUP
    ]


async def test_mens_during_the_intake_sends_a_contact_request_and_the_intake_goes_on(
    harness: Harness,
) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="guidance")
    driver = harness.driver()
    question_before = await harness.current_question()

    await driver.send("/mens")
    human, offer = driver.texts_since_last_action
    assert human.startswith("🙋 Een mens spreken")
    assert "Hier ga je verder" not in human  # the offer comes first, not the question
    assert offer.startswith(OFFER)
    assert await harness.intakes() == []  # nothing is sent before the person says yes

    await driver.click("Ja, neem contact op")
    told, question = driver.texts_since_last_action
    [request] = await harness.intakes()
    assert request.request == "contact"
    assert request.number in told
    assert await harness.current_question() == question_before
    assert question_before is not None
    assert question_before.text.nl in question
    # Only what was answered so far, and nothing of what is still to come.
    assert "age" in request.answers
    assert "guidance" not in request.answers
    assert "name" not in request.answers
    [card] = [t for t in await group_texts(harness) if request.number in t]
    assert "📞 Contactverzoek" in card
    assert "Anna" not in card  # the group card holds nothing personal

    # The intake goes on to the end: a second, full intake, and no second offer meanwhile.
    await driver.send("/mens")
    assert not any(OFFER in t for t in driver.texts_since_last_action)
    await walk(harness, "candidate", CANDIDATE_ANSWERS, start=False)
    await confirm_summary(driver)
    full, contact = sorted(await harness.intakes(), key=lambda i: i.request)
    assert (full.request, contact.request) == ("", "contact")
    assert full.number != contact.number


async def test_no_offer_before_the_consent_and_no_for_an_answer_sends_nothing(
    harness: Harness,
) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.send("/mens")  # at the consent question: nothing may be sent yet
    texts = driver.texts_since_last_action
    assert not any(OFFER in t for t in texts)
    assert texts[-1].startswith("Vraag 1 · ")

    await walk(harness, "candidate", CANDIDATE_ANSWERS, start=False, until="guidance")
    await driver.send("/mens")
    await driver.send("nee")  # typed, as the buttons may be
    assert driver.texts_since_last_action[-1].startswith("Vraag ")
    assert await harness.intakes() == []
    assert await group_texts(harness) == []


async def test_a_second_tap_on_yes_makes_one_request(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="guidance")
    driver = harness.driver()
    await driver.send("/mens")
    offer = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert offer is not None
    [yes] = [d for row in driver.last_keyboard for t, d in row if t == "Ja, neem contact op"]
    assert yes is not None
    await driver.click("Ja, neem contact op")
    # The same button again, on the offer message (a double tap).
    await driver.feed(callback_update(yes, message_id=int(offer["message_id"])))
    assert driver.texts_since_last_action == []
    assert len(await harness.intakes()) == 1
    assert len([t for t in await group_texts(harness) if NUMBER.search(t)]) == 1

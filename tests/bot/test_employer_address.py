"""Employers are addressed with "u" (flows/data/employer.yaml) in every text they read: the
privacy notice, the "talk to a person" screen, what the coordinators do, and the answers to
something going wrong or stopping.
"""

from __future__ import annotations

import re

from bot.coordinator.keyboards import CardAction, CardCb
from flows.records import IntakeKind, Status
from tests.bot.coordinator_harness import COORD, Coord
from tests.bot.intake_harness import Harness
from tests.support.bot_api_state import visible_text
from tests.support.updates import callback_update, edited_message_update, sticker_update


def _je_words(text: str) -> list[str]:
    return re.findall(r"\b(?:je|jij|jou|jouw)\b", text.casefold())


async def test_an_employer_reads_u_in_the_privacy_notice_and_the_human_screen(
    harness: Harness,
) -> None:
    # Employers are addressed with "u" (flows/data/employer.yaml); the privacy notice they get
    # before the first question and the "talk to a person" screen mixed in "je" and "jouw".
    driver = harness.driver()
    await driver.send("/start werkgever")
    notice = driver.texts_since_last_action[0]
    assert "Eerst dit" in notice
    # One line stays as it is for everybody: tests/bot/test_intake_flow.py pins its wording.
    assert _je_words(notice.replace("We vragen nooit je BSN", "")) == []
    await driver.click("🙋 Ik wil een mens spreken")
    human = driver.texts_since_last_action[0]
    assert "Een mens spreken" in human
    assert _je_words(human) == []


async def test_an_employer_is_told_with_u_what_the_coordinators_do(coord: Coord) -> None:
    # Picked up, a message from the coordinator, the relay's acknowledgement, closed: an
    # employer read "je aanmelding", "Typ je antwoord hier", "Ik heb je bericht doorgegeven".
    employer = 4001
    intake = await coord.add_intake(kind=IntakeKind.EMPLOYER, user_id=employer)
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    mark = coord.mark()
    await coord.press(
        COORD, CardCb(action=CardAction.CLAIM, number=intake.number).pack(), message_id=card_id
    )
    await coord.say(COORD, f"/antwoord {intake.number} Wanneer kunnen we bellen?")
    await coord.deliver()
    await coord.say(employer, "Morgen na tienen", chat_id=employer)
    await coord.press(
        COORD,
        CardCb(action=CardAction.STATUS, number=intake.number, status=Status.AFGESLOTEN).pack(),
        message_id=card_id,
    )
    await coord.deliver()
    told = [r.params["text"] for r in coord.sent_to(employer, mark, "sendMessage")]
    assert len(told) == 4
    for text in told:
        assert _je_words(visible_text(text, "HTML")) == [], text


async def test_an_employer_reads_u_when_something_goes_wrong_or_they_stop(
    harness: Harness,
) -> None:
    # A sticker, a stray /start, an edited message, an old button, a wrong word on the summary,
    # /stop: the answers to these addressed an employer with "je" ("Hier was je:").
    driver = harness.driver()
    await driver.send("/start werkgever")
    await driver.click("1. Ja, akkoord")
    seen: list[str] = []
    await driver.feed(sticker_update())
    seen += driver.texts_since_last_action
    await driver.send("/start")
    seen += driver.texts_since_last_action
    await driver.feed(edited_message_update("iets anders", message_id=1))
    seen += driver.texts_since_last_action
    await driver.feed(callback_update("a:e:0:0", message_id=1))
    seen += driver.texts_since_last_action
    seen.append(driver.last_alert or "")  # an old button: a toast
    await driver.send("/stop")
    seen += driver.texts_since_last_action
    await driver.click("Ja, stoppen")
    seen += driver.texts_since_last_action
    # The old button's answer is a toast now; the text it used to send is still what a lost
    # screen gets, so it is read here too.
    seen.append(harness.services.renderer.render("nl", "stale", busy=True, flow="employer"))
    assert len(seen) >= 10
    for text in seen:
        assert _je_words(text) == [], text

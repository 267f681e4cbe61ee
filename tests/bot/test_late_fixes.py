"""Fixes made after the review: an old delete-chat offer, a refused keyboard edit, an English
reason with an English label."""

from __future__ import annotations

import asyncio

from bot.privacy import erase_person
from flows.engine import Engine, Rejected
from flows.loader import load_flow
from flows.records import Status
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    Harness,
    confirm_summary,
    walk,
    walk_candidate,
)
from tests.support.bot_api_state import BotApiError
from tests.support.updates import DEFAULT_USER_ID, callback_update


async def test_an_old_delete_chat_offer_pressed_during_a_new_intake_deletes_nothing(
    harness: Harness,
) -> None:
    await walk_candidate(harness)
    driver = harness.driver()
    await confirm_summary(driver)
    offer = driver.last_keyboard
    [delete_data] = [data for row in offer for text, data in row if "Wis dit gesprek" in text]
    assert delete_data is not None
    offer_message = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert offer_message is not None
    # A new intake starts; the old offer message is still in the chat, and its button pressed.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="age")
    question_before = await harness.current_question()
    await driver.feed(
        callback_update(delete_data, DEFAULT_USER_ID, message_id=offer_message["message_id"])
    )
    assert harness.session.requests_of("deleteMessages") == []
    assert harness.session.requests_of("deleteMessage") == []
    assert driver.texts_since_last_action == []
    assert driver.last_alert == (
        "Deze knop hoort bij een oud bericht. Kijk bij het nieuwste bericht."
    )
    assert await harness.current_question() == question_before


async def test_a_refused_keyboard_edit_on_a_tick_sends_the_question_again_with_the_tick(
    harness: Harness,
) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    driver = harness.driver()
    harness.session.fail_next(
        "editMessageReplyMarkup", BotApiError.bad_request("message can't be edited")
    )
    await driver.click("⬜️ 1. De gemeente")
    assert driver.texts_since_last_action, "the person must see the question again"
    assert "Wie helpt je nu met werk zoeken?" in driver.texts_since_last_action[-1]
    ticked = [text for row in driver.last_keyboard for text, _ in row if "De gemeente" in text]
    assert ticked == ["☑️ 1. De gemeente"]
    data = await harness.context().get_data()
    assert data["selected"] == ["gemeente"]


def test_the_exclusive_choice_reason_names_the_option_in_the_readers_language() -> None:
    engine = Engine(load_flow("candidate"))
    state = engine.start()
    while state.current is not None and state.current != "helpers":
        qid = state.current
        result = engine.answer(state, CANDIDATE_ANSWERS[qid])
        assert not isinstance(result, Rejected), (qid, result)
        state = result.state
    assert state.current == "helpers"
    result = engine.answer(state, ["gemeente", "niemand"])
    assert isinstance(result, Rejected)
    assert result.reason.text("en") == "'Nobody' cannot be chosen together with something else."
    assert result.reason.text("nl") == "'Niemand' gaat niet samen met een andere keuze."


async def test_erasure_waits_for_a_coordinator_change_in_progress_and_wins(
    harness: Harness,
) -> None:
    await walk_candidate(harness)
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    lock = harness.services.coordinator.lock(intake.number)
    await lock.acquire()  # a claim is being handled
    erasure = asyncio.create_task(erase_person(harness.services, DEFAULT_USER_ID))
    await asyncio.sleep(0.05)
    assert not erasure.done()
    await harness.services.intakes.update(
        intake.number, "coordinator:1", "claim", status=Status.OPGEPAKT, assignee_id=1
    )
    lock.release()
    await erasure
    stored = await harness.services.intakes.get(intake.number)
    assert stored is not None
    assert stored.user_id == 0
    assert stored.name == ""
    assert stored.answers == {}
    assert stored.status == Status.INGETROKKEN

"""Every button can be typed too, by its label or by a word like "klaar", "terug" or "ja": on a
question, the summary, the edit list, and the stop, erase and withdraw questions. A typed option
still counts as the answer.
"""

from __future__ import annotations

from flows.model import Question
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    Harness,
    button_label,
    joined,
    walk,
    walk_candidate,
)


async def test_summary_shown_again_from_the_edit_list_accepts_a_typed_klopt(
    harness: Harness,
) -> None:
    # /help on the "which answer to change" list shows the summary again (where the person is);
    # the summary says "je kunt ook klopt typen", so typing it must send the intake.
    await walk_candidate(harness)
    driver = harness.driver()
    await driver.click("✏️ Wijzigen")
    await driver.send("/help")
    assert "Klopt alles?" in driver.texts_since_last_action[-1]
    await driver.send("klopt")
    assert "Verstuurd" in joined(driver.texts_since_last_action)
    assert len(await harness.intakes()) == 1


async def test_the_navigation_buttons_can_be_typed_too(harness: Harness) -> None:
    # "Tik daarna op Klaar": a person who types "klaar" after ticking got "Dat antwoord ken ik
    # niet", again and again; so did "terug" and "mens". Every button can be typed.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    driver = harness.driver()
    await driver.click(f"⬜️ {button_label(await _question(harness), 'uwv')}")
    await driver.send("klaar")
    state = await harness.flow_state()
    assert state is not None
    assert state.answers["helpers"] == ["uwv"]
    assert "Dat antwoord ken ik niet" not in joined(driver.texts_since_last_action)

    await driver.send("Terug")
    assert (await _question(harness)).id == "helpers"
    await driver.send("ik wil een mens spreken")
    assert "Een mens spreken" in driver.texts_since_last_action[0]
    await driver.send("nee")  # no contact request: back to the question
    assert (await _question(harness)).id == "helpers"
    await driver.send("waarom?")
    assert "Waarom vragen we dit?" in driver.texts_since_last_action[0]


async def _question(harness: Harness) -> Question:
    question = await harness.current_question()
    assert question is not None
    return question


async def test_a_typed_option_still_wins_over_a_navigation_word(harness: Harness) -> None:
    # An answer that is an option is taken as the answer, even where a word could mean a button.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    driver = harness.driver()
    await driver.send("uwv")
    state = await harness.flow_state()
    assert state is not None
    assert state.answers["helpers"] == ["uwv"]


async def test_the_summary_buttons_can_be_typed_by_their_labels(harness: Harness) -> None:
    # "Klopt, versturen" typed as it stands on the button got "Tik op Klopt om te versturen";
    # "terug" (a button on the summary too) and "niets wijzigen" on the edit list as well.
    await walk_candidate(harness)
    driver = harness.driver()
    await driver.send("wijzigen")
    await driver.send("Niets wijzigen")
    assert (await harness.conversation())[0] == "IntakeStates:summary"
    await driver.send("terug")
    assert (await _question(harness)).id == "keep_longer"
    await driver.send(str(CANDIDATE_ANSWERS["keep_longer"]))
    await driver.send("Klopt, versturen")
    assert "Verstuurd" in joined(driver.texts_since_last_action)
    assert len(await harness.intakes()) == 1


async def test_a_typed_ja_on_the_stop_question_stops_and_consents_to_nothing(
    harness: Harness,
) -> None:
    # /stop asks "Wil je echt stoppen?" with "Ja, stoppen" and "Nee, ik ga verder". A typed
    # "ja" went to the question underneath: on the sensitive consent question it recorded "ja,
    # I answer the health questions" instead of stopping.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="sensitive_consent")
    driver = harness.driver()
    await driver.send("/stop")
    await driver.send("ja")
    state, data = await harness.conversation()
    assert state is None
    assert data["flow_state"] is None
    assert data["consents"] == []
    assert "Je bent gestopt" in joined(driver.texts_since_last_action)


async def test_a_typed_nee_on_the_stop_question_goes_on_where_the_person_was(
    harness: Harness,
) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="sensitive_consent")
    before = await harness.flow_state()
    driver = harness.driver()
    await driver.send("/stop")
    await driver.send("Nee, ik ga verder")
    assert await harness.flow_state() == before
    assert (await _question(harness)).id == "sensitive_consent"
    assert "Dat is privé." in (driver.last_text or "")


async def test_a_typed_ja_on_the_erase_question_erases_and_consents_to_nothing(
    harness: Harness,
) -> None:
    # As with /stop: after /verwijder a typed "ja" went to the question underneath, and on the
    # sensitive consent question it was stored as consent instead of erasing.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="sensitive_consent")
    driver = harness.driver()
    await driver.send("/verwijder")
    await driver.send("ja")
    assert "Gewist" in joined(driver.texts_since_last_action)
    assert await harness.conversation() == (None, {})


async def test_a_typed_nee_on_the_withdraw_question_keeps_everything(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="guidance")
    before = await harness.flow_state()
    driver = harness.driver()
    await driver.send("/intrekken")
    await driver.send("nee")
    assert await harness.flow_state() == before
    assert "niets gewist" in joined(driver.texts_since_last_action)


async def test_another_text_on_the_erase_question_asks_again_and_erases_nothing(
    harness: Harness,
) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="sensitive_consent")
    before = await harness.flow_state()
    driver = harness.driver()
    await driver.send("/verwijder")
    await driver.send("misschien")
    assert "Alles wissen?" in joined(driver.texts_since_last_action)
    assert await harness.flow_state() == before
    await driver.send("Nee, niet wissen")
    assert await harness.flow_state() == before
    assert (await _question(harness)).id == "sensitive_consent"

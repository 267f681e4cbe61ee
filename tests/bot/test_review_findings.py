"""Defects found in a fresh-eyes review of `bot/` and `templates/`, each pinned by a test.

Every test drives the real Dispatcher (tests/bot/intake_harness.py, coordinator_harness.py)
and asserts what a person or a coordinator sees, or what is stored.
"""

from __future__ import annotations

import re

from bot.coordinator.keyboards import CardAction, CardCb
from flows.model import Question
from flows.records import IntakeKind, Status
from tests.bot.coordinator_harness import (
    COORD,
    GROUP,
    PERSON,
    Coord,
)
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    Harness,
    button_label,
    confirm_summary,
    joined,
    walk,
    walk_candidate,
)
from tests.support.bot_api_state import visible_text
from tests.support.updates import (
    DEFAULT_USER_ID,
    callback_update,
    edited_message_update,
    group_message_update,
    message_json,
    photo_update,
    sticker_update,
    update_of,
)


async def test_card_route_reasons_do_not_reveal_sensitive_answers(coord: Coord) -> None:
    # "Veel hulp" is the answer to a sensitive question (guidance): the card in the group must
    # not spell it out as the reason for the collective route.
    intake = await coord.add_intake(answers={"guidance": "veel", "work_setting": "alleen"})
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    card = visible_text(coord.message(GROUP, card_id)["text"], "HTML")
    assert intake.routes
    assert all(code in card for code in intake.routes)  # the routes are on the card
    assert "veel hulp" not in card.casefold()
    # No reason at all is on the card (issues 12 and 13); they are in the private details.
    reasons = [
        reason["nl"] for finding in intake.outcome["routes"] for reason in finding["reasons"]
    ]
    assert reasons
    assert all(reason not in card for reason in reasons)
    mark = coord.mark()
    await coord.press(
        COORD, CardCb(action=CardAction.DETAILS, number=intake.number).pack(), message_id=card_id
    )
    [details] = coord.sent_to(COORD, mark, "sendMessage")
    assert all(reason in visible_text(details.params["text"]) for reason in reasons)


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


async def test_the_outcome_keeps_the_capital_of_telegram(harness: Harness) -> None:
    # The contact route is written in lower case inside a sentence, but "Telegram" is a name.
    answers = {"contact_method": "telegram"}
    await walk(harness, "candidate", {**CANDIDATE_ANSWERS, **answers})
    driver = harness.driver()
    await confirm_summary(driver)
    outcome = joined(driver.texts_since_last_action)
    assert "contact met je op (hier in Telegram)." in outcome


async def test_after_a_photo_the_persons_text_still_reaches_the_coordinator(coord: Coord) -> None:
    # A person a coordinator wrote to sends a photo (which the bot cannot read), then types an
    # answer: that text is for the coordinator and must be relayed, not read as a role choice.
    intake = await coord.add_intake()
    await coord.deliver()
    await coord.say(COORD, f"/antwoord {intake.number} Wanneer kun je langskomen?")
    await coord.deliver()
    person = coord.h.driver(PERSON)
    await person.feed(photo_update(user_id=PERSON))
    mark = coord.mark()
    await coord.say(PERSON, "Maandag kan ik", chat_id=PERSON)
    await coord.deliver()
    [relayed] = coord.sent_to(COORD, mark, "sendMessage")  # who wrote to the person
    assert "Maandag kan ik" in relayed.params["text"]


async def test_a_second_tap_on_klopt_says_it_was_sent_and_keeps_the_delete_offer(
    harness: Harness,
) -> None:
    # A double tap on "Klopt, versturen": the first sends the intake; the second must not say
    # "deze knop werkt niet meer" and show the welcome as if nothing was sent, and must leave
    # the offer to delete the chat (for a shared phone) usable.
    await walk_candidate(harness)
    driver = harness.driver()
    summary = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert summary is not None
    await confirm_summary(driver)
    after = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert after is not None
    assert "wissen" in after["text"]
    ok = "s:ok:c:-1"
    await driver.feed(callback_update(ok, message_id=summary["message_id"]))
    assert driver.texts_since_last_action == []
    assert "al verstuurd" in (driver.last_alert or "")
    assert harness.session.state.last_keyboard_message(DEFAULT_USER_ID) == after
    assert len(await harness.intakes()) == 1


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


async def test_a_multiple_choice_question_says_you_may_choose_more_than_one_once(
    harness: Harness,
) -> None:
    # The questions' own text already says "Je mag meer dan één kiezen"; the hint under it
    # said it a second time.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    question = harness.driver().last_text or ""
    assert question.count("meer dan één") == 1
    assert "Tik daarna op Klaar." in question


async def test_a_coordinators_photo_reply_to_a_card_is_told_only_text_is_passed_on(
    coord: Coord,
) -> None:
    # Replying to the card passes a text on to the person. A photo or file cannot be: the
    # coordinator was told "Ik werk alleen in een privégesprek. Open @... en typ /start".
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    sizes = [{"file_id": "P1", "file_unique_id": "UP1", "width": 90, "height": 90}]
    photo = message_json(
        user_id=COORD,
        chat_id=GROUP,
        chat_type="supergroup",
        message_id=coord.session.state.next_message_id(GROUP),
        photo=sizes,
        caption="Hier is de folder",
        reply_to_message=coord.message(GROUP, card_id),
    )
    mark = coord.mark()
    await coord.h.dp.feed_update(coord.h.bot, update_of("message", photo))
    await coord.deliver()
    [answer] = coord.sent_to(GROUP, mark, "sendMessage")
    assert "privégesprek" not in answer.params["text"]
    assert "alleen tekst" in answer.params["text"]
    assert coord.sent_to(PERSON, mark) == []


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


async def test_the_english_outcome_says_what_you_said(harness: Harness) -> None:
    # "What you told about the target-group register" is not English.
    driver = harness.driver(language_code="en")
    await walk(harness, "candidate", CANDIDATE_ANSWERS, typed=True)
    await driver.send("yes")
    outcome = joined(driver.texts_since_last_action)
    assert "Sent. Thank you!" in outcome
    assert "What you said about the target group register" in outcome
    assert "What you told" not in outcome


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


async def test_a_command_for_another_bot_in_a_group_gets_no_answer(harness: Harness) -> None:
    # In a group with several bots, "/start@andere_bot" is not for us: answering it with "I only
    # work in a private chat" is noise in somebody else's conversation.
    mark = len(harness.session.requests)
    await harness.driver().feed(group_message_update("/start@andere_bot"))
    assert [r for r in harness.session.requests[mark:] if r.name == "sendMessage"] == []
    # A command for this bot, or one without a name, still gets the kind answer.
    await harness.driver().feed(group_message_update("/start@baanwijzer_bot"))
    assert [r for r in harness.session.requests[mark:] if r.name == "sendMessage"]


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


async def test_a_long_reply_with_quotes_still_reaches_the_coordinators(coord: Coord) -> None:
    # The relay cut the person's text at 3000 characters before escaping; apostrophes and
    # quotes grow fivefold when escaped, the message went over Telegram's limit, and the cut
    # that keeps it valid dropped the whole text: the coordinators read only the header.
    intake = await coord.add_intake()
    await coord.deliver()
    await coord.say(COORD, f"/antwoord {intake.number} Hoe gaat het?")
    await coord.deliver()
    mark = coord.mark()
    await coord.say(PERSON, "Hallo, " + "'" * 1200 + " doei", chat_id=PERSON)
    await coord.deliver()
    [relayed] = coord.sent_to(COORD, mark, "sendMessage")
    assert len(relayed.params["text"]) <= 4096
    assert "Hallo, " in visible_text(relayed.params["text"], "HTML")

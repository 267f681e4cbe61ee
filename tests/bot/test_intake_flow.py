"""The guided intake end to end in a private chat, through the real Dispatcher.

Only the Bot's session (RecordingSession) and the clock are fake. Each test reads what the person
saw (the texts sent and edited) and what was stored (the intake, the outbox, the conversation).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.screens import CONSENT_VERSION, consent_hash
from flows.model import Kind
from flows.records import IntakeKind
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    COORDINATOR_GROUP,
    EMPLOYER_ANSWERS,
    HELPER_ONLY,
    Harness,
    answer_current,
    build_harness,
    confirm_summary,
    joined,
    walk,
    walk_candidate,
)
from tests.support.updates import DEFAULT_USER_ID

# -- whole intakes ------------------------------------------------------------------------------


async def test_candidate_by_buttons_is_stored_with_outcome_consents_and_a_queued_card(
    harness: Harness,
) -> None:
    asked = await walk_candidate(harness)
    driver = harness.driver()
    summary = driver.last_text or ""
    assert summary.startswith("📋 Dit zijn je antwoorden")
    assert "Koken in een keuken" in summary
    assert "Eten en drinken (catering), Iets anders" in summary
    assert await harness.intakes() == []  # nothing is stored before "klopt"

    await confirm_summary(driver)

    # Every question once, in flow order (those for a helper only are not asked).
    assert asked == [q for q in CANDIDATE_ANSWERS if q not in HELPER_ONLY]
    [intake] = await harness.intakes()
    assert re.fullmatch(r"K-2026-\d{4}", intake.number)
    assert intake.kind == IntakeKind.CANDIDATE
    assert intake.user_id == DEFAULT_USER_ID
    assert intake.chat_id == DEFAULT_USER_ID
    assert intake.language == "nl"
    assert intake.name == "Anna"
    assert intake.answers == {
        **{k: v for k, v in CANDIDATE_ANSWERS.items() if k not in HELPER_ONLY},
        "postcode": "3511",  # only the four digits are kept
        "phone": "0612345678",
    }
    assert intake.target_groups == ["wajong"]
    assert intake.routes == ["collectief"]  # "in een groep": never a regular job as well
    assert [(c.scope, c.version, c.given) for c in intake.consents] == [
        ("general", CONSENT_VERSION, True),
        ("sensitive", CONSENT_VERSION, True),
    ]
    flow = harness.services.engines["candidate"].flow
    assert intake.consents[0].text_hash == consent_hash(
        harness.services, "nl", flow.question("consent").text.nl
    )
    assert intake.consents[1].text_hash == consent_hash(
        harness.services, "nl", flow.question("sensitive_consent").text.nl
    )
    assert intake.consents[0].at == "2026-11-29T09:00:00+00:00"

    [card] = await harness.deliveries()
    assert card.chat_id == COORDINATOR_GROUP
    assert card.method == "sendMessage"
    assert card.purpose == "card"
    assert card.intake_number == intake.number
    assert intake.number in card.payload["text"]

    shown = joined(driver.texts_since_last_action)
    assert f"Je nummer is {intake.number}" in shown
    assert "UWV of de gemeente beslist" in shown
    assert "Binnen 5 werkdagen" in shown
    # The conversation is closed: no intake in progress, the number remembered.
    state, data = await harness.conversation()
    assert state is None
    assert data["flow"] is None
    assert data["flow_state"] is None
    assert data["last_intake"] == intake.number


async def test_candidate_by_typed_numbers_gives_the_same_intake_as_buttons(
    harness: Harness, tmp_path: Path
) -> None:
    await walk_candidate(harness, typed=True)
    await harness.driver().send("klopt")
    by_buttons = await build_harness(tmp_path / "other")
    await walk_candidate(by_buttons)
    await confirm_summary(by_buttons.driver())

    [typed] = await harness.intakes()
    [tapped] = await by_buttons.intakes()
    assert typed.answers == tapped.answers
    assert typed.target_groups == tapped.target_groups
    assert typed.routes == tapped.routes
    # Typed answers are not counted as buttons: no answerCallbackQuery was needed at all.
    assert harness.session.requests_of("answerCallbackQuery") == []


async def test_candidate_by_typed_labels(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    engine = harness.services.engines["candidate"]
    while (question := await harness.current_question()) is not None:
        value = CANDIDATE_ANSWERS[question.id]
        if question.kind in (Kind.SINGLE, Kind.YESNO):
            option = question.option(str(value))
            assert option is not None
            await driver.send(option.label.nl.upper())  # a label, in any case
        else:
            await answer_current(harness, driver, question, value, typed=True)
    state = await harness.flow_state()
    assert state is not None
    assert state.phase == "summary"
    assert state.answers["work_setting"] == "team"
    assert state.answers["travel"] == "ov"
    assert engine.outcome(state).route_codes == ["collectief"]


async def test_employer_intake_is_stored_as_w_number(harness: Harness) -> None:
    await walk(harness, "employer", EMPLOYER_ANSWERS)
    await confirm_summary(harness.driver())

    [intake] = await harness.intakes()
    assert re.fullmatch(r"W-2026-\d{4}", intake.number)
    assert intake.kind == IntakeKind.EMPLOYER
    assert intake.name == "Bram de Vries"
    assert intake.answers["contact_email"] == "bram@example.nl"
    assert intake.answers["offer"] == ["vacature"]
    assert intake.target_groups == []
    assert intake.routes == ["individueel"]
    assert intake.outcome["routes"][0]["forms"] == ["vast", "proefplaatsing"]
    # The consent proof is the hash of the notice this employer saw, not the candidates' one.
    [consent] = intake.consents
    question = harness.services.engines["employer"].flow.question("consent")
    assert (consent.scope, consent.version) == ("general", CONSENT_VERSION)
    assert consent.text_hash == consent_hash(harness.services, "nl", question.text.nl, "employer")
    assert consent.text_hash != consent_hash(harness.services, "nl", question.text.nl, "candidate")
    [card] = await harness.deliveries()
    assert card.intake_number == intake.number
    assert card.chat_id == COORDINATOR_GROUP
    shown = joined(harness.driver().texts_since_last_action)
    assert f"Uw nummer is {intake.number}" in shown
    assert "dat beslissen UWV of de gemeente" in shown  # never a promise of a subsidy


async def test_other_employer_gets_only_the_general_questions_and_route_wsp(
    harness: Harness,
) -> None:
    answers = {**EMPLOYER_ANSWERS, "org_kind": "ander"}
    asked = await walk(harness, "employer", answers)
    assert asked == [
        "consent",
        "org_kind",
        "org_name",
    ]
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    assert intake.routes == ["wsp"]
    assert "offer" not in intake.answers
    assert "tasks" not in intake.answers
    assert "Werkgeversservicepunt" in joined(harness.driver().texts_since_last_action)


async def test_an_employer_is_addressed_with_u_and_a_candidate_with_je(harness: Harness) -> None:
    await walk(harness, "employer", EMPLOYER_ANSWERS, until="offer")
    employer = harness.driver()
    assert "U mag meer dan één kiezen." in (employer.last_text or "")
    await walk(harness, "employer", EMPLOYER_ANSWERS, start=False)
    assert (employer.last_text or "").startswith("📋 Dit zijn uw antwoorden")
    assert "Wilt u iets veranderen?" in (employer.last_text or "")
    await employer.send("wijzigen")
    assert (employer.last_text or "").startswith("✏️ Welk antwoord wilt u veranderen?")

    await walk(harness, "candidate", CANDIDATE_ANSWERS, user_id=2002, until="helpers")
    candidate = harness.driver(2002)
    assert "Je mag meer dan één kiezen." in (candidate.last_text or "")
    await candidate.send("/stop")
    await candidate.click("Ja, stoppen")
    await candidate.send("/start werkgever")
    await candidate.click("2. Nee, liever niet")
    assert "Typ /start als u opnieuw wilt beginnen." in (candidate.last_text or "")


async def test_without_coordinator_chat_the_intake_is_stored_but_no_card_queued(
    tmp_path: Path,
) -> None:
    harness = await build_harness(tmp_path, COORDINATOR_CHAT_ID=None)
    await walk_candidate(harness)
    await confirm_summary(harness.driver())
    assert len(await harness.intakes()) == 1
    assert await harness.deliveries() == []


# -- what the person sees on the way ------------------------------------------------------------


async def test_progress_and_the_old_question_shows_the_chosen_answer_without_buttons(
    harness: Harness,
) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    first = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert first is not None
    assert str(first["text"]).startswith("Vraag 1 · ▱▱▱▱▱▱▱▱▱▱")

    await driver.click("1. Ja, dat is goed")
    await driver.click("1. Ik, voor mezelf")

    assert any(t.startswith("Vraag 3 · ▰▱▱▱") for t in driver.texts_since_last_action)
    edits = [
        r
        for r in harness.session.requests_of("editMessageText")
        if r.params["message_id"] == str(first["message_id"])
    ]
    [edit] = edits
    assert edit.params["text"].endswith("✅ Ja, dat is goed")
    assert edit.params["text"].startswith("<i>Vraag 1</i>\n")
    assert "reply_markup" not in edit.params  # the buttons are gone from the old question
    old = harness.session.state.messages[DEFAULT_USER_ID][int(first["message_id"])]
    assert "reply_markup" not in old
    # Only the newest question carries buttons.
    with_buttons = [
        m for m in harness.session.state.chat_messages(DEFAULT_USER_ID) if m.get("reply_markup")
    ]
    assert len(with_buttons) == 1
    assert "Hoe oud ben je?" in with_buttons[0]["text"]


async def test_why_button_explains_and_asks_the_same_question_again(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.click("1. Ja, dat is goed")
    before = await harness.flow_state()

    await driver.click("❓ Waarom vragen we dit?")

    why, again = driver.texts_since_last_action
    assert why.startswith("❓ Waarom vragen we dit?")
    assert "Zo weten de medewerkers met wie ze praten als ze bellen." in why
    # How long, as the code does it: 4 weeks after closing, at most a year with consent.
    assert "Is de intake klaar? Dan wissen we alles na 4 weken." in why
    assert "uiterlijk 1 jaar na het versturen" in why
    assert again.startswith("Vraag 2 · ")
    assert "\nWie vult de vragen in?" in again
    assert await harness.flow_state() == before


@pytest.mark.parametrize(
    ("link", "flow", "first"),
    [
        ("kandidaat", "candidate", "Is dat goed?"),
        ("werkgever", "employer", "Gaat u daarmee akkoord?"),
    ],
)
async def test_deep_link_starts_the_flow_with_the_privacy_notice(
    harness: Harness, link: str, flow: str, first: str
) -> None:
    driver = harness.driver()
    await driver.send(f"/start {link}")
    notice, question = driver.texts_since_last_action
    assert notice.startswith("🔒 Eerst dit")
    assert "We vragen nooit" in notice
    assert "BSN" in notice
    assert question.startswith("Vraag 1 · ")
    assert first in question
    state, data = await harness.conversation()
    assert state == "IntakeStates:asking"
    assert data["flow"] == flow


async def test_plain_start_shows_the_roles_and_a_role_button_or_number_starts(
    harness: Harness,
) -> None:
    driver = harness.driver()
    await driver.send("/start")
    assert "Ik ben een computer (een chatbot), geen mens." in (driver.last_text or "")
    assert [row[0][0] for row in driver.last_keyboard][:3] == [
        "🔎 Ik zoek werk",
        "🏢 Ik ben werkgever",
        "🤝 Ik help iemand die werk zoekt",
    ]
    await driver.send("2")  # typed, like the welcome says
    _, data = await harness.conversation()
    assert data["flow"] == "employer"

    other = harness.driver(2002)
    await other.send("/start")
    await other.click("🔎 Ik zoek werk")
    _, data = await harness.conversation(2002)
    assert data["flow"] == "candidate"
    assert data["role"] == "candidate"


async def test_taal_switches_to_english_and_the_intake_is_stored_in_english(
    harness: Harness,
) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.click("1. Ja, dat is goed")
    await driver.send("/taal")
    await driver.click("English")
    assert driver.texts_since_last_action == [
        "OK, we go on in English.",
        "Question 2 · ▱▱▱▱▱▱▱▱▱▱\nWho is answering the questions?\n\nTap a button, or type"
        " the number.",
    ]
    assert driver.last_keyboard[0] == [("1. Me, for myself", "a:c:1:0")]
    # The answer given in Dutch is kept.
    state = await harness.flow_state()
    assert state is not None
    assert state.answers == {"consent": "akkoord"}

    while (question := await harness.current_question()) is not None:
        await answer_current(harness, driver, question, CANDIDATE_ANSWERS[question.id], typed=True)
    assert (driver.last_text or "").startswith("📋 These are your answers")
    await driver.send("yes")
    [intake] = await harness.intakes()
    assert intake.language == "en"
    assert f"Your number is {intake.number}" in joined(driver.texts_since_last_action)


async def test_an_english_telegram_app_gets_english_from_the_start(harness: Harness) -> None:
    driver = harness.driver(3003, language_code="en-GB")
    await driver.send("/start kandidaat")
    assert (driver.last_text or "").startswith("Question 1 · ")


async def test_terug_goes_one_question_back_and_keeps_the_earlier_answer(
    harness: Harness,
) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.click("1. Ja, dat is goed")
    await driver.click("3. Iemand van school")

    await driver.send("/terug")
    assert driver.texts_since_last_action == [
        "Vraag 2 · ▱▱▱▱▱▱▱▱▱▱\nWie vult de vragen in?\n\nTik op een knop, of typ het nummer."
        "\n\nJe vorige antwoord: Iemand van school"
    ]
    state = await harness.flow_state()
    assert state is not None
    assert state.current == "filled_by"
    assert state.answers["filled_by"] == "school"

    await driver.click("1. Ik, voor mezelf")
    state = await harness.flow_state()
    assert state is not None
    assert state.current == "age"
    assert state.answers["filled_by"] == "zelf"

    await driver.click("⬅️ Terug")  # the button does the same
    state = await harness.flow_state()
    assert state is not None
    assert state.current == "filled_by"


async def test_terug_on_the_first_question_says_so(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.send("/terug")
    assert driver.texts_since_last_action[0] == "Dit is de eerste vraag. Terug gaat niet verder."
    state = await harness.flow_state()
    assert state is not None
    assert state.current == "consent"


async def test_stop_asks_first_and_then_forgets_everything(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.click("1. Ja, dat is goed")
    await driver.click("1. Ik, voor mezelf")

    await driver.send("/stop")
    assert driver.texts_since_last_action == [
        "Wil je echt stoppen? Dan wissen we je antwoorden van dit gesprek. "
        "Er wordt niets verstuurd."
    ]
    state_before = await harness.flow_state()
    assert state_before is not None
    assert state_before.answers

    await driver.click("Nee, ik ga verder")
    assert (driver.last_text or "").startswith("Vraag 3 · ")
    state = await harness.flow_state()
    assert state == state_before

    await driver.send("/stop")
    await driver.click("Ja, stoppen")
    assert driver.texts_since_last_action == [
        "Je bent gestopt. We hebben je antwoorden gewist en niets verstuurd.\n"
        "Wil je later toch verder? Typ /start."
    ]
    fsm_state, data = await harness.conversation()
    assert fsm_state is None
    assert data["flow"] is None
    assert data["flow_state"] is None
    assert data["consents"] == []
    assert await harness.intakes() == []
    assert await harness.deliveries() == []
    # A typed answer now starts nothing by accident: the welcome is shown.
    await driver.send("1")
    assert "Wie ben jij?" in (driver.last_text or "")


async def test_stop_when_nothing_runs_says_so(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/stop")
    assert driver.texts_since_last_action == [
        "Je bent nu niet bezig met vragen. Typ /start om te beginnen."
    ]
    state, _ = await harness.conversation()
    assert state is None
    assert await harness.intakes() == []


# -- the summary: change one answer -------------------------------------------------------------


async def test_wijzigen_changes_one_answer_and_asks_only_what_depends_on_it(
    harness: Harness,
) -> None:
    await walk_candidate(harness)
    driver = harness.driver()
    await driver.click("✏️ Wijzigen")
    picks = [text for row in driver.last_keyboard for text, _ in row]
    assert "17. Hoe wil je dat we contact met je opnemen?" in picks
    assert not any("Ik stel je een paar vragen" in p for p in picks)  # general consent: no

    await driver.click("17. Hoe wil je dat we contact met je opnemen?")
    assert (driver.last_text or "").startswith("Antwoord wijzigen\n")
    assert "Je vorige antwoord: Bellen" in (driver.last_text or "")
    await driver.click("2. E-mail")
    # Only the question that depends on the contact method is asked again ...
    assert "Op welk e-mailadres kunnen we je mailen?" in (driver.last_text or "")
    await driver.send("anna@example.nl")
    # ... and then straight back to the summary, not through the rest of the questions.
    summary = driver.last_text or ""
    assert summary.startswith("📋 Dit zijn je antwoorden")
    assert "anna@example.nl" in summary
    assert "0612345678" not in summary

    await confirm_summary(driver)
    [intake] = await harness.intakes()
    assert intake.answers["contact_method"] == "e-mail"
    assert intake.answers["email"] == "anna@example.nl"
    assert "phone" not in intake.answers
    assert intake.answers["hours"] == 24  # the rest is untouched


async def test_wijzigen_by_typed_number_and_niets_wijzigen(harness: Harness) -> None:
    await walk_candidate(harness)
    driver = harness.driver()
    await driver.send("wijzigen")
    before = await harness.flow_state()
    await driver.click("↩️ Niets wijzigen")
    assert (driver.last_text or "").startswith("📋 Dit zijn je antwoorden")
    assert await harness.flow_state() == before

    await driver.send("wijzigen")
    await driver.send("13")  # "Hoeveel uur per week ..."
    assert "Hoeveel uur per week" in (driver.last_text or "")
    await driver.send("32")
    assert (driver.last_text or "").startswith("📋 Dit zijn je antwoorden")
    state = await harness.flow_state()
    assert state is not None
    assert state.answers["hours"] == 32


async def test_turning_the_sensitive_consent_off_from_the_summary_drops_those_answers(
    harness: Harness,
) -> None:
    await walk_candidate(harness)
    driver = harness.driver()
    await driver.click("✏️ Wijzigen")
    [pick] = [t for row in driver.last_keyboard for t, _ in row if "gezondheid en hulp" in t]
    await driver.click(pick)
    await driver.click("2. Nee, sla ze over")
    summary = driver.last_text or ""
    assert summary.startswith("📋 Dit zijn je antwoorden")  # nothing else is asked
    assert "Wajong" not in summary

    await confirm_summary(driver)
    [intake] = await harness.intakes()
    assert not {"register_known", "register_basis", "guidance", "support"} & set(intake.answers)
    assert intake.target_groups == []
    assert [c.scope for c in intake.consents] == ["general"]


# -- early ends ---------------------------------------------------------------------------------


async def test_no_consent_ends_and_stores_nothing(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.click("2. Nee, liever niet")
    shown = joined(driver.texts_since_last_action)
    # Said once, not twice ("We bewaren niets." and then "We hebben niets bewaard.").
    assert shown.count("niets bewaard") == 1
    assert "bewaren niets" not in shown
    state, data = await harness.conversation()
    assert state is None
    assert data["flow"] is None
    assert data["consents"] == []
    assert await harness.intakes() == []
    assert await harness.deliveries() == []
    assert (await harness.funnel.counts())["candidate:ended:no_consent"] == 1


@pytest.mark.parametrize("flow", ["candidate", "employer"])
async def test_no_consent_in_english(harness: Harness, flow: str) -> None:
    driver = harness.driver(6006, language_code="en")
    await driver.send(f"/start {'kandidaat' if flow == 'candidate' else 'werkgever'}")
    await driver.click("2. No, I'd rather not")
    shown = joined(driver.texts_since_last_action)
    assert "That is fine.\nWe kept nothing." in shown
    assert "Vraag" not in shown
    assert await harness.intakes() == []


async def test_under_16_without_a_parent_ends_and_stores_nothing(harness: Harness) -> None:
    answers = {**CANDIDATE_ANSWERS, "age": "tot-16", "guardian": "nee"}
    asked = await walk(harness, "candidate", answers)
    assert asked == ["consent", "filled_by", "age", "guardian"]
    shown = joined(harness.driver().texts_since_last_action)
    assert "Kom terug samen met je ouder of voogd." in shown
    state, data = await harness.conversation()
    assert state is None
    assert data["flow_state"] is None
    assert await harness.intakes() == []
    assert await harness.deliveries() == []


async def test_under_16_filled_in_by_a_parent_is_not_asked_about_a_guardian(
    harness: Harness,
) -> None:
    answers = {**CANDIDATE_ANSWERS, "age": "tot-16", "filled_by": "ouder"}
    asked = await walk(harness, "candidate", answers)
    assert "guardian" not in asked
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    assert intake.answers["age"] == "tot-16"
    assert intake.answers["filled_by"] == "ouder"


async def test_skipping_the_sensitive_questions_stores_no_sensitive_answer(
    harness: Harness,
) -> None:
    asked = await walk_candidate(harness, {"sensitive_consent": "sla-over"})
    assert not {"register_known", "register_basis", "guidance", "support"} & set(asked)
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    assert intake.target_groups == []
    assert [c.scope for c in intake.consents] == ["general"]
    assert "overgeslagen" in joined(harness.driver().texts_since_last_action)


# -- what the bot must not claim (docs/domain.md section 6) -------------------------------------

NEVER_CLAIMED = (
    "qualif",
    "in aanmerking",
    "je hoort bij de doelgroep",
    "you belong to the target group",
    "garant",
    "guarantee",
    "recht op",
    "entitled",
    "u krijgt subsidie",
    "you will receive",
    "ik ben een mens",
    "i am a person",
    "i am human",
)


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("flow", ["candidate", "employer"])
async def test_the_outcome_claims_nothing_that_only_uwv_or_the_gemeente_decides(
    harness: Harness, flow: str, lang: str
) -> None:
    driver = harness.driver(5005, language_code=lang)
    if flow == "candidate":
        answers = {
            **CANDIDATE_ANSWERS,
            "register_basis": ["uwv-onderzoek", "wsw"],
            "employer_pref": ["leverancier", "dichtbij"],
        }
    else:
        answers = {**EMPLOYER_ANSWERS, "org_kind": "leverancier", "offer": ["social-return"]}
    await walk(harness, flow, answers, user_id=5005, typed=True)
    await driver.send("klopt" if lang == "nl" else "yes")

    shown = joined(driver.texts_since_last_action).casefold()
    number_line = {"nl": "je nummer is", "en": "your number is"}[lang]
    if (flow, lang) == ("employer", "nl"):
        number_line = "uw nummer is"
    assert number_line in shown
    for claim in NEVER_CLAIMED:
        assert claim not in shown, claim
    assert "uwv" in shown  # who decides is named
    assert "social return" in shown  # and that it does not always count


async def test_the_outcome_keeps_the_capital_of_telegram(harness: Harness) -> None:
    # The contact route is written in lower case inside a sentence, but "Telegram" is a name.
    answers = {"contact_method": "telegram"}
    await walk(harness, "candidate", {**CANDIDATE_ANSWERS, **answers})
    driver = harness.driver()
    await confirm_summary(driver)
    outcome = joined(driver.texts_since_last_action)
    assert "contact met je op (hier in Telegram)." in outcome


async def test_a_multiple_choice_question_says_you_may_choose_more_than_one_once(
    harness: Harness,
) -> None:
    # The questions' own text already says "Je mag meer dan één kiezen"; the hint under it
    # said it a second time.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    question = harness.driver().last_text or ""
    assert question.count("meer dan één") == 1
    assert "Tik daarna op Klaar." in question


async def test_the_english_outcome_says_what_you_said(harness: Harness) -> None:
    # "What you told about the target-group register" is not English.
    driver = harness.driver(language_code="en")
    await walk(harness, "candidate", CANDIDATE_ANSWERS, typed=True)
    await driver.send("yes")
    outcome = joined(driver.texts_since_last_action)
    assert "Sent. Thank you!" in outcome
    assert "What you said about the target group register" in outcome
    assert "What you told" not in outcome


async def test_people_at_the_same_question_read_the_same_screen_and_others_their_own(
    harness: Harness,
) -> None:
    # Question screens are kept and handed to the next person at the same place (bot/render.py
    # `render_shared`): a second person must read the very screen the first did, and a person
    # at another question or in another language must still read their own.
    first, second, later, english = 2001, 2002, 2003, 2004
    harness.driver(english, language_code="en")
    for user_id in (first, second):
        await walk(harness, "candidate", CANDIDATE_ANSWERS, user_id=user_id, until="age")
    # The English person types the options' numbers: the walk clicks Dutch labels.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, user_id=english, until="age", typed=True)
    await walk(harness, "candidate", CANDIDATE_ANSWERS, user_id=later, until="guidance")

    screen = harness.driver(first).last_text or ""
    assert screen.startswith("Vraag 3 · ")
    assert "Hoe oud ben je?" in screen
    assert harness.driver(second).last_text == screen
    assert harness.driver(second).last_keyboard == harness.driver(first).last_keyboard

    other = harness.driver(later).last_text or ""
    assert re.match(r"Vraag \d+ · ", other)
    assert not other.startswith("Vraag 3 · ")
    assert "Hoe oud ben je?" not in other

    in_english = harness.driver(english).last_text or ""
    assert in_english.startswith("Question 3 · ")
    assert "How old are you?" in in_english
    assert "Hoe oud" not in in_english

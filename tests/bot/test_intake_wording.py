"""The wording a person reads, and what is stored with it, as the content review of December 2026
asked (issue 12).

Each test walks an intake through the real Dispatcher (tests/bot/intake_harness.py) and reads
the screens as the person sees them: the next steps for people outside the register, the
register question on a phone, the warning at free text, what happens next and how long data
are kept, the employer texts, English commands, and progress.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.render import TEMPLATES_DIR
from flows.model import AnswerValue
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    EMPLOYER_ANSWERS,
    Harness,
    build_harness,
    confirm_summary,
    joined,
    walk,
)
from tests.support.updates import DEFAULT_USER_ID


async def outcome_of(
    harness: Harness, flow: str, answers: dict[str, AnswerValue], *, lang: str = "nl"
) -> str:
    """Walk a whole intake (typed, as a person may), confirm it, and return the outcome."""
    base = CANDIDATE_ANSWERS if flow == "candidate" else EMPLOYER_ANSWERS
    driver = harness.driver(DEFAULT_USER_ID, language_code=lang)
    await walk(harness, flow, {**base, **answers}, typed=True)
    await driver.send("klopt" if lang == "nl" else "yes")
    return joined(driver.texts_since_last_action)


# -- item 1: outside the register -----------------------------------------------------------------


async def test_not_in_the_register_reads_the_way_in_and_no_rijk_job(harness: Harness) -> None:
    answers: dict[str, AnswerValue] = {
        "register_known": "nee",
        "register_basis": ["weet-niet"],
        "employer_pref": ["rijk"],
        "work_setting": "maakt-niet-uit",
    }
    shown = await outcome_of(harness, "candidate", answers)
    assert "Wat kun je nu doen?" in shown
    assert "Je zei dat je niet in het doelgroepregister staat." in shown
    assert "Vraag UWV om een beoordeling arbeidsvermogen." in shown
    assert "Praktijkroute" in shown
    assert "Een baan via de banenafspraak kan pas als je in het register staat." in shown
    assert "Dat geldt ook voor een baan bij het Rijk." in shown
    # The reasons are shown, not only names; nothing says a Rijk job is sought for them.
    assert "Je weet niet welke reden bij je past" in shown
    assert "zoekt een eigen baan" not in shown
    assert "bij het Rijk werken" not in shown
    [intake] = await harness.intakes()
    assert [a["id"] for a in intake.outcome["advice"]] == ["register-nee"]


async def test_not_knowing_reads_mijn_uwv_and_digid_and_what_was_said(harness: Harness) -> None:
    shown = await outcome_of(
        harness, "candidate", {"register_known": "weet-niet", "register_basis": ["vso-pro"]}
    )
    assert "Kijk in Mijn UWV of je in het register staat. Log in met je DigiD" in shown
    # "onbekend" beside "vso-pro" is worded as what was said, not as "geen van deze".
    assert "Je weet niet of je in het doelgroepregister staat." in shown
    assert "Je zei dat je op het vso of praktijkonderwijs zat" in shown
    assert "geen van deze" not in shown


async def test_in_the_register_gets_no_register_steps(harness: Harness) -> None:
    shown = await outcome_of(harness, "candidate", {})
    assert "Wat kun je nu doen?" not in shown
    assert "Je zei dat je Wajong hebt en kunt werken." in shown
    assert "UWV of de gemeente beslist" in shown


# -- item 3 (the warning), item 4 (the register question) ---------------------------------------

WARN_NL = "⚠️ Schrijf hier niets over je gezondheid."
WARN_EMPLOYER = "⚠️ Schrijf hier niets over uw gezondheid of over die van anderen."


@pytest.mark.parametrize(
    ("flow", "qid", "warning"),
    [
        ("candidate", "work_other", WARN_NL),
        ("candidate", "name", WARN_NL),
        ("employer", "org_name", WARN_EMPLOYER),
        ("employer", "tasks", WARN_EMPLOYER),
        ("employer", "contact_name", WARN_EMPLOYER),
    ],
)
async def test_every_free_text_prompt_warns_against_health_details(
    harness: Harness, flow: str, qid: str, warning: str
) -> None:
    base = CANDIDATE_ANSWERS if flow == "candidate" else EMPLOYER_ANSWERS
    await walk(harness, flow, base, until=qid)
    screen = harness.driver().last_text or ""
    assert warning in screen
    assert screen.count("gezondheid") == 1


async def test_no_warning_where_a_button_is_the_answer(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    assert "Schrijf hier niets" not in (harness.driver().last_text or "")


async def test_the_register_question_lists_what_the_short_buttons_mean(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="register_basis")
    driver = harness.driver()
    screen = driver.last_text or ""
    assert "redenen om in het doelgroepregister te staan" in screen
    lines = [line for line in screen.splitlines() if re.match(r"^\d\. ", line)]
    assert [line.split(".", 1)[0] for line in lines] == [str(n) for n in range(1, 10)]
    assert "1. UWV-indicatie: UWV heeft onderzocht wat ik kan in werk." in lines[0]
    assert "minimumloon verdienen, maar alleen met een voorziening" in lines[6]
    buttons = [text for row in driver.last_keyboard[:9] for text, _ in row]
    assert len(buttons) == 9
    for n, text in enumerate(buttons, start=1):
        label = text.split(f"{n}. ", 1)[1]
        assert len(label) <= 30, label
        assert lines[n - 1].startswith(f"{n}. {label}: ")  # the list explains this button


# -- item 10: what happens next, and how long -----------------------------------------------------


async def test_what_happens_next_gives_a_term_and_what_to_keep_at_hand(harness: Harness) -> None:
    shown = await outcome_of(harness, "candidate", {})
    assert "Binnen 5 werkdagen neemt een medewerker van het intakebureau contact met je op" in shown
    assert "Heb je een brief van UWV of de gemeente? Houd die dan bij de hand." in shown
    assert "BSN of je DigiD" in shown
    assert "Nooit via deze chat." in shown


async def test_the_term_is_a_setting(tmp_path: Path) -> None:
    harness = await build_harness(
        tmp_path, CONTACT_WITHIN_WORKING_DAYS=3, RETENTION_AFTER_CLOSE_DAYS=14
    )
    try:
        await walk(harness, "candidate", CANDIDATE_ANSWERS, until="keep_longer")
        question = harness.driver().last_text or ""
        assert "Dan wissen we je gegevens na 2 weken." in question
        assert "tot 1 jaar na vandaag" in question
        await walk(harness, "candidate", CANDIDATE_ANSWERS, start=False)
        await confirm_summary(harness.driver())
        shown = joined(harness.driver().texts_since_last_action)
        assert "Binnen 3 werkdagen" in shown
        assert "Dan wissen we je gegevens na 2 weken." in shown
    finally:
        await harness.close()


async def test_keeping_longer_is_asked_at_the_end_and_stored_as_a_consent(
    harness: Harness,
) -> None:
    asked = await walk(harness, "candidate", {**CANDIDATE_ANSWERS, "keep_longer": "ja"})
    assert asked[-1] == "keep_longer"
    summary = harness.driver().last_text or ""
    assert "Gegevens langer bewaren?\nJa, langer bewaren" in summary
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    assert [(c.scope, c.given) for c in intake.consents] == [
        ("general", True),
        ("sensitive", True),
        ("retention", True),
    ]
    shown = joined(harness.driver().texts_since_last_action)
    assert "Je zei dat we je gegevens langer mogen bewaren." in shown
    assert "uiterlijk 1 jaar na vandaag" in shown


async def test_saying_no_to_keeping_longer_stores_no_such_consent(harness: Harness) -> None:
    shown = await outcome_of(harness, "candidate", {"keep_longer": "nee"})
    [intake] = await harness.intakes()
    assert "retention" not in [c.scope for c in intake.consents]
    assert "Is de intake klaar? Dan wissen we je gegevens na 4 weken." in shown


async def test_the_why_of_the_last_question_says_how_long_once(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="keep_longer")
    driver = harness.driver()
    await driver.click("❓ Waarom vragen we dit?")
    why = driver.texts_since_last_action[0]
    assert "Zeg je nee? Dan wissen we alles 4 weken nadat we klaar zijn." in why
    assert "Zeg je ja? Dan bewaren we het tot 1 jaar na vandaag." in why
    assert "aan het eind" not in why  # the general line is for the other questions


async def test_the_privacy_notice_says_what_the_code_does(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    notice = driver.texts_since_last_action[0]
    assert "Is de intake klaar? Dan wissen we je antwoorden na 4 weken." in notice
    assert "Aan het eind vragen we of het langer mag, tot 1 jaar." in notice
    assert "365 dagen" not in notice


# -- items 8 and 9: the employer ----------------------------------------------------------------

_JE = re.compile(r"\b(je|jij|jou|jouw)\b", re.IGNORECASE)


async def test_an_employer_reads_u_from_the_notice_to_the_outcome(harness: Harness) -> None:
    driver = harness.driver()
    seen: list[str] = []
    await driver.send("/start werkgever")
    seen += driver.texts_since_last_action
    while (question := await harness.current_question()) is not None:
        await driver.send(str(_typed(question.id, question.option_codes)))
        seen += driver.texts_since_last_action
    await driver.send("klopt")
    seen += driver.texts_since_last_action
    assert any("Uw nummer is" in text for text in seen)
    for text in seen:
        assert not _JE.search(text), text
    assert "We vragen nooit een BSN." in seen[0]


def _typed(qid: str, codes: tuple[str, ...]) -> Any:
    value = EMPLOYER_ANSWERS[qid]
    if codes:
        values = value if isinstance(value, list) else [value]
        return " ".join(str(codes.index(str(v)) + 1) for v in values)
    return value


async def test_a_trial_placement_reads_uwv_or_the_gemeente_and_six_months(
    harness: Harness,
) -> None:
    await walk(harness, "employer", EMPLOYER_ANSWERS, until="trial")
    question = harness.driver().last_text or ""
    assert "minstens 6 maanden in dienst te nemen, zonder proeftijd" in question
    shown = await outcome_of(harness, "employer", {"trial": "ja"})
    assert "UWV of de gemeente beslist of die doorgaat" in shown
    assert "UWV moet" not in shown


async def test_a_market_employer_gets_the_wsp_and_no_call(harness: Harness) -> None:
    shown = await outcome_of(harness, "employer", {"org_kind": "ander"})
    assert "werkcentrum.nl" in shown
    assert "Het intakebureau neemt geen contact met u op." in shown
    assert "werkdagen" not in shown
    [intake] = await harness.intakes()
    assert set(intake.answers) == {"consent", "org_kind", "org_name"}


async def test_a_ministry_with_social_return_reads_it_right(harness: Harness) -> None:
    shown = await outcome_of(harness, "employer", {"offer": ["social-return"]})
    assert "U levert" not in shown
    assert "U wilt social return in uw contracten met leveranciers." in shown
    assert shown.count("niet altijd mee") == 1


async def test_a_binnenwerk_team_offer_is_not_asked_about_one_contract(harness: Harness) -> None:
    asked = await walk(harness, "employer", {**EMPLOYER_ANSWERS, "offer": ["team"]})
    assert "contract" not in asked
    assert "trial" not in asked
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    assert intake.routes == ["collectief"]
    assert "Binnenwerk" in joined(harness.driver().texts_since_last_action)


# -- item 11: small things ----------------------------------------------------------------------


async def test_progress_never_goes_backwards(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    bars: list[int] = []
    while (question := await harness.current_question()) is not None:
        screen = driver.last_text or ""
        found = re.match(r"^Vraag (\d+) · ([▰▱]{10})\n", screen)
        assert found is not None, screen
        assert " van " not in screen.split("\n", 1)[0]
        bars.append(found.group(2).count("▰"))
        value = {**CANDIDATE_ANSWERS, "sensitive_consent": "sla-over"}[question.id]
        codes = question.option_codes
        values = value if isinstance(value, list) else [value]
        typed = " ".join(str(codes.index(str(v)) + 1) for v in values) if codes else str(value)
        await driver.send(typed)
    assert bars == sorted(bars)
    assert bars[0] == 0
    assert bars[-1] == 9  # never full while a question is on screen


async def test_a_number_question_says_type_a_number_once(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="hours")
    screen = harness.driver().last_text or ""
    assert screen.count("Typ een getal") == 1
    assert "Typ een getal van 4 tot en met 40." in screen


async def test_route_forms_have_no_double_brackets(harness: Harness) -> None:
    shown = await outcome_of(
        harness, "candidate", {"work_setting": "alleen", "helpers": ["sw-bedrijf"]}
    )
    assert ") (" not in shown
    assert "Vorm: detachering vanuit een SW-bedrijf" in shown


async def test_the_social_return_caveat_only_where_it_applies(tmp_path: Path) -> None:
    with_sr = await build_harness(tmp_path / "a")
    without = await build_harness(tmp_path / "b")
    try:
        shown = await outcome_of(with_sr, "candidate", {"employer_pref": ["leverancier"]})
        assert shown.count("niet altijd mee voor de banenafspraak") == 1
        shown = await outcome_of(without, "candidate", {"employer_pref": ["rijk"]})
        assert "niet altijd mee" not in shown
        assert "Social Return" not in shown
    finally:
        await with_sr.close()
        await without.close()


_DUTCH_COMMANDS = re.compile(r"/(mijngegevens|verwijder|intrekken|terug|taal|mens)\b")


async def test_english_texts_name_english_commands(harness: Harness) -> None:
    driver = harness.driver(language_code="en")
    await driver.send("/start kandidaat")
    seen = list(driver.texts_since_last_action)
    await driver.send("/help")
    seen += driver.texts_since_last_action
    await driver.send("/stop")
    await driver.click("Yes, stop")
    shown = await outcome_of(harness, "candidate", {}, lang="en")
    seen.append(shown)
    for text in seen:
        assert not _DUTCH_COMMANDS.search(text), text
    joined_seen = joined(seen)
    for command in ("/mydata", "/delete", "/withdraw", "/back", "/human", "/language"):
        assert command in joined_seen, command


def test_no_template_says_only_uwv_decides() -> None:
    # For the Praktijkroute the gemeente decides: "UWV of de gemeente", everywhere.
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"alleen UWV|only UWV|dat beslist UWV\b", text, re.IGNORECASE), path

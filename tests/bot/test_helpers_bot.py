"""A helper fills in the intake for someone else, through the real Dispatcher (issue 12 item 2).

The walks start on the welcome with "🤝 Ik help iemand die werk zoekt" (or say who fills it in),
and check what the helper reads (the person in the third person), that the sensitive questions
are skipped without the candidate's word, what is stored, what the coordinators see, and that
/mijngegevens and /verwijder cover what the helper sent.
"""

from __future__ import annotations

import json
from typing import Any

from bot.coordinator.cards import card_context, render_card, view_context
from flows.records import FilledInBy, Intake
from tests.bot.intake_harness import (
    Harness,
    confirm_summary,
    joined,
    walk_candidate,
)
from tests.support.updates import DEFAULT_USER_ID

SENSITIVE = ["register_known", "register_basis", "guidance", "support"]
JOBCOACH: dict[str, Any] = {"filled_by": "jobcoach"}


async def sent(harness: Harness, answers: dict[str, Any], *, helper: bool) -> tuple[Intake, str]:
    """Walk and send the intake; the stored intake and everything the person read."""
    await walk_candidate(harness, answers, helper=helper)
    await confirm_summary(harness.driver())
    (intake,) = await harness.intakes()
    return intake, joined(harness.session.sent_texts(DEFAULT_USER_ID, visible=True))


async def test_a_helper_reads_about_the_person_not_about_you(harness: Harness) -> None:
    asked = await walk_candidate(harness, JOBCOACH, helper=True)
    shown = joined(harness.session.sent_texts(DEFAULT_USER_ID, visible=True))
    assert "Je helpt iemand?</b> Dan gaan de vragen over die persoon." in joined(
        harness.session.sent_texts(DEFAULT_USER_ID)
    )
    assert "Je helpt iemand die werk zoekt. Ik stel je een paar vragen over die persoon." in shown
    assert "Hoe oud is de persoon voor wie je dit invult?" in shown
    assert "Hoeveel uur per week wil de persoon werken?" in shown
    assert "Hoe heet de persoon voor wie je dit invult?" in shown
    assert "Hoe oud ben je?" not in shown
    assert "Hoeveel uur per week wil je werken?" not in shown
    # The helper's own name and phone, right after the role.
    assert asked[1:4] == ["filled_by", "helper_name", "helper_phone"]
    assert "Wat is je eigen naam?" in shown
    # The summary names the questions about the person too.
    assert "Staat de persoon in het register?" in shown


async def test_without_the_candidates_word_the_sensitive_questions_are_skipped(
    harness: Harness,
) -> None:
    answers = {**JOBCOACH, "candidate_agrees": "nee"}
    intake, shown = await sent(harness, answers, helper=True)
    assert "Heeft de persoon gezegd dat jij die vragen mag beantwoorden?" in shown
    assert "Wil je deze 4 vragen beantwoorden?" not in shown
    assert "Staat de persoon in het doelgroepregister?" not in shown
    assert not set(SENSITIVE) & set(intake.answers)
    assert "sensitive_consent" not in intake.answers
    assert intake.target_groups == []
    assert [c.scope for c in intake.consents] == ["general"]
    # It still ends well: the register advice, told about the person.
    assert "De vragen over het doelgroepregister zijn overgeslagen." in shown
    assert "een baan via de banenafspraak kan alleen als de persoon in het" in shown
    assert "Je hebt dit ingevuld voor iemand anders." in shown
    decides = "Of de persoon in het doelgroepregister staat: dat beslissen UWV of de gemeente."
    assert decides in shown
    assert "Het maakt de persoon niet uit" not in shown  # "in een groep" was the answer
    assert "De persoon wil werken in een groep met vaste begeleiding." in shown


async def test_stored_intake_says_who_filled_it_in_and_on_whose_word(harness: Harness) -> None:
    intake, shown = await sent(harness, JOBCOACH, helper=True)
    assert "Nu komen 4 vragen over de gezondheid van de persoon" in shown
    assert set(SENSITIVE) <= set(intake.answers)
    assert intake.filled_in_by == FilledInBy("jobcoach", "Els", "0687654321")
    assert intake.name == "Anna"  # the candidate's name, not the helper's
    given_by = {c.scope: c.given_by for c in intake.consents}
    assert given_by == {"general": "helper", "sensitive": "helper_on_candidates_word"}
    data = intake.to_dict()
    assert data["filled_in_by"] == {"role": "jobcoach", "name": "Els", "phone": "0687654321"}


async def test_a_parent_of_a_child_under_16_consents_for_the_child(harness: Harness) -> None:
    answers = {"filled_by": "ouder", "age": "tot-16"}
    intake, shown = await sent(harness, answers, helper=False)
    assert "Heeft de persoon gezegd" not in shown
    assert set(SENSITIVE) <= set(intake.answers)
    assert intake.filled_in_by is not None
    assert intake.filled_in_by.role == "ouder"
    sensitive = [c for c in intake.consents if c.scope == "sensitive"]
    assert [c.given_by for c in sensitive] == ["parent_for_under_16"]


async def test_a_school_for_a_child_under_16_without_a_parent_stops_kindly(
    harness: Harness,
) -> None:
    answers = {"filled_by": "school", "age": "tot-16", "guardian": "nee"}
    await walk_candidate(harness, answers)
    ended = joined(harness.driver().texts_since_last_action)
    assert "Vul dit in samen met een ouder of voogd van de persoon." in ended
    assert "Kom terug samen met je ouder of voogd." not in ended
    assert await harness.intakes() == []


async def test_the_candidate_self_is_no_helper(harness: Harness) -> None:
    intake, shown = await sent(harness, {}, helper=False)
    assert "Hoe oud ben je?" in shown
    assert "de persoon voor wie je dit invult" not in shown
    assert "Je helpt iemand?" not in shown
    assert intake.filled_in_by is None
    assert {c.given_by for c in intake.consents} == {"candidate"}
    assert "helper" not in render_card(harness.services, intake)[0]
    assert "Ingevuld door een helper" not in render_card(harness.services, intake)[0]


async def test_the_card_says_a_helper_filled_it_in_and_no_name(harness: Harness) -> None:
    intake, _ = await sent(harness, JOBCOACH, helper=True)
    assert card_context(intake)["helper_role"] == "jobcoach"
    card, _ = render_card(harness.services, intake)
    assert "Ingevuld door een helper (jobcoach)" in card
    # The card queued for the group is the same, with no name or phone of anyone.
    (queued,) = [d for d in await harness.deliveries() if d.chat_id < 0]
    text = queued.payload["text"]
    assert "Ingevuld door een helper (jobcoach)" in text
    for personal in ("Els", "0687654321", "Anna", "06 12345678"):
        assert personal not in text


async def test_the_private_view_names_the_helper_and_the_consent(harness: Harness) -> None:
    intake, _ = await sent(harness, JOBCOACH, helper=True)
    services = harness.services
    view = services.renderer.render("nl", "coord_intake", **view_context(services, intake))
    assert "Ingevuld door:</b> een helper (jobcoach), Els, 0687654321" in view
    assert "gegeven door de helper, die zegt dat de kandidaat het goed vindt" in view
    english = services.renderer.render("en", "coord_intake", **view_context(services, intake))
    assert "Filled in by:</b> a helper (job coach), Els" in english


async def test_the_private_view_says_when_a_helper_skipped_the_questions(
    harness: Harness,
) -> None:
    intake, _ = await sent(harness, {**JOBCOACH, "candidate_agrees": "weet-niet"}, helper=True)
    services = harness.services
    view = services.renderer.render("nl", "coord_intake", **view_context(services, intake))
    assert "niet gegeven, de vragen zijn overgeslagen" in view


async def test_my_data_and_erase_cover_what_the_helper_sent(harness: Harness) -> None:
    intake, _ = await sent(harness, JOBCOACH, helper=True)
    assert intake.user_id == DEFAULT_USER_ID
    driver = harness.driver()
    await driver.send("/mijngegevens")
    (request,) = harness.session.requests_of("sendDocument")
    (upload,) = request.files.values()
    (stored,) = json.loads(upload.content)["intakes"]
    assert stored["number"] == intake.number
    assert stored["filled_in_by"] == {"role": "jobcoach", "name": "Els", "phone": "0687654321"}
    assert stored["answers"]["helper_name"] == "Els"

    await driver.send("/verwijder")
    await driver.click("🗑️ Ja, wis alles")
    (stone,) = await harness.intakes()
    assert stone.filled_in_by is None
    assert stone.answers == {}

"""Helping is a real mode: a parent, school or job coach fills in the intake for someone else.

The walks answer from the table in walking.py and check what the helper reads (the third person),
which questions are asked or skipped, and on whose word the sensitive consent is given.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from flows.engine import Accepted, Phase
from flows.lint import lint_flow
from flows.loader import parse_flow, shipped_flow_path
from flows.records import ConsentRecord, FilledInBy, Intake
from tests.flows.walking import engine_for, walk

SENSITIVE = {"register_known", "register_basis", "guidance", "support"}
HELPER_QUESTIONS = ["helper_name", "helper_phone"]
# "je" in a question a helper reads may only be about the helper ("voor wie je dit invult").
_ABOUT_YOU = re.compile(r"\b(ben je|heb je|wil je graag|wil je doen|kun je|jouw|jou op)\b")


def _sensitive_asked(asked: list[str]) -> set[str]:
    return SENSITIVE & set(asked)


def test_candidate_reads_je_and_gets_no_helper_questions() -> None:
    w = walk("candidate")
    assert w.texts["age"] == "Hoe oud ben je?"
    assert not set(HELPER_QUESTIONS) & set(w.asked)
    assert "candidate_agrees" not in w.asked
    assert _sensitive_asked(w.asked) == SENSITIVE
    engine = engine_for("candidate")
    assert not engine.for_someone_else(w.state)
    assert engine.consent_given_by(w.state) == "candidate"


@pytest.mark.parametrize("role", ["school", "jobcoach", "anders"])
def test_helper_reads_third_person_and_gives_own_name_and_phone(role: str) -> None:
    w = walk("candidate", {"filled_by": role})
    assert w.state.phase == Phase.SUMMARY
    assert w.texts["age"] == "Hoe oud is de persoon voor wie je dit invult?"
    assert w.texts["name"].startswith("Hoe heet de persoon voor wie je dit invult?")
    assert w.texts["hours"] == "Hoeveel uur per week wil de persoon werken?"
    # The helper's own name and phone come right after the role.
    at = w.asked.index("filled_by")
    assert w.asked[at + 1 : at + 3] == HELPER_QUESTIONS
    assert w.state.answers["helper_name"] == "Els"
    for qid, text in w.texts.items():
        if qid not in HELPER_QUESTIONS:
            assert not _ABOUT_YOU.search(text), (qid, text)


@pytest.mark.parametrize("agrees", ["nee", "weet-niet"])
def test_helper_without_the_candidates_word_skips_the_sensitive_questions(agrees: str) -> None:
    engine = engine_for("candidate")
    w = walk("candidate", {"filled_by": "jobcoach", "candidate_agrees": agrees})
    assert "candidate_agrees" in w.asked
    assert "sensitive_consent" not in w.asked
    assert not _sensitive_asked(w.asked)
    assert not SENSITIVE & set(w.state.answers)
    # The intake still ends well, with the advice about the register, told about the person.
    assert w.state.phase == Phase.SUMMARY
    outcome = engine.outcome(w.state)
    assert outcome.target_group_codes == []
    advice = {a.id: a.text.nl for a in outcome.advice}
    assert "register-overgeslagen" in advice
    assert "als de persoon in het doelgroepregister staat" in advice["register-overgeslagen"]


def test_helper_with_the_candidates_word_asks_them_in_the_third_person() -> None:
    engine = engine_for("candidate")
    w = walk("candidate", {"filled_by": "school", "candidate_agrees": "ja"})
    assert _sensitive_asked(w.asked) == SENSITIVE
    assert w.texts["register_known"].startswith("Staat de persoon in het doelgroepregister?")
    assert w.texts["guidance"] == "Hoeveel hulp heeft de persoon nodig bij het werk?"
    assert engine.consent_given_by(w.state) == "helper_on_candidates_word"


def test_the_reasons_at_the_end_are_about_the_person() -> None:
    engine = engine_for("candidate")
    answers: dict[str, Any] = {"register_basis": ["wajong"], "work_setting": "team"}
    helper = engine.outcome(walk("candidate", {**answers, "filled_by": "school"}).state)
    self_ = engine.outcome(walk("candidate", answers).state)
    assert [r.nl for f in helper.target_groups for r in f.reasons] == [
        "Je zei dat de persoon Wajong heeft en kan werken. De medewerker checkt dit bij UWV."
    ]
    assert helper.routes[0].reasons[0].nl.startswith("De persoon wil werken in een groep")
    assert [r.nl for f in self_.target_groups for r in f.reasons] == [
        "Je zei dat je Wajong hebt en kunt werken. De medewerker checkt dit bij UWV."
    ]


def test_parent_of_a_child_under_16_consents_without_asking_the_child() -> None:
    engine = engine_for("candidate")
    w = walk("candidate", {"filled_by": "ouder", "age": "tot-16"})
    assert "candidate_agrees" not in w.asked
    assert "guardian" not in w.asked
    assert _sensitive_asked(w.asked) == SENSITIVE
    assert engine.consent_given_by(w.state) == "parent_for_under_16"


def test_parent_of_an_adult_needs_the_candidates_word() -> None:
    w = walk("candidate", {"filled_by": "ouder", "age": "18-26", "candidate_agrees": "nee"})
    assert "candidate_agrees" in w.asked
    assert not _sensitive_asked(w.asked)


def test_school_for_a_child_under_16_needs_a_parent_and_the_childs_word() -> None:
    w = walk("candidate", {"filled_by": "school", "age": "tot-16", "candidate_agrees": "nee"})
    assert w.texts["guardian"].startswith("De persoon is jonger dan 16.")
    assert "candidate_agrees" in w.asked
    assert not _sensitive_asked(w.asked)


def test_a_school_without_a_parent_for_a_child_under_16_stops_with_a_helper_text() -> None:
    engine = engine_for("candidate")
    w = walk("candidate", {"filled_by": "school", "age": "tot-16", "guardian": "nee"})
    assert w.state.phase == Phase.ENDED
    end = engine.flow.end(w.state.end_code or "")
    assert end is not None
    assert end.text_for(engine.for_someone_else(w.state)).nl.startswith(
        "Jammer, dan stoppen we nu. Vul dit in samen met een ouder of voogd van de persoon."
    )
    alone = walk("candidate", {"age": "tot-16", "guardian": "nee"})
    assert end.text_for(engine.for_someone_else(alone.state)).nl == end.text.nl


def test_welcome_helper_reads_the_helper_consent_until_filled_by_says_otherwise() -> None:
    helper = walk("candidate", {"filled_by": "jobcoach"}, helper=True)
    assert helper.texts["consent"].startswith("Je helpt iemand die werk zoekt.")
    assert helper.texts["age"] == "Hoe oud is de persoon voor wie je dit invult?"
    # Picked "I help someone", then said "Ik, voor mezelf": the answer decides.
    self_ = walk("candidate", {"filled_by": "zelf"}, helper=True)
    assert self_.texts["consent"].startswith("Je helpt iemand die werk zoekt.")
    assert self_.texts["age"] == "Hoe oud ben je?"
    assert not engine_for("candidate").for_someone_else(self_.state)


def test_changing_the_age_of_a_candidate_asks_no_helper_question_again() -> None:
    engine = engine_for("candidate")
    done = walk("candidate").state
    started = engine.edit(done, "age")
    assert isinstance(started, Accepted)
    result = engine.answer(started.state, "27-plus")
    assert isinstance(result, Accepted)
    assert result.state.phase == Phase.SUMMARY


def test_turning_helper_on_from_the_summary_asks_for_the_candidates_word() -> None:
    engine = engine_for("candidate")
    done = walk("candidate").state
    started = engine.edit(done, "filled_by")
    assert isinstance(started, Accepted)
    rest = walk(
        "candidate",
        {"filled_by": "jobcoach", "candidate_agrees": "nee"},
        state=engine.answer(started.state, "jobcoach").state,
    )
    assert rest.asked[:3] == ["helper_name", "helper_phone", "candidate_agrees"]
    assert rest.state.phase == Phase.SUMMARY
    assert not SENSITIVE & set(rest.state.answers)
    assert "sensitive_consent" not in rest.state.answers


def test_state_remembers_the_welcome_choice_through_json() -> None:
    engine = engine_for("candidate")
    state = engine.start(helper=True)
    again = type(state).from_dict(state.to_dict())
    assert again.helper
    assert engine.for_someone_else(again)
    # Old stored states have no such field.
    data = state.to_dict()
    del data["helper"]
    assert not type(state).from_dict(data).helper


def test_employer_flow_has_no_helper_mode() -> None:
    engine = engine_for("employer")
    state = engine.start(helper=True)
    assert not state.helper
    assert not engine.for_someone_else(state)


# -- the check ------------------------------------------------------------------------------


def _candidate_data() -> dict[str, Any]:
    data = yaml.safe_load(shipped_flow_path("candidate").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _question(data: dict[str, Any], qid: str) -> dict[str, Any]:
    found = next(q for q in data["questions"] if q["id"] == qid)
    assert isinstance(found, dict)
    return found


def _lint(data: dict[str, Any]) -> list[str]:
    flow, problems = parse_flow(data, "candidate.yaml")
    assert not problems, problems
    assert flow is not None
    return [str(p) for p in lint_flow(flow)]


def test_check_wants_a_helper_text_where_a_question_says_je() -> None:
    data = _candidate_data()
    del _question(data, "hours")["text_helper"]
    del _question(data, "register_known")["short_helper"]
    assert _lint(data) == [
        "candidate.yaml:register_known: short says 'je': add short_helper for helpers",
        "candidate.yaml:hours: text says 'je': add text_helper, the question for someone"
        " who fills this in for another person",
    ]


def test_check_wants_a_helper_reason_where_a_reason_says_je() -> None:
    data = _candidate_data()
    rule = next(r for r in data["routes"] if r["id"] == "dichtbij")
    del rule["reason_helper"]
    assert _lint(data) == [
        "candidate.yaml:routes:dichtbij: reason says 'Je': add reason_helper for helpers"
    ]


def test_check_wants_a_helper_text_for_an_end_that_says_je() -> None:
    data = _candidate_data()
    del data["ends"]["guardian_needed"]["text_helper"]
    assert _lint(data) == [
        "candidate.yaml:ends:guardian_needed: text says 'je': add text_helper for helpers"
    ]


def test_check_refuses_sensitive_consent_from_a_helper_without_the_candidates_word() -> None:
    data = _candidate_data()
    del _question(data, "sensitive_consent")["when"]
    assert _lint(data) == [
        "candidate.yaml:sensitive_consent: a helper can give this consent without the"
        " candidate's word: its condition must require one of helper.consent_by"
    ]


def test_check_validates_the_helper_texts_and_names() -> None:
    data = _candidate_data()
    _question(data, "age")["text_helper"] = {"nl": "Hoe oud is de persoon?"}
    _question(data, "hours")["text_helper"]["nl"] = "Alleen UWV weet {wat}."
    data["helper"]["name"] = "helper_naam"
    flow, problems = parse_flow(data, "candidate.yaml")
    assert [str(p) for p in problems] == [
        "candidate.yaml:age: text_helper: missing English text (en)"
    ]
    assert flow is not None
    lines = [str(p) for p in lint_flow(flow)]
    assert "candidate.yaml:helper: name: unknown question 'helper_naam'" in lines
    assert (
        "candidate.yaml:hours: text_helper: unknown placeholder {wat}"
        " (use one of: after_close, longest)" in lines
    )
    assert any(
        line.startswith("candidate.yaml:hours: text_helper: says 'Alleen UWV'") for line in lines
    )


def test_check_refuses_helper_texts_in_a_flow_without_helpers() -> None:
    data = _candidate_data()
    del data["helper"]
    assert "candidate.yaml:age: text_helper needs a 'helper' section that says when" in _lint(data)


# -- the stored record ------------------------------------------------------------------------


def _old_intake() -> dict[str, Any]:
    return {
        "number": "K-2026-12-001",
        "kind": "candidate",
        "created_at": "2026-12-01T10:00:00+00:00",
        "user_id": 7,
        "chat_id": 7,
        "language": "nl",
        "flow_version": "2026.1",
        "answers": {"filled_by": "zelf"},
        "outcome": {},
        "consents": [
            {"scope": "sensitive", "version": "1", "text_hash": "abc", "at": "2026-12-01"}
        ],
        "schema": 1,
    }


def test_an_intake_stored_before_helpers_still_loads() -> None:
    intake = Intake.from_dict(_old_intake())
    assert intake.filled_in_by is None
    assert intake.consents[0].given_by == "candidate"


def test_an_intake_by_a_helper_survives_json() -> None:
    intake = Intake.from_dict(_old_intake())
    intake.filled_in_by = FilledInBy("jobcoach", "Els", "0687654321")
    intake.consents = [
        ConsentRecord("sensitive", "1", "abc", "x", True, "helper_on_candidates_word")
    ]
    again = Intake.from_dict(intake.to_dict())
    assert again.filled_in_by == FilledInBy("jobcoach", "Els", "0687654321")
    assert again.to_dict()["filled_in_by"] == {
        "role": "jobcoach",
        "name": "Els",
        "phone": "0687654321",
    }
    assert again.consents[0].given_by == "helper_on_candidates_word"

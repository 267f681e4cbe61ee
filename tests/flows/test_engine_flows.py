"""The engine on the shipped flows: invalid answers, back, edit, early ends, progress, state."""

from __future__ import annotations

import json

import pytest

from flows.engine import Accepted, FlowState, Phase, Rejected
from flows.model import AnswerValue
from tests.flows.walking import answers_for, engine_for, walk


def _rejected(flow: str, qid: str, typed: str) -> Rejected:
    at = walk(flow, until=qid)
    assert at.state.current == qid
    result = engine_for(flow).answer_text(at.state, typed)
    assert isinstance(result, Rejected)
    assert result.state == at.state
    return result


# (flow, question, typed, reason code, Dutch text, English text), texts from reasons.yaml.
INVALID = [
    ("candidate", "hours", "100", "too_large",
     "Het getal mag hoogstens 40 zijn.", "The number can be 40 at most."),
    ("candidate", "hours", "2", "too_small",
     "Het getal moet 4 of meer zijn.", "The number must be 4 or more."),
    ("candidate", "hours", "veel", "not_a_number",
     "Typ een getal, bijvoorbeeld 24.", "Please type a number, for example 24."),
    ("candidate", "age", "7", "not_an_option",
     "Dat antwoord ken ik niet. Tik op een knop, of typ een nummer van 1 tot 4.",
     "I don't know that answer. Tap a button, or type a number from 1 to 4."),
    ("candidate", "work_kind", "ict, weet ik nog niet", "exclusive",
     "'Weet ik nog niet' gaat niet samen met een andere keuze.",
     "'I don't know yet' cannot be chosen together with something else."),
    ("candidate", "postcode", "Utrecht", "bad_postcode",
     "Typ de 4 cijfers van de postcode, bijvoorbeeld 3511.",
     "Please type the 4 digits of your postcode, for example 3511."),
    ("candidate", "name", "", "empty",
     "Ik kreeg geen antwoord. Typ het antwoord in een bericht.",
     "I got no answer. Please type the answer in a message."),
    ("candidate", "name", "S" * 61, "too_long",
     "Dat is te lang. Het mag hoogstens 60 tekens zijn. Maak het korter.",
     "That is too long. It can be 60 characters at most. Please make it shorter."),
    ("candidate", "name", "Sam 111222333", "looks_like_bsn",
     "Dit lijkt een BSN. Dat nummer hebben we niet nodig. Laat het weg.",
     "It looks like you typed a BSN (citizen service number). We do not need it."
     " Please leave it out."),
    ("employer", "tasks", "Post voor 111.222.333", "looks_like_bsn",
     "Dit lijkt een BSN. Dat nummer hebben we niet nodig. Laat het weg.",
     "It looks like you typed a BSN (citizen service number). We do not need it."
     " Please leave it out."),
    ("employer", "contact_phone", "12", "bad_phone",
     "Dat lijkt geen telefoonnummer. Typ het zo: 0612345678.",
     "That does not look like a phone number. Type it like this: 0612345678."),
    ("employer", "contact_email", "hr@", "bad_email",
     "Dat lijkt geen e-mailadres. Typ het zo: naam@voorbeeld.nl.",
     "That does not look like an e-mail address. Type it like this: name@example.com."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flow", "qid", "typed", "code", "nl", "en"), INVALID, ids=[f"{r[1]}-{r[3]}" for r in INVALID]
)
def test_invalid_answer_is_refused_with_its_reason(
    flow: str, qid: str, typed: str, code: str, nl: str, en: str
) -> None:
    overrides: dict[str, AnswerValue] = (
        {"contact_method": "telefoon"} if qid.endswith("phone") else {}
    )
    at = walk(flow, overrides, until=qid)
    result = engine_for(flow).answer_text(at.state, typed)
    assert isinstance(result, Rejected)
    assert result.state == at.state
    assert result.reason.code == code
    assert result.reason.text("nl") == nl
    assert result.reason.text("en") == en


# (question, typed, stored answer): what a person types becomes the same answer as a button.
TYPED = [
    ("filled_by", "2", "ouder"),
    ("filled_by", "Een jobcoach", "jobcoach"),
    ("age", "27 jaar of ouder", "27-plus"),
    ("sensitive_consent", "ja", "ja"),
    ("sensitive_consent", "nee", "sla-over"),
    ("consent", "nee", "niet-akkoord"),
    ("register_known", "Weet ik niet", "weet-niet"),
    ("work_setting", "team", "team"),
    ("register_basis", "wajong en wsw", ["wsw", "wajong"]),
    ("days", "1, 2 en 5", ["ma", "di", "vr"]),
    ("hours", "24 uur", 24),
    ("postcode", "3511 ab", "3511"),
    ("name", "  Sam  ", "Sam"),
]


@pytest.mark.parametrize(("qid", "typed", "stored"), TYPED, ids=[f"{q}-{t}" for q, t, _ in TYPED])
def test_typed_answers(qid: str, typed: str, stored: AnswerValue) -> None:
    at = walk("candidate", until=qid)
    result = engine_for("candidate").answer_text(at.state, typed)
    assert isinstance(result, Accepted), result
    assert result.state.answers[qid] == stored


def test_typed_yes_to_guardian_and_phone_normalised() -> None:
    engine = engine_for("candidate")
    at = walk("candidate", {"age": "tot-16"}, until="guardian")
    result = engine.answer_text(at.state, "ja")
    assert isinstance(result, Accepted)
    assert result.state.answers["guardian"] == "ja"
    at = walk("candidate", {"contact_method": "afspraak"}, until="phone")
    result = engine.answer_text(at.state, "+31 6 1234 5678")
    assert isinstance(result, Accepted)
    assert result.state.answers["phone"] == "0612345678"


# -- back -------------------------------------------------------------------------------------


def test_back_from_the_first_question_is_refused() -> None:
    engine = engine_for("candidate")
    start = engine.start()
    result = engine.back(start)
    assert isinstance(result, Rejected)
    assert result.reason.code == "first_question"
    assert result.reason.text("nl") == "Dit is de eerste vraag. Terug gaat niet verder."
    assert result.reason.text("en") == "This is the first question. You cannot go back further."


def test_back_shows_the_previous_question_with_its_answer() -> None:
    engine = engine_for("candidate")
    at = walk("candidate", until="age")
    result = engine.back(at.state)
    assert isinstance(result, Accepted)
    step = engine.step(result.state)
    assert step is not None
    assert step.question.id == "filled_by"
    assert step.previous == "zelf"


def test_back_skips_questions_that_do_not_apply() -> None:
    engine = engine_for("candidate")
    at = walk("candidate", until="sensitive_consent")
    result = engine.back(at.state)
    assert isinstance(result, Accepted)
    assert result.state.current == "age"  # guardian is only for under 16


def test_back_then_a_new_answer_changes_the_path() -> None:
    engine = engine_for("candidate")
    at = walk("candidate", until="sensitive_consent")
    back = engine.back(at.state)
    assert isinstance(back, Accepted)
    changed = engine.answer(back.state, "tot-16")
    assert isinstance(changed, Accepted)
    assert changed.state.current == "guardian"


def test_back_from_the_summary_goes_to_the_last_question() -> None:
    engine = engine_for("candidate")
    done = walk("candidate")
    result = engine.back(done.state)
    assert isinstance(result, Accepted)
    assert result.state.current == "keep_longer"  # the retention consent comes last


# -- edit from the summary --------------------------------------------------------------------


def _edit(flow: str, done: FlowState, qid: str, value: AnswerValue) -> tuple[FlowState, list[str]]:
    """Change one answer from the summary; return the final state and the questions asked."""
    engine = engine_for(flow)
    started = engine.edit(done, qid)
    assert isinstance(started, Accepted)
    result = engine.answer(started.state, value)
    assert isinstance(result, Accepted)
    rest = walk(flow, {}, state=result.state)
    return rest.state, rest.asked


def test_edit_age_to_under_16_asks_only_guardian() -> None:
    done = walk("candidate").state
    state, asked = _edit("candidate", done, "age", "tot-16")
    assert asked == ["guardian"]
    assert state.phase == Phase.SUMMARY
    assert state.answers["guardian"] == "ja"


def test_edit_age_back_to_adult_drops_guardian() -> None:
    done = walk("candidate", {"age": "tot-16"}).state
    assert "guardian" in done.answers
    state, asked = _edit("candidate", done, "age", "18-26")
    assert asked == []
    assert "guardian" not in state.answers


def test_edit_sensitive_consent_to_skip_drops_sensitive_answers_and_target_groups() -> None:
    engine = engine_for("candidate")
    done = walk("candidate", {"register_basis": ["wsw"], "guidance": "veel"}).state
    assert engine.outcome(done).target_group_codes == ["wsw"]
    state, asked = _edit("candidate", done, "sensitive_consent", "sla-over")
    assert asked == []
    assert state.phase == Phase.SUMMARY
    sensitive = {q.id for q in engine.flow.questions if q.sensitive}
    assert not sensitive & set(state.answers)
    outcome = engine.outcome(state)
    assert outcome.target_group_codes == []
    # From "maakt niet uit" (group or regular job), no longer the detachering the Wsw gave.
    assert outcome.route_codes == ["collectief", "individueel"]
    assert [f.forms for f in outcome.routes] == [(), ()]
    assert outcome.support == {}


def test_edit_sensitive_consent_to_yes_asks_the_sensitive_questions() -> None:
    done = walk("candidate", {"sensitive_consent": "sla-over"}).state
    state, asked = _edit("candidate", done, "sensitive_consent", "ja")
    assert asked == ["register_known", "register_basis", "guidance", "support"]
    assert engine_for("candidate").outcome(state).target_group_codes == ["wajong"]


def test_edit_work_kind_asks_work_other_only() -> None:
    done = walk("candidate").state
    state, asked = _edit("candidate", done, "work_kind", ["ict", "anders"])
    assert asked == ["work_other"]
    assert state.answers["work_other"] == "Werken met dieren"


def test_edit_contact_method_asks_phone_and_drops_nothing_else() -> None:
    done = walk("candidate", {"contact_method": "e-mail"}).state
    state, asked = _edit("candidate", done, "contact_method", "telefoon")
    assert asked == ["phone"]
    assert "email" not in state.answers
    assert state.answers["name"] == "Sam"


def test_edit_hours_asks_nothing_else() -> None:
    done = walk("candidate").state
    state, asked = _edit("candidate", done, "hours", 32)
    assert asked == []
    assert state.answers["hours"] == 32
    assert {k: v for k, v in state.answers.items() if k != "hours"} == {
        k: v for k, v in done.answers.items() if k != "hours"
    }


def test_general_consent_cannot_be_edited() -> None:
    engine = engine_for("candidate")
    done = walk("candidate").state
    result = engine.edit(done, "consent")
    assert isinstance(result, Rejected)
    assert result.reason.code == "not_editable"
    lines = {line.question.id: line.editable for line in engine.summary(done, "nl")}
    assert lines["consent"] is False
    assert lines["sensitive_consent"] is True
    assert lines["hours"] is True


# -- early ends and skipping ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow", "overrides", "end_code"),
    [
        ("candidate", {"consent": "niet-akkoord"}, "no_consent"),
        ("candidate", {"age": "tot-16", "guardian": "nee"}, "guardian_needed"),
        ("employer", {"consent": "niet-akkoord"}, "no_consent"),
    ],
)
def test_early_end(flow: str, overrides: dict[str, AnswerValue], end_code: str) -> None:
    done = walk(flow, overrides)
    assert done.state.phase == Phase.ENDED
    assert done.state.end_code == end_code
    assert engine_for(flow).step(done.state) is None
    end = engine_for(flow).flow.end(end_code)
    assert end is not None
    assert end.text.nl
    assert end.text.en


def test_no_consent_keeps_no_answers_beyond_the_refusal() -> None:
    done = walk("candidate", {"consent": "niet-akkoord"})
    assert done.asked == ["consent"]
    assert done.state.answers == {"consent": "niet-akkoord"}


def test_parent_filling_in_for_under_16_is_not_asked_guardian() -> None:
    done = walk("candidate", {"filled_by": "ouder", "age": "tot-16"})
    assert "guardian" not in done.asked
    assert done.state.phase == Phase.SUMMARY


def test_skipping_sensitive_questions_keeps_the_intake_going() -> None:
    engine = engine_for("candidate")
    done = walk("candidate", {"sensitive_consent": "sla-over"})
    sensitive = [q.id for q in engine.flow.questions if q.sensitive]
    assert sensitive == ["register_known", "register_basis", "guidance", "support"]
    assert not set(sensitive) & set(done.asked)
    assert done.state.phase == Phase.SUMMARY
    assert done.asked[-3:] == ["contact_method", "name", "keep_longer"]
    outcome = engine.outcome(done.state)
    assert outcome.target_groups == ()
    assert outcome.route_codes == ["collectief", "individueel"]


def test_sensitive_questions_come_right_after_their_consent() -> None:
    done = walk("candidate")
    start = done.asked.index("sensitive_consent")
    assert done.asked[start : start + 5] == [
        "sensitive_consent",
        "register_known",
        "register_basis",
        "guidance",
        "support",
    ]


# -- progress and state -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow", "overrides"),
    [
        ("candidate", {}),
        ("candidate", {"sensitive_consent": "sla-over", "contact_method": "telefoon"}),
        ("candidate", {"age": "tot-16", "work_kind": ["anders"]}),
        ("employer", {}),
        ("employer", {"org_kind": "ander"}),
    ],
)
def test_progress_counts_up_to_the_total(flow: str, overrides: dict[str, AnswerValue]) -> None:
    engine = engine_for(flow)
    answers = answers_for(flow, overrides)
    state = engine.start()
    numbers: list[tuple[int, int]] = []
    while state.phase == Phase.ASKING:
        step = engine.step(state)
        assert step is not None
        numbers.append((step.number, step.total))
        result = engine.answer(state, answers[step.question.id])
        assert isinstance(result, Accepted)
        state = result.state
    assert numbers[0][0] == 1
    assert [n for n, _ in numbers] == list(range(1, len(numbers) + 1))
    assert all(number <= total for number, total in numbers)
    # The total can only shrink as answers rule questions out, and ends on the last number.
    totals = [t for _, t in numbers]
    assert totals == sorted(totals, reverse=True)
    assert numbers[-1][0] == numbers[-1][1] == len(numbers)


@pytest.mark.parametrize("stop_at", ["register_basis", "work_other", "hours", "name"])
def test_state_survives_json_and_the_walk_continues_the_same(stop_at: str) -> None:
    overrides: dict[str, AnswerValue] = {"work_kind": ["anders"]}
    at = walk("candidate", overrides, until=stop_at)
    restored = FlowState.from_dict(json.loads(json.dumps(at.state.to_dict())))
    assert restored == at.state
    assert restored.to_dict() == at.state.to_dict()
    engine = engine_for("candidate")
    assert engine.step(restored) == engine.step(at.state)
    original = walk("candidate", overrides, state=at.state)
    again = walk("candidate", overrides, state=restored)
    assert again.asked == original.asked
    assert again.state == original.state
    assert engine.outcome(again.state) == engine.outcome(original.state)


def test_state_in_edit_mode_survives_json() -> None:
    engine = engine_for("candidate")
    done = walk("candidate").state
    started = engine.edit(done, "age")
    assert isinstance(started, Accepted)
    changed = engine.answer(started.state, "tot-16")
    assert isinstance(changed, Accepted)
    restored = FlowState.from_dict(json.loads(json.dumps(changed.state.to_dict())))
    assert restored == changed.state
    assert restored.editing == "age"
    final = engine.answer(restored, "ja")
    assert isinstance(final, Accepted)
    assert final.state.phase == Phase.SUMMARY


# -- a stored state after the flow file changed -----------------------------------------------


@pytest.mark.parametrize("stop_at", ["consent", "guardian", "work_other", "name", None])
def test_resume_keeps_an_unchanged_state(stop_at: str | None) -> None:
    at = walk("candidate", {"age": "tot-16", "work_kind": ["anders"]}, until=stop_at)
    assert engine_for("candidate").resume(at.state) == at.state


def test_resume_drops_answers_the_flow_no_longer_has() -> None:
    engine = engine_for("candidate")
    at = walk("candidate", until="hours")
    stored = at.state.to_dict()
    stored["version"] = "2025.9"
    stored["current"] = "favourite_colour"  # a question that was removed
    stored["answers"]["favourite_colour"] = "blauw"
    stored["answers"]["travel"] = "paard"  # an option that was removed
    stored["answers"]["age"] = "65-plus"
    state = engine.resume(FlowState.from_dict(stored))
    assert state.version == engine.flow.version
    assert state.current == "age"  # the first question that is open again
    assert "favourite_colour" not in state.answers
    assert "travel" not in state.answers
    assert state.answers["filled_by"] == "zelf"
    rest = walk("candidate", state=state)
    assert rest.state.phase == Phase.SUMMARY
    # As after going back: the walk goes on in order, showing the answers already given.
    assert rest.asked[0] == "age"
    assert engine.step(state) is not None
    assert engine.outcome(rest.state).route_codes == ["collectief", "individueel"]


def test_resume_of_another_flow_starts_afresh() -> None:
    employer = walk("employer", until="tasks").state
    state = engine_for("candidate").resume(employer)
    assert state == engine_for("candidate").start()


def test_the_exclusive_choice_reason_names_the_option_in_the_readers_language() -> None:
    at = walk("candidate", until="helpers")
    assert at.state.current == "helpers"
    result = engine_for("candidate").answer(at.state, ["gemeente", "niemand"])
    assert isinstance(result, Rejected)
    assert result.reason.text("en") == "'Nobody' cannot be chosen together with something else."
    assert result.reason.text("nl") == "'Niemand' gaat niet samen met een andere keuze."

"""What the flows say: the wording the content review of December 2026 asked for (issue 12).

Each test walks the shipped flows (tests/flows/walking.py) and checks one demand of the issue:
next steps for people outside the register, short register buttons, routes that do not
contradict, the facts about the werkvoorziening group and who decides, the employer texts.
"""

from __future__ import annotations

import itertools
import re

import pytest

from flows.engine import Accepted, Phase
from flows.lint import flow_texts
from flows.model import AnswerValue, ConsentScope, Kind, condition_leaves
from tests.flows.walking import answers_for, engine_for, walk

# -- item 1: people outside the register get a next step, never a Rijk job ---------------------


def _advice(overrides: dict[str, AnswerValue]) -> dict[str, str]:
    done = walk("candidate", overrides)
    assert done.state.phase == Phase.SUMMARY
    return {a.id: a.text.nl for a in engine_for("candidate").outcome(done.state).advice}


def test_not_in_the_register_gets_the_ways_into_it() -> None:
    advice = _advice({"register_known": "nee", "register_basis": ["weet-niet"]})
    assert list(advice) == ["register-nee"]
    text = advice["register-nee"]
    assert "beoordeling arbeidsvermogen" in text
    assert "Praktijkroute" in text
    assert "pas als je in het register staat" in text
    assert "ook voor een baan bij het Rijk" in text


def test_not_knowing_gets_mijn_uwv_with_digid_first() -> None:
    advice = _advice({"register_known": "weet-niet"})
    assert list(advice) == ["register-weet-niet"]
    text = advice["register-weet-niet"]
    assert text.index("Mijn UWV") < text.index("beoordeling arbeidsvermogen")
    assert "DigiD" in text
    assert "Praktijkroute" in text


def test_skipping_the_register_questions_still_says_the_register_comes_first() -> None:
    advice = _advice({"sensitive_consent": "sla-over"})
    assert list(advice) == ["register-overgeslagen"]
    assert "Mijn UWV" in advice["register-overgeslagen"]
    assert "DigiD" in advice["register-overgeslagen"]


def test_in_the_register_gets_no_register_advice() -> None:
    assert _advice({"register_known": "ja"}) == {}


_SEEKING = re.compile(
    r"zoekt .*(baan|werk).* bij het Rijk|looks for .* at central government", re.IGNORECASE
)


def test_no_candidate_text_says_a_rijk_job_is_being_sought() -> None:
    flow = engine_for("candidate").flow
    for where, what, text in flow_texts(flow):
        for value in (text.nl, text.en):
            assert not _SEEKING.search(value), f"{where} {what}: {value}"


# -- item 4: the register question can be read on a phone ---------------------------------------


def test_register_buttons_are_short_and_explained_in_a_numbered_list() -> None:
    question = engine_for("candidate").flow.question("register_basis")
    for option in question.options:
        for lang in ("nl", "en"):
            assert len(option.label.get(lang)) <= 30, option.label.get(lang)
        assert option.explain is not None, option.code
    # The question itself names its subject, not only "what fits you?".
    assert "doelgroepregister" in question.text.nl
    assert "register" in question.text.en


# -- item 5: where someone wants to work is not how they are placed ----------------------------


def test_no_route_rule_reads_where_a_candidate_wants_to_work_for_a_rijk_route() -> None:
    flow = engine_for("candidate").flow
    for rule in flow.route_rules:
        if rule.code in ("individueel", "collectief"):
            asked = {leaf.question for leaf in condition_leaves(rule.when)}
            assert "employer_pref" not in asked, rule.id


@pytest.mark.parametrize(
    ("setting", "guidance", "helpers", "basis", "pref"),
    list(
        itertools.product(
            ["team", "alleen", "maakt-niet-uit"],
            ["veel", "beetje", "weet-niet"],
            [["sw-bedrijf"], ["gemeente"]],
            [["wsw"], ["wajong"]],
            [["rijk"], ["maakt-niet-uit"], ["dichtbij", "leverancier"]],
        )
    ),
)
def test_routes_never_contradict_the_way_of_working(
    setting: str, guidance: str, helpers: list[str], basis: list[str], pref: list[str]
) -> None:
    answers: dict[str, AnswerValue] = {
        "work_setting": setting,
        "guidance": guidance,
        "helpers": helpers,
        "register_basis": basis,
        "employer_pref": pref,
    }
    outcome = engine_for("candidate").outcome(walk("candidate", answers).state)
    routes = outcome.route_codes
    assert routes, "every candidate gets a way of working to talk about"
    if setting == "team":
        assert "individueel" not in routes
    if setting == "alleen":
        assert "collectief" not in routes
    # One reason per rule that fired, and no reason twice.
    for finding in outcome.routes:
        assert len(finding.reasons) == len(finding.rules)
        assert len(set(finding.reasons)) == len(finding.reasons)


# -- item 6: two facts --------------------------------------------------------------------------


def test_werkvoorziening_says_only_with_a_provision_and_tells_the_coordinator() -> None:
    flow = engine_for("candidate").flow
    option = flow.question("register_basis").option("werkvoorziening")
    assert option is not None
    assert option.explain is not None
    assert "minimumloon" in option.explain.nl
    assert "alleen met een voorziening" in option.explain.nl
    done = walk("candidate", {"register_basis": ["werkvoorziening"]})
    [finding] = engine_for("candidate").outcome(done.state).target_groups
    assert finding.code == "werkvoorziening"
    [note] = finding.notes
    assert "telt niet mee voor de banenafspraak" in note.nl
    # The note is for the coordinators: the reason the person reads does not carry it.
    assert all("telt niet mee" not in r.nl for r in finding.reasons)


@pytest.mark.parametrize("name", ["candidate", "employer"])
def test_never_only_uwv_decides(name: str) -> None:
    for where, what, text in flow_texts(engine_for(name).flow):
        assert not re.search(r"alleen (door )?UWV|only (by )?UWV", f"{text.nl} {text.en}", re.I), (
            f"{where} {what}"
        )


# -- item 8: the proefplaatsing ------------------------------------------------------------------


def test_trial_text_names_uwv_or_the_gemeente_and_the_six_months() -> None:
    flow = engine_for("employer").flow
    trial = flow.question("trial")
    assert trial.help is not None
    shown = f"{trial.text.nl} {trial.help.purpose.nl}"
    assert "UWV of de gemeente" in shown
    assert "minstens 6 maanden" in shown
    assert "zonder proeftijd" in shown
    assert "UWV moet" not in shown
    [rule] = [r for r in flow.route_rules if r.id == "proefplaatsing"]
    assert "UWV of de gemeente beslist" in rule.reason.nl
    assert "minstens 6 maanden" in rule.reason.nl


# -- item 9: employer texts ------------------------------------------------------------------------


def test_employer_flow_says_u_everywhere() -> None:
    for where, what, text in flow_texts(engine_for("employer").flow):
        assert not re.search(r"\b(je|jij|jou|jouw)\b", text.nl, re.I), f"{where} {what}"


def test_contract_question_does_not_call_secondment_employment() -> None:
    contract = engine_for("employer").flow.question("contract")
    assert "in dienst nemen" not in contract.text.nl
    assert "laten werken" in contract.text.nl


def _employer_reasons(overrides: dict[str, AnswerValue]) -> dict[str, list[str]]:
    done = walk("employer", overrides)
    return {
        f.code: [r.nl for r in f.reasons] for f in engine_for("employer").outcome(done.state).routes
    }


def test_a_ministry_with_social_return_is_not_told_it_supplies_the_rijk() -> None:
    reasons = _employer_reasons({"org_kind": "rijk", "offer": ["social-return"]})
    [text] = reasons["social-return"]
    assert "levert" not in text
    assert "contracten met leveranciers" in text


def test_a_gemeente_with_a_vacancy_is_offered_candidates_not_work() -> None:
    reasons = _employer_reasons({"org_kind": "andere-overheid", "offer": ["vacature"]})
    [text] = reasons["andere-overheid"]
    assert "kandidaten" in text
    assert "naar werk" not in text


def test_a_team_offer_skips_the_single_job_questions() -> None:
    done = walk("employer", {"offer": ["team"]})
    assert "contract" not in done.asked
    assert "trial" not in done.asked
    assert "supervision" in done.asked
    both = walk("employer", {"offer": ["team", "vacature"]})
    assert {"contract", "trial"} <= set(both.asked)


def test_a_market_employer_gets_a_wsp_link_and_no_call() -> None:
    reasons = _employer_reasons({"org_kind": "ander"})
    [text] = reasons["wsp"]
    assert "werkcentrum.nl" in text
    assert "contact_method" not in walk("employer", {"org_kind": "ander"}).asked


@pytest.mark.parametrize(
    ("org_kind", "offer"),
    list(
        itertools.product(
            ["rijk", "andere-overheid", "leverancier"],
            [["social-return"], ["social-return", "samenwerken", "team"], ["vacature"]],
        )
    ),
)
def test_the_social_return_caveat_is_said_once_and_only_with_social_return(
    org_kind: str, offer: list[str]
) -> None:
    reasons = _employer_reasons({"org_kind": org_kind, "offer": offer})
    said = [r for texts in reasons.values() for r in texts if "niet altijd mee" in r]
    assert len(said) == (1 if "social-return" in reasons else 0)


def test_a_reason_says_one_thing() -> None:
    # The old reasons joined two triggers with "of" ("U bent een gemeente ..., of u wilt
    # samenwerken"): each rule now has one trigger and one reason.
    for name in ("candidate", "employer"):
        for rule in engine_for(name).flow.route_rules:
            assert ", of u " not in rule.reason.nl, rule.id
            assert ", of het " not in rule.reason.nl, rule.id


# -- item 10: the retention consent at the end -----------------------------------------------------


@pytest.mark.parametrize("name", ["candidate", "employer"])
def test_the_last_question_asks_to_keep_data_longer(name: str) -> None:
    flow = engine_for(name).flow
    last = flow.questions[-1]
    assert last.consent == ConsentScope.RETENTION
    assert last.grants == "ja"
    assert "{after_close}" in last.text.nl
    assert "{longest}" in last.text.nl


def test_the_sensitive_consent_counts_the_sensitive_questions() -> None:
    flow = engine_for("candidate").flow
    count = sum(1 for q in flow.questions if q.sensitive)
    consent = flow.question("sensitive_consent")
    assert f"{count} vragen" in consent.text.nl
    assert f"{count} questions" in consent.text.en


# -- item 11: progress never goes backwards ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("candidate", {}),
        ("candidate", {"sensitive_consent": "sla-over"}),
        ("candidate", {"work_kind": ["anders"], "contact_method": "telefoon"}),
        ("candidate", {"age": "tot-16", "filled_by": "school"}),
        ("employer", {}),
        ("employer", {"org_kind": "ander"}),
        ("employer", {"offer": ["team"]}),
    ],
)
def test_progress_grows_with_every_answer(name: str, overrides: dict[str, AnswerValue]) -> None:
    engine = engine_for(name)
    answers = answers_for(name, overrides)
    state = engine.start()
    shown: list[tuple[int, float]] = []
    while state.phase == Phase.ASKING:
        step = engine.step(state)
        assert step is not None
        shown.append((step.number, step.progress))
        result = engine.answer(state, answers[step.question.id])
        assert isinstance(result, Accepted)
        state = result.state
    numbers = [n for n, _ in shown]
    progress = [p for _, p in shown]
    assert numbers == list(range(1, len(shown) + 1))
    assert progress == sorted(progress)
    assert len(set(progress)) == len(progress), "every answer shows more progress"
    assert progress[0] == 0.0
    assert progress[-1] < 1.0


def test_free_text_questions_are_the_ones_the_warning_covers() -> None:
    # The warning against health details is in the question template for every `text`
    # question (tests/bot/test_intake_wording.py checks the screen); these are them.
    texts = {
        name: [q.id for q in engine_for(name).flow.questions if q.kind == Kind.TEXT]
        for name in ("candidate", "employer")
    }
    assert texts == {
        "candidate": ["helper_name", "work_other", "name"],
        "employer": ["org_name", "tasks", "contact_name"],
    }

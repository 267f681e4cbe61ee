"""Table-driven paths through both flows to their stated target groups and suggested routes.

`COVERAGE` names, for every target-group code, route code and form, the case that reaches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from flows.engine import Phase
from flows.model import ROUTE_CODES, ROUTE_FORMS, TARGET_GROUP_CODES, AnswerValue, Kind
from tests.flows.walking import engine_for, walk


@dataclass(frozen=True)
class Case:
    name: str
    flow: str
    answers: dict[str, AnswerValue]
    target_groups: list[str]
    routes: list[str]
    forms: list[str] = field(default_factory=list)


# Candidates answer "In een gewone baan" unless a case is about the way of working: that keeps
# the routes of the target-group cases to the one the answer gives.
OWN = {"work_setting": "alleen"}

CASES: list[Case] = [
    # -- candidate: what the candidate says about the register -----------------------------
    Case("cand-uwv-indicatie", "candidate", {**OWN, "register_basis": ["uwv-onderzoek"]},
         ["uwv-indicatie"], ["individueel"]),
    Case("cand-praktijkroute", "candidate", {**OWN, "register_basis": ["gemeente-loonwaarde"]},
         ["praktijkroute"], ["individueel"]),
    Case("cand-vso-pro", "candidate", {**OWN, "age": "16-17", "filled_by": "school",
                                        "register_basis": ["vso-pro"]},
         ["vso-pro"], ["individueel"]),
    Case("cand-wsw", "candidate", {**OWN, "register_basis": ["wsw"], "age": "27-plus"},
         ["wsw"], ["individueel"], ["detachering"]),
    Case("cand-wajong", "candidate", {**OWN, "register_basis": ["wajong"]},
         ["wajong"], ["individueel"]),
    Case("cand-wiw-id", "candidate", {**OWN, "register_basis": ["wiw-id"], "age": "27-plus"},
         ["wiw-id"], ["individueel"]),
    Case("cand-werkvoorziening", "candidate", {**OWN, "register_basis": ["werkvoorziening"]},
         ["werkvoorziening"], ["individueel"]),
    Case("cand-wia-experiment", "candidate", {**OWN, "register_basis": ["wia-experiment"],
                                               "age": "27-plus"},
         ["wia-experiment"], ["individueel"]),
    Case("cand-onbekend-register", "candidate", {**OWN, "register_known": "weet-niet",
                                                  "register_basis": ["weet-niet"]},
         ["onbekend"], ["individueel"]),
    Case("cand-onbekend-geen-van-deze", "candidate", {**OWN, "register_known": "nee",
                                                       "register_basis": ["weet-niet"]},
         ["onbekend"], ["individueel"]),
    Case("cand-several-stated", "candidate",
         {**OWN, "register_basis": ["wajong", "werkvoorziening"]},
         ["wajong", "werkvoorziening"], ["individueel"]),
    # -- candidate: routes (how someone works, never where) -----------------------------------
    Case("cand-collectief-team", "candidate", {"work_setting": "team"},
         ["wajong"], ["collectief"]),
    Case("cand-collectief-much-guidance", "candidate",
         {"guidance": "veel", "work_setting": "maakt-niet-uit", "employer_pref": ["dichtbij"]},
         ["wajong"], ["collectief", "individueel", "andere-overheid"]),
    Case("cand-much-guidance-regular-job", "candidate", {"guidance": "veel", **OWN},
         ["wajong"], ["individueel"]),
    Case("cand-individueel-sw-bedrijf", "candidate",
         {**OWN, "helpers": ["sw-bedrijf", "jobcoach"], "employer_pref": ["dichtbij"]},
         ["wajong"], ["individueel", "andere-overheid"], ["detachering"]),
    Case("cand-team-sw-bedrijf", "candidate",
         {"work_setting": "team", "helpers": ["sw-bedrijf"], "register_basis": ["wsw"]},
         ["wsw"], ["collectief"]),
    Case("cand-individueel-own-job", "candidate", {**OWN, "employer_pref": ["leverancier"]},
         ["wajong"], ["individueel", "social-return"]),
    Case("cand-social-return", "candidate",
         {"work_setting": "team", "employer_pref": ["leverancier"]},
         ["wajong"], ["collectief", "social-return"]),
    Case("cand-andere-overheid", "candidate", {**OWN, "employer_pref": ["dichtbij"]},
         ["wajong"], ["individueel", "andere-overheid"]),
    Case("cand-rijk-is-no-route", "candidate", {"work_setting": "team", "employer_pref": ["rijk"]},
         ["wajong"], ["collectief"]),
    Case("cand-any-employer", "candidate",
         {"work_setting": "team", "employer_pref": ["maakt-niet-uit"]},
         ["wajong"], ["collectief"]),
    Case("cand-either-way-of-working", "candidate", {"work_setting": "maakt-niet-uit"},
         ["wajong"], ["collectief", "individueel"]),
    Case("cand-several-routes", "candidate",
         {"work_setting": "team", "employer_pref": ["rijk", "dichtbij", "leverancier"]},
         ["wajong"], ["collectief", "social-return", "andere-overheid"]),
    Case("cand-skip-sensitive", "candidate", {**OWN, "sensitive_consent": "sla-over"},
         [], ["individueel"]),
    Case("cand-under-16-with-parent", "candidate",
         {**OWN, "filled_by": "ouder", "age": "tot-16"},
         ["wajong"], ["individueel"]),
    Case("cand-under-16-guardian-joins", "candidate",
         {**OWN, "age": "tot-16", "guardian": "ja"},
         ["wajong"], ["individueel"]),
    # -- employer ------------------------------------------------------------------------------
    Case("emp-individueel-vast", "employer", {}, [], ["individueel"], ["vast"]),
    Case("emp-individueel-tijdelijk", "employer", {"contract": "tijdelijk"},
         [], ["individueel"], ["tijdelijk"]),
    Case("emp-individueel-detachering", "employer",
         {"contract": "detachering", "offer": ["taken"]},
         [], ["individueel"], ["detachering"]),
    Case("emp-individueel-uitzendkracht", "employer", {"contract": "uitzendkracht"},
         [], ["individueel"], ["uitzendkracht"]),
    Case("emp-proefplaatsing", "employer", {"contract": "weet-niet", "trial": "ja"},
         [], ["individueel"], ["proefplaatsing"]),
    Case("emp-collectief", "employer", {"offer": ["team"], "supervision": ["teamleider"]},
         [], ["collectief"]),
    Case("emp-social-return-ministry", "employer", {"offer": ["social-return"]},
         [], ["social-return"]),
    Case("emp-social-return-supplier", "employer", {"org_kind": "leverancier"},
         [], ["individueel", "social-return"], ["vast"]),
    Case("emp-andere-overheid-gemeente", "employer",
         {"org_kind": "andere-overheid", "offer": ["team"]},
         [], ["collectief", "andere-overheid"]),
    Case("emp-gemeente-vacancy", "employer", {"org_kind": "andere-overheid"},
         [], ["individueel", "andere-overheid"], ["vast"]),
    Case("emp-andere-overheid-samenwerken", "employer", {"offer": ["samenwerken"]},
         [], ["andere-overheid"]),
    Case("emp-wsp-other-employer", "employer", {"org_kind": "ander"}, [], ["wsp"]),
]  # fmt: skip

CASE_BY_NAME = {case.name: case for case in CASES}

# Which named case reaches each code: the closing note of the work lists this table.
COVERAGE: dict[str, str] = {
    "target-group:uwv-indicatie": "cand-uwv-indicatie",
    "target-group:praktijkroute": "cand-praktijkroute",
    "target-group:vso-pro": "cand-vso-pro",
    "target-group:wsw": "cand-wsw",
    "target-group:wajong": "cand-wajong",
    "target-group:wiw-id": "cand-wiw-id",
    "target-group:werkvoorziening": "cand-werkvoorziening",
    "target-group:wia-experiment": "cand-wia-experiment",
    "target-group:onbekend": "cand-onbekend-register",
    "route:individueel": "cand-individueel-own-job",
    "route:collectief": "cand-collectief-team",
    "route:social-return": "cand-social-return",
    "route:andere-overheid": "cand-andere-overheid",
    "route:wsp": "emp-wsp-other-employer",
    "form:detachering": "emp-individueel-detachering",
    "form:uitzendkracht": "emp-individueel-uitzendkracht",
    "form:tijdelijk": "emp-individueel-tijdelijk",
    "form:vast": "emp-individueel-vast",
    "form:proefplaatsing": "emp-proefplaatsing",
}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_path_reaches_its_codes(case: Case) -> None:
    done = walk(case.flow, case.answers)
    assert done.state.phase == Phase.SUMMARY
    outcome = engine_for(case.flow).outcome(done.state)
    assert outcome.target_group_codes == case.target_groups
    assert outcome.route_codes == case.routes
    individual = [f for f in outcome.routes if f.code == "individueel"]
    assert (list(individual[0].forms) if individual else []) == case.forms
    assert outcome.needs_verification
    for finding in outcome.target_groups + outcome.routes:
        assert finding.reasons, finding.code
        assert all(r.nl and r.en for r in finding.reasons)


def test_coverage_names_every_code() -> None:
    expected = (
        {f"target-group:{c}" for c in TARGET_GROUP_CODES}
        | {f"route:{c}" for c in ROUTE_CODES}
        | {f"form:{f}" for f in ROUTE_FORMS}
    )
    assert set(COVERAGE) == expected


@pytest.mark.parametrize(("key", "case_name"), sorted(COVERAGE.items()))
def test_coverage_case_reaches_the_code(key: str, case_name: str) -> None:
    kind, code = key.split(":", 1)
    case = CASE_BY_NAME[case_name]
    if kind == "target-group":
        assert code in case.target_groups
    elif kind == "route":
        assert code in case.routes
    else:
        assert code in case.forms


def test_candidate_routes_are_all_government_routes() -> None:
    reached = {r for c in CASES if c.flow == "candidate" for r in c.routes}
    assert reached == {"individueel", "collectief", "social-return", "andere-overheid"}


@pytest.mark.parametrize("pref", ["rijk", "dichtbij", "leverancier", "maakt-niet-uit"])
@pytest.mark.parametrize("setting", ["team", "alleen", "maakt-niet-uit"])
def test_every_finished_candidate_gets_a_route(pref: str, setting: str) -> None:
    done = walk(
        "candidate",
        {"employer_pref": [pref], "work_setting": setting, "sensitive_consent": "sla-over"},
    )
    assert engine_for("candidate").outcome(done.state).route_codes


@pytest.mark.parametrize("offer", ["vacature", "taken", "team", "social-return", "samenwerken"])
@pytest.mark.parametrize("org_kind", ["rijk", "andere-overheid", "leverancier", "ander"])
def test_every_finished_employer_gets_a_route(offer: str, org_kind: str) -> None:
    done = walk("employer", {"offer": [offer], "org_kind": org_kind})
    assert engine_for("employer").outcome(done.state).route_codes


def test_other_employer_is_asked_nothing_the_wsp_does_not_need() -> None:
    # Nobody of the intake office calls a market employer (they go to the WSP), so neither the
    # work nor the contact details are asked.
    done = walk("employer", {"org_kind": "ander"})
    assert done.asked == ["consent", "org_kind", "org_name"]


# Words that would claim what the bot must not claim (docs/domain.md section 6).
_CLAIMS = ("kwalificeer", "in aanmerking", "qualif", "garantie", "guarantee", "you will get",
           "u krijgt subsidie", "recht op", "entitled", "zeker een baan")  # fmt: skip


@pytest.mark.parametrize("name", ["candidate", "employer"])
def test_reasons_make_no_claims(name: str) -> None:
    flow = engine_for(name).flow
    for rule in flow.target_group_rules + flow.route_rules:
        text = f"{rule.reason.nl} {rule.reason.en}".casefold()
        assert not [w for w in _CLAIMS if w in text], rule.id
    for rule in flow.target_group_rules:
        if rule.code != "onbekend":
            assert rule.reason.nl.startswith("Je zei"), rule.id
            assert rule.reason.en.startswith("You said"), rule.id


@pytest.mark.parametrize("name", ["candidate", "employer"])
def test_social_return_reasons_say_it_may_not_count(name: str) -> None:
    rules = [rule for rule in engine_for(name).flow.route_rules if rule.code == "social-return"]
    assert rules, f"{name} has no social-return route rule left to check"
    for rule in rules:
        assert "niet altijd mee" in rule.reason.nl
        assert "does not always count" in rule.reason.en


@pytest.mark.parametrize(
    "answers", [{"org_kind": "leverancier"}, {"org_kind": "rijk", "offer": ["social-return"]}]
)
def test_an_employer_routed_to_social_return_is_told_it_may_not_count(
    answers: dict[str, AnswerValue],
) -> None:
    done = walk("employer", answers)
    [finding] = [
        finding
        for finding in engine_for("employer").outcome(done.state).routes
        if finding.code == "social-return"
    ]
    assert finding.reasons
    for reason in finding.reasons:
        assert "niet altijd mee" in reason.nl
        assert "does not always count" in reason.en


_CODE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.mark.parametrize("name", ["candidate", "employer"])
def test_codes_are_short_lowercase_and_hyphenated(name: str) -> None:
    flow = engine_for(name).flow
    for q in flow.questions:
        assert _QUESTION_ID.match(q.id), q.id
        for opt in q.options:
            assert _CODE.match(opt.code), f"{q.id}: {opt.code}"
            assert len(opt.code) <= 20, f"{q.id}: {opt.code}"
    for rule in flow.target_group_rules + flow.route_rules:
        assert _CODE.match(rule.id), rule.id


def test_candidate_single_choices_are_short_lists() -> None:
    # Two to five buttons for a single choice (docs/domain.md section 4); the multiple-choice lists
    # are longer where the domain needs it (the nine register routes, the kinds of work).
    for q in engine_for("candidate").flow.questions:
        if q.kind in (Kind.SINGLE, Kind.YESNO):
            assert 2 <= len(q.options) <= 5, q.id

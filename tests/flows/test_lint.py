"""The flow linter: each rule fails on a small broken flow, and the shipped flows pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.lint import Explorer, lint_file, lint_paths
from flows.loader import load_flow
from flows.model import ROUTE_CODES, ROUTE_FORMS, TARGET_GROUP_CODES

BROKEN = Path(__file__).parent / "broken"
ROOT = Path(__file__).parents[2]
TG = "uwv-indicatie, praktijkroute, vso-pro, wsw, wajong, wiw-id, werkvoorziening, wia-experiment, onbekend"  # noqa: E501

# file -> the exact problem lines, after "<path>:". Files of a shipped flow kind (candidate,
# employer) also get the coverage lines; those are listed in full too.
EXPECTED: dict[str, list[str]] = {
    "unknown_question.yaml": ["follow: condition refers to unknown question 'ghost'"],
    "forward_reference.yaml": [
        "first: condition refers to 'second', which is asked later (conditions may only look back)"
    ],
    "unreachable.yaml": [
        "shade: can never be asked: its condition can never hold",
        "routes:never: this rule can never fire: its condition can never hold",
    ],
    "dead_end.yaml": ["agree: every option ends the flow, so nobody who gets here can finish"],
    "unknown_option.yaml": [
        "which: condition uses option 'misschien', which question 'pets' does not have",
        "names: 'has' needs a multi question, but 'pets' is yesno",
    ],
    "unknown_codes.yaml": [
        f"target_groups:self-made: unknown target-group code 'doelgroep-x' (use one of: {TG})",
        "routes:internship: unknown route code 'stage'"
        " (use one of: individueel, collectief, social-return, andere-overheid, wsp)",
        "routes:odd-form: unknown form 'leerbaan'"
        " (use one of: detachering, uitzendkracht, tijdelijk, vast, proefplaatsing)",
    ],
    "missing_text.yaml": [
        "hello: text: missing English text (en)",
        "hello: option goed: missing Dutch text (nl)",
    ],
    "unguarded_sensitive.yaml": [
        "help_needed: sensitive question is asked without sensitive consent: its condition"
        " must require 'sensitive_consent' to be 'ja'",
        "aids: sensitive question is asked without sensitive consent: its condition"
        " must require 'sensitive_consent' to be 'ja'",
    ],
    "no_consent_question.yaml": [
        "register: sensitive question without a consent question (consent: sensitive) before it"
    ],
    "employer_health.yaml": [
        "health: the employer flow must not ask sensitive questions",
        "health: the employer flow must not ask about health (the text says 'beperking')",
        "health: sensitive question without a consent question (consent: sensitive) before it",
        "routes: no path reaches route 'individueel'",
        "routes: no path reaches route 'collectief'",
        "routes: no path reaches route 'social-return'",
        "routes: no path reaches route 'andere-overheid'",
    ],
    "bsn.yaml": [
        "bsn: never ask for a BSN: no law allows it here",
        "number: never ask for a BSN: no law allows it here",
    ],
    "candidate_gaps.yaml": [
        "setting: asks for personal data but has no help (purpose, who_sees, kept)",
        "target_groups:never-wajong: this rule can never fire: its condition can never hold",
        *(f"target_groups: no path reaches target-group code '{code}'" for code in TG.split(", ")),
        "routes: no path reaches route 'social-return'",
        "routes: no path reaches route 'andere-overheid'",
    ],
    "unknown_keys.yaml": [
        "which: unknown key 'whem' (use one of: id, kind, text, options, help, sensitive,"
        " consent, grants, when, validation, optional, summary_key, short, text_helper,"
        " short_helper)",
        "routes:all: unknown key 'reasons' (use one of: id, code, when, reason, forms, note,"
        " reason_helper)",
        "routes:all: reason: missing text",
    ],
    "no_options.yaml": [
        "pick: a single question needs options",
        "story: min_length is above max_length, so no answer is valid",
        "several: min_choices is more than there are options to choose",
    ],
    "employer_texts.yaml": [
        "advice:unknown: condition refers to unknown question 'colour'",
        "kind: option taken: the nl label has 52 characters, more than 40; a phone cuts it off"
        " (shorten it, and put the explanation in 'explain')",
        "kind: option team: a label cannot hold a {name}",
        "kind: text: employers are addressed with 'u', not 'je'",
        "trial: text: says 'Alleen UWV'; say 'UWV of de gemeente' (the gemeente decides for the"
        " Praktijkroute)",
        "trial: help.kept: unknown placeholder {next_year} (use one of: after_close, longest)",
        "advice:never: this advice is never shown: its condition can never hold",
    ],
    "misc.yaml": [
        "agree: option 'nee' ends the flow with 'gone', but 'ends' has no text for it",
        "hours: minimum is above maximum, so no answer is valid",
        "routes:team-forms: forms belong to the individueel route only",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_flow_gives_exact_problem_lines(name: str) -> None:
    path = BROKEN / name
    lines = [str(p) for p in lint_file(path)]
    assert lines == [f"{path}:{line}" for line in EXPECTED[name]]


def test_every_broken_file_has_expectations() -> None:
    assert {p.name for p in BROKEN.glob("*.yaml")} == set(EXPECTED)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_check_passes_on_the_shipped_flows() -> None:
    result = _run("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_check_prints_problem_lines_and_fails() -> None:
    result = _run("check", "tests/flows/broken/dead_end.yaml", "tests/flows/broken/bsn.yaml")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "tests/flows/broken/dead_end.yaml:agree: every option ends the flow,"
        " so nobody who gets here can finish",
        "tests/flows/broken/bsn.yaml:bsn: never ask for a BSN: no law allows it here",
        "tests/flows/broken/bsn.yaml:number: never ask for a BSN: no law allows it here",
    ]


def test_check_max_label_is_a_setting() -> None:
    # The shipped flows keep every label within 40 characters; a stricter setting finds the
    # longer ones, a looser one lets the broken file's 52-character label pass.
    strict = _run("check", "--max-label", "30", "flows/data/employer.yaml")
    assert strict.returncode == 1
    assert "option andere-overheid: the en label has 35 characters, more than 30" in strict.stdout
    loose = lint_paths([BROKEN / "employer_texts.yaml"], max_label=60)
    assert not [p for p in loose if "characters" in p.message]


def test_check_reports_an_unreadable_file() -> None:
    problems = lint_paths([BROKEN / "does-not-exist.yaml"])
    assert len(problems) == 1
    assert problems[0].where == "-"
    assert problems[0].message.startswith("cannot read the file")


def test_lint_paths_without_files_checks_the_shipped_flows() -> None:
    assert lint_paths([]) == []


def test_explorer_finds_an_example_path() -> None:
    flow = load_flow("candidate")
    explorer = Explorer(flow)
    rule = next(r for r in flow.route_rules if r.id == "sw-bedrijf")
    example = explorer.example(rule.when)
    assert example is not None
    guardian = flow.question("guardian").when
    assert explorer.example(guardian) == {"filled_by": "zelf", "age": "tot-16"}
    assert explorer.domain("hours") == [4, 40]


def test_readme_names_every_question_and_code() -> None:
    readme = (ROOT / "flows" / "data" / "README.md").read_text(encoding="utf-8")
    for name in ("candidate", "employer"):
        for q in load_flow(name).questions:
            assert f"`{q.id}`" in readme, q.id
    for code in (*TARGET_GROUP_CODES, *ROUTE_CODES, *ROUTE_FORMS):
        assert f"`{code}`" in readme, code

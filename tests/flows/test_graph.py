"""The Mermaid drawing of a flow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.graph import escape, flow_to_mermaid, node_id
from flows.loader import load_flow, read_flow_file

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", ["candidate", "employer"])
def test_graph_has_every_question_end_and_rule(name: str) -> None:
    flow = load_flow(name)
    text = flow_to_mermaid(flow)
    assert text.startswith("flowchart TD\n")
    for q in flow.questions:
        assert f'{node_id(q.id)}["{q.id}: ' in text
    for end in flow.ends:
        assert f"einde: {end.code}" in text
    for rule in flow.target_group_rules + flow.route_rules:
        assert f"{rule.id}: {rule.code}" in text


def test_graph_labels_conditions_and_early_ends() -> None:
    text = flow_to_mermaid(load_flow("candidate"))
    lines = text.splitlines()
    assert '  q_age -->|"age = tot-16 en niet filled_by = ouder"| q_guardian' in lines
    assert '  q_age -->|"niet candidate_agrees in nee, weet-niet"| q_sensitive_consent' in lines
    assert '  q_consent -.->|"niet-akkoord"| stop_no_consent' in lines
    assert '  q_guardian -.->|"nee"| stop_guardian_needed' in lines
    # Once the sensitive consent is given, all four sensitive questions follow each other.
    assert '  q_sensitive_consent -->|"sensitive_consent = ja"| q_register_known' in lines
    assert "  q_sensitive_consent --> q_helpers" in lines
    assert "  q_register_known --> q_register_basis" in lines
    assert not [line for line in lines if line.startswith("  q_sensitive_consent --> q_guid")]
    # Phone and e-mail exclude each other: no arrow from one to the other.
    assert not [line for line in lines if line.startswith("  q_phone -->") and "q_email" in line]
    assert "  q_email --> q_keep_longer" in lines
    assert "  q_keep_longer --> finish" in lines


def test_escape_makes_labels_safe() -> None:
    assert escape('Zeg "ja" <nu> | #1') == "Zeg #quot;ja#quot; #lt;nu#gt; #124; #35;1"
    assert escape("twee\nregels") == "twee regels"


def test_graph_of_a_file_escapes_quotes(tmp_path: Path) -> None:
    path = tmp_path / "quoted.yaml"
    path.write_text(
        "flow: sample\nversion: '1'\ntitle: {nl: 'T', en: 'T'}\nquestions:\n"
        "  - id: q1\n    kind: yesno\n"
        "    text: {nl: 'Zeg je \"ja\"?', en: 'Do you say \"yes\"?'}\n",
        encoding="utf-8",
    )
    flow, problems = read_flow_file(path)
    assert flow is not None
    assert problems == []
    assert 'q_q1["q1: Zeg je #quot;ja#quot;?"]' in flow_to_mermaid(flow)


def test_graph_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flows", "graph", "employer"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for q in load_flow("employer").questions:
        assert q.id in result.stdout
    assert '-->|"niet org_kind = ander"| q_offer' in result.stdout

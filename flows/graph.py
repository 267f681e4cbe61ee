"""Draw a flow as a Mermaid `flowchart TD`, for reading and reviewing a flow file.

Questions are boxes with their id and short Dutch text. An arrow goes from each question to every
question that can come next; its label is the condition of the question it points to, where that
condition is not already certain. A conditional question can be skipped, so arrows also run
past it. Early ends are rounded end
nodes, and the target-group and route rules are listed in two boxes beside the flow.
"""

from __future__ import annotations

import re

from flows.lint import Explorer
from flows.model import AllOf, AnyOf, Condition, Flow, Leaf, Not, Question, Rule

SHORT_TEXT = 60
_FINISH = "finish"
_OPS_NL = {
    "is": "=",
    "in": "in",
    "has": "heeft",
    "has_any": "heeft een van",
    "gte": ">=",
    "lte": "<=",
}


def escape(text: str) -> str:
    """Make text safe inside a quoted Mermaid label."""
    replacements = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "|": "#124;"}
    return "".join(replacements.get(c, c) for c in " ".join(text.split()))


def node_id(qid: str) -> str:
    return "q_" + re.sub(r"[^A-Za-z0-9_]", "_", qid)


def short_text(question: Question) -> str:
    """The question itself: the last sentence with a question mark, cut to a readable length."""
    sentences = re.split(r"(?<=[.?!])\s+", question.text.nl.strip())
    asked = [s for s in sentences if s.endswith("?")]
    text = asked[-1] if asked else sentences[0]
    return text if len(text) <= SHORT_TEXT else text[: SHORT_TEXT - 1].rstrip() + "…"


def describe(cond: Condition) -> str:
    """A condition in short readable form: `age = tot-16 en niet filled_by = ouder`."""
    if isinstance(cond, Leaf):
        if cond.op == "answered":
            return f"{cond.question} beantwoord"
        if cond.op in ("gte", "lte"):
            return f"{cond.question} {_OPS_NL[cond.op]} {cond.number}"
        return f"{cond.question} {_OPS_NL[cond.op]} {', '.join(cond.values)}"
    if isinstance(cond, AllOf | AnyOf):
        joiner = " en " if isinstance(cond, AllOf) else " of "
        parts = [describe(p) for p in cond.parts]
        inner = joiner.join(f"({p})" if (" en " in p or " of " in p) else p for p in parts)
        return inner
    assert isinstance(cond, Not)
    return f"niet {describe(cond.part)}"


def _end_id(code: str) -> str:
    # Not "end...": Mermaid reads a bare "end" as the close of a subgraph.
    return "stop_" + re.sub(r"[^A-Za-z0-9_]", "_", code)


def _label(text: str) -> str:
    return f'"{escape(text)}"'


def _next_steps(flow: Flow, explorer: Explorer, index: int) -> list[tuple[str, Condition | None]]:
    """Where the walk can go after question `index`, with the condition to show on the arrow.

    A step to a later question is drawn when some answers make this question apply, every
    question in between not apply, and that later question apply. The arrow carries the later
    question's condition unless it always holds once this question applies.
    """
    here = flow.questions[index]
    path: list[Condition] = [here.when] if here.when is not None else []
    steps: list[tuple[str, Condition | None]] = []
    for later in flow.questions[index + 1 :]:
        if later.when is None:
            steps.append((later.id, None))
            return steps
        if explorer.possible(_all([*path, later.when])):
            base = [here.when] if here.when is not None else []
            always = not explorer.possible(_all([*base, Not(later.when)]))
            steps.append((later.id, None if always else later.when))
        path.append(Not(later.when))
        if not explorer.possible(_all(path)):
            return steps
    steps.append((_FINISH, None))
    return steps


def _all(parts: list[Condition]) -> Condition | None:
    return AllOf(tuple(parts)) if parts else None


def _rule_line(rule: Rule) -> str:
    forms = f" ({', '.join(rule.forms)})" if rule.forms else ""
    return f"{rule.code}{forms} als {describe(rule.when)}"


def flow_to_mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f"  %% {escape(flow.title.nl)} ({flow.name}, versie {flow.version})"]
    lines.append(f"  start([{_label('start')}])")
    for q in flow.questions:
        lines.append(f"  {node_id(q.id)}[{_label(f'{q.id}: {short_text(q)}')}]")
    lines.append(f"  {_FINISH}([{_label('samenvatting en bevestigen')}])")
    for end in flow.ends:
        lines.append(f"  {_end_id(end.code)}([{_label(f'einde: {end.code}')}])")

    if flow.questions:
        first = flow.questions[0]
        label = f"|{_label(describe(first.when))}|" if first.when is not None else ""
        lines.append(f"  start -->{label} {node_id(first.id)}")
    explorer = Explorer(flow)
    for index, q in enumerate(flow.questions):
        source = node_id(q.id)
        for target, cond in _next_steps(flow, explorer, index):
            target_id = _FINISH if target == _FINISH else node_id(target)
            label = f"|{_label(describe(cond))}|" if cond is not None else ""
            lines.append(f"  {source} -->{label} {target_id}")
        for opt in q.options:
            if opt.ends:
                lines.append(f"  {source} -.->|{_label(opt.code)}| {_end_id(opt.ends)}")

    for title, section, rules in (
        ("Doelgroep (volgens de kandidaat)", "tg", flow.target_group_rules),
        ("Routes", "route", flow.route_rules),
    ):
        if not rules:
            continue
        lines.append(f"  subgraph {section}_rules [{_label(title)}]")
        lines.append("    direction TB")
        for rule in rules:
            rid = f"{section}_{re.sub(r'[^A-Za-z0-9_]', '_', rule.id)}"
            lines.append(f"    {rid}[{_label(f'{rule.id}: {_rule_line(rule)}')}]")
        lines.append("  end")
    return "\n".join(lines) + "\n"

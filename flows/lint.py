"""Check a flow file before it is shipped: the structure, the references, and the privacy rules.

Every problem is a `Problem` printed as `file:question: message`, so a policy officer can find the
line to fix. The checks that ask "can this ever happen?" walk the answer combinations of the
questions a condition depends on (see `Explorer`), in flow order, the way the engine does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from flows.conditions import holds, maybe
from flows.loader import SHIPPED_FLOWS, Problem, read_flow_file, shipped_flow_path
from flows.model import (
    LANGUAGES,
    PLACEHOLDERS,
    ROUTE_CODES,
    ROUTE_FORMS,
    TARGET_GROUP_CODES,
    AllOf,
    AnswerValue,
    AnyOf,
    Condition,
    ConsentScope,
    Flow,
    Kind,
    Leaf,
    Not,
    Question,
    Rule,
    Text,
    condition_leaves,
    placeholders,
)

CANDIDATE_FLOW = "candidate"
EMPLOYER_FLOW = "employer"
# The routes of the Rijk; `wsp` (referral to the Werkgeversservicepunt) is for employers only.
GOVERNMENT_ROUTES: tuple[str, ...] = (
    "individueel",
    "collectief",
    "social-return",
    "andere-overheid",
)
# What each shipped flow must be able to reach on some path.
REQUIRED_TARGET_GROUPS: dict[str, tuple[str, ...]] = {CANDIDATE_FLOW: TARGET_GROUP_CODES}
REQUIRED_ROUTES: dict[str, tuple[str, ...]] = {
    CANDIDATE_FLOW: GOVERNMENT_ROUTES,
    EMPLOYER_FLOW: ROUTE_CODES,
}
FORMS_ROUTE = "individueel"

# An employer may not ask about a person's health (docs/domain.md section 4). Word starts, so that
# "arbeidsbeperking" in a description does not count but "beperking" does.
_HEALTH_WORDS = re.compile(
    r"\b(gezondheid|ziekte|ziek|diagnose|diagnos|beperking|medisch|handicap|health|illness"
    r"|medical|sick)\w*",
    re.IGNORECASE,
)
_BSN_WORDS = re.compile(r"\bbsn\b|burgerservicenummer|citizen service number", re.IGNORECASE)
# Employers are addressed with "u" (flows/data/README.md); these words address a "je".
_JE_WORDS = re.compile(r"\b(je|jij|jou|jouw|jezelf|jijzelf)\b", re.IGNORECASE)
# UWV decides on the register, but for the Praktijkroute the gemeente does: never "only UWV".
_ONLY_UWV = re.compile(r"\b(alleen|only)\s+(door\s+|by\s+)?(het\s+)?UWV\b", re.IGNORECASE)
# A button shows about 30 characters on a phone (labels.yaml); longer labels are cut off.
MAX_LABEL_LENGTH = 40
_OPTION_OPS = ("is", "in", "has", "has_any")
# Above this many codes referenced on one multiple-choice question, combinations are cut at size 3.
_FULL_SUBSETS = 10


class Explorer:
    """Walks the answer combinations that matter for one condition, in flow order.

    Only the questions the condition depends on (and those their own conditions depend on) are
    walked. Each question gets a few representative answers: every option that does not end the
    flow, every combination of the codes that conditions test on a multiple-choice question, the
    numbers around each threshold, and "some text" for typed answers.
    """

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        codes: dict[str, set[str]] = {q.id: set() for q in flow.questions}
        numbers: dict[str, set[int]] = {q.id: set() for q in flow.questions}
        conditions = [q.when for q in flow.questions] + [
            r.when for r in flow.target_group_rules + flow.route_rules
        ]
        for cond in conditions:
            for leaf in condition_leaves(cond):
                if leaf.question in codes:
                    codes[leaf.question].update(leaf.values)
                    if leaf.number is not None:
                        numbers[leaf.question].add(leaf.number)
        self._domains = {q.id: _domain(q, codes[q.id], numbers[q.id]) for q in flow.questions}

    def domain(self, qid: str) -> list[AnswerValue]:
        return self._domains[qid]

    def depends_on(self, cond: Condition | None) -> set[str]:
        """The known questions a condition depends on, directly or through their conditions."""
        seen: set[str] = set()
        todo = [leaf.question for leaf in condition_leaves(cond)]
        while todo:
            qid = todo.pop()
            if qid in seen or not self.flow.has_question(qid):
                continue
            seen.add(qid)
            todo.extend(leaf.question for leaf in condition_leaves(self.flow.question(qid).when))
        return seen

    def example(self, goal: Condition | None) -> dict[str, AnswerValue] | None:
        """Answers on a path that finishes the flow and makes the goal hold, or None."""
        order = [q for q in self.flow.questions if q.id in self.depends_on(goal)]
        answers: dict[str, AnswerValue] = {}

        def walk(i: int) -> bool:
            if maybe(goal, answers, frozenset(q.id for q in order[i:])) is False:
                return False
            if i == len(order):
                return holds(goal, answers)
            question = order[i]
            if not holds(question.when, answers):
                return walk(i + 1)
            for value in self._domains[question.id]:
                answers[question.id] = value
                if walk(i + 1):
                    return True
                del answers[question.id]
            return False

        return dict(answers) if walk(0) else None

    def possible(self, goal: Condition | None) -> bool:
        return self.example(goal) is not None


def _domain(question: Question, codes: set[str], numbers: set[int]) -> list[AnswerValue]:
    kind = question.kind
    if kind in (Kind.SINGLE, Kind.YESNO):
        return [o.code for o in question.options if not o.ends]
    if kind == Kind.MULTI:
        return _multi_domain(question, codes)
    if kind == Kind.NUMBER:
        low = question.validation.minimum if question.validation.minimum is not None else 0
        high = question.validation.maximum if question.validation.maximum is not None else 999_999
        near = {n + d for n in numbers for d in (-1, 0, 1)}
        return sorted(n for n in {low, high} | near if low <= n <= high)
    return ["x", ""] if question.optional else ["x"]


def _multi_domain(question: Question, codes: set[str]) -> list[AnswerValue]:
    values: list[AnswerValue] = [[o.code] for o in question.options if o.exclusive]
    plain = [o.code for o in question.options if not o.exclusive]
    tested = [c for c in plain if c in codes]
    # One untested code stands for "something the conditions do not look at".
    filler = [c for c in plain if c not in codes]
    v = question.validation
    low = max(1, v.min_choices or 1)
    high = v.max_choices if v.max_choices is not None else len(plain)
    largest = len(tested) if len(tested) <= _FULL_SUBSETS else 3
    for size in range(largest + 1):
        for combo in itertools.combinations(tested, size):
            value = list(combo) + filler[: max(0, low - size)]
            if low <= len(value) <= high and value not in values:
                values.append(value)
    return values


def lint_flow(flow: Flow, max_label: int = MAX_LABEL_LENGTH) -> list[Problem]:
    """Every problem in a flow that the loader could read; `max_label` is the longest button
    label allowed, in characters."""
    checker = _Checker(flow, max_label)
    checker.run()
    return checker.problems


def lint_file(path: Path, max_label: int = MAX_LABEL_LENGTH) -> list[Problem]:
    flow, problems = read_flow_file(path)
    if flow is None:
        return problems
    return problems + lint_flow(flow, max_label)


def lint_paths(paths: Sequence[Path], max_label: int = MAX_LABEL_LENGTH) -> list[Problem]:
    """Check the given files, or the shipped flows when none are given."""
    targets = list(paths) or [_display_path(shipped_flow_path(name)) for name in SHIPPED_FLOWS]
    return [p for path in targets for p in lint_file(path, max_label)]


def flow_texts(flow: Flow) -> Iterator[tuple[str, str, Text]]:
    """Every text of a flow a person may read, as (where, what, text)."""
    yield "-", "title", flow.title
    for q in flow.questions:
        yield q.id, "text", q.text
        if q.short is not None:
            yield q.id, "short", q.short
        if q.text_helper is not None:
            yield q.id, "text_helper", q.text_helper
        if q.short_helper is not None:
            yield q.id, "short_helper", q.short_helper
        for opt in q.options:
            yield q.id, f"option {opt.code}", opt.label
            if opt.explain is not None:
                yield q.id, f"option {opt.code} explain", opt.explain
        if q.help is not None:
            yield q.id, "help.purpose", q.help.purpose
            yield q.id, "help.who_sees", q.help.who_sees
            yield q.id, "help.kept", q.help.kept
    for section, rules in (
        ("target_groups", flow.target_group_rules),
        ("routes", flow.route_rules),
    ):
        for rule in rules:
            yield f"{section}:{rule.id}", "reason", rule.reason
            if rule.reason_helper is not None:
                yield f"{section}:{rule.id}", "reason_helper", rule.reason_helper
            if rule.note is not None:
                yield f"{section}:{rule.id}", "note", rule.note
    for advice in flow.advice:
        yield f"advice:{advice.id}", "text", advice.text
        if advice.text_helper is not None:
            yield f"advice:{advice.id}", "text_helper", advice.text_helper
    for end in flow.ends:
        yield f"ends:{end.code}", "text", end.text
        if end.text_helper is not None:
            yield f"ends:{end.code}", "text_helper", end.text_helper


def _display_path(path: Path) -> Path:
    # Short paths read better in a terminal; an absolute path is kept when it is elsewhere.
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


class _Checker:
    def __init__(self, flow: Flow, max_label: int = MAX_LABEL_LENGTH) -> None:
        self.flow = flow
        self.max_label = max_label
        self.explorer = Explorer(flow)
        self.problems: list[Problem] = []
        # Conditions with a broken reference are not explored: the reference is the problem.
        self._broken: set[str] = set()

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.flow.source, where, message))

    def run(self) -> None:
        self.check_references()
        self.check_questions()
        self.check_rules()
        self.check_texts()
        self.check_helper()
        self.check_privacy()
        self.check_reachable()
        self.check_coverage()

    # -- references ---------------------------------------------------------------------------

    def check_references(self) -> None:
        for q in self.flow.questions:
            self._check_condition(q.id, q.when, before=self.flow.position(q.id))
        for section, rules in self._rule_sections():
            ids = [r.id for r in rules]
            for rid in sorted({i for i in ids if ids.count(i) > 1}):
                self.problem(f"{section}:{rid}", "rule id is used twice")
            for rule in rules:
                self._check_condition(f"{section}:{rule.id}", rule.when, before=None)
        mode = self.flow.helper
        if mode is not None:
            self._check_condition("helper", mode.when, before=None)
            for i, by in enumerate(mode.consent_by):
                self._check_condition(f"helper.consent_by[{i + 1}]", by.when, before=None)
            for what, qid in [("role", mode.role), ("name", mode.name)] + [
                ("contact", c) for c in mode.contact
            ]:
                if qid is not None and not self.flow.has_question(qid):
                    self.problem("helper", f"{what}: unknown question '{qid}'")
        ids = [a.id for a in self.flow.advice]
        for aid in sorted({i for i in ids if ids.count(i) > 1}):
            self.problem(f"advice:{aid}", "advice id is used twice")
        for advice in self.flow.advice:
            self._check_condition(f"advice:{advice.id}", advice.when, before=None)
        named = (
            [("support", q) for q in self.flow.support_questions]
            + [("contact", q) for q in self.flow.contact_questions]
            + ([("name", self.flow.name_question)] if self.flow.name_question else [])
        )
        for key, qid in named:
            if not self.flow.has_question(qid):
                self.problem("outcome", f"{key} refers to unknown question '{qid}'")

    def _check_condition(self, where: str, cond: Condition | None, before: int | None) -> None:
        for leaf in condition_leaves(cond):
            if not self.flow.has_question(leaf.question):
                self.problem(where, f"condition refers to unknown question '{leaf.question}'")
                self._broken.add(where)
                continue
            target = self.flow.question(leaf.question)
            position = self.flow.position(leaf.question)
            if before is not None and position == before:
                self.problem(where, "condition refers to its own question")
                self._broken.add(where)
                continue
            if before is not None and position > before:
                self.problem(
                    where,
                    f"condition refers to '{leaf.question}', which is asked later"
                    " (conditions may only look back)",
                )
                self._broken.add(where)
            if not self._op_fits(where, leaf, target):
                self._broken.add(where)
                continue
            if leaf.op in _OPTION_OPS:
                for code in leaf.values:
                    if target.option(code) is None:
                        self.problem(
                            where,
                            f"condition uses option '{code}', which question"
                            f" '{leaf.question}' does not have",
                        )
                        self._broken.add(where)

    def _op_fits(self, where: str, leaf: Leaf, target: Question) -> bool:
        kind = target.kind
        if leaf.op in ("is", "in") and kind not in (Kind.SINGLE, Kind.YESNO):
            needs = "a single or yesno question"
        elif leaf.op in ("has", "has_any") and kind != Kind.MULTI:
            needs = "a multi question"
        elif leaf.op in ("gte", "lte") and kind != Kind.NUMBER:
            needs = "a number question"
        else:
            return True
        self.problem(where, f"'{leaf.op}' needs {needs}, but '{target.id}' is {kind}")
        return False

    # -- questions ----------------------------------------------------------------------------

    def check_questions(self) -> None:
        end_codes = {e.code for e in self.flow.ends}
        for q in self.flow.questions:
            for opt in q.options:
                if opt.ends is not None and opt.ends not in end_codes:
                    self.problem(
                        q.id,
                        f"option '{opt.code}' ends the flow with '{opt.ends}',"
                        " but 'ends' has no text for it",
                    )
            v = q.validation
            if v.minimum is not None and v.maximum is not None and v.minimum > v.maximum:
                self.problem(q.id, "minimum is above maximum, so no answer is valid")
            if (
                v.min_length is not None
                and v.max_length is not None
                and v.min_length > v.max_length
            ):
                self.problem(q.id, "min_length is above max_length, so no answer is valid")
            choices = sum(1 for o in q.options if not o.exclusive)
            if q.kind == Kind.MULTI and (v.min_choices or 1) > max(choices, 1):
                self.problem(q.id, "min_choices is more than there are options to choose")
            ending = q.kind in (Kind.SINGLE, Kind.YESNO) and q.options
            if ending and not self.explorer.domain(q.id):
                self.problem(q.id, "every option ends the flow, so nobody who gets here can finish")
            if self._needs_help(q) and q.help is None:
                self.problem(
                    q.id, "asks for personal data but has no help (purpose, who_sees, kept)"
                )

    def _needs_help(self, q: Question) -> bool:
        if q.consent is not None:
            return False
        return (
            self.flow.name == CANDIDATE_FLOW
            or q.sensitive
            or q.kind in (Kind.PHONE, Kind.EMAIL, Kind.POSTCODE)
            or q.id == self.flow.name_question
        )

    # -- rules --------------------------------------------------------------------------------

    def _rule_sections(self) -> Iterator[tuple[str, tuple[Rule, ...]]]:
        yield "target_groups", self.flow.target_group_rules
        yield "routes", self.flow.route_rules

    def check_rules(self) -> None:
        for rule in self.flow.target_group_rules:
            if rule.code not in TARGET_GROUP_CODES:
                self.problem(
                    f"target_groups:{rule.id}",
                    f"unknown target-group code '{rule.code}'"
                    f" (use one of: {', '.join(TARGET_GROUP_CODES)})",
                )
            if rule.forms:
                self.problem(f"target_groups:{rule.id}", "forms belong to route rules only")
        for rule in self.flow.route_rules:
            where = f"routes:{rule.id}"
            if rule.code not in ROUTE_CODES:
                self.problem(
                    where,
                    f"unknown route code '{rule.code}' (use one of: {', '.join(ROUTE_CODES)})",
                )
            for form in rule.forms:
                if form not in ROUTE_FORMS:
                    self.problem(
                        where, f"unknown form '{form}' (use one of: {', '.join(ROUTE_FORMS)})"
                    )
            if rule.forms and rule.code != FORMS_ROUTE:
                self.problem(where, f"forms belong to the {FORMS_ROUTE} route only")

    # -- texts --------------------------------------------------------------------------------

    def check_texts(self) -> None:
        for q in self.flow.questions:
            for opt in q.options:
                for lang in LANGUAGES:
                    label = opt.label.get(lang)
                    if len(label) > self.max_label:
                        self.problem(
                            q.id,
                            f"option {opt.code}: the {lang} label has {len(label)} characters,"
                            f" more than {self.max_label}; a phone cuts it off (shorten it, and"
                            " put the explanation in 'explain')",
                        )
                if placeholders(f"{opt.label.nl} {opt.label.en}"):
                    self.problem(q.id, f"option {opt.code}: a label cannot hold a {{name}}")
        for where, what, text in flow_texts(self.flow):
            for lang in LANGUAGES:
                value = text.get(lang)
                for name in placeholders(value):
                    if name not in PLACEHOLDERS:
                        self.problem(
                            where,
                            f"{what}: unknown placeholder {{{name}}}"
                            f" (use one of: {', '.join(PLACEHOLDERS)})",
                        )
                found = _ONLY_UWV.search(value)
                if found:
                    self.problem(
                        where,
                        f"{what}: says '{found.group(0)}'; say 'UWV of de gemeente' (the"
                        " gemeente decides for the Praktijkroute)",
                    )
            if self.flow.name == EMPLOYER_FLOW:
                found = _JE_WORDS.search(text.nl)
                if found:
                    self.problem(
                        where, f"{what}: employers are addressed with 'u', not '{found.group(0)}'"
                    )

    # -- helpers ------------------------------------------------------------------------------

    def helper_only(self, q: Question) -> bool:
        """A question asked only of a helper (about the helper): its condition requires the
        helper condition, as a whole or as one part of an `all`."""
        mode = self.flow.helper
        if mode is None or q.when is None:
            return False
        return q.when == mode.when or (isinstance(q.when, AllOf) and mode.when in q.when.parts)

    def check_helper(self) -> None:
        mode = self.flow.helper
        if mode is None:
            for q in self.flow.questions:
                if q.text_helper is not None or q.short_helper is not None:
                    self.problem(q.id, "text_helper needs a 'helper' section that says when")
            for advice in self.flow.advice:
                if advice.text_helper is not None:
                    self.problem(
                        f"advice:{advice.id}", "text_helper needs a 'helper' section that says when"
                    )
            for section, rules in self._rule_sections():
                for rule in rules:
                    if rule.reason_helper is not None:
                        self.problem(
                            f"{section}:{rule.id}",
                            "reason_helper needs a 'helper' section that says when",
                        )
            return
        # A helper answers about another person: every "je" about the candidate needs a
        # third-person variant. Questions asked only of helpers are about the helper.
        for q in self.flow.questions:
            if self.helper_only(q):
                if q.text_helper is not None:
                    self.problem(q.id, "asked only of helpers: text_helper is never shown")
                continue
            found = _JE_WORDS.search(q.text.nl)
            if found and q.text_helper is None:
                self.problem(
                    q.id,
                    f"text says '{found.group(0)}': add text_helper, the question for someone"
                    " who fills this in for another person",
                )
            short_je = q.short is not None and _JE_WORDS.search(q.short.nl)
            if q.text_helper is not None and short_je and q.short_helper is None:
                self.problem(q.id, "short says 'je': add short_helper for helpers")
        for advice in self.flow.advice:
            found = _JE_WORDS.search(advice.text.nl)
            if found and advice.text_helper is None:
                self.problem(
                    f"advice:{advice.id}",
                    f"text says '{found.group(0)}': add text_helper for helpers",
                )
        for end in self.flow.ends:
            found = _JE_WORDS.search(end.text.nl)
            if found and end.text_helper is None:
                self.problem(
                    f"ends:{end.code}", f"text says '{found.group(0)}': add text_helper for helpers"
                )
        for section, rules in self._rule_sections():
            for rule in rules:
                found = _JE_WORDS.search(rule.reason.nl)
                if found and rule.reason_helper is None:
                    self.problem(
                        f"{section}:{rule.id}",
                        f"reason says '{found.group(0)}': add reason_helper for helpers",
                    )
        # Privacy: a helper gives the sensitive consent only on one of the `consent_by`
        # grounds (the candidate agrees, or a parent for a child under 16).
        if any(w == "helper" or w.startswith("helper.") for w in self._broken):
            return
        grounds: Condition = AnyOf(tuple(by.when for by in mode.consent_by))
        for q in self.flow.questions:
            if q.consent != ConsentScope.SENSITIVE or q.id in self._broken:
                continue
            parts: tuple[Condition, ...] = (mode.when, Not(grounds))
            goal = AllOf(parts if q.when is None else (q.when, *parts))
            if not mode.consent_by or self.explorer.possible(goal):
                self.problem(
                    q.id,
                    "a helper can give this consent without the candidate's word: its condition"
                    " must require one of helper.consent_by",
                )

    # -- what can happen ----------------------------------------------------------------------

    def check_reachable(self) -> None:
        for q in self.flow.questions:
            broken = q.when is None or q.id in self._broken
            if not broken and not self.explorer.possible(q.when):
                self.problem(q.id, "can never be asked: its condition can never hold")
        for section, rules in self._rule_sections():
            for rule in rules:
                where = f"{section}:{rule.id}"
                if where not in self._broken and not self.explorer.possible(rule.when):
                    self.problem(where, "this rule can never fire: its condition can never hold")
        for advice in self.flow.advice:
            where = f"advice:{advice.id}"
            if where not in self._broken and not self.explorer.possible(advice.when):
                self.problem(where, "this advice is never shown: its condition can never hold")

    def reached(self, rules: Iterable[Rule]) -> set[str]:
        return {r.code for r in rules if self.explorer.possible(r.when)}

    def check_coverage(self) -> None:
        required_groups = REQUIRED_TARGET_GROUPS.get(self.flow.name, ())
        if required_groups:
            reached = self.reached(self.flow.target_group_rules)
            for code in required_groups:
                if code not in reached:
                    self.problem("target_groups", f"no path reaches target-group code '{code}'")
        required_routes = REQUIRED_ROUTES.get(self.flow.name, ())
        if required_routes:
            reached = self.reached(self.flow.route_rules)
            for code in required_routes:
                if code not in reached:
                    self.problem("routes", f"no path reaches route '{code}'")

    # -- privacy ------------------------------------------------------------------------------

    def check_privacy(self) -> None:
        consents = [q for q in self.flow.questions if q.consent == ConsentScope.SENSITIVE]
        for q in self.flow.questions:
            for text in (q.id, q.text.nl, q.text.en):
                if _BSN_WORDS.search(text):
                    self.problem(q.id, "never ask for a BSN: no law allows it here")
                    break
            if self.flow.name == EMPLOYER_FLOW:
                if q.sensitive:
                    self.problem(q.id, "the employer flow must not ask sensitive questions")
                found = _HEALTH_WORDS.search(f"{q.text.nl} {q.text.en}")
                if found:
                    self.problem(
                        q.id,
                        f"the employer flow must not ask about health (the text says"
                        f" '{found.group(0)}')",
                    )
            if q.sensitive:
                self._check_guarded(q, consents)

    def _check_guarded(self, q: Question, consents: list[Question]) -> None:
        before = [
            c for c in consents if self.flow.position(c.id) < self.flow.position(q.id) and c.grants
        ]
        if not before:
            self.problem(
                q.id, "sensitive question without a consent question (consent: sensitive) before it"
            )
            return
        if q.when is not None and q.id in self._broken:
            return
        for consent in before:
            refused = Not(Leaf(consent.id, "is", (str(consent.grants),)))
            goal: Condition = refused if q.when is None else AllOf((q.when, refused))
            if not self.explorer.possible(goal):
                return
        first = before[-1]
        self.problem(
            q.id,
            f"sensitive question is asked without sensitive consent: its condition must require"
            f" '{first.id}' to be '{first.grants}'",
        )

"""Read a flow data file (YAML) into the model, reporting every structural problem it finds.

The file format is documented in `flows/data/README.md`. Structural problems (a missing text, an
unknown kind) are collected as `Problem`s rather than raised one by one, so that the linter can
list them all at once with the file and question they belong to.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from flows.model import (
    CONSENT_GROUNDS,
    LANGUAGES,
    Advice,
    AllOf,
    AnyOf,
    Condition,
    ConsentBy,
    ConsentScope,
    End,
    Flow,
    Help,
    HelperMode,
    Kind,
    Leaf,
    Not,
    Option,
    Question,
    Rule,
    Text,
    Validation,
)
from flows.yaml_text import load_yaml

SHIPPED_FLOWS: tuple[str, ...] = ("candidate", "employer")

# The keys each part of a flow file may have. A misspelt key ("whem:") would otherwise be
# ignored without a word, and a question meant to be conditional would always be asked.
# `shared` holds texts that questions reuse through YAML anchors (&name, *name).
_FLOW_KEYS = ("flow", "version", "title", "shared", "questions", "target_groups", "routes",
              "advice", "ends", "outcome", "helper")  # fmt: skip
_QUESTION_KEYS = ("id", "kind", "text", "options", "help", "sensitive", "consent", "grants",
                  "when", "validation", "optional", "summary_key", "short", "text_helper",
                  "short_helper")  # fmt: skip
_OPTION_KEYS = ("code", "label", "exclusive", "ends", "explain")
_HELP_KEYS = ("purpose", "who_sees", "kept")
_RULE_KEYS = ("id", "code", "when", "reason", "forms", "note", "reason_helper")
_ADVICE_KEYS = ("id", "when", "text", "text_helper")
_HELPER_KEYS = ("when", "role", "name", "contact", "consent_by")
_CONSENT_BY_KEYS = ("given_by", "when")
_OUTCOME_KEYS = ("support", "contact", "name")

# yes/no questions get these options unless the file gives its own.
_YESNO_OPTIONS = (
    Option("ja", Text("Ja", "Yes")),
    Option("nee", Text("Nee", "No")),
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a flow file, printed as `file:question: message`."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.where}: {self.message}"


class FlowError(ValueError):
    """A flow file that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.source, where, message))

    def known_keys(self, raw: dict[Any, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in raw:
            if key not in allowed:
                self.problem(where, f"unknown key '{key}' (use one of: {', '.join(allowed)})")

    def text(self, raw: Any, where: str, what: str, *, required: bool = True) -> Text | None:
        if raw is None:
            if required:
                self.problem(where, f"{what}: missing text")
            return None
        if isinstance(raw, str):
            self.problem(where, f"{what}: give the text in both nl and en, not a single string")
            return Text(raw, raw)
        if not isinstance(raw, dict):
            self.problem(where, f"{what}: expected a mapping with nl and en")
            return None
        values: dict[str, str] = {}
        for lang in LANGUAGES:
            value = raw.get(lang)
            if not isinstance(value, str) or not value.strip():
                self.problem(
                    where, f"{what}: missing {'Dutch' if lang == 'nl' else 'English'} text ({lang})"
                )
                values[lang] = ""
            else:
                values[lang] = value.strip()
        return Text(values["nl"], values["en"])

    def condition(self, raw: Any, where: str) -> Condition | None:
        if raw is None:
            return None
        if not isinstance(raw, dict) or not raw:
            self.problem(where, f"condition must be a mapping, got {raw!r}")
            return None
        if "all" in raw or "any" in raw:
            key = "all" if "all" in raw else "any"
            parts_raw = raw[key]
            if not isinstance(parts_raw, list) or not parts_raw:
                self.problem(where, f"'{key}' needs a list of conditions")
                return None
            parts = tuple(p for p in (self.condition(x, where) for x in parts_raw) if p is not None)
            return AllOf(parts) if key == "all" else AnyOf(parts)
        if "not" in raw:
            inner = self.condition(raw["not"], where)
            return Not(inner) if inner is not None else None
        qid = raw.get("q")
        if not isinstance(qid, str):
            self.problem(where, f"condition needs 'q' (a question id): {raw!r}")
            return None
        for op in ("is", "in", "has", "has_any"):
            if op in raw:
                value = raw[op]
                values = tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
                return Leaf(qid, op, values)
        for op in ("gte", "lte"):
            if op in raw:
                if not isinstance(raw[op], int):
                    self.problem(where, f"'{op}' needs a whole number")
                    return None
                return Leaf(qid, op, (), raw[op])  # type: ignore[arg-type]
        if raw.get("answered") is True:
            return Leaf(qid, "answered")
        self.problem(
            where, f"condition on '{qid}' needs one of is, in, has, has_any, gte, lte, answered"
        )
        return None

    def question(self, raw: Any, index: int) -> Question | None:
        if not isinstance(raw, dict):
            self.problem(f"#{index + 1}", "a question must be a mapping")
            return None
        qid = raw.get("id")
        if not isinstance(qid, str) or not qid:
            self.problem(f"#{index + 1}", "question without an id")
            return None
        try:
            kind = Kind(str(raw.get("kind")))
        except ValueError:
            self.problem(qid, f"unknown kind {raw.get('kind')!r} (use one of: {', '.join(Kind)})")
            return None
        self.known_keys(raw, _QUESTION_KEYS, qid)
        text = self.text(raw.get("text"), qid, "text") or Text("", "")
        options: list[Option] = []
        for i, opt in enumerate(raw.get("options") or []):
            if not isinstance(opt, dict) or not isinstance(opt.get("code"), str):
                self.problem(qid, f"option {i + 1} needs a code")
                continue
            self.known_keys(opt, _OPTION_KEYS, qid)
            label = self.text(opt.get("label"), qid, f"option {opt['code']}") or Text("", "")
            ends = opt.get("ends")
            explain = self.text(
                opt.get("explain"), qid, f"option {opt['code']} explain", required=False
            )
            options.append(
                Option(
                    opt["code"],
                    label,
                    bool(opt.get("exclusive", False)),
                    str(ends) if ends else None,
                    explain,
                )
            )
        if kind == Kind.YESNO and not options:
            options = list(_YESNO_OPTIONS)
        if kind.has_options and not options:
            self.problem(qid, f"a {kind} question needs options")
        if not kind.has_options and options:
            self.problem(qid, f"a {kind} question takes no options")
        codes = [o.code for o in options]
        for code in {c for c in codes if codes.count(c) > 1}:
            self.problem(qid, f"option code '{code}' is used twice")
        help_raw = raw.get("help")
        help_: Help | None = None
        if help_raw is not None:
            if not isinstance(help_raw, dict):
                self.problem(qid, "help must be a mapping with purpose, who_sees and kept")
            else:
                self.known_keys(help_raw, _HELP_KEYS, qid)
                purpose = self.text(help_raw.get("purpose"), qid, "help.purpose")
                who = self.text(help_raw.get("who_sees"), qid, "help.who_sees")
                kept = self.text(help_raw.get("kept"), qid, "help.kept")
                if purpose and who and kept:
                    help_ = Help(purpose, who, kept)
        consent: ConsentScope | None = None
        if raw.get("consent") is not None:
            try:
                consent = ConsentScope(raw["consent"])
            except ValueError:
                scopes = ", ".join(ConsentScope)
                self.problem(
                    qid, f"unknown consent scope {raw['consent']!r} (use one of: {scopes})"
                )
        grants = raw.get("grants")
        if consent is not None and (not isinstance(grants, str) or grants not in codes):
            self.problem(
                qid, "a consent question needs 'grants': the option code that gives consent"
            )
        vraw = raw.get("validation") or {}
        if not isinstance(vraw, dict):
            self.problem(qid, "validation must be a mapping")
            vraw = {}
        known = {f for f in Validation.__dataclass_fields__}
        for key in vraw:
            if key not in known:
                self.problem(qid, f"unknown validation setting '{key}'")
        validation = Validation(**{k: v for k, v in vraw.items() if k in known})
        return Question(
            id=qid,
            kind=kind,
            text=text,
            options=tuple(options),
            help=help_,
            sensitive=bool(raw.get("sensitive", False)),
            consent=consent,
            grants=grants if isinstance(grants, str) else None,
            when=self.condition(raw.get("when"), qid),
            validation=validation,
            optional=bool(raw.get("optional", False)),
            summary_key=raw.get("summary_key"),
            short=self.text(raw.get("short"), qid, "short", required=False),
            text_helper=self.text(raw.get("text_helper"), qid, "text_helper", required=False),
            short_helper=self.text(raw.get("short_helper"), qid, "short_helper", required=False),
        )

    def rules(self, raw: Any, section: str) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        for i, item in enumerate(raw or []):
            where = f"{section}[{i + 1}]"
            if not isinstance(item, dict):
                self.problem(where, "a rule must be a mapping")
                continue
            rid = item.get("id")
            code = item.get("code")
            if not isinstance(rid, str) or not isinstance(code, str):
                self.problem(where, "a rule needs an id and a code")
                continue
            where = f"{section}:{rid}"
            self.known_keys(item, _RULE_KEYS, where)
            when = self.condition(item.get("when"), where)
            if when is None:
                self.problem(where, "a rule needs a 'when' condition")
                continue
            reason = self.text(item.get("reason"), where, "reason") or Text("", "")
            forms = tuple(str(f) for f in item.get("forms") or [])
            note = self.text(item.get("note"), where, "note", required=False)
            helper = self.text(item.get("reason_helper"), where, "reason_helper", required=False)
            rules.append(Rule(rid, code, when, reason, forms, note, helper))
        return tuple(rules)

    def advice(self, raw: Any) -> tuple[Advice, ...]:
        found: list[Advice] = []
        for i, item in enumerate(raw or []):
            where = f"advice[{i + 1}]"
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                self.problem(where, "advice needs an id, a 'when' condition and a text")
                continue
            where = f"advice:{item['id']}"
            self.known_keys(item, _ADVICE_KEYS, where)
            when = self.condition(item.get("when"), where)
            if when is None:
                self.problem(where, "advice needs a 'when' condition")
                continue
            text = self.text(item.get("text"), where, "text") or Text("", "")
            helper = self.text(item.get("text_helper"), where, "text_helper", required=False)
            found.append(Advice(item["id"], when, text, helper))
        return tuple(found)

    def helper(self, raw: Any) -> HelperMode | None:
        if raw is None:
            return None
        where = "helper"
        if not isinstance(raw, dict):
            self.problem(where, "helper must be a mapping with when, role, name and contact")
            return None
        self.known_keys(raw, _HELPER_KEYS, where)
        when = self.condition(raw.get("when"), where)
        role = raw.get("role")
        if when is None or not isinstance(role, str):
            self.problem(where, "helper needs 'when' (a condition) and 'role' (a question id)")
            return None
        name = raw.get("name")
        contact = raw.get("contact") or []
        if not isinstance(contact, list) or not all(isinstance(c, str) for c in contact):
            self.problem(where, "helper 'contact' must be a list of question ids")
            contact = []
        consent_by: list[ConsentBy] = []
        for i, item in enumerate(raw.get("consent_by") or []):
            at = f"helper.consent_by[{i + 1}]"
            if not isinstance(item, dict):
                self.problem(at, "needs 'given_by' and 'when'")
                continue
            self.known_keys(item, _CONSENT_BY_KEYS, at)
            given_by = item.get("given_by")
            cond = self.condition(item.get("when"), at)
            if given_by not in CONSENT_GROUNDS or cond is None:
                grounds = ", ".join(CONSENT_GROUNDS)
                self.problem(at, f"needs 'when' and 'given_by' (one of: {grounds})")
                continue
            consent_by.append(ConsentBy(str(given_by), cond))
        return HelperMode(
            when,
            role,
            name if isinstance(name, str) else None,
            tuple(contact),
            tuple(consent_by),
        )


def parse_flow(data: Any, source: str) -> tuple[Flow | None, list[Problem]]:
    """Build a Flow from parsed YAML; returns the flow (None if unusable) and the problems."""
    reader = _Reader(source)
    if not isinstance(data, dict):
        reader.problem("-", "the file must hold a mapping with flow, version and questions")
        return None, reader.problems
    reader.known_keys(data, _FLOW_KEYS, "-")
    name = data.get("flow")
    version = data.get("version")
    if not isinstance(name, str):
        reader.problem("-", "missing 'flow' (the flow's name)")
    if not isinstance(version, str | int | float):
        reader.problem("-", "missing 'version'")
    title = reader.text(data.get("title"), "-", "title") or Text("", "")
    questions = [
        q
        for q in (reader.question(raw, i) for i, raw in enumerate(data.get("questions") or []))
        if q
    ]
    if not questions:
        reader.problem("-", "the flow has no questions")
    ids = [q.id for q in questions]
    for qid in {i for i in ids if ids.count(i) > 1}:
        reader.problem(qid, "question id is used twice")
    ends: list[End] = []
    for code, raw_text in (data.get("ends") or {}).items():
        text = reader.text(raw_text, f"ends:{code}", "end text")
        if text:
            # Besides nl and en, an end may hold `text_helper`: what a helper reads.
            helper_raw = raw_text.get("text_helper") if isinstance(raw_text, dict) else None
            helper_text = reader.text(helper_raw, f"ends:{code}", "text_helper", required=False)
            ends.append(End(str(code), text, helper_text))
    outcome = data.get("outcome") or {}
    if not isinstance(outcome, dict):
        reader.problem("outcome", "outcome must be a mapping with support, contact and name")
        outcome = {}
    reader.known_keys(outcome, _OUTCOME_KEYS, "outcome")
    flow = Flow(
        name=str(name),
        version=str(version),
        title=title,
        questions=tuple(questions),
        target_group_rules=reader.rules(data.get("target_groups"), "target_groups"),
        route_rules=reader.rules(data.get("routes"), "routes"),
        ends=tuple(ends),
        advice=reader.advice(data.get("advice")),
        support_questions=tuple(outcome.get("support") or ()),
        contact_questions=tuple(outcome.get("contact") or ()),
        name_question=outcome.get("name"),
        helper=reader.helper(data.get("helper")),
        source=source,
    )
    if not isinstance(name, str) or not questions:
        return None, reader.problems
    return flow, reader.problems


def read_flow_file(path: Path) -> tuple[Flow | None, list[Problem]]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return None, [Problem(str(path), "-", f"cannot read the file: {exc}")]
    return parse_flow(data, str(path))


def shipped_flow_path(name: str) -> Path:
    return Path(str(resources.files("flows") / "data" / f"{name}.yaml"))


@functools.cache
def load_flow(name: str) -> Flow:
    """Load one of the shipped flows; raises FlowError if the file has structural problems.

    Read once per process (a Flow is frozen, so every caller may share it): the bot reads it at
    start-up, and a change to the file takes a restart, as any setting does. `read_flow_file`
    reads a file afresh, for `python -m flows check` and for flows that are not shipped."""
    flow, problems = read_flow_file(shipped_flow_path(name))
    if flow is None or problems:
        raise FlowError(problems)
    return flow


def load_shipped_flows() -> dict[str, Flow]:
    return {name: load_flow(name) for name in SHIPPED_FLOWS}

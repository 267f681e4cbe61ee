"""The outcome of an intake: stated target-group codes and suggested routes, each with reasons.

The outcome never says that somebody qualifies: it records what the candidate stated, and the
coordinator checks the register status with UWV or the gemeente (docs/domain.md sections 2 and 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows.conditions import holds
from flows.model import AnswerValue, Flow, Rule, Text


@dataclass(frozen=True, slots=True)
class Finding:
    """One code with the rules that fired for it and their reasons, nl and en."""

    code: str
    rules: tuple[str, ...]
    reasons: tuple[Text, ...]
    forms: tuple[str, ...] = ()
    # Notes for the coordinators only (never shown to the person), one per rule that has one.
    notes: tuple[Text, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rules": list(self.rules),
            "reasons": [{"nl": r.nl, "en": r.en} for r in self.reasons],
            "forms": list(self.forms),
            "notes": [{"nl": n.nl, "en": n.en} for n in self.notes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            code=data["code"],
            rules=tuple(data["rules"]),
            reasons=tuple(Text(r["nl"], r["en"]) for r in data["reasons"]),
            forms=tuple(data.get("forms", [])),
            notes=tuple(Text(n["nl"], n["en"]) for n in data.get("notes", [])),
        )


@dataclass(frozen=True, slots=True)
class NextStep:
    """An advice of the flow that applies: what the person can do now."""

    id: str
    text: Text

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": {"nl": self.text.nl, "en": self.text.en}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NextStep:
        return cls(id=data["id"], text=Text(data["text"]["nl"], data["text"]["en"]))


@dataclass(frozen=True, slots=True)
class Outcome:
    flow: str
    version: str
    # What the candidate stated about the register; the coordinator verifies it.
    target_groups: tuple[Finding, ...]
    routes: tuple[Finding, ...]
    support: dict[str, AnswerValue] = field(default_factory=dict)
    contact: dict[str, AnswerValue] = field(default_factory=dict)
    advice: tuple[NextStep, ...] = ()
    # Always True: membership is decided by UWV (or the gemeente for the Praktijkroute).
    needs_verification: bool = True

    @property
    def target_group_codes(self) -> list[str]:
        return [f.code for f in self.target_groups]

    @property
    def route_codes(self) -> list[str]:
        return [f.code for f in self.routes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "version": self.version,
            "target_groups": [f.to_dict() for f in self.target_groups],
            "routes": [f.to_dict() for f in self.routes],
            "support": dict(self.support),
            "contact": dict(self.contact),
            "advice": [a.to_dict() for a in self.advice],
            "needs_verification": self.needs_verification,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        return cls(
            flow=data["flow"],
            version=data["version"],
            target_groups=tuple(Finding.from_dict(f) for f in data["target_groups"]),
            routes=tuple(Finding.from_dict(f) for f in data["routes"]),
            support=dict(data.get("support", {})),
            contact=dict(data.get("contact", {})),
            advice=tuple(NextStep.from_dict(a) for a in data.get("advice", [])),
            needs_verification=bool(data.get("needs_verification", True)),
        )


def _findings(
    rules: tuple[Rule, ...], answers: dict[str, AnswerValue], helper: bool = False
) -> tuple[Finding, ...]:
    """Group the rules that fire by code, keeping the order in which codes first fire; the
    reasons told to a helper when `helper`."""
    fired: dict[str, list[Rule]] = {}
    for rule in rules:
        if holds(rule.when, answers):
            fired.setdefault(rule.code, []).append(rule)
    return tuple(
        Finding(
            code=code,
            rules=tuple(r.id for r in group),
            reasons=tuple(r.reason_for(helper) for r in group),
            forms=tuple(dict.fromkeys(f for r in group for f in r.forms)),
            notes=tuple(r.note for r in group if r.note is not None),
        )
        for code, group in fired.items()
    )


def compute_outcome(flow: Flow, answers: dict[str, AnswerValue], helper: bool = False) -> Outcome:
    """Apply the flow's rules to the answers that apply; `helper`: filled in for someone else,
    so the advice is told about "de persoon"."""
    return Outcome(
        flow=flow.name,
        version=flow.version,
        target_groups=_findings(flow.target_group_rules, answers, helper),
        routes=_findings(flow.route_rules, answers, helper),
        support={q: answers[q] for q in flow.support_questions if q in answers},
        contact={q: answers[q] for q in flow.contact_questions if q in answers},
        advice=tuple(
            NextStep(a.id, a.text_for(helper)) for a in flow.advice if holds(a.when, answers)
        ),
    )

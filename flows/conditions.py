"""Evaluate conditions on answers, in two and three values.

Two values decide which questions apply now. Three values (True, False, unknown) estimate how many
questions are still to come, where later answers are not known yet.
"""

from __future__ import annotations

from collections.abc import Mapping

from flows.model import AllOf, AnswerValue, AnyOf, Condition, Leaf, Not


def _leaf(leaf: Leaf, value: AnswerValue) -> bool:
    match leaf.op:
        case "answered":
            return value != "" and value != []
        case "is" | "in":
            return isinstance(value, str) and value in leaf.values
        case "has" | "has_any":
            return isinstance(value, list) and any(v in value for v in leaf.values)
        case "gte":
            return isinstance(value, int) and leaf.number is not None and value >= leaf.number
        case "lte":
            return isinstance(value, int) and leaf.number is not None and value <= leaf.number
    return False


def holds(cond: Condition | None, answers: Mapping[str, AnswerValue]) -> bool:
    """Whether the condition holds; a test on an unanswered question is false."""
    if cond is None:
        return True
    if isinstance(cond, Leaf):
        return cond.question in answers and _leaf(cond, answers[cond.question])
    if isinstance(cond, AllOf):
        return all(holds(p, answers) for p in cond.parts)
    if isinstance(cond, AnyOf):
        return any(holds(p, answers) for p in cond.parts)
    return not holds(cond.part, answers)


def maybe(
    cond: Condition | None, answers: Mapping[str, AnswerValue], open_questions: frozenset[str]
) -> bool | None:
    """Three-valued: None when the result depends on a question still open."""
    if cond is None:
        return True
    if isinstance(cond, Leaf):
        if cond.question in answers:
            return _leaf(cond, answers[cond.question])
        return None if cond.question in open_questions else False
    if isinstance(cond, AllOf):
        results = [maybe(p, answers, open_questions) for p in cond.parts]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if isinstance(cond, AnyOf):
        results = [maybe(p, answers, open_questions) for p in cond.parts]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    assert isinstance(cond, Not)
    inner = maybe(cond.part, answers, open_questions)
    return None if inner is None else not inner

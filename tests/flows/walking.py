"""Walk a shipped flow with a table of answers, the way a person would tap and type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from flows.engine import Accepted, Engine, FlowState, Phase
from flows.loader import load_flow
from flows.model import AnswerValue

# One answer per question a person may be asked; a path only uses the questions that apply.
CANDIDATE_ANSWERS: dict[str, AnswerValue] = {
    "consent": "akkoord",
    "filled_by": "zelf",
    "helper_name": "Els",
    "helper_phone": "0687654321",
    "age": "18-26",
    "guardian": "ja",
    "candidate_agrees": "ja",
    "sensitive_consent": "ja",
    "register_known": "ja",
    "register_basis": ["wajong"],
    "guidance": "beetje",
    "support": ["werktijden"],
    "helpers": ["gemeente"],
    "work_kind": ["catering"],
    "work_other": "Werken met dieren",
    "work_setting": "maakt-niet-uit",
    "employer_pref": ["rijk"],
    "hours": 24,
    "days": ["ma", "di"],
    "postcode": "3511 AB",
    "travel": "ov",
    "contact_method": "telegram",
    "name": "Sam",
    "phone": "0612345678",
    "email": "sam@example.nl",
    "keep_longer": "nee",
}

EMPLOYER_ANSWERS: dict[str, AnswerValue] = {
    "consent": "akkoord",
    "org_kind": "rijk",
    "org_name": "Ministerie van Voorbeeldzaken",
    "offer": ["vacature"],
    "tasks": "Post rondbrengen en vergaderzalen klaarzetten",
    "hours": 20,
    "contract": "vast",
    "trial": "nee",
    "supervision": ["werkbegeleider"],
    "postcode": "2511",
    "contact_name": "J. de Vries",
    "contact_method": "e-mail",
    "contact_phone": "0701234567",
    "contact_email": "hr@example.nl",
    "keep_longer": "nee",
}

BASE_ANSWERS: dict[str, dict[str, AnswerValue]] = {
    "candidate": CANDIDATE_ANSWERS,
    "employer": EMPLOYER_ANSWERS,
}


@cache
def engine_for(name: str) -> Engine:
    return Engine(load_flow(name))


@dataclass(frozen=True)
class Walk:
    state: FlowState
    asked: list[str]
    # What the person read for each question asked, in Dutch (third person for a helper).
    texts: dict[str, str] = field(default_factory=dict)


def answers_for(name: str, overrides: Mapping[str, AnswerValue]) -> dict[str, AnswerValue]:
    return {**BASE_ANSWERS[name], **overrides}


def walk(
    name: str,
    overrides: Mapping[str, AnswerValue] | None = None,
    *,
    until: str | None = None,
    state: FlowState | None = None,
    helper: bool = False,
) -> Walk:
    """Answer what the engine asks from the table, until the summary, an end or `until`.

    `helper`: started as "Ik help iemand die werk zoekt" on the welcome.
    """
    engine = engine_for(name)
    answers = answers_for(name, overrides or {})
    current = state if state is not None else engine.start(helper=helper)
    asked: list[str] = []
    texts: dict[str, str] = {}
    while current.phase == Phase.ASKING:
        step = engine.step(current)
        assert step is not None
        qid = step.question.id
        if qid == until:
            break
        assert qid in answers, f"no answer in the table for {qid!r}"
        result = engine.answer(current, answers[qid])
        assert isinstance(result, Accepted), f"{qid}: {answers[qid]!r} was refused: {result}"
        asked.append(qid)
        texts[qid] = step.text.nl
        current = result.state
    return Walk(current, asked, texts)

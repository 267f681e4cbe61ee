"""Hand a confirmed intake to the coordinators exactly once, and a contact request (/mens).

`submit` and `request_contact` are safe to repeat: the intake is added under an id of the
submit (or of the request), and a run that finds one stored with that id returns it instead of
adding a second; the card is queued unless it is queued or placed already (`Handoff.queue_card`).
The bot runs `submit` right after the commit that marked the conversation as submitting, and
again after a restart that cut it off (bot/submit.py); what the person is told is the adapter's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flows.engine import Engine, FlowState
from flows.model import ConsentScope, Language
from flows.outcome import Outcome
from flows.ports import Clock, Handoff, IntakeRepository
from flows.records import (
    ConsentRecord,
    FilledInBy,
    HistoryAction,
    HistoryEntry,
    Intake,
    IntakeKind,
    utc_iso,
)


@dataclass(frozen=True, slots=True)
class Draft:
    """The intake as it stands in a conversation: what the use cases need of the chat."""

    flow: str  # the flow's name: "candidate" or "employer" (IntakeKind)
    user_id: int
    chat_id: int
    lang: Language
    # The role the person chose at the start ("" when the flow asks none).
    role: str
    state: FlowState
    # The consents as given in the conversation (ConsentRecord fields, without `given_by`).
    consents: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Submitted:
    intake: Intake
    # False when a run before this one had stored it already (count it once).
    added: bool


def answers_so_far(engine: Engine, draft: Draft) -> dict[str, Any]:
    """The answers on the person's path (an answer to a question skipped later is left out)."""
    state = draft.state
    return {
        line.question.id: state.answers[line.question.id]
        for line in engine.summary(state, draft.lang)
    }


async def submit(
    draft: Draft,
    submit_id: str,
    *,
    engine: Engine,
    intakes: IntakeRepository,
    handoff: Handoff,
    clock: Clock,
    outcome: Outcome | None = None,
) -> Submitted:
    """Store the finished intake with its outcome (once) and queue its card (once)."""

    def finished() -> Intake:
        intake = new_intake(
            engine, draft, answers_so_far(engine, draft), submit_id, HistoryAction.SUBMITTED,
            clock.now(),
        )  # fmt: skip
        found = outcome if outcome is not None else engine.outcome(draft.state)
        intake.outcome = found.to_dict()
        intake.target_groups = found.target_group_codes
        intake.routes = found.route_codes
        return intake

    return await _store_once(draft.user_id, submit_id, finished, intakes, handoff)


async def request_contact(
    draft: Draft,
    request_id: str,
    *,
    engine: Engine,
    intakes: IntakeRepository,
    handoff: Handoff,
    clock: Clock,
) -> Submitted:
    """/mens during an intake, then "yes": what was answered so far goes to the coordinators
    as a contact request, with a card they claim like any other and answer through the relay.

    Only answers already given are sent, so only within the consent given so far. The
    person's intake goes on."""

    def contact_request() -> Intake:
        answers = answers_so_far(engine, draft)
        intake = new_intake(
            engine, draft, answers, request_id, HistoryAction.CONTACT_REQUEST, clock.now()
        )
        intake.request = "contact"
        return intake

    return await _store_once(draft.user_id, request_id, contact_request, intakes, handoff)


async def _store_once(
    user_id: int,
    submit_id: str,
    make: Callable[[], Intake],
    intakes: IntakeRepository,
    handoff: Handoff,
) -> Submitted:
    """Add the intake `make` builds unless this submit id stored one already (a run cut off
    after the add); queue its card unless it is placed already."""
    stored = await find_stored(intakes, user_id, submit_id)
    added = stored is None
    if stored is None:
        stored = await intakes.add(make())
    await _queue_card(handoff, stored)
    return Submitted(stored, added)


async def find_stored(intakes: IntakeRepository, user_id: int, submit_id: str) -> Intake | None:
    """The intake this submit id already stored (a run cut off after the add), if any."""
    mine = await intakes.for_user(user_id)
    return next((i for i in mine if i.submit_id == submit_id), None)


async def _queue_card(handoff: Handoff, intake: Intake) -> None:
    if intake.card_message_id is None:
        await handoff.queue_card(intake)


def new_intake(
    engine: Engine,
    draft: Draft,
    answers: dict[str, Any],
    submit_id: str,
    action: HistoryAction,
    now: datetime,
) -> Intake:
    """An intake of the draft, not stored yet, with no outcome."""
    name_q = engine.flow.name_question
    stamp = utc_iso(now)
    intake = Intake(
        number="",
        kind=IntakeKind(draft.flow),
        created_at=stamp,
        updated_at=stamp,
        user_id=draft.user_id,
        chat_id=draft.chat_id,
        language=draft.lang,
        flow_version=engine.flow.version,
        answers=answers,
        outcome={},
        name=str(answers.get(name_q, "")) if name_q else "",
        consents=consents_given(engine, draft.state, draft.consents),
        submit_id=submit_id,
        filled_in_by=filled_in_by(engine, draft.state, answers),
    )
    intake.history.append(HistoryEntry(stamp, "person", action, draft.role))
    return intake


def filled_in_by(engine: Engine, state: FlowState, answers: dict[str, Any]) -> FilledInBy | None:
    """Who filled in the intake for the candidate (the helper's role, name and phone), or None
    when the candidate did: the flow's `helper` part says which answers tell."""
    mode = engine.flow.helper
    if mode is None or not engine.for_someone_else(state):
        return None
    phone = next((str(answers[q]) for q in mode.contact if answers.get(q)), "")
    return FilledInBy(
        role=str(answers.get(mode.role, "")),
        name=str(answers.get(mode.name, "")) if mode.name else "",
        phone=phone,
    )


def consents_given(
    engine: Engine, state: FlowState, consents: Sequence[Mapping[str, Any]]
) -> list[ConsentRecord]:
    """The consents as given, each saying who gave it, judged on the final answers (an answer
    changed from the summary can make a helper of the person who gave it, or the reverse)."""
    records = []
    for c in consents:
        scope = ConsentScope(c["scope"])
        records.append(ConsentRecord(**{**c, "given_by": engine.consent_given_by(state, scope)}))
    return records

"""The person's data rights on what is stored: erase everything, withdraw the sensitive consent.

What erasure leaves behind is a tombstone: the intake's number, kind, creation date and status
`ingetrokken`, with a history of anonymous lines ending in "gewist op <date>". Name, user and
chat ids, answers, outcome, notes and consents are gone; the audit trail keeps that an intake
existed and that it was erased, which is what a coordinator or an auditor needs and nothing
more. `erase` is the one erasure, for the bot (/verwijder) and for storage tools and tests
(`storage.Stores.erase_user`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from flows.engine import Engine, FlowState, Phase
from flows.model import AnswerValue, ConsentScope, Flow, Question
from flows.outcome import compute_outcome
from flows.ports import Clock, Conversations, Handoff, IntakeLocks, IntakeRepository, Outbox
from flows.records import (
    ConsentRecord,
    HistoryAction,
    HistoryEntry,
    Intake,
    MessageRef,
    Status,
    sent_personal_data,
    utc_iso,
)

log = logging.getLogger(__name__)

# Who a history line is by when the person did it.
PERSON = "person"


@dataclass(frozen=True, slots=True)
class Erasure:
    """What `erase` removed, for the confirmation to the person."""

    numbers: list[str]
    deliveries: int
    conversations: int = 0
    # Messages the bot sent elsewhere with this person's data, for the adapter to delete.
    group_messages: list[MessageRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """What `withdraw` removed from the stored intakes."""

    numbers: list[str]
    answers: int


# -- erasure -----------------------------------------------------------------------------------


def group_messages(intake: Intake) -> list[MessageRef]:
    """Messages the audit trail says the bot sent elsewhere with this person's data."""
    found: list[MessageRef] = []
    for entry in intake.history:
        if not sent_personal_data(entry.action):
            continue
        for item in entry.messages:
            if item not in found:
                found.append(item)
    return found


def _empty_outcome(intake: Intake) -> dict[str, Any]:
    old = intake.outcome or {}
    return {
        "flow": str(old.get("flow", intake.kind)),
        "version": str(old.get("version", intake.flow_version)),
        "target_groups": [],
        "routes": [],
        "support": {},
        "contact": {},
        "needs_verification": True,
    }


def tombstone(intake: Intake, at: str) -> Intake:
    """The intake with every personal field removed; what stays says it existed and was erased."""
    # Who did what, when, stays; the details (free text, names, message ids) go.
    history = [
        HistoryEntry(
            at=h.at, by=h.by, action=h.action, actor_id=h.actor_id, actor_name=h.actor_name
        )
        for h in intake.history
    ]
    history.append(
        HistoryEntry(at=at, by=PERSON, action=HistoryAction.ERASED, detail=f"gewist op {at[:10]}")
    )
    return Intake(
        number=intake.number,
        kind=intake.kind,
        created_at=intake.created_at,
        user_id=0,
        chat_id=0,
        language=intake.language,
        flow_version=intake.flow_version,
        answers={},
        # Empty, but in the shape of an outcome, so code that reads it needs no special case.
        outcome=_empty_outcome(intake),
        name="",
        status=Status.INGETROKKEN,
        updated_at=at,
        history=history,
        card_chat_id=intake.card_chat_id,
        card_message_id=intake.card_message_id,
        schema=intake.schema,
    )


async def erase(
    user_id: int,
    *,
    intakes: IntakeRepository,
    outbox: Outbox,
    conversations: Conversations,
    clock: Clock,
    locks: IntakeLocks | None = None,
    cards: Handoff | None = None,
) -> Erasure:
    """Erase one person (AVG art. 17): every intake to a tombstone, every delivery about them
    or their intakes, every conversation; the cards shown anew (`cards`, when there is a
    group). Returns what went, and the messages elsewhere the caller deletes.

    `locks` is the lock a coordinator's claim or status change takes: a change at the same
    moment cannot write the erased intake back over its tombstone.
    """
    at = utc_iso(clock.now())
    stones: list[Intake] = []
    messages: list[MessageRef] = []
    for number in [intake.number for intake in await intakes.for_user(user_id)]:
        async with _locked(locks, number):
            intake = await intakes.get(number)
            if intake is None or intake.user_id != user_id:
                continue
            messages.extend(m for m in group_messages(intake) if m not in messages)
            stone = tombstone(intake, at)
            await intakes.erase(stone)
            stones.append(stone)
    deliveries = await outbox.delete_user(user_id)
    if stones:
        # Deliveries about these intakes that carry no user id (a card queued by someone else).
        deliveries += await outbox.delete_intakes([s.number for s in stones])
    removed = await conversations.delete_user(user_id)
    if cards is not None:
        for stone in stones:
            await _card_changed(cards, stone)
    log.info("erased %d intakes, %d deliveries, %d conversations", len(stones), deliveries, removed)
    return Erasure([s.number for s in stones], deliveries, removed, messages)


@contextlib.asynccontextmanager
async def _locked(locks: IntakeLocks | None, number: str) -> AsyncIterator[None]:
    if locks is None:
        yield
        return
    async with locks.lock(number):
        yield


async def _card_changed(cards: Handoff, intake: Intake) -> None:
    try:
        await cards.card_changed(intake)
    except Exception as exc:
        # The erasure itself is done; a card must not undo it. Only the type is logged: a
        # message could quote the data that was just erased.
        log.error("intake %s: the card update failed (%s)", intake.number, type(exc).__name__)


# -- withdrawing the sensitive consent ---------------------------------------------------------


def sensitive_consent_question(flow: Flow) -> Question | None:
    return next((q for q in flow.questions if q.consent == ConsentScope.SENSITIVE), None)


def _skip_code(question: Question) -> str:
    return next(o.code for o in question.options if o.code != question.grants)


def sensitive_given(consents: Sequence[ConsentRecord]) -> bool:
    """Whether the latest sensitive consent record is a given one."""
    latest = [c for c in consents if c.scope == ConsentScope.SENSITIVE]
    return bool(latest) and latest[-1].given


def _without_sensitive(engine: Engine, answers: dict[str, AnswerValue]) -> dict[str, AnswerValue]:
    """The answers with the sensitive ones gone and the sensitive consent set to "skip"."""
    flow = engine.flow
    kept = {
        k: v
        for k, v in answers.items()
        if not (flow.has_question(k) and flow.question(k).sensitive)
    }
    consent_q = sensitive_consent_question(flow)
    if consent_q is not None and consent_q.id in kept:
        kept[consent_q.id] = _skip_code(consent_q)
    # What no longer applies goes too, as when the person skips in the intake itself.
    changed = True
    while changed:
        changed = False
        for q in flow.questions:
            if q.id in kept and not engine.applies(q, kept):
                del kept[q.id]
                changed = True
    return kept


def _findings_kept(old: Any, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recomputed findings, limited to the rules that had fired before (nothing new appears)."""
    before: dict[str, set[str]] = {}
    for finding in old if isinstance(old, list) else []:
        before.setdefault(str(finding.get("code")), set()).update(finding.get("rules", []))
    kept: list[dict[str, Any]] = []
    for finding in new:
        fired = before.get(finding["code"], set())
        pairs = [
            (r, reason)
            for r, reason in zip(finding["rules"], finding["reasons"], strict=True)
            if r in fired
        ]
        if pairs:
            kept.append(
                {**finding, "rules": [r for r, _ in pairs], "reasons": [x for _, x in pairs]}
            )
    return kept


def without_sensitive(intake: Intake, engine: Engine, at: str) -> tuple[Intake, int] | None:
    """The intake with its sensitive answers and what was derived from them erased, and how many
    answers went; None when there is nothing to withdraw."""
    answers = _without_sensitive(engine, dict(intake.answers))
    dropped = sum(1 for k in intake.answers if k not in answers)
    consent_q = sensitive_consent_question(engine.flow)
    given = sensitive_given(intake.consents)
    if not dropped and not given:
        return None
    # A helper's intake keeps its advice about "de persoon" (flows.model.Advice.text_helper).
    outcome = compute_outcome(
        engine.flow, answers, helper=intake.filled_in_by is not None
    ).to_dict()
    old = intake.outcome or {}
    outcome["flow"] = old.get("flow", outcome["flow"])
    outcome["version"] = old.get("version", outcome["version"])
    outcome["target_groups"] = _findings_kept(old.get("target_groups"), outcome["target_groups"])
    outcome["routes"] = _findings_kept(old.get("routes"), outcome["routes"])
    consents = list(intake.consents)
    if given:
        last = [c for c in consents if c.scope == ConsentScope.SENSITIVE][-1]
        consents.append(
            ConsentRecord(
                str(ConsentScope.SENSITIVE),
                last.version,
                last.text_hash,
                at,
                given=False,
                given_by=last.given_by,
            )
        )
    elif consent_q is not None:
        consents.append(ConsentRecord(str(ConsentScope.SENSITIVE), "", "", at, given=False))
    changed = Intake.from_dict(intake.to_dict())
    changed.answers = answers
    changed.outcome = outcome
    changed.target_groups = [f["code"] for f in outcome["target_groups"]]
    changed.routes = [f["code"] for f in outcome["routes"]]
    changed.consents = consents
    changed.updated_at = at
    changed.history.append(
        HistoryEntry(
            at=at,
            by=PERSON,
            action=HistoryAction.WITHDRAWN,
            detail=f"gevoelige antwoorden gewist op {at[:10]}",
        )
    )
    return changed, dropped


async def withdrawable(
    intakes: IntakeRepository, engines: dict[str, Engine], user_id: int
) -> list[Intake]:
    """Stored intakes of this person that still hold sensitive answers or a given consent."""
    result = []
    for intake in await intakes.for_user(user_id):
        engine = engines.get(str(intake.kind))
        if engine is not None and without_sensitive(intake, engine, "") is not None:
            result.append(intake)
    return result


async def withdraw(
    user_id: int,
    *,
    intakes: IntakeRepository,
    engines: dict[str, Engine],
    clock: Clock,
    locks: IntakeLocks | None = None,
    cards: Handoff | None = None,
) -> Withdrawal:
    """Withdraw the sensitive consent on every stored intake of this person: the sensitive
    answers and what was derived from them go, the consent is recorded as withdrawn."""
    at = utc_iso(clock.now())
    numbers: list[str] = []
    answers = 0
    for number in [intake.number for intake in await intakes.for_user(user_id)]:
        async with _locked(locks, number):
            intake = await intakes.get(number)
            if intake is None:
                continue
            engine = engines.get(str(intake.kind))
            changed = None if engine is None else without_sensitive(intake, engine, at)
            if changed is None:
                continue
            new, dropped = changed
            await intakes.replace(new)
        if cards is not None:
            await _card_changed(cards, new)
        numbers.append(new.number)
        answers += dropped
    return Withdrawal(numbers, answers)


def withdraw_in_conversation(engine: Engine, state: FlowState) -> FlowState | None:
    """An intake still being filled in, with the sensitive answers dropped and the consent set to
    "skip"; it goes on at the first open question (or the summary). None if nothing changes."""
    consent_q = sensitive_consent_question(engine.flow)
    if consent_q is None or state.answers.get(consent_q.id) != consent_q.grants:
        return None
    new = state.copy()
    new.answers = _without_sensitive(engine, dict(state.answers))
    if new.phase == Phase.ENDED:
        return new
    current = engine.flow.question(new.current) if new.current else None
    if (
        new.editing is not None
        or current is None
        or current.sensitive
        or not engine.applies(current, new.answers)
    ):
        new.editing, new.reasked = None, []
        nxt = next(
            (
                q.id
                for q in engine.flow.questions
                if q.id not in new.answers and engine.applies(q, new.answers)
            ),
            None,
        )
        new.phase, new.current = (Phase.ASKING, nxt) if nxt is not None else (Phase.SUMMARY, None)
    return new

"""Submit a confirmed intake exactly once: store it, queue its card, tell the person its number.

"Klopt, versturen" only marks the conversation as submitting, with a new submit id, in the same
commit as the rest of that update (bot/handlers/intake.py `finish`). Right after that commit, and
at start-up for a submit that a restart cut off, `Submitter` completes it under the chat's event
lock:

1. the intake is added, unless one with this submit id is already stored (a run cut off after
   the add): the same number comes back;
2. its card is queued, unless it is already queued or placed;
3. the outcome (with the number) and the offer to delete the chat are queued, the intake is
   cleared from the conversation, and that is committed in one write.

Each step is safe to repeat, so however often this runs there is one intake and one card, and
the person is always told the number: it is a queued call of the commit in step 3.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.storage.base import StorageKey

from bot.chat import Chat, ChatOutbox, load_record
from bot.chat_state import ScreenKind
from bot.handoff import card_delivery_id, queue_new_intake
from bot.screens import outcome_extras, privacy_context
from bot.sender import backoff
from bot.services import Services
from flows.engine import Engine, FlowState
from flows.model import ConsentScope
from flows.records import (
    ConsentRecord,
    FilledInBy,
    HistoryAction,
    HistoryEntry,
    Intake,
    IntakeKind,
    utc_iso,
)

log = logging.getLogger(__name__)


class Submitter:
    def __init__(self, services: Services, outbox: ChatOutbox) -> None:
        self.services = services
        self.outbox = outbox

    async def __call__(self, key: StorageKey) -> None:
        """Complete the pending submit of one conversation; retried until it is done."""
        attempt = 0
        while True:
            try:
                await self._complete(key)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt += 1
                delay = backoff(attempt)
                log.exception("submitting an intake failed; trying again in %.0f s", delay)
                await asyncio.sleep(delay)

    async def _complete(self, key: StorageKey) -> None:
        outbox = self.outbox
        services = self.services
        async with outbox.isolation.lock(key):
            raw_state = await outbox.storage.get_state(key)
            raw = await outbox.storage.get_data(key)
            if not raw.get("submitting"):
                return  # done already, or erased
            chat = Chat(services, key, load_record(raw, None, services))
            await submit(chat)
            await outbox.commit(chat, raw, raw_state)
        for count in chat.counts:
            await services.funnel.count(count)


async def submit(chat: Chat) -> Intake:
    """Steps 1-3 above on the conversation in `chat` (the caller commits)."""
    services = chat.services
    record = chat.record
    assert record.submitting is not None
    submit_id = str(record.submitting["id"])
    if record.flow is None or record.flow_state is None:
        # Nothing to submit (cannot happen through the handlers): clear the mark.
        record.submitting = None
        raise RuntimeError("a submit without an intake")
    flow = record.flow
    engine = services.engines[flow]
    outcome = engine.outcome(record.flow_state)
    answers = _answers_so_far(chat)
    stored = await _stored(chat, submit_id)
    if stored is None:
        intake = _new_intake(chat, answers, submit_id, action=HistoryAction.SUBMITTED)
        intake.outcome = outcome.to_dict()
        intake.target_groups = outcome.target_group_codes
        intake.routes = outcome.route_codes
        stored = await services.intakes.add(intake)
        chat.count(f"{flow}:finished")
        log.info("intake %s submitted (%s)", stored.number, stored.kind)
    await _queue_card(services, stored)
    chat.say(
        chat.render(
            "outcome",
            number=stored.number,
            target_groups=[f.to_dict() for f in outcome.target_groups],
            routes=[f.to_dict() for f in outcome.routes],
            contact=_contact_text(chat, answers),
            sensitive_skipped=_sensitive_skipped(chat),
            helper=engine.for_someone_else(record.flow_state),
            **outcome_extras(record, outcome),
            **privacy_context(services, flow),
        )
    )
    record.reset_intake()
    record.submitting = None
    record.last_intake = stored.number
    after = chat.render("after_submit", flow=flow)
    chat.say(after, services.keyboards.after(record.lang), screen=ScreenKind.AFTER)
    return stored


async def request_contact(chat: Chat, request_id: str) -> Intake:
    """/mens during an intake, then "yes": what was answered so far goes to the coordinators
    as a contact request, with a card they claim like any other and answer through the relay.

    Only answers already given are sent, so only within the consent given so far. `request_id`
    names this request (the update that made it): a replay after a restart finds the one stored
    and queues no second card. The person's intake goes on; the caller tells them the number.
    """
    services = chat.services
    stored = await _stored(chat, request_id)
    if stored is None:
        intake = _new_intake(
            chat, _answers_so_far(chat), request_id, action=HistoryAction.CONTACT_REQUEST
        )
        intake.request = "contact"
        stored = await services.intakes.add(intake)
        chat.count(f"{chat.record.flow}:contact-request")
        log.info("contact request %s stored (%s)", stored.number, stored.kind)
    await _queue_card(services, stored)
    return stored


def _answers_so_far(chat: Chat) -> dict[str, Any]:
    """The answers on the person's path (an answer to a question skipped later is left out)."""
    record = chat.record
    assert record.flow is not None and record.flow_state is not None
    engine = chat.services.engines[record.flow]
    state = record.flow_state
    return {
        line.question.id: state.answers[line.question.id]
        for line in engine.summary(state, record.lang)
    }


async def _stored(chat: Chat, submit_id: str) -> Intake | None:
    """The intake this submit id already stored (a run cut off after the add), if any."""
    mine = await chat.services.intakes.for_user(chat.user_id)
    return next((i for i in mine if i.submit_id == submit_id), None)


def _new_intake(
    chat: Chat, answers: dict[str, Any], submit_id: str, *, action: HistoryAction
) -> Intake:
    """An intake of the conversation in `chat`, not stored yet, with no outcome."""
    services = chat.services
    record = chat.record
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    name_q = engine.flow.name_question
    now = utc_iso(services.clock.now())
    intake = Intake(
        number="",
        kind=IntakeKind(record.flow),
        created_at=now,
        updated_at=now,
        user_id=chat.user_id,
        chat_id=chat.id,
        language=record.lang,
        flow_version=engine.flow.version,
        answers=answers,
        outcome={},
        name=str(answers.get(name_q, "")) if name_q else "",
        consents=_consents(engine, record.flow_state, record.consents),
        submit_id=submit_id,
        filled_in_by=filled_in_by(engine, record.flow_state, answers),
    )
    intake.history.append(HistoryEntry(now, "person", action, record.role or ""))
    return intake


async def _queue_card(services: Services, intake: Intake) -> None:
    """Queue the card, unless it is placed or queued already."""
    if intake.card_message_id is None and not await _card_queued(services, intake):
        await queue_new_intake(services, intake)


async def _card_queued(services: Services, intake: Intake) -> bool:
    # One lookup by the card's delivery id, not a read of every waiting delivery per submit.
    return await services.outbox.get(card_delivery_id(intake)) is not None


def _contact_text(chat: Chat, answers: Mapping[str, object]) -> str:
    record = chat.record
    assert record.flow is not None
    engine = chat.services.engines[record.flow]
    for qid in engine.flow.contact_questions:
        if qid in answers and engine.flow.question(qid).kind.has_options:
            value = answers[qid]
            if isinstance(value, str):
                return engine.display(engine.flow.question(qid), value, record.lang)
    return ""


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


def _consents(
    engine: Engine, state: FlowState, consents: list[dict[str, Any]]
) -> list[ConsentRecord]:
    """The consents as given, each saying who gave it, judged on the final answers (an answer
    changed from the summary can make a helper of the person who gave it, or the reverse)."""
    records = []
    for c in consents:
        scope = ConsentScope(c["scope"])
        records.append(ConsentRecord(**{**c, "given_by": engine.consent_given_by(state, scope)}))
    return records


def _sensitive_skipped(chat: Chat) -> bool:
    record = chat.record
    assert record.flow is not None and record.flow_state is not None
    for q in chat.services.engines[record.flow].flow.questions:
        if q.consent == "sensitive":
            return record.flow_state.answers.get(q.id) != q.grants
    return False


__all__ = ["Submitter", "request_contact", "submit"]

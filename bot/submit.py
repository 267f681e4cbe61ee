"""Submit a confirmed intake exactly once: store it, queue its card, tell the person its number.

"Klopt, versturen" only marks the conversation as submitting, with a new submit id, in the same
commit as the rest of that update (bot/handlers/intake.py `finish`). Right after that commit, and
at start-up for a submit that a restart cut off, `Submitter` completes it under the chat's event
lock:

1. the intake is added, unless one with this submit id is already stored (a run cut off after
   the add): the same number comes back;
2. its card is queued, unless it is already queued or placed (1 and 2 are the use case
   `flows.usecases.submit`; this module is its adapter);
3. the outcome (with the number) and the offer to delete the chat are queued, the intake is
   cleared from the conversation, and that is committed in one write.

Each step is safe to repeat, so however often this runs there is one intake and one card, and
the person is always told the number: it is a queued call of the commit in step 3.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiogram.fsm.storage.base import StorageKey

from bot.chat import Chat, ChatOutbox, load_record
from bot.chat_state import ScreenKind
from bot.coordinator.notices import OutboxHandoff
from bot.screens import outcome_extras, privacy_context
from bot.sender import backoff
from bot.services import Services
from flows import usecases
from flows.records import (
    Intake,
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
            raw_state, raw = await outbox.load(key)
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
    draft = draft_of(chat)
    result = await usecases.submit(
        draft,
        submit_id,
        engine=engine,
        intakes=services.intakes,
        handoff=OutboxHandoff(services),
        clock=services.clock,
        outcome=outcome,
    )
    stored = result.intake
    if result.added:
        chat.count(f"{flow}:finished")
        log.info("intake %s submitted (%s)", stored.number, stored.kind)
    chat.say(
        chat.render(
            "outcome",
            number=stored.number,
            target_groups=[f.to_dict() for f in outcome.target_groups],
            routes=[f.to_dict() for f in outcome.routes],
            contact=_contact_text(chat, stored.answers),
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
    """/mens during an intake, then "yes": `flows.usecases.request_contact`. `request_id`
    names this request (the update that made it): a replay after a restart finds the one
    stored and queues no second card. The caller tells the person the number."""
    services = chat.services
    assert chat.record.flow is not None
    result = await usecases.request_contact(
        draft_of(chat),
        request_id,
        engine=services.engines[chat.record.flow],
        intakes=services.intakes,
        handoff=OutboxHandoff(services),
        clock=services.clock,
    )
    if result.added:
        chat.count(f"{chat.record.flow}:contact-request")
        log.info("contact request %s stored (%s)", result.intake.number, result.intake.kind)
    return result.intake


def draft_of(chat: Chat) -> usecases.Draft:
    """The conversation's intake as the use cases take it."""
    record = chat.record
    assert record.flow is not None and record.flow_state is not None
    return usecases.Draft(
        flow=record.flow,
        user_id=chat.user_id,
        chat_id=chat.id,
        lang=record.lang,
        role=record.role or "",
        state=record.flow_state,
        consents=record.consents,
    )


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


def _sensitive_skipped(chat: Chat) -> bool:
    record = chat.record
    assert record.flow is not None and record.flow_state is not None
    for q in chat.services.engines[record.flow].flow.questions:
        if q.consent == "sensitive":
            return record.flow_state.answers.get(q.id) != q.grants
    return False


__all__ = ["Submitter", "request_contact", "submit"]

"""Set-up for the coordinator tests: the shared intake harness, a group, coordinators, the
outbox as a source for the harness's sender, and helpers that press buttons on and reply to
specific bot messages. Every helper that feeds an update waits until the sender has sent what
the update queued (`harness.settle()`); the outbox is delivered only by `deliver()`.

COORD and COORD2 are the coordinators (COORDINATOR_IDS). MEMBER is a plain member of the
coordinators' group who is not on that list: a coordinator only with COORDINATOR_ACCESS=group.
Everybody else is outside the group (the fake Bot API answers getChatMember with "left").
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from bot.delivery import DeliveryOutbox
from bot.handoff import queue_new_intake
from bot.sender import Limits, Sender
from flows.model import AnswerValue
from flows.outcome import compute_outcome
from flows.records import Intake, IntakeKind, utc_iso
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    COORDINATOR_GROUP,
    EMPLOYER_ANSWERS,
    FakeClock,
    Harness,
    build_harness,
)
from tests.support.bot_api_state import BotApiState, JsonDict, visible_text
from tests.support.session import RecordedRequest, RecordingSession
from tests.support.updates import message_json, update_of, user_json

GROUP = COORDINATOR_GROUP
COORD = 501
COORD_NAME = "Cora"
COORD2 = 503
MEMBER = 502
STRANGER = 666
PERSON = 1001

_callback_ids = itertools.count(1)


class TimedSession(RecordingSession):
    """Also notes the event loop's time of every request (fake under looptime), to check
    retries and the pace."""

    def __init__(self, state: BotApiState) -> None:
        super().__init__(state)
        self.times: list[float] = []

    async def make_request(self, bot: Any, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109
        self.times.append(asyncio.get_running_loop().time())
        return await super().make_request(bot, method, timeout)


_sources: WeakKeyDictionary[Sender, DeliveryOutbox] = WeakKeyDictionary()


def outbox_source(h: Harness) -> DeliveryOutbox:
    """The outbox's source for the harness's sender: one per sender, as in the bot process, so
    that a delivery the sender holds is not put twice."""
    source = _sources.get(h.sender)
    if source is None:
        source = _sources[h.sender] = DeliveryOutbox(h.services, h.sender)
    return source


async def deliver_outbox(h: Harness) -> None:
    """Hand the outbox to the sender and wait until everything is sent (or failed for good)."""
    await outbox_source(h).drain()


@dataclass
class Coord:
    """The harness, its outbox source and the helpers a coordinator test needs."""

    h: Harness
    source: DeliveryOutbox
    session: TimedSession

    # -- delivery -----------------------------------------------------------------------------

    async def deliver(self) -> None:
        await self.source.drain()

    # -- intakes ------------------------------------------------------------------------------

    async def add_intake(
        self,
        *,
        kind: IntakeKind = IntakeKind.CANDIDATE,
        user_id: int = PERSON,
        name: str | None = None,
        language: str = "nl",
        answers: dict[str, AnswerValue] | None = None,
        queue: bool = True,
    ) -> Intake:
        """A confirmed intake stored as `finish()` stores it, and its card queued."""
        base = dict(CANDIDATE_ANSWERS if kind is IntakeKind.CANDIDATE else EMPLOYER_ANSWERS)
        base.update(answers or {})
        engine = self.h.services.engines[str(kind)]
        name_q = engine.flow.name_question or ""
        if name is not None:
            base[name_q] = name
        outcome = compute_outcome(engine.flow, base)
        now = utc_iso(self.h.clock.now())
        intake = Intake(
            number="",
            kind=kind,
            created_at=now,
            updated_at=now,
            user_id=user_id,
            chat_id=user_id,
            language=language,
            flow_version=engine.flow.version,
            answers=base,
            outcome=outcome.to_dict(),
            name=str(base.get(name_q, "")),
            target_groups=outcome.target_group_codes,
            routes=outcome.route_codes,
        )
        stored = await self.h.stores.intakes.add(intake)
        if queue:
            await queue_new_intake(self.h.services, stored)
        return stored

    async def intake(self, number: str) -> Intake:
        found = await self.h.stores.intakes.get(number)
        assert found is not None
        return found

    async def card_id(self, number: str) -> int:
        intake = await self.intake(number)
        assert intake.card_message_id is not None, "the card was not delivered"
        return intake.card_message_id

    # -- Telegram updates ---------------------------------------------------------------------

    def message(self, chat_id: int, message_id: int) -> JsonDict:
        return self.session.state.messages[chat_id][message_id]

    async def say(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int = GROUP,
        reply_to: int | None = None,
        first_name: str = COORD_NAME,
    ) -> None:
        """`user_id` writes `text` in a chat (the group by default), maybe as a reply."""
        chat_type = "private" if chat_id > 0 else "supergroup"
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if reply_to is not None:
            content["reply_to_message"] = self.message(chat_id, reply_to)
        message = message_json(
            user_id=user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            message_id=self.session.state.next_message_id(chat_id),
            language_code="nl",
            **content,
        )
        self.session.state.remember(message)
        await self.h.dp.feed_update(self.h.bot, update_of("message", message))
        await self.h.settle()

    async def press(
        self,
        user_id: int,
        data: str,
        *,
        chat_id: int = GROUP,
        message_id: int,
        first_name: str = COORD_NAME,
    ) -> None:
        """`user_id` presses a button with callback data `data` on bot message `message_id`."""
        callback: JsonDict = {
            "id": f"kcb{next(_callback_ids)}",
            "from": user_json(user_id, first_name, "nl"),
            "chat_instance": str(chat_id),
            "message": self.message(chat_id, message_id),
            "data": data,
        }
        await self.h.dp.feed_update(self.h.bot, update_of("callback_query", callback))
        await self.h.settle()

    # -- reading what was sent ----------------------------------------------------------------

    def mark(self) -> int:
        return len(self.session.requests)

    def since(self, mark: int) -> list[RecordedRequest]:
        return self.session.requests[mark:]

    def sent_to(
        self, chat_id: int, since: int = 0, method: str | None = None
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.session.requests[since:]
            if r.ok and r.chat_id == str(chat_id) and (method is None or r.name == method)
        ]

    def alerts(self, since: int) -> list[str]:
        return [
            r.params.get("text", "")
            for r in self.session.requests[since:]
            if r.name == "answerCallbackQuery"
        ]

    def texts_to(self, chat_id: int, since: int = 0) -> list[str]:
        """What the bot sent or wrote into a chat, as the client shows it (captions too)."""
        texts = []
        for r in self.sent_to(chat_id, since):
            for key in ("text", "caption"):
                if key in r.params:
                    texts.append(visible_text(r.params[key]))
        return texts

    def card_buttons(self, message_id: int, chat_id: int = GROUP) -> dict[str, str]:
        markup = self.message(chat_id, message_id).get("reply_markup") or {}
        return {
            b["text"]: b["callback_data"]
            for row in markup.get("inline_keyboard", [])
            for b in row
            if "callback_data" in b
        }


def answer_displays(coord: Coord, intake: Intake, *, sensitive: bool | None = None) -> list[str]:
    """Every answer of an intake as a coordinator would read it (or only the sensitive ones)."""
    engine = coord.h.services.engines[str(intake.kind)]
    found = []
    for question in engine.flow.questions:
        if question.id not in intake.answers or question.consent is not None:
            continue
        if sensitive is not None and question.sensitive != sensitive:
            continue
        found.append(engine.display(question, intake.answers[question.id], "nl"))
    return found


def personal_strings(coord: Coord, intake: Intake) -> list[str]:
    """What must never be in the group: the name, every answer (long enough to be told apart
    from a word of the bot's own), the raw answers and the stated target groups."""
    raw = [str(v) for v in intake.answers.values() if isinstance(v, str)]
    every = [intake.name, *answer_displays(coord, intake), *raw, *intake.target_groups]
    return sorted({s for s in every if len(s) >= 5} | {intake.name})


def group_texts(coord: Coord, since: int = 0) -> list[str]:
    """Everything the bot sent or wrote into the coordinators' group."""
    return coord.texts_to(GROUP, since)


async def make_coord(tmp_path: Path, *, limits: Limits | None = None, **settings: Any) -> Coord:
    """`limits`: the sender's; unlimited unless a test is about the pace."""
    state = BotApiState(default_member_status="left")
    state.set_member_status(GROUP, MEMBER, "member")
    session = TimedSession(state)
    values: dict[str, Any] = {"COORDINATOR_IDS": frozenset({COORD, COORD2})}
    values.update(settings)
    h = await build_harness(
        tmp_path / "data", clock=FakeClock(), session=session, limits=limits, **values
    )
    return Coord(h, outbox_source(h), session)

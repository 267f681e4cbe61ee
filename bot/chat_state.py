"""The per-chat conversation record kept in the FSM storage, read and written as one value.

The middleware in bot/chat.py reads it once at the start of an update and writes it once at the
end, together with the calls the handler queued (`outbox`), in one durable write. Everything in
it is JSON, so it survives the storage and a restart.

Where the person is is one value, `screen`: what kind of screen is on top and which message shows
it. The FSM state (which handlers take typed text) follows from it in `fsm_state`, in one place.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from aiogram.fsm.state import State, StatesGroup

from flows.engine import FlowState
from flows.model import Language

MAX_TRACKED_MESSAGES = 400
# Message ids of recent sends by ref: an edit queued before its message was sent finds it here.
# Edits wait behind replies, so under load several screens may pass before they leave.
MAX_SENT_REFS = 64


class IntakeStates(StatesGroup):
    choosing_role = State()
    asking = State()
    summary = State()
    editing = State()  # the list of answers to change is on screen
    confirming = State()  # "Wil je echt stoppen?", "Alles wissen?" or "Toestemming intrekken?"


class ScreenKind(StrEnum):
    WELCOME = "welcome"  # the role buttons; typed text picks a role
    # The role buttons shown after a sticker or a stale button, with no intake: typed text may
    # be a reply for a coordinator, so no state is set (the relay runs only without one).
    WELCOME_IDLE = "welcome-idle"
    QUESTION = "question"
    SUMMARY = "summary"
    EDITING = "editing"
    STOP = "stop"
    ERASE = "erase"
    WITHDRAW = "withdraw"
    AFTER = "after"  # "delete the chat?" after an intake was sent
    CONTACT = "contact"  # "may a coordinator contact you?", after /mens during an intake


STATE_OF_SCREEN: dict[ScreenKind, str | None] = {
    ScreenKind.WELCOME: IntakeStates.choosing_role.state,
    ScreenKind.WELCOME_IDLE: None,
    ScreenKind.QUESTION: IntakeStates.asking.state,
    ScreenKind.SUMMARY: IntakeStates.summary.state,
    ScreenKind.EDITING: IntakeStates.editing.state,
    ScreenKind.STOP: IntakeStates.confirming.state,
    ScreenKind.ERASE: IntakeStates.confirming.state,
    ScreenKind.WITHDRAW: IntakeStates.confirming.state,
    ScreenKind.AFTER: None,
    ScreenKind.CONTACT: IntakeStates.confirming.state,
}
CONFIRMATIONS = frozenset(
    {ScreenKind.STOP, ScreenKind.ERASE, ScreenKind.WITHDRAW, ScreenKind.CONTACT}
)


@dataclass(slots=True)
class Screen:
    """The message on top: its kind, the ref of its send and, once sent, its message id."""

    kind: ScreenKind
    ref: int
    message_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "ref": self.ref, "id": self.message_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Screen | None:
        try:
            return cls(ScreenKind(data["kind"]), int(data["ref"]), data.get("id"))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(slots=True)
class ChatRecord:
    lang: Language
    flow: str | None = None
    flow_state: FlowState | None = None
    screen: Screen | None = None
    selected: list[str] = field(default_factory=list)
    misses: int = 0
    consents: list[dict[str, Any]] = field(default_factory=list)
    started_at: str | None = None
    role: str | None = None
    # Ids of the messages of this intake in the chat, so the person can have them deleted.
    message_ids: list[int] = field(default_factory=list)
    last_intake: str | None = None
    # Question ids shown in this intake, so the funnel counts each question once per person.
    seen: list[str] = field(default_factory=list)
    # Calls queued and not yet sent (bot/outgoing.py), oldest first; the sender removes them.
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # Names the calls of this record: a record made after an erasure starts a new epoch, so
    # a call of the erased one can never be taken for a new one.
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    seq: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    # The intake being submitted: set by "Klopt, versturen" and cleared when the intake is
    # stored and the person's answer queued (bot/submit.py); its id makes the add idempotent.
    submitting: dict[str, Any] | None = None
    # Messages of this chat that could not be deleted ("delete the chat"), for the answer.
    delete_failed: int = 0
    # The newest update handled for this chat: one handed out again after a restart is skipped.
    last_update: int = 0
    # The person blocked the bot (a send was refused with 403); the coordinators were told.
    # A send that gets through again clears it.
    blocked: bool = False
    # The number of the contact request sent during this intake (/mens), so it goes once.
    contact_request: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "flow": self.flow,
            "flow_state": self.flow_state.to_dict() if self.flow_state else None,
            "screen": self.screen.to_dict() if self.screen else None,
            "selected": list(self.selected),
            "misses": self.misses,
            "consents": list(self.consents),
            "started_at": self.started_at,
            "role": self.role,
            "message_ids": self.message_ids[-MAX_TRACKED_MESSAGES:],
            "last_intake": self.last_intake,
            "seen": list(self.seen),
            "outbox": list(self.outbox),
            "epoch": self.epoch,
            "seq": self.seq,
            "sent": dict(self.sent),
            "submitting": self.submitting,
            "delete_failed": self.delete_failed,
            "last_update": self.last_update,
            "blocked": self.blocked,
            "contact_request": self.contact_request,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], default_lang: Language) -> ChatRecord:
        raw_state = data.get("flow_state")
        lang = data.get("lang")
        raw_screen = data.get("screen")
        record = cls(
            lang=cast(Language, lang) if lang in ("nl", "en") else default_lang,
            flow=data.get("flow"),
            flow_state=FlowState.from_dict(raw_state) if raw_state else None,
            screen=Screen.from_dict(raw_screen) if isinstance(raw_screen, dict) else None,
            selected=list(data.get("selected", [])),
            misses=int(data.get("misses", 0)),
            consents=list(data.get("consents", [])),
            started_at=data.get("started_at"),
            role=data.get("role"),
            message_ids=list(data.get("message_ids", [])),
            last_intake=data.get("last_intake"),
            seen=list(data.get("seen", [])),
            outbox=list(data.get("outbox", [])),
            seq=int(data.get("seq", 0)),
            sent=dict(data.get("sent", {})),
            submitting=data.get("submitting"),
            delete_failed=int(data.get("delete_failed", 0)),
            last_update=int(data.get("last_update", 0)),
            blocked=bool(data.get("blocked", False)),
            contact_request=data.get("contact_request"),
            # A stored record keeps its epoch; a new one draws its own (no random draw per load).
            **({"epoch": data["epoch"]} if isinstance(data.get("epoch"), str) else {}),
        )
        return record

    def next_ref(self) -> int:
        self.seq += 1
        return self.seq

    def call_id(self, ref: int) -> str:
        return f"{self.epoch}.{ref}"

    def track(self, message_id: int | None) -> None:
        if message_id is not None and message_id not in self.message_ids:
            self.message_ids.append(message_id)

    def screen_is(self, *kinds: ScreenKind) -> bool:
        return self.screen is not None and self.screen.kind in kinds

    def message_of(self, ref: int) -> int | None:
        """The message id of a send of this record, once it was sent."""
        return self.sent.get(str(ref))

    def reset_intake(self) -> None:
        """Forget the intake in progress; keep the language and the last intake number."""
        self.flow = None
        self.flow_state = None
        self.selected = []
        self.misses = 0
        self.consents = []
        self.started_at = None
        self.role = None
        self.seen = []
        self.contact_request = None


def fsm_state(record: ChatRecord) -> str | None:
    """The FSM state that goes with the screen on top: which handlers take typed text."""
    if record.screen is None:
        return None
    return STATE_OF_SCREEN[record.screen.kind]


def write_back(
    data: dict[str, Any], call_id: str, ref: int | None, message_id: int | None, *, track: bool
) -> None:
    """The sender's write-back, on the stored record as it is (a dict): the call `call_id` is
    done and, if it was a send, `ref` became message `message_id`.

    It works on the dict, not on a `ChatRecord`, because it runs for every call sent: parsing
    the whole record (the flow state with every answer) for two small changes cost more CPU
    than the call itself (bench.step_bench).
    """
    data["outbox"] = [c for c in data.get("outbox", ()) if c.get("id") != call_id]
    if message_id is None or ref is None:
        return
    data["blocked"] = False
    sent: dict[str, int] = data.setdefault("sent", {})
    sent[str(ref)] = message_id
    while len(sent) > MAX_SENT_REFS:
        del sent[next(iter(sent))]
    screen = data.get("screen")
    if isinstance(screen, dict) and screen.get("ref") == ref:
        screen["id"] = message_id
    if track:
        message_ids: list[int] = data.setdefault("message_ids", [])
        if message_id not in message_ids:
            message_ids.append(message_id)
            del message_ids[:-MAX_TRACKED_MESSAGES]

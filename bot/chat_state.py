"""The per-chat conversation record kept in the FSM storage, read and written as one value.

One `get_data` at the start of an update and one `set_data` at the end keep the durable write to
one per step. Everything in it is JSON, so it survives the TinyDB storage and a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup

from flows.engine import FlowState
from flows.model import Language

MAX_TRACKED_MESSAGES = 400


class IntakeStates(StatesGroup):
    choosing_role = State()
    asking = State()
    summary = State()
    editing = State()  # the list of answers to change is on screen


@dataclass(slots=True)
class ChatRecord:
    lang: Language
    flow: str | None = None
    flow_state: FlowState | None = None
    # The message that carries the keyboard of the current question or summary.
    screen_message_id: int | None = None
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
    # The message that asks "Wil je echt stoppen?"; while it is the screen, a typed "ja" or
    # "nee" answers it, not the question underneath.
    stop_screen: int | None = None
    # Likewise the message that asks to confirm /verwijder or /intrekken, and which of the two.
    rights_screen: int | None = None
    rights_action: str | None = None
    # The welcome with the role buttons, while no intake runs: a typed "1" then picks a role
    # even when no FSM state is set (left unset after a sticker, so a coordinator relay works).
    welcome_screen: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "flow": self.flow,
            "flow_state": self.flow_state.to_dict() if self.flow_state else None,
            "screen": self.screen_message_id,
            "selected": list(self.selected),
            "misses": self.misses,
            "consents": list(self.consents),
            "started_at": self.started_at,
            "role": self.role,
            "message_ids": self.message_ids[-MAX_TRACKED_MESSAGES:],
            "last_intake": self.last_intake,
            "seen": list(self.seen),
            "stop_screen": self.stop_screen,
            "rights_screen": self.rights_screen,
            "rights_action": self.rights_action,
            "welcome_screen": self.welcome_screen,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], default_lang: Language) -> ChatRecord:
        raw_state = data.get("flow_state")
        lang = data.get("lang")
        return cls(
            lang=cast(Language, lang) if lang in ("nl", "en") else default_lang,
            flow=data.get("flow"),
            flow_state=FlowState.from_dict(raw_state) if raw_state else None,
            screen_message_id=data.get("screen"),
            selected=list(data.get("selected", [])),
            misses=int(data.get("misses", 0)),
            consents=list(data.get("consents", [])),
            started_at=data.get("started_at"),
            role=data.get("role"),
            message_ids=list(data.get("message_ids", [])),
            last_intake=data.get("last_intake"),
            seen=list(data.get("seen", [])),
            stop_screen=data.get("stop_screen"),
            rights_screen=data.get("rights_screen"),
            rights_action=data.get("rights_action"),
            welcome_screen=data.get("welcome_screen"),
        )

    def track(self, message_id: int | None) -> None:
        if message_id is not None and message_id not in self.message_ids:
            self.message_ids.append(message_id)

    def reset_intake(self) -> None:
        """Forget the intake in progress; keep the language and the last intake number."""
        self.flow = None
        self.flow_state = None
        self.screen_message_id = None
        self.selected = []
        self.misses = 0
        self.consents = []
        self.started_at = None
        self.role = None
        self.seen = []
        self.stop_screen = None


def rights_screen_showing(data: dict[str, Any]) -> bool:
    """Whether the stored record's screen is a /verwijder or /intrekken confirmation."""
    screen = data.get("rights_screen")
    return screen is not None and screen == data.get("screen")


async def load(state: FSMContext, default_lang: Language) -> ChatRecord:
    return ChatRecord.from_dict(await state.get_data(), default_lang)


async def save(state: FSMContext, record: ChatRecord) -> None:
    await state.set_data(record.to_dict())

"""Stored records: an intake and an outbox delivery, as plain values that survive JSON.

These are the shapes `storage/` persists and `bot/` shows. Each record carries a schema version so
that storage can migrate old records when the shape changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

INTAKE_SCHEMA = 1
OUTBOX_SCHEMA = 1


def utc_iso(moment: datetime) -> str:
    """UTC ISO-8601 with seconds, the one timestamp format of all records."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def short(text: str, limit: int) -> str:
    """Text on one line, cut to at most `limit` characters with an ellipsis: what a history
    line keeps of a message, and what a card or list shows of a field."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class IntakeKind(StrEnum):
    CANDIDATE = "candidate"
    EMPLOYER = "employer"

    @property
    def number_prefix(self) -> str:
        # K for kandidaat, W for werkgever: the numbers people read out on the phone.
        return "K" if self is IntakeKind.CANDIDATE else "W"


class Status(StrEnum):
    NIEUW = "nieuw"
    OPGEPAKT = "opgepakt"
    CONTACT_GEHAD = "contact-gehad"
    GEPLAATST = "geplaatst"
    AFGESLOTEN = "afgesloten"
    INGETROKKEN = "ingetrokken"

    @property
    def is_closed(self) -> bool:
        return self in (Status.GEPLAATST, Status.AFGESLOTEN, Status.INGETROKKEN)

    @property
    def next_statuses(self) -> tuple[Status, ...]:
        """Where a coordinator may move an intake from here (the status workflow)."""
        return _NEXT_STATUSES[self]


# The way an intake moves on. `opgepakt` is reached by claiming; `ingetrokken` only when the
# person withdraws, never by a coordinator's choice.
_NEXT_STATUSES: dict[Status, tuple[Status, ...]] = {
    Status.NIEUW: (Status.AFGESLOTEN,),
    Status.OPGEPAKT: (Status.CONTACT_GEHAD, Status.AFGESLOTEN),
    Status.CONTACT_GEHAD: (Status.GEPLAATST, Status.AFGESLOTEN),
    Status.GEPLAATST: (),
    Status.AFGESLOTEN: (),
    Status.INGETROKKEN: (),
}


class HistoryAction(StrEnum):
    """What a line of an intake's history records. The values are what coordinators read in
    the history of an intake, so they stay Dutch."""

    SUBMITTED = "submitted"  # by the person, at the end of the intake
    CONTACT_REQUEST = "contact-request"  # by the person, /mens during the intake
    CARD_PLACED = "kaart-geplaatst"  # the card reached the group (its message in `messages`)
    CLAIMED = "opgepakt"
    STATUS = "status"
    NOTE = "notitie"
    NOTE_ASKED = "notitie-gevraagd"  # the note prompt left (its message in `messages`)
    PERSON_TOLD = "persoon-ingelicht"  # the person was told of a status change
    TO_PERSON = "bericht-aan-persoon"  # a coordinator wrote to the person
    DELIVERED = "bericht-bezorgd"  # that message reached the person (its message in `messages`)
    NOT_DELIVERED = "niet-bezorgd"
    FROM_PERSON = "bericht-van-persoon"  # the person wrote back (the text is the detail)
    RELAYED = "doorgestuurd"  # the person's text reached a coordinator's private chat
    # Who saw personal data: the whole intake in a private chat (/intake, the card's button),
    # a name in a private list, a hit of /zoek, an export.
    VIEWED = "bekeken"
    DETAILS = "details-bekeken"
    LISTED = "bekeken-in-lijst"
    FOUND = "gevonden-bij-zoeken"
    EXPORTED = "export"
    WITHDRAWN = "toestemming-ingetrokken"
    ERASED = "gewist"


# The actions whose messages hold no personal data outside the person's own chat: the card and
# the note prompt say nothing about the person, a delivered message is in the person's chat.
_NO_PERSONAL_DATA = frozenset(
    {HistoryAction.CARD_PLACED, HistoryAction.NOTE_ASKED, HistoryAction.DELIVERED}
)


def sent_personal_data(action: str) -> bool:
    """Whether the messages of a history line of this action hold the person's data elsewhere,
    so that erasure deletes them (a view, an export, a relayed message)."""
    return action not in _NO_PERSONAL_DATA


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot sent: the chat it is in and its id there."""

    chat_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class Actor:
    """A coordinator in the audit trail."""

    id: int
    name: str

    @property
    def label(self) -> str:
        """How the history shows them: name and id, so two Annas differ."""
        text = " ".join(self.name.split())
        if len(text) > ACTOR_NAME_LIMIT:
            text = text[: ACTOR_NAME_LIMIT - 1].rstrip() + "…"
        return f"{text} [{self.id}]"


ACTOR_NAME_LIMIT = 60


@dataclass(slots=True)
class HistoryEntry:
    """One line of an intake's history and audit trail: who did what, when.

    `by` is how the history shows who did it ("person", "bot", or a coordinator's name and
    id). A coordinator is also in `actor_id` and `actor_name`, and the messages the action sent
    are in `messages`: code reads those, never the text. `action` is a `HistoryAction` value,
    typed as text so that a line of an action this version does not know still loads.
    """

    at: str
    by: str
    action: str
    detail: str = ""
    actor_id: int | None = None
    actor_name: str = ""
    messages: list[MessageRef] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "at": self.at,
            "by": self.by,
            "action": str(self.action),
            "detail": self.detail,
        }
        # Only when set: most lines have none, and every intake carries its whole history.
        if self.actor_id is not None:
            data["actor_id"] = self.actor_id
            data["actor_name"] = self.actor_name
        if self.messages:
            data["messages"] = [[m.chat_id, m.message_id] for m in self.messages]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        actor_id = data.get("actor_id")
        return cls(
            at=str(data["at"]),
            by=str(data["by"]),
            action=str(data["action"]),
            detail=str(data.get("detail", "")),
            actor_id=int(actor_id) if actor_id is not None else None,
            actor_name=str(data.get("actor_name", "")),
            messages=[MessageRef(int(c), int(m)) for c, m in data.get("messages", ())],
        )

    @classmethod
    def new(
        cls,
        at: datetime,
        action: HistoryAction,
        detail: str = "",
        *,
        by: str | Actor = "bot",
        messages: list[MessageRef] | None = None,
    ) -> HistoryEntry:
        """A line made now: by "bot", "person" or a coordinator (`Actor`)."""
        actor = by if isinstance(by, Actor) else None
        return cls(
            at=utc_iso(at),
            by=actor.label if actor is not None else str(by),
            action=str(action),
            detail=detail,
            actor_id=actor.id if actor is not None else None,
            actor_name=actor.name if actor is not None else "",
            messages=list(messages or ()),
        )

    @property
    def actor(self) -> Actor | None:
        return Actor(self.actor_id, self.actor_name) if self.actor_id is not None else None


@dataclass(slots=True)
class Note:
    at: str
    by: str
    text: str


@dataclass(slots=True)
class ConsentRecord:
    """Which consent text was agreed to, when: the proof AVG art. 7 asks for."""

    scope: str  # "general", "sensitive" or "retention" (flows.model.ConsentScope)
    version: str
    text_hash: str
    at: str
    given: bool = True
    # Who gave it: "candidate", "helper_on_candidates_word" (a helper said the candidate agrees)
    # or "parent_for_under_16" (flows.model.GIVEN_BY). Intakes stored before helpers were asked
    # have no such field; they were all given as the candidate.
    given_by: str = "candidate"


@dataclass(slots=True)
class FilledInBy:
    """Who filled in an intake for the candidate: a helper's role (the code of the flow's role
    question: ouder, school, jobcoach, anders), own name and phone. Never on the group card
    beyond the role."""

    role: str
    name: str = ""
    phone: str = ""


@dataclass(slots=True)
class Intake:
    number: str
    kind: IntakeKind
    created_at: str
    user_id: int
    chat_id: int
    language: str
    flow_version: str
    answers: dict[str, Any]
    outcome: dict[str, Any]
    name: str = ""
    status: Status = Status.NIEUW
    updated_at: str = ""
    target_groups: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    assignee_id: int | None = None
    assignee_name: str = ""
    consents: list[ConsentRecord] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    card_chat_id: int | None = None
    card_message_id: int | None = None
    # The conversation's submit id: adding the same submit again returns this intake.
    submit_id: str = ""
    # When the status last became a closed one (Status.is_closed); "" while open. Retention
    # counts from here (storage/__init__.py `Stores.purge`).
    closed_at: str = ""
    # Set when a helper filled it in for the candidate; None when the candidate did (and in
    # intakes stored before helpers were asked).
    filled_in_by: FilledInBy | None = None
    # "contact": not a finished intake but a request to be contacted, made with /mens during
    # the intake; it holds what was answered until then. "" for an intake sent at the end.
    request: str = ""
    schema: int = INTAKE_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        data["status"] = str(self.status)
        data["history"] = [h.to_dict() for h in self.history]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Intake:
        values = dict(data)
        values["kind"] = IntakeKind(values["kind"])
        values["status"] = Status(values.get("status", Status.NIEUW))
        values["consents"] = [ConsentRecord(**c) for c in values.get("consents", [])]
        values["notes"] = [Note(**n) for n in values.get("notes", [])]
        values["history"] = [HistoryEntry.from_dict(h) for h in values.get("history", [])]
        helper = values.get("filled_in_by")
        values["filled_in_by"] = FilledInBy(**helper) if isinstance(helper, dict) else None
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"
    # Telegram refused it for good (blocked, chat not found, ...): never tried again, shown to
    # the coordinators in /wachtrij as failed.
    FAILED = "failed"


@dataclass(slots=True)
class Delivery:
    """One message waiting in the outbox: to the coordinators' group or to a person.

    `method` and `payload` are a Bot API call (sendMessage, editMessageText, ...). `key` groups
    deliveries that must keep their order (one chat). `user_id` links a delivery to the person it
    is about, so that erasure can remove it.
    """

    id: str
    chat_id: int
    method: str
    payload: dict[str, Any]
    created_at: str
    next_attempt_at: str
    attempts: int = 0
    delivered_at: str | None = None
    last_error: str = ""
    intake_number: str | None = None
    user_id: int | None = None
    # What to do with the result, for example "card" to remember the card's message id.
    purpose: str = ""
    status: DeliveryStatus = DeliveryStatus.PENDING
    schema: int = OUTBOX_SCHEMA

    @property
    def failed_for_good(self) -> bool:
        return self.status is DeliveryStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        known = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = DeliveryStatus(values.get("status", DeliveryStatus.PENDING))
        return cls(**values)

"""The coordinators' work on an intake: claim it, move its status, add a note, write to the
person, and pass the person's answer on.

Each use case takes the ports it needs and plain values (the coordinator as an `Actor`), changes
the intake with one history line, queues what the person and the group must see through the
`Handoff`, and returns a plain result the adapter words (bot/handlers/coordinator.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flows.ports import Clock, Handoff, IntakeLocks, IntakeRepository, PersonNews
from flows.records import (
    Actor,
    HistoryAction,
    HistoryEntry,
    Intake,
    Note,
    Status,
    short,
    utc_iso,
)

# What a person's message to the coordinators keeps in the history (the private /intake shows
# it), and what a coordinator's message to the person keeps.
MAX_FROM_PERSON = 1000
MAX_TO_PERSON = 200


@dataclass(frozen=True, slots=True)
class Claimed:
    intake: Intake
    # Whether it was new until now (then the person was told it is picked up).
    first: bool


@dataclass(frozen=True, slots=True)
class Moved:
    intake: Intake


@dataclass(frozen=True, slots=True)
class Done:
    """A note added, a message queued."""

    intake: Intake


@dataclass(frozen=True, slots=True)
class AlreadyMine:
    """The coordinator had picked it up already."""

    intake: Intake


@dataclass(frozen=True, slots=True)
class Closed:
    """Closed (or withdrawn): nobody picks it up any more."""

    intake: Intake


@dataclass(frozen=True, slots=True)
class NotAllowed:
    """Not a step of the status workflow from where the intake is (a stale button)."""


@dataclass(frozen=True, slots=True)
class NotFound:
    """No such intake (deleted), or, for a message to the person, erased."""


@dataclass(frozen=True, slots=True)
class Relayed:
    """The person's message, passed to `to` (None: no coordinator may get it)."""

    to: Actor | None


async def claim(
    number: str,
    by: Actor,
    *,
    intakes: IntakeRepository,
    handoff: Handoff,
    locks: IntakeLocks,
    clock: Clock,
) -> Claimed | AlreadyMine | Closed | NotFound:
    """Pick an intake up (or take it over from another coordinator)."""
    async with locks.lock(number):
        intake = await intakes.get(number)
        if intake is None:
            return NotFound()
        if intake.status.is_closed:
            return Closed(intake)
        if intake.assignee_id == by.id:
            return AlreadyMine(intake)
        first = intake.status is Status.NIEUW
        updated = await intakes.update(
            number,
            by.label,
            HistoryAction.CLAIMED,
            f"was {intake.assignee_name}" if intake.assignee_name else "",
            status=Status.OPGEPAKT if first else None,
            assignee_id=by.id,
            assignee_name=by.name,
            actor=by,
        )
        if updated is None:
            return NotFound()
        await handoff.card_changed(updated)
        if first:
            await handoff.tell_person(updated, PersonNews.PICKED_UP)
            await intakes.record(
                number, HistoryEntry.new(clock.now(), HistoryAction.PERSON_TOLD, "opgepakt")
            )
        return Claimed(updated, first)


async def move_status(
    number: str,
    to: Status | None,
    by: Actor,
    *,
    intakes: IntakeRepository,
    handoff: Handoff,
    locks: IntakeLocks,
    clock: Clock,
) -> Moved | NotAllowed | NotFound:
    """One step of the status workflow (`Status.next_statuses`); placed or closed is told to
    the person."""
    async with locks.lock(number):
        intake = await intakes.get(number)
        if intake is None:
            return NotFound()
        if to is None or to not in intake.status.next_statuses:
            return NotAllowed()
        updated = await intakes.update(
            number,
            by.label,
            HistoryAction.STATUS,
            f"{intake.status.value} -> {to.value}",
            status=to,
            actor=by,
        )
        if updated is None:
            return NotFound()
        await handoff.card_changed(updated)
        if to in (Status.GEPLAATST, Status.AFGESLOTEN):
            await handoff.tell_person(updated, PersonNews.CLOSED)
            await intakes.record(
                number, HistoryEntry.new(clock.now(), HistoryAction.PERSON_TOLD, "afgesloten")
            )
        return Moved(updated)


def may_add_note(intake: Intake) -> bool:
    """A withdrawn intake takes no notes (a note is free text about a person)."""
    return intake.status is not Status.INGETROKKEN


async def add_note(
    number: str, text: str, by: Actor, *, intakes: IntakeRepository, clock: Clock
) -> Done | NotFound:
    note = Note(at=utc_iso(clock.now()), by=by.name, text=text.strip())
    updated = await intakes.update(number, by.label, HistoryAction.NOTE, "", note=note, actor=by)
    return NotFound() if updated is None else Done(updated)


async def message_person(
    intake: Intake, text: str, by: Actor, *, intakes: IntakeRepository, handoff: Handoff
) -> Done | NotFound:
    """A coordinator's text to the person (/antwoord, or a reply to the card or a relayed
    message); the history keeps its start and who wrote it."""
    if not intake.chat_id:
        return NotFound()  # erased: there is nobody to write to
    await handoff.to_person(intake, text.strip())
    updated = await intakes.update(
        intake.number, by.label, HistoryAction.TO_PERSON, short(text, MAX_TO_PERSON), actor=by
    )
    return Done(updated or intake)


# How long after a coordinator wrote to a person their plain text (not a reply) still goes to
# the coordinators.
RELAY_DAYS = 14


async def reply_to_coordinator(
    user_id: int,
    chat_id: int,
    replied_to: int | None,
    *,
    in_intake: bool,
    intakes: IntakeRepository,
    clock: Clock,
) -> Intake | None:
    """The intake a person's text answers a coordinator about, or None when it answers none.

    `replied_to`: the bot's message the text replies to. A reply to a message delivered from
    a coordinator is for that intake, even during an intake in progress (`in_intake`); any
    other text only when no intake is in progress and a coordinator wrote to the person in the
    last RELAY_DAYS days. Both are index lookups: no history is read.
    """
    if replied_to is not None:
        sent = await intakes.by_message(chat_id, replied_to)
        if sent is not None and sent.action == HistoryAction.DELIVERED:
            intake = await intakes.get(sent.number)
            if intake is not None and intake.user_id == user_id and intake.chat_id:
                return intake
    if in_intake:
        return None  # the text is an answer to the intake's question
    number = await intakes.last_written_to(user_id, clock.now() - timedelta(days=RELAY_DAYS))
    intake = await intakes.get(number) if number is not None else None
    return intake if intake is not None and intake.chat_id else None


def relay_recipient(intake: Intake, may_receive: Callable[[int], bool]) -> Actor | None:
    """Who gets the person's message: the assignee, else whoever wrote to the person last;
    only a coordinator who `may_receive` it (still on the list)."""
    if intake.assignee_id and may_receive(intake.assignee_id):
        return Actor(intake.assignee_id, intake.assignee_name)
    for entry in reversed(intake.history):
        actor = entry.actor if entry.action == HistoryAction.TO_PERSON else None
        if actor is not None and may_receive(actor.id):
            return actor
    return None


async def message_from_person(
    intake: Intake,
    text: str,
    *,
    intakes: IntakeRepository,
    handoff: Handoff,
    may_receive: Callable[[int], bool],
) -> Relayed:
    """The person's answer to a coordinator: kept in the history (for the private /intake and
    as the audit line), passed to one coordinator's private chat, never to the group."""
    to = relay_recipient(intake, may_receive)
    await intakes.update(
        intake.number, "person", HistoryAction.FROM_PERSON, short(text, MAX_FROM_PERSON)
    )
    await handoff.from_person(intake, text, to)
    return Relayed(to)


def name_in_history(intake: Intake, user_id: int) -> str:
    """A coordinator's name as the intake knows it (to name them in the group)."""
    if intake.assignee_id == user_id and intake.assignee_name:
        return intake.assignee_name
    for entry in reversed(intake.history):
        actor = entry.actor
        if actor is not None and actor.id == user_id:
            return actor.name
    return ""

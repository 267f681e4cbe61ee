"""The application layer (flows/usecases) on its own: memory stores, a fake clock and a Handoff
that records what would be queued; no Dispatcher, no bot, no templates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from flows import usecases
from flows.ports import PersonNews
from flows.records import (
    Actor,
    ConsentRecord,
    Delivery,
    HistoryAction,
    HistoryEntry,
    Intake,
    IntakeKind,
    MessageRef,
    Status,
    utc_iso,
)
from storage.memory import MemoryIntakeRepository, MemoryOutbox
from tests.flows.walking import engine_for, walk

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ANNA = Actor(11, "Anna de Coördinator")
BORIS = Actor(12, "Boris")
PERSON = 5005


class Clock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment


@dataclass
class Handoff:
    """What the use cases queue, as (what, intake number, detail)."""

    queued: list[tuple[str, str, object]] = field(default_factory=list)
    cards: set[str] = field(default_factory=set)

    async def queue_card(self, intake: Intake) -> None:
        if intake.number not in self.cards:  # queued already: not again (the port's contract)
            self.cards.add(intake.number)
            self.queued.append(("card", intake.number, None))

    async def card_changed(self, intake: Intake) -> None:
        self.queued.append(("card-edit", intake.number, intake.status))

    async def tell_person(self, intake: Intake, news: PersonNews) -> None:
        self.queued.append(("person", intake.number, news))

    async def to_person(self, intake: Intake, text: str) -> None:
        self.queued.append(("to-person", intake.number, text))

    async def from_person(self, intake: Intake, text: str, to: Actor | None) -> None:
        self.queued.append(("from-person", intake.number, to))


class Locks:
    def __init__(self) -> None:
        self.taken: list[str] = []

    @asynccontextmanager
    async def _held(self, number: str) -> AsyncIterator[None]:
        self.taken.append(number)
        yield

    def lock(self, number: str) -> AbstractAsyncContextManager[None]:
        return self._held(number)


class Conversations:
    def __init__(self, users: set[int]) -> None:
        self.users = users

    async def delete_user(self, user_id: int) -> int:
        if user_id in self.users:
            self.users.discard(user_id)
            return 1
        return 0


@dataclass
class World:
    clock: Clock
    intakes: MemoryIntakeRepository
    outbox: MemoryOutbox
    handoff: Handoff
    locks: Locks

    async def claim(
        self, number: str, by: Actor
    ) -> usecases.Claimed | usecases.AlreadyMine | usecases.Closed | usecases.NotFound:
        return await usecases.claim(
            number, by, intakes=self.intakes, handoff=self.handoff, locks=self.locks,
            clock=self.clock,
        )  # fmt: skip

    async def move(
        self, number: str, to: Status | None, by: Actor
    ) -> usecases.Moved | usecases.NotAllowed | usecases.NotFound:
        return await usecases.move_status(
            number, to, by, intakes=self.intakes, handoff=self.handoff, locks=self.locks,
            clock=self.clock,
        )  # fmt: skip

    async def stored(self, number: str) -> Intake:
        intake = await self.intakes.get(number)
        assert intake is not None
        return intake


@pytest.fixture
def world() -> World:
    clock = Clock()
    return World(clock, MemoryIntakeRepository(clock), MemoryOutbox(clock), Handoff(), Locks())


def draft(user_id: int = PERSON) -> usecases.Draft:
    walked = walk("candidate", {"name": "Sam"})
    return usecases.Draft(
        flow="candidate",
        user_id=user_id,
        chat_id=user_id,
        lang="nl",
        role="",
        state=walked.state,
        consents=[{"scope": "general", "version": "1", "text_hash": "h", "at": utc_iso(T0)}],
    )


async def submitted(world: World, user_id: int = PERSON) -> Intake:
    result = await usecases.submit(
        draft(user_id),
        f"s-{user_id}",
        engine=engine_for("candidate"),
        intakes=world.intakes,
        handoff=world.handoff,
        clock=world.clock,
    )
    return result.intake


# -- submit and contact request ---------------------------------------------------------------


async def test_submit_stores_once_and_queues_one_card(world: World) -> None:
    engine = engine_for("candidate")
    first = await usecases.submit(
        draft(), "s-1", engine=engine, intakes=world.intakes, handoff=world.handoff,
        clock=world.clock,
    )  # fmt: skip
    again = await usecases.submit(
        draft(), "s-1", engine=engine, intakes=world.intakes, handoff=world.handoff,
        clock=world.clock,
    )  # fmt: skip
    assert (first.added, again.added) == (True, False)
    assert again.intake.number == first.intake.number == "K-2026-0001"
    assert [i.number for i in await world.intakes.all()] == ["K-2026-0001"]
    assert world.handoff.queued == [("card", "K-2026-0001", None)]
    stored = await world.stored("K-2026-0001")
    assert (stored.name, stored.user_id, stored.kind) == ("Sam", PERSON, IntakeKind.CANDIDATE)
    assert stored.outcome["target_groups"]  # the outcome is stored with the intake
    assert stored.target_groups == [f["code"] for f in stored.outcome["target_groups"]]
    assert [(h.by, h.action) for h in stored.history] == [("person", "submitted")]
    assert [(c.scope, c.given_by) for c in stored.consents] == [("general", "candidate")]


async def test_a_contact_request_sends_what_was_answered(world: World) -> None:
    state = walk("candidate", until="postcode").state
    partial = usecases.Draft(
        flow="candidate", user_id=PERSON, chat_id=PERSON, lang="nl", role="", state=state,
        consents=[],
    )  # fmt: skip
    result = await usecases.request_contact(
        partial,
        "contact-1",
        engine=engine_for("candidate"),
        intakes=world.intakes,
        handoff=world.handoff,
        clock=world.clock,
    )
    stored = await world.stored(result.intake.number)
    assert stored.request == "contact"
    assert "postcode" not in stored.answers
    assert "age" in stored.answers
    assert stored.outcome == {}
    assert stored.history[0].action == HistoryAction.CONTACT_REQUEST
    assert world.handoff.queued == [("card", stored.number, None)]


# -- claim and status -------------------------------------------------------------------------


async def test_claim_first_tells_the_person_and_a_second_claim_takes_over(world: World) -> None:
    intake = await submitted(world)
    world.handoff.queued.clear()
    result = await world.claim(intake.number, ANNA)
    assert isinstance(result, usecases.Claimed)
    assert result.first
    assert world.locks.taken == [intake.number]
    assert world.handoff.queued == [
        ("card-edit", intake.number, Status.OPGEPAKT),
        ("person", intake.number, PersonNews.PICKED_UP),
    ]
    stored = await world.stored(intake.number)
    assert (stored.status, stored.assignee_id, stored.assignee_name) == (
        Status.OPGEPAKT,
        ANNA.id,
        ANNA.name,
    )
    claimed, told = stored.history[-2:]
    assert (claimed.action, claimed.by, claimed.actor) == ("opgepakt", ANNA.label, ANNA)
    assert (told.action, told.by, told.detail) == ("persoon-ingelicht", "bot", "opgepakt")

    mine = await world.claim(intake.number, ANNA)
    assert isinstance(mine, usecases.AlreadyMine)
    world.handoff.queued.clear()
    over = await world.claim(intake.number, BORIS)
    assert isinstance(over, usecases.Claimed)
    assert not over.first
    assert world.handoff.queued == [("card-edit", intake.number, Status.OPGEPAKT)]
    assert (await world.stored(intake.number)).history[-1].detail == f"was {ANNA.name}"


async def test_status_moves_only_along_the_workflow(world: World) -> None:
    intake = await submitted(world)
    number = intake.number
    refused = await world.move(number, Status.GEPLAATST, ANNA)
    assert isinstance(refused, usecases.NotAllowed)
    assert await world.move(number, None, ANNA) == usecases.NotAllowed()
    await world.claim(number, ANNA)
    world.handoff.queued.clear()
    moved = await world.move(number, Status.CONTACT_GEHAD, ANNA)
    assert isinstance(moved, usecases.Moved)
    assert world.handoff.queued == [("card-edit", number, Status.CONTACT_GEHAD)]
    placed = await world.move(number, Status.GEPLAATST, ANNA)
    assert isinstance(placed, usecases.Moved)
    assert world.handoff.queued[-1] == ("person", number, PersonNews.CLOSED)
    stored = await world.stored(number)
    assert stored.closed_at == utc_iso(T0)
    assert [h.detail for h in stored.history if h.action == "status"] == [
        "opgepakt -> contact-gehad",
        "contact-gehad -> geplaatst",
    ]
    closed = await world.claim(number, BORIS)
    assert isinstance(closed, usecases.Closed)
    gone = await world.claim("K-2026-0999", BORIS)
    assert isinstance(gone, usecases.NotFound)


# -- notes and the relay ----------------------------------------------------------------------


async def test_a_note_is_stored_with_its_author(world: World) -> None:
    intake = await submitted(world)
    done = await usecases.add_note(
        intake.number, "  Gebeld, belt terug ", ANNA, intakes=world.intakes, clock=world.clock
    )
    assert isinstance(done, usecases.Done)
    stored = await world.stored(intake.number)
    assert [(n.by, n.text) for n in stored.notes] == [(ANNA.name, "Gebeld, belt terug")]
    assert stored.history[-1].actor == ANNA
    missing = await usecases.add_note(
        "K-2026-0999", "x", ANNA, intakes=world.intakes, clock=world.clock
    )
    assert isinstance(missing, usecases.NotFound)


async def test_the_relay_goes_to_the_assignee_else_to_who_wrote_last(world: World) -> None:
    intake = await submitted(world)
    await usecases.message_person(
        intake, "Mag ik je bellen?", BORIS, intakes=world.intakes, handoff=world.handoff
    )
    assert world.handoff.queued[-1] == ("to-person", intake.number, "Mag ik je bellen?")
    written = await world.stored(intake.number)
    assert (written.history[-1].action, written.history[-1].actor) == ("bericht-aan-persoon", BORIS)
    # The person's index entry knows it was written to: the relay finds it without history.
    assert await world.intakes.last_written_to(PERSON, T0 - timedelta(days=14)) == intake.number

    everybody = lambda user_id: True  # noqa: E731
    relayed = await usecases.message_from_person(
        written, "Ja graag", intakes=world.intakes, handoff=world.handoff, may_receive=everybody
    )
    assert relayed.to == BORIS
    await world.claim(intake.number, ANNA)
    claimed = await world.stored(intake.number)
    relayed = await usecases.message_from_person(
        claimed, "Dank je", intakes=world.intakes, handoff=world.handoff, may_receive=everybody
    )
    assert relayed.to == ANNA
    # A coordinator taken off the list gets nothing.
    nobody_but_boris = lambda user_id: user_id == BORIS.id  # noqa: E731
    relayed = await usecases.message_from_person(
        claimed, "Hallo?", intakes=world.intakes, handoff=world.handoff,
        may_receive=nobody_but_boris,
    )  # fmt: skip
    assert relayed.to == BORIS
    stored = await world.stored(intake.number)
    assert [h.detail for h in stored.history if h.action == "bericht-van-persoon"] == [
        "Ja graag",
        "Dank je",
        "Hallo?",
    ]


async def test_nobody_is_written_to_after_erasure(world: World) -> None:
    intake = await submitted(world)
    stone = usecases.rights.tombstone(intake, utc_iso(T0))
    result = await usecases.message_person(
        stone, "Hallo", ANNA, intakes=world.intakes, handoff=world.handoff
    )
    assert isinstance(result, usecases.NotFound)
    assert [q for q in world.handoff.queued if q[0] == "to-person"] == []


# -- erasure and withdrawal -------------------------------------------------------------------


async def test_erase_leaves_a_tombstone_and_removes_every_copy(world: World) -> None:
    intake = await submitted(world)
    other = await submitted(world, user_id=6006)
    view = MessageRef(ANNA.id, 77)
    await world.intakes.record(
        intake.number,
        HistoryEntry.new(T0, HistoryAction.VIEWED, "privé", by=ANNA, messages=[view]),
    )
    await world.intakes.record(
        intake.number,
        HistoryEntry.new(T0, HistoryAction.NOTE_ASKED, by=ANNA, messages=[MessageRef(ANNA.id, 78)]),
    )
    now = utc_iso(T0)
    for delivery_id, user_id in (("to-person", PERSON), ("card", None), ("other", 6006)):
        number = other.number if delivery_id == "other" else intake.number
        await world.outbox.put(
            Delivery(delivery_id, -100, "sendMessage", {"text": "x"}, now, now,
                     intake_number=number, user_id=user_id)
        )  # fmt: skip
    conversations = Conversations({PERSON, 6006})
    world.handoff.queued.clear()
    erasure = await usecases.erase(
        PERSON,
        intakes=world.intakes,
        outbox=world.outbox,
        conversations=conversations,
        clock=world.clock,
        locks=world.locks,
        cards=world.handoff,
    )
    assert (erasure.numbers, erasure.deliveries, erasure.conversations) == ([intake.number], 2, 1)
    assert erasure.group_messages == [view]  # the note prompt holds nothing about the person
    stone = await world.stored(intake.number)
    assert (stone.user_id, stone.chat_id, stone.name, stone.answers) == (0, 0, "", {})
    assert stone.status == Status.INGETROKKEN
    assert stone.consents == []
    assert stone.notes == []
    assert all(not h.messages for h in stone.history)
    assert stone.history[-1].action == HistoryAction.ERASED
    assert await world.intakes.for_user(PERSON) == []
    assert [d.id for d in await world.outbox.pending()] == ["other"]
    assert conversations.users == {6006}
    assert world.handoff.queued == [("card-edit", intake.number, Status.INGETROKKEN)]
    assert (await world.stored(other.number)).name == "Sam"


async def test_withdraw_drops_the_sensitive_answers_and_records_it(world: World) -> None:
    intake = await submitted(world)
    before = await world.stored(intake.number)
    engines = {"candidate": engine_for("candidate")}
    assert [
        i.number for i in await usecases.rights.withdrawable(world.intakes, engines, PERSON)
    ] == [intake.number]
    withdrawal = await usecases.withdraw(
        PERSON, intakes=world.intakes, engines=engines, clock=world.clock, cards=world.handoff
    )
    assert withdrawal.numbers == [intake.number]
    assert withdrawal.answers > 0
    after = await world.stored(intake.number)
    flow = engines["candidate"].flow
    sensitive = {q.id for q in flow.questions if q.sensitive}
    assert sensitive & set(before.answers)
    assert not sensitive & set(after.answers)
    assert after.consents[-1] == ConsentRecord(
        "sensitive", after.consents[-1].version, after.consents[-1].text_hash, utc_iso(T0),
        given=False, given_by=after.consents[-1].given_by,
    )  # fmt: skip
    assert after.history[-1].action == HistoryAction.WITHDRAWN
    assert await usecases.rights.withdrawable(world.intakes, engines, PERSON) == []


async def test_which_intake_a_persons_text_answers(world: World) -> None:
    intake = await submitted(world)
    other = await submitted(world, user_id=6006)

    async def target(user_id: int, replied_to: int | None, *, in_intake: bool) -> str | None:
        found = await usecases.reply_to_coordinator(
            user_id, user_id, replied_to, in_intake=in_intake, intakes=world.intakes,
            clock=world.clock,
        )  # fmt: skip
        return found.number if found is not None else None

    assert await target(PERSON, None, in_intake=False) is None  # nobody wrote to the person
    await usecases.message_person(intake, "Hoi", ANNA, intakes=world.intakes, handoff=world.handoff)
    delivered = HistoryEntry.new(T0, HistoryAction.DELIVERED, messages=[MessageRef(PERSON, 41)])
    await world.intakes.record(intake.number, delivered)
    assert await target(PERSON, None, in_intake=False) == intake.number
    # During an intake only a reply to the coordinator's message is for the coordinator.
    assert await target(PERSON, None, in_intake=True) is None
    assert await target(PERSON, 41, in_intake=True) == intake.number
    # A reply to a message that was not from a coordinator, or someone else's: not this way.
    assert await target(PERSON, 40, in_intake=True) is None
    assert await target(6006, 41, in_intake=True) is None
    assert other.number != intake.number
    # Two weeks on, a plain text is no answer any more; a reply still is.
    world.clock.moment = T0 + timedelta(days=usecases.coordination.RELAY_DAYS, seconds=1)
    assert await target(PERSON, None, in_intake=False) is None
    assert await target(PERSON, 41, in_intake=False) == intake.number

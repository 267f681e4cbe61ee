"""The typed audit trail in storage: who (an Actor) and which messages, kept as fields; the
relay's lookups answered from the index, and still after a reopen; a delivery's status."""

from __future__ import annotations

from datetime import timedelta

from flows.records import (
    Actor,
    DeliveryStatus,
    HistoryAction,
    HistoryEntry,
    MessageRef,
)
from tests.storage.conftest import BOTH, Harness, make_delivery, make_intake

COORD = Actor(4242, "Carla Coördinator")
GROUP = -100123


@BOTH
async def test_history_keeps_the_actor_and_the_messages_as_fields(harness: Harness) -> None:
    intake = await harness.stores.intakes.add(make_intake("Anna", user_id=7))
    await harness.stores.intakes.update(
        intake.number,
        COORD.label,
        HistoryAction.TO_PERSON,
        "Bel je morgen?",
        actor=COORD,
    )
    entry = HistoryEntry.new(
        harness.clock.now(),
        HistoryAction.RELAYED,
        messages=[MessageRef(COORD.id, 17)],
    )
    await harness.stores.intakes.record(intake.number, entry)
    stores = await harness.reopen()
    stored = await stores.intakes.get(intake.number)
    assert stored is not None
    told, relayed = stored.history[-2:]
    assert (told.by, told.actor, told.detail) == (
        "Carla Coördinator [4242]",
        COORD,
        "Bel je morgen?",
    )
    assert (relayed.by, relayed.actor, relayed.messages) == ("bot", None, [MessageRef(4242, 17)])


@BOTH
async def test_a_message_the_bot_sent_is_found_through_the_index(harness: Harness) -> None:
    first = await harness.stores.intakes.add(make_intake("Anna", user_id=7))
    second = await harness.stores.intakes.add(make_intake("Bram", user_id=8))
    now = harness.clock.now()
    await harness.stores.intakes.record(
        first.number,
        HistoryEntry.new(now, HistoryAction.NOTE_ASKED, messages=[MessageRef(GROUP, 5)]),
    )
    await harness.stores.intakes.record(
        second.number, HistoryEntry.new(now, HistoryAction.DELIVERED, messages=[MessageRef(8, 9)])
    )
    # A view in a private chat is not something anybody replies to: not looked up.
    await harness.stores.intakes.record(
        second.number, HistoryEntry.new(now, HistoryAction.VIEWED, messages=[MessageRef(4242, 3)])
    )
    for stores in (harness.stores, await harness.reopen()):
        found = await stores.intakes.by_message(GROUP, 5)
        assert found is not None
        assert (found.number, found.action) == (first.number, HistoryAction.NOTE_ASKED)
        found = await stores.intakes.by_message(8, 9)
        assert found is not None
        assert (found.number, found.action) == (second.number, HistoryAction.DELIVERED)
        assert await stores.intakes.by_message(4242, 3) is None
        assert await stores.intakes.by_message(GROUP, 9) is None
    await harness.stores.intakes.delete_user(7)
    assert await harness.stores.intakes.by_message(GROUP, 5) is None


@BOTH
async def test_the_intake_a_coordinator_wrote_to_last(harness: Harness) -> None:
    intakes = harness.stores.intakes
    older = await intakes.add(make_intake("Anna", user_id=7))
    newer = await intakes.add(make_intake("Anna", user_id=7))
    other = await intakes.add(make_intake("Bram", user_id=8))
    start = harness.clock.now()
    assert await intakes.last_written_to(7, start - timedelta(days=14)) is None
    await intakes.update(newer.number, COORD.label, HistoryAction.TO_PERSON, "a", actor=COORD)
    harness.clock.advance(timedelta(days=1))
    await intakes.update(older.number, COORD.label, HistoryAction.TO_PERSON, "b", actor=COORD)
    await intakes.update(other.number, COORD.label, HistoryAction.TO_PERSON, "c", actor=COORD)
    stores = await harness.reopen()
    assert await stores.intakes.last_written_to(7, start) == older.number
    assert await stores.intakes.last_written_to(8, start) == other.number
    # Only within the window the caller gives.
    assert await stores.intakes.last_written_to(7, start + timedelta(days=2)) is None


@BOTH
async def test_a_delivery_that_failed_for_good_has_that_status(harness: Harness) -> None:
    box = harness.stores.outbox
    now = harness.clock.now()
    await box.put(make_delivery("lost", GROUP, now))
    await box.put(make_delivery("next", GROUP, now))
    await box.mark_failed("lost", "TelegramBadRequest: chat not found", None)
    stores = await harness.reopen()
    lost, waiting = await stores.outbox.pending()
    assert (lost.id, lost.status, lost.attempts) == ("lost", DeliveryStatus.FAILED, 1)
    assert waiting.status is DeliveryStatus.PENDING
    # It is never due again, and does not hold up the rest of its chat.
    assert [d.id for d in await stores.outbox.due(now + timedelta(days=365))] == ["next"]

"""The coordinators' outbox as the sender's source, on fake loop time (looptime): retries (429,
5xx, timeouts) written back, order per chat, the group pace, permanent errors, card edits after
their card and replacing each other, erasure while a delivery waits, restarts, and logs without
personal data."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot import handoff
from bot.delivery import DeliveryOutbox, is_permanent, summarize
from bot.sender import Limits
from flows.records import DeliveryStatus, parse_iso
from storage import open_stores
from tests.bot.coordinator_harness import (
    COORD,
    GROUP,
    PERSON,
    Coord,
    TimedSession,
    deliver_outbox,
    make_coord,
    outbox_source,
)
from tests.bot.intake_harness import FakeClock, build_harness
from tests.support.bot_api_state import BotApiError, BotApiState
from tests.support.session import network_error

PRIVATE_A = 7001
PRIVATE_B = 7002


async def put(coord: Coord, chat_id: int, text: str) -> str:
    services = coord.h.services
    delivery = handoff.new_delivery(services, chat_id, "sendMessage", {"text": text})
    await services.outbox.put(delivery)
    return delivery.id


def delivered_texts(coord: Coord, chat_id: int | None = None) -> list[str]:
    return [
        r.params["text"]
        for r in coord.session.requests
        if r.ok and r.name == "sendMessage" and (chat_id is None or r.chat_id == str(chat_id))
    ]


def attempts(coord: Coord, method: str = "sendMessage") -> list[tuple[str, bool, float]]:
    """(text, ok, seconds since the first request) of every attempt, in order."""
    start = coord.session.times[0] if coord.session.times else 0.0
    return [
        (r.params.get("text", ""), r.ok, t - start)
        for r, t in zip(coord.session.requests, coord.session.times, strict=True)
        if r.name == method
    ]


def times_of(coord: Coord, chat_id: int) -> list[float]:
    return [
        t
        for r, t in zip(coord.session.requests, coord.session.times, strict=True)
        if r.chat_id == str(chat_id)
    ]


@pytest.mark.looptime
async def test_429_waits_retry_after_and_keeps_the_order(coord: Coord) -> None:
    for i in range(3):
        await put(coord, GROUP, f"m{i}")
    coord.session.fail_next("sendMessage", BotApiError.retry_after_seconds(30))
    await coord.deliver()
    assert delivered_texts(coord) == ["m0", "m1", "m2"]
    tried = attempts(coord)
    assert [(text, ok) for text, ok, _ in tried] == [
        ("m0", False),
        ("m0", True),
        ("m1", True),
        ("m2", True),
    ]
    assert tried[1][2] >= 30  # not before Telegram said so
    assert await coord.h.deliveries() == []


@pytest.mark.looptime
async def test_a_waiting_delivery_is_written_back_and_never_put_twice(coord: Coord) -> None:
    first = await put(coord, GROUP, "once")
    await put(coord, GROUP, "after")
    coord.session.fail_next("sendMessage", BotApiError.retry_after_seconds(30))
    assert await coord.source.refresh() == 2
    # Read again (a wake-up, the periodic read): what the sender holds is not put again.
    assert await coord.source.refresh() == 0
    await asyncio.sleep(1)  # the first attempt was refused; the chat waits 30 s
    waiting = {d.id: d for d in await coord.h.deliveries()}
    assert waiting[first].attempts == 1
    assert waiting[first].last_error.startswith("TelegramRetryAfter")
    assert parse_iso(waiting[first].next_attempt_at) == coord.h.clock.now() + timedelta(seconds=30)
    assert summarize(list(waiting.values()), coord.h.clock.now()).last_error == (
        "TelegramRetryAfter"
    )
    coord.h.clock.advance(timedelta(seconds=31))  # due by the stored time, but still held
    assert await coord.source.refresh() == 0
    assert coord.h.sender.waiting() == 2
    await coord.deliver()
    assert delivered_texts(coord) == ["once", "after"]
    assert await coord.h.deliveries() == []


@pytest.mark.looptime
async def test_server_errors_and_timeouts_back_off_and_lose_nothing(coord: Coord) -> None:
    await put(coord, PRIVATE_A, "card")
    await put(coord, PRIVATE_A, "after")
    coord.session.fail_next("sendMessage", BotApiError.server_error(502, "Bad Gateway"), times=2)
    coord.session.fail_next("sendMessage", network_error(), times=2)
    await coord.deliver()
    assert delivered_texts(coord) == ["card", "after"]
    tried = attempts(coord)
    assert [ok for _, ok, _ in tried] == [False, False, False, False, True, True]
    gaps = [tried[i + 1][2] - tried[i][2] for i in range(4)]
    for gap, base in zip(gaps, (1, 2, 4, 8), strict=True):
        assert base - 0.01 <= gap <= base * 1.25 + 0.01  # exponential backoff with jitter
    assert await coord.h.deliveries() == []


@pytest.mark.looptime
async def test_a_waiting_chat_keeps_its_order_while_other_chats_go_on(coord: Coord) -> None:
    await put(coord, PRIVATE_A, "a1")
    await put(coord, PRIVATE_B, "b1")
    await put(coord, PRIVATE_A, "a2")
    coord.session.fail_next("sendMessage", BotApiError.server_error())
    await coord.deliver()
    assert delivered_texts(coord) == ["b1", "a1", "a2"]
    assert delivered_texts(coord, PRIVATE_A) == ["a1", "a2"]


@pytest.mark.looptime
async def test_group_pace_holds_twenty_a_minute(tmp_path: Path) -> None:
    coord = await make_coord(tmp_path, limits=Limits())
    try:
        for i in range(45):
            await put(coord, GROUP, f"g{i}")
        for i in range(3):
            await put(coord, PRIVATE_A, f"p{i}")
        await coord.deliver()
        assert delivered_texts(coord, GROUP) == [f"g{i}" for i in range(45)]
        assert delivered_texts(coord, PRIVATE_A) == ["p0", "p1", "p2"]
        times = times_of(coord, GROUP)
        for start in times:
            assert len([t for t in times if start <= t < start + 60]) <= 20
        assert times[-1] - times[0] >= 120  # 45 messages: three minutes' worth
        # A person is not kept waiting behind the group.
        assert times_of(coord, PRIVATE_A)[-1] < times[20]
    finally:
        await coord.h.close()


@pytest.mark.looptime
async def test_pace_counts_direct_answers_in_the_group(tmp_path: Path) -> None:
    coord = await make_coord(tmp_path, limits=Limits())
    try:
        for _ in range(20):
            await coord.say(COORD, "/wachtrij")
        answers = times_of(coord, GROUP)
        assert len(answers) == 20
        await put(coord, GROUP, "after the burst")
        await coord.deliver()
        [sent_at] = [
            t
            for r, t in zip(coord.session.requests, coord.session.times, strict=True)
            if r.params.get("text") == "after the burst"
        ]
        assert sent_at - answers[0] >= 60
    finally:
        await coord.h.close()


async def test_permanent_errors_are_not_retried_and_are_reported(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    coord.session.state.block(PERSON)
    await handoff.queue_to_person(coord.h.services, await coord.intake(intake.number), "Hallo")
    await coord.deliver()
    [failed] = await coord.h.deliveries()
    assert is_permanent(failed)
    assert "TelegramForbiddenError" in failed.last_error
    assert failed.attempts == 1
    [notice] = [
        r
        for r in coord.sent_to(GROUP, method="sendMessage")
        if "niet worden bezorgd" in r.params["text"]
    ]
    assert '"message_id":' + str(card_id) in notice.params["reply_parameters"].replace(" ", "")
    history = [e.action for e in (await coord.intake(intake.number)).history]
    assert "niet-bezorgd" in history

    coord.h.clock.advance(timedelta(days=2))
    before = len(coord.session.requests)
    await coord.deliver()
    assert coord.session.requests[before:] == []  # never tried again

    summary = summarize(await coord.h.deliveries(), coord.h.clock.now())
    assert (summary.waiting, summary.failed, summary.last_error) == (0, 1, "TelegramForbiddenError")
    mark = coord.mark()
    await coord.say(COORD, "/wachtrij")
    text = coord.sent_to(GROUP, mark, "sendMessage")[0].params["text"]
    assert "Definitief mislukt: 1" in text
    assert "TelegramForbiddenError" in text


async def test_chat_not_found_is_permanent_and_does_not_block_the_chat(coord: Coord) -> None:
    await put(coord, GROUP, "lost")
    await put(coord, GROUP, "next")
    coord.session.fail_next("sendMessage", BotApiError.chat_not_found())
    await coord.deliver()
    assert delivered_texts(coord) == ["next"]
    [failed] = await coord.h.deliveries()
    assert failed.status is DeliveryStatus.FAILED
    assert "chat not found" in failed.last_error
    assert await coord.h.stores.outbox.due(coord.h.clock.now() + timedelta(days=365)) == []


@pytest.mark.looptime
async def test_a_card_edit_waits_for_its_card_and_edits_that_message(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.h.stores.intakes.update(
        intake.number, "x", "status", status=None, assignee_name="Bo"
    )
    await handoff.queue_card_update(coord.h.services, await coord.intake(intake.number))
    coord.session.fail_next("sendMessage", BotApiError.retry_after_seconds(5))
    await coord.deliver()
    names = [(r.name, r.ok) for r in coord.session.requests]
    assert names == [("sendMessage", False), ("sendMessage", True), ("editMessageText", True)]
    card_id = await coord.card_id(intake.number)
    assert coord.session.requests[-1].params["message_id"] == str(card_id)
    assert "👤 Bo" in coord.message(GROUP, card_id)["text"]


async def test_a_card_edit_whose_card_never_left_fails_for_good(coord: Coord) -> None:
    intake = await coord.add_intake(queue=False)
    await handoff.queue_card_update(coord.h.services, intake)
    await coord.deliver()
    assert coord.session.requests == []  # nothing to edit: Telegram is not even asked
    [failed] = await coord.h.deliveries()
    assert is_permanent(failed)
    assert "Undeliverable" in failed.last_error


async def test_a_later_card_edit_replaces_one_that_has_not_left(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    for name in ("Bo", "Cas"):
        await coord.h.stores.intakes.update(intake.number, "x", "status", assignee_name=name)
        await handoff.queue_card_update(coord.h.services, await coord.intake(intake.number))
    mark = coord.mark()
    await coord.deliver()
    [edit] = coord.sent_to(GROUP, mark, "editMessageText")
    assert "👤 Cas" in edit.params["text"]
    assert "👤 Cas" in coord.message(GROUP, card_id)["text"]
    assert await coord.h.deliveries() == []  # the replaced edit counts as delivered


async def test_an_unchanged_card_edit_counts_as_delivered(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    await handoff.queue_card_update(coord.h.services, await coord.intake(intake.number))
    await coord.deliver()
    [edit] = coord.session.requests_of("editMessageText")
    assert not edit.ok  # "message is not modified"
    assert await coord.h.deliveries() == []


@pytest.mark.looptime
async def test_a_delivery_erased_while_it_waits_is_never_sent(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    coord.session.fail_next("sendMessage", BotApiError.retry_after_seconds(30))
    for text in ("Eerste", "Tweede"):
        await handoff.queue_to_person(coord.h.services, intake, text)
    assert await coord.source.refresh() == 2
    await asyncio.sleep(1)  # the first was refused; both wait in the sender
    assert await coord.h.stores.outbox.delete_user(PERSON) == 3  # the erasure: card and both
    await coord.h.settle()
    tried = [r for r in coord.session.requests_of("sendMessage") if r.chat_id == str(PERSON)]
    assert [r.ok for r in tried] == [False]
    assert coord.h.sender.stats.dropped == 2


async def test_a_chat_that_waited_before_a_restart_waits_on(coord: Coord) -> None:
    clock = coord.h.clock
    first = await put(coord, PRIVATE_A, "a1")
    await put(coord, PRIVATE_A, "a2")
    await put(coord, PRIVATE_B, "b1")
    # Refused by the process before this one: a1 may go again in 30 s, and a2 not before it.
    await coord.h.stores.outbox.mark_failed(
        first, "TelegramRetryAfter: retry after 30", clock.now() + timedelta(seconds=30)
    )
    await coord.deliver()
    assert delivered_texts(coord) == ["b1"]
    clock.advance(timedelta(seconds=30))
    await coord.deliver()
    assert delivered_texts(coord) == ["b1", "a1", "a2"]
    assert await coord.h.deliveries() == []


async def test_the_outbox_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clock = FakeClock()
    stores = await open_stores(data, clock, retention_days=365, conversation_days=30)
    h = await build_harness(data, stores=stores, clock=clock, COORDINATOR_IDS=frozenset({COORD}))
    first = Coord(h, outbox_source(h), TimedSession(BotApiState()))
    intake = await first.add_intake()
    await h.close()  # the process stops before the outbox was read

    reopened = await open_stores(data, clock, retention_days=365, conversation_days=30)
    session = TimedSession(BotApiState())
    h2 = await build_harness(data, stores=reopened, clock=clock, session=session)
    try:
        await deliver_outbox(h2)
        [card] = [r for r in session.requests if r.name == "sendMessage"]
        assert intake.number in card.params["text"]
        stored = await reopened.intakes.get(intake.number)
        assert stored is not None
        assert stored.card_message_id == card.result.message_id
        assert list(await reopened.outbox.pending()) == []
    finally:
        await h2.close()


@pytest.mark.looptime
async def test_logs_say_what_is_pending_without_personal_data(
    coord: Coord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    intake = await coord.add_intake(name="Zoë Geheim")
    await coord.deliver()
    coord.session.fail_next("sendMessage", BotApiError.server_error(), times=3)
    await handoff.queue_to_person(
        coord.h.services, await coord.intake(intake.number), "Zoë, bel 0612345678"
    )
    await coord.deliver()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "outbox: 1 waiting (0 group, 1 private)" in text
    assert "failed: TelegramServerError" in text
    for secret in ("Zoë", "Geheim", "0612345678", str(PERSON)):
        assert secret not in text


async def test_the_running_source_wakes_when_something_is_queued(coord: Coord) -> None:
    source = DeliveryOutbox(coord.h.services, coord.h.sender)
    task = asyncio.create_task(source.run())
    try:
        await asyncio.sleep(0.05)  # the first read found nothing; now it waits up to 30 s
        started = asyncio.get_running_loop().time()
        intake = await coord.add_intake()
        for _ in range(100):
            if (await coord.intake(intake.number)).card_message_id is not None:
                break
            await asyncio.sleep(0.01)
        assert (await coord.intake(intake.number)).card_message_id is not None
        assert asyncio.get_running_loop().time() - started < 5  # woken, not polled
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

"""Retention and erasure delete for real: afterwards no file under the data dir holds the person."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey

from flows.records import Status
from storage import open_stores, run_retention
from tests.storage.conftest import BOTH, FakeClock, Harness, make_delivery, make_intake

OLD = {"name": "Fenna Zwartkop", "phone": "0612345678", "email": "fenna@zwartkop.example"}
OLD_USER = 987654321
NEW = {"name": "Gerrit Blauwhoed", "phone": "0687654321", "email": "gerrit@blauwhoed.example"}
NEW_USER = 123456789


def scan(data_dir: Path, needles: list[str]) -> list[str]:
    """Every (file, needle) where a needle occurs in a file's name or bytes."""
    hits = []
    for path in data_dir.rglob("*"):
        if path.is_file():
            blob = path.read_bytes() + path.name.encode()
            hits += [f"{path}: {n}" for n in needles if n.encode() in blob]
    return hits


async def seed_person(h: Harness, person: dict[str, str], user_id: int, age: timedelta) -> str:
    clock = h.clock
    start = clock.now()
    clock.moment = start - age
    intake = await h.stores.intakes.add(
        make_intake(person["name"], user_id=user_id, answers=dict(person), created_at=clock.now())
    )
    key = StorageKey(bot_id=1, chat_id=user_id, user_id=user_id)
    await h.stores.conversations.set_state(key, "Form:phone")
    await h.stores.conversations.update_data(
        key, {"phone": person["phone"], "mail": person["email"]}
    )
    text = f"Nieuwe aanmelding {person['name']} {person['phone']}"
    await h.stores.outbox.put(
        make_delivery(f"card-{user_id}", -1001, clock.now(), intake_number=intake.number, text=text)
    )
    await h.stores.outbox.put(
        make_delivery(f"ack-{user_id}", user_id, clock.now(), user_id=user_id)
    )
    await h.stores.outbox.mark_delivered(f"ack-{user_id}", clock.now())
    clock.moment = start
    return intake.number


def needles(person: dict[str, str], user_id: int) -> list[str]:
    return [*person.values(), str(user_id)]


@BOTH
async def test_purge_deletes_old_intakes_idle_conversations_and_their_deliveries(
    harness: Harness,
) -> None:
    old = await seed_person(harness, OLD, OLD_USER, timedelta(days=40))
    new = await seed_person(harness, NEW, NEW_USER, timedelta(days=1))
    if harness.data_dir is not None:
        assert scan(harness.data_dir, needles(OLD, OLD_USER))  # the scan does find them
    report = await harness.stores.purge(harness.clock.now())
    assert (report.intakes, report.conversations) == (1, 1)
    assert report.deliveries == 2  # the group card about the intake and the delivered ack
    stores = await harness.reopen()
    assert await stores.intakes.get(old) is None
    assert await stores.intakes.get(new) is not None
    assert await stores.conversations.get_state(StorageKey(1, OLD_USER, OLD_USER)) is None
    assert await stores.conversations.get_state(StorageKey(1, NEW_USER, NEW_USER)) == "Form:phone"
    assert [d.id for d in await stores.outbox.pending()] == [f"card-{NEW_USER}"]
    if harness.data_dir is not None:
        assert scan(harness.data_dir, needles(OLD, OLD_USER)) == []
        assert scan(harness.data_dir, needles(NEW, NEW_USER))


@BOTH
async def test_erase_user_removes_every_copy(harness: Harness) -> None:
    await seed_person(harness, OLD, OLD_USER, timedelta(days=2))
    number = await seed_person(harness, NEW, NEW_USER, timedelta(days=1))
    report = await harness.stores.erase_user(NEW_USER)
    assert report.numbers == [number]
    assert report.conversations == 1
    assert report.deliveries == 2
    stores = await harness.reopen()
    assert await stores.intakes.for_user(NEW_USER) == []
    assert await stores.intakes.search_name("blauwhoed") == []
    # The one erasure (flows.usecases.erase) leaves a tombstone: the number, nothing personal.
    kept, stone = await stores.intakes.all()
    assert kept.user_id == OLD_USER
    assert (stone.number, stone.user_id, stone.name, stone.answers) == (number, 0, "", {})
    assert stone.status == Status.INGETROKKEN
    if harness.data_dir is not None:
        assert scan(harness.data_dir, needles(NEW, NEW_USER)) == []
        assert scan(harness.data_dir, needles(OLD, OLD_USER))


async def test_run_retention_loop(tmp_path: Path) -> None:
    clock = FakeClock()
    stores = await open_stores(tmp_path / "d", clock, retention_days=28, conversation_days=7)
    await stores.conversations.set_state(StorageKey(1, 5, 5), "Form:q")
    task = asyncio.create_task(run_retention(stores, clock, timedelta(milliseconds=20)))
    await asyncio.sleep(0.05)
    assert await stores.conversations.count() == 1
    clock.advance(timedelta(days=8))
    for _ in range(100):
        if await stores.conversations.count() == 0:
            break
        await asyncio.sleep(0.01)
    assert await stores.conversations.count() == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stores.close()


async def test_logs_hold_no_personal_data(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    data = tmp_path / "data"
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    h = Harness("tinydb", clock, stores, data)
    number = await seed_person(h, OLD, OLD_USER, timedelta(days=40))
    await h.stores.intakes.update(number, "coord", "status", "opgepakt")
    await h.stores.purge(clock.now())
    await seed_person(h, NEW, NEW_USER, timedelta(days=1))
    await h.stores.close()
    (journal,) = (data / "conversations").glob("journal-*.jsonl")
    journal.write_bytes(b"{\n" + journal.read_bytes())  # a bad line before the good ones
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    assert len(stores.problems) == 1
    await stores.erase_user(NEW_USER)
    await stores.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "intakes opened" in text  # the logs do say what happened
    assert number in text
    for needle in [*needles(OLD, OLD_USER), *needles(NEW, NEW_USER)]:
        assert needle not in text

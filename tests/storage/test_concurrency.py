"""Many chats at once, and two updates of one chat at once: nothing lost, order kept."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from aiogram.fsm.storage.base import StorageKey

from tests.storage.conftest import BOTH, Harness, make_delivery, make_intake


@BOTH
async def test_many_chats_write_at_once(harness: Harness) -> None:
    conv = harness.stores.conversations

    async def chat(n: int) -> None:
        key = StorageKey(bot_id=1, chat_id=n, user_id=n)
        for step in range(5):
            await conv.set_state(key, f"Form:q{step}")
            await conv.update_data(key, {f"a{step}": n})

    await asyncio.gather(*(chat(n) for n in range(200)))
    conv = (await harness.reopen()).conversations
    assert await conv.count() == 200
    for n in range(200):
        key = StorageKey(bot_id=1, chat_id=n, user_id=n)
        assert await conv.get_state(key) == "Form:q4"
        assert await conv.get_data(key) == {f"a{s}": n for s in range(5)}


@BOTH
async def test_two_updates_of_one_chat_both_land_in_order(harness: Harness) -> None:
    conv = harness.stores.conversations
    key = StorageKey(bot_id=1, chat_id=9, user_id=9)
    for _ in range(20):
        await asyncio.gather(
            conv.update_data(key, {"first": 1, "last": "a"}),
            conv.update_data(key, {"second": 2, "last": "b"}),
        )
        assert await conv.get_data(key) == {"first": 1, "second": 2, "last": "b"}
    counts = await asyncio.gather(*(conv.update_data(key, {f"k{i}": i}) for i in range(100)))
    assert len(counts[-1]) == 103  # every update saw all the earlier ones
    conv = (await harness.reopen()).conversations
    assert len(await conv.get_data(key)) == 103


@BOTH
async def test_concurrent_intakes_and_updates(harness: Harness) -> None:
    repo = harness.stores.intakes
    added = await asyncio.gather(*(repo.add(make_intake(f"N{n}", user_id=n)) for n in range(60)))
    numbers = sorted(i.number for i in added)
    assert numbers == [f"K-2026-{n:04d}" for n in range(1, 61)]
    target = added[0].number
    await asyncio.gather(*(repo.update(target, "coord", "note", str(n)) for n in range(30)))
    repo = (await harness.reopen()).intakes
    got = await repo.get(target)
    assert got is not None
    assert [h.detail for h in got.history] == [str(n) for n in range(30)]


async def test_writes_leave_the_event_loop_thread(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TinyDB is synchronous: its file work must run in another thread than the event loop."""
    threads: list[int] = []
    names: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        threads.append(threading.get_ident())
        names.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    await harness.stores.intakes.add(make_intake())
    await harness.stores.intakes.update("K-2026-0001", "coord", "view")
    await harness.stores.conversations.set_state(StorageKey(1, 1, 1), "Form:q")
    await harness.stores.outbox.put(make_delivery("d", 1, harness.clock.now()))
    assert len(threads) >= 7  # the conversation step is one journal fsync
    assert threading.get_ident() not in threads
    assert names.count("conversations") == 1  # its own writer thread

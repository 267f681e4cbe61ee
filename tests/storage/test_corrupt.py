"""A corrupt file found at start-up is reported with its path and moved aside, never emptied."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey

from storage import open_stores
from storage.outbox import pending_file_name
from tests.storage.conftest import FakeClock, make_delivery, make_intake


async def test_corrupt_files_reported_and_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    clock = FakeClock()
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    kept = await stores.intakes.add(
        make_intake("Blijft", created_at=clock.now() - timedelta(days=40))
    )
    await stores.intakes.add(make_intake("Kapot"))
    await stores.conversations.set_state(StorageKey(1, 5, 5), "Form:q")
    await stores.conversations.set_state(StorageKey(1, 6, 6), "Form:q")
    await stores.outbox.put(make_delivery("d1", 5, clock.now()))
    await stores.close()

    broken_partition = data / "intakes" / "2026-11-001.json"
    broken_partition.write_bytes(broken_partition.read_bytes()[:-20])  # torn: "Extra data" kind
    # A bad line in the middle of the journal (a torn last line would be an unfinished write).
    conversation = data / "conversations" / "journal-1.jsonl"
    first, second = conversation.read_bytes().splitlines()
    conversation.write_bytes(first[:40] + b"\n" + second + b"\n")
    pending = data / "outbox" / "pending" / pending_file_name("d1")
    pending.write_text("[1, 2, 3]")
    (data / "intakes" / "counters.json").write_bytes(b"\x00\x00\x00")

    caplog.set_level(logging.WARNING, logger="baanwijzer.storage")
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    try:
        broken = [broken_partition, conversation, pending]
        broken.append(data / "intakes" / "counters.json")
        assert len(stores.problems) == 4
        for path in broken:
            assert any(str(path) in p for p in stores.problems), path
            assert any(str(path) in r.getMessage() for r in caplog.records), path
            assert not path.exists()
            (aside,) = path.parent.glob(path.name + ".corrupt-*")
            assert aside.stat().st_size > 0  # moved, not emptied
        # What was not corrupt is still there, and the stores work.
        assert (await stores.intakes.get(kept.number)) is not None
        assert await stores.conversations.get_state(StorageKey(1, 6, 6)) == "Form:q"
        assert await stores.conversations.get_state(StorageKey(1, 5, 5)) is None
        new = await stores.intakes.add(make_intake("Nieuw"))
        assert new.number.startswith("K-2026-")
    finally:
        await stores.close()


async def test_corrupt_files_are_deleted_by_retention_later(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clock = FakeClock()
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    await stores.conversations.set_state(StorageKey(1, 5, 5), "Form:q")
    await stores.close()
    (data / "conversations" / "snapshot-1.jsonl").write_text("nonsense")
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    assert len(stores.problems) == 1
    assert (await stores.purge(clock.now())).quarantined_files == 0
    report = await stores.purge(clock.now() + timedelta(days=29))
    assert report.quarantined_files == 1
    assert list(data.rglob("*.corrupt-*")) == []
    await stores.close()

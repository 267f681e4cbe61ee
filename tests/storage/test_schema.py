"""Every record carries its schema; one written by a newer version of the bot is refused, and
the problem says so (no layout before the current one ever shipped: nothing is migrated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.records import INTAKE_SCHEMA, OUTBOX_SCHEMA
from storage import open_stores
from storage.migrations import FutureSchemaError, check_schema
from storage.outbox import pending_file_name
from tests.storage.conftest import FakeClock, make_delivery, make_intake


async def test_records_of_a_newer_version_are_refused_and_reported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clock = FakeClock()
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    newer = await stores.intakes.add(make_intake("Van Later"))
    await stores.outbox.put(make_delivery("d1", 5, clock.now()))
    await stores.close()
    partition = data / "intakes" / "2026-11-001.json"
    content = json.loads(partition.read_text())
    content["intakes"]["1"]["schema"] = INTAKE_SCHEMA + 1
    partition.write_text(json.dumps(content))
    pending = data / "outbox" / "pending" / pending_file_name("d1")
    record = json.loads(pending.read_text())
    record["schema"] = OUTBOX_SCHEMA + 1
    pending.write_text(json.dumps(record))

    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    try:
        assert len(stores.problems) == 2
        for problem, path in zip(sorted(stores.problems), [partition, pending], strict=True):
            assert str(path) in problem
            assert "newer version of the bot" in problem
        assert await stores.intakes.get(newer.number) is None
        assert await stores.outbox.pending() == []
        # Moved aside, not emptied: the newer version can still read them.
        [kept] = (data / "intakes").glob("2026-11-001.json.corrupt-*")
        assert json.loads(kept.read_text())["intakes"]["1"]["name"] == "Van Later"
        assert len(list((data / "outbox" / "pending").glob("*.corrupt-*"))) == 1
    finally:
        await stores.close()


def test_check_schema() -> None:
    current = {"schema": INTAKE_SCHEMA, "x": 1}
    assert check_schema("intake", current) is current
    with pytest.raises(FutureSchemaError, match="newer version"):
        check_schema("intake", {"schema": INTAKE_SCHEMA + 1})
    for other in ({}, {"schema": 0}, {"schema": "1"}, {"schema": True}):
        with pytest.raises(ValueError, match="is not"):
            check_schema("delivery", other)

"""Retention after an intake is closed (issue 12, item 10).

Without the person's consent a closed intake is deleted `after_close_days` after it was closed;
with the consent (asked at the end of the intake) it is kept up to `retention_days` after it was
sent; an intake that is never closed goes at `retention_days` too. Every test runs on the memory
and the TinyDB stores, and the file stores are opened again from disk before the purge, so the
index snapshot must carry what retention needs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.records import ConsentRecord, Intake, Status, utc_iso
from storage import Stores, intakes, open_stores
from tests.storage.conftest import BOTH, FakeClock, Harness, make_intake

DAY = timedelta(days=1)
T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def with_keep_consent(intake: Intake, given: bool = True) -> Intake:
    intake.consents = [
        ConsentRecord("general", "2026-12.1", "abc", utc_iso(T0)),
        ConsentRecord("retention", "2026-12.1", "def", utc_iso(T0), given),
    ]
    return intake


async def close(harness: Harness, number: str, status: Status = Status.AFGESLOTEN) -> Intake:
    closed = await harness.stores.intakes.update(number, "Coördinator", "status", status=status)
    assert closed is not None
    return closed


async def reopen(harness: Harness) -> Stores:
    """The stores opened again from disk, with the bot's default periods: kept up to a year,
    and 4 weeks after closing."""
    stores = await harness.reopen()
    stores.retention_days, stores.after_close_days = 365, 28
    return stores


async def survivors(harness: Harness, days_after_t0: float) -> set[str]:
    """Open the stores again, purge at T0 + days, and say which intakes are left."""
    stores = await reopen(harness)
    await stores.purge(T0 + timedelta(days=days_after_t0))
    return {i.number for i in await stores.intakes.all()}


@BOTH
async def test_a_closed_intake_goes_four_weeks_after_closing(harness: Harness) -> None:
    repo = harness.stores.intakes
    intake = await repo.add(make_intake("Sam"))
    other = await repo.add(make_intake("Open", user_id=2002))
    harness.clock.advance(10 * DAY)
    closed = await close(harness, intake.number)
    assert closed.closed_at == utc_iso(T0 + 10 * DAY)

    assert await survivors(harness, 10 + 27) == {intake.number, other.number}
    assert await survivors(harness, 10 + 29) == {other.number}  # the open one stays


@BOTH
async def test_with_the_consent_a_closed_intake_stays_up_to_a_year(harness: Harness) -> None:
    repo = harness.stores.intakes
    kept = await repo.add(with_keep_consent(make_intake("Keep")))
    refused = await repo.add(with_keep_consent(make_intake("No", user_id=2002), given=False))
    harness.clock.advance(DAY)
    await close(harness, kept.number)
    await close(harness, refused.number)

    assert await survivors(harness, 60) == {kept.number}  # a consent not given keeps nothing
    assert await survivors(harness, 364) == {kept.number}
    assert await survivors(harness, 366) == set()


@BOTH
async def test_an_open_intake_goes_at_the_longest_period(harness: Harness) -> None:
    intake = await harness.stores.intakes.add(make_intake("Open"))
    assert await survivors(harness, 300) == {intake.number}
    assert await survivors(harness, 366) == set()


@BOTH
async def test_reopening_an_intake_stops_the_clock(harness: Harness) -> None:
    repo = harness.stores.intakes
    intake = await repo.add(make_intake("Back"))
    await close(harness, intake.number, Status.GEPLAATST)
    harness.clock.advance(5 * DAY)
    reopened = await close(harness, intake.number, Status.OPGEPAKT)
    assert reopened.closed_at == ""
    assert await survivors(harness, 40) == {intake.number}


@BOTH
async def test_closing_again_keeps_the_first_closing_time(harness: Harness) -> None:
    repo = harness.stores.intakes
    intake = await repo.add(make_intake("Twice"))
    await close(harness, intake.number, Status.GEPLAATST)
    harness.clock.advance(20 * DAY)
    again = await close(harness, intake.number, Status.AFGESLOTEN)
    assert again.closed_at == utc_iso(T0)
    assert await survivors(harness, 29) == set()


async def test_an_intake_closed_before_closed_at_was_kept_counts_from_its_last_change(
    tmp_path: Path,
) -> None:
    # Stored by an earlier version: closed, but without `closed_at`.
    clock = FakeClock(T0)
    data = tmp_path / "data"
    stores = await open_stores(data, clock, retention_days=365, conversation_days=7)
    intake = await stores.intakes.add(make_intake("Old"))
    await stores.intakes.update(intake.number, "x", "status", status=Status.AFGESLOTEN)
    await stores.close()
    for part in (data / "intakes").glob("2026-11-*.json"):
        doc = json.loads(part.read_text(encoding="utf-8"))
        for record in doc["intakes"].values():
            record.pop("closed_at", None)
        part.write_text(json.dumps(doc), encoding="utf-8")
    shutil.rmtree(data / "intakes" / "index")

    stores = await open_stores(data, clock, retention_days=365, conversation_days=7)
    try:
        await stores.purge(T0 + 27 * DAY)
        assert await stores.intakes.get(intake.number) is not None
        await stores.purge(T0 + 29 * DAY)
        assert await stores.intakes.get(intake.number) is None
    finally:
        await stores.close()


async def test_the_index_snapshot_carries_closing_and_consent(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    data = tmp_path / "data"
    stores = await open_stores(data, clock, retention_days=365, conversation_days=7)
    kept = await stores.intakes.add(with_keep_consent(make_intake("Keep")))
    await stores.intakes.update(kept.number, "x", "status", status=Status.AFGESLOTEN)
    # Partitions written in the last moments are read again at open; make this one old, so
    # the next open takes its entries from the snapshot.
    an_hour_ago = time.time() - 3600
    for part in (data / "intakes").glob("2026-11-*.json"):
        os.utime(part, (an_hour_ago, an_hour_ago))
    await stores.close()
    index = data / "intakes" / "index" / "2026-11-001.json"
    snapshot = json.loads(index.read_text(encoding="utf-8"))
    [row] = snapshot["entries"]
    fields = snapshot["fields"]
    assert [row[fields.index("closed")], row[fields.index("keep")]] == [utc_iso(T0), True]
    assert snapshot["signature"]  # the partition's signature is in it: it will not be read
    # Proof that the snapshot's fields are what retention reads: say "no consent" there only.
    row[fields.index("keep")] = False
    index.write_text(json.dumps(snapshot), encoding="utf-8")
    stores = await open_stores(data, clock, retention_days=365, conversation_days=7)
    try:
        await stores.purge(T0 + 27 * DAY)
        assert await stores.intakes.get(kept.number) is not None
        await stores.purge(T0 + 29 * DAY)
        assert await stores.intakes.get(kept.number) is None
    finally:
        await stores.close()


async def test_an_intake_reopened_while_retention_runs_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The purge deletes a partition per turn of the writer thread here; the coordinator's
    # reopen lands after the purge picked both intakes and before it got to the second.
    monkeypatch.setattr(intakes, "PURGE_CHUNK", 1)
    clock = FakeClock(T0)
    stores = await open_stores(tmp_path / "data", clock, retention_days=365, conversation_days=7)
    try:
        october = T0 - 40 * DAY
        first = await stores.intakes.add(make_intake("Eerst", created_at=october))
        later = await stores.intakes.add(make_intake("Later", created_at=T0))
        for number in (first.number, later.number):
            await stores.intakes.update(number, "x", "status", status=Status.AFGESLOTEN)
        purged, reopened = await asyncio.gather(
            stores.intakes.purge_expired(T0 - 300 * DAY, T0 + 29 * DAY),
            stores.intakes.update(later.number, "x", "status", status=Status.OPGEPAKT),
        )
        assert purged == [first.number]
        assert reopened is not None
        kept = await stores.intakes.get(later.number)
        assert kept is not None
        assert kept.status is Status.OPGEPAKT
    finally:
        await stores.close()

"""The TinyDB layout: small partition files, one file written per intake write, an index
snapshot that spares reading unchanged partitions at open and never outlives an erasure."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.ports import IntakeFilter
from flows.records import IntakeKind, Status
from storage import open_stores
from storage.intakes import TinyIntakeRepository, _Partition
from tests.storage.conftest import FakeClock, make_intake


def stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in folder.iterdir()}


async def test_partitions_per_month_capped_and_one_file_per_write(tmp_path: Path) -> None:
    clock = FakeClock()
    folder = tmp_path / "intakes"
    repo = await TinyIntakeRepository.open(folder, clock, [], partition_cap=3)
    october = datetime(2026, 10, 5, tzinfo=UTC)
    for n in range(7):
        await repo.add(make_intake(f"N{n}", created_at=october + timedelta(hours=n)))
    first = await repo.add(make_intake("Nov"))
    names = sorted(p.name for p in folder.glob("2026-*.json"))
    assert names == ["2026-10-001.json", "2026-10-002.json", "2026-10-003.json", "2026-11-001.json"]
    before = stamps(folder)
    await repo.update(first.number, "coord", "view")
    after = stamps(folder)
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {"2026-11-001.json"}  # the update rewrote its own partition only
    before = stamps(folder)
    await repo.add(make_intake("Nov 2"))
    changed = {name for name in stamps(folder) if before.get(name) != stamps(folder)[name]}
    assert changed == {"2026-11-001.json"}  # the intake and its number in one write
    await repo.close()


async def test_numbers_survive_deleting_every_file_that_held_them(tmp_path: Path) -> None:
    clock = FakeClock()
    data = tmp_path / "data"
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    for n in range(3):
        await stores.intakes.add(make_intake(f"N{n}", user_id=9))
    await stores.intakes.add(make_intake("W", user_id=9, kind=IntakeKind.EMPLOYER))
    assert len(await stores.intakes.delete_user(9)) == 4
    await stores.close()
    assert list((data / "intakes").glob("2026-*.json")) == []
    shutil.rmtree(data / "intakes" / "index")  # only counters.json is left to remember
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    assert (await stores.intakes.add(make_intake("Next"))).number == "K-2026-0004"
    await stores.close()


async def test_open_reads_only_partitions_changed_since_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    data = tmp_path / "data"
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    for month in range(1, 7):
        created = datetime(2026, month, 3, tzinfo=UTC)
        await stores.intakes.add(make_intake(f"M{month}", created_at=created))
    await stores.close()
    old = os.stat(data / "intakes" / "2026-01-001.json").st_mtime_ns - 10_000_000_000
    for path in (data / "intakes").glob("2026-*.json"):  # as if written long ago
        os.utime(path, ns=(old, old))
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    await stores.close()  # this open saved a snapshot that trusts all six partitions

    # Change one partition behind the index's back (as a crash after a write would leave it).
    path = data / "intakes" / "2026-03-001.json"
    content = json.loads(path.read_text())
    content["intakes"]["1"]["name"] = "Veranderd"
    path.write_text(json.dumps(content))

    loaded: list[str] = []
    real_load = _Partition.load

    def spy(self: _Partition) -> list[object]:
        loaded.append(self.path.name)
        return real_load(self)  # type: ignore[return-value]

    monkeypatch.setattr(_Partition, "load", spy)
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    assert loaded == ["2026-03-001.json"]
    assert [i.name for i in await stores.intakes.search_name("veranderd")] == ["Veranderd"]
    assert await stores.intakes.search_name("M3") == []
    assert len(await stores.intakes.all()) == 6
    await stores.close()


def age_partitions(data: Path, pattern: str = "2026-*.json") -> None:
    """Make partitions look written an hour ago: a checkpoint writes index files only for
    partitions older than a moment (see FRESH_NS)."""
    an_hour_ago = time.time() - 3600
    for part in (data / "intakes").glob(pattern):
        os.utime(part, (an_hour_ago, an_hour_ago))


def index_text(data: Path) -> str:
    return "".join(p.read_text() for p in sorted((data / "intakes" / "index").iterdir()))


async def test_index_files_keep_no_erased_names(tmp_path: Path) -> None:
    clock = FakeClock()
    data = tmp_path / "data"
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    await stores.intakes.add(make_intake("Wilhelmina Zoekmij", user_id=55))
    await stores.intakes.add(make_intake("Blijft Staan", user_id=56))
    age_partitions(data)
    await stores.close()
    assert "zoekmij" in index_text(data)
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    await stores.erase_user(55)
    assert "zoekmij" not in index_text(data)
    age_partitions(data)
    await stores.intakes.checkpoint()
    assert "zoekmij" not in index_text(data)
    assert "blijft staan" in index_text(data)
    await stores.close()


async def test_corrupt_index_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    clock = FakeClock()
    data = tmp_path / "data"
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    added = await stores.intakes.add(make_intake("Eén"))
    await stores.close()
    index_file = data / "intakes" / "index" / "2026-11-001.json"
    index_file.write_text('{"schema": 3, "entries": [[1, 2]]')
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    assert len(stores.problems) == 1
    assert str(index_file) in stores.problems[0]
    assert await stores.intakes.get(added.number) is not None
    await stores.close()


async def test_more_partitions_than_the_cache_holds(tmp_path: Path) -> None:
    clock = FakeClock()
    folder = tmp_path / "intakes"
    repo = await TinyIntakeRepository.open(folder, clock, [], partition_cap=2, cached_partitions=2)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    added = [
        await repo.add(make_intake(f"N{n}", created_at=start + timedelta(days=9 * n)))
        for n in range(20)
    ]
    assert len(list(folder.glob("2026-*.json"))) >= 10
    for intake in added:
        await repo.update(intake.number, "coord", "view")
    got = [await repo.get(i.number) for i in reversed(added)]
    assert [g.name for g in got if g is not None] == [f"N{n}" for n in range(19, -1, -1)]
    assert all(g is not None and len(g.history) == 1 for g in got)
    assert [i.name for i in await repo.all()] == [f"N{n}" for n in range(20)]
    await repo.close()


async def test_checkpoint_writes_only_the_index_files_of_changed_partitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    data = tmp_path / "data"
    index_dir = data / "intakes" / "index"
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    added = [
        await stores.intakes.add(
            make_intake(f"M{month}", user_id=month, created_at=datetime(2026, month, 3, tzinfo=UTC))
        )
        for month in range(1, 7)
    ]
    age_partitions(data)
    await stores.intakes.checkpoint()
    first = stamps(index_dir)
    assert sorted(first) == [f"2026-0{month}-001.json" for month in range(1, 7)]

    await stores.intakes.update(added[2].number, "coord", "status", status=Status.OPGEPAKT)
    await stores.intakes.checkpoint()
    assert stamps(index_dir) == first  # written a moment ago: its index file comes next time
    age_partitions(data, "2026-03-001.json")
    await stores.intakes.checkpoint()
    second = stamps(index_dir)
    assert {name for name in second if second[name] != first[name]} == {"2026-03-001.json"}
    assert '"opgepakt"' in (index_dir / "2026-03-001.json").read_text()

    # What a kill leaves: a partition changed after its index file (this close cannot write it,
    # the partition is too fresh) and a partition whose index file is gone.
    await stores.intakes.update(added[4].number, "coord", "status", status=Status.AFGESLOTEN)
    await stores.close()
    (index_dir / "2026-02-001.json").unlink()
    loaded: list[str] = []
    real_load = _Partition.load

    def spy(self: _Partition) -> list[object]:
        loaded.append(self.path.name)
        return real_load(self)  # type: ignore[return-value]

    monkeypatch.setattr(_Partition, "load", spy)
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    try:
        assert loaded == ["2026-02-001.json", "2026-05-001.json"]
        assert stores.problems == []
        closed = await stores.intakes.list(IntakeFilter(status=Status.AFGESLOTEN))
        assert [i.number for i in closed.items] == [added[4].number]
        picked = await stores.intakes.list(IntakeFilter(status=Status.OPGEPAKT))
        assert [i.number for i in picked.items] == [added[2].number]
        assert [i.name for i in await stores.intakes.search_name("m")] == [
            f"M{month}" for month in range(6, 0, -1)
        ]
        assert [i.number for i in await stores.intakes.for_user(2)] == [added[1].number]
    finally:
        await stores.close()

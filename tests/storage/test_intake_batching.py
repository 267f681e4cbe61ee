"""Intake adds that arrive together are committed together (storage/intakes.py, `add`).

The writer thread takes every add that waits and writes each partition file they go to once.
These tests check what is stored and numbered, that a group shares writes, that the partition
cap still holds, and that a failed write fails exactly the adds it carried.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from storage.intakes import TinyIntakeRepository, _Partition
from tests.storage.conftest import FakeClock, make_intake


async def test_many_adds_at_once_share_writes_and_are_all_numbered_and_stored(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    original = _Partition.insert

    def counting(self: _Partition, docs: Any, counters: dict[str, int]) -> None:
        writes.append(len(docs))
        original(self, docs, counters)

    monkeypatch.setattr(_Partition, "insert", counting)
    repo = await TinyIntakeRepository.open(tmp_path / "intakes", clock, [], partition_cap=16)
    stored = await asyncio.gather(
        *(repo.add(make_intake(f"Persoon {i}", user_id=5000 + i)) for i in range(100))
    )

    numbers = [intake.number for intake in stored]
    assert sorted(numbers) == [f"K-2026-{n:04d}" for n in range(1, 101)]
    assert [intake.name for intake in stored] == [f"Persoon {i}" for i in range(100)]
    assert sum(writes) == 100
    assert len(writes) < 100  # grouped: far fewer file writes than intakes
    assert max(writes) <= 16  # never more than the cap into one file
    await repo.close()

    files = sorted(p.name for p in (tmp_path / "intakes").glob("2026-11-*.json"))
    assert len(files) == 7  # 100 intakes, 16 a file
    reopened = await TinyIntakeRepository.open(tmp_path / "intakes", clock, [], partition_cap=16)
    for intake in stored:
        again = await reopened.get(intake.number)
        assert again is not None
        assert again.name == intake.name
    assert await reopened.count() == 100
    await reopened.close()


async def test_a_failed_write_fails_its_adds_only_and_keeps_numbers_unique(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = await TinyIntakeRepository.open(tmp_path / "intakes", clock, [])
    first = await repo.add(make_intake("Eerste"))
    original = _Partition.insert
    failures = iter([True])

    def failing_once(self: _Partition, docs: Any, counters: dict[str, int]) -> None:
        if next(failures, False):
            raise OSError("disk full")
        original(self, docs, counters)

    monkeypatch.setattr(_Partition, "insert", failing_once)
    outcomes = await asyncio.gather(
        *(repo.add(make_intake(f"Tegelijk {i}", user_id=6000 + i)) for i in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(o, OSError) for o in outcomes)  # one group, one failed write
    later = await repo.add(make_intake("Later"))

    assert await repo.count() == 2
    assert {i.name for i in await repo.all()} == {"Eerste", "Later"}
    assert later.number > first.number
    await repo.close()
    reopened = await TinyIntakeRepository.open(tmp_path / "intakes", clock, [])
    assert {i.name for i in await reopened.all()} == {"Eerste", "Later"}
    await reopened.close()

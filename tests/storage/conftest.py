"""Fixtures for the storage tests: a fake clock and the stores, in memory and on TinyDB."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.records import Delivery, Intake, IntakeKind, utc_iso
from storage import Stores, memory_stores, open_stores


class FakeClock:
    """A clock whose `now` the test sets."""

    def __init__(self, now: datetime | None = None) -> None:
        self.moment = now or datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> datetime:
        self.moment += delta
        return self.moment


@dataclass
class Harness:
    kind: str
    clock: FakeClock
    stores: Stores
    data_dir: Path | None

    @property
    def persistent(self) -> bool:
        return self.data_dir is not None

    async def reopen(self) -> Stores:
        """Close and open again from disk (the same stores again for memory).

        The intake partitions are made to look an hour old first: a partition written a moment
        ago gets no index file (storage.intakes.FRESH_NS), and so the reopen takes every
        partition's index entries from its index file, as a restart of the bot mostly does."""
        if self.data_dir is None:
            return self.stores
        an_hour_ago = time.time() - 3600
        for partition in (self.data_dir / "intakes").glob("[0-9]*.json"):
            os.utime(partition, (an_hour_ago, an_hour_ago))
        await self.stores.close()
        self.stores = await open_stores(
            self.data_dir, self.clock, retention_days=28, conversation_days=7
        )
        return self.stores


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Harness]:
    kind = getattr(request, "param", "tinydb")
    if kind == "memory":
        h = Harness(kind, clock, memory_stores(clock, retention_days=28, conversation_days=7), None)
    else:
        stores = await open_stores(tmp_path / "data", clock, retention_days=28, conversation_days=7)
        h = Harness(kind, clock, stores, tmp_path / "data")
    yield h
    await h.stores.close()


BOTH = pytest.mark.parametrize("harness", ["memory", "tinydb"], indirect=True)


def make_intake(
    name: str = "Jan Jansen",
    *,
    user_id: int = 1001,
    kind: IntakeKind = IntakeKind.CANDIDATE,
    created_at: datetime | None = None,
    target_groups: list[str] | None = None,
    routes: list[str] | None = None,
    answers: dict[str, object] | None = None,
) -> Intake:
    return Intake(
        number="",
        kind=kind,
        created_at=utc_iso(created_at) if created_at else "",
        user_id=user_id,
        chat_id=user_id,
        language="nl",
        flow_version="2026.1",
        answers=dict(answers or {"naam": name, "werk": ["zorg", "groen"]}),
        outcome={"codes": ["A"]},
        name=name,
        target_groups=list(target_groups or []),
        routes=list(routes or []),
    )


def make_delivery(
    delivery_id: str,
    chat_id: int,
    at: datetime,
    *,
    user_id: int | None = None,
    intake_number: str | None = None,
    text: str = "hallo",
) -> Delivery:
    return Delivery(
        id=delivery_id,
        chat_id=chat_id,
        method="sendMessage",
        payload={"chat_id": chat_id, "text": text},
        created_at=utc_iso(at),
        next_attempt_at=utc_iso(at),
        user_id=user_id,
        intake_number=intake_number,
    )


def generation_files(folder: Path) -> dict[int, list[str]]:
    """generation -> names of its snapshot and journal files under `conversations/`."""
    found: dict[int, list[str]] = {}
    for path in folder.iterdir():
        stem, dash, number = path.name.partition(".")[0].partition("-")
        if dash and stem in ("snapshot", "journal") and number.isdigit():
            found.setdefault(int(number), []).append(path.name)
    return {gen: sorted(names) for gen, names in found.items()}


def conversations_on_disk(folder: Path) -> dict[str, dict[str, Any]]:
    """What the conversation files say, read the way docs/storage.md describes them (not with
    the store's code): key hash -> record, from the newest snapshot and its journal."""
    generation = max(generation_files(folder))
    header, *lines = (folder / f"snapshot-{generation}.jsonl").read_bytes().splitlines()
    assert json.loads(header) == {"schema": 2, "generation": generation}
    records: dict[str, dict[str, Any]] = {}
    for line in lines:
        entry = json.loads(line)
        records[entry["k"]] = entry["r"]
    journal = folder / f"journal-{generation}.jsonl"
    for line in journal.read_bytes().splitlines() if journal.exists() else []:
        entry = json.loads(line)
        if entry["r"] is None:
            records.pop(entry["k"], None)
        else:
            records[entry["k"]] = entry["r"]
    return records

"""The outbox layout: one small file per pending delivery, an append-only log per day of what
was delivered, so that put / mark_failed / mark_delivered cost the same at any queue length;
crash states in between resolved at open; the old `pending.json` layout converted at open."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.records import OUTBOX_SCHEMA
from storage import atomic
from storage import outbox as outbox_module
from storage.atomic import dumps
from storage.outbox import FileOutbox, delivered_record, pending_file_name
from tests.storage.conftest import FakeClock, make_delivery

HEX_NAME = re.compile(r"^[0-9a-f]{32}\.json$")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def day_lines(folder: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        p.name: [json.loads(line) for line in p.read_bytes().splitlines()]
        for p in sorted(folder.glob("delivered-*.jsonl"))
    }


async def test_each_write_touches_only_its_own_delivery(tmp_path: Path) -> None:
    clock = FakeClock()
    t0 = clock.now()
    folder = tmp_path / "outbox"
    box = await FileOutbox.open(folder, clock, [])
    await asyncio.gather(
        *(box.put(make_delivery(f"card-{n}", -100, t0, user_id=700 + n)) for n in range(30))
    )
    pending = folder / "pending"
    names = sorted(p.name for p in pending.iterdir())
    assert len(names) == 30
    assert all(HEX_NAME.match(n) for n in names)
    stored = json.loads((pending / pending_file_name("card-3")).read_text())
    assert stored["id"] == "card-3"
    assert stored["schema"] == OUTBOX_SCHEMA
    assert isinstance(stored["seq"], int)

    before = snapshot(pending)
    await box.mark_failed("card-3", "Bad Gateway", t0 + timedelta(minutes=1))
    after = snapshot(pending)
    assert {n for n in after if after[n] != before[n]} == {pending_file_name("card-3")}

    before = snapshot(pending)
    await box.put(make_delivery("card-new", -100, t0, user_id=800))
    after = snapshot(pending)
    assert set(after) - set(before) == {pending_file_name("card-new")}
    assert all(after[n] == before[n] for n in before)

    before = snapshot(pending)
    await box.mark_delivered("card-0", t0 + timedelta(seconds=5))
    after = snapshot(pending)
    assert set(before) - set(after) == {pending_file_name("card-0")}
    assert all(after[n] == before[n] for n in after)
    ((name, lines),) = day_lines(folder).items()
    assert name == "delivered-2026-11-29.jsonl"
    assert [(r["id"], r["payload"], r["delivered_at"]) for r in lines] == [
        ("card-0", {}, "2026-11-29T09:00:05+00:00")
    ]
    assert "hallo" not in (folder / name).read_text()  # the message text is not kept
    await box.mark_delivered("card-1", t0 + timedelta(seconds=6))
    assert [r["id"] for r in day_lines(folder)[name]] == ["card-0", "card-1"]  # appended
    await box.close()

    box = await FileOutbox.open(folder, clock, [])
    ids = [d.id for d in await box.pending()]
    assert ids == [f"card-{n}" for n in range(2, 30)] + ["card-new"]
    assert (await box.pending())[1].attempts == 1
    await box.close()


async def test_a_put_writes_one_small_file_whatever_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    t0 = clock.now()
    pending = tmp_path / "outbox" / "pending"
    pending.mkdir(parents=True)
    for n in range(3000):  # seeded as a queue of 3,000 would leave them, in reverse file order
        record = make_delivery(f"q-{n}", n % 7, t0).to_dict()
        (pending / pending_file_name(f"q-{n}")).write_bytes(dumps({"seq": n + 1, **record}))
    box = await FileOutbox.open(tmp_path / "outbox", clock, [])
    assert [d.id for d in await box.pending()][:3] == ["q-0", "q-1", "q-2"]
    assert len(await box.due(t0, limit=5)) == 5

    written: list[int] = []
    dir_syncs: list[Path] = []
    real_write, real_sync = atomic.atomic_write_bytes, atomic.fsync_dir

    def spy_write(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
        written.append(len(data))
        real_write(path, data, sync_dir=sync_dir)

    def spy_sync(path: Path) -> None:
        dir_syncs.append(path)
        real_sync(path)

    monkeypatch.setattr(outbox_module, "atomic_write_bytes", spy_write)
    monkeypatch.setattr(outbox_module, "fsync_dir", spy_sync)
    await box.put(make_delivery("new", 3, t0))
    assert len(written) == 1
    assert written[0] < 1000
    assert dir_syncs == [pending]
    written.clear()
    await asyncio.gather(*(box.put(make_delivery(f"new-{n}", 3, t0)) for n in range(20)))
    assert len(written) == 20
    assert len(dir_syncs) <= 3
    assert [d.id for d in await box.pending()][-21:] == ["new"] + [f"new-{n}" for n in range(20)]
    await box.close()


async def test_cut_off_mark_delivered_resolves_as_delivered(tmp_path: Path) -> None:
    clock = FakeClock()
    t0 = clock.now()
    folder = tmp_path / "outbox"
    box = await FileOutbox.open(folder, clock, [])
    await box.put(make_delivery("a", 1, t0))
    await box.put(make_delivery("b", 1, t0))
    file_a = folder / "pending" / pending_file_name("a")
    content = file_a.read_bytes()
    await box.mark_delivered("a", t0)
    await box.close()
    file_a.write_bytes(content)  # as if killed between the appended line and the delete

    problems: list[str] = []
    box = await FileOutbox.open(folder, clock, problems)
    assert problems == []
    assert [d.id for d in await box.pending()] == ["b"]
    assert not file_a.exists()
    assert [r["id"] for r in day_lines(folder)["delivered-2026-11-29.jsonl"]] == ["a"]
    await box.close()


async def test_unfinished_last_line_is_cut_off_and_the_delivery_stays_pending(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    t0 = clock.now()
    folder = tmp_path / "outbox"
    box = await FileOutbox.open(folder, clock, [])
    await box.put(make_delivery("a", 1, t0))
    await box.put(make_delivery("b", 1, t0))
    await box.mark_delivered("a", t0)
    await box.close()
    day = folder / "delivered-2026-11-29.jsonl"
    torn = dumps(delivered_record(make_delivery("b", 1, t0), t0))[:40]
    with day.open("ab") as handle:  # killed half-way through appending b's line
        handle.write(torn)

    problems: list[str] = []
    box = await FileOutbox.open(folder, clock, problems)
    assert problems == []
    assert [d.id for d in await box.pending()] == ["b"]  # its mark was never acknowledged
    await box.mark_delivered("b", t0)
    assert [r["id"] for r in day_lines(folder)[day.name]] == ["a", "b"]
    assert await box.pending() == []
    await box.close()


async def test_corrupt_day_file_and_misnamed_pending_file_are_moved_aside(tmp_path: Path) -> None:
    clock = FakeClock()
    t0 = clock.now()
    folder = tmp_path / "outbox"
    box = await FileOutbox.open(folder, clock, [])
    for name in ("a", "b", "c"):
        await box.put(make_delivery(name, 1, t0))
    await box.mark_delivered("a", t0)
    await box.close()
    day = folder / "delivered-2026-11-29.jsonl"
    day.write_bytes(b"{nonsense\n" + day.read_bytes())
    stray = folder / "pending" / pending_file_name("x")  # b's file under another name
    stray.write_bytes((folder / "pending" / pending_file_name("b")).read_bytes())

    problems: list[str] = []
    box = await FileOutbox.open(folder, clock, problems)
    assert len(problems) == 2
    assert any(str(day) in p for p in problems)
    assert any(str(stray) in p for p in problems)
    assert not day.exists()
    assert not stray.exists()
    assert len(list(folder.glob("delivered-*.jsonl.corrupt-*"))) == 1
    assert len(list((folder / "pending").glob("*.corrupt-*"))) == 1
    assert [d.id for d in await box.pending()] == ["b", "c"]
    await box.close()


async def test_erasure_rewrites_the_day_files(tmp_path: Path) -> None:
    clock = FakeClock()
    t0 = clock.now()
    folder = tmp_path / "outbox"
    box = await FileOutbox.open(folder, clock, [])
    for n, user in enumerate([5, 6, 5, 5, 6]):
        await box.put(make_delivery(f"d{n}", user, t0, user_id=user, text=f"tekst van {user}"))
    await box.mark_delivered("d0", t0 - timedelta(days=1))
    await box.mark_delivered("d1", t0)
    await box.mark_delivered("d2", t0)
    assert await box.delete_user(5) == 3
    assert not (folder / "delivered-2026-11-28.jsonl").exists()  # only user 5 was in it
    assert [r["id"] for r in day_lines(folder)["delivered-2026-11-29.jsonl"]] == ["d1"]
    for path in folder.rglob("*"):
        if path.is_file():
            assert '"user_id":5' not in path.read_text()
    assert [d.id for d in await box.pending()] == ["d4"]
    await box.close()

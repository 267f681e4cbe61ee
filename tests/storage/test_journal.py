"""The conversation journal: group commit, torn and corrupt lines, compaction, erasure of every
copy, lazy reading from the snapshot, and a reopen that equals before."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey

from storage import StorageError, conversations, open_stores
from storage.conversations import (
    FileConversationStorage,
    MemoryConversationStorage,
    key_hash,
    key_to_dict,
)
from storage.migrations import CONVERSATION_SCHEMA
from tests.storage.conftest import FakeClock, conversations_on_disk, generation_files


def key(n: int) -> StorageKey:
    return StorageKey(bot_id=1, chat_id=n, user_id=n)


async def open_store(folder: Path, clock: FakeClock, **kwargs: Any) -> FileConversationStorage:
    return await FileConversationStorage.open(folder, clock, [], **kwargs)


async def dump(store: FileConversationStorage | MemoryConversationStorage, n: int) -> list[Any]:
    return [(await store.get_state(key(i)), await store.get_data(key(i))) for i in range(n)]


def files_holding(folder: Path, marker: str) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file() and marker.encode() in p.read_bytes()]


async def test_concurrent_writes_share_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_store(tmp_path / "c", FakeClock())
    fsyncs: list[str] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        fsyncs.append(threading.current_thread().name)
        threading.Event().wait(0.005)  # a disk: meanwhile the other writes queue up
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    await asyncio.gather(*(store.set_data(key(n), {"n": n, "tekst": "é" * n}) for n in range(200)))
    monkeypatch.undo()
    assert fsyncs.count("conversations") == len(fsyncs)
    assert 1 <= len(fsyncs) <= 10, len(fsyncs)  # 200 writes, a handful of group commits
    assert store.batches == len(fsyncs)
    on_disk = conversations_on_disk(tmp_path / "c")
    assert {r["data"]["n"] for r in on_disk.values()} == set(range(200))
    await store.close()
    store = await open_store(tmp_path / "c", FakeClock())
    assert await store.get_data(key(150)) == {"n": 150, "tekst": "é" * 150}
    await store.close()


async def test_every_write_is_one_line_and_durable_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "c"
    store = await open_store(folder, FakeClock())
    seen: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        real_fsync(fd)
        seen.append(len(conversations_on_disk(folder)))

    monkeypatch.setattr(os, "fsync", spy)
    await store.set_state(key(1), "Form:a")
    assert seen == [1]  # the line was on disk and fsynced when set_state returned
    await store.set_data(key(1), {"a": 1})
    await store.set_data(key(1), {"a": 1})  # unchanged: no write
    assert len(seen) == 2
    (journal,) = folder.glob("journal-*.jsonl")
    lines = [json.loads(line) for line in journal.read_bytes().splitlines()]
    assert [line["k"] for line in lines] == [key_hash(key(1))] * 2
    assert lines[-1]["r"] == {
        "schema": CONVERSATION_SCHEMA,
        "key": key_to_dict(key(1)),
        "state": "Form:a",
        "data": {"a": 1},
        "updated_at": "2026-11-29T09:00:00+00:00",
    }
    await store.delete(key(1))
    assert json.loads(journal.read_bytes().splitlines()[-1]) == {"k": key_hash(key(1)), "r": None}
    await store.close()


async def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock)
    await store.set_data(key(1), {"stap": 1})
    await store.set_data(key(2), {"stap": 1})
    await store.close()
    (journal,) = folder.glob("journal-*.jsonl")
    before = journal.read_bytes()
    # A write of key 1 cut off by a kill (never acknowledged: its fsync had not returned).
    line = before.splitlines()[0].replace(b'"stap":1', b'"stap":2,"onaf":"TORNMARK"')
    for torn in (line[:-5], line[:-5] + b"\n"):  # no newline; or a newline but no JSON
        journal.write_bytes(before + torn)
        problems: list[str] = []
        store = await FileConversationStorage.open(folder, clock, problems)
        assert problems == []
        assert await store.get_data(key(1)) == {"stap": 1}
        assert await store.get_data(key(2)) == {"stap": 1}
        await store.close()
        assert files_holding(folder, "TORNMARK") == []  # compacted away at open
        assert list(folder.glob("*.corrupt-*")) == []
        (journal,) = folder.glob("journal-*.jsonl")
        assert journal.read_bytes() == b""
        before = b""


async def test_corrupt_middle_line_is_reported_and_the_others_kept(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock)
    for n in (1, 2, 3):
        await store.set_data(key(n), {"n": n})
    await store.close()
    (journal,) = folder.glob("journal-*.jsonl")
    lines = journal.read_bytes().splitlines(keepends=True)
    damaged = lines[0] + b"\x00garbage\n" + lines[1] + lines[2]
    journal.write_bytes(damaged)
    problems: list[str] = []
    store = await FileConversationStorage.open(folder, clock, problems)
    assert len(problems) == 1
    assert str(journal) in problems[0]
    assert "line 2 is not JSON" in problems[0]
    assert [await store.get_data(key(n)) for n in (1, 2, 3)] == [{"n": 1}, {"n": 2}, {"n": 3}]
    (aside,) = folder.glob(journal.name + ".corrupt-*")
    assert aside.read_bytes() == damaged  # the moved-aside copy is what was found
    assert not journal.exists()
    await store.close()
    problems = []
    store = await FileConversationStorage.open(folder, clock, problems)
    assert problems == []  # reported once: the new generation is clean
    assert await store.count() == 3
    await store.close()


async def test_line_for_the_wrong_key_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    store = await open_store(folder, FakeClock())
    await store.set_data(key(1), {"n": 1})
    await store.set_data(key(2), {"n": 2})
    await store.close()
    (journal,) = folder.glob("journal-*.jsonl")
    first, second = journal.read_bytes().splitlines()
    swapped = first.replace(key_hash(key(1)).encode(), key_hash(key(2)).encode())
    journal.write_bytes(swapped + b"\n" + second + b"\n")
    problems: list[str] = []
    store = await FileConversationStorage.open(folder, FakeClock(), problems)
    assert len(problems) == 1
    assert "line 1 is not a conversation" in problems[0]
    assert await store.get_data(key(1)) == {}
    assert await store.get_data(key(2)) == {"n": 2}
    await store.close()


def journal_sizes(folder: Path) -> list[int]:
    sizes = []
    for path in folder.glob("journal-*.jsonl"):
        with contextlib.suppress(FileNotFoundError):  # removed by a compaction meanwhile
            sizes.append(path.stat().st_size)
    return sizes


async def test_compaction_at_the_threshold(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock, compact_bytes=4096)
    first = store.generation
    for step in range(60):
        clock.advance(timedelta(seconds=1))
        await store.set_data(key(step % 5), {"stap": step, "vulling": "x" * 200})
        # The writer compacts after answering the batch that crossed the threshold, before the
        # next one: the journal never holds more than the threshold and one line (~430 bytes).
        # (A compaction may be between removing the old journal and starting the new one.)
        assert max(journal_sizes(folder), default=0) <= 4096 + 500
        assert len(generation_files(folder)) <= 2  # the old one is being removed
    assert store.generation >= first + 2
    on_disk = conversations_on_disk(folder)
    expected = [{"stap": s, "vulling": "x" * 200} for s in range(55, 60)]
    assert sorted((r["data"] for r in on_disk.values()), key=lambda d: d["stap"]) == expected
    before = await dump(store, 5)
    await store.close()
    assert list(generation_files(folder)) == [store.generation]
    store = await open_store(folder, clock)
    assert await dump(store, 5) == before
    await store.close()


async def test_reopen_equals_before_and_the_memory_store(tmp_path: Path) -> None:
    """Random steps on the file store and on the memory store: same answers, also after
    reopening (with compactions along the way)."""
    rng = random.Random(7)
    clock = FakeClock()
    folder = tmp_path / "c"
    store = await open_store(folder, clock, compact_bytes=2048)
    model = MemoryConversationStorage(clock)
    for step in range(400):
        clock.advance(timedelta(minutes=rng.choice([0, 1, 61])))
        k = key(rng.randrange(12))
        action = rng.random()
        state = rng.choice([None, "Form:a", "Form:b"])
        answers: list[Any] = []
        for target in (store, model):
            if action < 0.3:
                await target.set_state(k, state)
            elif action < 0.6:
                await target.set_data(k, {"s": step, "nl": 'één\n"x"', "l": [step, None]})
            elif action < 0.85:
                answers.append(await target.update_data(k, {f"k{step % 4}": step}))
            elif action < 0.95:
                answers.append(await target.delete(k))
            else:
                answers.append(await target.purge_idle_before(clock.now() - timedelta(hours=2)))
        assert answers[:1] == answers[1:]
        assert await store.count() == await model.count()
    expected = await dump(model, 12)
    assert await dump(store, 12) == expected
    await store.close()
    store = await open_store(folder, clock)
    assert await dump(store, 12) == expected
    cutoff = clock.now() - timedelta(minutes=30)
    assert await store.purge_idle_before(cutoff) == await model.purge_idle_before(cutoff)
    await store.close()


async def test_erasure_leaves_no_copy_in_any_file(tmp_path: Path) -> None:
    clock = FakeClock()
    data = tmp_path / "data"
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    folder = data / "conversations"
    conv = stores.conversations
    await conv.set_data(key(1), {"telefoon": "ERASEME-1"})
    await conv.set_data(key(1), {"telefoon": "ERASEME-2"})
    await conv.set_state(key(2), "Form:a")
    await conv.set_data(key(2), {"telefoon": "KEEPME"})
    # A group conversation of user 1 that was closed before the erasure: its lines remain.
    group = StorageKey(bot_id=1, chat_id=-100, user_id=1)
    await conv.set_data(group, {"naam": "ERASEME-3"})
    await stores.close()
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    conv = stores.conversations  # ERASEME-2 and -3 are in the snapshot now
    await conv.set_data(key(1), {"telefoon": "ERASEME-4"})
    await conv.delete(group)
    assert sorted(files_holding(folder, "ERASEME")) == sorted(
        [f"journal-{conv.generation}.jsonl", f"snapshot-{conv.generation}.jsonl"]  # type: ignore[attr-defined]
    )
    report = await stores.erase_user(1)
    assert report.conversations == 1
    assert files_holding(folder, "ERASEME") == []
    assert files_holding(folder, "KEEPME")
    # Erasing a user whose conversations were all closed before: the lines go too.
    await conv.set_data(key(3), {"x": "ERASEME-5"})
    await conv.delete(key(3))
    assert files_holding(folder, "ERASEME-5")
    assert await conv.delete_user(3) == 0
    assert files_holding(folder, "ERASEME") == []
    await stores.close()
    stores = await open_stores(data, clock, retention_days=28, conversation_days=7)
    assert await stores.conversations.get_data(key(2)) == {"telefoon": "KEEPME"}
    assert await stores.conversations.count() == 1
    await stores.close()


async def test_retention_removes_old_copies_of_closed_conversations(tmp_path: Path) -> None:
    clock = FakeClock()
    folder = tmp_path / "c"
    store = await open_store(folder, clock)
    await store.set_data(key(1), {"x": "OLDMARK"})
    await store.delete(key(1))  # closed: only the journal still holds it
    clock.advance(timedelta(days=3))
    await store.set_data(key(2), {"x": "NEWMARK"})
    generation = store.generation
    assert await store.purge_idle_before(clock.now() - timedelta(days=7)) == 0
    assert store.generation == generation  # nothing that old on disk: no rewrite
    assert files_holding(folder, "OLDMARK")
    clock.advance(timedelta(days=5))
    await store.set_data(key(2), {"x": "NEWMARK", "stap": 2})  # still active
    assert await store.purge_idle_before(clock.now() - timedelta(days=7)) == 0
    # Nothing idle was deleted, but the journal held a line older than the cutoff.
    assert files_holding(folder, "OLDMARK") == []
    assert files_holding(folder, "NEWMARK")
    assert await store.get_data(key(2)) == {"x": "NEWMARK", "stap": 2}
    await store.close()


async def test_leftover_older_generation_is_ignored_and_removed(tmp_path: Path) -> None:
    """A kill between writing a new generation and removing the old one leaves both."""
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock)
    await store.set_data(key(1), {"v": "oud"})
    await store.close()
    store = await open_store(folder, clock)  # compacts: generation 2 holds {"v": "oud"}
    old = store.generation
    await store.set_data(key(1), {"v": "nieuw"})
    await store.close()
    # An older generation that says otherwise, as if its removal was cut off.
    (folder / f"snapshot-{old - 1}.jsonl").write_text('{"schema":2,"generation":1}\n')
    (folder / f"journal-{old - 1}.jsonl").write_text("")
    store = await open_store(folder, clock)
    assert await store.get_data(key(1)) == {"v": "nieuw"}
    assert list(generation_files(folder)) == [store.generation]
    await store.close()


async def test_failed_write_reaches_every_waiter_and_the_store_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock)
    await store.set_data(key(1), {"v": 1})
    real_fsync = os.fsync
    failing = True

    def broken_fsync(fd: int) -> None:
        if failing and threading.current_thread().name == "conversations":
            threading.Event().wait(0.01)
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", broken_fsync)
    results = await asyncio.gather(
        *(store.set_data(key(n), {"v": 2}) for n in range(1, 6)), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results), results
    assert await store.get_data(key(1)) == {"v": 1}  # not acknowledged, not visible
    assert await store.count() == 1
    failing = False
    generation = store.generation
    await store.set_data(key(2), {"v": 3})
    assert store.generation == generation + 1  # the journal with the failed batch was replaced
    await store.close()
    store = await open_store(folder, clock)
    assert await dump(store, 3) == [(None, {}), (None, {"v": 1}), (None, {"v": 3})]
    await store.close()


async def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "c", FakeClock())
    await store.set_data(key(1), {"v": 1})
    await store.close()
    await store.close()  # twice is fine
    with pytest.raises(StorageError):
        await store.set_data(key(1), {"v": 2})
    assert await store.get_data(key(1)) == {"v": 1}


async def test_failed_compaction_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction at the threshold that fails after its snapshot was written: the write that
    crossed the threshold was durable already, the next writes go on, and a reopen shows all."""
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock, compact_bytes=1024)
    real_open = os.open
    failures: list[str] = []

    def flaky_open(path: Any, flags: int, mode: int = 0o777) -> int:
        if str(path).endswith(".jsonl") and not failures:
            failures.append(str(path))
            raise OSError(28, "No space left on device")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", flaky_open)
    generation = store.generation
    for step in range(12):
        await store.set_data(key(step % 3), {"stap": step, "vulling": "y" * 100})
    assert failures  # the first compaction failed ...
    assert store.generation > generation  # ... and a later one succeeded
    monkeypatch.undo()
    expected = await dump(store, 3)
    assert [data["stap"] for _, data in expected] == [9, 10, 11]
    await store.close()
    assert list(generation_files(folder)) == [store.generation]
    store = await open_store(folder, clock)
    assert await dump(store, 3) == expected
    await store.close()


async def test_after_a_failed_switch_nothing_is_acknowledged_into_the_old_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction fails after its snapshot is in place, and that snapshot cannot be taken
    back: it would win at the next open, so no later write may be acknowledged into the old
    journal until a new generation is written."""
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock, compact_bytes=1024)
    real_open, real_unlink = os.open, Path.unlink
    real_snapshot = conversations.write_snapshot_file
    budget = {"open": 1, "unlink": 1, "atomic": 1}

    def failing_open(path: Any, flags: int, mode: int = 0o777) -> int:
        if str(path).endswith(".jsonl") and budget["open"] > 0:
            budget["open"] -= 1
            raise OSError(28, "No space left on device")
        return real_open(path, flags, mode)

    def failing_unlink(path: Path, missing_ok: bool = False) -> None:
        if path.name.startswith("snapshot-") and budget["unlink"] > 0:
            budget["unlink"] -= 1
            raise OSError(30, "Read-only file system")
        real_unlink(path, missing_ok)

    def failing_snapshot(path: Path, generation: int, items: Any, snapshots: Any) -> Any:
        if budget["open"] == 0 and budget["atomic"] > 0:  # the next compaction fails early
            budget["atomic"] -= 1
            raise OSError(28, "No space left on device")
        return real_snapshot(path, generation, items, snapshots)

    monkeypatch.setattr(os, "open", failing_open)
    monkeypatch.setattr(Path, "unlink", failing_unlink)
    monkeypatch.setattr(conversations, "write_snapshot_file", failing_snapshot)
    acknowledged: dict[int, int] = {}
    step = 0
    while budget["open"] > 0:  # until a compaction at the threshold failed
        step += 1
        await store.set_data(key(step % 3), {"stap": step, "vulling": "z" * 100})
        acknowledged[step % 3] = step
        await asyncio.sleep(0.05)  # the writer compacts after answering
    step += 1
    try:
        await store.set_data(key(step % 3), {"stap": step, "vulling": "z" * 100})
    except OSError:
        pass  # refused: the new generation could not be written again
    else:
        acknowledged[step % 3] = step
    monkeypatch.undo()
    await store.close()
    store = await open_store(folder, clock)
    for n, stap in acknowledged.items():
        assert (await store.get_data(key(n)))["stap"] == stap, "an acknowledged write was lost"
    await store.close()


async def test_reopened_conversations_are_read_lazily_also_after_compactions(
    tmp_path: Path,
) -> None:
    """A reopened store holds no conversation's data in memory until it is used; what it reads
    from the snapshot is what was written, also after compactions moved it to a new file."""
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock, compact_bytes=2048)
    for n in range(20):
        await store.commit(key(n), f"Form:q{n}", {"n": n, "tekst": 'één "x"\n' * n})
    await store.close()
    store = await open_store(folder, clock, compact_bytes=2048)
    assert all(c.data_text is None for c in store._items.values())  # in the file, not in memory
    assert await store.get_state(key(3)) == "Form:q3"
    await store.set_state(key(4), "Form:anders")  # the data of 4 is read to write its record
    for step in range(40):  # later writes of others: a few compactions
        clock.advance(timedelta(seconds=1))
        await store.set_data(key(10 + step % 5), {"stap": step, "vulling": "v" * 100})
    assert store.generation >= 3
    first_snapshot = folder / "snapshot-1.jsonl"
    assert not first_snapshot.exists()
    assert await store.get_data(key(3)) == {"n": 3, "tekst": 'één "x"\n' * 3}
    assert await dump(store, 5) == [
        (f"Form:q{n}" if n != 4 else "Form:anders", {"n": n, "tekst": 'één "x"\n' * n})
        for n in range(5)
    ]
    before = await dump(store, 20)
    await store.close()
    assert conversations_on_disk(folder)[key_hash(key(19))]["data"] == before[19][1]
    store = await open_store(folder, clock)
    assert await dump(store, 20) == before
    await store.close()


async def test_killed_compaction_leaves_the_old_generation(tmp_path: Path) -> None:
    """A kill while a compaction streams its snapshot leaves a temp file; the next start
    removes it and reads the old generation, lazily."""
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock)
    await store.set_data(key(1), {"v": "eerst"})
    await store.close()
    store = await open_store(folder, clock)  # generation 2, with key 1 in its snapshot
    generation = store.generation
    await store.set_data(key(2), {"v": "daarna"})
    await store.close()
    torn = folder / f".snapshot-{generation + 1}.jsonl.123.tmp"
    torn.write_bytes(b'{"schema":2,"generation":%d}\n{"k":"' % (generation + 1))
    problems: list[str] = []
    store = await FileConversationStorage.open(folder, clock, problems)
    assert problems == []
    assert not torn.exists()
    assert await dump(store, 3) == [(None, {}), (None, {"v": "eerst"}), (None, {"v": "daarna"})]
    await store.close()


async def test_snapshot_lines_that_are_damaged(tmp_path: Path) -> None:
    """A snapshot line whose head is damaged is reported and skipped at open (the file moved
    aside after the others went into a new generation); a line whose data is damaged is found
    when it is read: that conversation goes on without its data, and it is reported."""
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock)
    for n in (1, 2, 3):
        await store.commit(key(n), "Form:q", {"n": n})
    await store.close()
    store = await open_store(folder, clock)
    generation = store.generation
    await store.close()
    snapshot = folder / f"snapshot-{generation}.jsonl"
    header, *lines = snapshot.read_bytes().splitlines(keepends=True)
    by_key = {json.loads(line)["k"]: line for line in lines}
    head_broken = by_key[key_hash(key(1))].replace(b'"updated_at"', b'"updated_at\x00"')
    data_broken = by_key[key_hash(key(2))].replace(b'{"n":2}', b'{"n":2')
    snapshot.write_bytes(header + head_broken + data_broken + by_key[key_hash(key(3))])
    problems: list[str] = []
    store = await FileConversationStorage.open(folder, clock, problems)
    assert len(problems) == 1
    assert "1 bad records skipped" in problems[0]
    assert await store.count() == 2
    assert await store.get_state(key(1)) is None
    assert await store.get_data(key(3)) == {"n": 3}
    assert await store.get_data(key(2)) == {}
    assert len(problems) == 2
    assert "conversation data unreadable" in problems[1]
    await store.close()


async def test_a_long_journal_is_compacted_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that the next start reads a snapshot lazily instead of decoding every journal line."""
    monkeypatch.setattr(conversations, "CLOSE_COMPACT_BYTES", 1000)
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock)
    await store.set_data(key(1), {"kort": 1})
    await store.close()
    (journal,) = folder.glob("journal-*.jsonl")
    assert journal.read_bytes()  # a short journal stays: a close costs no compaction
    store = await open_store(folder, clock)
    for n in range(10):
        await store.set_data(key(n), {"n": n, "vulling": "w" * 100})
    await store.close()
    (journal,) = folder.glob("journal-*.jsonl")
    assert journal.read_bytes() == b""
    store = await open_store(folder, clock)
    assert all(c.data_text is None for c in store._items.values())
    assert await dump(store, 10) == [(None, {"n": n, "vulling": "w" * 100}) for n in range(10)]
    await store.close()


async def test_snapshot_read_in_small_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening reads the snapshot a block at a time: lines cut by a block's end are whole."""
    folder = tmp_path / "c"
    clock = FakeClock()
    store = await open_store(folder, clock)
    for n in range(30):
        await store.commit(key(n), f"Form:q{n % 3}", {"n": n, "tekst": "ë" * (n * 7)})
    expected = await dump(store, 30)
    await store.compact()
    await store.close()
    for block in (1, 7, 64, 1000):
        monkeypatch.setattr(conversations, "READ_BYTES", block)
        problems: list[str] = []
        store = await FileConversationStorage.open(folder, clock, problems)
        assert problems == []
        assert await dump(store, 30) == expected
        await store.close()

"""kill -9 a writer at random moments, many times: no file is corrupt, nothing acknowledged is lost.

The writer (tests/storage/crash_writer.py) runs in a subprocess and prints an acknowledgement
line after every durable write; this test kills it with SIGKILL at a random moment, then opens
the data directory and checks every acknowledged record, then lets the next trial go on writing
into the same directory (so each trial also starts from whatever the last kill left).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey

from flows.records import Status
from storage import open_stores
from storage.outbox import pending_file_name
from tests.storage.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 64
TIME_BUDGET = 45.0  # seconds for the trials; stops early (after 60 trials) when slower


class Acks:
    def __init__(self) -> None:
        self.intakes: dict[str, str] = {}  # number -> tag
        self.chat_of: dict[str, int] = {}  # number -> chat (user) id
        self.updated: set[str] = set()
        self.conv: dict[int, tuple[int, int]] = {}  # chat -> (trial, step)
        self.put: set[str] = set()
        self.delivered: set[str] = set()
        self.failed: set[str] = set()
        self.numbers_seen: list[str] = []
        self.erased: set[str] = set()
        self.erasing: set[int] = set()  # chats whose erasure began and was not acknowledged
        self.conv_erased: dict[int, tuple[int, int]] = {}  # chat -> last step before erasure

    def take(self, line: str) -> None:
        words = line.split()
        what = words[1]
        if words[0] == "begin":
            self.erasing.add(int(words[2]))
        elif what == "erase":
            self.erasing.discard(int(words[2]))
            erased = self.conv.pop(int(words[2]), None)
            if erased is not None:
                self.conv_erased[int(words[2])] = erased
            gone = set(words[3].split(",")) - {"-"}
            self.erased |= gone
            for number in gone:
                self.intakes.pop(number, None)
        elif what == "intake":
            self.intakes[words[2]] = words[3]
            self.chat_of[words[2]] = int(words[4])
            self.numbers_seen.append(words[2])
        elif what == "update":
            self.updated.add(words[2])
        elif what == "conv":
            self.conv[int(words[2])] = (int(words[3]), int(words[4]))
        elif what == "put":
            self.put.add(words[2])
        elif what == "delivered":
            self.delivered.add(words[2])
        elif what == "failed":
            self.failed.add(words[2])


def reader(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line.rstrip("\n"))


def next_line(lines: queue.Queue[str], acks: Acks, until: str) -> str:
    while True:
        line = lines.get(timeout=30)
        if line.startswith(("ack ", "begin ")):
            acks.take(line)
        elif line.startswith(until):
            return line
        elif line.startswith("problem"):
            raise AssertionError(line)


async def verify(data_dir: Path, acks: Acks) -> int:
    stores = await open_stores(data_dir, FakeClock(), retention_days=365, conversation_days=30)
    try:
        assert stores.problems == []
        for number in acks.erased:
            assert await stores.intakes.get(number) is None, f"erased intake {number} came back"
        for number, tag in list(acks.intakes.items()):
            intake = await stores.intakes.get(number)
            if intake is None and acks.chat_of[number] in acks.erasing:
                del acks.intakes[number]  # erased by the erasure the kill cut off: allowed
                continue
            assert intake is not None, f"acknowledged intake {number} lost"
            assert intake.name == f"Naam {tag}"
            # The index (from index files or the partitions) finds it too.
            found = await stores.intakes.search_name(f"Naam {tag}")
            assert number in {i.number for i in found}, f"{number} missing from the index"
            if number in acks.updated:
                assert intake.status is Status.OPGEPAKT
                assert intake.history[-1].detail == tag
        for chat, (trial, step) in list(acks.conv.items()):
            data = await stores.conversations.get_data(StorageKey(1, chat, chat))
            if not data and chat in acks.erasing:
                # Erased by the erasure the kill cut off: allowed, and from now on it is an
                # erased conversation (the next trial's check must not expect it back).
                del acks.conv[chat]
                acks.conv_erased[chat] = (trial, step)
                continue
            assert data, f"acknowledged conversation {chat} ({trial}, {step}) lost"
            assert (data["trial"], data["step"]) >= (trial, step), f"conversation {chat} went back"
        for chat, erased_at in acks.conv_erased.items():
            # An erased conversation does not come back (only a later step may write it anew).
            data = await stores.conversations.get_data(StorageKey(1, chat, chat))
            assert not data or (data["trial"], data["step"]) > erased_at, f"{chat} came back"
        queued = await stores.outbox.pending()
        pending = {d.id for d in queued}
        # A delivery whose mark_delivered was cut off may be delivered (in a day file) already.
        delivered: set[str] = set()
        for path in (data_dir / "outbox").glob("delivered-*.jsonl"):
            delivered.update(json.loads(line)["id"] for line in path.read_bytes().splitlines())
        assert pending & delivered == set(), "a delivery is both pending and delivered"
        assert acks.put - pending - delivered == set(), "acknowledged delivery lost"
        assert acks.delivered <= delivered
        assert pending & acks.delivered == set(), "delivered delivery came back"
        for delivery in queued:
            if delivery.id in acks.failed:
                assert delivery.attempts >= 1, f"failed attempt of {delivery.id} lost"
        # One file per pending delivery, nothing else; and per chat, put order.
        files = {p.name for p in (data_dir / "outbox" / "pending").iterdir()}
        assert files == {pending_file_name(i) for i in pending}
        by_chat: dict[int, list[tuple[int, ...]]] = defaultdict(list)
        for delivery in queued:
            by_chat[delivery.chat_id].append(tuple(int(w) for w in delivery.id.split("-")))
        for order in by_chat.values():
            assert order == sorted(order), "a chat's deliveries are out of put order"
        return len(pending)
    finally:
        await stores.close()


@pytest.mark.slow  # a process of its own
def test_kill_9_at_random_moments(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.crash_writer"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=reader, args=(proc.stdout, lines), daemon=True).start()
    rng = random.Random(20261129)
    acks = Acks()
    trials = 0
    started = time.monotonic()
    try:
        while trials < TRIALS:
            if trials >= 60 and time.monotonic() - started > TIME_BUDGET:
                break
            trials += 1
            proc.stdin.write(f"run {data_dir} {trials}\n")
            proc.stdin.flush()
            pid = int(next_line(lines, acks, "pid").split()[1])
            deadline = time.monotonic() + rng.uniform(0.05, 0.6)
            while (left := deadline - time.monotonic()) > 0:
                try:
                    line = lines.get(timeout=left)
                except queue.Empty:
                    break
                if line.startswith("problem"):
                    raise AssertionError(line)
                if line.startswith(("ack ", "begin ")):
                    acks.take(line)
            os.kill(pid, signal.SIGKILL)
            next_line(lines, acks, "exit")
            asyncio.run(verify(data_dir, acks))
            acks.erasing.clear()
    finally:
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    elapsed = time.monotonic() - started
    print(
        f"\ncrash test: {trials} kill -9 trials in {elapsed:.1f} s, {len(acks.intakes)} intakes,"
        f" {len(acks.updated)} updates, {len(acks.put)} deliveries acknowledged and present"
        f" ({len(acks.delivered)} delivered, {len(acks.failed)} failed once),"
        f" {len(acks.erased)} erased intakes gone"
    )
    assert trials >= 60
    assert len(acks.intakes) > trials  # the writer got going in most trials
    numbers = acks.numbers_seen
    assert len(numbers) == len(set(numbers)), "a number was handed out twice"
    by_key: dict[str, list[int]] = defaultdict(list)
    for number in numbers:
        prefix, year, seq = number.split("-")
        by_key[f"{prefix}-{year}"].append(int(seq))
    for seqs in by_key.values():
        assert seqs == sorted(seqs)
    leftovers = [p for p in data_dir.rglob("*") if ".corrupt-" in p.name or p.name.endswith(".tmp")]
    assert leftovers == []
    for path in data_dir.rglob("*.json"):
        json.loads(path.read_bytes())  # every file readable
    for day_file in data_dir.rglob("*.jsonl"):
        for raw in day_file.read_bytes().splitlines():
            json.loads(raw)

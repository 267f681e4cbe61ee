"""Storage benchmark: does saving get slower as intakes and conversations pile up?

    python -m bench.storage_bench            # full: 1,000 / 10,000 / 100,000 intakes (~5 min)
    python -m bench.storage_bench --quick    # fast: fewer samples, default TinyDB capped at 10,000
    python -m bench.storage_bench --only conversations   # one part (intakes, conversations, outbox)

Every part appends `Row`s to the one table (`print_rows`).

Measures p50 and p99 wall-clock latency of
- an intake submit (`stores.intakes.add`) with N intakes already stored, and at those sizes,
  with 50 tasks adding intakes meanwhile: the time and the longest event-loop stall of the
  first checkpoint (every partition's index file), an hourly one, a retention purge and an
  erasure (`bench_intake_stalls`),
- a conversation step (`set_state` + `set_data`) with M conversations open (1k / 10k / 50k;
  `--quick` 1k / 5k / 10k), and at those sizes: opening the conversation store against a plain
  `json.loads` of the same records, and the longest event-loop stall (a ticker task's worst
  lateness) during a compaction, an erasure (`delete_user`) and a retention purge while 50
  writers take steps,
- an outbox `put` (a handoff card queued), `mark_failed` and `mark_delivered` with K deliveries
  pending (`--outbox` runs only these),
on our stores (crash-safe, fsynced) and, beside it in the same run, on TinyDB's default
JSONStorage (one table holding N documents, no fsync: it is faster per byte, but rewrites the
whole file). The large stores are seeded by writing their files directly, not via N adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram.fsm.storage.base import StorageKey
from tinydb import Query, TinyDB
from tinydb.storages import JSONStorage

from bench.common import report_json, settle_gc, unfreeze_gc
from flows.records import Delivery, Intake, IntakeKind, utc_iso
from storage import PurgeReport, Stores, SystemClock, open_stores
from storage.base import ConversationStore
from storage.conversations import (
    FileConversationStorage,
    key_hash,
    key_to_dict,
    write_snapshot,
)
from storage.intakes import write_partitions
from storage.migrations import CONVERSATION_SCHEMA
from storage.outbox import FileOutbox

NOW = datetime.now(UTC)
MONTHS = 24  # seeded intakes are spread evenly over the last 24 months, this one included


def answers(n: int) -> dict[str, Any]:
    """About 1 KB of answers, like a finished candidate intake."""
    return {
        "voornaam": f"Voornaam{n}",
        "achternaam": f"Achternaam{n}",
        "geboortejaar": 1960 + n % 45,
        "woonplaats": random.choice(["Utrecht", "Zwolle", "Tilburg", "Leeuwarden"]),
        "contact": random.choice(["telefoon", "e-mail", "persoonlijk"]),
        "telefoon": f"06{n % 100000000:08d}",
        "email": f"persoon{n}@voorbeeld.nl",
        "register": random.choice(["ja", "nee", "weet niet"]),
        "uitkering": random.choice(["wajong", "participatiewet", "geen"]),
        "werkervaring": "Ik heb drie jaar in een kwekerij gewerkt en daarna in de schoonmaak. " * 3,
        "wensen": ["groen", "logistiek", "zorg"][: 1 + n % 3],
        "uren": 8 + n % 30,
        "vervoer": random.choice(["fiets", "ov", "auto", "geen"]),
        "ondersteuning": "Een vaste begeleider op de werkplek en duidelijke instructies.",
        "opmerking": "Liever niet op maandag; afspraak graag in de ochtend." * 2,
    }


def intake_doc(n: int, number: str, created: datetime) -> dict[str, Any]:
    return Intake(
        number=number,
        kind=IntakeKind.CANDIDATE,
        created_at=utc_iso(created),
        user_id=100000 + n,
        chat_id=100000 + n,
        language="nl",
        flow_version="2026.1",
        answers=answers(n),
        outcome={"codes": ["A", "C"], "routes": ["jobcoach"]},
        name=f"Voornaam{n} Achternaam{n}",
        updated_at=utc_iso(created),
        target_groups=["wajong"] if n % 2 else ["participatiewet"],
        routes=["jobcoach"],
    ).to_dict()


def seeded_docs(count: int) -> Iterator[list[dict[str, Any]]]:
    """`count` intake documents, month by month (oldest first), numbered per year."""
    per_month = count // MONTHS
    extra = count - per_month * MONTHS
    counters: dict[int, int] = {}
    n = 0
    for back in range(MONTHS - 1, -1, -1):
        month_start = (NOW.replace(day=1) - timedelta(days=31 * back)).replace(day=1)
        size = per_month + (1 if back < extra else 0)
        docs = []
        for i in range(size):
            created = month_start + timedelta(minutes=i)
            year = created.year
            counters[year] = counters.get(year, 0) + 1
            docs.append(intake_doc(n, f"K-{year}-{counters[year]:04d}", min(created, NOW)))
            n += 1
        yield docs


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


@dataclass
class Row:
    """One line of the one storage table. Each part of the benchmark (intakes, conversations,
    outbox) appends its rows to one list; `print_rows` prints them all. `ours` and `reference`
    are text, so a part can show latencies, times, ratios or stalls alike (`latency` formats the
    usual p50/p99)."""

    operation: str
    stored: int
    ours: str
    reference: str = ""  # TinyDB's default, json.loads, ... whatever the row compares with
    note: str = ""
    # For summaries and checks (e.g. p50 ms of a latency row, seconds, stall ms).
    value: float = 0.0


def latency(samples: list[float]) -> str:
    p50, p99 = percentiles(samples)
    return f"p50 {p50:.2f} / p99 {p99:.2f} ms"


def latency_row(
    operation: str,
    stored: int,
    ours: list[float],
    default: list[float] | None = None,
    note: str = "",
) -> Row:
    """A row of p50/p99 of our store, beside TinyDB's default JSONStorage when it ran."""
    counts = f"{len(ours)} samples ours"
    if default is not None:
        counts += f", {len(default)} default"
    return Row(
        operation,
        stored,
        latency(ours),
        f"TinyDB default {latency(default)}" if default else "",
        f"{counts}; {note}" if note else counts,
        percentiles(ours)[0],
    )


async def interleaved(
    samples: int, steps: dict[int, Callable[[int], Awaitable[None]]]
) -> dict[int, list[float]]:
    """Run one sample of every size in turn, so that noise from the machine hits all alike."""
    result: dict[int, list[float]] = {size: [] for size in steps}
    for i in range(samples):
        for size, step in steps.items():
            start = time.perf_counter()
            await step(i)
            result[size].append(time.perf_counter() - start)
    return result


async def open_intakes(root: Path, count: int) -> tuple[Stores, str]:
    """Seed `count` intakes by writing partition files, then open twice: the first (cold) open
    reads every partition and its close writes their index files, the second (warm) reads
    those."""
    data = root / f"intakes-{count}"
    for month_docs in seeded_docs(count):
        write_partitions(data / "intakes", month_docs)
    times = []
    for _ in range(2):
        opened = time.perf_counter()
        stores = await open_stores(data, SystemClock(), retention_days=3650, conversation_days=30)
        times.append(time.perf_counter() - opened)
        assert await stores.intakes.count() == count  # type: ignore[attr-defined]
        if len(times) == 1:
            await stores.close()
    return stores, f"open {times[0]:.2f} s cold, {times[1]:.2f} s from index"


async def bench_intakes(
    root: Path, sizes: list[int], samples: int
) -> tuple[dict[int, list[float]], dict[int, str]]:
    opened = {size: await open_intakes(root, size) for size in sizes}

    def adder(stores: Stores, size: int) -> Callable[[int], Awaitable[None]]:
        async def add(i: int) -> None:
            await stores.intakes.add(Intake.from_dict(intake_doc(size + i, "", NOW)))

        return add

    steps = {size: adder(stores, size) for size, (stores, _) in opened.items()}
    result = await interleaved(samples, steps)
    for stores, _ in opened.values():
        await stores.close()
    return result, {size: note for size, (_, note) in opened.items()}


def bench_default_insert(root: Path, count: int, samples: int) -> list[float]:
    path = root / f"default-{count}.json"
    table = {str(i + 1): intake_doc(i, f"K-2026-{i + 1:04d}", NOW) for i in range(count)}
    path.write_text(json.dumps({"_default": table}))
    db = TinyDB(path, storage=JSONStorage)
    result = []
    for i in range(samples):
        doc = intake_doc(count + i, "", NOW)
        start = time.perf_counter()
        db.insert(doc)
        result.append(time.perf_counter() - start)
    db.close()
    path.unlink()
    return result


def conversation_data(n: int) -> dict[str, Any]:
    return {"flow": "candidate", "answers": answers(n), "shown": ["q1", "q2", "q3"], "step": n % 20}


def conversation_records(count: int, old: int = 0) -> dict[str, dict[str, Any]]:
    """`count` conversations as stored (key hash -> record); the first `old` idle for 30 days."""
    records = {}
    for n in range(count):
        key = StorageKey(bot_id=1, chat_id=100000 + n, user_id=100000 + n)
        records[key_hash(key)] = {
            "schema": CONVERSATION_SCHEMA,
            "key": key_to_dict(key),
            "state": "Intake:question",
            "data": conversation_data(n),
            "updated_at": utc_iso(NOW - timedelta(days=30 if n < old else 0)),
        }
    return records


def conversation_keys(count: int) -> list[StorageKey]:
    return [StorageKey(bot_id=1, chat_id=100000 + n, user_id=100000 + n) for n in range(count)]


def seed_conversations(folder: Path, count: int, old: int = 0) -> tuple[float, float]:
    """Write `count` conversations in the store's own layout (generation 1, empty journal);
    returns how long a plain `json.loads` of the same records (one JSON object) takes, best of
    3, and the same with the cyclic GC paused (as the store's open pauses it)."""
    folder.mkdir(parents=True)
    records = conversation_records(count, old)
    write_snapshot(folder, 1, records)
    blob = json.dumps(records).encode()
    del records
    best = {True: float("inf"), False: float("inf")}
    for paused in (False, True) * 3:
        if paused:
            gc.disable()
        started = time.perf_counter()
        json.loads(blob)
        best[paused] = min(best[paused], time.perf_counter() - started)
        gc.enable()
    return best[False], best[True]


class Ticker:
    """A task on the event loop that wakes up every `period` and keeps its worst lateness: the
    longest the loop was kept from it (a stall)."""

    def __init__(self, period: float = 0.002) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, time.perf_counter() - before - self.period)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def take(self) -> float:
        """The worst lateness since the last take, in ms."""
        worst, self.worst = self.worst, 0.0
        return worst * 1000

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Writers:
    """`count` tasks that each take conversation steps on random keys, as people answering."""

    def __init__(self, store: ConversationStore, keys: list[StorageKey], count: int) -> None:
        self.store = store
        self.keys = keys
        self.steps = 0
        self._tasks = [asyncio.create_task(self._run(i)) for i in range(count)]

    async def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        while True:
            key = self.keys[rng.randrange(len(self.keys))]
            await self.store.set_state(key, f"Intake:q{self.steps % 20}")
            await self.store.set_data(key, conversation_data(self.steps))
            self.steps += 1

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


WRITERS = 50


async def bench_conversation_stalls(root: Path, count: int) -> list[Row]:
    """Open `count` conversations (1% idle for 30 days), then with WRITERS writers stepping:
    a compaction, an erasure (`delete_user`) and a retention purge, each with the longest
    event-loop stall while it ran."""
    folder = root / f"conversations-{count}"
    old = max(1, count // 100)
    loads_s, loads_paused_s = seed_conversations(folder, count, old)
    started = time.perf_counter()
    store = await FileConversationStorage.open(folder, SystemClock(), [])
    open_s = time.perf_counter() - started
    assert await store.count() == count
    keys = conversation_keys(count)
    # As `python -m bot` does once started: what start-up made (the conversations) is left out
    # of the cyclic GC's collections from here on (undone at the end, for the next size).
    settle_gc()
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.05)
    ticker.take()
    writers = Writers(store, keys[old:], WRITERS)
    await asyncio.sleep(0.5)
    background = ticker.take()
    started = time.perf_counter()
    await store.compact()
    compact_s = time.perf_counter() - started
    compact_stall = ticker.take()
    started = time.perf_counter()
    assert await store.delete_user(keys[old].user_id) == 1
    erase_s = time.perf_counter() - started
    erase_stall = ticker.take()
    started = time.perf_counter()
    assert await store.purge_idle_before(NOW - timedelta(days=7)) == old
    purge_s = time.perf_counter() - started
    purge_stall = ticker.take()
    steps = writers.steps
    await writers.stop()
    await ticker.stop()
    await store.close()
    shutil.rmtree(folder, ignore_errors=True)
    unfreeze_gc()
    stall = f"{WRITERS} writers; stall without it {background:.0f} ms"
    return [
        Row(
            "conversations: open",
            count,
            f"{open_s:.3f} s",
            f"json.loads {loads_s:.3f} s ({loads_paused_s:.3f} s with the GC paused)",
            f"{open_s / loads_s:.2f}x json.loads (target <= 3x);"
            f" {open_s / loads_paused_s:.2f}x with the GC paused",
            open_s / loads_s,
        ),
        Row(
            "conversations: compaction",
            count,
            f"{compact_s:.2f} s, longest stall {compact_stall:.0f} ms",
            "",
            f"{stall} (target <= 50 ms)",
            compact_stall,
        ),
        Row(
            "conversations: erasure (delete_user)",
            count,
            f"{erase_s:.2f} s, longest stall {erase_stall:.0f} ms",
            "",
            f"{stall}; {steps:,} steps taken meanwhile in all",
            erase_stall,
        ),
        Row(
            "conversations: purge (purge_idle_before)",
            count,
            f"{purge_s:.2f} s, longest stall {purge_stall:.0f} ms",
            "",
            f"{stall}; {old:,} idle deleted",
            purge_stall,
        ),
    ]


async def bench_conversation_steps(
    root: Path, sizes: list[int], samples: int
) -> dict[int, list[float]]:
    """p50/p99 of one step (set_state + set_data) of one chat at a time, sizes interleaved."""
    stores = {}
    for size in sizes:
        folder = root / f"steps-{size}"
        seed_conversations(folder, size)
        stores[size] = await FileConversationStorage.open(folder, SystemClock(), [])
    rng = random.Random(1)

    def stepper(store: FileConversationStorage, size: int) -> Callable[[int], Awaitable[None]]:
        keys = conversation_keys(size)

        async def step(i: int) -> None:
            key = keys[rng.randrange(len(keys))]
            await store.set_state(key, f"Intake:q{i % 20}")
            await store.set_data(key, conversation_data(i))

        return step

    result = await interleaved(samples, {s: stepper(store, s) for s, store in stores.items()})
    for size, store in stores.items():
        await store.close()
        shutil.rmtree(root / f"steps-{size}", ignore_errors=True)
    return result


async def bench_conversations(
    root: Path, sizes: list[int], samples: int, default_samples: dict[int, int]
) -> list[Row]:
    rows: list[Row] = []
    for size in sizes:
        rows.extend(await bench_conversation_stalls(root, size))
        print(f"  conversations {size}: opened, compacted, erased, purged", flush=True)
    steps = await bench_conversation_steps(root, sizes, samples)
    for size in sizes:
        default = None
        if size in default_samples:
            default = bench_default_conversations(root, size, default_samples[size])
        rows.append(latency_row("conversation step", size, steps[size], default))
    flat = steps[sizes[-1]], steps[sizes[0]]
    ratio = percentiles(flat[0])[0] / percentiles(flat[1])[0]
    rows.append(
        Row(
            "conversation step, p50 ratio",
            sizes[-1],
            f"{ratio:.2f}x the p50 at {sizes[0]:,}",
            "",
            "target: flat",
            ratio,
        )
    )
    return rows


def bench_default_conversations(root: Path, count: int, samples: int) -> list[float]:
    path = root / f"default-conv-{count}.json"
    table = {
        str(n + 1): {
            "key": f"1:{100000 + n}:{100000 + n}",
            "state": "q",
            "data": conversation_data(n),
        }
        for n in range(count)
    }
    path.write_text(json.dumps({"_default": table}))
    db = TinyDB(path, storage=JSONStorage)
    rng = random.Random(1)
    result = []
    for i in range(samples):
        key = f"1:{100000 + rng.randrange(count)}:{100000 + rng.randrange(count)}"
        start = time.perf_counter()
        db.upsert({"key": key, "state": f"q{i}"}, Query().key == key)
        db.upsert({"key": key, "data": conversation_data(i)}, Query().key == key)
        result.append(time.perf_counter() - start)
    db.close()
    path.unlink()
    return result


def card(n: int) -> Delivery:
    """A handoff card as the bot queues it (about 1.5 KB of payload)."""
    text = f"Nieuwe aanmelding K-2026-{n:04d}\n" + "\n".join(
        f"{key}: {value}" for key, value in answers(n).items()
    )
    return Delivery(
        id=f"{n:032x}",
        chat_id=-100123,
        method="sendMessage",
        payload={"chat_id": -100123, "text": (text * 4)[:1400], "parse_mode": "HTML"},
        created_at=utc_iso(NOW),
        next_attempt_at=utc_iso(NOW),
        intake_number=f"K-2026-{n:04d}",
        user_id=100000 + n,
        purpose="card",
    )


async def bench_outbox(root: Path, sizes: list[int], samples: int) -> list[Row]:
    """put, mark_failed and mark_delivered with `size` deliveries pending (seeded by puts)."""
    boxes: dict[int, FileOutbox] = {}
    for size in sizes:
        box = await FileOutbox.open(root / f"outbox-{size}", SystemClock(), [])
        for start in range(0, size, 500):  # concurrent puts share writes: a fast seed
            await asyncio.gather(*(box.put(card(n)) for n in range(start, min(size, start + 500))))
        assert len(await box.pending()) == size
        boxes[size] = box
    base = 10_000_000

    def putter(box: FileOutbox) -> Callable[[int], Awaitable[None]]:
        async def put(i: int) -> None:
            await box.put(card(base + i))

        return put

    def failer(box: FileOutbox, size: int) -> Callable[[int], Awaitable[None]]:
        async def fail(i: int) -> None:
            later = NOW + timedelta(minutes=1)
            await box.mark_failed(card(i % size).id, "Too Many Requests: retry after 3", later)

        return fail

    def deliverer(box: FileOutbox) -> Callable[[int], Awaitable[None]]:
        async def deliver(i: int) -> None:
            await box.mark_delivered(card(base + i).id, NOW)

        return deliver

    puts = await interleaved(samples, {s: putter(b) for s, b in boxes.items()})
    fails = await interleaved(samples, {s: failer(b, s) for s, b in boxes.items()})
    delivers = await interleaved(samples, {s: deliverer(b) for s, b in boxes.items()})
    for size, box in boxes.items():
        assert len(await box.pending()) == size
        await box.close()
    rows = []
    for name, result in (("put", puts), ("mark_failed", fails), ("mark_delivered", delivers)):
        for size in sizes:
            note = "no TinyDB default counterpart"
            rows.append(latency_row(f"outbox {name}", size, result[size], note=note))
    return rows


class Adders:
    """`count` tasks that each add intakes one after another, as people confirming; keeps the
    latency of every add made while `recording`."""

    def __init__(self, stores: Stores, count: int, first: int) -> None:
        self.stores = stores
        self.made = 0
        self.latencies: list[float] = []
        self._next = first
        self._tasks = [asyncio.create_task(self._run()) for _ in range(count)]

    async def _run(self) -> None:
        while True:
            self._next += 1
            doc = intake_doc(self._next, "", datetime.now(UTC))
            started = time.perf_counter()
            await self.stores.intakes.add(Intake.from_dict(doc))
            self.latencies.append(time.perf_counter() - started)
            self.made += 1

    def take(self) -> tuple[int, float]:
        """How many adds finished since the last take, and their worst latency in ms."""
        done, self.latencies = self.latencies, []
        return len(done), max(done, default=0.0) * 1000

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def bench_intake_stalls(root: Path, count: int) -> list[Row]:
    """Seed `count` intakes (24 months) and an outbox about some of them, open cold, then with
    WRITERS adders adding intakes: the first checkpoint (every partition's index, as after a
    start without one), an hourly checkpoint (a few partitions changed), a retention purge (the
    oldest month expires) and an erasure of one person; each with its time, the longest
    event-loop stall while it ran and the worst add that finished meanwhile."""
    data = root / f"intake-stalls-{count}"
    months = list(seeded_docs(count))
    for month_docs in months:
        write_partitions(data / "intakes", month_docs)
    stores = await open_stores(data, SystemClock(), retention_days=3650, conversation_days=30)
    oldest, second = months[0], months[1]
    # Deliveries about intakes that retention deletes, and about the person who is erased.
    person = second[len(second) // 2]
    about = [*oldest[:: max(1, len(oldest) // 50)], person]
    await asyncio.gather(
        *(
            stores.outbox.put(
                replace(card(n), intake_number=doc["number"], user_id=int(doc["user_id"]))
            )
            for n, doc in enumerate(about)
        )
    )
    numbers = sorted((str(doc["number"]) for docs in months for doc in docs), reverse=True)
    oldest_count, first_expired, second_created = len(oldest), oldest[0]["number"], second[0]
    del months, oldest, second, about
    # As `python -m bot` does once started: what start-up made (the index) is left out of the
    # cyclic GC's collections from here on.
    settle_gc()
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.05)
    ticker.take()
    adders = Adders(stores, WRITERS, 10 * count)
    await asyncio.sleep(0.5)
    ticker.take()
    adders.take()

    async def measured(work: Awaitable[Any]) -> tuple[str, float, str]:
        """The time and longest stall of `work`, and what the adders did meanwhile; then the
        longest stall in as long again (up to 5 s) without it: on a shared machine the adders
        and the other processes alone stall the loop for tens of milliseconds."""
        started = time.perf_counter()
        await work
        took = time.perf_counter() - started
        stall = ticker.take()
        adds, worst = adders.take()
        await asyncio.sleep(min(took, 5.0))
        without = ticker.take()
        adders.take()
        return (
            f"{took:.2f} s, longest stall {stall:.0f} ms",
            stall,
            f"{adds} adds, worst {worst:.0f} ms; stall in as long without it {without:.0f} ms",
        )

    first = await measured(stores.intakes.checkpoint())
    # An hour of coordinators' work: updates of 20 intakes spread over the partitions.
    for number in numbers[:: max(1, len(numbers) // 20)][:20]:
        await stores.intakes.update(number, "bench", "view")
    await asyncio.sleep(2.1)  # older than storage.intakes.FRESH_NS, so they get index files
    ticker.take()
    adders.take()
    hourly = await measured(stores.intakes.checkpoint())
    stores.retention_days = (NOW - datetime.fromisoformat(second_created["created_at"])).days
    report: list[PurgeReport] = []

    async def purging() -> None:
        report.append(await stores.purge(NOW))

    purge = await measured(purging())
    erase = await measured(stores.erase_user(int(person["user_id"])))
    await adders.stop()
    await ticker.stop()
    # The erasure leaves a tombstone (flows.usecases.erase): the number, nothing of the person.
    stone = await stores.intakes.get(person["number"])
    assert stone is not None and stone.user_id == 0 and not stone.answers and not stone.name
    assert await stores.intakes.get(first_expired) is None
    purged = report[0].intakes
    await stores.close()
    unfreeze_gc()
    shutil.rmtree(data, ignore_errors=True)
    load = f"{WRITERS} adders, load average {os.getloadavg()[0]:.1f}"
    return [
        Row(
            "intakes: first checkpoint (every partition)",
            count,
            first[0],
            "",
            f"{load}; meanwhile {first[2]} (target <= 50 ms)",
            first[1],
        ),
        Row(
            "intakes: hourly checkpoint (20 intakes changed)",
            count,
            hourly[0],
            "",
            f"{load}; meanwhile {hourly[2]}",
            hourly[1],
        ),
        Row(
            "intakes: retention purge (Stores.purge)",
            count,
            purge[0],
            "",
            f"{load}; {purged:,} intakes (oldest month {oldest_count:,}) and their deliveries"
            f" deleted; meanwhile {purge[2]}",
            purge[1],
        ),
        Row(
            "intakes: erasure (Stores.erase_user)",
            count,
            erase[0],
            "",
            f"{load}; one person, one intake and a delivery; meanwhile {erase[2]}",
            erase[1],
        ),
    ]


def print_rows(rows: list[Row]) -> None:
    print("| operation | stored | ours | reference | notes |")
    print("|---|---:|---|---|---|")
    for row in rows:
        print(f"| {row.operation} | {row.stored:,} | {row.ours} | {row.reference} | {row.note} |")


async def main_outbox(quick: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="storage-bench-", dir=Path.cwd()))
    started = time.perf_counter()
    try:
        rows = await bench_outbox(root, [10, 5_000], 150 if quick else 400)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print_rows(rows)
    p50 = {row.stored: row.value for row in rows if row.operation == "outbox put"}
    print()
    print(f"outbox put p50 at 5,000 pending / at 10: {p50[5_000] / p50[10]:.2f}x (target <= 2x)")
    print(f"total {time.perf_counter() - started:.0f} s")


def table_rows(rows: list[Row]) -> list[tuple[str, str]]:
    """The rows as (figure, value) pairs for the one table of `python -m bench`."""
    pairs = []
    for row in rows:
        value = row.ours
        if row.reference:
            value += f" (reference: {row.reference})"
        if row.note:
            value += f"; {row.note}"
        pairs.append((f"storage: {row.operation} at {row.stored:,}", value))
    return pairs


async def main(quick: bool, parts: set[str], as_json: bool = False) -> None:
    root = Path(tempfile.mkdtemp(prefix="storage-bench-", dir=Path.cwd()))
    intake_sizes = [1_000, 10_000, 100_000]
    conversation_sizes = [1_000, 5_000, 10_000] if quick else [1_000, 10_000, 50_000]
    ours_samples = 150 if quick else 400
    default_samples = (
        {1_000: 20, 10_000: 8, 100_000: 4} if quick else {1_000: 40, 10_000: 15, 100_000: 5}
    )
    default_cap = 10_000 if quick else 100_000
    rows: list[Row] = []
    started = time.perf_counter()
    try:
        if "intakes" in parts:
            ours, notes = await bench_intakes(root, intake_sizes, ours_samples)
            print(f"  our intake adds: done ({time.perf_counter() - started:.0f} s)", flush=True)
            for count in intake_sizes:
                default = None
                if count <= default_cap:
                    default = bench_default_insert(root, count, default_samples[count])
                rows.append(latency_row("intake add", count, ours[count], default, notes[count]))
                print(
                    f"  default {count}: done ({time.perf_counter() - started:.0f} s)", flush=True
                )
            for count in intake_sizes:
                rows.extend(await bench_intake_stalls(root, count))
                print(f"  intake stalls {count}: done ({time.perf_counter() - started:.0f} s)")
        if "conversations" in parts:
            conversation_defaults = {
                size: n for size, n in default_samples.items() if size in (1_000, 10_000)
            }
            rows.extend(
                await bench_conversations(
                    root, conversation_sizes, ours_samples, conversation_defaults
                )
            )
            print(f"  conversations: done ({time.perf_counter() - started:.0f} s)", flush=True)
        if "outbox" in parts:
            rows.extend(await bench_outbox(root, [10, 5_000], ours_samples))
            print(f"  outbox: done ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    adds = {row.stored: row.value for row in rows if row.operation == "intake add"}
    flat = ""
    if adds:
        flat = f"{adds[100_000] / adds[1_000]:.2f}x (target <= 2x)"
    if as_json:
        pairs = table_rows(rows)
        if flat:
            pairs.append(("storage: intake add p50 at 100,000 / at 1,000", flat))
        print(report_json("storage", True, pairs))
        return
    print()
    print_rows(rows)
    if flat:
        print()
        print(f"intake add p50 at 100,000 / at 1,000: {flat}")
    print(f"total {time.perf_counter() - started:.0f} s")


PARTS = ("intakes", "conversations", "outbox")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples, default capped at 10k")
    parser.add_argument("--outbox", action="store_true", help="only the outbox rows (as before)")
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only these parts (repeatable)"
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON line of (figure, value) for python -m bench"
    )
    args = parser.parse_args()
    if args.outbox:
        asyncio.run(main_outbox(args.quick))
    else:
        asyncio.run(main(args.quick, set(args.only or PARTS), as_json=args.json))


if __name__ == "__main__":
    run()

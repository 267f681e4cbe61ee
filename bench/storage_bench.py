"""Storage benchmark: does saving get slower as intakes and conversations pile up?

    python -m bench.storage_bench            # full: 1,000 / 10,000 / 100,000 intakes (~5 min)
    python -m bench.storage_bench --quick    # fast: fewer samples, default TinyDB capped at 10,000

Measures p50 and p99 wall-clock latency of
- an intake submit (`stores.intakes.add`) with N intakes already stored, and
- a conversation step (`set_state` + `set_data`) with M conversations open,
- an outbox `put` (a handoff card queued), `mark_failed` and `mark_delivered` with K deliveries
  pending (`--outbox` runs only these),
on our stores (crash-safe, fsynced) and, beside it in the same run, on TinyDB's default
JSONStorage (one table holding N documents, no fsync: it is faster per byte, but rewrites the
whole file). The large stores are seeded by writing their files directly, not via N adds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram.fsm.storage.base import StorageKey
from tinydb import Query, TinyDB
from tinydb.storages import JSONStorage

from flows.records import Delivery, Intake, IntakeKind, utc_iso
from storage import Stores, SystemClock, open_stores
from storage.atomic import dumps
from storage.conversations import SNAPSHOT_SCHEMA, key_hash, key_to_dict
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
    operation: str
    stored: int
    ours: tuple[float, float]
    ours_n: int
    default: tuple[float, float] | None
    default_n: int
    note: str = ""


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
    reads every partition and writes the index snapshot, the second (warm) reads the snapshot."""
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


async def open_conversations(root: Path, count: int) -> tuple[Stores, list[StorageKey]]:
    data = root / f"conversations-{count}"
    folder = data / "conversations"
    folder.mkdir(parents=True)
    keys = [StorageKey(bot_id=1, chat_id=100000 + n, user_id=100000 + n) for n in range(count)]
    records = {
        key_hash(key): {
            "schema": CONVERSATION_SCHEMA,
            "key": key_to_dict(key),
            "state": "Intake:question",
            "data": conversation_data(n),
            "updated_at": utc_iso(NOW),
        }
        for n, key in enumerate(keys)
    }
    # The layout the store writes: a snapshot of generation 1 and its (empty) journal.
    snapshot = {"schema": SNAPSHOT_SCHEMA, "generation": 1, "conversations": records}
    (folder / "snapshot-1.json").write_bytes(dumps(snapshot))
    (folder / "journal-1.jsonl").write_bytes(b"")
    stores = await open_stores(data, SystemClock(), retention_days=3650, conversation_days=30)
    assert await stores.conversations.count() == count
    return stores, keys


async def bench_conversations(root: Path, sizes: list[int], samples: int) -> dict[int, list[float]]:
    opened = {size: await open_conversations(root, size) for size in sizes}
    rng = random.Random(1)

    def stepper(stores: Stores, keys: list[StorageKey]) -> Callable[[int], Awaitable[None]]:
        async def step(i: int) -> None:
            key = keys[rng.randrange(len(keys))]
            await stores.conversations.set_state(key, f"Intake:q{i % 20}")
            await stores.conversations.set_data(key, conversation_data(i))

        return step

    result = await interleaved(samples, {s: stepper(*pair) for s, pair in opened.items()})
    for stores, _ in opened.values():
        await stores.close()
    return result


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
            rows.append(
                Row(f"outbox {name}", size, percentiles(result[size]), samples, None, 0, note)
            )
    return rows


def print_rows(rows: list[Row]) -> None:
    print(
        "| operation | stored | ours p50 ms | ours p99 ms"
        " | TinyDB default p50 ms | default p99 ms | notes |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        shown = (
            f"{row.default[0]:.1f} | {row.default[1]:.1f}" if row.default else "not run | not run"
        )
        text = f"{row.ours_n} samples ours, {row.default_n} default"
        if row.note:
            text += f"; {row.note}"
        print(
            f"| {row.operation} | {row.stored:,} | {row.ours[0]:.2f} | {row.ours[1]:.2f} |"
            f" {shown} | {text} |"
        )


async def main_outbox(quick: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="storage-bench-", dir=Path.cwd()))
    started = time.perf_counter()
    try:
        rows = await bench_outbox(root, [10, 5_000], 150 if quick else 400)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print_rows(rows)
    p50 = {row.stored: row.ours[0] for row in rows if row.operation == "outbox put"}
    print()
    print(f"outbox put p50 at 5,000 pending / at 10: {p50[5_000] / p50[10]:.2f}x (target <= 2x)")
    print(f"total {time.perf_counter() - started:.0f} s")


async def main(quick: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="storage-bench-", dir=Path.cwd()))
    intake_sizes = [1_000, 10_000, 100_000]
    conversation_sizes = [1_000, 10_000]
    ours_samples = 150 if quick else 400
    default_samples = (
        {1_000: 20, 10_000: 8, 100_000: 4} if quick else {1_000: 40, 10_000: 15, 100_000: 5}
    )
    default_cap = 10_000 if quick else 100_000
    rows: list[Row] = []
    started = time.perf_counter()
    try:
        ours, notes = await bench_intakes(root, intake_sizes, ours_samples)
        print(f"  our intake adds: done ({time.perf_counter() - started:.0f} s)", flush=True)
        for count in intake_sizes:
            default = None
            default_n = 0
            if count <= default_cap:
                default_n = default_samples[count]
                default = percentiles(bench_default_insert(root, count, default_n))
            rows.append(
                Row(
                    "intake add",
                    count,
                    percentiles(ours[count]),
                    ours_samples,
                    default,
                    default_n,
                    notes[count],
                )
            )
            print(f"  default {count}: done ({time.perf_counter() - started:.0f} s)", flush=True)
        steps = await bench_conversations(root, conversation_sizes, ours_samples)
        for count in conversation_sizes:
            default_n = default_samples[count]
            default = percentiles(bench_default_conversations(root, count, default_n))
            rows.append(
                Row(
                    "conversation step",
                    count,
                    percentiles(steps[count]),
                    ours_samples,
                    default,
                    default_n,
                )
            )
            print(
                f"  conversations {count}: done ({time.perf_counter() - started:.0f} s)", flush=True
            )
        rows.extend(await bench_outbox(root, [10, 5_000], ours_samples))
        print(f"  outbox: done ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print_rows(rows)
    adds = {row.stored: row.ours[0] for row in rows if row.operation == "intake add"}
    print()
    print(
        f"intake add p50 at 100,000 / at 1,000: {adds[100_000] / adds[1_000]:.2f}x (target <= 2x)"
    )
    print(f"total {time.perf_counter() - started:.0f} s")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples, default capped at 10k")
    parser.add_argument("--outbox", action="store_true", help="only the outbox rows")
    args = parser.parse_args()
    asyncio.run(main_outbox(args.quick) if args.outbox else main(args.quick))


if __name__ == "__main__":
    run()

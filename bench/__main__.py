"""Run every benchmark and print one table: `python -m bench` (about 10 minutes), `--quick`.

Each benchmark runs in its own process (`python -m bench.<name> --json`), so that peak RSS, the
garbage collector and aiogram's routers belong to that benchmark alone. The storage benchmark
runs last, with `--quick` unless `--full-storage` (its full run, 50k conversations and 100k
intakes, takes about 10 minutes by itself: `python -m bench.storage_bench`); its rows are in the
one table too. The exit status is 1 if any benchmark failed, lost anything, or the step guard
is broken.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import Row, machine_line

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# (module, extra arguments, what its rows are called in the table)
BENCHES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("step_bench", (), ""),
    ("burst_bench", (), ""),
    # The same burst with the sender at Telegram's own figures instead of the margins of
    # `Limits()`: what is left above the physical minimum is the bot's own scheduling.
    ("burst_bench", ("--telegram-pace",), "burst at 30/s:"),
    ("footprint_bench", (), ""),
)
TIMEOUT = 1800


def run_json(
    module: str, quick: bool, extra: Sequence[str] = ()
) -> tuple[bool, list[Row], float, str]:
    """(ok, rows, seconds, error text) of one benchmark run in a child process."""
    command = [sys.executable, "-m", f"bench.{module}", "--json", *extra]
    command += ["--quick"] if quick else []
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return False, [], time.perf_counter() - started, f"timed out after {TIMEOUT} s"
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return False, [], seconds, (done.stderr or done.stdout)[-3000:]
    report = json.loads(lines[-1])
    rows = [(str(figure), str(value)) for figure, value in report["rows"]]
    errors = "\n".join(str(e) for e in report.get("errors", []))
    return bool(report["ok"]) and done.returncode == 0, rows, seconds, errors


def table(rows: Sequence[Row]) -> str:
    width = max(len(figure) for figure, _ in rows)
    value_width = max(len(value) for _, value in rows)
    lines = [
        f"| {'figure':<{width}} | {'value':<{value_width}} |",
        f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|",
    ]
    lines += [f"| {figure:<{width}} | {value:<{value_width}} |" for figure, value in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, about 2.5 minutes")
    parser.add_argument("--skip-storage", action="store_true", help="leave out bench.storage_bench")
    parser.add_argument(
        "--full-storage", action="store_true", help="bench.storage_bench at its full sizes"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows: list[Row] = []
    failures: list[str] = []
    for module, extra, prefix in BENCHES:
        name = " ".join([f"bench.{module}", *extra])
        print(f"running {name}{' --quick' if args.quick else ''} ...", file=sys.stderr)
        ok, bench_rows, seconds, errors = run_json(module, args.quick, extra)
        if prefix:
            bench_rows = [(f"{prefix}{figure.split(':', 1)[-1]}", v) for figure, v in bench_rows]
        rows.extend(bench_rows)
        rows.append((f"({name} took)", f"{seconds:.0f} s"))
        if not ok:
            failures.append(f"{name} FAILED:\n{errors}")
    if not args.skip_storage:
        quick = not args.full_storage
        name = "bench.storage_bench" + (" --quick" if quick else "")
        print(f"running {name} ...", file=sys.stderr)
        ok, bench_rows, seconds, errors = run_json("storage_bench", quick)
        rows.extend(bench_rows)
        rows.append((f"({name} took)", f"{seconds:.0f} s"))
        if not ok:
            failures.append(f"bench.storage_bench FAILED:\n{errors}")
    mode = "quick" if args.quick else "full"
    print(f"\nBaanwijzer benchmarks, {mode} run: {machine_line()}\n")
    print(table(rows))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    for failure in failures:
        print("\n" + failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

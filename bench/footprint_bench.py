"""Footprint: memory with 10,000 open conversations, and the start-up time of `python -m bot`.

1. RSS. A data directory gets 10,000 conversations, each a candidate halfway through the intake
   (state and data as the Dispatcher leaves them at `work_setting`), written through the file
   conversation store. A fresh process then assembles the bot over it exactly as `python -m bot`
   does (open_stores loads every conversation, services, Dispatcher), collects garbage and
   reports its resident set size; the same over an empty data directory gives the baseline.
2. Start-up. The real `python -m bot` process is started against FakeBotApiServer (an HTTP Bot
   API on 127.0.0.1, tests/support) and timed from the spawn until its first getUpdates request
   arrives; several runs, median. Once over an empty data directory, once over the 10,000
   conversations. Also the process's CPU time (user + system) at that moment, as a ratio to
   the minimal bot's (issue 14: at most 1.1x; the median of the rounds' ratios, see `_ratio`),
   as is the RSS with the conversations (1.2x). The project's bytecode is written first
   (`compile_project`).
3. The reference, in the same run: a minimal aiogram bot (`bench.minimal_bot`: one handler,
   `answer("ok")`, nothing of ours imported), its RSS once assembled and its start-up to the
   first poll, measured the same way; and a bare `python -c "import aiogram"`.

    python -m bench.footprint_bench [--quick] [--conversations N] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_TOKEN,
    Row,
    UpdateFactory,
    current_rss_mb,
    median,
    open_bench_bot,
    peak_rss_mb,
    print_rows,
    report_json,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIRST_USER = 700_000
START_TIMEOUT = 60.0


@dataclass
class Assembled:
    """What one fresh process reports after assembling the bot over a data directory."""

    conversations: int
    open_s: float
    rss_mb: float
    peak_rss_mb: float


@dataclass
class Startup:
    """Runs of one kind of start-up: wall seconds and CPU seconds until the first getUpdates."""

    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)


@dataclass
class FootprintResult:
    conversations: int
    empty: Assembled
    loaded: Assembled
    minimal_rss_mb: float = 0.0
    startup_minimal: Startup = field(default_factory=Startup)
    startup_empty: Startup = field(default_factory=Startup)
    startup_loaded: Startup = field(default_factory=Startup)
    import_aiogram_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and self.loaded.conversations == self.conversations
            and self.minimal_rss_mb > 0
            and bool(self.startup_minimal.wall_s)
            and bool(self.startup_empty.wall_s)
            and bool(self.startup_loaded.wall_s)
        )

    @property
    def kb_per_conversation(self) -> float:
        if not self.conversations:
            return 0.0
        return (self.loaded.rss_mb - self.empty.rss_mb) * 1024 / self.conversations

    def rows(self) -> list[Row]:
        n = f"{self.conversations:,}"
        return [
            ("footprint: RSS, minimal aiogram bot assembled", f"{self.minimal_rss_mb:,.0f} MB"),
            (
                "footprint: RSS, bot assembled, no conversations",
                f"{self.empty.rss_mb:,.0f} MB (assembled in {self.empty.open_s:.2f} s; "
                f"{self.empty.rss_mb - self.minimal_rss_mb:+,.0f} MB on the minimal bot)",
            ),
            (
                f"footprint: RSS, bot assembled, {n} conversations",
                f"{self.loaded.rss_mb:,.0f} MB ({self.kb_per_conversation:.1f} KB each, "
                f"loaded {self.loaded.conversations:,} in {self.loaded.open_s:.2f} s)",
            ),
            (
                f"footprint: RSS, {n} conversations / minimal aiogram bot",
                f"{self.loaded.rss_mb / self.minimal_rss_mb:.2f}x (target <= 1.2x)"
                if self.minimal_rss_mb
                else "failed",
            ),
            (
                "footprint: start-up to first poll, minimal aiogram bot",
                _startup_text(self.startup_minimal),
            ),
            (
                "footprint: start-up to first poll, empty",
                _startup_text(self.startup_empty),
            ),
            (
                f"footprint: start-up to first poll, {n} conversations",
                _startup_text(self.startup_loaded),
            ),
            (
                f"footprint: CPU to first poll, {n} conversations / minimal aiogram bot",
                _ratio(self.startup_loaded.cpu_s, self.startup_minimal.cpu_s, 1.1),
            ),
            (
                "footprint: CPU to first poll, empty / minimal aiogram bot",
                _ratio(self.startup_empty.cpu_s, self.startup_minimal.cpu_s, 1.1),
            ),
            (
                "footprint: of which `import aiogram` alone",
                _runs_text(self.import_aiogram_s),
            ),
            ("footprint: errors", str(len(self.errors))),
        ]


def _runs_text(runs: Sequence[float]) -> str:
    if not runs:
        return "failed"
    shown = ", ".join(f"{r:.2f}" for r in runs)
    return f"{median(runs):.2f} s median of {len(runs)} ({shown})"


def _startup_text(runs: Startup) -> str:
    if not runs.wall_s:
        return "failed"
    return f"{_runs_text(runs.wall_s)}; CPU {median(runs.cpu_s):.2f} s median"


def _ratio(ours: Sequence[float], minimal: Sequence[float], target: float) -> str:
    """The median of the rounds' ratios, each of one run of ours and the minimal bot's run
    started just before it: the machine's load drifts from round to round by more than the
    difference measured, and a pair shares it. The ratio of the medians is shown beside it;
    if a run failed, the rounds no longer pair up and only that ratio is given."""
    if not ours or not minimal:
        return "failed"
    of_medians = median(ours) / median(minimal)
    if len(ours) != len(minimal):
        return f"{of_medians:.2f}x of the CPU medians (target <= {target}x)"
    paired = median([mine / theirs for mine, theirs in zip(ours, minimal, strict=True)])
    return (
        f"{paired:.2f}x, median of {len(ours)} rounds' ratios (target <= {target}x);"
        f" {of_medians:.2f}x of the CPU medians"
    )


# -- the data directory ------------------------------------------------------------------------


async def make_conversations(data_dir: Path, count: int) -> None:
    """`count` candidates halfway through the intake, written by the real store."""
    from bench.step_bench import seed, template_at_mid_question

    bench = await open_bench_bot(data_dir)
    try:
        state, data = await template_at_mid_question(bench, UpdateFactory())
        await seed(bench, [FIRST_USER + i for i in range(count)], state, data)
    finally:
        await bench.close()


# -- RSS in a fresh process -----------------------------------------------------------------


async def assemble_and_measure(data_dir: Path) -> Assembled:
    """Run in the child: assemble like `python -m bot`, then measure."""
    import gc

    started = time.perf_counter()
    bench = await open_bench_bot(data_dir)
    open_s = time.perf_counter() - started
    try:
        gc.collect()
        return Assembled(
            conversations=await bench.stores.conversations.count(),
            open_s=open_s,
            rss_mb=current_rss_mb(),
            peak_rss_mb=peak_rss_mb(),
        )
    finally:
        await bench.close()


async def _child_json(module: str, *args: str) -> dict[str, Any]:
    """Run `python -m module args` and read the JSON object on its last line of output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(),
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{module} failed: {err.decode(errors='replace')[-2000:]}")
    values: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return values


async def measure_in_child(data_dir: Path) -> Assembled:
    return Assembled(**await _child_json("bench.footprint_bench", "--child", str(data_dir)))


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


# -- start-up of the real process ---------------------------------------------------------------


async def time_startup(data_dir: Path, runs: int, module: str = "bot") -> tuple[Startup, list[str]]:
    """Spawn `python -m <module>` (the bot, or `bench.minimal_bot`) against FakeBotApiServer;
    seconds (wall, and the process's CPU, user + system) until its first getUpdates."""
    import psutil

    from tests.support.fake_bot_api import FakeBotApiServer

    times = Startup()
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-start-") as cwd:
        for _ in range(runs):
            async with FakeBotApiServer(token=BENCH_TOKEN) as server:
                env = _child_env(
                    BOT_TOKEN=BENCH_TOKEN,
                    TELEGRAM_API_BASE=server.base_url,
                    DATA_DIR=str(data_dir),
                    LOG_LEVEL="WARNING",
                    SERVICE_CONTACT="Bel 070 123 45 67",  # the bot refuses to start without
                )
                started = time.perf_counter()
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    module,
                    cwd=cwd,  # no .env from the project directory
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                try:
                    await server.wait_until_polling(timeout=START_TIMEOUT)
                    times.wall_s.append(time.perf_counter() - started)
                    cpu = psutil.Process(process.pid).cpu_times()
                    times.cpu_s.append(cpu.user + cpu.system)
                except TimeoutError:
                    errors.append(f"python -m {module} did not poll within {START_TIMEOUT:.0f} s")
                finally:
                    err = await _stop(process)
                if process.returncode not in (0, -signal.SIGINT, -signal.SIGTERM, None):
                    errors.append(f"python -m {module} exited {process.returncode}: {err[-500:]}")
    return times, errors


async def measure_minimal_rss() -> float:
    """RSS of a fresh process that assembled the minimal aiogram bot."""
    values = await _child_json("bench.minimal_bot", "--measure")
    return float(values["rss_mb"])


async def time_import_aiogram(runs: int) -> list[float]:
    """What a bare `python -c "import aiogram"` costs here: the floor under the start-up."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import aiogram", cwd=PROJECT_ROOT, env=_child_env()
        )
        if await process.wait() == 0:
            times.append(time.perf_counter() - started)
    return times


async def _stop(process: asyncio.subprocess.Process) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout=15)
    except TimeoutError:
        process.kill()
        _, err = await process.communicate()
    return err.decode(errors="replace") if err else ""


# -- the whole benchmark ---------------------------------------------------------------------


def compile_project() -> None:
    """Write the bytecode of the project's own packages, as a deployed bot has it.

    aiogram and the other installed packages were compiled when pip installed them. The
    project is installed editable, so its modules are compiled at their first import, and not
    even then when PYTHONDONTWRITEBYTECODE is set (as on this machine): every start-up would
    compile again each module changed since, about 10 ms each (a clean clone: all of them), a
    cost no running bot pays more than once."""
    for package in ("bot", "flows", "storage", "bench"):
        compileall.compile_dir(PROJECT_ROOT / package, quiet=2, workers=1)


async def run_footprint_bench(conversations: int = 10_000, runs: int = 9) -> FootprintResult:
    compile_project()
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        empty_dir = Path(tmp) / "empty"
        loaded_dir = Path(tmp) / "loaded"
        await make_conversations(loaded_dir, conversations)
        # The writer's funnel and other files stay; only conversations matter here.
        minimal_rss = await measure_minimal_rss()
        empty = await measure_in_child(empty_dir)
        loaded = await measure_in_child(loaded_dir)
        shutil.rmtree(empty_dir, ignore_errors=True)
        # Interleaved (minimal, empty, loaded, minimal, ...): the shared machine's load drifts
        # by more than the differences measured, so each kind gets the same share of it.
        startup_minimal, startup_empty, startup_loaded = Startup(), Startup(), Startup()
        errors: list[str] = []
        for _ in range(runs):
            for into, directory, module in (
                (startup_minimal, empty_dir, "bench.minimal_bot"),
                (startup_empty, empty_dir, "bot"),
                (startup_loaded, loaded_dir, "bot"),
            ):
                once, more = await time_startup(directory, 1, module)
                into.wall_s.extend(once.wall_s)
                into.cpu_s.extend(once.cpu_s)
                errors.extend(more)
        import_aiogram = await time_import_aiogram(runs)
        if loaded.conversations != conversations:
            errors.append(f"{loaded.conversations} conversations loaded of {conversations}")
        return FootprintResult(
            conversations=conversations,
            empty=empty,
            loaded=loaded,
            minimal_rss_mb=minimal_rss,
            startup_minimal=startup_minimal,
            startup_empty=startup_empty,
            startup_loaded=startup_loaded,
            import_aiogram_s=import_aiogram,
            errors=errors,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.footprint_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 conversations, 3 runs")
    parser.add_argument("--conversations", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--json", action="store_true", help="one JSON line for python -m bench")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        assembled = asyncio.run(assemble_and_measure(args.child))
        print(json.dumps(assembled.__dict__))
        return 0
    conversations = args.conversations or (2000 if args.quick else 10_000)
    runs = args.runs or (3 if args.quick else 9)
    result = asyncio.run(run_footprint_bench(conversations, runs))
    if args.json:
        print(report_json("footprint", result.ok, result.rows(), errors=result.errors))
    else:
        print_rows("Footprint", result.rows())
        for error in result.errors:
            print("  error:", error, file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

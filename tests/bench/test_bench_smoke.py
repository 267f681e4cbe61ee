"""The benchmarks still run: each at a tiny size, checking the shape of its result and that
nothing was lost. No timing is asserted here; speed is what `python -m bench` reports."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from bench.burst_bench import (
    OUTCOME_ORDER,
    SUMMARY_ORDER,
    TELEGRAM_PACE,
    TIME_TICK,
    StoresKind,
    run_burst_bench,
    screen_order,
    virtual_time_loop,
)
from bench.common import CANDIDATE_ANSWERS, CANDIDATE_SCRIPT, MID_NEXT, MID_QUESTION, percentile
from bench.footprint_bench import (
    Assembled,
    FootprintResult,
    Startup,
    assemble_and_measure,
    make_conversations,
    measure_minimal_rss,
)
from bench.step_bench import run_step_bench
from bench.storage_bench import bench_intake_stalls
from flows.engine import Accepted, Engine, Phase
from flows.loader import load_shipped_flows


def test_the_typed_script_is_a_whole_candidate_intake() -> None:
    engine = Engine(load_shipped_flows()["candidate"])
    state = engine.start()
    asked = []
    for text in CANDIDATE_ANSWERS:
        step = engine.step(state)
        assert step is not None
        asked.append(step.question.id)
        result = engine.answer_text(state, text)
        assert isinstance(result, Accepted), (step.question.id, text)
        state = result.state
    assert state.phase == Phase.SUMMARY
    assert asked[asked.index(MID_QUESTION) + 1] == MID_NEXT


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) == 0.0


def test_the_burst_tells_questions_summary_and_outcome_apart() -> None:
    assert screen_order("<i>Vraag 3</i> · ▰▱▱▱▱▱▱▱▱▱\n<b>Hoe oud ben je?</b>") == 3
    assert screen_order("📋 <b>Dit zijn je antwoorden</b>") == SUMMARY_ORDER
    assert screen_order("✅ <b>Verstuurd.</b>\nJe nummer is <b>K-2026-0001</b>.") == OUTCOME_ORDER
    assert screen_order("🔒 <b>Eerst dit: zo gaan we met je gegevens om</b>") is None


def test_virtual_time_moves_on_for_a_sleep_of_a_rounding_error() -> None:
    """A sleep shorter than a tick still lets the clock move (it would spin for ever)."""

    async def sleeps() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(1.0)
        before = loop.time()
        await asyncio.sleep(2.2e-16)
        await asyncio.sleep(3600)  # virtual: no real hour passes
        return before, loop.time()

    with asyncio.Runner(loop_factory=virtual_time_loop) as runner:
        before, after = runner.run(sleeps())
    assert before == 1.0
    assert after == 1.0 + TIME_TICK + 3600


async def test_step_bench_runs_the_intake_and_both_references() -> None:
    result = await run_step_bench(users=5, rounds=1)

    assert result.errors == []
    assert result.ok
    for variant in (result.no_call, result.same_calls, result.intake):
        assert len(variant.rates) == 1
        assert variant.per_s > 0
        assert variant.cpu_ms_each > 0
    assert result.calls_per_step == 2.0  # the next question and the edit of the answered one
    assert math.isfinite(result.own_ratio)
    figures = dict(result.rows())
    assert "step: GUARD own <= the 2 calls" in figures
    assert "step: bot's own CPU (intake - same 2 calls)" in figures


@pytest.mark.parametrize("stores", ["file", "memory"])
def test_burst_finishes_every_intake_and_loses_nothing(stores: StoresKind) -> None:
    result = run_burst_bench(users=5, stores=stores)

    assert result.errors == []
    assert result.finished == result.intakes_stored == result.cards == 5
    assert result.lost == 0
    assert result.cards_pending == 0
    assert result.too_soon == 0  # no retry came before Telegram's retry_after
    assert result.ok
    # Every person waited once per message they typed: for the next question, the summary,
    # the outcome.
    assert len(result.waits_s) == 5 * len(CANDIDATE_SCRIPT)
    assert all(wait >= 0 for wait in result.waits_s)
    assert result.private_calls > 0
    assert result.group_calls == 5
    assert 0 < result.minimum_s <= result.wall_s
    assert math.isfinite(result.ratio)
    assert result.ratio > 0
    assert result.cpu_s > 0
    assert result.stall_s > 0
    assert 0 < result.callback_longest_s <= result.real_s
    values = dict(result.rows())
    assert values["burst: finished intakes"].startswith("5 of 5")
    assert "Limits() defaults" in values["burst: candidates x messages"]
    assert values["burst: lost answers"].startswith("0 ")
    assert "burst: RATIO wall / physical minimum" in values


def test_the_burst_at_telegrams_pace_sends_at_30_a_second_without_a_refusal() -> None:
    result = run_burst_bench(users=40, limits=TELEGRAM_PACE)

    assert result.errors == []
    assert result.finished == result.cards == 40
    assert result.lost == 0
    # The sender's own pace is Telegram's, and the flood model never had to refuse a call.
    assert result.refused == 0
    assert result.pace_min_s == pytest.approx(result.private_calls / 30)
    assert "sender at 30/s, 20/min per group" in dict(result.rows())["burst: candidates x messages"]


@pytest.mark.slow  # measure_minimal_rss starts a process of its own (bench.minimal_bot)
async def test_footprint_loads_the_conversations_and_measures_the_minimal_bot(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    await make_conversations(data_dir, 5)

    loaded = await assemble_and_measure(data_dir)
    assert loaded.conversations == 5
    assert loaded.rss_mb > 0
    assert loaded.open_s > 0
    minimal_rss = await measure_minimal_rss()
    assert minimal_rss > 0

    # The start-up of `python -m bot` (several seconds here, most of it importing aiogram) is
    # left to `python -m bench`; its result is checked for shape only.
    result = FootprintResult(
        conversations=5,
        empty=Assembled(conversations=0, open_s=0.1, rss_mb=100.0, peak_rss_mb=100.0),
        loaded=loaded,
        minimal_rss_mb=minimal_rss,
        startup_minimal=Startup([0.9], [0.8]),
        startup_empty=Startup([1.0], [0.85]),
        startup_loaded=Startup([1.5], [0.9]),
        import_aiogram_s=[0.5],
    )
    assert result.ok
    rows = dict(result.rows())
    assert len(rows) == 11
    assert rows["footprint: CPU to first poll, 5 conversations / minimal aiogram bot"].startswith(
        "1.12x"
    )
    assert not FootprintResult(5, result.empty, loaded, minimal_rss).ok  # no start-up measured


async def test_the_storage_bench_measures_checkpoint_purge_and_erasure_at_a_tiny_size(
    tmp_path: Path,
) -> None:
    rows = await bench_intake_stalls(tmp_path, 300)

    operations = " / ".join(row.operation for row in rows)
    for word in ("checkpoint", "purge", "erasure"):
        assert word in operations, operations
    assert all(row.stored == 300 for row in rows)

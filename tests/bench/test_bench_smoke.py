"""The benchmarks still run: each at a tiny size, checking the shape of its result and that
nothing was lost. No timing is asserted here; speed is what `python -m bench` reports."""

from __future__ import annotations

from pathlib import Path

from bench.burst_bench import run_burst_bench
from bench.common import CANDIDATE_ANSWERS, MID_NEXT, MID_QUESTION, percentile
from bench.footprint_bench import (
    Assembled,
    FootprintResult,
    assemble_and_measure,
    make_conversations,
)
from bench.step_bench import run_step_bench
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


async def test_step_bench_runs_the_intake_and_both_references() -> None:
    result = await run_step_bench(users=5, rounds=1)

    assert result.errors == []
    assert result.ok
    for variant in (result.bare, result.one_call, result.same_calls, result.intake):
        assert len(variant.rates) == 1
        assert variant.per_s > 0
        assert variant.cpu_ms_each > 0
    assert result.ratio > 0
    figures = [figure for figure, _ in result.rows()]
    assert "step: RATIO intake / bare" in figures
    assert "step: intake step" in figures


async def test_burst_bench_loses_nothing() -> None:
    result = await run_burst_bench(users=5)

    assert result.errors == []
    assert result.finished == result.intakes_stored == result.handoffs_queued == 5
    assert result.distinct_people == 5
    assert result.ok
    assert result.steps_each == len(CANDIDATE_ANSWERS) + 2
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    assert result.peak_rss_mb > 0
    values = dict(result.rows())
    assert values["burst: lost"] == "none"


async def test_footprint_loads_the_conversations(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await make_conversations(data_dir, 5)

    loaded = await assemble_and_measure(data_dir)
    assert loaded.conversations == 5
    assert loaded.rss_mb > 0
    assert loaded.open_s > 0

    # The start-up of `python -m bot` (5-10 s here, most of it importing aiogram) is left to
    # `python -m bench`; its result is checked for shape only.
    result = FootprintResult(
        conversations=5,
        empty=Assembled(conversations=0, open_s=0.1, rss_mb=100.0, peak_rss_mb=100.0),
        loaded=loaded,
        startup_empty_s=[1.0],
        startup_loaded_s=[1.5],
        import_aiogram_s=[0.5],
    )
    assert result.ok
    assert len(result.rows()) == 6
    assert not FootprintResult(5, result.empty, loaded).ok  # no start-up measured

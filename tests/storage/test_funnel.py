"""Funnel counts: kept in memory, written within a second and at close, never corrupt-silently."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from storage.funnel import FileFunnel


async def test_counts_reach_the_file_at_close_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "funnel.json"
    funnel = FileFunnel(path, flush_every=3600)
    for _ in range(3):
        await funnel.count("candidate:shown:age")
    await funnel.count("candidate:started")
    assert not path.exists()  # no fsync on the intake's path
    await funnel.close()
    assert json.loads(path.read_text()) == {"candidate:shown:age": 3, "candidate:started": 1}
    again = FileFunnel(path)
    assert await again.counts() == {"candidate:shown:age": 3, "candidate:started": 1}


async def test_counts_are_written_after_flush_every_without_a_close(tmp_path: Path) -> None:
    path = tmp_path / "funnel.json"
    funnel = FileFunnel(path, flush_every=0.01)
    await funnel.count("employer:finished")
    for _ in range(100):
        if path.exists():
            break
        await asyncio.sleep(0.01)
    assert json.loads(path.read_text()) == {"employer:finished": 1}
    await funnel.close()


def test_a_corrupt_file_is_moved_aside_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "funnel.json"
    path.write_text("{not json")
    problems: list[str] = []
    funnel = FileFunnel(path, problems)
    assert asyncio.run(funnel.counts()) == {}
    assert len(problems) == 1
    assert str(path) in problems[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("funnel.json.corrupt")]

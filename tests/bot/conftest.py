"""The fixtures of the bot tests: `harness` (a person's side) and `coord` (with a coordinators'
group). What they are built from, and the helpers that walk an intake or press a card's buttons,
are in tests/bot/intake_harness.py and tests/bot/coordinator_harness.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.coordinator_harness import Coord, make_coord
from tests.bot.intake_harness import Harness, build_harness


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """The real Dispatcher over the in-memory stores; a person's private chat."""
    built = await build_harness(tmp_path / "data")
    yield built
    await built.close()


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coord]:
    """`harness` with a coordinators' group and two coordinators (COORD, COORD2)."""
    built = await make_coord(tmp_path)
    yield built
    await built.h.close()

"""Defects found in a fresh-eyes review of `bot/` and `templates/`, each pinned by a test.

Every test drives the real Dispatcher (tests/bot/intake_fixtures.py, coordinator_fixtures.py)
and asserts what a person or a coordinator sees, or what is stored.
"""

from __future__ import annotations

from tests.bot.coordinator_fixtures import (
    GROUP,
    Coord,
    coord_fixture,  # noqa: F401 - the fixture, by name
)
from tests.support.bot_api_state import visible_text


async def test_card_route_reasons_do_not_reveal_sensitive_answers(coord: Coord) -> None:
    # "Veel hulp" is the answer to a sensitive question (guidance): the card in the group must
    # not spell it out as the reason for the collective route.
    intake = await coord.add_intake(answers={"guidance": "veel", "work_setting": "alleen"})
    await coord.deliver()
    card = visible_text(coord.message(GROUP, await coord.card_id(intake.number))["text"], "HTML")
    assert "collectief" in card  # the route itself is on the card, as the issue asks
    assert "veel hulp" not in card.casefold()
    # A reason from a non-sensitive answer still shows.
    assert "Je werkt liever in een eigen baan" in card

"""A conversation stored under an older flow file goes on after the file changed."""

from __future__ import annotations

from tests.bot.intake_harness import CANDIDATE_ANSWERS, Harness, walk


async def test_a_removed_question_and_option_are_dropped_and_the_person_goes_on(
    harness: Harness,
) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="hours")
    context = harness.context()
    data = await context.get_data()
    stored = data["flow_state"]
    # As if the flow file changed while this person was away: the question on screen and one
    # option of an earlier answer no longer exist, and the version moved on.
    stored["version"] = "2025.9"
    stored["current"] = "favourite_colour"
    stored["answers"]["favourite_colour"] = "blauw"
    stored["answers"]["work_setting"] = "op-de-maan"
    await context.set_data(data)

    driver = harness.driver()
    await driver.send("/help")

    state = await harness.flow_state()
    assert state is not None
    assert state.version == harness.services.engines["candidate"].flow.version
    assert "favourite_colour" not in state.answers
    # The answer with the removed option is asked again, before anything later.
    assert state.current == "work_setting"
    assert "Hier ga je verder" in driver.texts_since_last_action[0]
    assert "Wil je werken in een groep met vaste begeleiding?" in (driver.last_text or "")

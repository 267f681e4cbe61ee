"""A restart in the middle of an intake: new stores, services and Dispatcher over the same files.

The Bot API side (chats and their messages) is kept across the restart, as Telegram keeps it.
"""

from __future__ import annotations

from pathlib import Path

from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    FakeClock,
    Harness,
    confirm_summary,
    open_file_harness,
    walk,
)
from tests.support.session import RecordingSession
from tests.support.updates import DEFAULT_USER_ID, callback_update, update_of


async def restart(before: Harness, data_dir: Path) -> Harness:
    """Close the stores as a stopping process does, and start again from the files."""
    await before.stores.close()
    session = RecordingSession(before.session.state)
    return await open_file_harness(data_dir, session=session, clock=FakeClock())


async def test_a_typed_answer_after_a_restart_goes_to_the_right_question(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    await walk(first, "candidate", CANDIDATE_ANSWERS, until="hours")
    state_before = await first.flow_state()

    second = await restart(first, data_dir)
    try:
        assert await second.flow_state() == state_before
        driver = second.driver()
        await driver.send("24")

        state = await second.flow_state()
        assert state is not None
        assert state.answers["hours"] == 24
        assert state.current == "days"
        assert (driver.last_text or "").startswith("Vraag 15 · ")
        assert "Op welke dagen kun je werken?" in (driver.last_text or "")

        # And the rest of the intake is stored in the files as usual.
        await walk(second, "candidate", CANDIDATE_ANSWERS, start=False)
        await confirm_summary(driver)
        [intake] = await second.intakes()
        assert intake.answers["hours"] == 24
        assert intake.answers["work_other"] == "Koken in een keuken"  # from before the restart
    finally:
        await second.stores.close()

    third = await open_file_harness(data_dir)
    try:
        [again] = await third.intakes()
        assert again.number == intake.number
        assert len(await third.deliveries()) == 1
        assert await third.conversation() != (None, {})
        assert (await third.conversation())[1]["flow_state"] is None
    finally:
        await third.stores.close()


async def test_a_button_from_before_the_restart_on_the_current_question_still_works(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    await walk(first, "candidate", CANDIDATE_ANSWERS, until="travel")
    screen = first.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert screen is not None
    assert "Hoe wil je naar je werk reizen?" in str(screen["text"])

    second = await restart(first, data_dir)
    try:
        driver = second.driver()
        await driver.click("2. Met de bus of trein")

        state = await second.flow_state()
        assert state is not None
        assert state.answers["travel"] == "ov"
        assert state.current == "contact_method"
        [edit] = second.session.requests_of("editMessageText")
        assert edit.params["message_id"] == str(screen["message_id"])
        assert edit.params["text"].endswith("✅ Met de bus of trein")
    finally:
        await second.stores.close()


async def test_an_older_button_after_a_restart_is_stale_and_changes_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    await walk(first, "candidate", CANDIDATE_ANSWERS, until="travel")
    state_before = await first.flow_state()

    second = await restart(first, data_dir)
    try:
        driver = second.driver()
        # The "team or alone" question (index 15) was answered before the restart.
        await driver.feed(callback_update("a:c:15:1"))

        # A toast; the question on screen ("Hoe wil je naar je werk reizen?") stays the newest.
        assert driver.texts_since_last_action == []
        assert driver.last_alert == (
            "Deze knop hoort bij een oud bericht. Kijk bij het nieuwste bericht."
        )
        assert await second.flow_state() == state_before
    finally:
        await second.stores.close()


async def test_a_button_on_a_message_telegram_no_longer_shows_in_full_still_works(
    tmp_path: Path,
) -> None:
    # After 48 hours Telegram sends the button's message as an InaccessibleMessage (date 0).
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    await walk(first, "candidate", CANDIDATE_ANSWERS, until="work_setting")
    screen = first.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert screen is not None

    second = await restart(first, data_dir)
    try:
        update = update_of(
            "callback_query",
            {
                "id": "old-1",
                "from": {"id": DEFAULT_USER_ID, "is_bot": False, "first_name": "Anna"},
                "chat_instance": str(DEFAULT_USER_ID),
                "message": {
                    "message_id": screen["message_id"],
                    "date": 0,
                    "chat": {"id": DEFAULT_USER_ID, "type": "private", "first_name": "Anna"},
                },
                "data": "a:c:15:1",  # "Alleen, in een eigen baan"
            },
        )
        assert type(update.callback_query).__name__ == "CallbackQuery"
        await second.driver().feed(update)
        state = await second.flow_state()
        assert state is not None
        assert state.answers["work_setting"] == "alleen"
        assert state.current == "employer_pref"
    finally:
        await second.stores.close()

"""Nothing a person types is lost: under Telegram's limits, faults, restarts and erasure.

Everything runs through the real Dispatcher, stores and sender; only the Bot API is fake (at
the session seam), with Telegram's flood control modelled (tests/support/flood.py). The event
loop runs on fake time (looptime), so minutes of pacing and `retry_after` pass in milliseconds.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

import bot.chat as chat_module
from bot.chat import ChatOutbox
from bot.sender import Limits
from flows.model import AnswerValue
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    HELPER_ONLY,
    Harness,
    build_harness,
    confirm_summary,
    open_file_harness,
    typed_form,
    walk,
)
from tests.support.bot_api_state import BotApiError
from tests.support.flood import Fault, FloodModel
from tests.support.session import RecordingSession
from tests.support.updates import DEFAULT_USER_ID, message_update

QUESTION = re.compile(r"^Vraag (\d+) · ")
NUMBER = re.compile(r"K-2026-\d{4}")


def bot_texts(harness: Harness, chat_id: int) -> list[tuple[int, str]]:
    """The bot's messages in a chat as the person sees them now: (message id, text)."""
    return [
        (int(m["message_id"]), str(m.get("text", "")))
        for m in harness.session.state.chat_messages(chat_id)
        if (m.get("from") or {}).get("is_bot")
    ]


async def next_screen(
    harness: Harness, session: RecordingSession, chat_id: int, after: int
) -> tuple[int, str]:
    """Wait, as a person does, until a question, the summary or the outcome arrives."""
    event = session.arrival(chat_id)
    while True:
        for message_id, text in bot_texts(harness, chat_id):
            if message_id > after and (
                QUESTION.match(text) or text.startswith("📋") or NUMBER.search(text)
            ):
                return message_id, text
        event.clear()
        await event.wait()


async def person(harness: Harness, session: RecordingSession, user_id: int, seen: list[int]) -> str:
    """One candidate: start, answer each question once it is on screen, confirm, read the
    number. `seen` collects the question numbers in the order they arrived."""
    answers: dict[str, AnswerValue] = dict(CANDIDATE_ANSWERS)
    await harness.dp.feed_update(harness.bot, message_update("/start kandidaat", user_id=user_id))
    last = 0
    while True:
        last, text = await next_screen(harness, session, user_id, last)
        if (found := NUMBER.search(text)) is not None:
            return found.group(0)
        if text.startswith("📋"):
            await harness.dp.feed_update(harness.bot, message_update("klopt", user_id=user_id))
            continue
        match = QUESTION.match(text)
        assert match is not None
        seen.append(int(match.group(1)))
        question = await harness.current_question(user_id)
        assert question is not None
        await harness.dp.feed_update(
            harness.bot,
            message_update(typed_form(question, answers[question.id]), user_id=user_id),
        )


def refused_too_soon(flood: FloodModel) -> int:
    return flood.too_soon


async def flooded_harness(tmp_path: Path, **flood: Any) -> tuple[Harness, RecordingSession]:
    session = RecordingSession()
    harness = await build_harness(tmp_path, session=session, limits=Limits())
    session.flood = FloodModel(clock=asyncio.get_running_loop().time, **flood)
    return harness, session


@pytest.mark.looptime
async def test_200_candidates_at_once_under_telegrams_limits_all_finish_and_lose_nothing(
    tmp_path: Path,
) -> None:
    harness, session = await flooded_harness(tmp_path)
    users = [5000 + n for n in range(200)]
    seen: dict[int, list[int]] = {u: [] for u in users}
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        numbers = await asyncio.wait_for(
            asyncio.gather(*(person(harness, session, u, seen[u]) for u in users)),
            timeout=4 * 3600,
        )
        await harness.settle()
        took = loop.time() - began
        intakes = await harness.intakes()
        # Every one finished, with their own number, and it is the number stored for them.
        assert len(set(numbers)) == 200
        assert {i.user_id: i.number for i in intakes} == dict(zip(users, numbers, strict=True))
        sent_to: dict[str | None, Counter[str]] = defaultdict(Counter)
        for request in session.requests_of("sendMessage"):
            if request.ok:
                sent_to[request.chat_id][request.params.get("text", "")] += 1
        for user in users:
            # No answer lost: the questions came in order, none older than one seen before,
            # and none twice.
            assert seen[user] == sorted(set(seen[user])), (user, seen[user])
            sends = sent_to[str(user)]
            assert max(sends.values()) == 1, [t for t, n in sends.items() if n > 1][:2]
        flood = session.flood
        assert flood is not None
        # The sender kept within the limits it was given: no retry came before `retry_after`.
        assert flood.too_soon == 0
        # And it stays near the physical minimum: the limited calls at 30 a second.
        limited = sum(1 for r in session.requests if r.ok and r.name != "answerCallbackQuery")
        print(
            f"\n200 candidates: {took:.0f} s virtual for {limited} calls "
            f"(minimum {limited / 30:.0f} s), {flood.refused} refused by flood control"
        )
        assert took <= 1.5 * limited / 25
    finally:
        await harness.close()


@pytest.mark.looptime
async def test_429_and_502_windows_lose_nothing_and_no_retry_comes_before_retry_after(
    tmp_path: Path,
) -> None:
    harness, session = await flooded_harness(
        tmp_path,
        faults=[
            Fault(start=0.0, end=20.0, status=429, chat_id=DEFAULT_USER_ID, retry_after=7),
            Fault(start=25.0, end=55.0, status=502, chat_id=DEFAULT_USER_ID),
            Fault(start=60.0, end=90.0, status=502),
        ],
    )
    seen: list[int] = []
    try:
        number = await asyncio.wait_for(person(harness, session, DEFAULT_USER_ID, seen), 3600)
        await harness.settle()
        [intake] = await harness.intakes()
        assert intake.number == number
        assert seen == sorted(set(seen))
        assert len(seen) == len(set(CANDIDATE_ANSWERS) - set(HELPER_ONLY))
        flood = session.flood
        assert flood is not None
        assert flood.refused > 0  # the faults did happen
        assert flood.too_soon == 0
        # The 429s were waited out: no two attempts on the chat closer than 7 s while it lasted.
        assert harness.sender.stats.retried_429 >= 1
        assert harness.sender.stats.retried_transient >= 1
    finally:
        await harness.close()


async def test_klopt_twice_at_once_stores_one_intake_and_tells_one_number(
    harness: Harness,
) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS)
    driver = harness.driver()
    summary = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert summary is not None
    mark = len(harness.session.requests)

    async def tap() -> None:
        await driver.click("✅ Klopt, versturen")

    await asyncio.gather(tap(), tap())
    await harness.settle()
    [intake] = await harness.intakes()
    told = [
        r.params["text"]
        for r in harness.session.requests[mark:]
        if r.name == "sendMessage" and intake.number in r.params.get("text", "")
    ]
    assert len(told) == 1


async def test_a_submit_cut_off_by_a_restart_is_finished_at_start_up_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    outbox: ChatOutbox = first.dp["chat_outbox"]
    await walk(first, "candidate", CANDIDATE_ANSWERS)
    # The process dies right after "Klopt" was committed: nothing after the commit runs.
    outbox.on_submit = None
    await confirm_summary(first.driver())
    assert await first.intakes() == []
    await first.close()

    second = await open_file_harness(data_dir)
    try:
        await second.dp["chat_outbox"].resume()
        await second.settle()
        [intake] = await second.intakes()
        told = [t for t in second.session.sent_texts(DEFAULT_USER_ID) if intake.number in t]
        assert len(told) == 1  # the person is told their number after the restart
        # Resuming again (another restart) adds nothing and tells nothing twice.
        await second.dp["chat_outbox"].resume()
        await second.settle()
        assert [i.number for i in await second.intakes()] == [intake.number]
        assert (
            len([t for t in second.session.sent_texts(DEFAULT_USER_ID) if intake.number in t]) == 1
        )
    finally:
        await second.close()


@pytest.mark.looptime
async def test_a_submit_that_fails_after_the_add_keeps_one_intake(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS)
    outbox: ChatOutbox = harness.dp["chat_outbox"]
    real_commit = outbox.commit
    calls = 0

    async def commit_fails_once(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first is the "Klopt" update; the second the submit's own
            raise OSError("disk full")
        await real_commit(*args, **kwargs)

    outbox.commit = commit_fails_once  # type: ignore[method-assign]
    # The driver waits for the sender to settle, which includes the submit and its retry.
    await confirm_summary(harness.driver())
    assert calls == 3  # "Klopt", the submit that failed after the add, and its retry
    [intake] = await harness.intakes()
    assert len([t for t in harness.session.sent_texts(DEFAULT_USER_ID) if intake.number in t]) == 1


async def test_calls_queued_before_a_restart_are_sent_after_it_in_order(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    await first.sender.stop()
    # Nothing leaves: the sender is stopped, as in a process killed after the commit.
    first.sender.start = lambda: None  # type: ignore[method-assign]
    await first.dp.feed_update(first.bot, message_update("/start kandidaat"))
    assert first.session.requests_of("sendMessage") == []
    _, data = await first.conversation()
    assert len(data["outbox"]) == 2
    await first.stores.close()

    second = await open_file_harness(data_dir)
    try:
        await second.dp["chat_outbox"].resume()
        await second.settle()
        texts = second.session.sent_texts(DEFAULT_USER_ID, visible=True)
        assert texts[0].startswith("🔒")
        assert QUESTION.match(texts[1])
        _, data = await second.conversation()
        assert data["outbox"] == []
        assert data["screen"]["id"] is not None  # the question's message id was recorded
    finally:
        await second.close()


async def test_a_restart_reads_only_the_conversations_with_something_to_send(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    # Ten people stand at a question with everything sent; one more has calls still queued.
    for user in range(7000, 7010):
        await first.dp.feed_update(first.bot, message_update("/start kandidaat", user_id=user))
    await first.settle()
    await first.sender.stop()
    first.sender.start = lambda: None  # type: ignore[method-assign]
    await first.dp.feed_update(first.bot, message_update("/start kandidaat"))
    await first.stores.close()

    second = await open_file_harness(data_dir)
    store = second.stores.conversations
    read: list[int] = []
    get_data = store.get_data

    async def counting(key: Any) -> dict[str, Any]:
        read.append(key.user_id)
        return await get_data(key)

    store.get_data = counting  # type: ignore[method-assign]
    try:
        resumed = await second.dp["chat_outbox"].resume()
        # Only the one record with queued calls was decoded; its calls went out.
        assert read == [DEFAULT_USER_ID]
        assert resumed == 2
        await second.settle()
        assert second.session.sent_texts(DEFAULT_USER_ID, visible=True)[0].startswith("🔒")
    finally:
        store.get_data = get_data  # type: ignore[method-assign]
        await second.close()


@pytest.mark.looptime
async def test_an_erasure_while_replies_are_waiting_sends_and_keeps_nothing_of_them(
    tmp_path: Path,
) -> None:
    # A very slow chat: the replies wait in the queue.
    harness = await build_harness(tmp_path, limits=Limits(chat_per_second=0.001, chat_burst=1))
    try:
        driver = harness.driver()
        await harness.dp.feed_update(harness.bot, message_update("/start kandidaat"))
        await harness.dp.feed_update(harness.bot, message_update("1"))
        _, data = await harness.conversation()
        assert data["outbox"], "the replies should still be waiting"
        await harness.dp.feed_update(harness.bot, message_update("/verwijder"))
        await harness.dp.feed_update(harness.bot, message_update("ja"))
        assert await harness.conversation() == (None, {})
        mark = len(harness.session.requests)
        await asyncio.sleep(7200)  # the limit would have let everything out by now
        after = [r for r in harness.session.requests[mark:] if r.ok]
        texts = [r.params.get("text", "") for r in after]
        # Only the confirmation of the erasure left; none of the waiting replies.
        assert len(after) <= 2, [r.name for r in after]
        assert all("Vraag" not in t for t in texts)
        assert any("Gewist" in t for t in texts)
        assert await harness.conversation() == (None, {})
        del driver
    finally:
        await harness.close()


async def test_a_person_who_blocked_the_bot_is_reported_once_under_their_card(
    harness: Harness,
) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS)
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    harness.session.state.block(DEFAULT_USER_ID)
    await harness.driver().send("/help")
    await harness.driver().send("/help")

    _, data = await harness.conversation()
    assert data["outbox"] == []  # nothing left waiting for a chat that refuses everything
    [stored] = await harness.intakes()
    blocked = [h for h in stored.history if h.action == "niet-bezorgd"]
    assert len(blocked) == 1  # once, not per call or per update
    notices = [
        d
        for d in await harness.deliveries()
        if d.intake_number == intake.number and "kon niet worden bezorgd" in d.payload["text"]
    ]
    assert len(notices) == 1


async def test_typing_while_the_intake_is_being_sent_starts_nothing_new(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS)
    driver = harness.driver()
    mark = len(harness.session.requests)
    # "klopt" twice, typed fast: the second arrives before the submit ran.
    await asyncio.gather(
        harness.dp.feed_update(harness.bot, message_update("klopt")),
        harness.dp.feed_update(harness.bot, message_update("klopt")),
        harness.dp.feed_update(harness.bot, message_update("/start")),
    )
    await harness.settle()
    [intake] = await harness.intakes()
    texts = [
        r.params.get("text", "")
        for r in harness.session.requests[mark:]
        if r.ok and r.name == "sendMessage"
    ]
    assert sum(intake.number in t for t in texts) == 1
    assert not any(t.startswith("📋") for t in texts)  # the summary was not shown again
    assert not any("Wie ben jij" in t for t in texts)  # nor the welcome
    del driver


async def test_an_update_handed_out_again_after_a_restart_is_answered_once(
    harness: Harness,
) -> None:
    # Telegram hands an update out again when the bot died before confirming it; by then
    # its commit may have landed. Answering it twice would ask the next question twice.
    await harness.driver().send("/start kandidaat")
    again = message_update("1")
    await harness.dp.feed_update(harness.bot, again)
    await harness.settle()
    state = await harness.flow_state()
    assert state is not None
    assert state.current == "filled_by"
    mark = len(harness.session.requests)
    await harness.dp.feed_update(harness.bot, again)
    await harness.settle()
    assert harness.session.requests[mark:] == []
    assert await harness.flow_state() == state


async def notice_answered(harness: Harness) -> dict[str, Any]:
    """Start an intake and accept the privacy notice; return the stored record once the sender
    is idle, before anything writes the sent calls' results (no settle(): it would)."""
    await harness.dp.feed_update(harness.bot, message_update("/start kandidaat"))
    await harness.sender.idle()
    await harness.dp.feed_update(harness.bot, message_update("1"))  # akkoord
    await harness.sender.idle()
    _, data = await harness.conversation()
    return data


async def test_sent_calls_are_written_off_with_the_next_step_and_a_kill_repeats_one_question(
    tmp_path: Path,
) -> None:
    """What a sent call leaves in its record (done; the new question's message id) is not a
    write of its own: the person's next step carries it. Cut off before that, the calls go
    again after the restart: the edit changes nothing, and the person gets their question once
    more, the one call per chat a kill may repeat. Nothing older comes back."""
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    data = await notice_answered(first)
    waiting = data["outbox"]
    # The edit of the answered notice and the next question: both sent, neither written off.
    assert sorted(c["m"] for c in waiting) == ["editMessageText", "sendMessage"]
    assert data["screen"]["id"] is None  # its message id is in memory only
    # As the person reads it (the session strips the HTML).
    question_text = re.sub(
        "<[^>]+>", "", next(c["p"]["text"] for c in waiting if c["m"] == "sendMessage")
    )
    before = bot_texts(first, DEFAULT_USER_ID)
    assert before[-1][1] == question_text
    # The bot itself sees the message id: a tap on that question is taken as an answer.
    _, seen = await first.dp["chat_outbox"].load(first.context().key)
    assert seen["screen"]["id"] == before[-1][0]
    assert seen["outbox"] == []
    # A kill now: nothing flushes (the stores are closed without the shutdown hook).
    await first.sender.stop()
    await first.stores.close()

    second = await open_file_harness(data_dir, session=first.session)  # the same chat
    try:
        mark = len(second.session.requests)
        assert await second.dp["chat_outbox"].resume() == 2
        await second.sender.idle()
        again = second.session.requests[mark:]
        assert sorted(r.name for r in again) == ["editMessageText", "sendMessage"]
        # The question once more, as the newest message; nothing else new in the chat.
        after = bot_texts(second, DEFAULT_USER_ID)
        assert after[: len(before)] == before
        assert [text for _, text in after[len(before) :]] == [question_text]
        # The person answers the newest copy: the next step writes off both calls.
        await second.dp.feed_update(second.bot, message_update("1"))
        await second.sender.idle()
        _, data = await second.conversation()
        assert not {c["id"] for c in waiting} & {c["id"] for c in data["outbox"]}
        flow_state = await second.flow_state()
        assert flow_state is not None
        assert flow_state.answers.get("filled_by") == "zelf"
    finally:
        await second.close()


async def test_a_clean_shutdown_writes_off_every_sent_call(tmp_path: Path) -> None:
    harness = await open_file_harness(tmp_path / "data")
    try:
        data = await notice_answered(harness)
        assert data["outbox"]
        assert data["screen"]["id"] is None
        await harness.sender.stop()  # what run_bot does on the way out
        await harness.dp["chat_outbox"].close()
        _, data = await harness.conversation()
        assert data["outbox"] == []
        assert data["screen"]["id"] == bot_texts(harness, DEFAULT_USER_ID)[-1][0]
    finally:
        await harness.close()


async def test_a_person_who_does_not_answer_has_the_results_written_within_the_flush_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flush_after = 2.0  # real seconds: the file store's writer thread needs the real clock
    monkeypatch.setattr(chat_module, "SETTLED_FLUSH_AFTER", flush_after)
    harness = await open_file_harness(tmp_path / "data")
    try:
        data = await notice_answered(harness)
        assert data["outbox"]
        await asyncio.sleep(flush_after / 2)
        _, data = await harness.conversation()
        assert data["outbox"], "written before its time: the next step would have carried it"
        await asyncio.sleep(flush_after / 2 + 1.5)
        _, data = await harness.conversation()
        assert data["outbox"] == []
        assert data["screen"]["id"] == bot_texts(harness, DEFAULT_USER_ID)[-1][0]
    finally:
        await harness.close()


async def test_a_kill_after_a_step_of_two_messages_repeats_only_the_last(tmp_path: Path) -> None:
    """A refused answer sends two messages: why, then the question again. The first one's
    result is written at once (another reply of the chat was queued behind it), so a kill
    repeats only the question: at most one reply per chat."""
    data_dir = tmp_path / "data"
    first = await open_file_harness(data_dir)
    await first.dp.feed_update(first.bot, message_update("/start kandidaat"))
    await first.dp.feed_update(first.bot, message_update("1"))  # the privacy notice: akkoord
    await first.settle()
    mark = len(first.session.requests)
    await first.dp.feed_update(first.bot, message_update("misschien"))  # no option
    await first.sender.idle()
    sent = [r.params["text"] for r in first.session.requests[mark:] if r.name == "sendMessage"]
    assert len(sent) == 2  # why, and the question again
    _, data = await first.conversation()
    waiting = [c for c in data["outbox"] if c["m"] == "sendMessage"]
    assert [c["p"]["text"] for c in waiting] == [sent[1]]
    await first.sender.stop()
    await first.stores.close()  # a kill: nothing flushes

    second = await open_file_harness(data_dir, session=first.session)
    try:
        mark = len(second.session.requests)
        await second.dp["chat_outbox"].resume()
        await second.sender.idle()
        again = [r for r in second.session.requests[mark:] if r.name == "sendMessage"]
        assert [r.params["text"] for r in again] == [sent[1]]
    finally:
        await second.close()


async def test_a_refused_keyboard_edit_on_a_tick_sends_the_question_again_with_the_tick(
    harness: Harness,
) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    driver = harness.driver()
    harness.session.fail_next(
        "editMessageReplyMarkup", BotApiError.bad_request("message can't be edited")
    )
    await driver.click("⬜️ 1. De gemeente")
    assert driver.texts_since_last_action, "the person must see the question again"
    assert "Wie helpt je nu met werk zoeken?" in driver.texts_since_last_action[-1]
    ticked = [text for row in driver.last_keyboard for text, _ in row if "De gemeente" in text]
    assert ticked == ["☑️ 1. De gemeente"]
    data = await harness.context().get_data()
    assert data["selected"] == ["gemeente"]


async def _answer_once(harness: Harness, user_id: int) -> None:
    """Type the answer to the question on screen."""
    question = await harness.current_question(user_id)
    assert question is not None
    answer = dict(CANDIDATE_ANSWERS)[question.id]
    await harness.dp.feed_update(
        harness.bot, message_update(typed_form(question, answer), user_id=user_id)
    )


@pytest.mark.looptime
async def test_when_many_write_at_once_a_person_halfway_gets_the_next_question_first(
    tmp_path: Path,
) -> None:
    # The bot may send 5 calls a second; 60 newcomers start in the same instant as a person
    # who is halfway answers. In turn-taking they would wait behind 60 welcomes (12 s).
    session = RecordingSession()
    harness = await build_harness(
        tmp_path, session=session, limits=Limits(global_per_second=5, headstart=30.0)
    )
    loop = asyncio.get_running_loop()
    halfway = 4000
    newcomers = [6000 + n for n in range(60)]
    try:
        await harness.dp.feed_update(
            harness.bot, message_update("/start kandidaat", user_id=halfway)
        )
        last, _ = await next_screen(harness, session, halfway, 0)
        for _ in range(3):
            await _answer_once(harness, halfway)
            last, _ = await next_screen(harness, session, halfway, last)
        await asyncio.sleep(5)  # the chat's own limit rests: only the order is measured

        began = loop.time()
        for user in newcomers:
            await harness.dp.feed_update(
                harness.bot, message_update("/start kandidaat", user_id=user)
            )
        await _answer_once(harness, halfway)
        last, text = await asyncio.wait_for(next_screen(harness, session, halfway, last), 600)
        waited = loop.time() - began
        assert QUESTION.match(text) is not None
        assert waited <= 1.0, f"the person halfway waited {waited:.1f} s"

        # Nobody is left waiting for ever: every newcomer got their welcome, and the last
        # one no later than the head start plus the time to send everyone's first reply.
        await harness.settle()
        welcomed = {
            int(r.chat_id) for r in session.requests_of("sendMessage") if r.ok and r.chat_id
        }
        assert set(newcomers) <= welcomed
        assert loop.time() - began <= 30.0 + len(newcomers) / 5 + 5
    finally:
        await harness.close()

"""Every kind of bad input gets a kind answer and changes nothing that is stored.

"Nothing stored changes" is checked on the conversation record (without the list of chat
message ids the bot keeps for deleting the chat later), the FSM state, the intakes and the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update

from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    Harness,
    build_harness,
    confirm_summary,
    joined,
    snapshot,
    walk,
    walk_candidate,
)
from tests.support.bot_api_state import JsonDict
from tests.support.session import RecordingSession
from tests.support.updates import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    callback_update,
    channel_post_update,
    document_update,
    edited_message_update,
    group_message_update,
    photo_update,
    sticker_update,
    update_of,
    voice_update,
)

QUESTION_2 = "Vraag 2 · ▱▱▱▱▱▱▱▱▱▱\nWie vult de vragen in?\n\nTik op een knop, of typ het nummer."
# A tap on a button of an older message: a toast, and the chat stays as it is.
STALE_TOAST = "Deze knop hoort bij een oud bericht. Kijk bij het nieuwste bericht."
IDLE_TOAST = "Deze knop werkt niet meer. Typ /start om te beginnen."


async def at_question_2(harness: Harness) -> JsonDict:
    """Start a candidate intake and answer the consent; returns the consent question message."""
    driver = harness.driver()
    await driver.send("/start kandidaat")
    first = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert first is not None
    await driver.click("1. Ja, dat is goed")
    return dict(first)


def current_screen(harness: Harness) -> JsonDict:
    message = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert message is not None
    return message


def without_misses(stored: dict[str, Any]) -> dict[str, Any]:
    return {**stored, "data": {k: v for k, v in stored["data"].items() if k != "misses"}}


# -- typed text where a button is expected ------------------------------------------------------


async def test_typed_text_for_a_button_question_gives_the_reason_and_asks_again(
    harness: Harness,
) -> None:
    await at_question_2(harness)
    driver = harness.driver()
    before = await snapshot(harness)

    await driver.send("geen idee")
    assert driver.texts_since_last_action == [
        "Dat antwoord ken ik niet. Tik op een knop, of typ een nummer van 1 tot 5.",
        QUESTION_2,
    ]
    assert "Lukt het niet?" not in joined(driver.texts_since_last_action)

    await driver.send("nog steeds geen idee")
    first, again = driver.texts_since_last_action
    # After two misses: an offer of help and of a person, and the question again.
    assert first.startswith("Dat antwoord ken ik niet.")
    assert "Lukt het niet?" in first
    assert "Ik wil een mens spreken" in first
    assert "/help" in first
    assert again == QUESTION_2
    assert ("🙋 Ik wil een mens spreken", "n:human:c:1") in driver.last_keyboard[-1]

    after = await snapshot(harness)
    assert after["data"]["misses"] == 2
    assert without_misses(after) == without_misses(before)

    await driver.click("🙋 Ik wil een mens spreken")
    human = driver.texts_since_last_action[0]
    assert human.startswith("🙋 Een mens spreken")
    assert "Ik ben een chatbot." in human
    assert "Bel of mail het intakebureau" in human
    await driver.send("1")  # a number is not an answer to "may someone contact you?"
    assert driver.texts_since_last_action[-1].startswith("Wil je dat een medewerker")
    assert await harness.intakes() == []
    await driver.click("Nee, ik ga verder")

    await driver.send("1")  # a good answer clears the count
    assert (await snapshot(harness))["data"]["misses"] == 0


async def test_the_offer_of_help_names_only_buttons_that_are_there(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")  # the consent question has no "why" button
    await driver.send("misschien")
    await driver.send("misschien wel")
    offer = driver.texts_since_last_action[0]
    assert "Ik wil een mens spreken" in offer
    assert "Waarom vragen we dit?" not in offer
    assert not any("Waarom" in text for row in driver.last_keyboard for text, _ in row)


async def test_klaar_with_nothing_ticked_asks_for_a_choice(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    driver = harness.driver()
    before = await snapshot(harness)

    await driver.click("✅ Klaar")

    reason, again = driver.texts_since_last_action
    assert reason == "Kies er minstens 1."
    assert "Wie helpt je nu met werk zoeken?" in again
    assert without_misses(await snapshot(harness)) == without_misses(before)


async def test_ticking_an_only_this_option_clears_the_others(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="helpers")
    driver = harness.driver()
    await driver.click("m:c:12:0")  # De gemeente
    await driver.click("m:c:12:1")  # UWV
    await driver.click("m:c:12:5")  # Niemand: only this one
    ticked = [text for row in driver.last_keyboard for text, _ in row if text.startswith("☑️")]
    assert ticked == ["☑️ 6. Niemand"]
    await driver.click("✅ Klaar")
    state = await harness.flow_state()
    assert state is not None
    assert state.answers["helpers"] == ["niemand"]


async def test_typed_text_on_the_summary_explains_the_two_choices(harness: Harness) -> None:
    await walk_candidate(harness)
    before = await snapshot(harness)
    driver = harness.driver()

    await driver.send("hmm")

    hint, summary = driver.texts_since_last_action
    assert hint.startswith("Tik op Klopt om te versturen, of op Wijzigen")
    assert summary.startswith("📋 Dit zijn je antwoorden")
    assert await snapshot(harness) == before


async def test_a_question_button_while_the_summary_is_shown_is_stale(harness: Harness) -> None:
    await walk_candidate(harness)
    before = await snapshot(harness)
    driver = harness.driver()

    await driver.feed(callback_update("a:c:20:0"))  # "travel", answered long ago

    assert driver.texts_since_last_action == []  # the summary below still shows where they are
    assert driver.last_alert == STALE_TOAST
    assert await snapshot(harness) == before


@pytest.mark.parametrize(
    ("make", "reply"),
    [
        (lambda: sticker_update(), "I can only read text."),
        (lambda: None, "I don't know that command."),
    ],
    ids=["sticker", "unknown-command"],
)
async def test_bad_input_is_answered_in_english_too(
    harness: Harness, make: Callable[[], Update | None], reply: str
) -> None:
    driver = harness.driver(4004, language_code="en")
    await driver.send("/start kandidaat")
    update = make()
    if update is None:
        await driver.send("/foo")
    else:
        raw = update.model_dump(exclude_none=True, by_alias=True)
        for part in ("message", "callback_query"):
            if part in raw:
                raw[part]["from"]["id"] = 4004
                chat = raw[part]["chat"] if part == "message" else raw[part]["message"]["chat"]
                chat["id"] = 4004
        await driver.feed(Update.model_validate(raw))
    first, question = driver.texts_since_last_action
    assert first.startswith(reply)
    assert question.startswith("Question 1 · ")


async def test_a_stale_button_gets_an_english_toast_too(harness: Harness) -> None:
    driver = harness.driver(4004, language_code="en")
    await driver.send("/start kandidaat")
    await driver.feed(callback_update("zzz", user_id=4004))
    assert driver.texts_since_last_action == []
    assert driver.last_alert == "This button belongs to an old message. Look at the newest message."


async def test_text_longer_than_the_question_allows_is_refused(harness: Harness) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="name")
    driver = harness.driver()
    before = await snapshot(harness)

    await driver.send("A" * 61)

    reason, again = driver.texts_since_last_action
    assert reason == "Dat is te lang. Het mag hoogstens 60 tekens zijn. Maak het korter."
    assert "Hoe mogen we je noemen?" in again
    assert "Hoogstens 60 tekens." in again
    assert without_misses(await snapshot(harness)) == without_misses(before)


@pytest.mark.parametrize("typed", ["Mijn BSN is 123456782", "123 456 782", "BSN: 1234.56.782"])
async def test_a_bsn_typed_in_a_text_answer_is_refused(harness: Harness, typed: str) -> None:
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="work_other")
    driver = harness.driver()
    before = await snapshot(harness)

    await driver.send(typed)

    reason, again = driver.texts_since_last_action
    assert reason.startswith("Dit lijkt een BSN. Dat nummer hebben we niet nodig.")
    assert "Welk ander werk wil je doen?" in again
    after = await snapshot(harness)
    assert without_misses(after) == without_misses(before)
    assert "123456782" not in repr(after)
    assert "782" not in repr(after["data"])


async def test_html_in_a_name_is_escaped_on_screen_and_stored_verbatim(harness: Harness) -> None:
    name = "<b>Jan</b> & <script>"
    await walk_candidate(harness, {"name": name})

    sends = harness.session.requests_of("sendMessage")
    summary = sends[-1].params["text"]
    assert summary.startswith("📋 <b>Dit zijn je antwoorden</b>")
    assert "&lt;b&gt;Jan&lt;/b&gt; &amp; &lt;script&gt;" in summary
    assert "<script>" not in summary
    assert "<b>Jan</b>" not in summary
    # The old question shows the answer escaped too.
    answered = [
        r.params["text"]
        for r in harness.session.requests_of("editMessageText")
        if "Hoe mogen we je noemen?" in r.params["text"]
    ]
    assert answered
    assert answered[-1].endswith("✅ &lt;b&gt;Jan&lt;/b&gt; &amp; &lt;script&gt;")
    # What the person reads is exactly what they typed.
    assert name in (harness.driver().last_text or "")

    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    assert intake.name == name
    assert intake.answers["name"] == name


# -- buttons that are not for this screen -------------------------------------------------------


def _old_consent_button(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("a:c:0:0", message_id=int(first["message_id"]))


def _other_flow(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("a:e:1:0", message_id=int(current["message_id"]))


def _forged(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("a:c:één:<b>", message_id=int(current["message_id"]))


def _not_ours(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("zzz", message_id=int(current["message_id"]))


def _out_of_range(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("a:c:1:99", message_id=int(current["message_id"]))


def _negative_index(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("a:c:1:-1", message_id=int(current["message_id"]))


def _question_out_of_range(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("a:c:999:0", message_id=int(current["message_id"]))


def _toggle_on_single(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("m:c:1:0", message_id=int(current["message_id"]))


def _back_for_another_question(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("n:back:c:7", message_id=int(current["message_id"]))


def _summary_button_while_asking(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("s:ok:c", message_id=int(current["message_id"]))


def _stop_on_an_old_message(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("x:1", message_id=int(first["message_id"]))


def _role_while_busy(first: JsonDict, current: JsonDict) -> Update:
    return callback_update("r:employer", message_id=int(first["message_id"]))


@pytest.mark.parametrize(
    "make",
    [
        _old_consent_button,
        _other_flow,
        _forged,
        _not_ours,
        _out_of_range,
        _negative_index,
        _question_out_of_range,
        _toggle_on_single,
        _back_for_another_question,
        _summary_button_while_asking,
        _stop_on_an_old_message,
        _role_while_busy,
    ],
)
async def test_a_button_not_for_this_screen_gets_a_toast_and_changes_nothing(
    harness: Harness, make: Callable[[JsonDict, JsonDict], Update]
) -> None:
    first = await at_question_2(harness)
    before = await snapshot(harness)
    driver = harness.driver()

    await driver.feed(make(first, current_screen(harness)))

    # No new message: question 2, the newest message, still shows where they are.
    assert driver.texts_since_last_action == []
    assert driver.last_alert == STALE_TOAST  # the spinner stops, with a word why
    assert current_screen(harness)["text"].startswith("Vraag 2 · ")
    assert await snapshot(harness) == before


async def test_a_stale_button_when_nothing_runs_says_how_to_begin_without_a_new_message(
    harness: Harness,
) -> None:
    driver = harness.driver()
    for _ in range(3):  # each tap the same toast, never a welcome piling up in the chat
        await driver.feed(callback_update("a:c:3:1"))
        assert driver.texts_since_last_action == []
        assert driver.last_alert == IDLE_TOAST
    assert await harness.intakes() == []
    state, data = await harness.conversation()
    assert state is None
    assert data.get("flow") is None
    assert data.get("screen") is None
    assert not data.get("outbox")


async def test_a_forged_role_starts_nothing(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start")
    before = await snapshot(harness)

    await driver.feed(callback_update("r:<b>admin</b>"))

    assert driver.texts_since_last_action == []  # the welcome above still has its buttons
    assert driver.last_alert == STALE_TOAST
    assert await snapshot(harness) == before
    await driver.click("🤝 Ik help iemand die werk zoekt")  # the real buttons still work
    _, data = await harness.conversation()
    assert data["role"] == "helper"
    assert data["flow"] == "candidate"


async def test_a_summary_button_after_sending_stores_nothing_more(harness: Harness) -> None:
    await walk_candidate(harness)
    summary = current_screen(harness)
    await confirm_summary(harness.driver())
    before = await snapshot(harness)

    await harness.driver().feed(callback_update("s:ok:c", message_id=int(summary["message_id"])))

    assert harness.driver().texts_since_last_action == []
    assert harness.driver().last_alert == STALE_TOAST
    assert await snapshot(harness) == before  # no intake, card or answer is added
    assert len(await harness.intakes()) == 1


# -- things that are not typed text -------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: photo_update(caption="mijn cv"),
        lambda: sticker_update(),
        lambda: voice_update(),
        lambda: document_update(),
    ],
    ids=["photo", "sticker", "voice", "file"],
)
async def test_media_gets_a_kind_answer_and_the_question_again(
    harness: Harness, make: Callable[[], Update]
) -> None:
    await at_question_2(harness)
    before = await snapshot(harness)
    driver = harness.driver()

    await driver.feed(make())

    assert driver.texts_since_last_action == [
        "Ik kan alleen tekst lezen. Foto's, stickers, spraak en bestanden kan ik niet gebruiken. "
        "Tik op een knop of typ je antwoord.",
        QUESTION_2,
    ]
    assert await snapshot(harness) == before
    assert not harness.session.requests_of("getFile")  # nothing is downloaded


async def test_an_edited_message_is_not_taken_as_an_answer(harness: Harness) -> None:
    await at_question_2(harness)
    driver = harness.driver()
    await driver.send("2")  # "Een ouder of voogd"
    await driver.send("/terug")
    before = await snapshot(harness)
    typed = [
        m for m in harness.session.state.chat_messages(DEFAULT_USER_ID) if m.get("text") == "2"
    ]

    await driver.feed(edited_message_update("1", message_id=int(typed[-1]["message_id"])))

    assert driver.texts_since_last_action[0] == (
        "Je hebt een bericht aangepast. Dat kan ik niet lezen. Stuur je antwoord als nieuw bericht."
    )
    assert driver.texts_since_last_action[1].startswith("Vraag 2 · ")
    assert "\nWie vult de vragen in?" in driver.texts_since_last_action[1]
    assert await snapshot(harness) == before


# -- commands mid-question ----------------------------------------------------------------------


async def test_an_unknown_command_mid_question_changes_nothing(harness: Harness) -> None:
    await at_question_2(harness)
    before = await snapshot(harness)
    driver = harness.driver()

    await driver.send("/foo")

    assert driver.texts_since_last_action == [
        "Dat commando ken ik niet. Typ /help voor wat ik kan.",
        QUESTION_2,
    ]
    assert await snapshot(harness) == before  # not even counted as a wrong answer


async def test_mens_mid_question_offers_contact_and_no_goes_on_where_it_was(
    harness: Harness,
) -> None:
    await at_question_2(harness)
    driver = harness.driver()

    await driver.send("/mens")
    shown = driver.texts_since_last_action
    assert shown[0].startswith("🙋 Een mens spreken")
    assert shown[-1].startswith("Wil je dat een medewerker van het intakebureau contact")
    await driver.click("Nee, ik ga verder")
    assert driver.texts_since_last_action == [QUESTION_2]
    assert await harness.intakes() == []
    await driver.send("1")  # and the intake goes on where it was
    state = await harness.flow_state()
    assert state is not None
    assert state.answers["filled_by"] == "zelf"


@pytest.mark.parametrize(
    ("command", "first_words"),
    [
        ("/help", "ℹ️ Hulp"),
        ("/start", "Je bent al bezig met de vragen. Je antwoorden zijn bewaard."),
        ("/start werkgever", "Je bent al bezig met de vragen. Je antwoorden zijn bewaard."),
    ],
)
async def test_known_commands_mid_question_work_and_keep_the_answers(
    harness: Harness, command: str, first_words: str
) -> None:
    await at_question_2(harness)
    before = await snapshot(harness)
    driver = harness.driver()

    await driver.send(command)

    shown = driver.texts_since_last_action
    assert shown[0].startswith(first_words)
    assert shown[-1] == QUESTION_2
    assert await snapshot(harness) == before
    await driver.send("1")  # and the intake goes on where it was
    state = await harness.flow_state()
    assert state is not None
    assert state.answers["filled_by"] == "zelf"


# -- two taps at once ---------------------------------------------------------------------------


class SlowSession(RecordingSession):
    """Every Bot API call takes a moment, as over the network: without it a handler never
    yields to the event loop and two "concurrent" updates would simply run one after the other."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - signature fixed by BaseSession
    ) -> TelegramType:
        await asyncio.sleep(0.002)
        return await super().make_request(bot, method, timeout)


@pytest.fixture
async def slow(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await build_harness(tmp_path, session=SlowSession())
    yield harness
    await harness.close()


async def test_a_second_tap_while_the_first_is_handled_records_one_answer(
    slow: Harness,
) -> None:
    harness = slow
    await at_question_2(harness)
    screen = current_screen(harness)
    mark = len(harness.session.requests)

    def tap() -> Update:
        return update_of(
            "callback_query",
            {
                "id": f"double-{id(object())}",
                "from": {"id": DEFAULT_USER_ID, "is_bot": False, "first_name": "Anna"},
                "chat_instance": str(DEFAULT_USER_ID),
                "message": screen,
                "data": "a:c:1:2",  # "Iemand van school"
            },
        )

    results = await asyncio.gather(
        harness.dp.feed_update(harness.bot, tap()),
        harness.dp.feed_update(harness.bot, tap()),
        return_exceptions=True,
    )
    await harness.settle()

    assert not [r for r in results if isinstance(r, BaseException)]
    state = await harness.flow_state()
    assert state is not None
    assert state.answers == {"consent": "akkoord", "filled_by": "school"}
    # One step on, not two: the school is a helper, so its own name comes next.
    assert state.current == "helper_name"
    requests = harness.session.requests[mark:]
    texts = [r.params.get("text", "") for r in requests if r.name == "sendMessage"]
    # The second tap gets a toast, no new message.
    assert sum(t.startswith("<i>Vraag 3</i> · ") for t in texts) == 1
    assert not any(t.startswith("Deze knop werkt niet meer.") for t in texts)
    answered = [r for r in requests if r.name == "editMessageText"]
    assert len(answered) == 1
    assert answered[0].params["text"].endswith("✅ Iemand van school")
    toasts = [r.params.get("text") for r in harness.session.requests_of("answerCallbackQuery")]
    # Which toast depends on whether the next question was out when the second tap's turn
    # came: "wait, it is on its way", or "this button is old, look at the newest message".
    kind = ("Een moment. Het volgende bericht komt eraan.", STALE_TOAST)
    assert sum(t in kind for t in toasts[-2:]) == 1
    assert toasts[-2:].count(None) == 1  # the first tap: answered without a toast


async def test_klopt_tapped_twice_at_once_stores_one_intake(slow: Harness) -> None:
    harness = slow
    await walk_candidate(harness)
    screen = current_screen(harness)

    def tap(n: int) -> Update:
        return update_of(
            "callback_query",
            {
                "id": f"klopt-{n}",
                "from": {"id": DEFAULT_USER_ID, "is_bot": False, "first_name": "Anna"},
                "chat_instance": str(DEFAULT_USER_ID),
                "message": screen,
                "data": "s:ok:c:-1",
            },
        )

    results = await asyncio.gather(
        harness.dp.feed_update(harness.bot, tap(1)),
        harness.dp.feed_update(harness.bot, tap(2)),
        return_exceptions=True,
    )

    assert not [r for r in results if isinstance(r, BaseException)]
    assert len(await harness.intakes()) == 1
    assert len(await harness.deliveries()) == 1


# -- not a private chat -------------------------------------------------------------------------


async def test_a_command_in_a_group_gets_a_pointer_to_the_private_chat(harness: Harness) -> None:
    await harness.driver().feed(group_message_update("/start kandidaat"))

    [reply] = harness.session.requests_of("sendMessage")
    assert reply.params["chat_id"] == str(DEFAULT_GROUP_ID)
    assert reply.params["text"] == (
        "Ik werk alleen in een privégesprek. Open @baanwijzer_bot en typ /start."
    )
    assert "reply_to_message_id" in reply.params or "reply_parameters" in reply.params
    group_context = harness.dp.fsm.get_context(harness.bot, DEFAULT_GROUP_ID, DEFAULT_USER_ID)
    assert await group_context.get_state() is None
    assert await group_context.get_data() == {}
    assert await harness.conversation() == (None, {})
    assert await harness.intakes() == []


async def test_ordinary_group_chatter_gets_no_answer(harness: Harness) -> None:
    await harness.driver().feed(group_message_update("Goedemorgen allemaal"))
    assert harness.session.requests == []


async def test_a_button_in_a_group_gets_a_short_pointer(harness: Harness) -> None:
    await harness.driver().feed(
        callback_update("a:c:0:0", chat_id=DEFAULT_GROUP_ID, chat_type="supergroup")
    )
    [answer] = harness.session.requests_of("answerCallbackQuery")
    assert answer.params.get("text")
    assert harness.session.requests_of("sendMessage") == []
    assert await harness.intakes() == []


async def test_a_channel_post_gets_a_pointer_and_the_bot_leaves(harness: Harness) -> None:
    await harness.driver().feed(channel_post_update("/start"))
    names = [r.name for r in harness.session.requests]
    assert names == ["sendMessage", "leaveChat"]
    assert "privégesprek" in harness.session.requests[0].params["text"]
    assert await harness.intakes() == []
    assert await harness.deliveries() == []


async def test_after_a_sticker_with_no_intake_a_typed_1_picks_the_first_role(
    harness: Harness,
) -> None:
    driver = harness.driver()
    await driver.feed(sticker_update())
    not_text, welcome = driver.texts_since_last_action
    assert not_text.startswith("Ik kan alleen tekst lezen.")
    assert welcome.startswith("👋 Welkom bij Baanwijzer.")
    assert (await harness.conversation())[0] is None  # no state: a relay could still take text

    await driver.send("1")

    shown = driver.texts_since_last_action
    assert not any(text.startswith("👋 Welkom") for text in shown)  # not the welcome again
    assert shown[-1].startswith("Vraag 1 · ")
    state = await harness.flow_state()
    assert state is not None
    assert state.flow == "candidate"


async def test_after_a_sticker_other_text_still_gets_the_welcome(harness: Harness) -> None:
    driver = harness.driver()
    await driver.feed(sticker_update())
    await driver.send("hallo")

    [welcome] = driver.texts_since_last_action
    assert welcome.startswith("👋 Welkom bij Baanwijzer.")
    assert await harness.flow_state() is None


async def test_a_double_tap_on_an_answer_answers_once_and_the_second_tap_gets_only_a_toast(
    harness: Harness,
) -> None:
    await at_question_2(harness)
    question = current_screen(harness)
    driver = harness.driver()
    [first_choice] = [d for row in driver.last_keyboard for _, d in row][:1]
    assert first_choice is not None

    def tap() -> Update:
        return callback_update(
            first_choice, message_id=int(question["message_id"]), message_text=question["text"]
        )

    # Both taps arrive before the bot has answered the first: handled one after the other.
    await asyncio.gather(
        harness.dp.feed_update(harness.bot, tap()), harness.dp.feed_update(harness.bot, tap())
    )
    await harness.settle()
    shown = [t for t in harness.session.sent_texts(DEFAULT_USER_ID, visible=True)]
    assert sum(t.startswith("Vraag 3 · ") for t in shown) == 1  # the next question, once
    assert not any("werkt niet meer" in t or "oud bericht" in t for t in shown)
    answers = [r for r in harness.session.requests_of("answerCallbackQuery") if r.ok][-2:]
    # The first tap's spinner just stops; the second gets a word why nothing happens.
    assert answers[0].params.get("text") is None
    assert answers[1].params.get("text") in (
        "Een moment. Het volgende bericht komt eraan.",
        "Deze knop hoort bij een oud bericht. Kijk bij het nieuwste bericht.",
    )
    _, data = await harness.conversation()
    assert data["flow_state"]["current"] != "filled_by"  # answered once and moved on


async def test_a_second_tap_on_klopt_says_it_was_sent_and_keeps_the_delete_offer(
    harness: Harness,
) -> None:
    # A double tap on "Klopt, versturen": the first sends the intake; the second must not say
    # "deze knop werkt niet meer" and show the welcome as if nothing was sent, and must leave
    # the offer to delete the chat (for a shared phone) usable.
    await walk_candidate(harness)
    driver = harness.driver()
    summary = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert summary is not None
    await confirm_summary(driver)
    after = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert after is not None
    assert "wissen" in after["text"]
    ok = "s:ok:c:-1"
    await driver.feed(callback_update(ok, message_id=summary["message_id"]))
    assert driver.texts_since_last_action == []
    assert "al verstuurd" in (driver.last_alert or "")
    assert harness.session.state.last_keyboard_message(DEFAULT_USER_ID) == after
    assert len(await harness.intakes()) == 1


async def test_a_command_for_another_bot_in_a_group_gets_no_answer(harness: Harness) -> None:
    # In a group with several bots, "/start@andere_bot" is not for us: answering it with "I only
    # work in a private chat" is noise in somebody else's conversation.
    mark = len(harness.session.requests)
    await harness.driver().feed(group_message_update("/start@andere_bot"))
    assert [r for r in harness.session.requests[mark:] if r.name == "sendMessage"] == []
    # A command for this bot, or one without a name, still gets the kind answer.
    await harness.driver().feed(group_message_update("/start@baanwijzer_bot"))
    assert [r for r in harness.session.requests[mark:] if r.name == "sendMessage"]

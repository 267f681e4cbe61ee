"""Data rights in the chat, through the real Dispatcher: consent, /mijngegevens, /verwijder,
/intrekken and deleting the chat after the intake.

Only the seams are fake (the Bot's session and the clock); the stores are the in-memory twins.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import handoff
from bot.privacy import erase_person, group_messages
from bot.screens import CONSENT_VERSION, consent_hash
from flows.records import HistoryEntry, Intake, MessageRef, Status
from tests.bot.intake_harness import (
    CANDIDATE_ANSWERS,
    Harness,
    build_harness,
    confirm_summary,
    walk,
    walk_candidate,
)
from tests.support.bot_api_state import BotApiError
from tests.support.updates import DEFAULT_USER_ID, callback_update

SENSITIVE = ("register_known", "register_basis", "guidance", "support")
GROUP = -100123


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await build_harness(tmp_path / "data", RETENTION_DAYS=200, CONVERSATION_RETENTION_DAYS=9)
    yield h
    await h.stores.close()


@pytest.fixture
def card_updates(monkeypatch: pytest.MonkeyPatch) -> list[Intake]:
    """Record the calls of `bot.handoff.queue_card_update` instead of queueing an edit."""
    calls: list[Intake] = []

    async def record(services: object, intake: Intake) -> None:
        calls.append(intake)

    monkeypatch.setattr(handoff, "queue_card_update", record)
    return calls


async def submitted(harness: Harness, **answers: Any) -> Intake:
    await walk_candidate(harness, answers)
    await confirm_summary(harness.driver())
    stored = await harness.intakes()
    assert stored, "the intake was not stored"
    return stored[-1]


# -- consent -------------------------------------------------------------------------------


async def test_privacy_notice_comes_before_the_first_question(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    notice, question = driver.texts_since_last_action[:2]
    assert "chatbot" in notice
    assert "4 weken" in notice  # after the intake is closed (RETENTION_AFTER_CLOSE_DAYS)
    assert "200 dagen" in notice
    assert "9 dagen" in notice
    assert "/mijngegevens" in notice
    assert "/verwijder" in notice
    assert "/intrekken" in notice
    assert harness.settings.SERVICE_CONTACT in notice  # a way without Telegram
    assert CONSENT_VERSION in notice
    assert "Is dat goed?" in question
    assert await harness.intakes() == []


async def test_no_consent_ends_and_keeps_nothing(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.click("2. Nee, liever niet")
    assert await harness.current_question() is None
    assert await harness.intakes() == []
    assert await harness.deliveries() == []


async def test_both_consents_are_stored_with_version_hash_and_time(harness: Harness) -> None:
    intake = await submitted(harness)
    scopes = {c.scope: c for c in intake.consents}
    assert set(scopes) == {"general", "sensitive"}
    for consent in intake.consents:
        assert consent.given
        assert consent.version == CONSENT_VERSION
        assert re.fullmatch("[0-9a-f]{16}", consent.text_hash)
        assert consent.at == "2026-11-29T09:00:00+00:00"
    # The two texts differ, so their hashes do.
    assert scopes["general"].text_hash != scopes["sensitive"].text_hash
    # Each is the hash of the very text the person agreed to.
    flow = harness.services.engines["candidate"].flow
    for scope, question in (("general", "consent"), ("sensitive", "sensitive_consent")):
        shown = flow.question(question).text.nl
        assert scopes[scope].text_hash == consent_hash(harness.services, "nl", shown, "candidate")


async def test_skipping_the_sensitive_questions_goes_on_without_them(harness: Harness) -> None:
    asked = await walk_candidate(harness, {"sensitive_consent": "sla-over"})
    assert not set(SENSITIVE) & set(asked)
    assert "helpers" in asked
    await confirm_summary(harness.driver())
    (intake,) = await harness.intakes()
    assert [c.scope for c in intake.consents] == ["general"]
    assert not set(SENSITIVE) & set(intake.answers)
    assert intake.target_groups == []


async def test_under_16_asks_for_a_guardian_and_stores_the_answer(harness: Harness) -> None:
    asked = await walk_candidate(harness, {"age": "tot-16", "guardian": "ja"})
    assert "guardian" in asked
    await confirm_summary(harness.driver())
    (intake,) = await harness.intakes()
    assert intake.answers["guardian"] == "ja"


async def test_under_16_without_a_guardian_stops_and_keeps_nothing(harness: Harness) -> None:
    await walk_candidate(harness, {"age": "tot-16", "guardian": "nee"})
    assert await harness.current_question() is None
    assert await harness.intakes() == []


# -- /mijngegevens ---------------------------------------------------------------------------


def exported(harness: Harness) -> dict[str, Any]:
    (request,) = harness.session.requests_of("sendDocument")
    (upload,) = request.files.values()
    assert upload.filename.endswith(".json")
    data: dict[str, Any] = json.loads(upload.content)
    return data


async def test_my_data_sends_a_file_with_everything_and_a_summary(harness: Harness) -> None:
    intake = await submitted(harness, name="<b>Zoë</b> & co")
    driver = harness.driver()
    await driver.send("/start werkgever")  # an open conversation too
    await driver.send("/mijngegevens")

    data = exported(harness)
    (stored,) = data["intakes"]
    assert stored["number"] == intake.number
    assert stored["answers"]["name"] == "<b>Zoë</b> & co"
    assert stored["answers"]["phone"] == "0612345678"
    assert stored["outcome"]["target_groups"][0]["code"] == "wajong"
    assert stored["status"] == "nieuw"
    assert {c["scope"] for c in stored["consents"]} == {"general", "sensitive"}
    assert stored["history"][0]["action"] == "submitted"
    assert data["conversation"]["data"]["flow"] == "employer"
    assert [d["intake_number"] for d in data["pending_messages"]] == [intake.number]
    assert data["telegram_user_id"] == DEFAULT_USER_ID

    summaries = [
        r.params["text"]
        for r in harness.session.requests_of("sendMessage")
        if "bewaard" in r.params.get("text", "")
    ]
    summary = summaries[-1]
    assert intake.number in summary
    assert "&lt;b&gt;Zoë&lt;/b&gt; &amp; co" in summary  # escaped: the name shows as typed
    assert "<b>Zoë</b>" not in summary
    assert "0612345678" in summary
    # The person is still in the employer intake: it goes on where it was.
    assert "Gaat u daarmee akkoord?" in (driver.last_text or "")


async def test_my_data_names_the_status_in_words_not_as_a_code(harness: Harness) -> None:
    intake = await submitted(harness)
    await harness.services.intakes.update(
        intake.number, "Coördinator", "status", status=Status.CONTACT_GEHAD
    )
    driver = harness.driver()
    await driver.send("/mijngegevens")

    summary = next(
        r.params["text"]
        for r in reversed(harness.session.requests_of("sendMessage"))
        if "bewaard" in r.params.get("text", "")
    )
    assert f"{intake.number}</b> · werkzoekende · contact gehad ·" in summary
    assert "contact-gehad" not in summary


async def test_my_data_with_nothing_stored_says_so(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/mijngegevens")
    assert harness.session.requests_of("sendDocument") == []
    assert "niets van je bewaard" in (driver.last_text or "")


async def test_my_data_shows_only_the_own_intakes(harness: Harness) -> None:
    await submitted(harness)
    other = harness.driver(2002)
    await other.send("/mijngegevens")
    assert harness.session.requests_of("sendDocument") == []
    assert "niets van je bewaard" in (other.last_text or "")


# -- /verwijder ------------------------------------------------------------------------------


async def test_erase_asks_first_and_cancel_erases_nothing(harness: Harness) -> None:
    intake = await submitted(harness)
    driver = harness.driver()
    await driver.send("/verwijder")
    assert intake.number in (driver.last_text or "")
    await driver.click("Nee, niet wissen")
    assert "niets gewist" in (driver.last_text or "")
    assert [i.name for i in await harness.intakes()] == ["Anna"]
    assert len(await harness.deliveries()) == 1


async def test_erase_leaves_a_tombstone_and_nothing_personal(
    harness: Harness, card_updates: list[Intake]
) -> None:
    intake = await submitted(harness)
    await harness.services.intakes.update(intake.number, "Piet", "claimed", "Piet pakt het op")
    await harness.services.intakes.record(
        intake.number,
        HistoryEntry(
            at="2026-11-29T10:00:00+00:00",
            by="Piet",
            action="export",
            detail="Anna gebeld",
            messages=[MessageRef(GROUP, 555)],
        ),
    )
    harness.session.state.remember(
        {
            "message_id": 555,
            "chat": {"id": GROUP, "type": "supergroup", "title": "C"},
            "date": 0,
            "text": "x",
        }
    )
    driver = harness.driver()
    await driver.send("/verwijder")
    await driver.click("🗑️ Ja, wis alles")

    (stone,) = await harness.intakes()
    assert stone.number == intake.number
    assert stone.kind == intake.kind
    assert stone.created_at == intake.created_at
    assert stone.status == Status.INGETROKKEN
    assert (stone.user_id, stone.chat_id, stone.name) == (0, 0, "")
    assert stone.answers == {}
    assert stone.outcome["target_groups"] == []
    assert stone.outcome["routes"] == []
    assert stone.outcome["support"] == {}
    assert stone.outcome["contact"] == {}
    assert stone.notes == []
    assert stone.target_groups == []
    assert stone.routes == []
    assert stone.consents == []
    assert all(h.detail == "" for h in stone.history[:-1])
    assert [h.action for h in stone.history] == ["submitted", "claimed", "export", "gewist"]
    assert stone.history[-1].detail == "gewist op 2026-11-29"
    assert "Anna" not in json.dumps(stone.to_dict())
    assert await harness.services.intakes.for_user(DEFAULT_USER_ID) == []

    assert await harness.deliveries() == []  # the queued card with the name is gone
    assert await harness.conversation() == (None, {})
    assert await harness.stores.conversations.count() == 0
    assert [i.number for i in card_updates] == [intake.number]
    assert card_updates[0].status == Status.INGETROKKEN
    assert card_updates[0].name == ""
    deleted = harness.session.requests_of("deleteMessages")
    assert [(r.params["chat_id"], json.loads(r.params["message_ids"])) for r in deleted] == [
        (str(GROUP), [555])
    ]
    confirmation = driver.last_text or ""
    assert "Gewist" in confirmation
    assert intake.number in confirmation
    assert "gewist op 2026-11-29" in confirmation


def test_the_audit_trail_names_the_messages_to_delete() -> None:
    intake = Intake.from_dict(
        {
            "number": "K-2026-0001",
            "kind": "candidate",
            "created_at": "2026-11-29T09:00:00+00:00",
            "user_id": 1,
            "chat_id": 1,
            "language": "nl",
            "flow_version": "1",
            "answers": {},
            "outcome": {},
            "history": [
                {"at": "x", "by": "Piet", "action": "export", "messages": [[-100123, 7], [555, 8]]},
                {"at": "x", "by": "bot", "action": "doorgestuurd", "messages": [[-100123, 9]]},
                {"at": "x", "by": "bot", "action": "kaart-geplaatst", "messages": [[-100123, 6]]},
                {"at": "x", "by": "Piet", "action": "export", "messages": [[-100123, 7]]},
            ],
        }
    )
    assert group_messages(intake) == [
        MessageRef(-100123, 7),
        MessageRef(555, 8),
        MessageRef(-100123, 9),
    ]


async def test_erase_during_an_intake_forgets_the_answers_so_far(
    harness: Harness, card_updates: list[Intake]
) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    await driver.click("1. Ja, dat is goed")
    await driver.send("/verwijder")
    await driver.click("🗑️ Ja, wis alles")
    assert await harness.conversation() == (None, {})
    assert card_updates == []
    assert "Je gesprek met mij" in (driver.last_text or "")
    # Starting again is a new conversation from the first question.
    await driver.send("/start kandidaat")
    question = await harness.current_question()
    assert question is not None
    assert question.id == "consent"


async def test_erase_does_not_touch_other_people(
    harness: Harness, card_updates: list[Intake]
) -> None:
    await submitted(harness)
    await walk_candidate(harness, {"name": "Bob"}, user_id=2002)
    await confirm_summary(harness.driver(2002))
    driver = harness.driver()
    await driver.send("/verwijder")
    await driver.click("🗑️ Ja, wis alles")
    remaining = await harness.services.intakes.for_user(2002)
    assert [i.name for i in remaining] == ["Bob"]
    assert [d.user_id for d in await harness.deliveries()] == [2002]
    _, data = await harness.conversation(2002)
    assert data["last_intake"] == remaining[0].number


async def test_erase_tolerates_a_group_message_that_cannot_be_deleted(
    harness: Harness, card_updates: list[Intake]
) -> None:
    intake = await submitted(harness)
    await harness.services.intakes.record(
        intake.number,
        HistoryEntry(
            at="2026-11-29T10:00:00+00:00",
            by="Piet",
            action="export",
            messages=[MessageRef(GROUP, 777)],
        ),
    )
    harness.session.fail_next("deleteMessages", BotApiError.bad_request("message can't be deleted"))
    driver = harness.driver()
    await driver.send("/verwijder")
    await driver.click("🗑️ Ja, wis alles")
    assert "Gewist" in (driver.last_text or "")
    assert (await harness.intakes())[0].status == Status.INGETROKKEN


# -- /intrekken ------------------------------------------------------------------------------


async def test_withdraw_erases_the_sensitive_answers_and_what_came_from_them(
    harness: Harness, card_updates: list[Intake]
) -> None:
    intake = await submitted(
        harness,
        guidance="veel",
        helpers=["sw-bedrijf"],
        register_basis=["wsw"],
        work_setting="maakt-niet-uit",
    )
    assert "collectief" in intake.routes
    assert intake.target_groups == ["wsw"]
    harness.clock.current = harness.clock.current.replace(day=30)
    driver = harness.driver()
    await driver.send("/intrekken")
    assert intake.number in (driver.last_text or "")
    await driver.click("Ja, intrekken en wissen")

    (changed,) = await harness.intakes()
    assert not set(SENSITIVE) & set(changed.answers)
    assert changed.answers["sensitive_consent"] == "sla-over"
    assert changed.target_groups == []
    assert changed.outcome["target_groups"] == []
    assert changed.outcome["support"] == {}
    # "veel hulp" (sensitive) no longer leads to a route; the SW-bedrijf (not sensitive) still does.
    route_rules = {r for f in changed.outcome["routes"] for r in f["rules"]}
    assert "veel-hulp" not in route_rules
    assert "sw-bedrijf" in route_rules
    assert changed.routes == [f["code"] for f in changed.outcome["routes"]]
    # The rest stays.
    for key in ("name", "phone", "hours", "helpers", "work_kind"):
        assert changed.answers[key] == intake.answers[key]
    assert changed.status == Status.NIEUW
    assert changed.user_id == DEFAULT_USER_ID
    sensitive = [c for c in changed.consents if c.scope == "sensitive"]
    assert [(c.given, c.at[:10]) for c in sensitive] == [
        (True, "2026-11-29"),
        (False, "2026-11-30"),
    ]
    assert changed.history[-1].action == "toestemming-ingetrokken"
    assert [i.number for i in card_updates] == [intake.number]
    assert "ingetrokken op 2026-11-30" in (driver.last_text or "")

    # A second time there is nothing left to withdraw.
    await driver.send("/intrekken")
    assert "niets om in te trekken" in (driver.last_text or "")


async def test_withdraw_without_sensitive_consent_has_nothing_to_do(
    harness: Harness, card_updates: list[Intake]
) -> None:
    await submitted(harness, sensitive_consent="sla-over")
    driver = harness.driver()
    await driver.send("/intrekken")
    assert "niets om in te trekken" in (driver.last_text or "")
    assert driver.last_keyboard == [] or all(
        "pv:" not in (d or "") for row in driver.last_keyboard for _, d in row
    )
    assert card_updates == []


async def test_withdraw_cancel_keeps_everything(
    harness: Harness, card_updates: list[Intake]
) -> None:
    intake = await submitted(harness)
    driver = harness.driver()
    await driver.send("/intrekken")
    await driver.click("Nee, laat staan")
    (same,) = await harness.intakes()
    assert same.answers == intake.answers
    assert card_updates == []


async def test_withdraw_during_the_intake_drops_the_answers_and_goes_on(harness: Harness) -> None:
    driver = harness.driver()
    await driver.send("/start kandidaat")
    for button in (
        "1. Ja, dat is goed",
        "1. Ik, voor mezelf",
        "3. 18 tot en met 26 jaar",
        "1. Ja, ik beantwoord ze",
    ):
        await driver.click(button)
    await driver.click("1. Ja, ik sta erin")
    question = await harness.current_question()
    assert question is not None
    assert question.id == "register_basis"

    await driver.send("/intrekken")
    await driver.click("Ja, intrekken en wissen")
    state = await harness.flow_state()
    assert state is not None
    assert "register_known" not in state.answers
    assert state.answers["sensitive_consent"] == "sla-over"
    question = await harness.current_question()
    assert question is not None
    assert question.id == "helpers"
    assert "Wie helpt je nu" in (driver.last_text or "")

    # Finishing now stores the withdrawal next to the consent.
    rest = {k: v for k, v in CANDIDATE_ANSWERS.items() if k not in SENSITIVE}
    await walk(harness, "candidate", rest, start=False)
    await confirm_summary(driver)
    (intake,) = await harness.intakes()
    assert [(c.scope, c.given) for c in intake.consents] == [
        ("general", True),
        ("sensitive", True),
        ("sensitive", False),
    ]
    assert not set(SENSITIVE) & set(intake.answers)


# -- deleting the chat after the intake ------------------------------------------------------


async def test_delete_the_chat_deletes_the_tracked_messages_and_confirms(harness: Harness) -> None:
    await submitted(harness)
    _, data = await harness.conversation()
    tracked = list(data["message_ids"])
    assert len(tracked) > 20
    driver = harness.driver()
    await driver.click("🧹 Wis dit gesprek uit de chat")
    requests = harness.session.requests_of("deleteMessages")
    deleted = [m for r in requests for m in json.loads(r.params["message_ids"])]
    assert sorted(deleted) == sorted(tracked)
    chat = harness.session.state.chat_messages(DEFAULT_USER_ID)
    assert len(chat) == 1  # only the confirmation is left
    assert "gewist" in (driver.last_text or "")
    _, data = await harness.conversation()
    assert data["message_ids"] == []
    # The intake itself stays with the intake office.
    assert len(await harness.intakes()) == 1


async def test_delete_the_chat_goes_in_batches_of_100_and_tolerates_failures(
    harness: Harness,
) -> None:
    await submitted(harness)
    context = harness.context()
    data = await context.get_data()
    data["message_ids"] = list(range(1, 251))
    await context.set_data(data)
    harness.session.fail_next("deleteMessages", BotApiError.bad_request("message can't be deleted"))
    driver = harness.driver()
    await driver.click("🧹 Wis dit gesprek uit de chat")
    requests = harness.session.requests_of("deleteMessages")
    assert [len(json.loads(r.params["message_ids"])) for r in requests] == [100, 100, 50]
    assert not requests[0].ok
    assert requests[1].ok
    assert requests[2].ok
    confirmations = [t for t in driver.texts_since_last_action if "gewist" in t]
    assert len(confirmations) == 1
    assert "100" in confirmations[0]


async def test_keep_the_chat_only_takes_the_buttons_away(harness: Harness) -> None:
    await submitted(harness)
    driver = harness.driver()
    await driver.click("Laat maar staan")
    assert harness.session.requests_of("deleteMessages") == []
    assert driver.last_alert == "Goed, het gesprek blijft staan."
    assert driver.last_keyboard == []


async def test_an_old_delete_button_after_a_new_start_is_harmless(harness: Harness) -> None:
    await submitted(harness)
    old = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert old is not None
    driver = harness.driver()
    await driver.click("🧹 Wis dit gesprek uit de chat")
    await driver.feed(callback_update("z:delete", message_id=int(old["message_id"])))
    assert len(await harness.intakes()) == 1


async def test_the_rights_work_in_english(harness: Harness, card_updates: list[Intake]) -> None:
    driver = harness.driver(3003, language_code="en")
    await driver.send("/mijngegevens")
    assert "We keep nothing about you" in (driver.last_text or "")
    await driver.send("/intrekken")
    assert "nothing to withdraw" in (driver.last_text or "")
    await driver.send("/start candidate")
    await driver.click("1. Yes, that is fine")
    await driver.send("/mijngegevens")
    shown = driver.texts_since_last_action
    assert any("You are busy with the questions now" in t for t in shown)
    assert "Who is answering the questions?" in shown[-1]  # the intake goes on where it was
    await driver.send("/verwijder")
    assert "Delete everything?" in (driver.last_text or "")
    await driver.click("No, do not delete")
    assert any("nothing was deleted" in t for t in driver.texts_since_last_action)
    await driver.send("/verwijder")
    await driver.click("🗑️ Yes, delete everything")
    assert "Deleted." in (driver.last_text or "")
    assert await harness.conversation(3003) == (None, {})


async def test_a_failing_card_update_does_not_stop_the_erasure(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(services: object, intake: Intake) -> None:
        raise RuntimeError(f"cannot render {intake.name}")

    monkeypatch.setattr(handoff, "queue_card_update", broken)
    await submitted(harness)
    driver = harness.driver()
    await driver.send("/verwijder")
    await driver.click("🗑️ Ja, wis alles")
    (stone,) = await harness.intakes()
    assert stone.status == Status.INGETROKKEN
    assert await harness.conversation() == (None, {})
    assert "Gewist" in (driver.last_text or "")
    assert "RuntimeError" in caplog.text
    assert "cannot render" not in caplog.text


async def test_an_old_delete_chat_offer_pressed_during_a_new_intake_deletes_nothing(
    harness: Harness,
) -> None:
    await walk_candidate(harness)
    driver = harness.driver()
    await confirm_summary(driver)
    offer = driver.last_keyboard
    [delete_data] = [data for row in offer for text, data in row if "Wis dit gesprek" in text]
    assert delete_data is not None
    offer_message = harness.session.state.last_keyboard_message(DEFAULT_USER_ID)
    assert offer_message is not None
    # A new intake starts; the old offer message is still in the chat, and its button pressed.
    await walk(harness, "candidate", CANDIDATE_ANSWERS, until="age")
    question_before = await harness.current_question()
    await driver.feed(
        callback_update(delete_data, DEFAULT_USER_ID, message_id=offer_message["message_id"])
    )
    assert harness.session.requests_of("deleteMessages") == []
    assert harness.session.requests_of("deleteMessage") == []
    assert driver.texts_since_last_action == []
    assert driver.last_alert == (
        "Deze knop hoort bij een oud bericht. Kijk bij het nieuwste bericht."
    )
    assert await harness.current_question() == question_before


async def test_erasure_waits_for_a_coordinator_change_in_progress_and_wins(
    harness: Harness,
) -> None:
    await walk_candidate(harness)
    await confirm_summary(harness.driver())
    [intake] = await harness.intakes()
    lock = harness.services.coordinator.lock(intake.number)
    await lock.acquire()  # a claim is being handled
    erasure = asyncio.create_task(
        erase_person(harness.services, DEFAULT_USER_ID, harness.stores.conversations)
    )
    await asyncio.sleep(0.05)
    assert not erasure.done()
    await harness.services.intakes.update(
        intake.number, "coordinator:1", "claim", status=Status.OPGEPAKT, assignee_id=1
    )
    lock.release()
    await erasure
    stored = await harness.services.intakes.get(intake.number)
    assert stored is not None
    assert stored.user_id == 0
    assert stored.name == ""
    assert stored.answers == {}
    assert stored.status == Status.INGETROKKEN


async def test_nothing_a_person_typed_is_kept_to_be_shown_to_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Screens that read the same for everyone are kept by the renderer and handed to the next
    # person (`render_shared`, bot/render.py). A screen with something a person typed on it (a
    # name, a postcode, a previous answer) must never be one of them: it would be kept in the
    # process for others, past /verwijder.
    renderer = harness.services.renderer
    render_shared = renderer.render_shared
    kept: list[str] = []

    def keeping(lang: Any, name: str, /, **context: Any) -> str:
        text = render_shared(lang, name, **context)
        kept.append(text)
        return text

    monkeypatch.setattr(renderer, "render_shared", keeping)
    await walk_candidate(
        harness, {"name": "Zwaantje", "work_other": "Bloemschikken", "postcode": "9999 ZZ"}
    )
    driver = harness.driver()
    await driver.click("✏️ Wijzigen")
    await driver.click("18. Hoe mogen we je noemen?")
    assert "Je vorige antwoord: Zwaantje" in (driver.last_text or "")
    # Someone else at the same screen reads their own answer, never the first person's.
    other = 2002
    await walk_candidate(harness, {"name": "Merel"}, user_id=other)
    await harness.driver(other).click("✏️ Wijzigen")
    await harness.driver(other).click("18. Hoe mogen we je noemen?")
    assert "Je vorige antwoord: Merel" in (harness.driver(other).last_text or "")
    seen_by_other = [
        str(request.params.get("text"))
        for request in harness.session.requests
        if request.params.get("chat_id") == str(other)
    ]
    assert seen_by_other
    assert not [text for text in seen_by_other if "Zwaantje" in text]

    assert any("Hoe oud ben je?" in text for text in kept)  # question screens are kept ...
    for typed in ("Zwaantje", "Bloemschikken", "9999", "Merel"):  # ... but nothing typed
        assert not [text for text in kept if typed in text], typed

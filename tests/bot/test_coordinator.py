"""The coordinators' side through the real Dispatcher: card, claim, messages both ways, status,
the person told, export, access for strangers, pagination and escaping."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest

from bot.coordinator.keyboards import CardCb, ListCb
from bot.handlers.coordinator import DETAILS_WAIT
from flows.records import IntakeKind, Note, Status
from tests.bot.coordinator_fixtures import (
    COORD,
    COORD2,
    COORD_NAME,
    GROUP,
    MEMBER,
    PERSON,
    STRANGER,
    Coord,
    coord_fixture,  # noqa: F401 - the fixture, by name
    make_coord,
)
from tests.bot.intake_fixtures import confirm_summary, walk_candidate
from tests.support.bot_api_state import BotApiError, visible_text

SENSITIVE_LABELS = (
    "Ja, ik sta erin",
    "Ik heb Wajong en ik kan werken",
    "Een beetje hulp",
    "Aangepaste werktijden",
)


def unknown(coord: Coord) -> str:
    return coord.h.services.renderer.render("nl", "unknown_command")


async def test_whole_cycle_from_intake_to_export(coord: Coord) -> None:
    h = coord.h
    person = h.driver(PERSON)
    await walk_candidate(h)
    await confirm_summary(person)
    [intake] = await h.intakes()
    number = intake.number

    # The card reaches the group through the outbox, and its id is kept on the intake.
    before = coord.mark()
    await coord.deliver()
    [card] = [r for r in coord.sent_to(GROUP, before, "sendMessage")]
    text = card.params["text"]
    assert number in text
    assert "kandidaat" in text
    assert "wajong" in text
    assert "Anna" in text
    assert "2 punt(en) opgegeven" in text
    assert "06 12345678" not in text  # contact details stay off the card
    card_id = await coord.card_id(number)
    assert card.result.message_id == card_id
    buttons = coord.card_buttons(card_id)
    assert set(buttons) >= {"🙋 Ik pak dit op", "🔒 Details", "📝 Notitie", "📁 Afsluiten"}

    # Claim: the card shows the status and who, and the person is told in their language.
    mark = coord.mark()
    await coord.press(COORD, buttons["🙋 Ik pak dit op"], message_id=card_id)
    assert coord.alerts(mark) == [f"Je hebt {number} opgepakt."]
    await coord.deliver()
    [edit] = coord.sent_to(GROUP, mark, "editMessageText")
    assert edit.params["message_id"] == str(card_id)
    assert "opgepakt" in edit.params["text"]
    assert f"👤 {COORD_NAME}" in edit.params["text"]
    [told] = coord.sent_to(PERSON, mark, "sendMessage")
    assert "een coördinator heeft je aanmelding" in told.params["text"]
    stored = await coord.intake(number)
    assert stored.status is Status.OPGEPAKT
    assert stored.assignee_id == COORD

    # A coordinator replies to the card: the text goes to the person.
    mark = coord.mark()
    await coord.say(COORD, "Hoi Anna, kan ik je morgen bellen?", reply_to=card_id)
    await coord.deliver()
    [to_person] = coord.sent_to(PERSON, mark, "sendMessage")
    assert "Hoi Anna, kan ik je morgen bellen?" in to_person.params["text"]
    assert "Bericht van de coördinator" in to_person.params["text"]

    # The person answers (no intake running): relayed under the card, and told so.
    mark = coord.mark()
    await person.send("Ja, na 10 uur graag")
    await coord.deliver()
    [relayed] = coord.sent_to(GROUP, mark, "sendMessage")
    assert "Ja, na 10 uur graag" in relayed.params["text"]
    assert number in relayed.params["text"]
    assert json.loads(relayed.params["reply_parameters"])["message_id"] == card_id
    [ack] = coord.sent_to(PERSON, mark, "sendMessage")
    assert "doorgegeven" in ack.params["text"]

    # A reply to the relayed message also reaches the person; /antwoord too.
    mark = coord.mark()
    await coord.say(COORD, "Prima, tot morgen", reply_to=relayed.result.message_id)
    await coord.say(COORD, f"/antwoord {number} Ik bel om 10:30")
    await coord.deliver()
    texts = [r.params["text"] for r in coord.sent_to(PERSON, mark, "sendMessage")]
    assert any("Prima, tot morgen" in t for t in texts)
    assert any("Ik bel om 10:30" in t for t in texts)

    # Status: contact gehad, then closed; the person is told when it is closed.
    card_buttons = coord.card_buttons(card_id)
    await coord.press(COORD, card_buttons["📞 Contact gehad"], message_id=card_id)
    await coord.deliver()
    mark = coord.mark()
    await coord.press(COORD, coord.card_buttons(card_id)["📁 Afsluiten"], message_id=card_id)
    await coord.deliver()
    [closed] = coord.sent_to(PERSON, mark, "sendMessage")
    assert "is afgesloten" in closed.params["text"]
    assert "afgesloten" in coord.message(GROUP, card_id)["text"]
    assert (await coord.intake(number)).status is Status.AFGESLOTEN

    # Export: CSV and XLSX, opened as a spreadsheet would, and audited with the message ids.
    mark = coord.mark()
    await coord.say(COORD, "/export")
    documents = coord.sent_to(GROUP, mark, "sendDocument")
    assert len(documents) == 2
    csv_file, xlsx_file = (next(iter(d.files.values())) for d in documents)
    assert csv_file.filename.endswith(".csv")
    assert xlsx_file.filename.endswith(".xlsx")
    assert csv_file.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["nummer", "soort", "status"]
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["nummer"] == number
    assert record["status"] == "afgesloten"
    assert record["doelgroep"] == "wajong"
    assert record["soort"] == "candidate"
    assert record["contactroute"] == "telefoon"
    assert record["coordinator"] == COORD_NAME
    assert "06 12345678" not in csv_file.content.decode("utf-8-sig")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_file.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == rows[0]
    assert values[1][0] == number
    assert values[1][6] == "wajong"
    export_entry = [e for e in (await coord.intake(number)).history if e.action == "export"]
    ids = [d.result.message_id for d in documents]
    assert export_entry
    assert export_entry[-1].detail == " ".join(f"msg:{GROUP}:{i}" for i in ids)

    # /intake shows the whole history: claim, messages, status changes, export, this view.
    mark = coord.mark()
    await coord.say(COORD, f"/intake {number}")
    [view] = coord.sent_to(GROUP, mark, "sendMessage")
    shown = visible_text(view.params["text"])
    for action in (
        "opgepakt",
        "bericht-aan-persoon",
        "bericht-van-persoon",
        "status",
        "export",
        "bekeken",
    ):
        assert action in shown, action
    for label in SENSITIVE_LABELS:
        assert label not in shown  # sensitive answers never in the group
    assert "gevoelige antwoord(en) niet getoond" in shown


async def test_details_go_privately_and_need_a_started_bot(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    details = CardCb(a="details", n=intake.number).pack()

    coord.session.state.block(COORD)  # Telegram: the bot cannot start a chat with this user
    mark = coord.mark()
    await coord.press(COORD, details, message_id=card_id)
    [alert] = [r for r in coord.since(mark) if r.name == "answerCallbackQuery"]
    assert "druk op Start" in alert.params["text"]
    assert alert.params.get("show_alert") == "true"

    coord.session.state.blocked_chats.clear()
    mark = coord.mark()
    await coord.press(COORD, details, message_id=card_id)
    [private] = coord.sent_to(COORD, mark, "sendMessage")
    text = private.params["text"]
    assert all(label in text for label in SENSITIVE_LABELS)
    assert "06 12345678" in text
    assert coord.sent_to(GROUP, mark) == []
    assert any(e.action == "details-bekeken" for e in (await coord.intake(intake.number)).history)


@pytest.mark.looptime
async def test_details_that_must_wait_are_answered_in_time_and_audited_once_sent(
    coord: Coord,
) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    coord.session.fail_next("sendMessage", BotApiError.retry_after_seconds(30))
    start = asyncio.get_running_loop().time()
    mark = coord.mark()
    await coord.press(COORD, CardCb(a="details", n=intake.number).pack(), message_id=card_id)
    timed = list(zip(coord.session.requests, coord.session.times, strict=True))[mark:]
    [(alert, answered_at)] = [(r, t) for r, t in timed if r.name == "answerCallbackQuery"]
    assert "privégesprek" in alert.params["text"]
    assert answered_at - start <= DETAILS_WAIT + 0.1  # a button does not wait for a 429
    [(_, sent_at)] = [(r, t) for r, t in timed if r.name == "sendMessage" and r.ok]
    assert sent_at - start >= 30
    viewed = [
        e for e in (await coord.intake(intake.number)).history if e.action == "details-bekeken"
    ]
    assert len(viewed) == 1


async def test_an_export_file_that_fails_leaves_the_other_audited(coord: Coord) -> None:
    intake = await coord.add_intake()
    coord.session.fail_next("sendDocument", BotApiError.bad_request("file is too big"))
    mark = coord.mark()
    await coord.say(COORD, "/export")
    [xlsx] = coord.sent_to(GROUP, mark, "sendDocument")
    assert next(iter(xlsx.files.values())).filename.endswith(".xlsx")
    [entry] = [e for e in (await coord.intake(intake.number)).history if e.action == "export"]
    assert entry.detail == f"msg:{GROUP}:{xlsx.result.message_id}"


async def test_private_intake_view_shows_sensitive_answers(coord: Coord) -> None:
    intake = await coord.add_intake()
    mark = coord.mark()
    await coord.say(COORD, f"/intake {intake.number}", chat_id=COORD)
    [view] = coord.sent_to(COORD, mark, "sendMessage")
    assert all(label in visible_text(view.params["text"]) for label in SENSITIVE_LABELS)


async def test_note_by_reply_to_the_prompt(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    mark = coord.mark()
    await coord.press(COORD, CardCb(a="note", n=intake.number).pack(), message_id=card_id)
    await coord.deliver()
    [prompt] = coord.sent_to(GROUP, mark, "sendMessage")
    assert json.loads(prompt.params["reply_parameters"])["message_id"] == card_id
    assert f"tg://user?id={COORD}" in prompt.params["text"]
    await coord.say(COORD, "Belt liever na 14 uur", reply_to=prompt.result.message_id)
    await coord.deliver()
    stored = await coord.intake(intake.number)
    assert [n.text for n in stored.notes] == ["Belt liever na 14 uur"]
    assert "Belt liever na 14 uur" in coord.message(GROUP, card_id)["text"]
    # The note prompt and the note never reached the person.
    assert coord.sent_to(PERSON, mark) == []


async def test_a_stranger_gets_the_unknown_command_answer_and_nothing_else(coord: Coord) -> None:
    intake = await coord.add_intake(name="Zoë Geheim")
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    list_mark = coord.mark()
    await coord.say(COORD, "/intakes")
    [listing] = coord.sent_to(GROUP, list_mark, "sendMessage")
    list_id = listing.result.message_id

    mark = coord.mark()
    number = intake.number
    commands = ["/intakes", f"/intake {number}", "/zoek Zoë", f"/antwoord {number} hoi",
                "/export", "/stats", "/wachtrij"]  # fmt: skip
    for command in commands:
        await coord.say(STRANGER, command, first_name="Eve")
    answers = [r for r in coord.sent_to(GROUP, mark) if r.name != "getChatMember"]
    assert [r.name for r in answers] == ["sendMessage"] * len(commands)
    assert {r.params["text"] for r in answers} == {unknown(coord)}

    for command in commands:  # in a private chat: what any unknown command gets
        await coord.say(STRANGER, command, chat_id=STRANGER, first_name="Eve")
    private = [r for r in coord.sent_to(STRANGER, mark, "sendMessage")]
    assert private
    assert all(r.params["text"] == unknown(coord) for r in private)

    button_mark = coord.mark()
    for data in [*coord.card_buttons(card_id).values(),
                 CardCb(a="status", n=intake.number, s="geplaatst").pack(),
                 ListCb(f="", p=1).pack()]:  # fmt: skip
        target = list_id if data.startswith("kl") else card_id
        await coord.press(STRANGER, data, message_id=target, first_name="Eve")
    assert set(coord.alerts(button_mark)) == {unknown(coord)}

    for request in coord.since(mark):
        blob = json.dumps(request.params, ensure_ascii=False)
        assert intake.number not in blob, request.name
        assert "Zoë" not in blob, request.name
        assert not request.files
    stored = await coord.intake(intake.number)
    assert stored.status is Status.NIEUW
    assert stored.assignee_id is None
    assert stored.notes == []
    assert await coord.h.deliveries() == []  # nothing queued for the person or the group


async def test_a_member_of_the_group_is_a_coordinator_checked_once(coord: Coord) -> None:
    await coord.add_intake()
    mark = coord.mark()
    await coord.say(MEMBER, "/wachtrij", first_name="Mo")
    await coord.say(MEMBER, "/intakes", first_name="Mo")
    assert len(coord.sent_to(GROUP, mark, "sendMessage")) == 2
    assert unknown(coord) not in [
        r.params["text"] for r in coord.sent_to(GROUP, mark, "sendMessage")
    ]
    assert len([r for r in coord.since(mark) if r.name == "getChatMember"]) == 1


async def test_pagination_ten_per_page(coord: Coord) -> None:
    numbers = [(await coord.add_intake(user_id=2000 + i, name=f"Persoon {i}", queue=False)).number
               for i in range(23)]  # fmt: skip
    mark = coord.mark()
    await coord.say(COORD, "/intakes nieuw")
    [first] = coord.sent_to(GROUP, mark, "sendMessage")
    page1 = visible_text(first.params["text"])
    assert "23 totaal" in page1
    assert "pagina 1/3" in page1
    assert sum(n in page1 for n in numbers) == 10
    assert numbers[-1] in page1
    list_id = first.result.message_id
    buttons = coord.card_buttons(list_id)
    assert "Volgende ▶️" in buttons
    assert "◀️ Vorige" not in buttons

    await coord.press(COORD, buttons["Volgende ▶️"], message_id=list_id)
    page2 = visible_text(coord.message(GROUP, list_id)["text"])
    assert "pagina 2/3" in page2
    assert sum(n in page2 for n in numbers) == 10
    await coord.press(COORD, coord.card_buttons(list_id)["Volgende ▶️"], message_id=list_id)
    page3 = coord.message(GROUP, list_id)["text"]
    assert "pagina 3/3" in page3
    assert sum(n in page3 for n in numbers) == 3
    assert numbers[0] in page3
    assert "Volgende ▶️" not in coord.card_buttons(list_id)

    mark = coord.mark()
    await coord.say(COORD, "/intakes werkgever")
    assert "Niets gevonden" in coord.sent_to(GROUP, mark, "sendMessage")[0].params["text"]
    await coord.say(COORD, "/intakes onzin")
    assert "Onbekend filter: onzin" in coord.sent_to(GROUP, mark, "sendMessage")[1].params["text"]


async def test_search_by_name(coord: Coord) -> None:
    await coord.add_intake(user_id=3001, name="Fatima el Amrani", queue=False)
    await coord.add_intake(user_id=3002, name="Jan Jansen", queue=False)
    mark = coord.mark()
    await coord.say(COORD, "/zoek amrani")
    text = coord.sent_to(GROUP, mark, "sendMessage")[0].params["text"]
    assert "Fatima el Amrani" in text
    assert "Jan Jansen" not in text


async def test_names_and_notes_with_markup_characters_never_break_a_card(coord: Coord) -> None:
    name = "<b>Jan & Piet</b> <script>"
    intake = await coord.add_intake(name=name)
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    [card] = [
        r for r in coord.session.requests if r.name == "sendMessage" and r.chat_id == str(GROUP)
    ]
    assert "<b>Naam:</b> &lt;b&gt;Jan &amp; Piet&lt;/b&gt; &lt;script&gt;" in card.params["text"]
    assert "<script>" not in card.params["text"]
    assert "<b>Jan" not in card.params["text"]

    mark = coord.mark()
    await coord.press(COORD, CardCb(a="note", n=intake.number).pack(), message_id=card_id)
    await coord.deliver()
    [prompt] = coord.sent_to(GROUP, mark, "sendMessage")
    await coord.say(COORD, "a < b && c > d </b>", reply_to=prompt.result.message_id)
    await coord.deliver()
    [edit] = coord.sent_to(GROUP, mark, "editMessageText")
    assert f"{COORD_NAME}" in edit.params["text"]
    assert ": a &lt; b &amp;&amp; c &gt; d &lt;/b&gt;" in edit.params["text"]
    assert coord.message(GROUP, card_id)["text"].count("a < b && c > d </b>") == 1


async def test_long_notes_keep_the_card_within_telegram_limits(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    for i in range(6):
        await coord.h.stores.intakes.update(intake.number, "x", "notitie", note=_note(i))
    from bot.handoff import queue_card_update

    await queue_card_update(coord.h.services, await coord.intake(intake.number))
    await coord.deliver()
    text = coord.message(GROUP, card_id)["text"]
    assert len(text) <= 4096
    assert "nog 3 eerder" in text


def _note(i: int) -> Note:
    return Note(at="2026-11-29T09:00:00+00:00", by="X", text=f"{i} " + "<&>" * 2000)


async def test_employer_card_and_english_person(coord: Coord) -> None:
    intake = await coord.add_intake(kind=IntakeKind.EMPLOYER, user_id=4001, language="en")
    await coord.deliver()
    card = coord.message(GROUP, await coord.card_id(intake.number))["text"]
    assert "werkgever" in card
    assert "Ministerie van Voorbeelden" in card
    assert "Bram@Example.nl" not in card
    mark = coord.mark()
    await coord.press(
        COORD,
        CardCb(a="claim", n=intake.number).pack(),
        message_id=await coord.card_id(intake.number),
    )
    await coord.deliver()
    [told] = coord.sent_to(4001, mark, "sendMessage")
    assert "a coordinator has picked up your application" in told.params["text"]


async def test_person_text_during_an_intake_is_not_relayed(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    await coord.say(COORD, f"/antwoord {intake.number} Hallo")
    await coord.deliver()
    person = coord.h.driver(PERSON)
    await person.send("/start kandidaat")  # a new intake starts: its answers are not relayed
    mark = coord.mark()
    await person.click("1. Ja, dat is goed")
    await person.send("Hallo daar")
    await coord.deliver()
    assert coord.sent_to(GROUP, mark) == []


async def test_stats_and_queue(coord: Coord) -> None:
    for i in range(6):
        await coord.add_intake(user_id=5000 + i, queue=False)
    await coord.add_intake(kind=IntakeKind.EMPLOYER, user_id=5100, queue=False)
    for _ in range(7):
        await coord.h.funnel.count("candidate:started")
        await coord.h.funnel.count("candidate:shown:consent")
    await coord.h.funnel.count("candidate:stopped:age")
    mark = coord.mark()
    await coord.say(COORD, "/stats")
    [text] = coord.sent_to(GROUP, mark, "sendMessage")
    shown = visible_text(text.params["text"])
    assert "candidate 6" in shown
    assert "employer <5" in shown
    assert "wajong 6" in shown
    assert "begonnen 7" in shown
    assert "consent: getoond 7" in shown
    assert "age: getoond 0, gestopt <5" in shown
    [photo] = coord.sent_to(GROUP, mark, "sendPhoto")
    assert next(iter(photo.files.values())).content.startswith(b"\x89PNG")

    mark = coord.mark()
    await coord.say(COORD, "/wachtrij")
    queue = visible_text(coord.sent_to(GROUP, mark, "sendMessage")[0].params["text"])
    assert "Wachtend: 0" in queue


async def test_erasure_updates_the_card_to_a_tombstone(coord: Coord) -> None:
    from bot.privacy import erase_person

    intake = await coord.add_intake(name="Zoë Geheim")
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    await coord.press(COORD, CardCb(a="claim", n=intake.number).pack(), message_id=card_id)
    await coord.deliver()
    await erase_person(coord.h.services, PERSON)
    await coord.deliver()
    card = coord.message(GROUP, card_id)
    assert "gewist" in card["text"]
    assert "Zoë" not in card["text"]
    assert "reply_markup" not in card  # no buttons on a tombstone
    mark = coord.mark()
    await coord.press(COORD, CardCb(a="details", n=intake.number).pack(), message_id=card_id)
    assert coord.alerts(mark) == ["Er zijn geen details (meer)."]
    assert coord.sent_to(COORD, mark) == []


async def test_a_reply_to_a_coordinator_message_is_relayed_even_during_a_new_intake(
    coord: Coord,
) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    await coord.say(COORD, f"/antwoord {intake.number} Wanneer kun je?")
    await coord.deliver()
    [to_person] = coord.sent_to(PERSON, method="sendMessage")
    person = coord.h.driver(PERSON)
    await person.send("/start kandidaat")
    state_before = await coord.h.conversation(PERSON)
    mark = coord.mark()
    await coord.say(PERSON, "Maandag", chat_id=PERSON, reply_to=to_person.result.message_id)
    await coord.deliver()
    [relayed] = coord.sent_to(GROUP, mark, "sendMessage")
    assert "Maandag" in relayed.params["text"]
    state_after = await coord.h.conversation(PERSON)
    assert state_after[0] == state_before[0]  # the intake in progress is untouched
    assert state_after[1]["flow_state"] == state_before[1]["flow_state"]


async def test_an_old_conversation_is_not_relayed(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    await coord.say(COORD, f"/antwoord {intake.number} Hallo")
    await coord.deliver()
    coord.h.clock.advance(timedelta(days=30))
    mark = coord.mark()
    await coord.say(PERSON, "Hallo?", chat_id=PERSON)
    await coord.deliver()
    assert coord.sent_to(GROUP, mark) == []
    assert coord.sent_to(PERSON, mark, "sendMessage")  # the usual welcome instead


async def test_coordinator_texts_in_english_when_that_is_the_default(tmp_path: Path) -> None:
    coord = await make_coord(tmp_path, DEFAULT_LANGUAGE="en")
    intake = await coord.add_intake(kind=IntakeKind.EMPLOYER)
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    assert "employer" in coord.message(GROUP, card_id)["text"]
    assert "🙋 I'll take it" in coord.card_buttons(card_id)
    mark = coord.mark()
    for command in (f"/intake {intake.number}", "/intakes", "/stats", "/wachtrij", "/zoek Bram"):
        await coord.say(COORD, command)
    for data in ("claim", "note", "details"):
        await coord.press(COORD, CardCb(a=data, n=intake.number).pack(), message_id=card_id)
    await coord.deliver()
    texts = [r.params.get("text", "") for r in coord.since(mark) if r.ok]
    assert any("All answers" in t for t in texts)
    assert any("Figures" in t for t in texts)
    assert any("type the note for" in t for t in texts)
    assert coord.alerts(mark)[0] == f"You picked up {intake.number}."
    await coord.h.close()


async def test_a_stranger_replying_to_a_card_reaches_nobody(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    mark = coord.mark()
    await coord.say(STRANGER, "Hallo Anna", reply_to=await coord.card_id(intake.number))
    assert await coord.h.deliveries() == []
    for request in coord.since(mark):
        assert intake.number not in json.dumps(request.params)


async def test_two_coordinators_claiming_at_once_tell_the_person_once(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    claim = CardCb(a="claim", n=intake.number).pack()
    mark = coord.mark()
    await asyncio.gather(
        coord.press(COORD, claim, message_id=card_id),
        coord.press(COORD2, claim, message_id=card_id, first_name="Dirk"),
    )
    await coord.deliver()
    told = [r for r in coord.sent_to(PERSON, mark, "sendMessage") if "opgepakt" in r.params["text"]]
    assert len(told) == 1
    stored = await coord.intake(intake.number)
    assert stored.status is Status.OPGEPAKT
    assert stored.assignee_id in (COORD, COORD2)


async def test_help_in_the_group_lists_the_commands_for_coordinators_only(coord: Coord) -> None:
    mark = coord.mark()
    await coord.say(COORD, "/help")
    [help_text] = [r.params["text"] for r in coord.sent_to(GROUP, mark, "sendMessage")]
    assert help_text.startswith("<b>Baanwijzer voor coördinatoren</b>")
    for command in ("/intakes", "/intake K-2026-0001", "/zoek", "/antwoord", "/wachtrij",
                    "/export", "/stats"):  # fmt: skip
        assert command in help_text
    assert "privé" not in help_text  # not the pointer to a private chat everybody else gets

    mark = coord.mark()
    await coord.say(STRANGER, "/help", first_name="Eve")
    answers = [r.params["text"] for r in coord.sent_to(GROUP, mark, "sendMessage")]
    assert answers
    assert all("coördinatoren" not in text for text in answers)

"""The coordinators' side through the real Dispatcher: card, claim, messages both ways, status,
the person told, export, notes, pagination and escaping; what the group sees and what only a
coordinator's private chat does. (Who may do it: test_coordinator_access.py.)"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest

from bot.coordinator.keyboards import CardAction, CardCb
from bot.handlers.coordinator import DETAILS_WAIT
from flows.records import Intake, IntakeKind, MessageRef, Note, Status
from tests.bot.coordinator_harness import (
    COORD,
    COORD2,
    COORD_NAME,
    GROUP,
    PERSON,
    STRANGER,
    Coord,
    answer_displays,
    group_texts,
    make_coord,
    personal_strings,
)
from tests.bot.intake_harness import confirm_summary, walk_candidate
from tests.support.bot_api_state import BotApiError, visible_text
from tests.support.updates import message_json, photo_update, update_of


def sensitive(coord: Coord, intake: Intake) -> list[str]:
    """How the sensitive answers read (register, guidance, support): never in the group."""
    found = answer_displays(coord, intake, sensitive=True)
    assert found, "the test intake has sensitive answers"
    return found


def card_text(number: str, routes: list[str], status: str = "nieuw", who: str = "") -> str:
    """The whole card as a member of the group reads it: nothing about the person."""
    icon = {"nieuw": "🆕", "opgepakt": "🙋", "contact gehad": "📞", "afgesloten": "📁"}[status]
    assignee = f"👤 {who}" if who else "👤 nog niet opgepakt"
    return (
        f"{icon} {number} · kandidaat · {status}\n{assignee}\n"
        f"Route: {', '.join(routes)}\n\n"
        "🔒 Naam, antwoorden en contactgegevens zie je alleen privé: druk op Details."
    )


async def test_whole_cycle_from_intake_to_export(coord: Coord) -> None:
    h = coord.h
    person = h.driver(PERSON)
    await walk_candidate(h)
    await confirm_summary(person)
    [intake] = await h.intakes()
    number = intake.number

    # The card reaches the group through the outbox, and its id is kept on the intake. It shows
    # the number, the kind, the routes and the status: no name, answer or contact detail.
    before = coord.mark()
    await coord.deliver()
    [card] = [r for r in coord.sent_to(GROUP, before, "sendMessage")]
    assert intake.routes
    assert visible_text(card.params["text"]) == card_text(number, intake.routes)
    card_id = await coord.card_id(number)
    assert card.result.message_id == card_id
    buttons = coord.card_buttons(card_id)
    assert set(buttons) == {"🙋 Ik pak dit op", "🔒 Details", "📝 Notitie", "📁 Afsluiten"}

    # Claim: the card shows the status and who, and the person is told in their language.
    mark = coord.mark()
    await coord.press(COORD, buttons["🙋 Ik pak dit op"], message_id=card_id)
    assert coord.alerts(mark) == [f"Je hebt {number} opgepakt."]
    await coord.deliver()
    [edit] = coord.sent_to(GROUP, mark, "editMessageText")
    assert edit.params["message_id"] == str(card_id)
    assert visible_text(edit.params["text"]) == card_text(
        number, intake.routes, "opgepakt", COORD_NAME
    )
    [told] = coord.sent_to(PERSON, mark, "sendMessage")
    assert "een coördinator heeft je aanmelding" in told.params["text"]
    stored = await coord.intake(number)
    assert stored.status is Status.OPGEPAKT
    assert stored.assignee_id == COORD

    # A coordinator replies to the card: the text goes to the person.
    mark = coord.mark()
    await coord.say(COORD, "Hoi, kan ik je morgen bellen?", reply_to=card_id)
    await coord.deliver()
    [to_person] = coord.sent_to(PERSON, mark, "sendMessage")
    assert "Hoi, kan ik je morgen bellen?" in to_person.params["text"]
    assert "Bericht van de coördinator" in to_person.params["text"]

    # The person answers (no intake running): the text goes to the private chat of the
    # coordinator who picked it up; the group reads only where it went. The person is told.
    mark = coord.mark()
    await person.send("Ja, na 10 uur graag")
    await coord.deliver()
    [relayed] = coord.sent_to(COORD, mark, "sendMessage")
    assert "Ja, na 10 uur graag" in relayed.params["text"]
    assert number in relayed.params["text"]
    assert "Anna" in relayed.params["text"]
    [notice] = coord.sent_to(GROUP, mark, "sendMessage")
    assert json.loads(notice.params["reply_parameters"])["message_id"] == card_id
    assert visible_text(notice.params["text"]) == (
        f"💬 {number}: de persoon heeft een bericht gestuurd. "
        f"Het staat in het privégesprek van {COORD_NAME} met de bot."
    )
    assert f"tg://user?id={COORD}" in notice.params["text"]
    [ack] = coord.sent_to(PERSON, mark, "sendMessage")
    assert "doorgegeven" in ack.params["text"]
    relayed_entries = [
        e for e in (await coord.intake(number)).history if e.action == "doorgestuurd"
    ]
    assert relayed_entries[-1].messages == [MessageRef(COORD, relayed.result.message_id)]

    # A reply to the relayed message in the private chat reaches the person; /antwoord too.
    mark = coord.mark()
    await coord.say(COORD, "Prima, tot morgen", chat_id=COORD, reply_to=relayed.result.message_id)
    await coord.say(COORD, f"/antwoord {number} Ik bel om 10:30")
    await coord.deliver()
    texts = [r.params["text"] for r in coord.sent_to(PERSON, mark, "sendMessage")]
    assert any("Prima, tot morgen" in t for t in texts)
    assert any("Ik bel om 10:30" in t for t in texts)
    assert [r.name for r in coord.sent_to(COORD, mark)] == ["setMessageReaction"]

    # Status: contact gehad, then closed; the person is told when it is closed.
    card_buttons = coord.card_buttons(card_id)
    mark = coord.mark()
    await coord.press(COORD, card_buttons["📞 Contact gehad"], message_id=card_id)
    assert coord.alerts(mark) == [f"{number} is nu: contact gehad."]
    await coord.deliver()
    mark = coord.mark()
    await coord.press(COORD, coord.card_buttons(card_id)["📁 Afsluiten"], message_id=card_id)
    await coord.deliver()
    [closed] = coord.sent_to(PERSON, mark, "sendMessage")
    assert "is afgesloten" in closed.params["text"]
    assert visible_text(coord.message(GROUP, card_id)["text"]) == card_text(
        number, intake.routes, "afgesloten", COORD_NAME
    )
    assert (await coord.intake(number)).status is Status.AFGESLOTEN

    # Export, asked in the group: CSV and XLSX in the coordinator's private chat, opened as a
    # spreadsheet would; the group reads where it went. Audited with the message ids.
    mark = coord.mark()
    await coord.say(COORD, "/export")
    documents = coord.sent_to(COORD, mark, "sendDocument")
    assert len(documents) == 2
    assert coord.sent_to(GROUP, mark, "sendDocument") == []
    [where] = coord.sent_to(GROUP, mark, "sendMessage")
    assert where.params["text"] == "📤 De export staat in je privégesprek met de bot."
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
    assert [(e.by, e.detail, e.messages) for e in export_entry] == [
        (f"{COORD_NAME} [{COORD}]", "privé", [MessageRef(COORD, i) for i in ids])
    ]

    # /intake in the group: the whole intake in the private chat, a short line in the group.
    mark = coord.mark()
    await coord.say(COORD, f"/intake {number}")
    [line] = coord.sent_to(GROUP, mark, "sendMessage")
    assert (
        line.params["text"] == f"🔒 De gegevens van {number} staan in je privégesprek met de bot."
    )
    [view] = coord.sent_to(COORD, mark, "sendMessage")
    shown = visible_text(view.params["text"])
    for action in ("opgepakt", "bericht-aan-persoon", "bericht-van-persoon", "status", "export"):
        assert action in shown, action
    assert "Ja, na 10 uur graag" in shown  # the person's message, kept for the coordinators
    assert all(text in shown for text in sensitive(coord, intake))
    assert all(text in shown for text in answer_displays(coord, intake))  # contact details too
    viewed = [e for e in (await coord.intake(number)).history if e.action == "bekeken"]
    assert [(e.by, e.detail, e.messages) for e in viewed] == [
        (f"{COORD_NAME} [{COORD}]", "privé", [MessageRef(COORD, view.result.message_id)])
    ]

    # Nothing the person said reached the group, in any message of the whole cycle.
    for text in group_texts(coord):
        for needle in [*personal_strings(coord, intake), "Ja, na 10 uur graag"]:
            assert needle not in text, (needle, text)


async def test_details_go_privately_and_need_a_started_bot(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    details = CardCb(action=CardAction.DETAILS, number=intake.number).pack()

    coord.session.state.block(COORD)  # Telegram: the bot cannot start a chat with this user
    mark = coord.mark()
    await coord.press(COORD, details, message_id=card_id)
    [alert] = [r for r in coord.since(mark) if r.name == "answerCallbackQuery"]
    assert "druk op Start" in alert.params["text"]
    assert alert.params.get("show_alert") == "true"
    assert coord.sent_to(GROUP, mark) == []
    assert not [e for e in (await coord.intake(intake.number)).history if "bekeken" in e.action]

    coord.session.state.blocked_chats.clear()
    mark = coord.mark()
    await coord.press(COORD, details, message_id=card_id)
    assert coord.alerts(mark) == ["De details staan in je privégesprek met de bot."]
    [private] = coord.sent_to(COORD, mark, "sendMessage")
    text = visible_text(private.params["text"])
    assert all(label in text for label in sensitive(coord, intake))
    assert "06 12345678" in text
    assert "Anna" in text
    assert "Koken in een keuken" in text  # free text
    assert "Doelgroep (wat de persoon zegt): wajong" in text
    assert coord.sent_to(GROUP, mark) == []
    [entry] = [e for e in (await coord.intake(intake.number)).history if "bekeken" in e.action]
    assert (entry.action, entry.by) == ("details-bekeken", f"{COORD_NAME} [{COORD}]")
    assert (entry.detail, entry.messages) == (
        "privé",
        [MessageRef(COORD, private.result.message_id)],
    )


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
    await coord.press(
        COORD, CardCb(action=CardAction.DETAILS, number=intake.number).pack(), message_id=card_id
    )
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
    await coord.say(COORD, "/export", chat_id=COORD)
    [xlsx] = coord.sent_to(COORD, mark, "sendDocument")
    assert next(iter(xlsx.files.values())).filename.endswith(".xlsx")
    [entry] = [e for e in (await coord.intake(intake.number)).history if e.action == "export"]
    assert (entry.detail, entry.messages) == ("privé", [MessageRef(COORD, xlsx.result.message_id)])
    assert coord.sent_to(COORD, mark, "sendMessage") == []  # asked in private: no extra line


async def test_an_export_asked_in_the_group_by_someone_who_never_started_the_bot(
    coord: Coord,
) -> None:
    # Telegram refuses a bot's first message to a user (403): the group is told what to do,
    # nothing is sent there, and nothing is audited as exported.
    intake = await coord.add_intake()
    coord.session.state.block(COORD)
    mark = coord.mark()
    await coord.say(COORD, "/export")
    assert [r.ok for r in coord.session.requests[mark:] if r.name == "sendDocument"] == [
        False,
        False,
    ]
    [line] = coord.sent_to(GROUP, mark)
    assert line.name == "sendMessage"
    assert line.params["text"] == (
        "Ik kan je nog geen privébericht sturen. Open @baanwijzer_bot en druk op Start. "
        "Probeer het daarna opnieuw."
    )
    assert json.loads(line.params["reply_parameters"])["message_id"] > 0
    assert [e for e in (await coord.intake(intake.number)).history if e.action == "export"] == []


async def test_intake_asked_in_the_group_by_someone_who_never_started_the_bot(
    coord: Coord,
) -> None:
    intake = await coord.add_intake()
    coord.session.state.block(COORD)
    mark = coord.mark()
    await coord.say(COORD, f"/intake {intake.number}")
    [line] = coord.sent_to(GROUP, mark, "sendMessage")
    assert "Open @baanwijzer_bot en druk op Start" in line.params["text"]
    assert intake.number not in line.params["text"]
    assert [e for e in (await coord.intake(intake.number)).history if e.action == "bekeken"] == []


async def test_private_intake_view_shows_everything_and_is_audited(coord: Coord) -> None:
    intake = await coord.add_intake()
    mark = coord.mark()
    await coord.say(COORD, f"/intake {intake.number}", chat_id=COORD)
    [view] = coord.sent_to(COORD, mark, "sendMessage")
    shown = visible_text(view.params["text"])
    assert all(label in shown for label in sensitive(coord, intake))
    assert all(text in shown for text in answer_displays(coord, intake))
    assert "Alleen voor jou. Stuur dit niet door." in shown
    assert coord.sent_to(GROUP, mark) == []  # asked in private: no line in the group
    [entry] = [e for e in (await coord.intake(intake.number)).history if e.action == "bekeken"]
    assert entry.by == f"{COORD_NAME} [{COORD}]"
    assert (entry.detail, entry.messages) == ("privé", [MessageRef(COORD, view.result.message_id)])


async def test_note_by_reply_to_the_prompt_in_the_private_chat(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    card_before = coord.message(GROUP, card_id)["text"]
    mark = coord.mark()
    await coord.press(
        COORD, CardCb(action=CardAction.NOTE, number=intake.number).pack(), message_id=card_id
    )
    assert coord.alerts(mark) == [
        "Typ je notitie in je privégesprek met de bot, als antwoord op mijn bericht daar."
    ]
    await coord.deliver()
    assert coord.sent_to(GROUP, mark) == []  # the prompt is not in the group
    [prompt] = coord.sent_to(COORD, mark, "sendMessage")
    assert f"Typ je notitie bij {intake.number}" in visible_text(prompt.params["text"])
    mark = coord.mark()
    await coord.say(
        COORD, "Belt liever na 14 uur", chat_id=COORD, reply_to=prompt.result.message_id
    )
    await coord.deliver()
    stored = await coord.intake(intake.number)
    assert [(n.by, n.text) for n in stored.notes] == [(COORD_NAME, "Belt liever na 14 uur")]
    assert [r.name for r in coord.since(mark)] == ["setMessageReaction"]  # a 👍, nothing more
    assert coord.message(GROUP, card_id)["text"] == card_before  # notes are not on the card
    # The note prompt and the note never reached the person; /intake in private shows it.
    assert coord.sent_to(PERSON) == []
    mark = coord.mark()
    await coord.say(COORD, f"/intake {intake.number}", chat_id=COORD)
    [view] = coord.sent_to(COORD, mark, "sendMessage")
    assert f"📝 {COORD_NAME}, " in view.params["text"]
    assert "Belt liever na 14 uur" in view.params["text"]


async def test_a_note_prompt_left_in_the_group_still_takes_a_note(coord: Coord) -> None:
    # Prompts were posted under the card before notes moved to the private chat: a reply to
    # one of those is still a note, not a message to the person.
    from bot import handoff

    intake = await coord.add_intake()
    await coord.deliver()
    await handoff.queue_under_card(
        coord.h.services,
        intake,
        f"📝 notitie bij {intake.number}",
        purpose=handoff.Purpose.NOTE_PROMPT,
    )
    mark = coord.mark()
    await coord.deliver()
    [prompt] = coord.sent_to(GROUP, mark, "sendMessage")
    await coord.say(COORD, "Oude notitie", reply_to=prompt.result.message_id)
    assert [n.text for n in (await coord.intake(intake.number)).notes] == ["Oude notitie"]
    await coord.deliver()
    assert coord.sent_to(PERSON) == []


async def test_pagination_ten_per_page_without_names_in_the_group(coord: Coord) -> None:
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
    assert "kandidaat · nieuw" in page1
    assert "Persoon" not in page1
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
    assert "Persoon" not in page2 + page3
    assert "Volgende ▶️" not in coord.card_buttons(list_id)
    # Nothing personal was shown, so nothing is audited.
    assert not [e for e in (await coord.intake(numbers[0])).history if "lijst" in e.action]

    mark = coord.mark()
    await coord.say(COORD, "/intakes werkgever")
    assert "Niets gevonden" in coord.sent_to(GROUP, mark, "sendMessage")[0].params["text"]
    await coord.say(COORD, "/intakes onzin")
    assert "Onbekend filter: onzin" in coord.sent_to(GROUP, mark, "sendMessage")[1].params["text"]

    # In the private chat the names are shown, and each listed intake audited.
    mark = coord.mark()
    await coord.say(COORD, "/intakes", chat_id=COORD)
    [private] = coord.sent_to(COORD, mark, "sendMessage")
    assert "Persoon 22" in private.params["text"]
    [entry] = [e for e in (await coord.intake(numbers[-1])).history if "lijst" in e.action]
    assert (entry.by, entry.action, entry.detail) == (
        f"{COORD_NAME} [{COORD}]",
        "bekeken-in-lijst",
        "privé",
    )


async def test_a_filter_on_target_group_only_in_the_private_chat(coord: Coord) -> None:
    intake = await coord.add_intake(queue=False)
    mark = coord.mark()
    await coord.say(COORD, "/intakes wajong")
    [line] = coord.sent_to(GROUP, mark, "sendMessage")
    assert intake.number not in line.params["text"]
    assert "alleen in je privégesprek" in line.params["text"]
    assert "wajong" not in line.params["text"]
    # A page button with that filter, forged in the group, shows nothing either.
    from bot.coordinator.keyboards import ListCb

    mark = coord.mark()
    await coord.press(
        COORD, ListCb(filter_token="wajong", page=0).pack(), message_id=line.result.message_id
    )
    assert [r.name for r in coord.since(mark)] == ["answerCallbackQuery"]

    await coord.say(COORD, "/intakes wajong", chat_id=COORD)
    [private] = coord.sent_to(COORD, mark, "sendMessage")
    assert intake.number in private.params["text"]


async def test_search_by_name_only_in_the_private_chat(coord: Coord) -> None:
    fatima = await coord.add_intake(user_id=3001, name="Fatima el Amrani", queue=False)
    jan = await coord.add_intake(user_id=3002, name="Jan Jansen", queue=False)
    mark = coord.mark()
    await coord.say(COORD, "/zoek amrani", chat_id=COORD)
    text = coord.sent_to(COORD, mark, "sendMessage")[0].params["text"]
    assert "Fatima el Amrani" in text
    assert "Jan Jansen" not in text
    [hit] = [e for e in (await coord.intake(fatima.number)).history if e.action.startswith("gev")]
    assert (hit.by, hit.action) == (f"{COORD_NAME} [{COORD}]", "gevonden-bij-zoeken")
    assert not [e for e in (await coord.intake(jan.number)).history if e.action.startswith("gev")]

    mark = coord.mark()
    await coord.say(COORD, "/zoek amrani")
    [line] = coord.sent_to(GROUP, mark, "sendMessage")
    assert "Fatima" not in line.params["text"]
    assert "amrani" not in line.params["text"]
    assert "Zoeken op naam kan alleen in je privégesprek" in line.params["text"]
    assert coord.sent_to(COORD, mark) == []
    assert len([e for e in (await coord.intake(fatima.number)).history if "gev" in e.action]) == 1


async def test_names_and_notes_with_markup_characters_are_escaped(coord: Coord) -> None:
    name = "<b>Jan & Piet</b> <script>"
    intake = await coord.add_intake(name=name)
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    assert "Jan" not in coord.message(GROUP, card_id)["text"]

    mark = coord.mark()
    await coord.press(
        COORD, CardCb(action=CardAction.NOTE, number=intake.number).pack(), message_id=card_id
    )
    [prompt] = coord.sent_to(COORD, mark, "sendMessage")
    await coord.say(COORD, "a < b && c > d </b>", chat_id=COORD, reply_to=prompt.result.message_id)
    mark = coord.mark()
    await coord.press(
        COORD, CardCb(action=CardAction.DETAILS, number=intake.number).pack(), message_id=card_id
    )
    [view] = coord.sent_to(COORD, mark, "sendMessage")
    text = view.params["text"]
    assert "<b>Naam:</b> &lt;b&gt;Jan &amp; Piet&lt;/b&gt; &lt;script&gt;" in text
    assert "<script>" not in text
    assert ": a &lt; b &amp;&amp; c &gt; d &lt;/b&gt;" in text
    assert visible_text(text).count("a < b && c > d </b>") == 1


async def test_long_notes_keep_the_private_view_within_telegram_limits(coord: Coord) -> None:
    intake = await coord.add_intake()
    for i in range(12):
        await coord.h.stores.intakes.update(intake.number, "x", "notitie", note=_note(i))
    mark = coord.mark()
    await coord.say(COORD, f"/intake {intake.number}", chat_id=COORD)
    [view] = coord.sent_to(COORD, mark, "sendMessage")
    assert len(view.params["text"]) <= 4096
    assert "nog 2 eerder" in visible_text(view.params["text"])


def _note(i: int) -> Note:
    return Note(at="2026-11-29T09:00:00+00:00", by="X", text=f"{i} " + "<&>" * 2000)


async def test_employer_card_and_english_person(coord: Coord) -> None:
    intake = await coord.add_intake(kind=IntakeKind.EMPLOYER, user_id=4001, language="en")
    await coord.deliver()
    card = visible_text(coord.message(GROUP, await coord.card_id(intake.number))["text"])
    assert card.startswith(f"🆕 {intake.number} · werkgever · nieuw")
    for needle in personal_strings(coord, intake):
        assert needle not in card, needle  # not even the organisation or the tasks
    mark = coord.mark()
    await coord.press(
        COORD,
        CardCb(action=CardAction.CLAIM, number=intake.number).pack(),
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
    assert coord.sent_to(COORD, mark) == []


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
    await coord.press(
        COORD, CardCb(action=CardAction.CLAIM, number=intake.number).pack(), message_id=card_id
    )
    await coord.deliver()
    mark = coord.mark()
    await coord.press(
        COORD, CardCb(action=CardAction.DETAILS, number=intake.number).pack(), message_id=card_id
    )
    [view] = coord.sent_to(COORD, mark, "sendMessage")
    erasure = await erase_person(coord.h.services, PERSON, coord.h.stores.conversations)
    # The private view held the person's data: the erasure finds it to delete it.
    assert (COORD, view.result.message_id) in {
        (m.chat_id, m.message_id) for m in erasure.group_messages
    }
    await coord.deliver()
    card = coord.message(GROUP, card_id)
    assert "gewist" in card["text"]
    assert "Zoë" not in card["text"]
    assert "reply_markup" not in card  # no buttons on a tombstone
    mark = coord.mark()
    await coord.press(
        COORD, CardCb(action=CardAction.DETAILS, number=intake.number).pack(), message_id=card_id
    )
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
    [relayed] = coord.sent_to(COORD, mark, "sendMessage")  # nobody claimed it: who wrote
    assert "Maandag" in relayed.params["text"]
    assert all("Maandag" not in text for text in group_texts(coord, mark))
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
    assert coord.sent_to(COORD, mark) == []
    assert coord.sent_to(PERSON, mark, "sendMessage")  # the usual welcome instead


async def test_coordinator_texts_in_english_when_that_is_the_default(tmp_path: Path) -> None:
    coord = await make_coord(tmp_path, DEFAULT_LANGUAGE="en")
    intake = await coord.add_intake(kind=IntakeKind.EMPLOYER)
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    assert "employer" in coord.message(GROUP, card_id)["text"]
    assert "🙋 I'll take it" in coord.card_buttons(card_id)
    assert "press Details" in coord.message(GROUP, card_id)["text"]
    mark = coord.mark()
    for command in (f"/intake {intake.number}", "/intakes", "/stats", "/wachtrij", "/zoek Bram"):
        await coord.say(COORD, command)
    await coord.say(COORD, "/zoek Bram", chat_id=COORD)
    for data in (CardAction.CLAIM, CardAction.NOTE, CardAction.DETAILS):
        await coord.press(
            COORD, CardCb(action=data, number=intake.number).pack(), message_id=card_id
        )
    await coord.deliver()
    group = coord.texts_to(GROUP, mark)
    private = coord.texts_to(COORD, mark)
    assert f"🔒 The details of {intake.number} are in your private chat with the bot." in group
    assert any("Figures" in t for t in group)
    assert any(t.startswith("Search by name works only in your private chat") for t in group)
    assert any("For you only. Do not forward this." in t for t in private)
    assert any("Search result" in t for t in private)
    assert any(f"Type the note for {intake.number}" in t for t in private)
    assert coord.alerts(mark) == [
        f"You picked up {intake.number}.",
        "Type your note in your private chat with the bot, as a reply to my message there.",
        "The details are in your private chat with the bot.",
    ]
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
    claim = CardCb(action=CardAction.CLAIM, number=intake.number).pack()
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
    unknown_here = coord.h.services.renderer.render("nl", "private_only", username="")
    assert unknown_here.split(".")[0] not in help_text  # not what everybody else gets
    assert "privégesprek" in help_text  # where the details go

    mark = coord.mark()
    await coord.say(STRANGER, "/help", first_name="Eve")
    answers = [r.params["text"] for r in coord.sent_to(GROUP, mark, "sendMessage")]
    assert answers
    assert all("coördinatoren" not in text for text in answers)


async def test_card_route_reasons_do_not_reveal_sensitive_answers(coord: Coord) -> None:
    # "Veel hulp" is the answer to a sensitive question (guidance): the card in the group must
    # not spell it out as the reason for the collective route.
    intake = await coord.add_intake(answers={"guidance": "veel", "work_setting": "alleen"})
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    card = visible_text(coord.message(GROUP, card_id)["text"], "HTML")
    assert intake.routes
    assert all(code in card for code in intake.routes)  # the routes are on the card
    assert "veel hulp" not in card.casefold()
    # No reason at all is on the card (issues 12 and 13); they are in the private details.
    reasons = [
        reason["nl"] for finding in intake.outcome["routes"] for reason in finding["reasons"]
    ]
    assert reasons
    assert all(reason not in card for reason in reasons)
    mark = coord.mark()
    await coord.press(
        COORD, CardCb(action=CardAction.DETAILS, number=intake.number).pack(), message_id=card_id
    )
    [details] = coord.sent_to(COORD, mark, "sendMessage")
    assert all(reason in visible_text(details.params["text"]) for reason in reasons)


async def test_after_a_photo_the_persons_text_still_reaches_the_coordinator(coord: Coord) -> None:
    # A person a coordinator wrote to sends a photo (which the bot cannot read), then types an
    # answer: that text is for the coordinator and must be relayed, not read as a role choice.
    intake = await coord.add_intake()
    await coord.deliver()
    await coord.say(COORD, f"/antwoord {intake.number} Wanneer kun je langskomen?")
    await coord.deliver()
    person = coord.h.driver(PERSON)
    await person.feed(photo_update(user_id=PERSON))
    mark = coord.mark()
    await coord.say(PERSON, "Maandag kan ik", chat_id=PERSON)
    await coord.deliver()
    [relayed] = coord.sent_to(COORD, mark, "sendMessage")  # who wrote to the person
    assert "Maandag kan ik" in relayed.params["text"]


async def test_a_coordinators_photo_reply_to_a_card_is_told_only_text_is_passed_on(
    coord: Coord,
) -> None:
    # Replying to the card passes a text on to the person. A photo or file cannot be: the
    # coordinator was told "Ik werk alleen in een privégesprek. Open @... en typ /start".
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    sizes = [{"file_id": "P1", "file_unique_id": "UP1", "width": 90, "height": 90}]
    photo = message_json(
        user_id=COORD,
        chat_id=GROUP,
        chat_type="supergroup",
        message_id=coord.session.state.next_message_id(GROUP),
        photo=sizes,
        caption="Hier is de folder",
        reply_to_message=coord.message(GROUP, card_id),
    )
    mark = coord.mark()
    await coord.h.dp.feed_update(coord.h.bot, update_of("message", photo))
    await coord.deliver()
    [answer] = coord.sent_to(GROUP, mark, "sendMessage")
    assert "privégesprek" not in answer.params["text"]
    assert "alleen tekst" in answer.params["text"]
    assert coord.sent_to(PERSON, mark) == []


async def test_a_long_reply_with_quotes_still_reaches_the_coordinators(coord: Coord) -> None:
    # The relay cut the person's text at 3000 characters before escaping; apostrophes and
    # quotes grow fivefold when escaped, the message went over Telegram's limit, and the cut
    # that keeps it valid dropped the whole text: the coordinators read only the header.
    intake = await coord.add_intake()
    await coord.deliver()
    await coord.say(COORD, f"/antwoord {intake.number} Hoe gaat het?")
    await coord.deliver()
    mark = coord.mark()
    await coord.say(PERSON, "Hallo, " + "'" * 1200 + " doei", chat_id=PERSON)
    await coord.deliver()
    [relayed] = coord.sent_to(COORD, mark, "sendMessage")
    assert len(relayed.params["text"]) <= 4096
    assert "Hallo, " in visible_text(relayed.params["text"], "HTML")

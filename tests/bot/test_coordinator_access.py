"""Who may use the coordinators' side (issue 13): COORDINATOR_IDS is the authority, in the group
and in a private chat; COORDINATOR_ACCESS=group opts in to membership. Every command and every
card button, for a listed coordinator, a group member who is not on the list, and a stranger.
And where a person's messages go when the coordinator who should read them cannot."""

from __future__ import annotations

import json
from pathlib import Path

from bot.coordinator.keyboards import CardAction, CardCb, ListCb
from flows.records import Intake, Status
from tests.bot.coordinator_harness import (
    COORD,
    COORD2,
    COORD_NAME,
    GROUP,
    MEMBER,
    PERSON,
    STRANGER,
    Coord,
    group_texts,
    make_coord,
    personal_strings,
)
from tests.support.bot_api_state import visible_text

NOT_FOR_YOU = (
    "Dit is alleen voor coördinatoren. Hoor je erbij? "
    "Vraag de beheerder van de bot om je toe te voegen."
)
BUTTON_NOT_FOR_YOU = "Deze knop is alleen voor coördinatoren."


def commands(number: str) -> list[str]:
    return [
        "/intakes",
        "/intakes wajong",
        f"/intake {number}",
        "/zoek Zoë",
        f"/antwoord {number} hoi",
        "/export",
        "/stats",
        "/wachtrij",
    ]


def buttons(number: str) -> list[str]:
    return [
        CardCb(action=CardAction.CLAIM, number=number).pack(),
        CardCb(action=CardAction.STATUS, number=number, status=Status.AFGESLOTEN).pack(),
        CardCb(action=CardAction.NOTE, number=number).pack(),
        CardCb(action=CardAction.DETAILS, number=number).pack(),
    ]


async def _setup(coord: Coord) -> tuple[Intake, int, int]:
    """An intake with its card, and a list message with page buttons in the group."""
    intake = await coord.add_intake(name="Zoë Geheim")
    for i in range(11):  # a second page, so the list has a page button
        await coord.add_intake(user_id=7000 + i, queue=False)
    await coord.deliver()
    mark = coord.mark()
    await coord.say(COORD, "/intakes")
    [listing] = coord.sent_to(GROUP, mark, "sendMessage")
    return intake, await coord.card_id(intake.number), listing.result.message_id


def unknown(coord: Coord) -> str:
    return coord.h.services.renderer.render("nl", "unknown_command")


async def _refused_everywhere(coord: Coord, user_id: int, name: str) -> None:
    intake, card_id, list_id = await _setup(coord)
    number = intake.number
    before = await coord.intake(number)
    mark = coord.mark()

    # In the group: one kind line per command, and nothing else.
    for command in commands(number):
        await coord.say(user_id, command, first_name=name)
    answers = coord.sent_to(GROUP, mark)
    assert [r.name for r in answers] == ["sendMessage"] * len(commands(number))
    assert {r.params["text"] for r in answers} == {NOT_FOR_YOU}

    # In a private chat: what any unknown command gets (never silence).
    private_mark = coord.mark()
    for command in commands(number):
        await coord.say(user_id, command, chat_id=user_id, first_name=name)
    private = coord.sent_to(user_id, private_mark)
    assert [r.name for r in private] == ["sendMessage"] * len(commands(number))
    assert {r.params["text"] for r in private} == {unknown(coord)}

    # Every card button and the page button: a kind toast, nothing changes.
    button_mark = coord.mark()
    for data in buttons(number):
        await coord.press(user_id, data, message_id=card_id, first_name=name)
    await coord.press(
        user_id, ListCb(filter_token="", page=1).pack(), message_id=list_id, first_name=name
    )
    assert coord.alerts(button_mark) == [BUTTON_NOT_FOR_YOU] * (len(buttons(number)) + 1)
    await coord.deliver()

    for request in coord.since(mark):
        blob = json.dumps(request.params, ensure_ascii=False)
        assert number not in blob, request.name
        assert "Zoë" not in blob, request.name
        assert not request.files
        assert request.name != "getChatMember"  # the list decides, not Telegram
    assert await coord.intake(number) == before  # not claimed, moved, noted or audited
    assert coord.sent_to(PERSON, mark) == []
    assert await coord.h.deliveries() == []


async def test_a_group_member_who_is_not_on_the_list_can_do_nothing(coord: Coord) -> None:
    await _refused_everywhere(coord, MEMBER, "Mo")


async def test_a_stranger_can_do_nothing(coord: Coord) -> None:
    await _refused_everywhere(coord, STRANGER, "Eve")


async def test_a_listed_coordinator_can_do_everything_in_the_group_and_in_private(
    coord: Coord,
) -> None:
    # COORD is not a member of the group as far as getChatMember goes ("left"): the list is
    # what counts.
    intake, card_id, list_id = await _setup(coord)
    number = intake.number
    mark = coord.mark()
    for command in commands(number):
        await coord.say(COORD, command)
        await coord.say(COORD, command, chat_id=COORD)
    await coord.press(COORD, ListCb(filter_token="", page=1).pack(), message_id=list_id)
    for data in buttons(number):
        await coord.press(COORD, data, message_id=card_id)
    await coord.deliver()

    assert NOT_FOR_YOU not in {r.params.get("text") for r in coord.since(mark)}
    assert unknown(coord) not in {r.params.get("text") for r in coord.since(mark)}
    assert coord.alerts(mark) == [
        "",  # the page
        f"Je hebt {number} opgepakt.",
        f"{number} is nu: afgesloten.",
        "Typ je notitie in je privégesprek met de bot, als antwoord op mijn bericht daar.",
        "De details staan in je privégesprek met de bot.",
    ]
    assert [r for r in coord.since(mark) if r.name == "getChatMember"] == []
    stored = await coord.intake(number)
    assert (stored.status, stored.assignee_id) == (Status.AFGESLOTEN, COORD)
    # The personal parts went to the private chat only.
    private = coord.texts_to(COORD, mark)
    assert any("Zoë Geheim" in t and "Doelgroep" in t for t in private)  # /intake, details
    assert any("Zoë Geheim" in t and "Zoekresultaat" in t for t in private)  # /zoek
    assert len(coord.sent_to(COORD, mark, "sendDocument")) == 4  # /export, twice
    assert coord.sent_to(GROUP, mark, "sendDocument") == []
    for text in group_texts(coord, mark):
        if text.startswith("📊"):
            continue  # /stats: counts per target group, small ones hidden, about nobody
        for needle in personal_strings(coord, intake):
            assert needle not in text, (needle, text)
    # Each access to personal data is in the intake's audit trail, with the coordinator's id.
    actions = [e.action for e in stored.history if e.by == f"{COORD_NAME} [{COORD}]"]
    for action in ("bekeken", "details-bekeken", "gevonden-bij-zoeken", "export",
                   "bericht-aan-persoon", "opgepakt", "status"):  # fmt: skip
        assert action in actions, action
    assert actions.count("bekeken") == 2  # /intake in the group and in private
    assert actions.count("export") == 2


async def test_membership_counts_only_when_opted_in(tmp_path: Path) -> None:
    coord = await make_coord(tmp_path, COORDINATOR_ACCESS="group")
    try:
        intake = await coord.add_intake()
        await coord.deliver()
        card_id = await coord.card_id(intake.number)
        mark = coord.mark()
        await coord.say(MEMBER, "/wachtrij", first_name="Mo")
        await coord.say(MEMBER, "/intakes", first_name="Mo")
        await coord.press(
            MEMBER,
            CardCb(action=CardAction.CLAIM, number=intake.number).pack(),
            message_id=card_id,
            first_name="Mo",
        )
        texts = [r.params["text"] for r in coord.sent_to(GROUP, mark, "sendMessage")]
        assert len(texts) == 2
        assert NOT_FOR_YOU not in texts
        assert coord.alerts(mark) == [f"Je hebt {intake.number} opgepakt."]
        # One getChatMember for Mo, cached after that.
        assert len([r for r in coord.since(mark) if r.name == "getChatMember"]) == 1

        mark = coord.mark()
        await coord.say(STRANGER, "/intakes", first_name="Eve")
        [refused] = coord.sent_to(GROUP, mark, "sendMessage")
        assert refused.params["text"] == NOT_FOR_YOU
    finally:
        await coord.h.close()


async def test_a_command_in_another_group_is_an_unknown_command(coord: Coord) -> None:
    intake = await coord.add_intake()
    other = -100999
    mark = coord.mark()
    for user in (COORD, STRANGER):
        await coord.say(user, f"/intake {intake.number}", chat_id=other)
    assert [r.params["text"] for r in coord.sent_to(other, mark)] == [unknown(coord)] * 2
    assert coord.sent_to(COORD, mark) == []


async def test_a_persons_message_that_cannot_reach_the_coordinator_is_announced_and_kept(
    coord: Coord,
) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    await coord.press(
        COORD, CardCb(action=CardAction.CLAIM, number=intake.number).pack(), message_id=card_id
    )
    await coord.say(COORD, f"/antwoord {intake.number} Wanneer kun je?")
    await coord.deliver()
    coord.session.state.block(COORD)  # Cora never pressed Start in a private chat
    mark = coord.mark()
    await coord.say(PERSON, "Dinsdag na twee uur", chat_id=PERSON)
    await coord.deliver()
    texts = [visible_text(r.params["text"]) for r in coord.sent_to(GROUP, mark, "sendMessage")]
    assert texts == [
        f"💬 {intake.number}: de persoon heeft een bericht gestuurd. "
        f"Het staat in het privégesprek van {COORD_NAME} met de bot.",
        f"⚠️ {intake.number}: een bericht van de persoon kon niet naar het privégesprek van "
        f"{COORD_NAME}. Open @baanwijzer_bot en druk op Start. "
        f"Typ daar /intake {intake.number}: daar staat het bericht.",
    ]
    # After Start, /intake in the private chat shows the message.
    coord.session.state.blocked_chats.clear()
    mark = coord.mark()
    await coord.say(COORD, f"/intake {intake.number}", chat_id=COORD)
    [view] = coord.sent_to(COORD, mark, "sendMessage")
    assert "Dinsdag na twee uur" in visible_text(view.params["text"])


async def test_a_coordinator_taken_off_the_list_gets_no_messages_of_the_person(
    tmp_path: Path,
) -> None:
    coord = await make_coord(tmp_path)
    try:
        intake = await coord.add_intake()
        await coord.deliver()
        card_id = await coord.card_id(intake.number)
        await coord.press(
            COORD, CardCb(action=CardAction.CLAIM, number=intake.number).pack(), message_id=card_id
        )
        await coord.say(COORD, f"/antwoord {intake.number} Hallo")
        await coord.deliver()
        coord.h.services.settings.COORDINATOR_IDS = frozenset({COORD2})
        mark = coord.mark()
        await coord.say(PERSON, "Ik heb een vraag", chat_id=PERSON)
        await coord.deliver()
        assert coord.sent_to(COORD, mark) == []
        [notice] = coord.sent_to(GROUP, mark, "sendMessage")
        assert "Ik heb een vraag" not in notice.params["text"]
        assert f"Typ /intake {intake.number} in je privégesprek" in notice.params["text"]
        # A listed coordinator reads it there.
        mark = coord.mark()
        await coord.say(COORD2, f"/intake {intake.number}", chat_id=COORD2, first_name="Dirk")
        [view] = coord.sent_to(COORD2, mark, "sendMessage")
        assert "Ik heb een vraag" in visible_text(view.params["text"])
    finally:
        await coord.h.close()

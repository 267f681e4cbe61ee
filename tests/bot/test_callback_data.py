"""Buttons already sent keep working: the callback-data fields got names that say what they are
(`action`, `number`, `status`...), but aiogram packs only the values after the prefix, so the
strings on the buttons are the same as before the rename."""

from __future__ import annotations

import pytest
from aiogram.filters.callback_data import CallbackData

from bot.coordinator.keyboards import CardAction, CardCb, ListCb
from bot.handlers.privacy import RightsAction, RightsCb
from bot.keyboards import (
    AfterAction,
    AfterCb,
    AnswerCb,
    ContactCb,
    NavAction,
    NavCb,
    StopCb,
    SummaryAction,
    SummaryCb,
    ToggleCb,
)
from flows.records import Status
from tests.bot.coordinator_harness import COORD, GROUP, Coord
from tests.support.bot_api_state import visible_text

# Strings as the buttons carried them before the fields were renamed, and what they mean now.
PACKED_BEFORE = [
    ("kc:claim:K-2026-0001:", CardCb(action=CardAction.CLAIM, number="K-2026-0001")),
    (
        "kc:status:K-2026-0001:contact-gehad",
        CardCb(action=CardAction.STATUS, number="K-2026-0001", status=Status.CONTACT_GEHAD),
    ),
    ("kc:details:W-2026-0012:", CardCb(action=CardAction.DETAILS, number="W-2026-0012")),
    ("kl:wajong:2", ListCb(filter_token="wajong", page=2)),
    ("kl::0", ListCb(filter_token="", page=0)),
    ("a:c:3:1", AnswerCb(flow="c", question=3, option=1)),
    ("m:e:5:0", ToggleCb(flow="e", question=5, option=0)),
    ("n:back:c:4", NavCb(action=NavAction.BACK, flow="c", question=4)),
    ("s:pick:c:7", SummaryCb(action=SummaryAction.PICK, flow="c", question=7)),
    ("s:ok:e:-1", SummaryCb(action=SummaryAction.OK, flow="e")),
    ("h:1", ContactCb(yes=True)),
    ("x:0", StopCb(confirm=False)),
    ("pv:erase:1", RightsCb(action=RightsAction.ERASE, confirm=True)),
    ("pv:withdraw:0", RightsCb(action=RightsAction.WITHDRAW, confirm=False)),
    ("z:delete", AfterCb(action=AfterAction.DELETE)),
]


@pytest.mark.parametrize(("packed", "meaning"), PACKED_BEFORE, ids=[p for p, _ in PACKED_BEFORE])
def test_a_button_packed_before_the_rename_unpacks_to_the_same_meaning(
    packed: str, meaning: CallbackData
) -> None:
    assert type(meaning).unpack(packed) == meaning
    assert meaning.pack() == packed


async def test_a_card_button_sent_before_the_rename_still_claims_and_moves(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    number = intake.number
    # The card's buttons carry the very strings they carried before the rename.
    assert coord.card_buttons(card_id) == {
        "🙋 Ik pak dit op": f"kc:claim:{number}:",
        "🔒 Details": f"kc:details:{number}:",
        "📁 Afsluiten": f"kc:status:{number}:afgesloten",
        "📝 Notitie": f"kc:note:{number}:",
    }

    mark = coord.mark()
    await coord.press(COORD, f"kc:claim:{number}:", message_id=card_id)
    await coord.deliver()
    assert coord.alerts(mark) == [f"Je hebt {number} opgepakt."]
    assert (await coord.intake(number)).status is Status.OPGEPAKT
    card = visible_text(coord.message(GROUP, card_id)["text"])
    assert card.startswith(f"🙋 {number} · kandidaat · opgepakt")

    mark = coord.mark()
    await coord.press(COORD, f"kc:status:{number}:contact-gehad", message_id=card_id)
    await coord.deliver()
    assert coord.alerts(mark) == [f"{number} is nu: contact gehad."]
    assert (await coord.intake(number)).status is Status.CONTACT_GEHAD
    card = visible_text(coord.message(GROUP, card_id)["text"])
    assert card.startswith(f"📞 {number} · kandidaat · contact gehad")


async def test_a_button_the_bot_never_made_is_answered_and_changes_nothing(coord: Coord) -> None:
    intake = await coord.add_intake()
    await coord.deliver()
    card_id = await coord.card_id(intake.number)
    for forged in (
        f"kc:status:{intake.number}:geplaatst-ish",
        f"kc:delete:{intake.number}:",
        "kl:wajong:page-two",
    ):
        mark = coord.mark()
        await coord.press(COORD, forged, message_id=card_id)
        assert len(coord.alerts(mark)) == 1, forged  # answered once: no spinner left running
    stored = await coord.intake(intake.number)
    assert stored.status is Status.NIEUW
    assert stored.assignee_id is None

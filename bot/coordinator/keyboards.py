"""Callback data and keyboards of the coordinator card and lists, built directly (no builder)."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import codes, label
from flows.model import Language
from flows.records import Status


class CardAction(StrEnum):
    CLAIM = "claim"
    STATUS = "status"
    NOTE = "note"
    DETAILS = "details"


# aiogram packs only the values after the prefix ("kc:claim:K-2026-0001:"), so the field names
# cost nothing in Telegram's 64 bytes. The prefixes, the order of the fields and the action and
# status values are what buttons already sent rely on: keep them.


class CardCb(CallbackData, prefix="kc"):
    """A button on a card; `status` is the status to move to, for the status action only."""

    action: CardAction
    number: str
    status: Status | None = None


class ListCb(CallbackData, prefix="kl"):
    """A page of /intakes with a filter ("" for all)."""

    filter_token: str
    page: int


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def card_keyboard(
    number: str, status: Status, lang: Language, *, has_details: bool
) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    first: list[InlineKeyboardButton] = []
    if not status.is_closed:
        first.append(
            _button(label(lang, "coord_claim"), CardCb(action=CardAction.CLAIM, number=number))
        )
    if has_details:
        first.append(
            _button(label(lang, "coord_details"), CardCb(action=CardAction.DETAILS, number=number))
        )
    if first:
        rows.append(first)
    moves = [
        _button(
            codes(lang).status[s].button,
            CardCb(action=CardAction.STATUS, number=number, status=s),
        )
        for s in status.next_statuses
    ]
    if moves:
        rows.append(moves)
    if status is not Status.INGETROKKEN:
        rows.append(
            [_button(label(lang, "coord_note"), CardCb(action=CardAction.NOTE, number=number))]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def page_keyboard(
    filter_token: str, page: int, pages: int, lang: Language
) -> InlineKeyboardMarkup | None:
    if pages <= 1:
        return None
    row: list[InlineKeyboardButton] = []
    if page > 0:
        row.append(
            _button(label(lang, "coord_prev"), ListCb(filter_token=filter_token, page=page - 1))
        )
    row.append(_button(f"{page + 1}/{pages}", ListCb(filter_token=filter_token, page=page)))
    if page + 1 < pages:
        row.append(
            _button(label(lang, "coord_next"), ListCb(filter_token=filter_token, page=page + 1))
        )
    return InlineKeyboardMarkup(inline_keyboard=[row])

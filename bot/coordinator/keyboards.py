"""Callback data and keyboards of the coordinator card and lists, built directly (no builder)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import label
from flows.model import Language
from flows.records import Status


class CardCb(CallbackData, prefix="kc"):
    """A button on a card: `a` is claim, status, note or details; `s` the new status."""

    a: str
    n: str
    s: str = ""


class ListCb(CallbackData, prefix="kl"):
    """Page `p` of /intakes with filter `f` ("" for all)."""

    f: str
    p: int


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def card_keyboard(
    number: str, status: Status, lang: Language, *, has_details: bool
) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    first: list[InlineKeyboardButton] = []
    if not status.is_closed:
        first.append(_button(label(lang, "coord_claim"), CardCb(a="claim", n=number)))
    if has_details:
        first.append(_button(label(lang, "coord_details"), CardCb(a="details", n=number)))
    if first:
        rows.append(first)
    moves = [
        _button(label(lang, f"coord_to_{s.value}"), CardCb(a="status", n=number, s=s.value))
        for s in status.next_statuses
    ]
    if moves:
        rows.append(moves)
    if status is not Status.INGETROKKEN:
        rows.append([_button(label(lang, "coord_note"), CardCb(a="note", n=number))])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def page_keyboard(
    filter_token: str, page: int, pages: int, lang: Language
) -> InlineKeyboardMarkup | None:
    if pages <= 1:
        return None
    row: list[InlineKeyboardButton] = []
    if page > 0:
        row.append(_button(label(lang, "coord_prev"), ListCb(f=filter_token, p=page - 1)))
    row.append(_button(f"{page + 1}/{pages}", ListCb(f=filter_token, p=page)))
    if page + 1 < pages:
        row.append(_button(label(lang, "coord_next"), ListCb(f=filter_token, p=page + 1)))
    return InlineKeyboardMarkup(inline_keyboard=[row])

"""Callback data factories and inline keyboards.

Keyboards are built directly as `InlineKeyboardMarkup` and cached: `InlineKeyboardBuilder`
deep-copies its buttons on every `as_markup()` (docs/telegram-limits.md). Callback data carries
the flow and the question's index, so a button from an old message or another flow is recognised
as stale instead of being taken as an answer to the question now on screen.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import label
from flows.engine import Engine
from flows.model import Kind, Language, Question

FLOW_CODES = {"candidate": "c", "employer": "e"}


class NavAction(StrEnum):
    BACK = "back"
    WHY = "why"
    DONE = "done"
    SKIP = "skip"
    HUMAN = "human"


class SummaryAction(StrEnum):
    OK = "ok"
    EDIT = "edit"
    PICK = "pick"
    CANCEL = "cancel"
    BACK = "back"


class AfterAction(StrEnum):
    DELETE = "delete"
    KEEP = "keep"


# aiogram packs only the values, in field order, after the prefix ("a:c:3:1"): the field names
# cost nothing in Telegram's 64 bytes, while a renamed prefix, a reordered field or a changed
# action value would break every button already sent. So keep those as they are.


class AnswerCb(CallbackData, prefix="a"):
    """A single-choice or yes/no answer: an option of a question of a flow."""

    flow: str
    question: int
    option: int


class ToggleCb(CallbackData, prefix="m"):
    """Tick or untick an option of a multiple-choice question."""

    flow: str
    question: int
    option: int


class NavCb(CallbackData, prefix="n"):
    """Navigation on a question: done (multi), back, why, skip, human."""

    action: NavAction
    flow: str
    question: int


class SummaryCb(CallbackData, prefix="s"):
    """On the summary: ok, edit (show the list), pick (change a question), cancel."""

    action: SummaryAction
    flow: str
    question: int = -1


class RoleCb(CallbackData, prefix="r"):
    role: str


class LangCb(CallbackData, prefix="l"):
    lang: str


class StopCb(CallbackData, prefix="x"):
    confirm: bool


class ContactCb(CallbackData, prefix="h"):
    """The answer to "may a coordinator contact you?" (/mens during an intake)."""

    yes: bool


class AfterCb(CallbackData, prefix="z"):
    """After the intake: delete the chat's messages, or keep them."""

    action: AfterAction


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _nav_row(
    question: Question, flow_code: str, index: int, lang: Language
) -> list[InlineKeyboardButton]:
    row = [
        _button(label(lang, "back"), NavCb(action=NavAction.BACK, flow=flow_code, question=index))
    ]
    if question.help is not None:
        row.append(
            _button(label(lang, "why"), NavCb(action=NavAction.WHY, flow=flow_code, question=index))
        )
    row.append(
        _button(label(lang, "human"), NavCb(action=NavAction.HUMAN, flow=flow_code, question=index))
    )
    return row


class Keyboards:
    """All keyboards of the bot; the static ones are built once, choices are cached."""

    def __init__(self, engines: dict[str, Engine]) -> None:
        self.engines = engines
        self._roles = {lang: self._build_roles(lang) for lang in ("nl", "en")}
        self._stop = {lang: self._build_stop(lang) for lang in ("nl", "en")}
        self._contact = {lang: self._build_contact(lang) for lang in ("nl", "en")}
        self._summary = {
            (flow, lang): self._build_summary(flow, lang)
            for flow in engines
            for lang in ("nl", "en")
        }
        self._languages = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    _button("Nederlands", LangCb(lang="nl")),
                    _button("English", LangCb(lang="en")),
                ]
            ]
        )
        self._after = {lang: self._build_after(lang) for lang in ("nl", "en")}

    def roles(self, lang: Language) -> InlineKeyboardMarkup:
        return self._roles[lang]

    def stop_confirm(self, lang: Language) -> InlineKeyboardMarkup:
        return self._stop[lang]

    def contact_offer(self, lang: Language) -> InlineKeyboardMarkup:
        return self._contact[lang]

    def languages(self) -> InlineKeyboardMarkup:
        return self._languages

    def summary(self, flow: str, lang: Language) -> InlineKeyboardMarkup:
        return self._summary[(flow, lang)]

    def after(self, lang: Language) -> InlineKeyboardMarkup:
        return self._after[lang]

    @lru_cache(maxsize=4096)  # noqa: B019 - one Keyboards lives as long as the process
    def question(
        self, flow: str, index: int, lang: Language, selected: frozenset[str] = frozenset()
    ) -> InlineKeyboardMarkup:
        question = self.engines[flow].flow.questions[index]
        code = FLOW_CODES[flow]
        rows: list[list[InlineKeyboardButton]] = []
        for i, option in enumerate(question.options):
            text = f"{i + 1}. {option.label.get(lang)}"
            if question.kind == Kind.MULTI:
                mark = "☑️" if option.code in selected else "⬜️"
                rows.append(
                    [_button(f"{mark} {text}", ToggleCb(flow=code, question=index, option=i))]
                )
            else:
                rows.append([_button(text, AnswerCb(flow=code, question=index, option=i))])
        if question.kind == Kind.MULTI:
            rows.append(
                [
                    _button(
                        label(lang, "done"), NavCb(action=NavAction.DONE, flow=code, question=index)
                    )
                ]
            )
        if question.optional:
            rows.append(
                [
                    _button(
                        label(lang, "skip"), NavCb(action=NavAction.SKIP, flow=code, question=index)
                    )
                ]
            )
        rows.append(_nav_row(question, code, index, lang))
        return InlineKeyboardMarkup(inline_keyboard=rows)

    def edit_choices(
        self, flow: str, lang: Language, editable: list[tuple[int, str]]
    ) -> InlineKeyboardMarkup:
        code = FLOW_CODES[flow]
        rows = [
            [_button(text, SummaryCb(action=SummaryAction.PICK, flow=code, question=index))]
            for index, text in editable
        ]
        rows.append(
            [_button(label(lang, "cancel_edit"), SummaryCb(action=SummaryAction.CANCEL, flow=code))]
        )
        return InlineKeyboardMarkup(inline_keyboard=rows)

    @staticmethod
    def _build_roles(lang: Language) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [_button(label(lang, "role_candidate"), RoleCb(role="candidate"))],
                [_button(label(lang, "role_employer"), RoleCb(role="employer"))],
                [_button(label(lang, "role_helper"), RoleCb(role="helper"))],
                [
                    _button(
                        label(lang, "other_language"), LangCb(lang="en" if lang == "nl" else "nl")
                    )
                ],
            ]
        )

    @staticmethod
    def _build_contact(lang: Language) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [_button(label(lang, "contact_yes"), ContactCb(yes=True))],
                [_button(label(lang, "contact_no"), ContactCb(yes=False))],
            ]
        )

    @staticmethod
    def _build_stop(lang: Language) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [_button(label(lang, "stop_yes"), StopCb(confirm=True))],
                [_button(label(lang, "stop_no"), StopCb(confirm=False))],
            ]
        )

    @staticmethod
    def _build_summary(flow: str, lang: Language) -> InlineKeyboardMarkup:
        code = FLOW_CODES[flow]
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [_button(label(lang, "summary_ok"), SummaryCb(action=SummaryAction.OK, flow=code))],
                [
                    _button(
                        label(lang, "summary_edit"), SummaryCb(action=SummaryAction.EDIT, flow=code)
                    )
                ],
                [_button(label(lang, "back"), SummaryCb(action=SummaryAction.BACK, flow=code))],
            ]
        )

    @staticmethod
    def _build_after(lang: Language) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [_button(label(lang, "delete_chat"), AfterCb(action=AfterAction.DELETE))],
                [_button(label(lang, "keep_chat"), AfterCb(action=AfterAction.KEEP))],
            ]
        )

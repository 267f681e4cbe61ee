"""Data rights in the private chat: /mijngegevens, /verwijder, /intrekken, and "delete the chat".

Thin handlers: the rules live in `bot/privacy.py`. Erasing and withdrawing ask for a confirm by
button first. After an erasure nothing about the person is written again, not even the chat
record: the handler calls `chat.forget()`, and the confirmation is sent from memory only.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import DeleteMessages
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import privacy as rights
from bot.chat import DELETE_BATCH, Chat, ChatOutbox
from bot.chat_state import ScreenKind, fsm_state
from bot.filters import PrivateChat
from bot.handlers.intake import fold_words, names_button, stale
from bot.handlers.registry import Handlers
from bot.i18n import label
from bot.keyboards import AfterCb
from bot.logging_setup import pseudonym
from bot.screens import show_current
from bot.services import Services
from flows.model import Language
from flows.records import Intake, utc_iso

log = logging.getLogger(__name__)
handlers = Handlers(__name__, message=(PrivateChat(),), callback_query=(PrivateChat(),))


class RightsAction(StrEnum):
    ERASE = "erase"
    WITHDRAW = "withdraw"


class RightsCb(CallbackData, prefix="pv"):
    """Confirm or cancel an erasure or a withdrawal. Packed as before the fields had names
    ("pv:erase:1"), so buttons already sent keep working."""

    action: RightsAction
    confirm: bool


def _confirm_keyboard(lang: Language, action: RightsAction) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=label(lang, f"{action}_yes"),
                    callback_data=RightsCb(action=action, confirm=True).pack(),
                )
            ],
            [
                InlineKeyboardButton(
                    text=label(lang, f"{action}_no"),
                    callback_data=RightsCb(action=action, confirm=False).pack(),
                )
            ],
        ]
    )


# -- /mijngegevens -----------------------------------------------------------------------------


def _summary_lines(services: Services, intake: Intake, lang: Language) -> list[dict[str, str]]:
    engine = services.engines.get(str(intake.kind))
    lines: list[dict[str, str]] = []
    for qid, value in intake.answers.items():
        if engine is not None and engine.flow.has_question(qid):
            question = engine.flow.question(qid)
            if question.consent is not None:
                continue  # listed with the consent records below the answers
            # A helper sent it: the questions as the helper read them, about "de persoon".
            helper = intake.filled_in_by is not None
            text = question.text_for(helper).get(lang).split("\n")[0]
            lines.append({"question": text, "answer": engine.display(question, value, lang)})
        else:
            lines.append({"question": qid, "answer": str(value)})
    return lines


def _export_context(
    services: Services, data: dict[str, Any], intakes: list[Intake], lang: Language
) -> dict[str, Any]:
    return {
        "intakes": [
            {
                "number": i.number,
                "kind": str(i.kind),
                "status": str(i.status),
                "created_at": i.created_at,
                "name": i.name,
                "lines": _summary_lines(services, i, lang),
                "consents": [
                    {"scope": c.scope, "given": c.given, "at": c.at, "version": c.version}
                    for c in i.consents
                ],
            }
            for i in intakes
        ],
        "conversation": data["conversation"] is not None,
        "pending": len(data["pending_messages"]),
        "retention_days": services.settings.RETENTION_DAYS,
    }


@handlers.message(Command("mijngegevens", "mydata"))
async def cmd_my_data(message: Message, chat: Chat) -> None:
    services = chat.services
    record = chat.record
    conversation = (
        {"state": fsm_state(record), "data": record.to_dict()} if chat.was_stored else None
    )
    # The chat record alone (language, message ids to delete) is no conversation in progress.
    in_progress = conversation if record.flow is not None else None
    data = await rights.export_data(services, chat.user_id, conversation)
    record.track(message.message_id)
    if rights.is_empty(data):
        chat.say(chat.render("rights_export_empty"))
    else:
        intakes = [Intake.from_dict(d) for d in data["intakes"]]
        name = f"baanwijzer-gegevens-{data['made_at'][:10]}.json"
        chat.send_document(rights.export_bytes(data).decode("utf-8"), name)
        context = _export_context(
            services, {**data, "conversation": in_progress}, intakes, record.lang
        )
        chat.say(chat.render("rights_export", **context))
    if record.flow is not None:
        show_current(chat)


# -- /verwijder --------------------------------------------------------------------------------


@handlers.message(Command("verwijder", "wis", "delete"))
async def cmd_erase(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    await ask_erase(chat)


async def ask_erase(chat: Chat) -> None:
    chat.retire_screen()
    numbers = [i.number for i in await chat.services.intakes.for_user(chat.user_id)]
    text = chat.render("rights_erase_confirm", numbers=numbers, busy=chat.record.flow is not None)
    chat.say(text, _confirm_keyboard(chat.lang, RightsAction.ERASE), screen=ScreenKind.ERASE)


async def _erase(chat: Chat, outbox: ChatOutbox) -> None:
    services = chat.services
    user_id = chat.user_id
    lang = chat.lang
    # Intakes to tombstones, deliveries and conversations gone (this chat's record among them).
    erasure = await rights.erase_person(services, user_id, outbox.storage)
    # From here on nothing about this person is written back, not even this chat's record.
    chat.forget()
    by_chat: dict[int, list[int]] = {}
    for m in erasure.group_messages:
        by_chat.setdefault(m.chat_id, []).append(m.message_id)
    for group, ids in by_chat.items():
        for start in range(0, len(ids), DELETE_BATCH):
            batch = ids[start : start + DELETE_BATCH]
            outbox.sender.send_volatile(DeleteMessages(chat_id=group, message_ids=batch), group)
    removed = len(erasure.group_messages)
    log.info("erasure for %s: %d group messages", pseudonym(user_id), removed)
    text = services.renderer.render(
        lang,
        "rights_erased",
        numbers=erasure.numbers,
        conversation=erasure.conversations > 0,
        deliveries=erasure.deliveries,
        group_messages=removed,
        date=utc_iso(services.clock.now())[:10],
    )
    chat.say_after_forget(text)


# -- /intrekken --------------------------------------------------------------------------------


def _withdrawable_now(chat: Chat) -> bool:
    record = chat.record
    if record.flow is None or record.flow_state is None:
        return False
    engine = chat.services.engines[record.flow]
    return rights.withdraw_in_conversation(engine, record.flow_state) is not None


@handlers.message(Command("intrekken", "withdraw"))
async def cmd_withdraw(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    await ask_withdraw(chat)


async def ask_withdraw(chat: Chat) -> None:
    record = chat.record
    stored = await rights.withdrawable(chat.services, chat.user_id)
    if not stored and not _withdrawable_now(chat):
        chat.say(chat.render("rights_nothing_to_withdraw"))
        if record.flow is not None:
            show_current(chat)
        return
    chat.retire_screen()
    numbers = [i.number for i in stored]
    text = chat.render("rights_withdraw_confirm", numbers=numbers)
    chat.say(
        text, _confirm_keyboard(record.lang, RightsAction.WITHDRAW), screen=ScreenKind.WITHDRAW
    )


async def _withdraw(chat: Chat) -> None:
    services = chat.services
    record = chat.record
    withdrawal = await rights.withdraw_sensitive(services, chat.user_id)
    busy = False
    if record.flow is not None and record.flow_state is not None:
        new = rights.withdraw_in_conversation(services.engines[record.flow], record.flow_state)
        if new is not None:
            busy = True
            record.flow_state, record.selected, record.misses = new, [], 0
            at = utc_iso(services.clock.now())
            given = [c for c in record.consents if c.get("scope") == "sensitive" and c.get("given")]
            if given:
                record.consents.append({**given[-1], "at": at, "given": False})
    text = chat.render(
        "rights_withdrawn",
        numbers=withdrawal.numbers,
        answers=withdrawal.answers,
        busy=busy,
        date=utc_iso(services.clock.now())[:10],
    )
    chat.say(text)
    if record.flow is not None and record.flow_state is not None:
        # The question on screen may have been a sensitive one: show where the person is now.
        show_current(chat)


@handlers.callback_query(RightsCb.filter())
async def cb_rights(
    callback: CallbackQuery, callback_data: RightsCb, chat: Chat, chat_outbox: ChatOutbox
) -> None:
    if isinstance(callback.message, Message):
        chat.drop_keyboard(callback.message.message_id)
    await _rights_answer(chat, chat_outbox, callback_data.action, callback_data.confirm)


async def _rights_answer(chat: Chat, outbox: ChatOutbox, action: str, confirm: int) -> None:
    if action == "erase" and confirm:
        await _erase(chat, outbox)
    elif action == "withdraw" and confirm:
        await _withdraw(chat)
    else:
        chat.say(chat.render("rights_cancelled"))
        if chat.record.flow is not None:
            show_current(chat)


class RightsQuestionOnScreen(Filter):
    """A typed text while "Alles wissen?" or "Toestemming intrekken?" is the screen."""

    async def __call__(self, message: Message, chat: Chat | None = None) -> bool:
        if message.text is None or message.text.startswith("/") or chat is None:
            return False
        return chat.record.screen_is(ScreenKind.ERASE, ScreenKind.WITHDRAW)


@handlers.message(RightsQuestionOnScreen())
async def typed_rights(message: Message, chat: Chat, chat_outbox: ChatOutbox) -> None:
    """The confirm buttons typed: "ja" / "nee" (or a label); they must not answer the intake's
    question underneath (a "ja" there could be taken as consent)."""
    chat.record.track(message.message_id)
    words = fold_words(message.text or "")
    action = "erase" if chat.record.screen_is(ScreenKind.ERASE) else "withdraw"
    if words in ("ja", "j", "yes", "y", "1") or names_button(words, f"{action}_yes"):
        chat.retire_screen()
        await _rights_answer(chat, chat_outbox, action, 1)
    elif words in ("nee", "n", "no", "2") or names_button(words, f"{action}_no"):
        chat.retire_screen()
        await _rights_answer(chat, chat_outbox, action, 0)
    elif action == "withdraw":
        await ask_withdraw(chat)
    else:
        await ask_erase(chat)


# -- delete the chat after the intake ----------------------------------------------------------


@handlers.callback_query(AfterCb.filter())
async def cb_after(
    callback: CallbackQuery, callback_data: AfterCb, chat: Chat, callback_answer: CallbackAnswer
) -> None:
    record = chat.record
    on_screen = record.screen_is(ScreenKind.AFTER) and chat.is_screen(callback.message)
    if record.flow is not None or not on_screen:
        # An old offer, pressed during a later intake, must not delete the questions on screen.
        stale(chat, callback_answer)
        return
    if callback_data.action != "delete":
        callback_answer.text = label(record.lang, "chat_kept")
        chat.retire_screen()
        return
    ids = list(record.message_ids)
    if isinstance(callback.message, Message) and callback.message.message_id not in ids:
        ids.append(callback.message.message_id)
    chat.delete_messages(sorted(ids))
    log.info("deleting the chat of %s: %d messages", pseudonym(chat.user_id), len(ids))
    record.message_ids = []
    record.screen = None
    chat.say_when_deleted("rights_chat_deleted")


def build_router() -> Router:
    """A new router for one Dispatcher (see bot.handlers.registry)."""
    return handlers.build()

"""Data rights in the private chat: /mijngegevens, /verwijder, /intrekken, and "delete the chat".

Thin handlers: the rules live in `bot/privacy.py`. Erasing and withdrawing ask for a confirm by
button first. After an erasure nothing about the person is written again, not even the chat
record, so the confirmation message is not tracked.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    User,
)

from bot import chat_state
from bot import privacy as rights
from bot.chat_state import ChatRecord, IntakeStates
from bot.filters import PrivateChat
from bot.handlers.intake import load_record
from bot.handlers.registry import Handlers
from bot.i18n import label
from bot.keyboards import AfterCb
from bot.logging_setup import pseudonym
from bot.screens import remove_keyboard, send, show_current
from bot.services import Services
from flows.engine import Phase
from flows.model import Language
from flows.records import ConsentRecord, Intake, utc_iso
from storage.base import ConversationStore

log = logging.getLogger(__name__)
handlers = Handlers(__name__, message=(PrivateChat(),), callback_query=(PrivateChat(),))

# Telegram's deleteMessages takes at most 100 ids per call.
DELETE_BATCH = 100


class RightsCb(CallbackData, prefix="pv"):
    """Confirm (1) or cancel (0) an erasure ("erase") or a withdrawal ("withdraw")."""

    action: str
    confirm: int


def _confirm_keyboard(lang: Language, action: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=label(lang, f"{action}_yes"),
                    callback_data=RightsCb(action=action, confirm=1).pack(),
                )
            ],
            [
                InlineKeyboardButton(
                    text=label(lang, f"{action}_no"),
                    callback_data=RightsCb(action=action, confirm=0).pack(),
                )
            ],
        ]
    )


async def _record(state: FSMContext, user: User | None, services: Services) -> ChatRecord:
    return await load_record(state, user, services)


async def _drop_keyboard(bot: Bot, chat_id: int, message_id: int | None) -> None:
    if message_id is None:
        return
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
    except TelegramAPIError as exc:
        log.debug("could not take a keyboard off: %s", type(exc).__name__)


# -- /mijngegevens -----------------------------------------------------------------------------


def _summary_lines(services: Services, intake: Intake, lang: Language) -> list[dict[str, str]]:
    engine = services.engines.get(str(intake.kind))
    lines: list[dict[str, str]] = []
    for qid, value in intake.answers.items():
        if engine is not None and engine.flow.has_question(qid):
            question = engine.flow.question(qid)
            if question.consent is not None:
                continue  # listed with the consent records below the answers
            text = question.text.get(lang).split("\n")[0]
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
async def cmd_my_data(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    user = message.from_user
    assert user is not None
    record = await _record(state, user, services)
    stored_state, stored_data = await state.get_state(), await state.get_data()
    conversation = (
        {"state": stored_state, "data": stored_data} if (stored_state or stored_data) else None
    )
    # The chat record alone (language, message ids to delete) is no conversation in progress.
    in_progress = conversation if record.flow is not None else None
    data = await rights.export_data(services, user.id, conversation)
    record.track(message.message_id)
    if rights.is_empty(data):
        await send(
            bot,
            message.chat.id,
            record,
            services.renderer.render(record.lang, "rights_export_empty"),
        )
    else:
        intakes = [Intake.from_dict(d) for d in data["intakes"]]
        name = f"baanwijzer-gegevens-{data['made_at'][:10]}.json"
        document = await bot.send_document(
            chat_id=message.chat.id,
            document=BufferedInputFile(rights.export_bytes(data), filename=name),
        )
        record.track(document.message_id)
        context = _export_context(
            services, {**data, "conversation": in_progress}, intakes, record.lang
        )
        await send(
            bot,
            message.chat.id,
            record,
            services.renderer.render(record.lang, "rights_export", **context),
        )
    if record.flow is not None:
        await show_current(bot, message.chat.id, services, record, state)
    await chat_state.save(state, record)


# -- /verwijder --------------------------------------------------------------------------------


@handlers.message(Command("verwijder", "wis", "delete"))
async def cmd_erase(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    user = message.from_user
    assert user is not None
    record = await _record(state, user, services)
    record.track(message.message_id)
    await remove_keyboard(bot, message.chat.id, record)
    numbers = [i.number for i in await services.intakes.for_user(user.id)]
    text = services.renderer.render(
        record.lang, "rights_erase_confirm", numbers=numbers, busy=record.flow is not None
    )
    markup = _confirm_keyboard(record.lang, "erase")
    record.rights_screen = await send(bot, message.chat.id, record, text, markup, screen=True)
    record.rights_action = "erase"
    await chat_state.save(state, record)


async def _forget_conversations(state: FSMContext, user_id: int) -> int:
    storage = state.storage
    if isinstance(storage, ConversationStore):
        return await storage.delete_user(user_id)
    had = bool(await state.get_data() or await state.get_state())
    await state.clear()
    return int(had)


async def _delete_group_messages(bot: Bot, messages: list[rights.GroupMessage]) -> int:
    deleted = 0
    by_chat: dict[int, list[int]] = {}
    for m in messages:
        by_chat.setdefault(m.chat_id, []).append(m.message_id)
    for chat_id, ids in by_chat.items():
        deleted += len(ids) - await _delete_batches(bot, chat_id, ids)
    return deleted


async def _delete_batches(bot: Bot, chat_id: int, message_ids: list[int]) -> int:
    """Delete messages in batches of 100; returns how many could not be deleted."""
    failed = 0
    for start in range(0, len(message_ids), DELETE_BATCH):
        batch = message_ids[start : start + DELETE_BATCH]
        try:
            await bot.delete_messages(chat_id=chat_id, message_ids=batch)
        except TelegramAPIError as exc:
            # Older than 48 hours, already gone, or no right to: the rest still goes.
            log.info("could not delete %d messages: %s", len(batch), type(exc).__name__)
            failed += len(batch)
    return failed


async def _erase(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, lang: Language, user_id: int
) -> None:
    erasure = await rights.erase_person(services, user_id)
    conversations = await _forget_conversations(state, user_id)
    removed = await _delete_group_messages(bot, erasure.group_messages)
    log.info(
        "erasure for %s: %d conversations, %d group messages",
        pseudonym(user_id),
        conversations,
        removed,
    )
    text = services.renderer.render(
        lang,
        "rights_erased",
        numbers=erasure.numbers,
        conversation=conversations > 0,
        deliveries=erasure.deliveries,
        group_messages=removed,
        date=utc_iso(services.clock.now())[:10],
    )
    # Not tracked and not saved: after an erasure nothing about this person is written again.
    await bot.send_message(chat_id=chat_id, text=text)


# -- /intrekken --------------------------------------------------------------------------------


def _conversation_consents(record: ChatRecord) -> list[ConsentRecord]:
    return [ConsentRecord(**c) for c in record.consents]


def _withdrawable_now(services: Services, record: ChatRecord) -> bool:
    if record.flow is None or record.flow_state is None:
        return False
    return (
        rights.withdraw_in_conversation(services.engines[record.flow], record.flow_state)
        is not None
    )


@handlers.message(Command("intrekken", "withdraw"))
async def cmd_withdraw(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    user = message.from_user
    assert user is not None
    record = await _record(state, user, services)
    record.track(message.message_id)
    stored = await rights.withdrawable(services, user.id)
    if not stored and not _withdrawable_now(services, record):
        await send(
            bot,
            message.chat.id,
            record,
            services.renderer.render(record.lang, "rights_nothing_to_withdraw"),
        )
        if record.flow is not None:
            await show_current(bot, message.chat.id, services, record, state)
    else:
        await remove_keyboard(bot, message.chat.id, record)
        numbers = [i.number for i in stored]
        text = services.renderer.render(record.lang, "rights_withdraw_confirm", numbers=numbers)
        markup = _confirm_keyboard(record.lang, "withdraw")
        record.rights_screen = await send(bot, message.chat.id, record, text, markup, screen=True)
        record.rights_action = "withdraw"
    await chat_state.save(state, record)


async def _withdraw(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord, user_id: int
) -> None:
    withdrawal = await rights.withdraw_sensitive(services, user_id)
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
    text = services.renderer.render(
        record.lang,
        "rights_withdrawn",
        numbers=withdrawal.numbers,
        answers=withdrawal.answers,
        busy=busy,
        date=utc_iso(services.clock.now())[:10],
    )
    await send(bot, chat_id, record, text)
    if record.flow is not None and record.flow_state is not None:
        # The question on screen may have been a sensitive one: show where the person is now.
        phase = record.flow_state.phase
        await state.set_state(
            IntakeStates.summary if phase == Phase.SUMMARY else IntakeStates.asking
        )
        await show_current(bot, chat_id, services, record, state)


@handlers.callback_query(RightsCb.filter())
async def cb_rights(
    callback: CallbackQuery,
    callback_data: RightsCb,
    state: FSMContext,
    services: Services,
    bot: Bot,
) -> None:
    await callback.answer()
    user = callback.from_user
    chat_id = user.id
    record = await _record(state, user, services)
    on_screen = (
        callback.message is not None and callback.message.message_id == record.screen_message_id
    )
    if callback.message is not None:
        await _drop_keyboard(bot, chat_id, callback.message.message_id)
    if on_screen:
        record.screen_message_id = None
    await _rights_answer(
        bot, chat_id, services, state, record, user.id, callback_data.action, callback_data.confirm
    )


async def _rights_answer(
    bot: Bot,
    chat_id: int,
    services: Services,
    state: FSMContext,
    record: ChatRecord,
    user_id: int,
    action: str,
    confirm: int,
) -> None:
    if action == "erase" and confirm:
        await _erase(bot, chat_id, services, state, record.lang, user_id)
        return
    if action == "withdraw" and confirm:
        await _withdraw(bot, chat_id, services, state, record, user_id)
    else:
        await send(bot, chat_id, record, services.renderer.render(record.lang, "rights_cancelled"))
        if record.flow is not None:
            await show_current(bot, chat_id, services, record, state)
    await chat_state.save(state, record)


def _fold(text: str) -> str:
    return " ".join("".join(c for c in text.casefold() if c.isalnum() or c.isspace()).split())


class RightsQuestionOnScreen(Filter):
    """A typed text while "Alles wissen?" or "Toestemming intrekken?" is the screen."""

    async def __call__(
        self, message: Message, state: FSMContext, services: Services
    ) -> bool | dict[str, Any]:
        if message.text is None or message.text.startswith("/"):
            return False
        # Every typed answer passes here first: decide on the two stored fields, and build the
        # whole record only when the confirmation is the screen.
        if not chat_state.rights_screen_showing(await state.get_data()):
            return False
        record = await _record(state, message.from_user, services)
        return {"record": record}


@handlers.message(RightsQuestionOnScreen())
async def typed_rights(
    message: Message, record: ChatRecord, state: FSMContext, services: Services, bot: Bot
) -> None:
    """The confirm buttons typed: "ja" / "nee" (or a label); they must not answer the intake's
    question underneath (a "ja" there could be taken as consent)."""
    user = message.from_user
    assert user is not None
    record.track(message.message_id)
    words = _fold(message.text or "")
    action = record.rights_action or ""

    def names(key: str) -> bool:
        return any(words == _fold(label(lang, f"{action}_{key}")) for lang in ("nl", "en"))

    if words in ("ja", "j", "yes", "y", "1") or names("yes"):
        await _drop_keyboard(bot, message.chat.id, record.screen_message_id)
        record.screen_message_id = None
        await _rights_answer(bot, message.chat.id, services, state, record, user.id, action, 1)
    elif words in ("nee", "n", "no", "2") or names("no"):
        await _drop_keyboard(bot, message.chat.id, record.screen_message_id)
        record.screen_message_id = None
        await _rights_answer(bot, message.chat.id, services, state, record, user.id, action, 0)
    else:
        await chat_state.save(state, record)
        if action == "withdraw":
            await cmd_withdraw(message, state, services, bot)
        else:
            await cmd_erase(message, state, services, bot)


# -- delete the chat after the intake ----------------------------------------------------------


@handlers.callback_query(AfterCb.filter())
async def cb_after(
    callback: CallbackQuery, callback_data: AfterCb, state: FSMContext, services: Services, bot: Bot
) -> None:
    user = callback.from_user
    chat_id = user.id
    record = await _record(state, user, services)
    on_screen = (
        callback.message is not None and callback.message.message_id == record.screen_message_id
    )
    if record.flow is not None or not on_screen:
        # An old offer, pressed during a later intake, must not delete the questions on screen.
        await callback.answer()
        stale = services.renderer.render(
            record.lang, "stale", busy=record.flow is not None, flow=record.flow
        )
        await send(bot, chat_id, record, stale)
        if record.flow is not None:
            await show_current(bot, chat_id, services, record, state)
        await chat_state.save(state, record)
        return
    if callback_data.action != "delete":
        await callback.answer(label(record.lang, "chat_kept"))
        if callback.message is not None:
            await _drop_keyboard(bot, chat_id, callback.message.message_id)
        if record.screen_message_id == (callback.message.message_id if callback.message else None):
            record.screen_message_id = None
        await chat_state.save(state, record)
        return
    await callback.answer()
    ids = list(record.message_ids)
    if callback.message is not None and callback.message.message_id not in ids:
        ids.append(callback.message.message_id)
    failed = await _delete_batches(bot, chat_id, sorted(ids))
    log.info("deleted the chat of %s: %d messages, %d failed", pseudonym(user.id), len(ids), failed)
    record.message_ids = []
    record.screen_message_id = None
    await bot.send_message(
        chat_id=chat_id,
        text=services.renderer.render(record.lang, "rights_chat_deleted", failed=failed),
    )
    await chat_state.save(state, record)


def build_router() -> Router:
    """A new router for one Dispatcher (see bot.handlers.registry)."""
    return handlers.build()

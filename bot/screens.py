"""Render and send the screens of the intake: question, summary, welcome, outcome.

Handlers decide what to show; this module turns engine values into template context and keeps
the chat readable: when a new screen is sent, the previous one loses its keyboard.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardMarkup

from bot.chat_state import ChatRecord, IntakeStates
from bot.services import Services
from flows.engine import Phase, Step
from flows.model import Kind, Language

log = logging.getLogger(__name__)

# Bump when the privacy notice or the consent wording changes; the intake stores which version
# (and a hash of the exact text) was agreed to.
CONSENT_VERSION = "2026-11.2"


async def remove_keyboard(
    bot: Bot, chat_id: int, record: ChatRecord, new_text: str | None = None
) -> None:
    """Take the keyboard off the current screen, optionally showing the chosen answer."""
    message_id = record.screen_message_id
    if message_id is None:
        return
    record.screen_message_id = None
    try:
        if new_text is not None:
            await bot.edit_message_text(text=new_text, chat_id=chat_id, message_id=message_id)
        else:
            await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
    except TelegramAPIError as exc:
        # An old message may be gone or unchanged: that costs the person nothing.
        log.debug("could not update an old screen: %s", type(exc).__name__)


async def send(
    bot: Bot,
    chat_id: int,
    record: ChatRecord,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    screen: bool = False,
) -> int:
    message = await bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
    record.track(message.message_id)
    if screen:
        record.screen_message_id = message.message_id
    return message.message_id


def question_context(
    services: Services, record: ChatRecord, step: Step, lang: Language
) -> dict[str, Any]:
    q = step.question
    engine = services.engines[record.flow or ""]
    previous = engine.display(q, step.previous, lang) if step.previous is not None else None
    return {
        "number": step.number,
        "total": step.total,
        "text": q.text.get(lang),
        "kind": str(q.kind),
        "has_options": q.kind.has_options,
        "option_count": len(q.options),
        "previous": previous,
        "editing": step.editing,
        "max_length": q.validation.max_length,
        "optional": q.optional,
        # Employers are addressed with "u", candidates with "je" (flows/data/*.yaml).
        "flow": record.flow,
    }


async def show_current(
    bot: Bot, chat_id: int, services: Services, record: ChatRecord, state: FSMContext
) -> None:
    """Show where the person is now: the current question, the summary, or the start.

    During an intake the FSM state is set to match the screen, so that what the person types
    next is read as an answer to what they see (a typed "klopt" on a summary shown again from
    the edit list). Without an intake the state is left alone: a text may then be a reply for
    a coordinator (the relay in handlers/coordinator.py runs only when no state is set).
    """
    if record.flow is None or record.flow_state is None:
        await show_welcome(bot, chat_id, services, record)
        return
    if record.flow_state.phase == Phase.SUMMARY:
        await state.set_state(IntakeStates.summary)
        await show_summary(bot, chat_id, services, record)
        return
    await state.set_state(IntakeStates.asking)
    await show_question(bot, chat_id, services, record)


async def show_question(bot: Bot, chat_id: int, services: Services, record: ChatRecord) -> None:
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    step = engine.step(record.flow_state)
    if step is None:
        await show_summary(bot, chat_id, services, record)
        return
    lang = record.lang
    await remove_keyboard(bot, chat_id, record)
    q = step.question
    if q.kind == Kind.MULTI and not record.selected and isinstance(step.previous, list):
        record.selected = list(step.previous)
    if q.id not in record.seen:
        record.seen.append(q.id)
        await services.funnel.count(f"{record.flow}:shown:{q.id}")
    context = question_context(services, record, step, lang)
    # Without a previous answer on it the screen is the same for everyone at this point.
    render = (
        services.renderer.render if step.previous is not None else services.renderer.render_shared
    )
    text = render(lang, "question", **context)
    index = engine.flow.position(q.id)
    markup = services.keyboards.question(record.flow, index, lang, frozenset(record.selected))
    await send(bot, chat_id, record, text, markup, screen=True)


def privacy_context(services: Services, flow: str | None = None) -> dict[str, Any]:
    s = services.settings
    return {
        "retention_days": s.RETENTION_DAYS,
        "conversation_days": s.CONVERSATION_RETENTION_DAYS,
        "contact_nl": s.SERVICE_CONTACT,
        "contact_en": s.SERVICE_CONTACT_EN,
        "version": CONSENT_VERSION,
        # The notice says what is asked, which differs between candidates and employers.
        "flow": flow or "candidate",
    }


def consent_hash(
    services: Services, lang: Language, extra: str = "", flow: str | None = None
) -> str:
    """A hash of the exact consent text shown, so the record proves what was agreed to."""
    notice = services.renderer.render(lang, "privacy", **privacy_context(services, flow))
    return hashlib.sha256((notice + "\n" + extra).encode("utf-8")).hexdigest()[:16]


async def show_summary(bot: Bot, chat_id: int, services: Services, record: ChatRecord) -> None:
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    lang = record.lang
    await remove_keyboard(bot, chat_id, record)
    lines = [
        {"question": line.question.label(lang), "answer": line.answer}
        for line in engine.summary(record.flow_state, lang)
        # The general consent is a given once here; the sensitive one shows, it can be changed.
        if line.question.consent != "general"
    ]
    text = services.renderer.render(lang, "summary", lines=lines, flow=record.flow)
    await send(
        bot, chat_id, record, text, services.keyboards.summary(record.flow, lang), screen=True
    )


async def show_welcome(bot: Bot, chat_id: int, services: Services, record: ChatRecord) -> None:
    await remove_keyboard(bot, chat_id, record)
    text = services.renderer.render(record.lang, "welcome")
    await send(bot, chat_id, record, text, services.keyboards.roles(record.lang), screen=True)
    record.welcome_screen = record.screen_message_id


def welcome_on_screen(record: ChatRecord) -> bool:
    """The role buttons are the screen: no intake runs and the welcome was the last screen."""
    return (
        record.flow is None
        and record.welcome_screen is not None
        and record.welcome_screen == record.screen_message_id
    )


def answered_text(services: Services, record: ChatRecord, step: Step, answer: str) -> str:
    """The old question message as it reads after answering: the question and the answer."""
    context = question_context(services, record, step, record.lang)
    # An option's label is the same for everyone; typed text (a name) is not kept.
    renderer = services.renderer
    render = (
        renderer.render_shared
        if step.question.kind.has_options and step.previous is None
        else renderer.render
    )
    return render(record.lang, "answered", answer=answer, **context)

"""Render and queue the screens of the intake: question, summary, welcome.

Handlers decide what to show; this module turns engine values into template context and keeps
the chat readable: when a new screen is queued, the previous one loses its keyboard.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.chat import Chat
from bot.chat_state import ChatRecord, ScreenKind
from bot.i18n import label
from bot.services import Services
from flows.engine import Phase, Step
from flows.model import Kind, Language

# Bump when the privacy notice or the consent wording changes; the intake stores which version
# (and a hash of the exact text) was agreed to.
CONSENT_VERSION = "2026-11.2"


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


def show_current(chat: Chat) -> None:
    """Show where the person is now: the current question, the summary, or the start."""
    record = chat.record
    if record.submitting is not None:
        # "Klopt" was pressed and the intake is being stored: its number comes next.
        chat.say(label(record.lang, "being_sent"))
    elif record.flow is None or record.flow_state is None:
        show_welcome(chat, idle=not chat.record.screen_is(ScreenKind.WELCOME))
    elif record.flow_state.phase == Phase.SUMMARY:
        show_summary(chat)
    else:
        show_question(chat)


def show_question(chat: Chat) -> None:
    record = chat.record
    services = chat.services
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    step = engine.step(record.flow_state)
    if step is None:
        show_summary(chat)
        return
    lang = record.lang
    chat.retire_screen()
    q = step.question
    if q.kind == Kind.MULTI and not record.selected and isinstance(step.previous, list):
        record.selected = list(step.previous)
    if q.id not in record.seen:
        record.seen.append(q.id)
        chat.count(f"{record.flow}:shown:{q.id}")
    text = question_text(services, record, step)
    index = engine.flow.position(q.id)
    markup = services.keyboards.question(record.flow, index, lang, frozenset(record.selected))
    chat.say(text, markup, screen=ScreenKind.QUESTION)


def question_text(services: Services, record: ChatRecord, step: Step) -> str:
    context = question_context(services, record, step, record.lang)
    # Without a previous answer on it the screen is the same for everyone at this point.
    render = (
        services.renderer.render if step.previous is not None else services.renderer.render_shared
    )
    return render(record.lang, "question", **context)


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


def show_summary(chat: Chat) -> None:
    record = chat.record
    services = chat.services
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    lang = record.lang
    chat.retire_screen()
    lines = [
        {"question": line.question.label(lang), "answer": line.answer}
        for line in engine.summary(record.flow_state, lang)
        # The general consent is a given once here; the sensitive one shows, it can be changed.
        if line.question.consent != "general"
    ]
    text = services.renderer.render(lang, "summary", lines=lines, flow=record.flow)
    chat.say(text, services.keyboards.summary(record.flow, lang), screen=ScreenKind.SUMMARY)


def show_welcome(chat: Chat, *, idle: bool = False) -> None:
    """The role buttons. `idle`: shown without waiting for a role (after a sticker or a stale
    button), so that typed text may still be a reply for a coordinator."""
    chat.retire_screen()
    text = chat.render("welcome")
    kind = ScreenKind.WELCOME_IDLE if idle else ScreenKind.WELCOME
    chat.say(text, chat.services.keyboards.roles(chat.lang), screen=kind)


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

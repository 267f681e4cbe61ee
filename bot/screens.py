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
from flows.model import ConsentScope, Kind, Language, Text, fill
from flows.outcome import Outcome

# Bump when the privacy notice or the consent wording changes; the intake stores which version
# (and a hash of the exact text) was agreed to.
CONSENT_VERSION = "2026-12.1"
# The progress bar under "Vraag 4": this many blocks, filled as the part done grows.
PROGRESS_BLOCKS = 10


def period(days: int, lang: Language) -> str:
    """A number of days as people say it: "1 jaar", "4 weken", "10 dagen"."""
    if days % 365 == 0:
        n, one, many = days // 365, ("jaar", "year"), ("jaar", "years")
    elif days % 7 == 0:
        n, one, many = days // 7, ("week", "week"), ("weken", "weeks")
    else:
        n, one, many = days, ("dag", "day"), ("dagen", "days")
    words = one if n == 1 else many
    return f"{n} {words[0] if lang == 'nl' else words[1]}"


def text_values(services: Services, lang: Language) -> dict[str, str]:
    """What the `{placeholders}` of the flow texts stand for (flows.model.PLACEHOLDERS)."""
    s = services.settings
    return {
        "after_close": period(s.RETENTION_AFTER_CLOSE_DAYS, lang),
        "longest": period(s.RETENTION_DAYS, lang),
    }


def flow_text(services: Services, text: Text, lang: Language) -> str:
    """A text of a flow file in one language, its placeholders filled in from the settings."""
    return fill(text.get(lang), text_values(services, lang))


def progress_bar(progress: float) -> str:
    # A question is on screen, so the bar is never full: the last block fills at the end.
    filled = min(PROGRESS_BLOCKS - 1, max(0, round(progress * PROGRESS_BLOCKS)))
    return "▰" * filled + "▱" * (PROGRESS_BLOCKS - filled)


def question_context(
    services: Services, record: ChatRecord, step: Step, lang: Language
) -> dict[str, Any]:
    q = step.question
    engine = services.engines[record.flow or ""]
    previous = engine.display(q, step.previous, lang) if step.previous is not None else None
    return {
        "number": step.number,
        # The bar only grows going forward, while "of N" could shrink (flows.engine.Step).
        "progress": progress_bar(step.progress),
        # In the third person when a helper fills it in for someone else (`text_helper`).
        "text": flow_text(services, step.text, lang),
        # What the short buttons mean, as a numbered list under the question (a tuple, so
        # that the screen can be kept by `render_shared`).
        "explain": tuple(
            (o.label.get(lang), o.explain.get(lang)) for o in q.options if o.explain is not None
        ),
        "kind": str(q.kind),
        "has_options": q.kind.has_options,
        "option_count": len(q.options),
        "previous": previous,
        "editing": step.editing,
        "max_length": q.validation.max_length,
        "minimum": q.validation.minimum,
        "maximum": q.validation.maximum,
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
        # How long data are kept, as people say it, per language (see `period`).
        "after_close": {lang: period(s.RETENTION_AFTER_CLOSE_DAYS, lang) for lang in ("nl", "en")},
        "longest": {lang: period(s.RETENTION_DAYS, lang) for lang in ("nl", "en")},
        "contact_days": s.CONTACT_WITHIN_WORKING_DAYS,
        "conversation_days": s.CONVERSATION_RETENTION_DAYS,
        "contact_nl": s.SERVICE_CONTACT,
        "contact_en": s.SERVICE_CONTACT_EN,
        "version": CONSENT_VERSION,
        # The notice says what is asked, which differs between candidates and employers.
        "flow": flow or "candidate",
    }


def outcome_extras(record: ChatRecord, outcome: Outcome) -> dict[str, Any]:
    """What the outcome screen shows besides the findings: the next steps (advice) that apply,
    and whether the person agreed to keep their data longer (the retention consent)."""
    return {
        "advice": [a.to_dict() for a in outcome.advice],
        "keep_longer": any(
            c.get("scope") == ConsentScope.RETENTION and c.get("given") for c in record.consents
        ),
    }


def consent_hash(
    services: Services,
    lang: Language,
    extra: str = "",
    flow: str | None = None,
    *,
    helper: bool = False,
) -> str:
    """A hash of the exact consent text shown, so the record proves what was agreed to;
    `helper`: the notice as shown to someone who picked "Ik help iemand" on the welcome."""
    notice = services.renderer.render(
        lang, "privacy", helper=helper, **privacy_context(services, flow)
    )
    return hashlib.sha256((notice + "\n" + extra).encode("utf-8")).hexdigest()[:16]


def show_summary(chat: Chat) -> None:
    record = chat.record
    services = chat.services
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    lang = record.lang
    chat.retire_screen()
    helper = engine.for_someone_else(record.flow_state)
    lines = [
        {"question": line.question.label(lang, helper), "answer": line.answer}
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

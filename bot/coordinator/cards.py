"""What coordinators see of an intake: the card in the group, the details, the full view.

Privacy decision (domain.md section 5): the answers to questions marked `sensitive: true` in the
flow (candidate: register_known, register_basis, guidance, support) never appear in the group.
The card does show what the issue asks of it: the stated target-group codes, the suggested
routes with their reasons (but no reason that repeats a sensitive answer, such as "you need a
lot of help"), and support needs *in short* - only how many points were given, not which.
Contact details (phone, e-mail) are left off the card too. Sensitive answers are shown only in a
private chat with a coordinator: the "details" button, or /intake there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardMarkup

from bot.coordinator.keyboards import card_keyboard
from bot.i18n import label
from bot.services import Services
from flows.engine import Engine
from flows.model import LANGUAGES, Language, Question, condition_leaves
from flows.records import HistoryEntry, Intake, IntakeKind, Status, parse_iso

LOCAL = ZoneInfo("Europe/Amsterdam")
NUMBER = re.compile(r"\b([KW]-\d{4}-\d{3,})\b")
# Free text cut before escaping, so a card stays far below Telegram's 4,096 characters.
MAX_FIELD = 200
MAX_NOTE = 300
NOTES_ON_CARD = 3
HISTORY_SHOWN = 25
STATUS_ICONS = {
    Status.NIEUW: "🆕",
    Status.OPGEPAKT: "🙋",
    Status.CONTACT_GEHAD: "📞",
    Status.GEPLAATST: "✅",
    Status.AFGESLOTEN: "📁",
    Status.INGETROKKEN: "🚫",
}
# Set to False to keep even the target-group codes out of the group (they repeat a register
# answer in code form); the issue asks for them on the card, so they are shown by default.
CARD_SHOWS_TARGET_GROUPS = True


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    value: str
    sensitive: bool = False


def short(text: str, limit: int = MAX_FIELD) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def local_time(stamp: str) -> str:
    if not stamp:
        return "-"
    return parse_iso(stamp).astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def coordinator_lang(services: Services) -> Language:
    return services.settings.DEFAULT_LANGUAGE


def person_lang(services: Services, intake: Intake) -> Language:
    """The language the person chose for the intake."""
    if intake.language in LANGUAGES:
        return intake.language
    return coordinator_lang(services)


def engine_for(services: Services, intake: Intake) -> Engine | None:
    return services.engines.get(str(intake.kind))


def is_erased(intake: Intake) -> bool:
    return intake.user_id == 0 and not intake.answers


def _field_label(lang: Language, question: Question) -> str:
    key = f"field_{question.summary_key or question.id}"
    try:
        return label(lang, key)
    except KeyError:
        return short(question.text.get(lang).split("\n")[0], 60)


def answer_lines(
    services: Services, intake: Intake, *, sensitive: bool, summary_only: bool = False
) -> list[Line]:
    """The answers in flow order. `sensitive=False` leaves the sensitive ones out."""
    engine = engine_for(services, intake)
    if engine is None:
        return []
    lang = coordinator_lang(services)
    lines: list[Line] = []
    for question in engine.flow.questions:
        if question.id not in intake.answers or question.consent is not None:
            continue
        if question.sensitive and not sensitive:
            continue
        if summary_only and question.summary_key is None:
            continue
        if question.id == engine.flow.name_question and summary_only:
            continue
        value = engine.display(question, intake.answers[question.id], lang)
        lines.append(Line(_field_label(lang, question), short(value), question.sensitive))
    return lines


def sensitive_count(services: Services, intake: Intake) -> int:
    """How many points the person gave in the sensitive support questions."""
    engine = engine_for(services, intake)
    if engine is None:
        return 0
    count = 0
    for qid in engine.flow.support_questions:
        if not engine.flow.has_question(qid) or not engine.flow.question(qid).sensitive:
            continue
        value = intake.answers.get(qid)
        if isinstance(value, list):
            count += len(value)
        elif value not in (None, ""):
            count += 1
    return count


def has_details(services: Services, intake: Intake) -> bool:
    engine = engine_for(services, intake)
    if engine is None or is_erased(intake):
        return False
    shown = {q.id for q in engine.flow.questions if q.summary_key and not q.sensitive}
    return any(qid not in shown for qid in intake.answers)


def _sensitive_rules(engine: Engine | None) -> frozenset[str]:
    """Route rules that read a sensitive answer: their reason would repeat it ("you said you
    need a lot of help"), so it stays off the card in the group."""
    if engine is None:
        return frozenset()
    flow = engine.flow
    return frozenset(
        rule.id
        for rule in flow.route_rules
        if any(
            flow.has_question(leaf.question) and flow.question(leaf.question).sensitive
            for leaf in condition_leaves(rule.when)
        )
    )


def _routes(services: Services, intake: Intake, lang: Language) -> list[dict[str, Any]]:
    hidden = _sensitive_rules(engine_for(services, intake))
    routes = []
    for finding in intake.outcome.get("routes", []):
        pairs = zip(finding.get("rules") or [], finding.get("reasons") or [], strict=False)
        shown = [reason for rule, reason in pairs if rule not in hidden]
        reason = str(shown[0].get(lang, "")) if shown else ""
        routes.append(
            {"code": finding.get("code", ""), "forms": finding.get("forms", []), "reason": reason}
        )
    return routes


def _notes(intake: Intake, limit: int) -> list[dict[str, str]]:
    return [
        {"by": short(n.by, 60), "at": local_time(n.at), "text": short(n.text, MAX_NOTE)}
        for n in intake.notes[-limit:]
    ]


def card_context(services: Services, intake: Intake) -> dict[str, Any]:
    lang = coordinator_lang(services)
    return {
        "number": intake.number,
        "kind": str(intake.kind),
        "status": str(intake.status),
        "icon": STATUS_ICONS[intake.status],
        "assignee": short(intake.assignee_name, 60),
        "name": short(intake.name, 80),
        "lines": answer_lines(services, intake, sensitive=False, summary_only=True),
        "show_groups": CARD_SHOWS_TARGET_GROUPS and intake.kind is IntakeKind.CANDIDATE,
        "target_groups": list(intake.target_groups),
        "support_count": sensitive_count(services, intake),
        "routes": _routes(services, intake, lang),
        "received": local_time(intake.created_at),
        "language": intake.language,
        "notes": _notes(intake, NOTES_ON_CARD),
        "more_notes": max(0, len(intake.notes) - NOTES_ON_CARD),
        "erased": is_erased(intake),
    }


def render_card(services: Services, intake: Intake) -> tuple[str, InlineKeyboardMarkup | None]:
    lang = coordinator_lang(services)
    text = services.renderer.render(lang, "card", **card_context(services, intake))
    markup = card_keyboard(
        intake.number, intake.status, lang, has_details=has_details(services, intake)
    )
    return text, markup


def card_payload(services: Services, intake: Intake) -> dict[str, Any]:
    text, markup = render_card(services, intake)
    payload: dict[str, Any] = {"text": text, "parse_mode": "HTML"}
    if markup is not None:
        # Left out when there are no buttons: an edit without a keyboard removes the old one.
        payload["reply_markup"] = markup.model_dump(mode="json", exclude_none=True)
    return payload


def history_lines(history: list[HistoryEntry]) -> list[dict[str, str]]:
    shown = history[-HISTORY_SHOWN:]
    return [
        {
            "at": local_time(h.at),
            "by": short(h.by, 60),
            "action": h.action,
            "detail": short(h.detail, 120),
        }
        for h in shown
    ]


def view_context(services: Services, intake: Intake, *, private: bool) -> dict[str, Any]:
    """The whole intake for /intake: sensitive answers only when `private`."""
    context = card_context(services, intake)
    context.update(
        {
            "answers": answer_lines(services, intake, sensitive=private),
            "private": private,
            "hidden": 0
            if private
            else len(
                [line for line in answer_lines(services, intake, sensitive=True) if line.sensitive]
            ),
            "notes": _notes(intake, 10),
            "more_notes": max(0, len(intake.notes) - 10),
            "history": history_lines(intake.history),
            "older": max(0, len(intake.history) - HISTORY_SHOWN),
            "updated": local_time(intake.updated_at),
        }
    )
    return context


def list_line(intake: Intake) -> dict[str, str]:
    return {
        "number": intake.number,
        "kind": str(intake.kind),
        "status": str(intake.status),
        "icon": STATUS_ICONS[intake.status],
        "name": short(intake.name, 40),
        "assignee": short(intake.assignee_name, 30),
        "received": local_time(intake.created_at)[:10],
    }


def number_in(text: str | None) -> str | None:
    """The first intake number in a text (a card, a relayed message, a command)."""
    if not text:
        return None
    found = NUMBER.search(text)
    return found.group(1) if found else None


def who(user_id: int, full_name: str) -> str:
    """How a coordinator is written in the audit trail: name and id, so two Annas differ."""
    return f"{short(full_name, 60)} [{user_id}]"


def age_text(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} u"


def since(stamp: str, now: datetime) -> float:
    return (now - parse_iso(stamp)).total_seconds()

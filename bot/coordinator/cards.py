"""What coordinators see of an intake: the card in the group, the whole intake in private, lists.

Privacy decision (docs/domain.md section 5, issues 12 and 13): everybody in the coordinators' group
sees the card, and group membership is not audited. So the card carries only what every member may
see: the number, the kind (candidate or employer), the suggested routes (codes), the status and who
picked it up. No name, no answers, no contact details, no target groups (what a person says about
the register reveals a disability), no free text, no notes, no route reasons (a reason repeats an
answer, "you need a lot of help"). Those are shown only in a coordinator's private chat with the
bot: the card's "details" button, or /intake there (`view_context`), and each time that is written
to the intake's audit trail (bot/coordinator/audit.py).
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
from flows.model import LANGUAGES, Language, Question
from flows.records import HistoryAction, HistoryEntry, Intake, parse_iso, short

LOCAL = ZoneInfo("Europe/Amsterdam")
NUMBER = re.compile(r"\b([KW]-\d{4}-\d{3,})\b")
# Free text cut before escaping, so a card stays far below Telegram's 4,096 characters.
MAX_FIELD = 200
MAX_NOTE = 300
HISTORY_SHOWN = 25
NOTES_SHOWN = 10
PERSON_MESSAGES_SHOWN = 3
MAX_PERSON_MESSAGE = 1000


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    value: str
    sensitive: bool = False


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


def answer_lines(services: Services, intake: Intake) -> list[Line]:
    """Every answer in flow order, the sensitive ones marked: for a private chat only."""
    engine = engine_for(services, intake)
    if engine is None:
        return []
    lang = coordinator_lang(services)
    lines: list[Line] = []
    for question in engine.flow.questions:
        if question.id not in intake.answers or question.consent is not None:
            continue
        value = short(engine.display(question, intake.answers[question.id], lang), MAX_FIELD)
        lines.append(Line(_field_label(lang, question), value, question.sensitive))
    return lines


def _routes(intake: Intake, lang: Language) -> list[dict[str, Any]]:
    """The suggested routes with their forms and every reason: for a private chat only."""
    routes = []
    for finding in intake.outcome.get("routes", []):
        reasons = [str(r.get(lang, "")) for r in finding.get("reasons") or [] if r.get(lang)]
        routes.append(
            {"code": finding.get("code", ""), "forms": finding.get("forms", []), "reasons": reasons}
        )
    return routes


def _rule_notes(intake: Intake, lang: Language) -> list[str]:
    """What the routing rules tell the coordinators only (flows/data: `note` on a rule), for
    example that a werkvoorziening counts in the register but not for the banenafspraak."""
    notes: list[str] = []
    for part in ("target_groups", "routes"):
        for finding in intake.outcome.get(part, []):
            for note in finding.get("notes") or []:
                text = str(note.get(lang, ""))
                if text and text not in notes:
                    notes.append(text)
    return notes


def _notes(intake: Intake, limit: int) -> list[dict[str, str]]:
    return [
        {"by": short(n.by, 60), "at": local_time(n.at), "text": short(n.text, MAX_NOTE)}
        for n in intake.notes[-limit:]
    ]


def card_context(intake: Intake) -> dict[str, Any]:
    """What the card in the group shows: nothing about the person (see the module docstring)."""
    return {
        "number": intake.number,
        "kind": str(intake.kind),
        "status": str(intake.status),
        "assignee": short(intake.assignee_name, 60),
        "routes": list(intake.routes),
        "erased": is_erased(intake),
        # Only that a helper filled it in, and the helper's role: never a name in the group.
        "helper_role": intake.filled_in_by.role if intake.filled_in_by is not None else "",
        # A request for contact made with /mens during the intake: the answers are not all in.
        "contact_request": intake.request == "contact",
    }


def render_card(services: Services, intake: Intake) -> tuple[str, InlineKeyboardMarkup | None]:
    lang = coordinator_lang(services)
    text = services.renderer.render(lang, "card", **card_context(intake))
    markup = card_keyboard(intake.number, intake.status, lang, has_details=not is_erased(intake))
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


def _person_messages(intake: Intake) -> list[dict[str, str]]:
    """The person's last messages to the coordinators (kept in the history by the relay)."""
    return [
        {"at": local_time(h.at), "text": short(h.detail, MAX_PERSON_MESSAGE)}
        for h in intake.history
        if h.action == HistoryAction.FROM_PERSON and h.detail
    ][-PERSON_MESSAGES_SHOWN:]


def view_context(services: Services, intake: Intake) -> dict[str, Any]:
    """The whole intake, for a coordinator's private chat only: the answers (sensitive ones
    marked), the stated target groups, the routes with their reasons, notes and history."""
    lang = coordinator_lang(services)
    context = card_context(intake)
    context.update(
        {
            "name": short(intake.name, 80),
            "helper_name": short(intake.filled_in_by.name, 80) if intake.filled_in_by else "",
            "helper_phone": short(intake.filled_in_by.phone, 40) if intake.filled_in_by else "",
            # On whose word the sensitive questions were answered (the last sensitive consent).
            "sensitive_by": next(
                (c.given_by for c in reversed(intake.consents) if c.scope == "sensitive"), ""
            ),
            "sensitive_given": next(
                (c.given for c in reversed(intake.consents) if c.scope == "sensitive"), False
            ),
            "answers": answer_lines(services, intake),
            "target_groups": list(intake.target_groups),
            "routes": _routes(intake, lang),
            "rule_notes": _rule_notes(intake, lang),
            "received": local_time(intake.created_at),
            "language": intake.language,
            "messages": _person_messages(intake),
            "notes": _notes(intake, NOTES_SHOWN),
            "more_notes": max(0, len(intake.notes) - NOTES_SHOWN),
            "history": history_lines(intake.history),
            "older": max(0, len(intake.history) - HISTORY_SHOWN),
            "updated": local_time(intake.updated_at),
        }
    )
    return context


def list_line(intake: Intake, *, private: bool) -> dict[str, str]:
    """One line of /intakes or /zoek; the name only in a private chat."""
    return {
        "number": intake.number,
        "kind": str(intake.kind),
        "status": str(intake.status),
        "name": short(intake.name, 40) if private else "",
        "assignee": short(intake.assignee_name, 30),
        "received": local_time(intake.created_at)[:10],
    }


def number_in(text: str | None) -> str | None:
    """The first intake number in a text (a card, a relayed message, a command)."""
    if not text:
        return None
    found = NUMBER.search(text)
    return found.group(1) if found else None


def age_text(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} u"


def since(stamp: str, now: datetime) -> float:
    return (now - parse_iso(stamp)).total_seconds()

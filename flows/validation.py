"""Turn what a person typed or tapped into an answer, or a clear reason why it is not valid.

Buttons and typed text go through the same checks, so a typed "2" and a tap on the second button
give the same answer, and a forged button code is refused like a wrong typed word.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from flows.model import AnswerValue, Kind, Language, Question, Text
from flows.yaml_text import load_yaml

DEFAULT_TEXT_MAX = 500
_POSTCODE = re.compile(r"^\s*([1-9][0-9]{3})\s*([A-Za-z]{2})?\s*$")
_PHONE_NL = re.compile(r"^(?:\+31|0031|0)([1-9][0-9]{8})$")
_PHONE_INTL = re.compile(r"^\+[1-9][0-9]{7,14}$")
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[A-Za-z]{2,}$")
_NINE_DIGITS = re.compile(r"(?<![0-9])([0-9]{9})(?![0-9])")
_SPLIT_CHOICES = re.compile(r"\s*(?:,|;|/|\+|\ben\b|\band\b)\s*|\s+(?=\d)", re.IGNORECASE)
_YES = {"ja", "j", "yes", "y", "jazeker", "ok", "oke", "oké"}
_NO = {"nee", "n", "no", "neen"}


@cache
def _reason_texts() -> dict[str, Text]:
    path = resources.files("flows") / "data" / "reasons.yaml"
    raw: dict[str, dict[str, str]] = load_yaml(path.read_text(encoding="utf-8"))
    return {code: Text(v["nl"], v["en"]) for code, v in raw.items()}


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why an answer was not accepted: a stable code plus the values to fill into its text."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: Language) -> str:
        template = _reason_texts()[self.code].get(lang)
        params = dict(self.params)
        # A label is given in both languages; the text shows the reader's.
        params.setdefault("label", params.get(f"label_{lang}", ""))
        return template.format(**params)


def looks_like_bsn(text: str) -> bool:
    """Whether the text holds a nine-digit number that passes the BSN eleven-test."""
    for match in _NINE_DIGITS.finditer(text.replace(".", "").replace(" ", "")):
        digits = [int(c) for c in match.group(1)]
        total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
        if total % 11 == 0 and any(digits):
            return True
    return False


def _clean(text: str) -> str:
    # Drop control characters (they break rendering) and collapse runs of white space.
    kept = "".join(c for c in text if unicodedata.category(c)[0] != "C" or c in "\n\t")
    return " ".join(kept.split())


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum() or c == " ").strip()


def _match_option(question: Question, token: str) -> str | None:
    token = token.strip().rstrip(".")
    if not token:
        return None
    if token.isdigit():
        index = int(token) - 1
        return question.options[index].code if 0 <= index < len(question.options) else None
    folded = _fold(token)
    for opt in question.options:
        if folded in (_fold(opt.code), _fold(opt.label.nl), _fold(opt.label.en)):
            return opt.code
    codes = question.option_codes
    if folded in _YES and "ja" in codes:
        return "ja"
    if folded in _NO and "nee" in codes:
        return "nee"
    # A unique prefix of a label ("team" for "In een team") is a fair typed answer.
    hits = {
        opt.code
        for opt in question.options
        for label in (opt.label.nl, opt.label.en)
        if len(folded) >= 3 and _fold(label).startswith(folded)
    }
    return hits.pop() if len(hits) == 1 else None


def check_choices(question: Question, codes: list[str]) -> list[str] | Invalid:
    """Validate a set of option codes for a multiple-choice question."""
    unique = list(dict.fromkeys(codes))
    for code in unique:
        if question.option(code) is None:
            return Invalid("not_an_option", {"count": len(question.options)})
    if not unique:
        return Invalid("choose_at_least", {"n": max(1, question.validation.min_choices or 1)})
    exclusive = [c for c in unique if (o := question.option(c)) is not None and o.exclusive]
    if exclusive and len(unique) > 1:
        option = question.option(exclusive[0])
        labels = {"label_nl": option.label.nl, "label_en": option.label.en} if option else {}
        return Invalid("exclusive", {"code": exclusive[0], **labels})
    v = question.validation
    if v.min_choices is not None and len(unique) < v.min_choices:
        return Invalid("choose_at_least", {"n": v.min_choices})
    if v.max_choices is not None and len(unique) > v.max_choices:
        return Invalid("choose_at_most", {"n": v.max_choices})
    # Keep the order of the options, so summaries and exports read the same for everybody.
    return [c for c in question.option_codes if c in unique]


def check_value(question: Question, value: AnswerValue) -> AnswerValue | Invalid:
    """Validate a structured answer (a button code, a list of codes, a number, a text)."""
    kind = question.kind
    if kind in (Kind.SINGLE, Kind.YESNO):
        if not isinstance(value, str) or question.option(value) is None:
            return Invalid("not_an_option", {"count": len(question.options)})
        return value
    if kind == Kind.MULTI:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return Invalid("not_an_option", {"count": len(question.options)})
        return check_choices(question, value)
    if isinstance(value, list):
        return Invalid("type_an_answer")
    return parse_text(question, str(value))


def parse_text(question: Question, raw: str) -> AnswerValue | Invalid:
    """Parse typed text into an answer for this question."""
    v = question.validation
    text = _clean(raw)
    if question.kind.has_options:
        if question.kind == Kind.MULTI:
            tokens = [t for t in _SPLIT_CHOICES.split(text) if t and t.strip()]
            codes: list[str] = []
            for token in tokens or [text]:
                code = _match_option(question, token)
                if code is None:
                    # A label may itself contain "en" or a comma: try the whole text once.
                    whole = _match_option(question, text)
                    if whole is not None:
                        return check_choices(question, [whole])
                    return Invalid("not_an_option", {"count": len(question.options)})
                codes.append(code)
            return check_choices(question, codes)
        code = _match_option(question, text)
        if code is None:
            return Invalid("not_an_option", {"count": len(question.options)})
        return code
    if not text:
        if question.optional:
            return ""
        return Invalid("empty")
    max_length = v.max_length or DEFAULT_TEXT_MAX
    if len(raw) > max(max_length, DEFAULT_TEXT_MAX) * 4 or len(text) > max_length:
        return Invalid("too_long", {"max": max_length, "length": len(text)})
    match question.kind:
        case Kind.NUMBER:
            found = re.search(r"-?\d+", text)
            if found is None or len(found.group()) > 6:
                return Invalid("not_a_number")
            number = int(found.group())
            if v.minimum is not None and number < v.minimum:
                return Invalid("too_small", {"min": v.minimum})
            if v.maximum is not None and number > v.maximum:
                return Invalid("too_large", {"max": v.maximum})
            return number
        case Kind.POSTCODE:
            # Only the four digits are kept: enough for the region, less personal than a full code.
            pc = _POSTCODE.match(text)
            return pc.group(1) if pc else Invalid("bad_postcode")
        case Kind.PHONE:
            digits = re.sub(r"[\s\-().]", "", text)
            nl = _PHONE_NL.match(digits)
            if nl:
                return "0" + nl.group(1)
            return digits if _PHONE_INTL.match(digits) else Invalid("bad_phone")
        case Kind.EMAIL:
            candidate = text.strip()
            if len(candidate) > 254 or not _EMAIL.match(candidate):
                return Invalid("bad_email")
            return candidate.lower()
        case _:
            if v.min_length is not None and len(text) < v.min_length:
                return Invalid("too_short", {"min": v.min_length})
            if v.pattern is not None and not re.fullmatch(v.pattern, text):
                return Invalid("pattern")
            if looks_like_bsn(text):
                return Invalid("looks_like_bsn")
            return text

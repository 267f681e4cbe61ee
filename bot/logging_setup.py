"""Logging without personal data: no names, phone numbers, e-mail addresses or answers.

Our own log lines carry intake numbers, counts and pseudonyms only. As a second line of defence a
filter masks anything that looks like an e-mail address or a phone number in every record,
including those of libraries, before it is written.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re

_EMAIL = re.compile(r"[^\s@<>()]+@[^\s@<>()]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<!\d)(?:\+|00)?\d[\d \-]{8,14}\d(?!\d)")
_FORMATTER = logging.Formatter()
# A key per process: pseudonyms link log lines of one run without being reversible later.
_KEY = os.urandom(16)


def pseudonym(user_id: int | None) -> str:
    """A short stable stand-in for a Telegram user id in logs."""
    if user_id is None:
        return "u:-"
    digest = hmac.new(_KEY, str(user_id).encode(), hashlib.sha256).hexdigest()
    return f"u:{digest[:10]}"


def redact(text: str) -> str:
    return _PHONE.sub("[nummer]", _EMAIL.sub("[e-mail]", text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # The formatter uses a cached exc_text when present: cache a redacted traceback.
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiogram logs every handled update with its id at INFO; that is noise, not insight.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)

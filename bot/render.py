"""Message texts from jinja2 templates in `templates/<lang>/`, in Telegram's HTML subset.

One Environment is built at the first render and reused: compiling a template costs about 60x
a render (docs/telegram-limits.md). Autoescape is on and undefined names raise, so user text is
always escaped and a typo in a template fails in tests instead of printing an empty line to a
person. Every template sees `codes`, the names of the domain's codes in its language
(bot/i18n.py), so a status or a route is named in one place and templates keep only the prose.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.i18n import TEMPLATES_DIR as TEMPLATES_DIR  # where the templates are, also for tests
from bot.i18n import codes
from flows.model import LANGUAGES, Language

if TYPE_CHECKING:
    from jinja2 import Environment, Template

TELEGRAM_TEXT_LIMIT = 4096
# Distinct shared texts: every question of both flows, in both languages, at each position
# ("question 3 of 9" differs from "3 of 8"), answered with each option: a few thousand at most.
SHARED_CACHE_SIZE = 8192
_TAG = re.compile(r"<[^>]+>")


class Renderer:
    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        self._templates_dir = templates_dir
        self._env: Environment | None = None
        self._shared: dict[tuple[Any, ...], str] = {}
        # The names of the codes (statuses, kinds, routes...) in the template's language.
        self._globals = {lang: {"codes": codes(lang)} for lang in LANGUAGES}
        # Each template once with its language's globals: jinja2's get_template would update
        # them on every call (about 1 µs, 3% of a card's render).
        self._templates: dict[tuple[Language, str], Template] = {}

    @property
    def env(self) -> Environment:
        """The Environment, made at the first render: importing jinja2 (about 16 ms) then does
        not hold up the first poll after a restart (bench/footprint_bench.py)."""
        if self._env is None:
            from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

            self._env = Environment(
                loader=FileSystemLoader(str(self._templates_dir)),
                autoescape=select_autoescape(default=True, default_for_string=True),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
                auto_reload=False,
            )
        return self._env

    def render(self, lang: Language, name: str, /, **context: Any) -> str:
        template = self._templates.get((lang, name))
        if template is None:
            template = self.env.get_template(f"{lang}/{name}.html", globals=self._globals[lang])
            self._templates[(lang, name)] = template
        text = template.render(lang=lang, **context).strip()
        # Blank lines from template logic collapse to one, so messages stay tidy.
        text = re.sub(r"\n{3,}", "\n\n", text)
        return fit(text)

    def render_shared(self, lang: Language, name: str, /, **context: Any) -> str:
        """`render`, kept for the next person who sees the very same text.

        Only for texts that hold nothing about a person and repeat for many: a question screen,
        or an answered question whose answer is an option's label. A step renders two of them,
        and jinja2 costs about 65 µs a render (docs/telegram-limits.md), a dict lookup next to
        nothing. The cache is bounded; when full it starts again.
        """
        key = (lang, name, *context.items())
        try:
            text = self._shared.get(key)
        except TypeError:  # an unhashable value (a list): render it each time
            return self.render(lang, name, **context)
        if text is None:
            text = self.render(lang, name, **context)
            if len(self._shared) >= SHARED_CACHE_SIZE:
                self._shared.clear()
            self._shared[key] = text
        return text


def fit(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> str:
    """Cut a text to Telegram's limit at a line break, never inside a tag or entity."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 2)
    return text[: cut if cut > 0 else limit - 2].rstrip() + "\n…"


def plain(text: str) -> str:
    """Telegram HTML to plain text, for the terminal try-out."""
    return html.unescape(_TAG.sub("", text))

"""Button labels and command descriptions from `templates/labels.yaml`, loaded once."""

from __future__ import annotations

from functools import cache

import yaml

from bot.render import TEMPLATES_DIR
from flows.model import Language


@cache
def _labels() -> dict[str, dict[str, str]]:
    raw = yaml.safe_load((TEMPLATES_DIR / "labels.yaml").read_text(encoding="utf-8"))
    labels: dict[str, dict[str, str]] = {k: v for k, v in raw.items() if k != "commands"}
    return labels


@cache
def command_descriptions(menu: str = "commands") -> dict[str, dict[str, str]]:
    """The command menu `menu` of labels.yaml: `commands` (private chats) or
    `coordinator_commands` (the coordinators' group)."""
    raw = yaml.safe_load((TEMPLATES_DIR / "labels.yaml").read_text(encoding="utf-8"))
    commands: dict[str, dict[str, str]] = raw[menu]
    return commands


def label(lang: Language, key: str) -> str:
    return _labels()[key][lang]

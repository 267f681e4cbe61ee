"""Button labels and command descriptions from `templates/labels.yaml`, loaded once."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from bot.render import TEMPLATES_DIR
from flows.model import Language

MENUS = ("commands", "coordinator_commands")


@cache
def _labels_file() -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, Any]] = yaml.safe_load(
        (TEMPLATES_DIR / "labels.yaml").read_text(encoding="utf-8")
    )
    return raw


@cache
def _labels() -> dict[str, dict[str, str]]:
    return {k: v for k, v in _labels_file().items() if k not in MENUS}


def command_descriptions(menu: str = "commands") -> dict[str, dict[str, str]]:
    """The command menu `menu` of labels.yaml: `commands` (private chats) or
    `coordinator_commands` (the coordinators' group)."""
    commands: dict[str, dict[str, str]] = _labels_file()[menu]
    return commands


def label(lang: Language, key: str) -> str:
    return _labels()[key][lang]

"""What the bot calls things, per language, loaded once:

- `templates/labels.yaml`: button labels and command descriptions (`label`, `command_descriptions`);
- `templates/<lang>/codes.yaml`: the names of the domain's codes (`codes`): each status with its
  icon and its button, the kinds of intake, helper roles, routes and forms. bot/render.py gives
  it to every template as `codes`, so templates keep only the prose.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, TypeAdapter

from flows.model import Language
from flows.records import IntakeKind, Status
from flows.yaml_text import load_yaml

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
MENUS = ("commands", "coordinator_commands")


@cache
def _labels_file() -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, Any]] = load_yaml(
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


@dataclass(frozen=True, slots=True)
class StatusLabel:
    __pydantic_config__ = ConfigDict(extra="forbid")

    name: str
    icon: str
    # The button that moves an intake to this status, after the icon: only for a status that is
    # in some Status.next_statuses.
    move: str = ""

    @property
    def button(self) -> str:
        return f"{self.icon} {self.move}"


@dataclass(frozen=True, slots=True)
class Codes:
    """One language's names for the domain's codes (templates/<lang>/codes.yaml)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    status: dict[Status, StatusLabel]
    kind: dict[IntakeKind, str]
    helper_role: dict[str, str]
    consent_by: dict[str, str]
    route: dict[str, str]
    employer_route: dict[str, str]
    form: dict[str, str]


# pydantic checks the file against the dataclasses: a misspelt status or key fails at start.
_CODES = TypeAdapter(Codes)


@cache
def codes(lang: Language) -> Codes:
    return load_codes(TEMPLATES_DIR / lang / "codes.yaml")


def load_codes(path: Path) -> Codes:
    """A codes.yaml, checked: every status named, with an icon, and with a button where a
    coordinator can move an intake to it; every kind named."""
    table = _CODES.validate_python(load_yaml(path.read_text(encoding="utf-8")))
    missing = [s.value for s in Status if s not in table.status]
    missing += [
        f"button of {s.value}"
        for s in Status
        if s in table.status and not table.status[s].move and _is_move_target(s)
    ]
    missing += [k.value for k in IntakeKind if k not in table.kind]
    if missing:
        raise ValueError(f"{path} names no {', '.join(missing)}")
    return table


def _is_move_target(status: Status) -> bool:
    return any(status in other.next_statuses for other in Status)

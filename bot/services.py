"""What the handlers need, gathered in one object passed as Dispatcher workflow data."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import Settings
from bot.coordinator.state import CoordinatorState
from bot.keyboards import Keyboards
from bot.render import Renderer
from flows.engine import Engine
from flows.ports import Clock, Funnel, IntakeRepository, Outbox


@dataclass(slots=True)
class Services:
    settings: Settings
    engines: dict[str, Engine]
    renderer: Renderer
    keyboards: Keyboards
    intakes: IntakeRepository
    outbox: Outbox
    clock: Clock
    funnel: Funnel
    # Filled in at start from getMe: used for deep links ("open me in a private chat").
    bot_username: str = ""
    # Storage problems found at start-up (corrupt files moved aside), shown to coordinators.
    storage_problems: list[str] = field(default_factory=list)
    coordinator: CoordinatorState = field(default_factory=CoordinatorState)

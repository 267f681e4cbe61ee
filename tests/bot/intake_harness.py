"""Shared set-up for the intake tests: the real Dispatcher over memory or TinyDB stores.

Only the seams are fake: the Bot's session (a RecordingSession) and the clock. Tests ask for
the `harness` fixture (tests/bot/conftest.py) and import the helpers from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.fsm.context import FSMContext

from bot.app import create_dispatcher, create_services
from bot.config import Settings
from bot.keyboards import Keyboards
from bot.render import Renderer
from bot.sender import Limits, Sender
from bot.services import Services
from flows.engine import FlowState
from flows.model import AnswerValue, Kind, Language, Question
from flows.records import Delivery, Intake
from storage import Stores, memory_stores, open_stores
from storage.funnel import MemoryFunnel
from tests.support.session import TEST_TOKEN, RecordingSession, make_bot
from tests.support.updates import DEFAULT_USER_ID, ChatDriver, settle

COORDINATOR_GROUP = -100123
START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock whose `current` moment the test sets; `now()` is what the code reads."""

    def __init__(self, current: datetime = START) -> None:
        self.current = current

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: no `.env` and no environment variable decides anything here."""
    values: dict[str, Any] = {
        "BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE": None,
        "COORDINATOR_CHAT_ID": COORDINATOR_GROUP,
        "COORDINATOR_IDS": frozenset(),
        "DATA_DIR": data_dir,
        "DEFAULT_LANGUAGE": "nl",
        "RETENTION_DAYS": 365,
        "CONVERSATION_RETENTION_DAYS": 30,
        "WEBHOOK_URL": None,
        "WEBHOOK_SECRET": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class Harness:
    """Settings, stores, services and the Dispatcher, plus a Bot whose session records."""

    settings: Settings
    clock: FakeClock
    stores: Stores
    funnel: MemoryFunnel
    services: Services
    dp: Dispatcher
    bot: Bot
    session: RecordingSession
    sender: Sender
    drivers: dict[int, ChatDriver] = field(default_factory=dict)

    async def settle(self) -> None:
        """Wait until everything queued so far was sent (and its write-back written)."""
        await settle(self.dp)

    async def close(self) -> None:
        await self.sender.stop()
        await self.stores.close()
        # The question keyboards are cached on the class (the bot has one Keyboards for its
        # life): each entry keeps its Keyboards and engines alive, so without this every test
        # left its own behind and each full garbage collection got slower (0.07 s to 0.5 s).
        Keyboards.question.cache_clear()

    def driver(self, user_id: int = DEFAULT_USER_ID, *, language_code: str = "nl") -> ChatDriver:
        if user_id not in self.drivers:
            self.drivers[user_id] = ChatDriver(
                self.dp, self.bot, user_id, language_code=language_code
            )
        return self.drivers[user_id]

    def context(self, user_id: int = DEFAULT_USER_ID) -> FSMContext:
        return self.dp.fsm.get_context(self.bot, user_id, user_id)

    async def conversation(
        self, user_id: int = DEFAULT_USER_ID
    ) -> tuple[str | None, dict[str, Any]]:
        """The stored FSM state and data of one private chat."""
        context = self.context(user_id)
        return await context.get_state(), await context.get_data()

    async def flow_state(self, user_id: int = DEFAULT_USER_ID) -> FlowState | None:
        _, data = await self.conversation(user_id)
        raw = data.get("flow_state")
        return FlowState.from_dict(raw) if raw else None

    async def current_question(self, user_id: int = DEFAULT_USER_ID) -> Question | None:
        state = await self.flow_state(user_id)
        if state is None or state.current is None:
            return None
        return self.services.engines[state.flow].flow.question(state.current)

    async def intakes(self) -> list[Intake]:
        return list(await self.stores.intakes.all())

    async def deliveries(self) -> list[Delivery]:
        return list(await self.stores.outbox.pending())


@cache
def shared_renderer() -> Renderer:
    """One Renderer for every harness of the run, as the bot has one for its whole life: a new
    one would compile every template it renders again, in every test. It keeps nothing of a
    person: the screens it keeps are the same for everyone."""
    return Renderer()


async def build_harness(
    data_dir: Path,
    *,
    stores: Stores | None = None,
    clock: FakeClock | None = None,
    session: RecordingSession | None = None,
    limits: Limits | None = None,
    **settings: Any,
) -> Harness:
    clock = clock or FakeClock()
    config = make_settings(data_dir, **settings)
    stores = stores or memory_stores(clock)
    funnel = MemoryFunnel()
    services = create_services(
        config,
        intakes=stores.intakes,
        outbox=stores.outbox,
        clock=clock,
        funnel=funnel,
        renderer=shared_renderer(),
    )
    services.bot_username = "baanwijzer_bot"
    session = session or RecordingSession()
    bot = make_bot(session)
    sender = Sender(bot, limits or Limits.unlimited())
    dp = create_dispatcher(services, stores.conversations, sender)
    return Harness(config, clock, stores, funnel, services, dp, bot, session, sender)


async def open_file_harness(
    data_dir: Path, *, session: RecordingSession | None = None, clock: FakeClock | None = None
) -> Harness:
    """A harness over TinyDB files in `data_dir`, as the bot process opens them."""
    clock = clock or FakeClock()
    stores = await open_stores(data_dir, clock, retention_days=365, conversation_days=30)
    return await build_harness(data_dir, stores=stores, clock=clock, session=session)


# -- walking a whole intake -------------------------------------------------------------------

CANDIDATE_ANSWERS: dict[str, AnswerValue] = {
    "consent": "akkoord",
    "filled_by": "zelf",
    # Asked only when someone else fills it in (a helper).
    "helper_name": "Els",
    "helper_phone": "0687654321",
    "age": "18-26",
    "candidate_agrees": "ja",
    "sensitive_consent": "ja",
    "register_known": "ja",
    "register_basis": ["wajong"],
    "guidance": "beetje",
    "support": ["werktijden"],
    "helpers": ["uwv"],
    "work_kind": ["catering", "anders"],
    "work_other": "Koken in een keuken",
    "work_setting": "team",
    "employer_pref": ["rijk"],
    "hours": 24,
    "days": ["ma", "di"],
    "postcode": "3511 AB",
    "travel": "ov",
    "contact_method": "telefoon",
    "name": "Anna",
    "phone": "06 12345678",
    "keep_longer": "nee",
}

# In CANDIDATE_ANSWERS, but asked only when someone else fills in the intake (a helper).
HELPER_ONLY: tuple[str, ...] = ("helper_name", "helper_phone", "candidate_agrees")

EMPLOYER_ANSWERS: dict[str, AnswerValue] = {
    "consent": "akkoord",
    "org_kind": "rijk",
    "org_name": "Ministerie van Voorbeelden",
    "offer": ["vacature"],
    "tasks": "Post rondbrengen en vergaderzalen klaarzetten",
    "hours": 20,
    "contract": "vast",
    "trial": "ja",
    "supervision": ["werkbegeleider", "jobcoach"],
    "postcode": "2511",
    "contact_name": "Bram de Vries",
    "contact_method": "e-mail",
    "contact_email": "Bram@Example.nl",
    "keep_longer": "nee",
}


def button_label(question: Question, code: str, lang: Language = "nl") -> str:
    """The text of the button for option `code`, as the keyboard shows it."""
    index = question.option_codes.index(code)
    # Multiple-choice buttons carry a tick mark in front; `_toggle_button` matches the end.
    return f"{index + 1}. {question.options[index].label.get(lang)}"


def _toggle_button(driver: ChatDriver, question: Question, code: str) -> str:
    wanted = button_label(question, code)
    for row in driver.last_keyboard:
        for text, data in row:
            if text.endswith(wanted) and data is not None:
                return data
    raise AssertionError(f"no toggle for {code!r}; keyboard is {driver.last_keyboard}")


def typed_form(question: Question, value: AnswerValue) -> str:
    """How a person types the answer: option numbers ("2 5" for several), or the text."""
    if question.kind.has_options:
        codes = value if isinstance(value, list) else [str(value)]
        return " ".join(str(question.option_codes.index(c) + 1) for c in codes)
    return str(value)


async def answer_current(
    harness: Harness,
    driver: ChatDriver,
    question: Question,
    value: AnswerValue,
    *,
    typed: bool = False,
) -> None:
    """Answer the question on screen, by its buttons or by typing."""
    if typed or not question.kind.has_options:
        await driver.send(typed_form(question, value))
    elif question.kind == Kind.MULTI:
        assert isinstance(value, list)
        for code in value:
            await driver.click(_toggle_button(driver, question, code))
        await driver.click("✅ Klaar")
    else:
        await driver.click(button_label(question, str(value)))


async def walk(
    harness: Harness,
    flow: str,
    answers: Mapping[str, AnswerValue],
    *,
    user_id: int = DEFAULT_USER_ID,
    typed: bool = False,
    start: bool = True,
    until: str | None = None,
    max_steps: int = 60,
    helper: bool = False,
) -> list[str]:
    """Start `flow` by deep link and answer every question it asks from `answers`.

    `helper`: start on the welcome with "🤝 Ik help iemand die werk zoekt" instead. Stops at
    the summary, an early end, or when question `until` is on screen; returns the question ids
    answered, in order.
    """
    driver = harness.driver(user_id)
    if start and helper:
        await driver.send("/start")
        await driver.click("🤝 Ik help iemand die werk zoekt")
    elif start:
        await driver.send(f"/start {'kandidaat' if flow == 'candidate' else 'werkgever'}")
    asked: list[str] = []
    for _ in range(max_steps):
        question = await harness.current_question(user_id)
        if question is None or question.id == until:
            return asked
        if question.id not in answers:
            raise AssertionError(f"the walk has no answer for {question.id!r}")
        asked.append(question.id)
        await answer_current(harness, driver, question, answers[question.id], typed=typed)
    raise AssertionError(f"no summary after {max_steps} answers: {asked}")


async def walk_candidate(
    harness: Harness,
    answers: Mapping[str, AnswerValue] | None = None,
    *,
    user_id: int = DEFAULT_USER_ID,
    typed: bool = False,
    helper: bool = False,
) -> list[str]:
    """A whole candidate intake up to the summary; `answers` override the defaults."""
    merged = {**CANDIDATE_ANSWERS, **(answers or {})}
    return await walk(harness, "candidate", merged, user_id=user_id, typed=typed, helper=helper)


async def confirm_summary(driver: ChatDriver) -> None:
    await driver.click("✅ Klopt, versturen")


def joined(texts: Sequence[str]) -> str:
    """Several messages as one string, for `in` checks across them."""
    return "\n---\n".join(texts)


def essentials(data: Mapping[str, Any]) -> dict[str, Any]:
    """The conversation record without the bookkeeping of chat messages (which message ids
    the bot sent, which one carries the keyboard, how many calls were queued): what an answer
    is allowed to change. The queue itself stays in: after the sender settled it is empty."""
    bookkeeping = ("message_ids", "screen", "seq", "sent", "last_update")
    return {k: v for k, v in data.items() if k not in bookkeeping}


async def snapshot(harness: Harness, user_id: int = DEFAULT_USER_ID) -> dict[str, Any]:
    """Everything stored about one person and the outbox, for before/after comparisons."""
    state, data = await harness.conversation(user_id)
    return {
        "state": state,
        "data": essentials(data),
        "intakes": [i.to_dict() for i in await harness.intakes()],
        "deliveries": [d.to_dict() for d in await harness.deliveries()],
    }

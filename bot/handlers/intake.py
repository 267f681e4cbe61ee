"""The guided intake in a private chat: start, answers by button or typed, back, summary, finish.

Each handler parses the update, asks the engine, renders and answers. The conversation record is
read once and written once per update.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import cast

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User

from bot import chat_state
from bot.chat_state import ChatRecord, IntakeStates
from bot.filters import HasText, PrivateChat
from bot.handlers.registry import command_router
from bot.handoff import queue_new_intake
from bot.i18n import label
from bot.keyboards import FLOW_CODES, AnswerCb, LangCb, NavCb, RoleCb, StopCb, SummaryCb, ToggleCb
from bot.screens import (
    CONSENT_VERSION,
    answered_text,
    consent_hash,
    privacy_context,
    remove_keyboard,
    send,
    show_current,
    show_question,
    show_summary,
    show_welcome,
)
from bot.services import Services
from flows.engine import FlowState, Phase, Rejected, Result, Step
from flows.model import Kind, Language
from flows.records import ConsentRecord, HistoryEntry, Intake, IntakeKind, utc_iso

log = logging.getLogger(__name__)

ASKING = StateFilter(IntakeStates.asking)
DEEP_LINKS = {
    "kandidaat": "candidate",
    "candidate": "candidate",
    "werkgever": "employer",
    "employer": "employer",
}
MISSES_BEFORE_HELP = 2
ROLES = ("candidate", "employer", "helper")
BUSY_STATES = (IntakeStates.asking.state, IntakeStates.summary.state, IntakeStates.editing.state)


def _lang_of(user: User | None, services: Services) -> Language:
    code = (user.language_code or "") if user else ""
    if code.startswith("en"):
        return "en"
    if code.startswith("nl"):
        return "nl"
    return services.settings.DEFAULT_LANGUAGE


async def load_record(state: FSMContext, user: User | None, services: Services) -> ChatRecord:
    record = await chat_state.load(state, _lang_of(user, services))
    flow_state = record.flow_state
    if record.flow in services.engines and flow_state is not None:
        engine = services.engines[record.flow]
        current = flow_state.current
        # The flow file may have changed while this conversation waited (a new version, a
        # question removed): fit the stored answers to the flow as it is now.
        if flow_state.version != engine.flow.version or (
            current is not None and not engine.flow.has_question(current)
        ):
            record.flow_state = engine.resume(flow_state)
    elif record.flow is not None:
        record.reset_intake()
    return record


# -- starting -------------------------------------------------------------------------------


async def start_flow(
    bot: Bot,
    chat_id: int,
    services: Services,
    state: FSMContext,
    record: ChatRecord,
    flow: str,
    role: str,
) -> None:
    engine = services.engines[flow]
    await remove_keyboard(bot, chat_id, record)
    record.reset_intake()
    record.flow, record.role = flow, role
    record.flow_state = engine.start()
    record.started_at = utc_iso(services.clock.now())
    await services.funnel.count(f"{flow}:started")
    await state.set_state(IntakeStates.asking)
    notice = services.renderer.render(record.lang, "privacy", **privacy_context(services, flow))
    await send(bot, chat_id, record, notice)
    await show_question(bot, chat_id, services, record)


async def cmd_start(
    message: Message, command: CommandObject, state: FSMContext, services: Services, bot: Bot
) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    current = await state.get_state()
    flow = DEEP_LINKS.get((command.args or "").strip().lower())
    if current in BUSY_STATES:
        # A stray /start must not throw away answers: say so and show where the person was.
        await send(
            bot,
            message.chat.id,
            record,
            services.renderer.render(record.lang, "already_busy", flow=record.flow),
        )
        await show_current(bot, message.chat.id, services, record, state)
    elif flow is not None:
        await start_flow(bot, message.chat.id, services, state, record, flow, flow)
    else:
        await state.set_state(IntakeStates.choosing_role)
        await show_welcome(bot, message.chat.id, services, record)
    await chat_state.save(state, record)


async def cb_role(
    callback: CallbackQuery, callback_data: RoleCb, state: FSMContext, services: Services, bot: Bot
) -> None:
    await callback.answer()
    record = await load_record(state, callback.from_user, services)
    chat_id = callback.from_user.id
    # Callback data comes from the client: a role no keyboard offers is forged, and must not be
    # stored as the intake's role.
    if await state.get_state() in BUSY_STATES or callback_data.role not in ROLES:
        await _stale(bot, chat_id, services, state, record)
    else:
        await start_role(bot, chat_id, services, state, record, callback_data.role)
    await chat_state.save(state, record)


ROLE_NUMBERS = {"1": "candidate", "2": "employer", "3": "helper"}
ROLE_WORDS = {
    "werk": "candidate",
    "work": "candidate",
    "werkgever": "employer",
    "employer": "employer",
    "help": "helper",
    "helpen": "helper",
}


def role_in(text: str) -> str | None:
    """The role a typed text picks on the welcome: its button's number or a word of it."""
    folded = text.strip().casefold()
    return ROLE_NUMBERS.get(folded) or next(
        (r for w, r in ROLE_WORDS.items() if w in folded.split()), None
    )


async def typed_role(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    role = role_in(message.text or "")
    if role is None:
        await send(
            bot, message.chat.id, record, services.renderer.render(record.lang, "choose_role")
        )
        await show_welcome(bot, message.chat.id, services, record)
    else:
        await start_role(bot, message.chat.id, services, state, record, role)
    await chat_state.save(state, record)


async def start_role(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord, role: str
) -> None:
    """Start the intake a role picked on the welcome (a helper fills in the candidate's)."""
    flow = "employer" if role == "employer" else "candidate"
    await start_flow(bot, chat_id, services, state, record, flow, role)


# -- language, help, stop, back ---------------------------------------------------------------


async def cmd_language(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    text = services.renderer.render(record.lang, "choose_language")
    await send(bot, message.chat.id, record, text, services.keyboards.languages())
    await chat_state.save(state, record)


async def cb_language(
    callback: CallbackQuery, callback_data: LangCb, state: FSMContext, services: Services, bot: Bot
) -> None:
    await callback.answer()
    record = await load_record(state, callback.from_user, services)
    if callback_data.lang in ("nl", "en"):
        record.lang = cast(Language, callback_data.lang)
    chat_id = callback.from_user.id
    if callback.message is not None:
        # An old message may be gone already; the language is set either way.
        with contextlib.suppress(TelegramAPIError):
            await bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=callback.message.message_id
            )
    await send(bot, chat_id, record, services.renderer.render(record.lang, "language_set"))
    await show_current(bot, chat_id, services, record, state)
    if record.flow is None:
        await state.set_state(IntakeStates.choosing_role)
    await chat_state.save(state, record)


async def cmd_help(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    busy = record.flow is not None
    text = services.renderer.render(
        record.lang, "help", busy=busy, **privacy_context(services, record.flow)
    )
    await send(bot, message.chat.id, record, text)
    if busy:
        await show_current(bot, message.chat.id, services, record, state)
    await chat_state.save(state, record)


async def cmd_human(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    await _human(bot, message.chat.id, services, state, record)
    await chat_state.save(state, record)


async def _human(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord
) -> None:
    text = services.renderer.render(
        record.lang, "human", busy=record.flow is not None, **privacy_context(services, record.flow)
    )
    await send(bot, chat_id, record, text)
    if record.flow is not None:
        await show_current(bot, chat_id, services, record, state)


async def cmd_stop(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    if record.flow is None:
        await send(
            bot, message.chat.id, record, services.renderer.render(record.lang, "nothing_to_stop")
        )
    else:
        await _ask_stop(bot, message.chat.id, services, record)
    await chat_state.save(state, record)


async def _ask_stop(bot: Bot, chat_id: int, services: Services, record: ChatRecord) -> None:
    await remove_keyboard(bot, chat_id, record)
    text = services.renderer.render(record.lang, "stop_confirm", flow=record.flow)
    markup = services.keyboards.stop_confirm(record.lang)
    record.stop_screen = await send(bot, chat_id, record, text, markup, screen=True)


def _asking_stop(record: ChatRecord) -> bool:
    return record.stop_screen is not None and record.stop_screen == record.screen_message_id


async def _typed_stop(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord, text: str
) -> None:
    """A typed answer to "Wil je echt stoppen?" (its buttons can be typed too)."""
    words = _fold_words(text)

    def names(key: str) -> bool:
        return any(words == _fold_words(label(lang, key)) for lang in ("nl", "en"))

    if words in ("ja", "j", "yes", "y", "1", "stop", "stoppen") or names("stop_yes"):
        await _stop(bot, chat_id, services, state, record)
    elif words in ("nee", "n", "no", "2", "verder", "doorgaan") or names("stop_no"):
        await show_current(bot, chat_id, services, record, state)
    else:
        await _ask_stop(bot, chat_id, services, record)


async def _stop(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord
) -> None:
    await remove_keyboard(bot, chat_id, record)
    current = record.flow_state.current if record.flow_state else None
    await services.funnel.count(f"{record.flow}:stopped:{current or 'summary'}")
    stopped = services.renderer.render(record.lang, "stopped", flow=record.flow)
    record.reset_intake()
    await state.set_state(None)
    await send(bot, chat_id, record, stopped)


async def cb_stop(
    callback: CallbackQuery, callback_data: StopCb, state: FSMContext, services: Services, bot: Bot
) -> None:
    await callback.answer()
    record = await load_record(state, callback.from_user, services)
    chat_id = callback.from_user.id
    if callback.message is None or callback.message.message_id != record.screen_message_id:
        await _stale(bot, chat_id, services, state, record)
    elif callback_data.confirm:
        await _stop(bot, chat_id, services, state, record)
    else:
        await show_current(bot, chat_id, services, record, state)
    await chat_state.save(state, record)


async def cmd_back(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    await _go_back(bot, message.chat.id, services, state, record)
    await chat_state.save(state, record)


async def _go_back(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord
) -> None:
    if record.flow is None or record.flow_state is None:
        await send(bot, chat_id, record, services.renderer.render(record.lang, "nothing_to_stop"))
        return
    result = services.engines[record.flow].back(record.flow_state)
    if isinstance(result, Rejected):
        await send(bot, chat_id, record, result.reason.text(record.lang))
        await show_current(bot, chat_id, services, record, state)
        return
    record.flow_state, record.selected, record.misses = result.state, [], 0
    await _enter_phase(bot, chat_id, services, state, record)


# -- answering --------------------------------------------------------------------------------


def _current_step(services: Services, record: ChatRecord) -> Step | None:
    if record.flow is None or record.flow_state is None:
        return None
    return services.engines[record.flow].step(record.flow_state)


def _is_current(services: Services, record: ChatRecord, flow_code: str, index: int) -> bool:
    step = _current_step(services, record)
    if step is None or record.flow is None or FLOW_CODES.get(record.flow) != flow_code:
        return False
    return services.engines[record.flow].flow.position(step.question.id) == index


async def cb_answer(
    callback: CallbackQuery,
    callback_data: AnswerCb,
    state: FSMContext,
    services: Services,
    bot: Bot,
) -> None:
    record = await load_record(state, callback.from_user, services)
    chat_id = callback.from_user.id
    if not _is_current(services, record, callback_data.f, callback_data.q):
        await callback.answer()
        await _stale(bot, chat_id, services, state, record)
    else:
        await callback.answer()
        step = _current_step(services, record)
        assert step is not None and record.flow is not None and record.flow_state is not None
        options = step.question.options
        if not 0 <= callback_data.o < len(options):
            await _stale(bot, chat_id, services, state, record)
        else:
            result = services.engines[record.flow].answer(
                record.flow_state, options[callback_data.o].code
            )
            await _apply(bot, chat_id, services, state, record, step, result)
    await chat_state.save(state, record)


async def cb_toggle(
    callback: CallbackQuery,
    callback_data: ToggleCb,
    state: FSMContext,
    services: Services,
    bot: Bot,
) -> None:
    await callback.answer()
    record = await load_record(state, callback.from_user, services)
    chat_id = callback.from_user.id
    step = _current_step(services, record)
    if (
        not _is_current(services, record, callback_data.f, callback_data.q)
        or step is None
        or step.question.kind != Kind.MULTI
        or not 0 <= callback_data.o < len(step.question.options)
        or callback.message is None
        or callback.message.message_id != record.screen_message_id
    ):
        await _stale(bot, chat_id, services, state, record)
    else:
        option = step.question.options[callback_data.o]
        selected = [c for c in record.selected if c != option.code]
        if option.code not in record.selected:
            # Ticking an "only this" option clears the others, and the other way round.
            selected = (
                [option.code]
                if option.exclusive
                else [c for c in selected if not (o := step.question.option(c)) or not o.exclusive]
                + [option.code]
            )
        record.selected = [c for c in step.question.option_codes if c in selected]
        assert record.flow is not None
        markup = services.keyboards.question(
            record.flow, callback_data.q, record.lang, frozenset(record.selected)
        )
        try:
            await bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=callback.message.message_id, reply_markup=markup
            )
        except TelegramAPIError as exc:
            # The tick is saved; if the old message cannot show it, show the question anew.
            log.info("toggle: keyboard edit refused (%s); question sent again", type(exc).__name__)
            record.screen_message_id = None
            await show_question(bot, chat_id, services, record)
    await chat_state.save(state, record)


async def cb_nav(
    callback: CallbackQuery, callback_data: NavCb, state: FSMContext, services: Services, bot: Bot
) -> None:
    record = await load_record(state, callback.from_user, services)
    chat_id = callback.from_user.id
    await callback.answer()
    asking = await state.get_state() == IntakeStates.asking.state
    if callback_data.action == "human":
        await _human(bot, chat_id, services, state, record)
    elif not asking or not _is_current(services, record, callback_data.f, callback_data.q):
        await _stale(bot, chat_id, services, state, record)
    elif callback_data.action in NAV_ACTIONS:
        await _nav(bot, chat_id, services, state, record, callback_data.action)
    else:
        await _stale(bot, chat_id, services, state, record)
    await chat_state.save(state, record)


NAV_ACTIONS = ("back", "why", "done", "skip", "human")
# Short words a person may type for a navigation button, besides the button's own label.
NAV_WORDS = {
    "klaar": "done",
    "done": "done",
    "terug": "back",
    "back": "back",
    "waarom": "why",
    "why": "why",
    "mens": "human",
    "een mens": "human",
    "human": "human",
    "person": "human",
    "sla over": "skip",
    "overslaan": "skip",
    "skip": "skip",
}


def _fold_words(text: str) -> str:
    return " ".join("".join(c for c in text.casefold() if c.isalnum() or c.isspace()).split())


def typed_nav(text: str, step: Step) -> str | None:
    """The navigation button a typed text names ("klaar", "Terug", "ik wil een mens spreken")."""
    folded = _fold_words(text)
    action = NAV_WORDS.get(folded) or next(
        (
            a
            for a in NAV_ACTIONS
            for lang in ("nl", "en")
            if folded and folded == _fold_words(label(lang, a))
        ),
        None,
    )
    question = step.question
    if (action == "done" and question.kind != Kind.MULTI) or (
        action == "skip" and not question.optional
    ):
        return None
    return action


async def _nav(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord, action: str
) -> None:
    """A navigation button on the question now on screen, pressed or typed."""
    step = _current_step(services, record)
    assert step is not None and record.flow is not None and record.flow_state is not None
    if action == "human":
        await _human(bot, chat_id, services, state, record)
    elif action == "back":
        await _go_back(bot, chat_id, services, state, record)
    elif action == "why":
        help_ = step.question.help
        if help_ is not None:
            text = services.renderer.render(
                record.lang,
                "why",
                purpose=help_.purpose.get(record.lang),
                who_sees=help_.who_sees.get(record.lang),
                kept=help_.kept.get(record.lang),
                retention_days=services.settings.RETENTION_DAYS,
            )
            await send(bot, chat_id, record, text)
        await show_question(bot, chat_id, services, record)
    else:
        engine = services.engines[record.flow]
        if action == "done":
            result = engine.answer(record.flow_state, list(record.selected))
        else:
            result = engine.answer_text(record.flow_state, "")
        await _apply(bot, chat_id, services, state, record, step, result)


async def typed_answer(message: Message, state: FSMContext, services: Services, bot: Bot) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    step = _current_step(services, record)
    if _asking_stop(record):
        await _typed_stop(bot, message.chat.id, services, state, record, message.text or "")
    elif step is None or record.flow is None or record.flow_state is None:
        await show_current(bot, message.chat.id, services, record, state)
    else:
        text = message.text or ""
        result = services.engines[record.flow].answer_text(record.flow_state, text)
        # Every button can be typed: an answer that is no option may name a navigation button.
        action = typed_nav(text, step) if isinstance(result, Rejected) else None
        if action is not None:
            await _nav(bot, message.chat.id, services, state, record, action)
        else:
            await _apply(bot, message.chat.id, services, state, record, step, result)
    await chat_state.save(state, record)


async def _apply(
    bot: Bot,
    chat_id: int,
    services: Services,
    state: FSMContext,
    record: ChatRecord,
    step: Step,
    result: Result,
) -> None:
    """Show the effect of an answer: the reason it was refused, or the next screen."""
    assert record.flow is not None
    if isinstance(result, Rejected):
        record.misses += 1
        offer = record.misses >= MISSES_BEFORE_HELP
        text = services.renderer.render(
            record.lang,
            "invalid",
            reason=result.reason.text(record.lang),
            offer_help=offer,
            has_why=step.question.help is not None,
            flow=record.flow,
        )
        await send(bot, chat_id, record, text)
        await show_question(bot, chat_id, services, record)
        return
    engine = services.engines[record.flow]
    new_state = result.state
    value = new_state.answers.get(step.question.id)
    shown = engine.display(step.question, value, record.lang) if value is not None else ""
    await remove_keyboard(bot, chat_id, record, answered_text(services, record, step, shown))
    _record_consent(services, record, step, new_state)
    record.flow_state, record.selected, record.misses = new_state, [], 0
    await _enter_phase(bot, chat_id, services, state, record)


def _record_consent(
    services: Services, record: ChatRecord, step: Step, new_state: FlowState
) -> None:
    question = step.question
    if question.consent is None:
        return
    given = new_state.answers.get(question.id) == question.grants
    scope = str(question.consent)
    record.consents = [c for c in record.consents if c.get("scope") != scope]
    if given:
        consent = ConsentRecord(
            scope=scope,
            version=CONSENT_VERSION,
            text_hash=consent_hash(
                services, record.lang, question.text.get(record.lang), record.flow
            ),
            at=utc_iso(services.clock.now()),
        )
        record.consents.append(
            {
                "scope": consent.scope,
                "version": consent.version,
                "text_hash": consent.text_hash,
                "at": consent.at,
                "given": True,
            }
        )


async def _enter_phase(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord
) -> None:
    assert record.flow is not None and record.flow_state is not None
    phase = record.flow_state.phase
    if phase == Phase.ENDED:
        end = services.engines[record.flow].flow.end(record.flow_state.end_code or "")
        text = services.renderer.render(
            record.lang,
            "ended",
            message=end.text.get(record.lang) if end else "",
            # privacy_context may carry a "flow" of its own: this one wins, no duplicate keyword.
            **{**privacy_context(services), "flow": record.flow},
        )
        await services.funnel.count(f"{record.flow}:ended:{record.flow_state.end_code}")
        record.reset_intake()
        await state.set_state(None)
        await send(bot, chat_id, record, text)
    elif phase == Phase.SUMMARY:
        await state.set_state(IntakeStates.summary)
        await show_summary(bot, chat_id, services, record)
    else:
        await state.set_state(IntakeStates.asking)
        await show_question(bot, chat_id, services, record)


# -- summary and finishing --------------------------------------------------------------------


async def cb_summary(
    callback: CallbackQuery,
    callback_data: SummaryCb,
    state: FSMContext,
    services: Services,
    bot: Bot,
) -> None:
    record = await load_record(state, callback.from_user, services)
    if callback_data.action == "ok" and record.flow is None and record.last_intake is not None:
        # A second tap on "Klopt" while the first was handled: the intake is sent. Say so, and
        # leave the screen after it (the offer to delete the chat) as it is.
        number = record.last_intake
        await callback.answer(services.renderer.render(record.lang, "already_sent", number=number))
        return
    await callback.answer()
    chat_id = callback.from_user.id
    current = await state.get_state()
    on_screen = (
        callback.message is not None and callback.message.message_id == record.screen_message_id
    )
    right_flow = record.flow is not None and FLOW_CODES.get(record.flow) == callback_data.f
    if not (on_screen and right_flow) or current not in (
        IntakeStates.summary.state,
        IntakeStates.editing.state,
    ):
        await _stale(bot, chat_id, services, state, record)
    else:
        await _summary_action(
            bot,
            chat_id,
            services,
            state,
            record,
            callback_data.action,
            callback_data.q,
            callback.from_user,
        )
    await chat_state.save(state, record)


async def _summary_action(
    bot: Bot,
    chat_id: int,
    services: Services,
    state: FSMContext,
    record: ChatRecord,
    action: str,
    index: int,
    user: User,
) -> None:
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    if action == "ok":
        await finish(bot, chat_id, services, state, record, user)
    elif action == "back":
        await _go_back(bot, chat_id, services, state, record)
    elif action == "edit":
        await remove_keyboard(bot, chat_id, record)
        editable = _editable(services, record)
        text = services.renderer.render(
            record.lang, "edit_pick", count=len(editable), flow=record.flow
        )
        markup = services.keyboards.edit_choices(record.flow, record.lang, editable)
        await state.set_state(IntakeStates.editing)
        await send(bot, chat_id, record, text, markup, screen=True)
    elif action == "pick" and 0 <= index < len(engine.flow.questions):
        result = engine.edit(record.flow_state, engine.flow.questions[index].id)
        if isinstance(result, Rejected):
            await send(bot, chat_id, record, result.reason.text(record.lang))
            await state.set_state(IntakeStates.summary)
            await show_summary(bot, chat_id, services, record)
        else:
            record.flow_state, record.selected, record.misses = result.state, [], 0
            await remove_keyboard(bot, chat_id, record)
            await state.set_state(IntakeStates.asking)
            await show_question(bot, chat_id, services, record)
    else:
        await state.set_state(IntakeStates.summary)
        await show_summary(bot, chat_id, services, record)


def _editable(services: Services, record: ChatRecord) -> list[tuple[int, str]]:
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    result = []
    for n, line in enumerate(
        (line for line in engine.summary(record.flow_state, record.lang) if line.editable), start=1
    ):
        index = engine.flow.position(line.question.id)
        text = line.question.label(record.lang)
        short = text if len(text) <= 48 else text[:46].rstrip() + "…"
        result.append((index, f"{n}. {short}"))
    return result


async def typed_in_summary(
    message: Message, state: FSMContext, services: Services, bot: Bot
) -> None:
    record = await load_record(state, message.from_user, services)
    record.track(message.message_id)
    text = _fold_words(message.text or "")
    user = message.from_user
    assert user is not None

    def names(*keys: str) -> bool:
        # The text is one of these buttons' labels, in either language.
        return any(text == _fold_words(label(lang, k)) for k in keys for lang in ("nl", "en"))

    if _asking_stop(record):
        await _typed_stop(bot, message.chat.id, services, state, record, message.text or "")
    elif await state.get_state() == IntakeStates.editing.state:
        editable = _editable(services, record)
        if text.isdigit() and 1 <= int(text) <= len(editable):
            await _summary_action(
                bot,
                message.chat.id,
                services,
                state,
                record,
                "pick",
                editable[int(text) - 1][0],
                user,
            )
        elif text in ("terug", "back", "annuleren", "cancel") or names("cancel_edit"):
            await _summary_action(bot, message.chat.id, services, state, record, "cancel", -1, user)
        else:
            await send(
                bot,
                message.chat.id,
                record,
                services.renderer.render(record.lang, "pick_number", count=len(editable)),
            )
            await _summary_action(bot, message.chat.id, services, state, record, "edit", -1, user)
    elif text in ("klopt", "ja", "ok", "yes", "correct", "1", "versturen", "send") or names(
        "summary_ok"
    ):
        await _summary_action(bot, message.chat.id, services, state, record, "ok", -1, user)
    elif text in ("wijzigen", "wijzig", "change", "2", "edit") or names("summary_edit"):
        await _summary_action(bot, message.chat.id, services, state, record, "edit", -1, user)
    elif text in ("terug", "back", "3") or names("back"):
        await _summary_action(bot, message.chat.id, services, state, record, "back", -1, user)
    else:
        await send(
            bot,
            message.chat.id,
            record,
            services.renderer.render(record.lang, "summary_hint", flow=record.flow),
        )
        await show_summary(bot, message.chat.id, services, record)
    await chat_state.save(state, record)


async def finish(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord, user: User
) -> None:
    """Store the confirmed intake, queue it for the coordinators, and show the outcome."""
    assert record.flow is not None and record.flow_state is not None
    flow = record.flow
    engine = services.engines[flow]
    outcome = engine.outcome(record.flow_state)
    answers = {
        line.question.id: record.flow_state.answers[line.question.id]
        for line in engine.summary(record.flow_state, record.lang)
    }
    name_q = engine.flow.name_question
    name = str(answers.get(name_q, "")) if name_q else ""
    now = utc_iso(services.clock.now())
    intake = Intake(
        number="",
        kind=IntakeKind(record.flow),
        created_at=now,
        updated_at=now,
        user_id=user.id,
        chat_id=chat_id,
        language=record.lang,
        flow_version=engine.flow.version,
        answers=answers,
        outcome=outcome.to_dict(),
        name=name,
        target_groups=outcome.target_group_codes,
        routes=outcome.route_codes,
        consents=[ConsentRecord(**c) for c in record.consents],
    )
    intake.history.append(_history(now, "person", "submitted", record.role or ""))
    # Stored and queued before the person is told: a crash after this point loses nothing.
    stored = await services.intakes.add(intake)
    await queue_new_intake(services, stored)
    await services.funnel.count(f"{record.flow}:finished")
    log.info("intake %s submitted (%s)", stored.number, stored.kind)
    await remove_keyboard(bot, chat_id, record)
    text = services.renderer.render(
        record.lang,
        "outcome",
        number=stored.number,
        target_groups=[f.to_dict() for f in outcome.target_groups],
        routes=[f.to_dict() for f in outcome.routes],
        contact=_contact_text(services, record, answers),
        sensitive_skipped=_sensitive_skipped(services, record),
        **privacy_context(services, record.flow),
    )
    record.reset_intake()
    record.last_intake = stored.number
    await state.set_state(None)
    await send(bot, chat_id, record, text)
    after = services.renderer.render(record.lang, "after_submit", flow=flow)
    await send(bot, chat_id, record, after, services.keyboards.after(record.lang), screen=True)


def _history(at: str, by: str, action: str, detail: str) -> HistoryEntry:
    return HistoryEntry(at=at, by=by, action=action, detail=detail)


def _contact_text(services: Services, record: ChatRecord, answers: Mapping[str, object]) -> str:
    assert record.flow is not None
    engine = services.engines[record.flow]
    for qid in engine.flow.contact_questions:
        if qid in answers and engine.flow.question(qid).kind.has_options:
            value = answers[qid]
            if isinstance(value, str):
                return engine.display(engine.flow.question(qid), value, record.lang)
    return ""


def _sensitive_skipped(services: Services, record: ChatRecord) -> bool:
    assert record.flow is not None and record.flow_state is not None
    for q in services.engines[record.flow].flow.questions:
        if q.consent == "sensitive":
            return record.flow_state.answers.get(q.id) != q.grants
    return False


# -- stale buttons ----------------------------------------------------------------------------


async def _stale(
    bot: Bot, chat_id: int, services: Services, state: FSMContext, record: ChatRecord
) -> None:
    """A button from an old message, another flow, or data that does not parse."""
    await send(
        bot,
        chat_id,
        record,
        services.renderer.render(
            record.lang, "stale", busy=record.flow is not None, flow=record.flow
        ),
    )
    if record.flow is not None:
        await show_current(bot, chat_id, services, record, state)
    else:
        await state.set_state(IntakeStates.choosing_role)
        await show_welcome(bot, chat_id, services, record)


def build_router() -> Router:
    """A new router with these handlers, in the order they are tried.

    Each Dispatcher needs its own: aiogram attaches a router to one parent only, so a module-level
    router would make a second `create_dispatcher` (a test, a restart in one process) fail.
    """
    router = Router(name=__name__)
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())
    router.callback_query.register(cb_role, RoleCb.filter())
    router.callback_query.register(cb_language, LangCb.filter())
    router.callback_query.register(cb_stop, StopCb.filter())
    router.callback_query.register(cb_answer, ASKING, AnswerCb.filter())
    router.callback_query.register(cb_toggle, ASKING, ToggleCb.filter())
    router.callback_query.register(cb_nav, NavCb.filter())
    router.callback_query.register(cb_summary, SummaryCb.filter())
    commands = command_router(__name__)
    commands.message.register(cmd_start, CommandStart())
    commands.message.register(cmd_language, Command("taal", "language"))
    commands.message.register(cmd_help, Command("help", "hulp"))
    commands.message.register(cmd_human, Command("mens", "human"))
    commands.message.register(cmd_stop, Command("stop", "cancel"))
    commands.message.register(cmd_back, Command("terug", "back"))
    texts = Router(name=f"{__name__}:answers")
    texts.message.filter(HasText())
    texts.message.register(typed_answer, ASKING)
    texts.message.register(typed_role, StateFilter(IntakeStates.choosing_role))
    texts.message.register(
        typed_in_summary, StateFilter(IntakeStates.summary, IntakeStates.editing)
    )
    router.include_routers(commands, texts)
    return router


__all__ = ["build_router", "start_flow"]

"""The guided intake in a private chat: start, answers by button or typed, back, summary, finish.

Each handler translates the update, asks the engine and queues what to show on its `Chat`; the
middleware (bot/chat.py) loaded the record and commits it, with the queued calls, afterwards.
"""

from __future__ import annotations

import logging
import uuid
from typing import cast

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.chat import Chat
from bot.chat_state import ChatRecord, IntakeStates, ScreenKind
from bot.filters import HasText, PrivateChat
from bot.handlers.registry import command_router
from bot.i18n import label
from bot.keyboards import (
    FLOW_CODES,
    AnswerCb,
    ContactCb,
    LangCb,
    NavAction,
    NavCb,
    RoleCb,
    StopCb,
    SummaryAction,
    SummaryCb,
    ToggleCb,
)
from bot.screens import CONSENT_VERSION as CONSENT_VERSION
from bot.screens import (
    answered_text,
    consent_hash,
    flow_text,
    privacy_context,
    question_text,
    show_current,
    show_question,
    show_summary,
    show_welcome,
    text_values,
)
from bot.submit import request_contact
from flows.engine import FlowState, Phase, Rejected, Result, Step
from flows.model import ConsentScope, Kind, Language
from flows.records import ConsentRecord, utc_iso

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


def fold_words(text: str) -> str:
    """Text as compared with a button: lower case, letters, digits and single spaces."""
    return " ".join("".join(c for c in text.casefold() if c.isalnum() or c.isspace()).split())


def names_button(words: str, *keys: str) -> bool:
    """The folded text is one of these buttons' labels, in either language."""
    return any(words == fold_words(label(lang, k)) for k in keys for lang in ("nl", "en"))


# -- starting -------------------------------------------------------------------------------


def start_flow(chat: Chat, flow: str, role: str) -> None:
    services = chat.services
    engine = services.engines[flow]
    record = chat.record
    chat.retire_screen()
    record.reset_intake()
    record.flow, record.role = flow, role
    # "Ik help iemand die werk zoekt": the questions are about the person, until `filled_by`
    # says otherwise (flows.engine.Engine.for_someone_else).
    record.flow_state = engine.start(helper=role == "helper")
    record.started_at = utc_iso(services.clock.now())
    chat.count(f"{flow}:started")
    # A helper reads that the questions are about the person, and what that means for consent.
    chat.say(chat.render("privacy", helper=role == "helper", **privacy_context(services, flow)))
    show_question(chat)


async def cmd_start(message: Message, command: CommandObject, chat: Chat) -> None:
    record = chat.record
    record.track(message.message_id)
    flow = DEEP_LINKS.get((command.args or "").strip().lower())
    if record.flow is not None:
        # A stray /start must not throw away answers: say so and show where the person was.
        chat.say(chat.render("already_busy", flow=record.flow))
        show_current(chat)
    elif flow is not None:
        start_flow(chat, flow, flow)
    else:
        show_welcome(chat)


async def cb_role(
    callback: CallbackQuery, callback_data: RoleCb, chat: Chat, callback_answer: CallbackAnswer
) -> None:
    # Callback data comes from the client: a role no keyboard offers is forged, and must not be
    # stored as the intake's role.
    if chat.record.flow is not None or callback_data.role not in ROLES:
        stale(chat, callback_answer)
    else:
        start_role(chat, callback_data.role)


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


async def typed_role(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    role = role_in(message.text or "")
    if role is None:
        chat.say(chat.render("choose_role"))
        show_welcome(chat)
    else:
        start_role(chat, role)


def start_role(chat: Chat, role: str) -> None:
    """Start the intake a role picked on the welcome (a helper fills in the candidate's)."""
    flow = "employer" if role == "employer" else "candidate"
    start_flow(chat, flow, role)


# -- language, help, stop, back ---------------------------------------------------------------


async def cmd_language(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    chat.say(chat.render("choose_language"), chat.services.keyboards.languages())


async def cb_language(callback: CallbackQuery, callback_data: LangCb, chat: Chat) -> None:
    record = chat.record
    if callback_data.lang in ("nl", "en"):
        record.lang = cast(Language, callback_data.lang)
    if isinstance(callback.message, Message):
        chat.drop_keyboard(callback.message.message_id)
    chat.say(chat.render("language_set"))
    if record.flow is None:
        show_welcome(chat)
    else:
        show_current(chat)


async def cmd_help(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    explain(chat, "help")


async def cmd_human(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    human(chat)


def human(chat: Chat) -> None:
    """How to reach a person; during an intake, with the offer to have one contact them."""
    record = chat.record
    if not may_offer_contact(record):
        explain(chat, "human")
        return
    chat.say(chat.render("human", busy=False, **privacy_context(chat.services, record.flow)))
    ask_contact(chat)


def may_offer_contact(record: ChatRecord) -> bool:
    """A contact request sends the answers given so far: only once the general consent was
    given, once per intake, and not while the intake itself is being sent."""
    return (
        record.flow is not None
        and record.flow_state is not None
        and record.submitting is None
        and record.contact_request is None
        and any(c.get("scope") == "general" and c.get("given") for c in record.consents)
    )


def ask_contact(chat: Chat) -> None:
    chat.retire_screen()
    text = chat.render("contact_offer", flow=chat.record.flow)
    chat.say(text, chat.services.keyboards.contact_offer(chat.lang), screen=ScreenKind.CONTACT)


async def answer_contact(chat: Chat, yes: bool) -> None:
    record = chat.record
    if not yes or not may_offer_contact(record):
        show_current(chat)
        return
    # Named after this update: a replay of it after a restart finds the request already stored.
    request = await request_contact(chat, f"contact-{record.epoch}-{record.last_update}")
    record.contact_request = request.number
    chat.retire_screen()
    chat.say(chat.render("contact_sent", number=request.number, flow=record.flow))
    show_current(chat)


async def cb_contact(
    callback: CallbackQuery, callback_data: ContactCb, chat: Chat, callback_answer: CallbackAnswer
) -> None:
    if not chat.record.screen_is(ScreenKind.CONTACT) or not chat.is_screen(callback.message):
        stale(chat, callback_answer)
    else:
        await answer_contact(chat, bool(callback_data.yes))


def explain(chat: Chat, template: str) -> None:
    """A text beside the intake (help, how to reach a person); then, during an intake, the
    question the person was at, so they can go on."""
    record = chat.record
    busy = record.flow is not None
    chat.say(chat.render(template, busy=busy, **privacy_context(chat.services, record.flow)))
    if busy:
        show_current(chat)


async def cmd_stop(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    if chat.record.flow is None:
        chat.say(chat.render("nothing_to_stop"))
    else:
        ask_stop(chat)


def ask_stop(chat: Chat) -> None:
    chat.retire_screen()
    text = chat.render("stop_confirm", flow=chat.record.flow)
    chat.say(text, chat.services.keyboards.stop_confirm(chat.lang), screen=ScreenKind.STOP)


def typed_stop(chat: Chat, text: str) -> None:
    """A typed answer to "Wil je echt stoppen?" (its buttons can be typed too)."""
    words = fold_words(text)
    if words in ("ja", "j", "yes", "y", "1", "stop", "stoppen") or names_button(words, "stop_yes"):
        stop(chat)
    elif words in ("nee", "n", "no", "2", "verder", "doorgaan") or names_button(words, "stop_no"):
        show_current(chat)
    else:
        ask_stop(chat)


def stop(chat: Chat) -> None:
    record = chat.record
    chat.retire_screen()
    current = record.flow_state.current if record.flow_state else None
    chat.count(f"{record.flow}:stopped:{current or 'summary'}")
    stopped = chat.render("stopped", flow=record.flow)
    record.reset_intake()
    chat.say(stopped)


async def cb_stop(
    callback: CallbackQuery, callback_data: StopCb, chat: Chat, callback_answer: CallbackAnswer
) -> None:
    if not chat.record.screen_is(ScreenKind.STOP) or not chat.is_screen(callback.message):
        stale(chat, callback_answer)
    elif callback_data.confirm:
        stop(chat)
    else:
        show_current(chat)


async def cmd_back(message: Message, chat: Chat) -> None:
    chat.record.track(message.message_id)
    go_back(chat)


def go_back(chat: Chat) -> None:
    record = chat.record
    if record.flow is None or record.flow_state is None:
        chat.say(chat.render("nothing_to_stop"))
        return
    result = chat.services.engines[record.flow].back(record.flow_state)
    if isinstance(result, Rejected):
        chat.say(result.reason.text(record.lang))
        show_current(chat)
        return
    record.flow_state, record.selected, record.misses = result.state, [], 0
    enter_phase(chat)


# -- answering --------------------------------------------------------------------------------


def _current_step(chat: Chat) -> Step | None:
    record = chat.record
    if record.flow is None or record.flow_state is None:
        return None
    return chat.services.engines[record.flow].step(record.flow_state)


def _is_current(chat: Chat, flow_code: str, index: int) -> bool:
    record = chat.record
    step = _current_step(chat)
    if step is None or record.flow is None or FLOW_CODES.get(record.flow) != flow_code:
        return False
    if not chat.record.screen_is(ScreenKind.QUESTION):
        return False
    return chat.services.engines[record.flow].flow.position(step.question.id) == index


async def cb_answer(
    callback: CallbackQuery, callback_data: AnswerCb, chat: Chat, callback_answer: CallbackAnswer
) -> None:
    record = chat.record
    step = _current_step(chat)
    if (
        step is None
        or not _is_current(chat, callback_data.flow, callback_data.question)
        or not 0 <= callback_data.option < len(step.question.options)
    ):
        stale(chat, callback_answer)
        return
    assert record.flow is not None and record.flow_state is not None
    option = step.question.options[callback_data.option]
    result = chat.services.engines[record.flow].answer(record.flow_state, option.code)
    apply(chat, step, result)


async def cb_toggle(
    callback: CallbackQuery, callback_data: ToggleCb, chat: Chat, callback_answer: CallbackAnswer
) -> None:
    record = chat.record
    step = _current_step(chat)
    if (
        step is None
        or not _is_current(chat, callback_data.flow, callback_data.question)
        or step.question.kind != Kind.MULTI
        or not 0 <= callback_data.option < len(step.question.options)
        or not chat.is_screen(callback.message)
    ):
        stale(chat, callback_answer)
        return
    option = step.question.options[callback_data.option]
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
    markup = chat.services.keyboards.question(
        record.flow, callback_data.question, record.lang, frozenset(record.selected)
    )
    # The tick is stored; if the old message cannot show it, the question is sent anew.
    chat.update_screen_keyboard(markup, question_text(chat.services, record, step))


async def cb_nav(
    callback: CallbackQuery, callback_data: NavCb, chat: Chat, callback_answer: CallbackAnswer
) -> None:
    if callback_data.action is NavAction.HUMAN:
        human(chat)
    elif not _is_current(chat, callback_data.flow, callback_data.question):
        stale(chat, callback_answer)
    else:
        nav(chat, callback_data.action)


NAV_ACTIONS = tuple(NavAction)
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


def typed_nav(text: str, step: Step) -> str | None:
    """The navigation button a typed text names ("klaar", "Terug", "ik wil een mens spreken")."""
    folded = fold_words(text)
    action = NAV_WORDS.get(folded) or next(
        (
            a
            for a in NAV_ACTIONS
            for lang in ("nl", "en")
            if folded and folded == fold_words(label(lang, a))
        ),
        None,
    )
    question = step.question
    if (action == "done" and question.kind != Kind.MULTI) or (
        action == "skip" and not question.optional
    ):
        return None
    return action


def nav(chat: Chat, action: str) -> None:
    """A navigation button on the question now on screen, pressed or typed."""
    record = chat.record
    step = _current_step(chat)
    assert step is not None and record.flow is not None and record.flow_state is not None
    if action == "human":
        human(chat)
    elif action == "back":
        go_back(chat)
    elif action == "why":
        help_ = step.question.help
        if help_ is not None:
            services, lang = chat.services, record.lang
            chat.say(
                chat.render(
                    "why",
                    purpose=flow_text(services, help_.purpose, lang),
                    who_sees=flow_text(services, help_.who_sees, lang),
                    kept=flow_text(services, help_.kept, lang),
                    # The retention question says how long itself; the others add it here.
                    about_retention=step.question.consent == ConsentScope.RETENTION,
                    flow=record.flow,
                    **text_values(services, lang),
                )
            )
        show_question(chat)
    else:
        engine = chat.services.engines[record.flow]
        if action == "done":
            result = engine.answer(record.flow_state, list(record.selected))
        else:
            result = engine.answer_text(record.flow_state, "")
        apply(chat, step, result)


async def typed_answer(message: Message, chat: Chat) -> None:
    record = chat.record
    record.track(message.message_id)
    step = _current_step(chat)
    if step is None or record.flow is None or record.flow_state is None:
        show_current(chat)
        return
    text = message.text or ""
    result = chat.services.engines[record.flow].answer_text(record.flow_state, text)
    # Every button can be typed: an answer that is no option may name a navigation button.
    action = typed_nav(text, step) if isinstance(result, Rejected) else None
    if action is not None:
        nav(chat, action)
    else:
        apply(chat, step, result)


def apply(chat: Chat, step: Step, result: Result) -> None:
    """Show the effect of an answer: the reason it was refused, or the next screen."""
    record = chat.record
    services = chat.services
    assert record.flow is not None
    if isinstance(result, Rejected):
        record.misses += 1
        offer = record.misses >= MISSES_BEFORE_HELP
        text = chat.render(
            "invalid",
            reason=result.reason.text(record.lang),
            offer_help=offer,
            has_why=step.question.help is not None,
            flow=record.flow,
        )
        chat.say(text)
        show_question(chat)
        return
    engine = services.engines[record.flow]
    new_state = result.state
    value = new_state.answers.get(step.question.id)
    shown = engine.display(step.question, value, record.lang) if value is not None else ""
    chat.retire_screen(answered_text(services, record, step, shown))
    _record_consent(chat, step, new_state)
    record.flow_state, record.selected, record.misses = new_state, [], 0
    enter_phase(chat)


def _record_consent(chat: Chat, step: Step, new_state: FlowState) -> None:
    record = chat.record
    services = chat.services
    question = step.question
    if question.consent is None:
        return
    given = new_state.answers.get(question.id) == question.grants
    scope = str(question.consent)
    engine = services.engines[record.flow or ""]
    record.consents = [c for c in record.consents if c.get("scope") != scope]
    if given:
        consent = ConsentRecord(
            scope=scope,
            version=CONSENT_VERSION,
            text_hash=consent_hash(
                services,
                record.lang,
                flow_text(services, step.text, record.lang),
                record.flow,
                helper=record.role == "helper",
            ),
            at=utc_iso(services.clock.now()),
            given_by=engine.consent_given_by(new_state, question.consent),
        )
        record.consents.append(
            {
                "scope": consent.scope,
                "version": consent.version,
                "text_hash": consent.text_hash,
                "at": consent.at,
                "given": True,
                "given_by": consent.given_by,
            }
        )


def enter_phase(chat: Chat) -> None:
    record = chat.record
    services = chat.services
    assert record.flow is not None and record.flow_state is not None
    phase = record.flow_state.phase
    if phase == Phase.ENDED:
        engine = services.engines[record.flow]
        end = engine.flow.end(record.flow_state.end_code or "")
        helper = engine.for_someone_else(record.flow_state)
        text = chat.render(
            "ended",
            message=end.text_for(helper).get(record.lang) if end else "",
            # privacy_context may carry a "flow" of its own: this one wins, no duplicate keyword.
            **{**privacy_context(services), "flow": record.flow},
        )
        chat.count(f"{record.flow}:ended:{record.flow_state.end_code}")
        chat.retire_screen()
        record.reset_intake()
        chat.say(text)
    elif phase == Phase.SUMMARY:
        show_summary(chat)
    else:
        show_question(chat)


# -- summary and finishing --------------------------------------------------------------------


async def cb_summary(
    callback: CallbackQuery,
    callback_data: SummaryCb,
    chat: Chat,
    callback_answer: CallbackAnswer,
) -> None:
    record = chat.record
    sent_already = record.flow is None and record.last_intake is not None
    if callback_data.action is SummaryAction.OK and (record.submitting is not None or sent_already):
        # A second tap on "Klopt" while the first was handled: the intake is (being) sent. Say
        # so, and leave the screen after it (the offer to delete the chat) as it is.
        if record.submitting is not None:
            callback_answer.text = label(record.lang, "being_sent")
        else:
            callback_answer.text = chat.render("already_sent", number=record.last_intake)
        return
    right_flow = record.flow is not None and FLOW_CODES.get(record.flow) == callback_data.flow
    if (
        not right_flow
        or not chat.is_screen(callback.message)
        or not record.screen_is(ScreenKind.SUMMARY, ScreenKind.EDITING)
    ):
        stale(chat, callback_answer)
    else:
        summary_action(chat, callback_data.action, callback_data.question)


def summary_action(chat: Chat, action: str, index: int) -> None:
    record = chat.record
    services = chat.services
    assert record.flow is not None and record.flow_state is not None
    engine = services.engines[record.flow]
    if action == "ok":
        finish(chat)
    elif action == "back":
        go_back(chat)
    elif action == "edit":
        chat.retire_screen()
        editable = _editable(chat)
        text = chat.render("edit_pick", count=len(editable), flow=record.flow)
        markup = services.keyboards.edit_choices(record.flow, record.lang, editable)
        chat.say(text, markup, screen=ScreenKind.EDITING)
    elif action == "pick" and 0 <= index < len(engine.flow.questions):
        result = engine.edit(record.flow_state, engine.flow.questions[index].id)
        if isinstance(result, Rejected):
            chat.say(result.reason.text(record.lang))
            show_summary(chat)
        else:
            record.flow_state, record.selected, record.misses = result.state, [], 0
            show_question(chat)
    else:
        show_summary(chat)


def _editable(chat: Chat) -> list[tuple[int, str]]:
    record = chat.record
    assert record.flow is not None and record.flow_state is not None
    engine = chat.services.engines[record.flow]
    result = []
    for n, line in enumerate(
        (line for line in engine.summary(record.flow_state, record.lang) if line.editable), start=1
    ):
        index = engine.flow.position(line.question.id)
        text = line.question.label(record.lang, engine.for_someone_else(record.flow_state))
        short = text if len(text) <= 48 else text[:46].rstrip() + "…"
        result.append((index, f"{n}. {short}"))
    return result


async def typed_in_summary(message: Message, chat: Chat) -> None:
    record = chat.record
    record.track(message.message_id)
    text = fold_words(message.text or "")
    if record.screen_is(ScreenKind.EDITING):
        editable = _editable(chat)
        if text.isdigit() and 1 <= int(text) <= len(editable):
            summary_action(chat, "pick", editable[int(text) - 1][0])
        elif text in ("terug", "back", "annuleren", "cancel") or names_button(text, "cancel_edit"):
            summary_action(chat, "cancel", -1)
        else:
            chat.say(chat.render("pick_number", count=len(editable)))
            summary_action(chat, "edit", -1)
    elif text in ("klopt", "ja", "ok", "yes", "correct", "1", "versturen", "send") or names_button(
        text, "summary_ok"
    ):
        summary_action(chat, "ok", -1)
    elif text in ("wijzigen", "wijzig", "change", "2", "edit") or names_button(
        text, "summary_edit"
    ):
        summary_action(chat, "edit", -1)
    elif text in ("terug", "back", "3") or names_button(text, "back"):
        summary_action(chat, "back", -1)
    else:
        chat.say(chat.render("summary_hint", flow=record.flow))
        show_summary(chat)


async def typed_in_confirmation(message: Message, chat: Chat) -> None:
    """Typed text while "Wil je echt stoppen?" is the screen (the rights confirmations have
    their own handler in bot/handlers/privacy.py, registered before this one)."""
    chat.record.track(message.message_id)
    if chat.record.screen_is(ScreenKind.CONTACT):
        await typed_contact(chat, message.text or "")
    else:
        typed_stop(chat, message.text or "")


async def typed_contact(chat: Chat, text: str) -> None:
    """A typed answer to "may a coordinator contact you?" (its buttons can be typed too). Not
    a number: one typed for the question before must not send anything by mistake."""
    words = fold_words(text)
    if words in ("ja", "j", "yes", "y") or names_button(words, "contact_yes"):
        await answer_contact(chat, True)
    elif words in ("nee", "n", "no", "verder") or names_button(words, "contact_no"):
        await answer_contact(chat, False)
    else:
        ask_contact(chat)


def finish(chat: Chat) -> None:
    """ "Klopt, versturen": mark the intake for submitting, in this update's commit.

    The intake is stored, the card queued and the person told their number by bot/submit.py
    right after the commit (and again after a restart, if it was cut off): the submit id makes
    that happen once, however often it runs.
    """
    record = chat.record
    chat.retire_screen()
    record.submitting = {"id": uuid.uuid4().hex, "at": utc_iso(chat.services.clock.now())}


# -- stale buttons ----------------------------------------------------------------------------


def stale(chat: Chat, callback_answer: CallbackAnswer | None = None) -> None:
    """A button from an old message, another flow, or data that does not parse.

    A tap gets a toast, not a new message: a second tap on a button just answered, or a tap on
    an older message, leaves the chat as it is, because the newest message shows where the
    person is. Only when an intake runs and nothing shows it (the screen was lost) is the
    current question sent again."""
    record = chat.record
    if callback_answer is not None:
        if chat.screen_pending() or record.submitting is not None:
            # The screen this press came before is still on its way: it will show where they are.
            callback_answer.text = label(record.lang, "wait_for_screen")
            return
        if record.screen is not None:
            callback_answer.text = label(record.lang, "stale_toast")
            return
        if record.flow is None:
            callback_answer.text = label(record.lang, "stale_idle_toast")
            return
    chat.say(chat.render("stale", busy=record.flow is not None, flow=record.flow))
    if record.flow is not None:
        show_current(chat)
    else:
        show_welcome(chat)


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
    router.callback_query.register(cb_contact, ContactCb.filter())
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
    texts = Router(name=f"{__name__}:confirming")
    texts.message.filter(HasText())
    texts.message.register(typed_in_confirmation, StateFilter(IntakeStates.confirming))
    router.include_routers(commands, texts)
    return router


def build_answers_router() -> Router:
    """The typed answers during an intake, tried first of everything in a private chat.

    They are the commonest update by far. No other private handler takes typed text in these
    states (the privacy router's typed text needs its confirm screen, state `confirming`), so
    trying them first changes no outcome and spares each answer the walk through the other
    routers (bench.step_bench).
    """
    texts = Router(name=f"{__name__}:answers")
    texts.message.filter(PrivateChat(), HasText())
    texts.message.register(typed_answer, ASKING)
    texts.message.register(typed_role, StateFilter(IntakeStates.choosing_role))
    texts.message.register(
        typed_in_summary, StateFilter(IntakeStates.summary, IntakeStates.editing)
    )
    return texts


__all__ = ["build_answers_router", "build_router", "start_flow"]

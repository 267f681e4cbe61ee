"""The coordinators' side in Telegram: card buttons, review commands, replies, and the relay.

Who: only the users in COORDINATOR_IDS (or, opted in, the group's members), in the coordinators'
group and in their private chat with the bot (`bot/coordinator/access.py`). Anybody else who tries
a coordinator command in the coordinators' group is told kindly that it is for coordinators; in
another group they get the unknown-command answer, and in a private chat the command is not
taken here at all, so the other routers answer it as any unknown command. A card or list button
pressed by somebody else gets a toast, and nothing changes.

What where: the group sees no personal data (bot/coordinator/cards.py). The card, /intakes and the
figures hold none; /intake, the "details" button, notes and /export go to the coordinator's
private chat (bot/coordinator/private.py), with a short line or a toast in the group; /zoek and a
filter on target group work only in a private chat. Each access is written to the intake's
audit trail with the coordinator's id (bot/coordinator/audit.py).

Claiming, the status workflow, notes and both relays are use cases (flows/usecases); the
handlers here translate an update into a call and the result into a toast or a reply.

Messages about an intake (card, card edits, messages to and from the person) go through the
durable outbox (`bot/handoff.py`, handed to the sender by `bot/delivery.py`). Direct answers to a
command (a list, a view, an export, the figures, a 👍) go to the sender at once and are kept in
memory only: paced and retried like everything else, but after a restart the coordinator asks
again. Only answers to button presses (answerCallbackQuery) are made here directly: Telegram
does not limit them, and they must not wait behind messages.

The person-side relay is a private-chat handler that runs before the intake's: it only takes a
text message when the person has no intake in progress (FSM state None) and a coordinator wrote
to them in the last RELAY_DAYS days, or when the message is a reply to a message the bot
delivered to them from a coordinator (`flows.usecases.reply_to_coordinator`). It goes to one
coordinator's private chat (bot/coordinator/relay.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.methods import (
    EditMessageText,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetMessageReaction,
)
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    ReactionTypeEmoji,
    ReplyParameters,
    User,
)

from bot.coordinator import audit, private, relay
from bot.coordinator.access import Coordinator, InCoordinatorGroup, in_private
from bot.coordinator.cards import (
    age_text,
    coordinator_lang,
    is_erased,
    list_line,
    local_time,
    number_in,
)
from bot.coordinator.export import export_files
from bot.coordinator.keyboards import CardAction, CardCb, ListCb, page_keyboard
from bot.coordinator.notices import OutboxHandoff
from bot.coordinator.stats import chart_png, figures
from bot.delivery import summarize
from bot.filters import NotPrivateChat, PrivateChat
from bot.handlers.registry import Handlers
from bot.i18n import label
from bot.sender import Sender
from bot.services import Services
from flows import usecases
from flows.model import ROUTE_CODES, TARGET_GROUP_CODES
from flows.ports import IntakeFilter
from flows.records import (
    Actor,
    HistoryAction,
    Intake,
    IntakeKind,
    Status,
    short,
    utc_iso,
)

log = logging.getLogger(__name__)


class NotAnIntakeAnswer(Filter):
    """Lets through every message but the commonest one: an answer typed during an intake.

    A private text that is no command, while an intake is in progress (FSM state set) and not a
    reply to one of the bot's messages, is never for this router (`PersonRelay` refuses it too),
    so one check here spares it the tests of every handler below.
    """

    async def __call__(self, message: Message, bot: Bot, raw_state: str | None = None) -> bool:
        if message.chat.type != "private" or raw_state is None:
            return True
        text = message.text
        if text is None or text.startswith("/"):
            return True
        reply = message.reply_to_message
        return reply is not None and reply.from_user is not None and reply.from_user.id == bot.id


handlers = Handlers(__name__, message=(NotAnIntakeAnswer(),))

COMMANDS = ("intakes", "intake", "zoek", "antwoord", "export", "stats", "wachtrij")
PAGE_SIZE = 10
SEARCH_LIMIT = 20
# How long a press on "details" or "note" waits to hear whether the private message went out.
DETAILS_WAIT = private.BUTTON_WAIT
KINDS = {"kandidaat": IntakeKind.CANDIDATE, "candidate": IntakeKind.CANDIDATE,
         "werkgever": IntakeKind.EMPLOYER, "employer": IntakeKind.EMPLOYER}  # fmt: skip


# -- sending ----------------------------------------------------------------------------------


def _answer(
    sender: Sender,
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
) -> None:
    """A direct answer to a coordinator, through the sender (see the module docstring)."""
    reply = (
        None
        if reply_to is None
        else ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
    )
    method = SendMessage(chat_id=chat_id, text=text, reply_markup=markup, reply_parameters=reply)
    sender.send_volatile(method, chat_id)


def _render(services: Services, template: str, /, **context: Any) -> str:
    return services.renderer.render(coordinator_lang(services), template, **context)


def _react(sender: Sender, message: Message) -> None:
    """A 👍 on the coordinator's message: done, without another message in the chat."""
    reaction = SetMessageReaction(
        chat_id=message.chat.id,
        message_id=message.message_id,
        reaction=[ReactionTypeEmoji(emoji="👍")],
    )
    sender.send_volatile(reaction, message.chat.id)


def _actor(user: User) -> Actor:
    return audit.actor(user)


def _group_line(services: Services, sender: Sender, message: Message, **context: Any) -> None:
    private.group_line(services, sender, message.chat.id, message.message_id, **context)


# -- review commands --------------------------------------------------------------------------


def _parse_filter(arg: str) -> IntakeFilter | None:
    token = arg.strip().casefold()
    if not token:
        return IntakeFilter()
    if token in {s.value for s in Status}:
        return IntakeFilter(status=Status(token))
    if token in KINDS:
        return IntakeFilter(kind=KINDS[token])
    if token in TARGET_GROUP_CODES:
        return IntakeFilter(target_group=token)
    if token in ROUTE_CODES:
        return IntakeFilter(route=token)
    return None


async def _list_page(
    services: Services, token: str, page: int, user: User, *, private_chat: bool
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of /intakes. Names only in a private chat, and only there is it audited: the
    group's list holds nothing about a person."""
    lang = coordinator_lang(services)
    found = _parse_filter(token) or IntakeFilter()
    result = await services.intakes.list(found, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, -(-result.total // PAGE_SIZE))
    text = _render(
        services,
        "coord_list",
        title=label(lang, "coord_list_all"),
        filter=token,
        total=result.total,
        page=page,
        pages=pages,
        items=[list_line(i, private=private_chat) for i in result.items],
        private=private_chat,
    )
    if private_chat:
        numbers = [i.number for i in result.items]
        await audit.record(services, numbers, _actor(user), HistoryAction.LISTED, audit.PRIVATE)
    return text, page_keyboard(token, page, pages, lang)


@handlers.message(Command("intakes"), Coordinator())
async def cmd_intakes(
    message: Message, command: CommandObject, services: Services, sender: Sender
) -> None:
    assert message.from_user is not None
    token = (command.args or "").strip().casefold()
    if _parse_filter(token) is None:
        text = _render(services, "coord_usage", command="intakes", bad=short(token, 40))
        _answer(sender, message.chat.id, text, reply_to=message.message_id)
        return
    private_chat = in_private(message)
    if token in TARGET_GROUP_CODES and not private_chat:
        # Which intakes said "wajong" is what a person says about the register: not for the group.
        _group_line(services, sender, message, key="filter", code=token)
        return
    text, markup = await _list_page(
        services, token, 0, message.from_user, private_chat=private_chat
    )
    _answer(sender, message.chat.id, text, markup)


@handlers.callback_query(ListCb.filter(), Coordinator())
async def cb_page(
    callback: CallbackQuery, callback_data: ListCb, services: Services, sender: Sender
) -> None:
    await callback.answer()
    private_chat = in_private(callback)
    token = callback_data.filter_token
    if (
        callback.message is None
        or _parse_filter(token) is None
        or callback_data.page < 0
        or (token in TARGET_GROUP_CODES and not private_chat)
    ):
        return
    text, markup = await _list_page(
        services, token, callback_data.page, callback.from_user, private_chat=private_chat
    )
    chat_id = callback.message.chat.id
    page = EditMessageText(
        text=text, chat_id=chat_id, message_id=callback.message.message_id, reply_markup=markup
    )
    sender.send_volatile(page, chat_id)


@handlers.message(Command("intake"), Coordinator())
async def cmd_intake(
    message: Message, command: CommandObject, services: Services, sender: Sender
) -> None:
    """The whole intake, in the coordinator's private chat (asked in the group: a line there)."""
    assert message.from_user is not None
    number = number_in((command.args or "").upper())
    if number is None:
        text = _render(services, "coord_usage", command="intake", bad="")
        _answer(sender, message.chat.id, text, reply_to=message.message_id)
        return
    intake = await services.intakes.get(number)
    if intake is None:
        _answer(sender, message.chat.id, _render(services, "coord_not_found", number=number))
        return
    private.show_intake(
        services,
        sender,
        intake,
        message.from_user,
        action=HistoryAction.VIEWED,
        group_chat=None if in_private(message) else message.chat.id,
        reply_to=message.message_id,
    )


@handlers.message(Command("zoek", "search"), Coordinator())
async def cmd_search(
    message: Message, command: CommandObject, services: Services, sender: Sender
) -> None:
    """Search by name: only in a private chat, where the names may be shown."""
    assert message.from_user is not None
    if not in_private(message):
        _group_line(services, sender, message, key="search")
        return
    query = " ".join((command.args or "").split())
    if len(query) < 2:
        text = _render(services, "coord_usage", command="zoek", bad="")
        _answer(sender, message.chat.id, text, reply_to=message.message_id)
        return
    found = list(await services.intakes.search_name(query, SEARCH_LIMIT))
    lang = coordinator_lang(services)
    text = _render(
        services,
        "coord_list",
        title=label(lang, "coord_search"),
        filter=short(query, 40),
        total=len(found),
        page=0,
        pages=1,
        items=[list_line(i, private=True) for i in found],
        private=True,
    )
    numbers = [i.number for i in found]
    by = _actor(message.from_user)
    await audit.record(services, numbers, by, HistoryAction.FOUND, audit.PRIVATE)
    _answer(sender, message.chat.id, text)


@handlers.message(Command("wachtrij", "queue"), Coordinator())
async def cmd_queue(message: Message, services: Services, sender: Sender) -> None:
    pending = list(await services.outbox.pending())
    summary = summarize(pending, services.clock.now())
    oldest = "-" if summary.oldest_seconds is None else age_text(summary.oldest_seconds)
    text = _render(
        services,
        "coord_queue",
        waiting=summary.waiting,
        group=summary.group,
        private=summary.private,
        oldest=oldest,
        last_error=summary.last_error,
        failed=summary.failed,
    )
    _answer(sender, message.chat.id, text)


@handlers.message(Command("export"), Coordinator())
async def cmd_export(message: Message, services: Services, sender: Sender) -> None:
    """CSV and XLSX of every intake, to the requester's private chat only."""
    user = message.from_user
    assert user is not None
    intakes = list(await services.intakes.all())
    now = services.clock.now()
    stamp = now.strftime("%Y%m%d-%H%M")
    # Off the event loop: building a workbook of thousands of rows takes a while.
    csv_bytes, xlsx_bytes = await asyncio.to_thread(export_files, intakes)
    caption = _render(
        services, "coord_export_caption", count=len(intakes), at=local_time(utc_iso(now))
    )
    files = (
        (csv_bytes, f"intakes-{stamp}.csv"),
        (xlsx_bytes, f"intakes-{stamp}.xlsx"),
    )
    export = private.Export(
        services,
        sender,
        [i.number for i in intakes],
        user,
        len(files),
        group_chat=None if in_private(message) else message.chat.id,
        reply_to=message.message_id,
    )
    for content, name in files:
        # In memory only: an export file is never written to disk.
        document = BufferedInputFile(content, filename=name)
        sender.put(export.call(SendDocument(chat_id=user.id, document=document, caption=caption)))
    log.info("export of %d intakes queued for a coordinator's private chat", len(intakes))


@handlers.message(Command("stats", "cijfers"), Coordinator())
async def cmd_stats(message: Message, services: Services, sender: Sender) -> None:
    intakes = list(await services.intakes.all())
    counts = await services.funnel.counts()
    lang = coordinator_lang(services)
    context = figures(intakes, counts, services.engines, lang)
    _answer(sender, message.chat.id, _render(services, "coord_stats", **context))
    png = await asyncio.to_thread(chart_png, intakes)
    chart = SendPhoto(
        chat_id=message.chat.id,
        photo=BufferedInputFile(png, filename="intakes-per-week.png"),
        caption=_render(services, "coord_stats_caption"),
    )
    sender.send_volatile(chart, message.chat.id)


@handlers.message(Command("antwoord", "reply"), Coordinator())
async def cmd_answer(
    message: Message, command: CommandObject, services: Services, sender: Sender
) -> None:
    assert message.from_user is not None
    parts = (command.args or "").strip().split(maxsplit=1)
    number = number_in(parts[0].upper()) if parts else None
    if number is None or len(parts) < 2 or not parts[1].strip():
        text = _render(services, "coord_usage", command="antwoord", bad="")
        _answer(sender, message.chat.id, text, reply_to=message.message_id)
        return
    intake = await services.intakes.get(number)
    if intake is None or not intake.chat_id:
        _answer(sender, message.chat.id, _render(services, "coord_not_found", number=number))
        return
    await _message_person(services, intake, parts[1], message.from_user)
    _react(sender, message)


async def _message_person(services: Services, intake: Intake, text: str, user: User) -> None:
    await usecases.message_person(
        intake, text, _actor(user), intakes=services.intakes, handoff=OutboxHandoff(services)
    )


@handlers.message(Command("help", "hulp", "start"), InCoordinatorGroup(), Coordinator())
async def cmd_help(message: Message, services: Services, sender: Sender) -> None:
    """In the coordinators' group /help lists the review commands (the intake runs elsewhere)."""
    _answer(sender, message.chat.id, _render(services, "coord_help"))


# -- non-coordinators -------------------------------------------------------------------------


@handlers.message(Command(*COMMANDS, "search", "queue", "cijfers", "reply"), NotPrivateChat())
async def not_for_you(message: Message, services: Services, sender: Sender) -> None:
    """In the coordinators' group: a kind word that this is for coordinators. In any other
    group a coordinator command is just an unknown command."""
    if message.chat.id == services.settings.COORDINATOR_CHAT_ID:
        _group_line(services, sender, message, key="not_coordinator")
        return
    text = _render(services, "unknown_command")
    _answer(sender, message.chat.id, text, reply_to=message.message_id)


# -- card buttons -----------------------------------------------------------------------------


@handlers.callback_query(CardCb.filter(), Coordinator())
async def cb_card(
    callback: CallbackQuery, callback_data: CardCb, services: Services, sender: Sender
) -> None:
    outcome = await _card_action(services, sender, callback_data, callback.from_user)
    # Waited for outside the intake's lock: a send says nothing about the intake.
    key = outcome if isinstance(outcome, str) else await _private_outcome(outcome, callback_data)
    text = _render(
        services, "coord_alert", key=key, number=callback_data.number, status=callback_data.status
    )
    await callback.answer(text, show_alert=key in ("start_bot", "gone", "same", "closed"))


async def _private_outcome(outcome: asyncio.Future[bool], data: CardCb) -> str:
    if not await private.in_time(outcome):
        return "start_bot"
    return "details_sent" if data.action is CardAction.DETAILS else "note_asked"


# The toast (coord_alert) for each result of a use case.
ALERTS: dict[type, str] = {
    usecases.Claimed: "claimed",
    usecases.AlreadyMine: "mine",
    usecases.Closed: "closed",
    usecases.Moved: "status",
    usecases.NotAllowed: "same",
    usecases.NotFound: "gone",
}


async def _card_action(
    services: Services, sender: Sender, data: CardCb, user: User
) -> str | asyncio.Future[bool]:
    number = data.number
    intakes, locks, clock = services.intakes, services.coordinator, services.clock
    handoff = OutboxHandoff(services)
    if data.action is CardAction.CLAIM:
        claimed = await usecases.claim(
            number, _actor(user), intakes=intakes, handoff=handoff, locks=locks, clock=clock
        )
        return ALERTS[type(claimed)]
    if data.action is CardAction.STATUS:
        moved = await usecases.move_status(
            number, data.status, _actor(user), intakes=intakes, handoff=handoff, locks=locks,
            clock=clock,
        )  # fmt: skip
        return ALERTS[type(moved)]
    intake = await services.intakes.get(number)
    if intake is None:
        return "gone"
    if data.action is CardAction.NOTE:
        if not usecases.may_add_note(intake):
            return "closed"
        return private.ask_note(services, sender, intake, user)
    if data.action is CardAction.DETAILS:
        if is_erased(intake):
            return "no_details"
        return private.show_intake(services, sender, intake, user, action=HistoryAction.DETAILS)
    return "gone"


@handlers.callback_query(CardCb.filter())
@handlers.callback_query(ListCb.filter())
async def button_not_for_you(callback: CallbackQuery, services: Services) -> None:
    await callback.answer(_render(services, "coord_alert", key="not_coordinator", number=""))


# -- replies to the bot's messages --------------------------------------------------------------


class ReplyToBot(Filter):
    """A text (not a command) that replies to one of the bot's own messages."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        reply = message.reply_to_message
        return (
            message.text is not None
            and not message.text.startswith("/")
            and reply is not None
            and reply.from_user is not None
            and reply.from_user.id == bot.id
        )


async def _replied_intake(services: Services, message: Message) -> Intake | None:
    replied = message.reply_to_message
    if replied is None:
        return None
    number = number_in(replied.text or replied.caption)
    return await services.intakes.get(number) if number else None


async def _add_note(services: Services, sender: Sender, intake: Intake, message: Message) -> None:
    assert message.from_user is not None
    await usecases.add_note(
        intake.number,
        message.text or "",
        _actor(message.from_user),
        intakes=services.intakes,
        clock=services.clock,
    )
    _react(sender, message)


@handlers.message(InCoordinatorGroup(), ReplyToBot(), Coordinator())
async def group_reply(message: Message, services: Services, sender: Sender) -> None:
    """A reply in the group: to the card (or a relay posted there before the relay went
    private) writes to the person; to a note prompt posted there before, adds the note."""
    assert message.reply_to_message is not None and message.from_user is not None
    intake = await _replied_intake(services, message)
    if intake is None:
        return  # a reply to a list or a figure: ordinary talk in the group
    replied = message.reply_to_message.message_id
    sent = await services.intakes.by_message(message.chat.id, replied)
    about = sent.action if sent is not None and sent.number == intake.number else None
    if about == HistoryAction.NOTE_ASKED:
        await _add_note(services, sender, intake, message)
    elif replied == intake.card_message_id or about == HistoryAction.RELAYED:
        if not intake.chat_id:
            text = _render(services, "coord_not_found", number=intake.number)
            _answer(sender, message.chat.id, text)
            return
        await _message_person(services, intake, message.text or "", message.from_user)
        _react(sender, message)
    else:
        text = _render(services, "coord_reply_hint", number=intake.number)
        _answer(sender, message.chat.id, text)


class NonTextReplyToBot(Filter):
    """A photo, file, sticker or voice message that replies to one of the bot's own messages."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        reply = message.reply_to_message
        return (
            message.text is None
            and reply is not None
            and reply.from_user is not None
            and reply.from_user.id == bot.id
        )


@handlers.message(InCoordinatorGroup(), NonTextReplyToBot(), Coordinator())
async def group_reply_not_text(message: Message, services: Services, sender: Sender) -> None:
    """Only text reaches the person: say so, instead of the fallback's "private chats only"."""
    intake = await _replied_intake(services, message)
    if intake is None:
        return  # a reply to a list or a figure: ordinary talk in the group
    text = _render(services, "coord_text_only", number=intake.number)
    _answer(sender, message.chat.id, text, reply_to=message.message_id)


class PrivateReplyTarget(Filter):
    """In a coordinator's private chat, a reply to a note prompt or to a person's relayed
    message; gives the intake and which of the two. Any other reply is not taken here."""

    async def __call__(self, message: Message, services: Services) -> bool | dict[str, Any]:
        if message.reply_to_message is None:
            return False
        sent = await services.intakes.by_message(
            message.chat.id, message.reply_to_message.message_id
        )
        if sent is None or sent.action not in (HistoryAction.NOTE_ASKED, HistoryAction.RELAYED):
            return False
        intake = await services.intakes.get(sent.number)
        if intake is None:
            return False
        return {"reply_intake": intake, "reply_to_note": sent.action == HistoryAction.NOTE_ASKED}


@handlers.message(PrivateChat(), ReplyToBot(), Coordinator(), PrivateReplyTarget())
async def private_reply(
    message: Message,
    reply_intake: Intake,
    reply_to_note: bool,
    services: Services,
    sender: Sender,
) -> None:
    assert message.from_user is not None
    if reply_to_note:
        await _add_note(services, sender, reply_intake, message)
        return
    if not reply_intake.chat_id:
        _answer(
            sender,
            message.chat.id,
            _render(services, "coord_not_found", number=reply_intake.number),
        )
        return
    await _message_person(services, reply_intake, message.text or "", message.from_user)
    _react(sender, message)


# -- the person's side: relay replies to a coordinator -----------------------------------------


class PersonRelay(Filter):
    """A person's text that answers a coordinator (see the module docstring); gives the intake."""

    async def __call__(
        self, message: Message, services: Services, bot: Bot, raw_state: str | None = None
    ) -> bool | dict[str, Any]:
        if message.chat.type != "private" or message.from_user is None:
            return False
        text = message.text
        if text is None or text.startswith("/"):
            return False
        reply = message.reply_to_message
        replied_bot = (
            reply is not None and reply.from_user is not None and reply.from_user.id == bot.id
        )
        if raw_state is not None and not replied_bot:
            return False  # an intake is in progress: this text is an answer to it
        intake = await usecases.reply_to_coordinator(
            message.from_user.id,
            message.chat.id,
            reply.message_id if replied_bot and reply is not None else None,
            in_intake=raw_state is not None,
            intakes=services.intakes,
            clock=services.clock,
        )
        return {"relay_intake": intake} if intake is not None else False


@handlers.message(PersonRelay())
async def relay_from_person(message: Message, relay_intake: Intake, services: Services) -> None:
    await usecases.message_from_person(
        relay_intake,
        message.text or "",
        intakes=services.intakes,
        handoff=OutboxHandoff(services),
        may_receive=lambda user_id: relay.may_receive(services, user_id),
    )


def build_router() -> Router:
    """A new router for one Dispatcher (see bot.handlers.registry)."""
    return handlers.build()

"""The coordinators' side in Telegram: card buttons, review commands, replies, and the relay.

Everything here is for coordinators only (`bot/coordinator/access.py`). Anybody else who tries a
coordinator command in a group gets the unknown-command answer; in a private chat the command is
not taken here at all, so the other routers answer it exactly as any unknown command. A card
button pressed by somebody else gets the same text as a toast, and nothing of the intake.

Messages about an intake (card, card edits, notes prompts, messages to and from the person) go
through the durable outbox (`bot/handoff.py`, handed to the sender by `bot/delivery.py`). Direct
answers to a command (a list, a view, an export, the figures, a 👍) go to the sender at once and
are kept in memory only: paced and retried like everything else, but after a restart the
coordinator asks again. Only answers to button presses (answerCallbackQuery) are made here
directly: Telegram does not limit them, and they must not wait behind messages.

The person-side relay is a private-chat handler that runs before the intake's: it only takes a
text message when the person has no intake in progress (FSM state None) and a coordinator wrote
to them in the last RELAY_DAYS days, or when the message is a reply to a message the bot
delivered to them from a coordinator.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
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
from markupsafe import Markup, escape

from bot import handoff
from bot.coordinator.access import Coordinator, InCoordinatorGroup
from bot.coordinator.cards import (
    age_text,
    answer_lines,
    coordinator_lang,
    has_details,
    list_line,
    local_time,
    number_in,
    person_lang,
    short,
    view_context,
    who,
)
from bot.coordinator.export import export_files
from bot.coordinator.keyboards import NEXT_STATUSES, CardCb, ListCb, page_keyboard
from bot.coordinator.stats import chart_png, figures
from bot.delivery import summarize
from bot.filters import NotPrivateChat
from bot.handlers.registry import Handlers
from bot.i18n import label
from bot.logging_setup import pseudonym
from bot.sender import Sender, VolatileCall
from bot.services import Services
from flows.model import ROUTE_CODES, TARGET_GROUP_CODES
from flows.ports import IntakeFilter
from flows.records import HistoryEntry, Intake, IntakeKind, Note, Status, utc_iso

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
RELAY_DAYS = 14
MAX_RELAYED = 3000
# How long a press on "details" waits to hear whether the private message went out: a callback
# query must be answered within seconds, whatever the sender is waiting for.
DETAILS_WAIT = 5.0
# History actions this module writes (the audit trail shown in /intake).
TO_PERSON = "bericht-aan-persoon"
FROM_PERSON = "bericht-van-persoon"
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


def _unknown(message: Message, services: Services, sender: Sender) -> None:
    text = _render(services, "unknown_command")
    _answer(sender, message.chat.id, text, reply_to=message.message_id)


def _react(sender: Sender, message: Message) -> None:
    """A 👍 on the coordinator's message: done, without another message in the group."""
    reaction = SetMessageReaction(
        chat_id=message.chat.id,
        message_id=message.message_id,
        reaction=[ReactionTypeEmoji(emoji="👍")],
    )
    sender.send_volatile(reaction, message.chat.id)


def _actor(user: User) -> str:
    return who(user.id, user.full_name)


def _place(message: Message) -> str:
    return "privé" if message.chat.type == "private" else "groep"


async def _audit(
    services: Services, numbers: list[str], by: str, action: str, detail: str = ""
) -> None:
    at = utc_iso(services.clock.now())
    for number in numbers:
        await services.intakes.record(
            number, HistoryEntry(at=at, by=by, action=action, detail=detail)
        )


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
    services: Services, token: str, page: int, by: str, place: str
) -> tuple[str, InlineKeyboardMarkup | None]:
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
        items=[list_line(i) for i in result.items],
    )
    await _audit(services, [i.number for i in result.items], by, "bekeken-in-lijst", place)
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
    text, markup = await _list_page(services, token, 0, _actor(message.from_user), _place(message))
    _answer(sender, message.chat.id, text, markup)


@handlers.callback_query(ListCb.filter(), Coordinator())
async def cb_page(
    callback: CallbackQuery, callback_data: ListCb, services: Services, sender: Sender
) -> None:
    await callback.answer()
    if callback.message is None or _parse_filter(callback_data.f) is None or callback_data.p < 0:
        return
    place = "privé" if callback.message.chat.type == "private" else "groep"
    text, markup = await _list_page(
        services, callback_data.f, callback_data.p, _actor(callback.from_user), place
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
    private = message.chat.type == "private"
    await _audit(services, [number], _actor(message.from_user), "bekeken", _place(message))
    intake = await services.intakes.get(number) or intake  # show this view in the history too
    text = _render(services, "coord_intake", **view_context(services, intake, private=private))
    _answer(sender, message.chat.id, text)


@handlers.message(Command("zoek", "search"), Coordinator())
async def cmd_search(
    message: Message, command: CommandObject, services: Services, sender: Sender
) -> None:
    assert message.from_user is not None
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
        items=[list_line(i) for i in found],
    )
    await _audit(
        services,
        [i.number for i in found],
        _actor(message.from_user),
        "gevonden-bij-zoeken",
        _place(message),
    )
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


class ExportAudit:
    """The files of one /export, audited together once each was sent or failed for good: one
    history entry per intake naming the messages that were sent (`msg:<chat>:<id>` lets erasure
    find and delete them, bot/privacy.py)."""

    def __init__(
        self, services: Services, numbers: list[str], by: str, chat_id: int, files: int
    ) -> None:
        self.services = services
        self.numbers = numbers
        self.by = by
        self.chat_id = chat_id
        self._left = files
        self._sent: list[str] = []

    def call(self, method: SendDocument) -> VolatileCall:
        return VolatileCall(
            method, self.chat_id, on_sent=self._sent_one, on_failed=self._failed_one
        )

    async def _sent_one(self, result: Any) -> None:
        if isinstance(result, Message):
            self._sent.append(f"msg:{result.chat.id}:{result.message_id}")
        await self._settled()

    async def _failed_one(self, error: BaseException) -> None:
        log.warning("an export file was not sent: %s", type(error).__name__)
        await self._settled()

    async def _settled(self) -> None:
        self._left -= 1
        if self._left == 0 and self._sent:
            await _audit(self.services, self.numbers, self.by, "export", " ".join(self._sent))


@handlers.message(Command("export"), Coordinator())
async def cmd_export(message: Message, services: Services, sender: Sender) -> None:
    assert message.from_user is not None
    intakes = list(await services.intakes.all())
    now = services.clock.now()
    stamp = now.strftime("%Y%m%d-%H%M")
    # Off the event loop: building a workbook of thousands of rows takes a while.
    csv_bytes, xlsx_bytes = await asyncio.to_thread(export_files, intakes)
    caption = _render(
        services, "coord_export_caption", count=len(intakes), at=local_time(utc_iso(now))
    )
    chat_id = message.chat.id
    files = (
        (csv_bytes, f"intakes-{stamp}.csv"),
        (xlsx_bytes, f"intakes-{stamp}.xlsx"),
    )
    numbers = [i.number for i in intakes]
    audit = ExportAudit(services, numbers, _actor(message.from_user), chat_id, len(files))
    for content, name in files:
        # In memory only: an export file is never written to disk.
        document = BufferedInputFile(content, filename=name)
        sender.put(audit.call(SendDocument(chat_id=chat_id, document=document, caption=caption)))
    log.info("export of %d intakes queued for the %s", len(intakes), _place(message))


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


def fit_escaped(text: str, limit: int) -> str:
    """The text cut so that it is at most `limit` characters once escaped for Telegram HTML.

    A cut after escaping would have to drop whole lines (bot/render.py `fit`), which for a
    one-line message is all of it; `'` and `"` grow to five characters when escaped.
    """
    size = 0
    for i, char in enumerate(text):
        size += len(escape(char))
        if size > limit:
            return text[:i].rstrip() + "…"
    return text


async def _message_person(services: Services, intake: Intake, text: str, user: User) -> None:
    body = services.renderer.render(
        person_lang(services, intake),
        "person_message",
        number=intake.number,
        text=fit_escaped(text.strip(), MAX_RELAYED),
        flow=str(intake.kind),
    )
    await handoff.queue_to_person(services, intake, body)
    await services.intakes.update(intake.number, _actor(user), TO_PERSON, short(text, 200))


@handlers.message(Command("help", "hulp", "start"), InCoordinatorGroup(), Coordinator())
async def cmd_help(message: Message, services: Services, sender: Sender) -> None:
    """In the coordinators' group /help lists the review commands (the intake runs elsewhere)."""
    _answer(sender, message.chat.id, _render(services, "coord_help"))


# -- non-coordinators -------------------------------------------------------------------------


@handlers.message(Command(*COMMANDS, "search", "queue", "cijfers", "reply"), NotPrivateChat())
async def not_for_you(message: Message, services: Services, sender: Sender) -> None:
    """Outside the coordinators' reach a coordinator command is just an unknown command."""
    _unknown(message, services, sender)


# -- card buttons -----------------------------------------------------------------------------


@handlers.callback_query(CardCb.filter(), Coordinator())
async def cb_card(
    callback: CallbackQuery, callback_data: CardCb, services: Services, sender: Sender
) -> None:
    user = callback.from_user
    lang = coordinator_lang(services)
    async with services.coordinator.lock(callback_data.n):
        intake = await services.intakes.get(callback_data.n)
        outcome = (
            "gone"
            if intake is None
            else await _card_action(services, sender, intake, callback_data, user)
        )
    if intake is None:
        await callback.answer(
            _render(services, "coord_alert", key="gone", number=callback_data.n), show_alert=True
        )
        return
    # Waited for outside the lock: a send says nothing about the intake.
    key = outcome if isinstance(outcome, str) else await _details_outcome(outcome)
    status = label(lang, f"coord_to_{callback_data.s}") if key == "status" else ""
    text = _render(services, "coord_alert", key=key, number=intake.number, status=status)
    await callback.answer(text, show_alert=key in ("start_bot", "gone", "same", "closed"))


async def _card_action(
    services: Services, sender: Sender, intake: Intake, data: CardCb, user: User
) -> str | asyncio.Future[str]:
    if data.a == "claim":
        return await _claim(services, intake, user)
    if data.a == "status":
        return await _move(services, intake, data.s, user)
    if data.a == "note":
        return await _ask_note(services, intake, user)
    if data.a == "details":
        return _details(services, sender, intake, user)
    return "gone"


async def _claim(services: Services, intake: Intake, user: User) -> str:
    if intake.status.is_closed:
        return "closed"
    if intake.assignee_id == user.id:
        return "mine"
    first = intake.status is Status.NIEUW
    detail = f"was {intake.assignee_name}" if intake.assignee_name else ""
    updated = await services.intakes.update(
        intake.number,
        _actor(user),
        "opgepakt",
        detail,
        status=Status.OPGEPAKT if first else None,
        assignee_id=user.id,
        assignee_name=user.full_name,
    )
    if updated is None:
        return "gone"
    await handoff.queue_card_update(services, updated)
    if first:
        await handoff.tell_person_status(services, updated, "person_picked_up")
        await services.intakes.record(
            updated.number,
            HistoryEntry(utc_iso(services.clock.now()), "bot", "persoon-ingelicht", "opgepakt"),
        )
    return "claimed"


async def _move(services: Services, intake: Intake, target: str, user: User) -> str:
    try:
        new = Status(target)
    except ValueError:
        return "same"
    if new not in NEXT_STATUSES[intake.status]:
        return "same"
    updated = await services.intakes.update(
        intake.number, _actor(user), "status", f"{intake.status.value} -> {new.value}", status=new
    )
    if updated is None:
        return "gone"
    await handoff.queue_card_update(services, updated)
    if new in (Status.GEPLAATST, Status.AFGESLOTEN):
        await handoff.tell_person_status(services, updated, "person_closed")
        await services.intakes.record(
            updated.number,
            HistoryEntry(utc_iso(services.clock.now()), "bot", "persoon-ingelicht", "afgesloten"),
        )
    return "status"


async def _ask_note(services: Services, intake: Intake, user: User) -> str:
    mention = Markup('<a href="tg://user?id={}">{}</a>').format(user.id, short(user.first_name, 40))
    text = _render(services, "coord_note_prompt", number=intake.number, mention=mention)
    await handoff.queue_under_card(services, intake, text, purpose=handoff.NOTE_PROMPT)
    return "note_asked"


def _details(
    services: Services, sender: Sender, intake: Intake, user: User
) -> str | asyncio.Future[str]:
    """Queue the sensitive answers to the coordinator's private chat; the future says whether
    they got there ("details_sent") or cannot ("start_bot")."""
    if not has_details(services, intake):
        return "no_details"
    text = _render(
        services,
        "coord_details",
        number=intake.number,
        name=short(intake.name, 80),
        answers=answer_lines(services, intake, sensitive=True),
    )
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def sent(_: Any) -> None:
        if not outcome.done():
            outcome.set_result("details_sent")
        await _audit(services, [intake.number], _actor(user), "details-bekeken", "privé")

    async def failed(error: BaseException) -> None:
        # Mostly: the coordinator never pressed Start in a private chat with the bot (or
        # blocked it).
        log.info(
            "details for %s not sent to %s: %s",
            intake.number,
            pseudonym(user.id),
            type(error).__name__,
        )
        if not outcome.done():
            outcome.set_result("start_bot")

    method = SendMessage(chat_id=user.id, text=text)
    sender.put(VolatileCall(method, user.id, on_sent=sent, on_failed=failed))
    return outcome


async def _details_outcome(outcome: asyncio.Future[str]) -> str:
    """Whether the details went out; after DETAILS_WAIT they are taken to be on their way (the
    sender still delivers them; a retry after a 429 can take longer than a button may wait)."""
    try:
        return await asyncio.wait_for(asyncio.shield(outcome), timeout=DETAILS_WAIT)
    except TimeoutError:
        return "details_sent"


@handlers.callback_query(CardCb.filter())
@handlers.callback_query(ListCb.filter())
async def button_not_for_you(callback: CallbackQuery, services: Services) -> None:
    await callback.answer(_render(services, "unknown_command"))


# -- replies in the coordinators' group ---------------------------------------------------------


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


def _ids(intake: Intake, action: str) -> set[int]:
    found: set[int] = set()
    for entry in intake.history:
        if entry.action != action:
            continue
        for part in entry.detail.split():
            tail = part.rsplit(":", 1)[-1]
            if tail.isdigit():
                found.add(int(tail))
    return found


@handlers.message(InCoordinatorGroup(), ReplyToBot(), Coordinator())
async def group_reply(message: Message, services: Services, sender: Sender) -> None:
    assert message.reply_to_message is not None and message.from_user is not None
    replied = message.reply_to_message
    number = number_in(replied.text or replied.caption)
    intake = await services.intakes.get(number) if number else None
    if intake is None:
        return  # a reply to a list or a figure: ordinary talk in the group
    replied_id = replied.message_id
    text = message.text or ""
    if replied_id in _ids(intake, "notitie-gevraagd"):
        note = Note(
            at=utc_iso(services.clock.now()), by=message.from_user.full_name, text=text.strip()
        )
        updated = await services.intakes.update(
            intake.number, _actor(message.from_user), "notitie", "", note=note
        )
        if updated is not None:
            await handoff.queue_card_update(services, updated)
        _react(sender, message)
    elif replied_id == intake.card_message_id or replied_id in _ids(intake, "doorgestuurd"):
        if not intake.chat_id:
            _answer(
                sender,
                message.chat.id,
                _render(services, "coord_not_found", number=intake.number),
            )
            return
        await _message_person(services, intake, text, message.from_user)
        _react(sender, message)
    else:
        _answer(
            sender,
            message.chat.id,
            _render(services, "coord_reply_hint", number=intake.number),
        )


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
    assert message.reply_to_message is not None
    replied = message.reply_to_message
    number = number_in(replied.text or replied.caption)
    intake = await services.intakes.get(number) if number else None
    if intake is None:
        return  # a reply to a list or a figure: ordinary talk in the group
    text = _render(services, "coord_text_only", number=intake.number)
    _answer(sender, message.chat.id, text, reply_to=message.message_id)


# -- the person's side: relay replies back to the group -------------------------------------------


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
        intakes = [i for i in await services.intakes.for_user(message.from_user.id) if i.chat_id]
        if not intakes:
            return False
        if replied_bot and reply is not None:
            for intake in intakes:
                if reply.message_id in _ids(intake, "bericht-bezorgd"):
                    return {"relay_intake": intake}
            if raw_state is not None:
                return False
        cutoff = utc_iso(services.clock.now() - timedelta(days=RELAY_DAYS))
        best: tuple[str, Intake] | None = None
        for intake in intakes:
            for entry in intake.history:
                if (
                    entry.action == TO_PERSON
                    and entry.at >= cutoff
                    and (best is None or entry.at > best[0])
                ):
                    best = (entry.at, intake)
        return {"relay_intake": best[1]} if best is not None else False


@handlers.message(PersonRelay())
async def relay_from_person(message: Message, relay_intake: Intake, services: Services) -> None:
    intake = relay_intake
    text = message.text or ""
    relayed = services.renderer.render(
        coordinator_lang(services),
        "relay_from_person",
        number=intake.number,
        name=short(intake.name, 80),
        text=fit_escaped(text, MAX_RELAYED),
    )
    await handoff.queue_under_card(services, intake, relayed, purpose=handoff.RELAY)
    await services.intakes.update(intake.number, "person", FROM_PERSON, short(text, 200))
    ack = services.renderer.render(
        person_lang(services, intake), "person_relayed", number=intake.number, flow=str(intake.kind)
    )
    await handoff.queue_to_person(services, intake, ack, purpose=handoff.PERSON_ACK)
    log.info("message from the person of %s relayed to the coordinators", intake.number)


def build_router() -> Router:
    """A new router for one Dispatcher (see bot.handlers.registry)."""
    return handlers.build()

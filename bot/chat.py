"""One unit of work per update in a private chat: load once, decide, commit once, then send.

`ChatMiddleware` is an outer middleware on the parent router of the private-chat handlers. It
reads the conversation record once, hands the handler a `Chat` (the record plus methods that
queue replies and edits), and after the handler returns writes the new record *and* the queued
calls in one durable write, before anything is sent. Only then does the sender see the calls. A
handler that raises commits nothing; a handler that erased the person calls `forget()`, and
nothing about them is written back.

`ChatOutbox` is the sender's source for these calls: it builds each call from the stored record
when its turn comes (so a call of an erased record is never sent), and takes the result back:
the call is done and, for a send, the message id that later edits and the stale-button check
need. That result is kept in memory first (a `WriteBack`) and written with the record's next
write: the person's next step, usually seconds later, or a flush once it is
`SETTLED_FLUSH_AFTER` old. Everything that reads a record for a decision (`load`, `build`)
sees the results not yet written, so only a kill can lose them, and a lost one means that call
is sent again after the restart. A reply's result waits only while no other reply of that chat
is queued or being committed, so a kill sends at most one reply per chat twice, the window the
sender allows anyway (a call sent but not yet marked sent). Sent edits wait always: sending
one again changes nothing. Saving this write halves the durable writes of a step
(bench.step_bench). Every write of the record takes the chat's event lock, so none races a
handler of the same chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
    User,
)
from aiogram.types import (
    Chat as TgChat,
)
from aiogram.utils.callback_answer import CallbackAnswerMiddleware

from bot.chat_state import ChatRecord, Screen, ScreenKind, fsm_state, write_back
from bot.handoff import Purpose, queue_under_card
from bot.outgoing import (
    DELETE_MESSAGES,
    EDIT_MARKUP,
    EDIT_TEXT,
    SEND_DOCUMENT,
    SEND_MESSAGE,
    Call,
    markup_json,
)
from bot.sender import Sender
from bot.services import Services
from flows.model import Language
from flows.records import HistoryAction, HistoryEntry
from storage.base import ConversationStore

log = logging.getLogger(__name__)

# Telegram's deleteMessages takes at most 100 ids per call.
DELETE_BATCH = 100
# How long a sent call's result may wait for the record's next write (see ChatOutbox.sent).
SETTLED_FLUSH_AFTER = 30.0
# A record with no call queued and no submit under way, as `ChatRecord.to_dict` writes it
# (compact, in that key order; a neighbour key included, so no nested answer can match).
_NO_CALLS = ',"outbox":[],"epoch":'
_NO_SUBMIT = ',"submitting":null,"delete_failed":'


def _holds_call(text: str, call_id: str) -> bool:
    """Whether a record, as its stored JSON, still holds the call `call_id` in its outbox.

    Calls are written as objects with an `"id"` string of the record's epoch and the call's
    number (`ChatRecord.call_id`); no other field of the record has a string id in that form
    (the submit id has no dot), and inside a JSON string every quote is escaped, so a person's
    text cannot look like one. A call's `fallback` names the call that replaces it if it fails,
    which reaches the sender only once it replaced that call in the outbox. One search in the
    text costs far less than decoding the record, which this spares each call sent
    (bench.step_bench)."""
    return f'"id":"{call_id}"' in text


def language_of(user: User | None, default: Language) -> Language:
    code = (user.language_code or "") if user else ""
    if code.startswith("en"):
        return "en"
    if code.startswith("nl"):
        return "nl"
    return default


def load_record(raw: dict[str, Any], user: User | None, services: Services) -> ChatRecord:
    """The record as stored, fitted to the flows as they are now."""
    record = ChatRecord.from_dict(raw, language_of(user, services.settings.DEFAULT_LANGUAGE))
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
        record.screen = None
    return record


class Chat:
    """One private chat during one update: the record, and the calls the handler queues."""

    def __init__(
        self,
        services: Services,
        key: StorageKey,
        record: ChatRecord,
        user: User | None = None,
    ) -> None:
        self.services = services
        self.key = key
        self.record = record
        self.user = user
        self.calls: list[Call] = []
        self.counts: list[str] = []
        self.forgotten = False
        # Whether anything was stored for this chat before this update.
        self.was_stored = False
        # Calls to send after an erasure: kept in memory only, never stored.
        self.last_words: list[TelegramMethod[Any]] = []

    @property
    def id(self) -> int:
        return self.key.chat_id

    @property
    def user_id(self) -> int:
        return self.key.user_id

    @property
    def lang(self) -> Language:
        return self.record.lang

    def render(self, template: str, **context: Any) -> str:
        return self.services.renderer.render(self.record.lang, template, **context)

    # -- queueing --------------------------------------------------------------------------

    def _queue(self, call: Call) -> None:
        if (key := call.supersedes) is not None:
            # A later edit of the same message makes a waiting one useless.
            self.calls = [c for c in self.calls if c.supersedes != key]
            self.record.outbox = [
                c for c in self.record.outbox if Call.from_dict(c).supersedes != key
            ]
        self.calls.append(call)

    def say(
        self,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        screen: ScreenKind | None = None,
        track: bool = True,
    ) -> int:
        """Queue a message to the person; with `screen`, it becomes the screen on top (the
        caller takes the keyboard off the old one first). Returns its ref."""
        record = self.record
        ref = record.next_ref()
        params: dict[str, Any] = {"text": text}
        if markup is not None:
            params["reply_markup"] = markup_json(markup)
        call = Call(record.call_id(ref), self.id, SEND_MESSAGE, params, ref=ref, track=track)
        call.markup = markup
        self._queue(call)
        if screen is not None:
            record.screen = Screen(screen, ref)
        return ref

    def _edit_call(
        self, method: str, params: dict[str, Any], ref: int | None, mid: int | None
    ) -> Call:
        record = self.record
        if mid is not None:
            params["message_id"] = mid
            target = None
        else:
            target = ref
        call_id = record.call_id(record.next_ref())
        return Call(call_id, self.id, method, params, target=target, cosmetic=True)

    def count(self, key: str) -> None:
        """Count a funnel step (no link to the person), after the commit."""
        self.counts.append(key)

    def update_screen_keyboard(self, markup: InlineKeyboardMarkup, resend_text: str) -> None:
        """Show a changed keyboard (a tick) on the screen on top. If that message cannot be
        edited any more, the screen is sent anew with `resend_text`."""
        record = self.record
        screen = record.screen
        if screen is None or screen.message_id is None:
            return
        keyboard = markup_json(markup)
        ref = record.next_ref()
        again_params = {"text": resend_text, "reply_markup": keyboard}
        again = Call(record.call_id(ref), self.id, SEND_MESSAGE, again_params, ref=ref, track=True)
        params = {"reply_markup": keyboard, "message_id": screen.message_id}
        edit_id = record.call_id(record.next_ref())
        edit = Call(edit_id, self.id, EDIT_MARKUP, params, fallback=again.to_dict())
        edit.markup = markup
        self._queue(edit)

    def retire_screen(self, new_text: str | None = None) -> None:
        """Take the keyboard off the screen on top (showing `new_text` instead, if given)."""
        screen = self.record.screen
        if screen is None:
            return
        self.record.screen = None
        mid = (
            screen.message_id
            if screen.message_id is not None
            else self.record.message_of(screen.ref)
        )
        method, params = (EDIT_MARKUP, {}) if new_text is None else (EDIT_TEXT, {"text": new_text})
        self._queue(self._edit_call(method, params, screen.ref, mid))

    def drop_keyboard(self, message_id: int) -> None:
        """Take the keyboard off a message the update names (the one a button was pressed on)."""
        screen = self.record.screen
        if screen is not None and screen.message_id == message_id:
            self.retire_screen()
            return
        self._queue(self._edit_call(EDIT_MARKUP, {}, None, message_id))

    def send_document(self, content: str, filename: str) -> None:
        record = self.record
        ref = record.next_ref()
        params = {"document": {"content": content, "filename": filename}}
        self._queue(Call(record.call_id(ref), self.id, SEND_DOCUMENT, params, ref=ref, track=True))

    def say_when_deleted(self, template: str) -> None:
        """Queue `template` to be rendered after the deletions queued before it, with `failed`:
        how many messages could not be deleted."""
        record = self.record
        ref = record.next_ref()
        rendered_later = {"name": template, "lang": record.lang}
        call = Call(
            record.call_id(ref), self.id, SEND_MESSAGE, {}, ref=ref, template=rendered_later
        )
        self._queue(call)

    def delete_messages(self, message_ids: list[int]) -> None:
        for start in range(0, len(message_ids), DELETE_BATCH):
            batch = message_ids[start : start + DELETE_BATCH]
            ref = self.record.next_ref()
            self._queue(
                Call(self.record.call_id(ref), self.id, DELETE_MESSAGES, {"message_ids": batch})
            )

    def screen_pending(self) -> bool:
        """The screen on top was queued but is not sent yet: a button pressed now is older."""
        screen = self.record.screen
        return screen is not None and screen.message_id is None

    def is_screen(self, message: Any) -> bool:
        """Whether a button was pressed on the screen on top."""
        screen = self.record.screen
        return (
            screen is not None
            and isinstance(message, Message)
            and screen.message_id is not None
            and message.message_id == screen.message_id
        )

    def forget(self) -> None:
        """After an erasure: nothing about this person is written again in this update."""
        self.forgotten = True
        self.calls = []

    def say_after_forget(self, text: str) -> None:
        """The one message an erasure sends: paced like the rest, stored nowhere."""
        self.last_words.append(SendMessage(chat_id=self.id, text=text))


@dataclass(frozen=True, slots=True)
class WriteBack:
    """A sent call's result not yet written into its record (see the module docstring)."""

    call_id: str
    ref: int | None
    message_id: int | None
    track: bool
    # Whether a kill before it is written shows the person something twice (a send), rather
    # than repeating an edit that changes nothing.
    visible: bool

    def apply(self, data: dict[str, Any]) -> None:
        write_back(data, self.call_id, self.ref, self.message_id, track=self.track)


class ChatOutbox:
    """The calls queued in conversation records, as a source for the sender."""

    def __init__(
        self,
        storage: ConversationStore,
        isolation: BaseEventIsolation,
        sender: Sender,
        services: Services,
    ) -> None:
        self.services = services
        self.renderer = services.renderer
        self.storage = storage
        self.isolation = isolation
        self.sender = sender
        # Run after a commit that left a submit pending (bot/submit.py sets it).
        self.on_submit: Callable[[StorageKey], Awaitable[None]] | None = None
        # Results of sent calls not yet written, by record, oldest record first; and when each
        # record's oldest one came (loop time), for the flush.
        self._settled: dict[StorageKey, list[WriteBack]] = {}
        self._settled_at: dict[StorageKey, float] = {}
        # Records being written: the calls a write queues are not handed over yet.
        self._writing: set[StorageKey] = set()
        self._flush_timer: asyncio.TimerHandle | None = None

    # -- results not yet written -----------------------------------------------------------

    def _with_unwritten(self, key: StorageKey, data: dict[str, Any]) -> list[WriteBack]:
        """Apply the results not yet written to a fresh copy of the record; returns them."""
        entries = list(self._settled.get(key, ()))
        if data:
            for entry in entries:
                entry.apply(data)
        return entries

    def _written(self, key: StorageKey, entries: list[WriteBack]) -> None:
        """`entries` are in the record on disk now (or meant nothing to it)."""
        pending = self._settled.get(key)
        if pending is None or not entries:
            return
        done = {id(entry) for entry in entries}
        pending[:] = [entry for entry in pending if id(entry) not in done]
        if not pending:
            del self._settled[key]
            self._settled_at.pop(key, None)

    def forget(self, key: StorageKey) -> None:
        """The record was erased: its results mean nothing any more."""
        self._settled.pop(key, None)
        self._settled_at.pop(key, None)

    @contextlib.contextmanager
    def _write_under_way(self, key: StorageKey) -> Iterator[None]:
        """While a write of this record is on its way: a reply sent meanwhile does not leave
        its result to wait (see `_may_wait`)."""
        self._writing.add(key)
        try:
            yield
        finally:
            self._writing.discard(key)

    @contextlib.asynccontextmanager
    async def _rewrite(self, key: StorageKey) -> AsyncIterator[dict[str, Any] | None]:
        """Under the chat's lock: the stored record with the results not yet written, to change
        in place, and written back (results included) when the block ends; None if the record
        is gone (erased), which also drops its waiting results."""
        async with self.isolation.lock(key):
            data = await self.storage.get_data(key)
            if not data:
                self.forget(key)
                yield None
                return
            entries = self._with_unwritten(key, data)
            yield data
            with self._write_under_way(key):
                await self.storage.set_data(key, data)
            self._written(key, entries)

    async def load(self, key: StorageKey) -> tuple[str | None, dict[str, Any]]:
        """The record's state and data as they are, with the results not yet written."""
        state = await self.storage.get_state(key)
        data = await self.storage.get_data(key)
        self._with_unwritten(key, data)
        return state, data

    # -- the one write per update ----------------------------------------------------------

    async def commit(self, chat: Chat, raw: dict[str, Any], raw_state: str | None) -> None:
        """Write the record and its new calls in one durable write; then hand them over.
        `raw` and `raw_state` are what `load` gave."""
        key = chat.key
        record = chat.record
        record.outbox.extend(call.to_dict() for call in chat.calls)
        data = record.to_dict()
        # Results that came while the handler ran; those `load` gave are in `data` already.
        entries = self._with_unwritten(key, data)
        state = fsm_state(record)
        if entries or data != raw or state != raw_state:
            with self._write_under_way(key):
                await self.storage.commit(key, state, data)
            self._written(key, entries)
        self.hand_over(key, chat.calls)
        if record.submitting is not None:
            self.start_submit(key)

    def hand_over(self, key: StorageKey, calls: list[Call]) -> None:
        for call in calls:
            self.sender.put(ConversationCall(self, key, call))

    def start_submit(self, key: StorageKey) -> None:
        if self.on_submit is not None:
            self.sender.track(self.on_submit(key), "submitting an intake")

    async def resume(self) -> int:
        """At start-up: hand every stored call to the sender, in order, and finish submits.

        Most open conversations have neither a call queued nor a submit under way; the store
        tells them by two pieces of their stored JSON, without decoding them, and they stay
        unread (the store reads them lazily). The record's keys are written compact, and
        inside a JSON string every quote is escaped, so the pieces can only be the record's
        own fields; a record without them is decoded as before."""
        count = 0
        for key in await self.storage.keys_lacking((_NO_CALLS, _NO_SUBMIT)):
            data = await self.storage.get_data(key)
            calls = [Call.from_dict(c) for c in data.get("outbox", ())]
            self.hand_over(key, calls)
            count += len(calls)
            if data.get("submitting"):
                self.start_submit(key)
        if count:
            log.info("resuming %d calls queued before the restart", count)
        return count

    async def build(self, key: StorageKey, call: Call) -> TelegramMethod[Any] | None:
        """The call as it leaves now, or None if the record no longer holds it."""
        if call.template is None and call.target is None:
            # Most calls need nothing from the record but that it still holds them (it was
            # not erased, the call not replaced by a later edit): seen in its stored JSON.
            try:
                text = await self.storage.data_text(key)
            except (OSError, ValueError):
                pass  # get_data below reports a damaged record
            else:
                return call.build(None) if _holds_call(text, call.id) else None
        data = await self.storage.get_data(key)
        self._with_unwritten(key, data)
        if not any(raw.get("id") == call.id for raw in data.get("outbox", ())):
            return None  # erased, or replaced by a later edit
        # A stored call never changes once queued, so the one in memory (with its keyboard
        # object) is the one the record holds.
        if call.template is not None:
            failed = int(data.get("delete_failed", 0))
            lang = cast(Language, call.template.get("lang", "nl"))
            call.params["text"] = self.renderer.render(lang, call.template["name"], failed=failed)
        message_id = None
        if call.target is not None:
            message_id = (data.get("sent") or {}).get(str(call.target))
            if message_id is None:
                # Its message never left (it failed for good): nothing to edit.
                await self._remove(key, call, None)
                return None
        return call.build(message_id)

    async def _remove(
        self, key: StorageKey, call: Call, message_id: int | None, *, failed: bool = False
    ) -> None:
        async with self._rewrite(key) as data:
            if data is None:
                return  # erased meanwhile
            write_back(data, call.id, call.ref, message_id, track=call.track)
            if failed and call.method == DELETE_MESSAGES:
                failures = len(call.params.get("message_ids", ()))
                data["delete_failed"] = int(data.get("delete_failed", 0)) + failures
            if call.template is not None and not failed:
                data["delete_failed"] = 0

    async def _blocked(self, key: StorageKey) -> None:
        """The person blocked the bot: every call still queued for them would fail the same
        way. Drop them, and tell the coordinators once, under the card of their intake."""
        async with self._rewrite(key) as data:
            if data is None:
                return  # erased
            told = bool(data.get("blocked"))
            data["outbox"], data["blocked"] = [], True
        log.info("a person blocked the bot; their queued messages are dropped")
        if told:
            return
        number = data.get("last_intake")
        intake = await self.services.intakes.get(number) if isinstance(number, str) else None
        if intake is None or intake.user_id != key.user_id:
            return
        services = self.services
        await services.intakes.record(
            intake.number,
            HistoryEntry.new(
                services.clock.now(), HistoryAction.NOT_DELIVERED, "TelegramForbiddenError"
            ),
        )
        text = services.renderer.render(
            services.settings.DEFAULT_LANGUAGE, "coord_undeliverable", number=intake.number
        )
        await queue_under_card(services, intake, text, purpose=Purpose.GROUP_NOTICE)

    async def sent(self, key: StorageKey, call: Call, result: Any) -> None:
        message_id = result.message_id if isinstance(result, Message) else None
        visible = not (call.cosmetic and call.ref is None)
        if call.template is None and (not visible or self._may_wait(key, call)):
            entry = WriteBack(call.id, call.ref, message_id, call.track, visible)
            self._settled.setdefault(key, []).append(entry)
            if key not in self._settled_at:
                self._settled_at[key] = asyncio.get_running_loop().time()
            self._arm_flush()
            return
        await self._remove(key, call, message_id)

    def _may_wait(self, key: StorageKey, call: Call) -> bool:
        """May the result of this reply wait for the record's next write? Only if a kill now
        would send no other reply of this chat twice: none is queued after it or being
        committed, and no other reply's result is waiting."""
        return (
            key not in self._writing
            and self.sender.replies_waiting(call.chat_id) <= 1
            and not any(entry.visible for entry in self._settled.get(key, ()))
        )

    def _arm_flush(self) -> None:
        if self._flush_timer is not None or not self._settled_at:
            return
        oldest = next(iter(self._settled_at.values()))
        loop = asyncio.get_running_loop()
        # At least a second: a record that cannot be written now is not retried in a spin.
        delay = max(1.0, oldest + SETTLED_FLUSH_AFTER - loop.time())
        self._flush_timer = loop.call_later(delay, self._flush_due)

    def _flush_due(self) -> None:
        self._flush_timer = None
        self.sender.track(self._flush_old(), "writing back sent calls")

    async def _flush_old(self) -> None:
        try:
            await self.flush(older_than=SETTLED_FLUSH_AFTER)
        finally:
            self._arm_flush()  # for the results that came since, or could not be written

    async def close(self) -> None:
        """At shutdown, before the stores close: write every result not yet written."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        await self.flush()

    async def flush(self, older_than: float = 0.0) -> None:
        """Write the results not yet written into their records: of every record, or of those
        whose oldest result came at least `older_than` seconds ago."""
        now = asyncio.get_running_loop().time()
        due = [key for key, at in self._settled_at.items() if now - at >= older_than]
        for key in due:
            if key not in self._settled:
                continue  # a write of that record took them meanwhile
            async with self._rewrite(key):
                pass  # the results are all the change

    async def failed(self, key: StorageKey, call: Call, error: BaseException) -> None:
        if isinstance(error, TelegramForbiddenError):
            await self._blocked(key)
            return
        if call.fallback is None:
            await self._remove(key, call, None, failed=True)
            return
        again = Call.from_dict(call.fallback)
        async with self._rewrite(key) as data:
            if data is None:
                return  # erased
            outbox = [c for c in data.get("outbox", ()) if c.get("id") != call.id]
            data["outbox"] = [*outbox, again.to_dict()]
            screen = data.get("screen")
            if isinstance(screen, dict) and screen.get("id") == call.params.get("message_id"):
                screen["ref"], screen["id"] = again.ref or 0, None
        self.hand_over(key, [again])


class ConversationCall:
    """One call of a conversation record, in the sender's queue."""

    def __init__(self, source: ChatOutbox, key: StorageKey, call: Call) -> None:
        self.source = source
        self.key = key
        self.call = call
        self.id = call.id
        self.chat_id = call.chat_id
        self.cosmetic = call.cosmetic
        self.supersedes = call.supersedes

    async def prepare(self) -> TelegramMethod[Any] | None:
        return await self.source.build(self.key, self.call)

    async def sent(self, result: Any) -> None:
        await self.source.sent(self.key, self.call, result)

    async def failed(self, error: BaseException) -> None:
        await self.source.failed(self.key, self.call, error)

    async def retrying(self, error: BaseException, attempts: int, delay: float) -> None:
        pass  # the call stays in the record; the sender tries again

    async def superseded(self) -> None:
        # Usually gone already: the handler that queued the later edit removed it.
        await self.source.sent(self.key, self.call, None)


class ChatMiddleware(BaseMiddleware):
    """Load the record once, hand the handler a `Chat`, commit once after it returned."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        event_chat: TgChat | None = data.get("event_chat")
        state: FSMContext | None = data.get("state")
        if event_chat is None or event_chat.type != "private" or state is None:
            return await handler(event, data)
        services: Services = data["services"]
        outbox: ChatOutbox = data["chat_outbox"]
        raw_state, raw = await outbox.load(state.key)
        user: User | None = data.get("event_from_user")
        chat = Chat(services, state.key, load_record(raw, user, services), user)
        chat.was_stored = bool(raw or raw_state)
        # Telegram hands an update out again when a crash came before it was confirmed; one
        # that was committed already must not be answered twice.
        update_id = getattr(data.get("event_update"), "update_id", None)
        if isinstance(update_id, int):
            if update_id <= chat.record.last_update:
                log.info("an update handled before a restart came again; skipped")
                return None
            chat.record.last_update = update_id
        data["chat"] = chat
        result = await handler(event, data)
        if result is UNHANDLED:
            return result
        if chat.forgotten:
            outbox.forget(chat.key)
            for method in chat.last_words:
                outbox.sender.send_volatile(method, chat.id)
            return result
        await outbox.commit(chat, raw, raw_state)
        for key in chat.counts:
            await services.funnel.count(key)
        return result


class QuietCallbackAnswerMiddleware(CallbackAnswerMiddleware):
    """aiogram's: every callback query answered once, after the handler and its commit (a toast
    set by the handler on `callback_answer`). A failed answer (the query is too old after a
    restart) costs the person nothing: it is logged, never a traceback."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        callback_answer = data["callback_answer"] = self.construct_callback_answer(
            properties=get_flag(data, "callback_answer")
        )
        try:
            return await handler(event, data)
        finally:
            if not callback_answer.disabled and not callback_answer.answered:
                try:
                    await self.answer(event, callback_answer)
                except TelegramAPIError as exc:
                    log.debug("a callback query could not be answered: %s", type(exc).__name__)


__all__ = [
    "Chat",
    "ChatMiddleware",
    "ChatOutbox",
    "ConversationCall",
    "QuietCallbackAnswerMiddleware",
    "language_of",
    "load_record",
]

"""Builders for incoming updates that set only the fields that matter, and a ChatDriver.

Update ids and message ids count up across the whole test run, so two builders never collide.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from tests.support.bot_api_state import (
    BOT_FIRST_NAME,
    BOT_USERNAME,
    DEFAULT_BOT_ID,
    JsonDict,
    keyboard_rows,
    visible_text,
)
from tests.support.session import RecordedRequest, RecordingSession

DEFAULT_USER_ID = 1001
DEFAULT_FIRST_NAME = "Anna"
DEFAULT_GROUP_ID = -1001234567890

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)


def next_update_id() -> int:
    return next(_update_ids)


def next_message_id() -> int:
    return next(_message_ids)


def user_json(
    user_id: int, first_name: str = DEFAULT_FIRST_NAME, language_code: str | None = None
) -> JsonDict:
    user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code is not None:
        user["language_code"] = language_code
    return user


def bot_user_json(bot_id: int = DEFAULT_BOT_ID) -> JsonDict:
    return {"id": bot_id, "is_bot": True, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME}


def chat_json(chat_id: int, chat_type: str, *, title: str | None = None) -> JsonDict:
    chat: JsonDict = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = DEFAULT_FIRST_NAME
    else:
        chat["title"] = title or "Coördinatoren"
    return chat


def message_json(
    *,
    user_id: int | None,
    chat_id: int,
    chat_type: str = "private",
    first_name: str = DEFAULT_FIRST_NAME,
    message_id: int | None = None,
    title: str | None = None,
    language_code: str | None = None,
    **content: Any,
) -> JsonDict:
    """Message JSON; `content` holds the rest (text=..., photo=[...], reply_to_message=...)."""
    message: JsonDict = {
        "message_id": message_id if message_id is not None else next_message_id(),
        "date": int(time.time()),
        "chat": chat_json(chat_id, chat_type, title=title),
        **content,
    }
    if user_id is not None:
        message["from"] = user_json(user_id, first_name, language_code)
    return message


def update_of(kind: str, payload: JsonDict, update_id: int | None = None) -> Update:
    """Wrap a payload as `Update(kind=payload)`, e.g. update_of("message", message_json(...))."""
    return Update.model_validate(
        {"update_id": update_id if update_id is not None else next_update_id(), kind: payload}
    )


def as_json(update: Update) -> str:
    """The update as Telegram sends it (for feed_raw_update or a webhook POST)."""
    return update.model_dump_json(exclude_none=True, by_alias=True)


def message_update(
    text: str,
    user_id: int = DEFAULT_USER_ID,
    chat_id: int | None = None,
    first_name: str = DEFAULT_FIRST_NAME,
    chat_type: str = "private",
    message_id: int | None = None,
    update_id: int | None = None,
    *,
    language_code: str | None = None,
) -> Update:
    """A text message; in a private chat the chat id is the user id."""
    message = message_json(
        user_id=user_id,
        chat_id=chat_id if chat_id is not None else user_id,
        chat_type=chat_type,
        first_name=first_name,
        message_id=message_id,
        language_code=language_code,
        text=text,
        **_command_entities(text),
    )
    return update_of("message", message, update_id)


def _command_entities(text: str) -> JsonDict:
    # Telegram marks a leading /command as a bot_command entity; some filters look for it.
    if not text.startswith("/"):
        return {}
    length = len(text.split(maxsplit=1)[0])
    return {"entities": [{"type": "bot_command", "offset": 0, "length": length}]}


def edited_message_update(
    text: str,
    message_id: int,
    user_id: int = DEFAULT_USER_ID,
    chat_id: int | None = None,
    chat_type: str = "private",
    update_id: int | None = None,
) -> Update:
    """The user edited an earlier message of theirs."""
    message = message_json(
        user_id=user_id,
        chat_id=chat_id if chat_id is not None else user_id,
        chat_type=chat_type,
        message_id=message_id,
        text=text,
        edit_date=int(time.time()),
    )
    return update_of("edited_message", message, update_id)


def callback_update(
    data: str,
    user_id: int = DEFAULT_USER_ID,
    message_id: int = 1,
    chat_id: int | None = None,
    message_text: str = "...",
    *,
    reply_markup: JsonDict | None = None,
    chat_type: str = "private",
    update_id: int | None = None,
) -> Update:
    """A button press on bot message `message_id` (which carries `reply_markup` if given)."""
    target_chat = chat_id if chat_id is not None else user_id
    message = message_json(
        user_id=None,
        chat_id=target_chat,
        chat_type=chat_type,
        message_id=message_id,
        text=message_text,
    )
    message["from"] = bot_user_json()
    if reply_markup is not None:
        message["reply_markup"] = reply_markup
    callback: JsonDict = {
        "id": f"cb{next(_callback_ids)}",
        "from": user_json(user_id),
        "chat_instance": str(target_chat),
        "message": message,
        "data": data,
    }
    return update_of("callback_query", callback, update_id)


def photo_update(
    user_id: int = DEFAULT_USER_ID,
    caption: str | None = None,
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    sizes = [
        {"file_id": f"PHOTO{w}", "file_unique_id": f"UPHOTO{w}", "width": w, "height": w}
        for w in (90, 320, 800)
    ]
    extra: JsonDict = {"caption": caption} if caption is not None else {}
    message = message_json(
        user_id=user_id,
        chat_id=chat_id if chat_id is not None else user_id,
        photo=sizes,
        **extra,
    )
    return update_of("message", message, update_id)


def sticker_update(
    user_id: int = DEFAULT_USER_ID,
    emoji: str = "👍",
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    sticker = {
        "file_id": "STICKER1",
        "file_unique_id": "USTICKER1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
    }
    message = message_json(
        user_id=user_id, chat_id=chat_id if chat_id is not None else user_id, sticker=sticker
    )
    return update_of("message", message, update_id)


def voice_update(
    user_id: int = DEFAULT_USER_ID,
    duration: int = 3,
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    voice = {"file_id": "VOICE1", "file_unique_id": "UVOICE1", "duration": duration}
    message = message_json(
        user_id=user_id, chat_id=chat_id if chat_id is not None else user_id, voice=voice
    )
    return update_of("message", message, update_id)


def document_update(
    user_id: int = DEFAULT_USER_ID,
    file_name: str = "cv.pdf",
    mime_type: str = "application/pdf",
    caption: str | None = None,
    chat_id: int | None = None,
    file_size: int = 12_345,
    update_id: int | None = None,
) -> Update:
    document = {
        "file_id": "DOC1",
        "file_unique_id": "UDOC1",
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": file_size,
    }
    extra: JsonDict = {"caption": caption} if caption is not None else {}
    message = message_json(
        user_id=user_id,
        chat_id=chat_id if chat_id is not None else user_id,
        document=document,
        **extra,
    )
    return update_of("message", message, update_id)


def group_message_update(
    text: str,
    chat_id: int = DEFAULT_GROUP_ID,
    user_id: int = DEFAULT_USER_ID,
    chat_type: str = "supergroup",
    title: str = "Coördinatoren",
    first_name: str = DEFAULT_FIRST_NAME,
    update_id: int | None = None,
) -> Update:
    """A message in a group ("group") or supergroup; group chat ids are negative."""
    if chat_id >= 0:
        raise ValueError("group chat ids are negative")
    message = message_json(
        user_id=user_id,
        chat_id=chat_id,
        chat_type=chat_type,
        title=title,
        first_name=first_name,
        text=text,
        **_command_entities(text),
    )
    return update_of("message", message, update_id)


def channel_post_update(
    text: str,
    chat_id: int = -1009876543210,
    title: str = "Baanwijzer nieuws",
    update_id: int | None = None,
) -> Update:
    """A post in a channel: no sender user."""
    message = message_json(user_id=None, chat_id=chat_id, chat_type="channel", title=title)
    message["text"] = text
    return update_of("channel_post", message, update_id)


def reply_message_update(
    text: str,
    reply_to_message_id: int,
    chat_id: int = DEFAULT_GROUP_ID,
    user_id: int = DEFAULT_USER_ID,
    *,
    reply_to_text: str = "...",
    chat_type: str = "supergroup",
    title: str = "Coördinatoren",
    update_id: int | None = None,
) -> Update:
    """A user's reply (typically a coordinator in a group) to the bot's message."""
    replied = message_json(
        user_id=None,
        chat_id=chat_id,
        chat_type=chat_type,
        title=title,
        message_id=reply_to_message_id,
        text=reply_to_text,
    )
    replied["from"] = bot_user_json()
    message = message_json(
        user_id=user_id,
        chat_id=chat_id,
        chat_type=chat_type,
        title=title,
        text=text,
        reply_to_message=replied,
    )
    return update_of("message", message, update_id)


async def settle(dispatcher: Dispatcher) -> None:
    """Wait until the bot's sender has sent everything the updates so far queued."""
    sender = dispatcher.workflow_data.get("sender")
    if sender is not None:
        await sender.idle()
    # The removal of sent edits rides on a record's next write (ChatOutbox.sent); write it
    # now, so what a test reads back is what stays stored.
    chat_outbox = dispatcher.workflow_data.get("chat_outbox")
    if chat_outbox is not None:
        await chat_outbox.flush()


class ChatDriver:
    """One user talking to the bot through the real Dispatcher, the way a person would.

    The bot's session must be a RecordingSession; its BotApiState numbers the user's messages
    in the same sequence as the bot's, so message ids look like a real chat's.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        user_id: int = DEFAULT_USER_ID,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = DEFAULT_FIRST_NAME,
        language_code: str | None = "nl",
        **feed_kwargs: Any,
    ) -> None:
        if not isinstance(bot.session, RecordingSession):
            raise TypeError("ChatDriver needs a Bot whose session is a RecordingSession")
        self.dispatcher = dispatcher
        self.bot = bot
        self.session: RecordingSession = bot.session
        self.user_id = user_id
        self.chat_id = chat_id if chat_id is not None else user_id
        self.chat_type = chat_type
        self.first_name = first_name
        self.language_code = language_code
        self.feed_kwargs = feed_kwargs
        self._mark = len(self.session.requests)

    async def send(self, text: str) -> Any:
        """The user types `text`; returns what Dispatcher.feed_update returned."""
        message = message_json(
            user_id=self.user_id,
            chat_id=self.chat_id,
            chat_type=self.chat_type,
            first_name=self.first_name,
            language_code=self.language_code,
            message_id=self.session.state.next_message_id(self.chat_id),
            text=text,
            **_command_entities(text),
        )
        self.session.state.remember(message)
        return await self.feed(update_of("message", message))

    async def click(self, button: str) -> Any:
        """Press the button whose text or callback_data is `button`, on the newest message
        in this chat that has an inline keyboard."""
        target = self.session.state.last_keyboard_message(self.chat_id)
        if target is None:
            raise AssertionError(f"no message with an inline keyboard in chat {self.chat_id}")
        rows = keyboard_rows(target.get("reply_markup"))
        matches = [data for row in rows for text, data in row if button in (text, data)]
        if not matches or matches[0] is None:
            raise AssertionError(f"no button {button!r}; the keyboard is {rows}")
        callback: JsonDict = {
            "id": f"cb{next(_callback_ids)}",
            "from": user_json(self.user_id, self.first_name, self.language_code),
            "chat_instance": str(self.chat_id),
            "message": target,
            "data": matches[0],
        }
        return await self.feed(update_of("callback_query", callback))

    async def feed(self, update: Update) -> Any:
        """Feed any update (for example from a builder) and start a new action."""
        self._mark = len(self.session.requests)
        result = await self.dispatcher.feed_update(self.bot, update, **self.feed_kwargs)
        await settle(self.dispatcher)
        return result

    def _shown(self, requests: list[RecordedRequest]) -> list[str]:
        texts: list[str] = []
        for request in requests:
            if not request.ok or request.chat_id != str(self.chat_id):
                continue
            raw = request.params.get("text", request.params.get("caption"))
            if raw is not None and request.name in _SHOWING_METHODS:
                texts.append(visible_text(raw, request.params.get("parse_mode")))
        return texts

    @property
    def texts_since_last_action(self) -> list[str]:
        """What the user read (sent or edited texts and captions) since the last send/click."""
        return self._shown(self.session.requests[self._mark :])

    @property
    def last_text(self) -> str | None:
        """The newest message the bot has in this chat, as it reads now: what the person sees
        at the bottom of the chat (an edit of an older message does not move it there)."""
        for message in reversed(self.session.state.chat_messages(self.chat_id)):
            sender = message.get("from") or {}
            raw = message.get("text", message.get("caption"))
            if sender.get("is_bot") and raw is not None:
                return str(raw)  # stored as the client shows it
        return None

    @property
    def last_keyboard(self) -> list[list[tuple[str, str | None]]]:
        return self.session.last_keyboard(self.chat_id)

    @property
    def last_alert(self) -> str | None:
        """Text of the latest answerCallbackQuery since the last action (a toast or alert)."""
        answers = [
            r
            for r in self.session.requests[self._mark :]
            if r.ok and r.name == "answerCallbackQuery"
        ]
        return answers[-1].params.get("text") if answers else None


_SHOWING_METHODS = frozenset(
    {"sendMessage", "editMessageText", "sendDocument", "sendPhoto", "editMessageCaption"}
)

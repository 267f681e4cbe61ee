"""What a Bot API server remembers, shared by RecordingSession and FakeBotApiServer.

Both transports hand it the request as it travels on the wire (every parameter a string, nested
objects as JSON text, uploads as bytes), so whatever aiogram encodes is exactly what is answered.
"""

from __future__ import annotations

import html
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

JsonDict = dict[str, Any]

BOT_USERNAME = "baanwijzer_bot"
BOT_FIRST_NAME = "Baanwijzer"
DEFAULT_BOT_ID = 42

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


@dataclass(frozen=True)
class UploadedFile:
    """A file that arrived as a multipart part."""

    field: str
    filename: str
    content: bytes


class BotApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional parameters."""

    def __init__(
        self,
        status_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(f"{status_code} {description}")
        self.status_code = status_code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def body(self) -> JsonDict:
        """The JSON body Telegram sends with this error."""
        body: JsonDict = {
            "ok": False,
            "error_code": self.status_code,
            "description": self.description,
        }
        parameters: JsonDict = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body

    @classmethod
    def retry_after_seconds(cls, seconds: int) -> BotApiError:
        """429 flood control; aiogram raises TelegramRetryAfter."""
        return cls(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)

    @classmethod
    def server_error(
        cls, status_code: int = 500, description: str = "Internal Server Error"
    ) -> BotApiError:
        """5xx; aiogram raises TelegramServerError (RestartingTelegram if it says 'restart')."""
        return cls(status_code, description)

    @classmethod
    def blocked_by_user(cls) -> BotApiError:
        """403; aiogram raises TelegramForbiddenError."""
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def bad_request(cls, description: str) -> BotApiError:
        """400; aiogram raises TelegramBadRequest. The 'Bad Request: ' prefix is added."""
        return cls(400, f"Bad Request: {description}")

    @classmethod
    def not_modified(cls) -> BotApiError:
        return cls(400, NOT_MODIFIED)

    @classmethod
    def chat_not_found(cls) -> BotApiError:
        return cls(400, "Bad Request: chat not found")

    @classmethod
    def method_not_found(cls) -> BotApiError:
        return cls(404, "Not Found: method not found")


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(text: str, parse_mode: str | None = "HTML") -> str:
    """The text as a Telegram client shows it: HTML tags removed, entities decoded."""
    if parse_mode is None or parse_mode.upper() != "HTML":
        return text
    parser = _VisibleText()
    parser.feed(text)
    parser.close()
    return html.unescape("".join(parser.parts))


def keyboard_rows(reply_markup: Mapping[str, Any] | None) -> list[list[tuple[str, str | None]]]:
    """An inline keyboard as rows of (text, callback_data); [] if there is none."""
    if not reply_markup or "inline_keyboard" not in reply_markup:
        return []
    return [
        [(str(button["text"]), button.get("callback_data")) for button in row]
        for row in reply_markup["inline_keyboard"]
    ]


def _json_param(params: Mapping[str, str], name: str) -> Any:
    raw = params.get(name)
    return None if raw is None else json.loads(raw)


def _int_param(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name)
    if raw is None:
        raise BotApiError.bad_request(f"parameter {name} is required")
    try:
        return int(raw)
    except ValueError:
        raise (
            BotApiError.chat_not_found()
            if name == "chat_id"
            else BotApiError.bad_request(f"invalid {name}")
        ) from None


def _status_of(member_status: str, user: JsonDict) -> JsonDict:
    if member_status in ("member", "left"):
        return {"status": member_status, "user": user}
    if member_status == "kicked":
        return {"status": "kicked", "user": user, "until_date": 0}
    if member_status == "creator":
        return {"status": "creator", "user": user, "is_anonymous": False}
    raise ValueError(f"unsupported member status {member_status!r}")


_TRUE_METHODS = {
    name.lower()
    for name in (
        "answerCallbackQuery",
        "setMyCommands",
        "deleteMyCommands",
        "setMyDescription",
        "setMyShortDescription",
        "setMyName",
        "setChatMenuButton",
        "deleteWebhook",
        "setWebhook",
        "sendChatAction",
        "setMessageReaction",
        "pinChatMessage",
        "unpinChatMessage",
        "close",
        "logOut",
        "leaveChat",
    )
}


class BotApiState:
    """Chats, their messages, members and uploaded files, as the Bot API would keep them."""

    def __init__(self, *, default_member_status: str = "member") -> None:
        self.messages: dict[int, dict[int, JsonDict]] = {}
        self.chats: dict[int, JsonDict] = {}
        self.member_status: dict[tuple[int, int], str] = {}
        self.default_member_status = default_member_status
        self.blocked_chats: set[int] = set()
        self.files: dict[str, tuple[str, UploadedFile]] = {}
        self._last_message_id: dict[int, int] = {}
        self._file_numbers = itertools.count(1)

    # -- set-up a test may use ---------------------------------------------------------------

    def register_chat(
        self, chat_id: int, chat_type: str, *, title: str | None = None, first_name: str = "Anna"
    ) -> None:
        """Describe a chat; unknown chats are private for positive ids, supergroups otherwise."""
        chat: JsonDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = title or f"Chat {chat_id}"
        self.chats[chat_id] = chat

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """getChatMember answer: 'member', 'left', 'kicked' or 'creator'."""
        self.member_status[(chat_id, user_id)] = status

    def block(self, chat_id: int) -> None:
        """From now on every send to this chat fails with 403 'bot was blocked by the user'."""
        self.blocked_chats.add(chat_id)

    # -- reading -------------------------------------------------------------------------------

    def chat(self, chat_id: int) -> JsonDict:
        if chat_id in self.chats:
            return dict(self.chats[chat_id])
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": f"Chat {chat_id}"}

    def chat_messages(self, chat_id: int) -> list[JsonDict]:
        """Messages of a chat (users' and the bot's) in order, as Message JSON."""
        stored = self.messages.get(chat_id, {})
        return [stored[message_id] for message_id in sorted(stored)]

    def last_keyboard_message(self, chat_id: int) -> JsonDict | None:
        """The newest message in the chat that still carries an inline keyboard."""
        for message in reversed(self.chat_messages(chat_id)):
            if keyboard_rows(message.get("reply_markup")):
                return message
        return None

    # -- writing -------------------------------------------------------------------------------

    def next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, shared by the user's and the bot's messages."""
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def remember(self, message: JsonDict) -> None:
        """Keep a message (for example one a test pushes as a user) so replies and edits find it."""
        chat_id = int(message["chat"]["id"])
        message_id = int(message["message_id"])
        self.messages.setdefault(chat_id, {})[message_id] = message
        if message_id > self._last_message_id.get(chat_id, 0):
            self._last_message_id[chat_id] = message_id

    def bot_user(self, bot_id: int) -> JsonDict:
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }

    # -- answering -----------------------------------------------------------------------------

    def answer(
        self,
        method: str,
        params: Mapping[str, str],
        files: Mapping[str, UploadedFile],
        *,
        bot_id: int = DEFAULT_BOT_ID,
    ) -> Any:
        """The `result` of a successful call, or raise BotApiError."""
        handler = self._handlers().get(method.lower())
        if handler is not None:
            return handler(params, files, bot_id)
        if method.lower() in _TRUE_METHODS:
            return True
        raise BotApiError.method_not_found()

    def _handlers(
        self,
    ) -> dict[str, Callable[[Mapping[str, str], Mapping[str, UploadedFile], int], Any]]:
        return {
            "getme": lambda _p, _f, bot_id: {
                **self.bot_user(bot_id),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            },
            "sendmessage": self._send_message,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "getchatmember": self._get_chat_member,
            "getchat": self._get_chat,
            "getfile": self._get_file,
        }

    def _new_message(self, params: Mapping[str, str], bot_id: int) -> JsonDict:
        chat_id = _int_param(params, "chat_id")
        if chat_id in self.blocked_chats:
            raise BotApiError.blocked_by_user()
        message: JsonDict = {
            "message_id": self.next_message_id(chat_id),
            "from": self.bot_user(bot_id),
            "chat": self.chat(chat_id),
            "date": int(time.time()),
        }
        reply_parameters = _json_param(params, "reply_parameters")
        if reply_parameters:
            replied = self.messages.get(chat_id, {}).get(int(reply_parameters["message_id"]))
            if replied is not None:
                message["reply_to_message"] = replied
        reply_markup = _json_param(params, "reply_markup")
        if reply_markup is not None:
            message["reply_markup"] = reply_markup
        return message

    def _store(self, message: JsonDict) -> JsonDict:
        self.remember(message)
        return message

    def _send_message(
        self, params: Mapping[str, str], _files: Mapping[str, UploadedFile], bot_id: int
    ) -> JsonDict:
        text = params.get("text", "")
        if not visible_text(text, params.get("parse_mode")).strip():
            raise BotApiError.bad_request("message text is empty")
        message = self._new_message(params, bot_id)
        message["text"] = visible_text(text, params.get("parse_mode"))
        return self._store(message)

    def _file_ref(
        self, params: Mapping[str, str], files: Mapping[str, UploadedFile], field: str
    ) -> tuple[str, UploadedFile | None]:
        value = params.get(field)
        if value is None:
            raise BotApiError.bad_request(f"there is no {field} in the request")
        if value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise BotApiError.bad_request(f"file {value} is not attached")
            number = next(self._file_numbers)
            file_id = f"FILE{number}"
            self.files[file_id] = (f"{field}s/file_{number}", upload)
            return file_id, upload
        return value, None

    def _add_caption(self, message: JsonDict, params: Mapping[str, str]) -> None:
        if "caption" in params:
            message["caption"] = visible_text(params["caption"], params.get("parse_mode"))

    def _send_document(
        self, params: Mapping[str, str], files: Mapping[str, UploadedFile], bot_id: int
    ) -> JsonDict:
        message = self._new_message(params, bot_id)
        file_id, upload = self._file_ref(params, files, "document")
        document: JsonDict = {"file_id": file_id, "file_unique_id": f"U{file_id}"}
        if upload is not None:
            document["file_name"] = upload.filename
            document["file_size"] = len(upload.content)
        message["document"] = document
        self._add_caption(message, params)
        return self._store(message)

    def _send_photo(
        self, params: Mapping[str, str], files: Mapping[str, UploadedFile], bot_id: int
    ) -> JsonDict:
        message = self._new_message(params, bot_id)
        file_id, upload = self._file_ref(params, files, "photo")
        size = len(upload.content) if upload is not None else 0
        message["photo"] = [
            {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "width": 800,
                "height": 600,
                "file_size": size,
            }
        ]
        self._add_caption(message, params)
        return self._store(message)

    def _existing(self, params: Mapping[str, str], action: str) -> JsonDict:
        chat_id = _int_param(params, "chat_id")
        message_id = _int_param(params, "message_id")
        message = self.messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise BotApiError.bad_request(f"message to {action} not found")
        return message

    def _edit_message_text(
        self, params: Mapping[str, str], _files: Mapping[str, UploadedFile], _bot_id: int
    ) -> JsonDict | bool:
        if "inline_message_id" in params:
            return True
        message = self._existing(params, "edit")
        text = visible_text(params.get("text", ""), params.get("parse_mode"))
        # Telegram drops the inline keyboard when an edit does not repeat it.
        reply_markup = _json_param(params, "reply_markup")
        if text == message.get("text") and reply_markup == message.get("reply_markup"):
            raise BotApiError.not_modified()
        message["text"] = text
        message["edit_date"] = int(time.time())
        if reply_markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = reply_markup
        return message

    def _edit_reply_markup(
        self, params: Mapping[str, str], _files: Mapping[str, UploadedFile], _bot_id: int
    ) -> JsonDict | bool:
        if "inline_message_id" in params:
            return True
        message = self._existing(params, "edit")
        reply_markup = _json_param(params, "reply_markup")
        if reply_markup == message.get("reply_markup"):
            raise BotApiError.not_modified()
        if reply_markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = reply_markup
        message["edit_date"] = int(time.time())
        return message

    def _delete_message(
        self, params: Mapping[str, str], _files: Mapping[str, UploadedFile], _bot_id: int
    ) -> bool:
        message = self._existing(params, "delete")
        del self.messages[int(message["chat"]["id"])][int(message["message_id"])]
        return True

    def _delete_messages(
        self, params: Mapping[str, str], _files: Mapping[str, UploadedFile], _bot_id: int
    ) -> bool:
        chat_id = _int_param(params, "chat_id")
        for message_id in _json_param(params, "message_ids") or []:
            self.messages.get(chat_id, {}).pop(int(message_id), None)
        return True

    def _get_chat_member(
        self, params: Mapping[str, str], _files: Mapping[str, UploadedFile], _bot_id: int
    ) -> JsonDict:
        chat_id = _int_param(params, "chat_id")
        user_id = _int_param(params, "user_id")
        status = self.member_status.get((chat_id, user_id), self.default_member_status)
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        return _status_of(status, user)

    def _get_chat(
        self, params: Mapping[str, str], _files: Mapping[str, UploadedFile], _bot_id: int
    ) -> JsonDict:
        return {
            **self.chat(_int_param(params, "chat_id")),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_file(
        self, params: Mapping[str, str], _files: Mapping[str, UploadedFile], _bot_id: int
    ) -> JsonDict:
        file_id = params.get("file_id", "")
        if file_id not in self.files:
            raise BotApiError.bad_request("invalid file_id")
        path, upload = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_size": len(upload.content),
            "file_path": path,
        }

    def file_content(self, file_path: str) -> UploadedFile | None:
        """The upload stored under a getFile path, for the /file/ download route."""
        for path, upload in self.files.values():
            if path == file_path:
                return upload
        return None

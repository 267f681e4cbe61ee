"""One Bot API call that sends or edits, as plain JSON data, so it can be stored before it is sent.

A handler never calls Telegram: it queues `Call`s on its `Chat` (bot/chat.py). The middleware
writes them into the conversation record together with the new state, in one durable write, and
the sender (bot/sender.py) delivers them. A call that must wait for the message id of an earlier
one (taking the keyboard off a question that may not be sent yet) names that call by `target`:
the sender fills in the message id when it sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiogram import methods
from aiogram.methods import TelegramMethod
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

SEND_MESSAGE = "sendMessage"
EDIT_TEXT = "editMessageText"
EDIT_MARKUP = "editMessageReplyMarkup"
DELETE_MESSAGES = "deleteMessages"
SEND_DOCUMENT = "sendDocument"

METHODS: dict[str, type[TelegramMethod[Any]]] = {
    SEND_MESSAGE: methods.SendMessage,
    EDIT_TEXT: methods.EditMessageText,
    EDIT_MARKUP: methods.EditMessageReplyMarkup,
    DELETE_MESSAGES: methods.DeleteMessages,
    SEND_DOCUMENT: methods.SendDocument,
}


def markup_json(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    """A keyboard as the JSON Telegram takes; None stays None."""
    if markup is None:
        return None
    return markup.model_dump(mode="json", exclude_none=True)


@dataclass(slots=True)
class Call:
    """A call waiting to be sent.

    `ref` numbers the sends of one conversation whose message id matters later (a screen whose
    keyboard goes off, a message the person may have deleted); `target` is the `ref` of the
    message an edit is for, when its id was not known yet at queue time.
    """

    id: str
    chat_id: int
    method: str
    params: dict[str, Any]
    ref: int | None = None
    target: int | None = None
    # Cosmetic calls (a keyboard taken off an answered question) wait behind the replies.
    cosmetic: bool = False
    # The sent message's id joins the record's message ids ("delete the chat" after the intake).
    track: bool = False
    # Queued instead when this call fails for good (a tick that the old message cannot show:
    # the question is sent again), as a call dict.
    fallback: dict[str, Any] | None = None
    # A text rendered when the call leaves, from what the calls before it found out:
    # {"name": template, "lang": "nl"} (how many messages could not be deleted).
    template: dict[str, str] | None = None
    # The keyboard object the handler queued (keyboards are built once), kept in memory only:
    # handing it to aiogram as is saves validating `p["reply_markup"]` into models again for
    # every send (bench.step_bench). A call read back from storage has none and is parsed.
    markup: InlineKeyboardMarkup | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "chat": self.chat_id, "m": self.method}
        data["p"] = self.params
        if self.ref is not None:
            data["ref"] = self.ref
        if self.target is not None:
            data["target"] = self.target
        if self.cosmetic:
            data["cosmetic"] = True
        if self.track:
            data["track"] = True
        if self.fallback is not None:
            data["fallback"] = self.fallback
        if self.template is not None:
            data["template"] = self.template
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Call:
        return cls(
            id=str(data["id"]),
            chat_id=int(data["chat"]),
            method=str(data["m"]),
            params=dict(data.get("p") or {}),
            ref=data.get("ref"),
            target=data.get("target"),
            cosmetic=bool(data.get("cosmetic", False)),
            track=bool(data.get("track", False)),
            fallback=data.get("fallback"),
            template=data.get("template"),
        )

    @property
    def supersedes(self) -> str | None:
        """Edits of one message: a later one makes an earlier one that has not left useless."""
        if self.method not in (EDIT_TEXT, EDIT_MARKUP):
            return None
        message = self.params.get("message_id")
        return f"{self.chat_id}:{message if message is not None else f'ref{self.target}'}"

    def build(self, message_id: int | None = None) -> TelegramMethod[Any]:
        """The aiogram method; `message_id` is the resolved id of `target`, if any."""
        method = METHODS.get(self.method)
        if method is None:
            raise ValueError(f"unknown method {self.method}")
        params = dict(self.params)
        if message_id is not None:
            params["message_id"] = message_id
        if self.markup is not None:
            params["reply_markup"] = self.markup
        if self.method == SEND_DOCUMENT:
            document = params.pop("document")
            params["document"] = BufferedInputFile(
                document["content"].encode("utf-8"), filename=document["filename"]
            )
        return method(chat_id=self.chat_id, **params)


__all__ = [
    "DELETE_MESSAGES",
    "EDIT_MARKUP",
    "EDIT_TEXT",
    "SEND_DOCUMENT",
    "SEND_MESSAGE",
    "Call",
    "markup_json",
]

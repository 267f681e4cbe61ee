"""The application layer: what the bot does, apart from Telegram.

Use cases over the domain core (flows/records.py, flows/engine.py): each takes ports
(flows/ports.py: repositories, the outbox, the clock, the `Handoff`) and plain values, and returns
a plain result. It imports no aiogram, tinydb or jinja2: the adapters in bot/ translate an update
into a call and the result into screens and messages, and storage/ implements the ports.
"""

from flows.usecases.coordination import (
    AlreadyMine,
    Claimed,
    Closed,
    Done,
    Moved,
    NotAllowed,
    NotFound,
    Relayed,
    add_note,
    claim,
    may_add_note,
    message_from_person,
    message_person,
    move_status,
    name_in_history,
    relay_recipient,
    reply_to_coordinator,
)
from flows.usecases.rights import Erasure, Withdrawal, erase, withdraw
from flows.usecases.submit import Draft, Submitted, answers_so_far, request_contact, submit

__all__ = [
    "AlreadyMine",
    "Claimed",
    "Closed",
    "Done",
    "Draft",
    "Erasure",
    "Moved",
    "NotAllowed",
    "NotFound",
    "Relayed",
    "Submitted",
    "Withdrawal",
    "add_note",
    "answers_so_far",
    "claim",
    "erase",
    "may_add_note",
    "message_from_person",
    "message_person",
    "move_status",
    "name_in_history",
    "relay_recipient",
    "reply_to_coordinator",
    "request_contact",
    "submit",
    "withdraw",
]

"""The audit trail of the coordinators' side: who saw or passed on which personal data, when.

Every access to an intake's personal data is one history entry on that intake (flows/records.py
`HistoryEntry`, its action a `HistoryAction`), with the coordinator as an `Actor` (id and name),
so a person who asks "who saw my data" and an auditor get the answer from the intake itself:

- `VIEWED` (/intake), `DETAILS` (the card's button): the whole intake, in a private chat;
- `LISTED`: a name in a list of /intakes, in a private chat (the group's list shows no names);
- `FOUND`: a hit of /zoek, in a private chat;
- `EXPORTED`: one entry on every exported intake (see `cmd_export`);
- `TO_PERSON` by the coordinator, `FROM_PERSON` by the person and `RELAYED` (delivered to a
  coordinator's private chat).

The messages an entry names (`HistoryEntry.messages`) are typed: erasure deletes those that hold
personal data (bot/privacy.py), and a reply to a relayed message or a note prompt is found
through the repository's index (`IntakeRepository.by_message`).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiogram.types import User

from bot.services import Services
from flows.records import Actor, HistoryAction, HistoryEntry, MessageRef

# Where something was shown: the details only ever in a private chat.
PRIVATE = "privé"


def actor(user: User) -> Actor:
    """A coordinator as the audit trail keeps them."""
    return Actor(user.id, user.full_name)


async def record(
    services: Services,
    numbers: Iterable[str],
    by: Actor,
    action: HistoryAction,
    detail: str = "",
    messages: Iterable[MessageRef] = (),
) -> None:
    """One entry on each intake."""
    now = services.clock.now()
    sent = list(messages)
    for number in numbers:
        entry = HistoryEntry.new(now, action, detail, by=by, messages=sent)
        await services.intakes.record(number, entry)

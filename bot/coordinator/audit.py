"""The audit trail of the coordinators' side: who saw or passed on which personal data, when.

Every access to an intake's personal data is one history entry on that intake (flows/records.py
`HistoryEntry`), with the coordinator as `who(id, name)`, so a person who asks "who saw my data"
and an auditor get the answer from the intake itself:

- `VIEWED` (/intake), `DETAILS` (the card's button): the whole intake, in a private chat;
- `LISTED`: a name in a list of /intakes, in a private chat (the group's list shows no names);
- `FOUND`: a hit of /zoek, in a private chat;
- `EXPORTED`: one entry on every exported intake (see `cmd_export`);
- `TO_PERSON` by the coordinator, `FROM_PERSON` by the person and `RELAYED` (delivered to a
  coordinator's private chat, whose id is the chat in the message reference).

A detail that names a message the bot sent with personal data in it carries
`msg:<chat_id>:<message_id>` (`message_ref`): erasure deletes those messages again
(bot/privacy.py), and a reply to one of them is matched with `references`.

The entries stay plain text until the audit trail gets a type of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.services import Services
from flows.records import HistoryEntry, Intake, utc_iso

VIEWED = "bekeken"
DETAILS = "details-bekeken"
LISTED = "bekeken-in-lijst"
FOUND = "gevonden-bij-zoeken"
EXPORTED = "export"
TO_PERSON = "bericht-aan-persoon"
FROM_PERSON = "bericht-van-persoon"
# Written by bot/delivery.py when the message left: what it says is in the message reference.
RELAYED = "doorgestuurd"
NOTE_ASKED = "notitie-gevraagd"
DELIVERED = "bericht-bezorgd"
# Where something was shown: the details only ever in a private chat.
PRIVATE = "privé"

_ACTOR = re.compile(r"^(.*) \[(-?\d+)\]$")
_REF = re.compile(r"^msg:(-?\d+):(\d+)$")


def short_name(full_name: str, limit: int = 60) -> str:
    text = " ".join(full_name.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def who(user_id: int, full_name: str) -> str:
    """How a coordinator is written in the audit trail: name and id, so two Annas differ."""
    return f"{short_name(full_name)} [{user_id}]"


def actor_of(by: str) -> tuple[str, int] | None:
    """The name and id of a coordinator from `who()`; None for "bot", "person" and the like."""
    found = _ACTOR.match(by)
    return (found.group(1), int(found.group(2))) if found else None


def message_ref(chat_id: int, message_id: int) -> str:
    """A message the bot sent, as a history detail; the form bot/privacy.py looks for."""
    return f"msg:{chat_id}:{message_id}"


def references(intake: Intake, action: str, chat_of_bare_ids: int | None) -> set[tuple[int, int]]:
    """(chat, message id) of the messages the entries `action` name. An older entry names a bare
    message id in the coordinators' group: `chat_of_bare_ids`."""
    found: set[tuple[int, int]] = set()
    for entry in intake.history:
        if entry.action != action:
            continue
        for part in entry.detail.split():
            ref = _REF.match(part)
            if ref is not None:
                found.add((int(ref.group(1)), int(ref.group(2))))
            elif part.isdigit() and chat_of_bare_ids is not None:
                found.add((chat_of_bare_ids, int(part)))
    return found


async def record(
    services: Services, numbers: Iterable[str], by: str, action: str, detail: str = ""
) -> None:
    """One entry on each intake."""
    at = utc_iso(services.clock.now())
    for number in numbers:
        await services.intakes.record(
            number, HistoryEntry(at=at, by=by, action=action, detail=detail)
        )

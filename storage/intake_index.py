"""What the TinyDB and the in-memory intake repositories share: numbering, the in-memory index
used for filtering, sorting and name search, and the rules of `add` and `update`."""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flows.ports import IntakeFilter, SentAbout
from flows.records import (
    INTAKE_SCHEMA,
    Actor,
    HistoryAction,
    HistoryEntry,
    Intake,
    IntakeKind,
    MessageRef,
    Note,
    Status,
    parse_iso,
    utc_iso,
)

# The history actions whose messages `IntakeIndex.about` finds: a coordinator's reply to a
# relayed message or a note prompt, a person's reply to a message from a coordinator.
LOOKED_UP = frozenset({HistoryAction.RELAYED, HistoryAction.NOTE_ASKED, HistoryAction.DELIVERED})
RETENTION_SCOPE = "retention"  # flows.model.ConsentScope.RETENTION


def json_copy(value: Any) -> Any:
    """A deep copy through JSON: what is stored must survive a JSON round trip."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def normalize_iso(text: str) -> str:
    return utc_iso(parse_iso(text)) if text else ""


def counter_key(number: str) -> tuple[str, int] | None:
    """`K-2026-0042` -> (`K-2026`, 42); None for something else."""
    parts = number.split("-")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return f"{parts[0]}-{parts[1]}", int(parts[2])


@dataclass(slots=True)
class IndexEntry:
    """The fields of one intake that listing, filtering and searching need, kept in memory."""

    number: str
    part: str
    kind: str
    status: str
    user_id: int
    name: str  # casefolded, for search
    created: str  # UTC ISO-8601, sorts chronologically as text
    target_groups: tuple[str, ...]
    routes: tuple[str, ...]
    order: int
    # When the intake was closed (UTC ISO-8601, "" while open), and whether the person agreed
    # to keep it longer (a given "retention" consent): what retention needs, kept in memory.
    closed: str = ""
    keep: bool = False
    # The messages of its `LOOKED_UP` history lines, as (chat id, message id, action), and
    # when a coordinator last wrote to the person (""): what the relay looks up.
    sent: tuple[tuple[int, int, str], ...] = ()
    written_to: str = ""

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.created, self.order, self.number)

    def matches(self, f: IntakeFilter, since: str = "", until: str = "") -> bool:
        """Whether this intake passes the filter; `since`/`until` are `f.since`/`f.until` as
        UTC ISO text (computed once per listing, not once per intake)."""
        if f.status is not None and self.status != str(f.status):
            return False
        if f.kind is not None and self.kind != str(f.kind):
            return False
        if f.target_group is not None and f.target_group not in self.target_groups:
            return False
        if f.route is not None and f.route not in self.routes:
            return False
        if since and self.created < since:
            return False
        return not (until and self.created >= until)


def closed_at(doc: dict[str, Any]) -> str:
    """When a stored intake was closed; for one closed before `closed_at` was kept, its last
    change."""
    if not Status(doc.get("status", Status.NIEUW)).is_closed:
        return ""
    return normalize_iso(str(doc.get("closed_at") or doc.get("updated_at") or ""))


def keeps_longer(doc: dict[str, Any]) -> bool:
    """Whether the person agreed to keep this intake longer (the retention consent)."""
    return any(
        isinstance(c, dict) and c.get("scope") == RETENTION_SCOPE and c.get("given")
        for c in doc.get("consents", [])
    )


def sent_messages(doc: dict[str, Any]) -> tuple[tuple[int, int, str], ...]:
    found: list[tuple[int, int, str]] = []
    for line in doc.get("history", ()):
        action = line.get("action")
        if action in LOOKED_UP:
            found.extend(
                (int(chat), int(message), str(action)) for chat, message in line.get("messages", ())
            )
    return tuple(found)


def written_to(doc: dict[str, Any]) -> str:
    return max(
        (
            str(h["at"])
            for h in doc.get("history", ())
            if h.get("action") == HistoryAction.TO_PERSON
        ),
        default="",
    )


def entry_for(doc: dict[str, Any], part: str, order: int) -> IndexEntry:
    return IndexEntry(
        number=str(doc["number"]),
        part=part,
        kind=str(doc["kind"]),
        status=str(doc.get("status", Status.NIEUW)),
        user_id=int(doc["user_id"]),
        name=str(doc.get("name", "")).casefold(),
        created=normalize_iso(str(doc.get("created_at", ""))),
        target_groups=tuple(str(g) for g in doc.get("target_groups", [])),
        routes=tuple(str(r) for r in doc.get("routes", [])),
        order=order,
        closed=closed_at(doc),
        keep=keeps_longer(doc),
        sent=sent_messages(doc),
        written_to=normalize_iso(written_to(doc)),
    )


class IntakeIndex:
    """Number -> entry, kept sorted by creation; the entries of each partition; the counters
    that hand out numbers."""

    def __init__(self) -> None:
        self.entries: dict[str, IndexEntry] = {}
        # partition -> number -> entry: what an index file of one partition holds, found
        # without scanning every intake.
        self.by_part: dict[str, dict[str, IndexEntry]] = {}
        self._sorted: list[tuple[str, int, str]] = []
        # (chat id, message id) -> the intake and action: the relay's lookup (`about`).
        self._sent: dict[tuple[int, int], SentAbout] = {}
        self.counters: dict[str, int] = {}
        self._order = 0

    def __len__(self) -> int:
        return len(self.entries)

    def next_order(self) -> int:
        self._order += 1
        return self._order

    def note_number(self, number: str) -> None:
        key = counter_key(number)
        if key is not None and self.counters.get(key[0], 0) < key[1]:
            self.counters[key[0]] = key[1]

    def allocate(self, kind: IntakeKind, year: int) -> str:
        """The next number for this kind and year; numbers are never handed out twice."""
        key = f"{kind.number_prefix}-{year}"
        value = self.counters.get(key, 0) + 1
        self.counters[key] = value
        return f"{key}-{value:04d}"

    def put(self, entry: IndexEntry) -> None:
        old = self.entries.get(entry.number)
        if old is not None:
            entry.order = old.order
            if old.sort_key != entry.sort_key:
                self._drop_key(old.sort_key)
                bisect.insort(self._sorted, entry.sort_key)
            if old.part != entry.part:
                self._leave_part(old)
        else:
            bisect.insort(self._sorted, entry.sort_key)
        if old is not None:
            self._forget_sent(old)
        self._remember_sent(entry)
        self.entries[entry.number] = entry
        self.by_part.setdefault(entry.part, {})[entry.number] = entry
        self.note_number(entry.number)

    def load_many(self, entries: Iterable[IndexEntry]) -> None:
        """Fill an empty index at once (sorting once instead of inserting one by one)."""
        for entry in entries:
            self.entries[entry.number] = entry
            self._remember_sent(entry)
            self.by_part.setdefault(entry.part, {})[entry.number] = entry
            self.note_number(entry.number)
        self._sorted = sorted(e.sort_key for e in self.entries.values())

    def remove(self, number: str) -> IndexEntry | None:
        old = self.entries.pop(number, None)
        if old is not None:
            self._drop_key(old.sort_key)
            self._leave_part(old)
            self._forget_sent(old)
        return old

    def _leave_part(self, entry: IndexEntry) -> None:
        members = self.by_part.get(entry.part)
        if members is not None:
            members.pop(entry.number, None)
            if not members:
                del self.by_part[entry.part]

    def in_part(self, part: str) -> list[IndexEntry]:
        """The entries of one partition, in index order."""
        return sorted(self.by_part.get(part, {}).values(), key=lambda e: e.order)

    def _remember_sent(self, entry: IndexEntry) -> None:
        for chat_id, message_id, action in entry.sent:
            self._sent[(chat_id, message_id)] = SentAbout(entry.number, action)

    def _forget_sent(self, entry: IndexEntry) -> None:
        for chat_id, message_id, _ in entry.sent:
            found = self._sent.get((chat_id, message_id))
            if found is not None and found.number == entry.number:
                del self._sent[(chat_id, message_id)]

    def about(self, chat_id: int, message_id: int) -> SentAbout | None:
        """Which intake a message the bot sent is about (see `LOOKED_UP`)."""
        return self._sent.get((chat_id, message_id))

    def last_written_to(self, user_id: int, since: datetime) -> str | None:
        """The user's intake a coordinator wrote to last, at or after `since`."""
        stamp = utc_iso(since)
        best: IndexEntry | None = None
        for entry in self.for_user(user_id):
            if entry.written_to >= stamp and (best is None or entry.written_to > best.written_to):
                best = entry
        return best.number if best is not None else None

    def _drop_key(self, key: tuple[str, int, str]) -> None:
        at = bisect.bisect_left(self._sorted, key)
        if at < len(self._sorted) and self._sorted[at] == key:
            del self._sorted[at]

    def newest_first(self) -> Iterator[IndexEntry]:
        for key in reversed(self._sorted):
            yield self.entries[key[2]]

    def oldest_first(self) -> Iterator[IndexEntry]:
        for key in list(self._sorted):
            yield self.entries[key[2]]

    def select(self, f: IntakeFilter, offset: int, limit: int) -> tuple[list[IndexEntry], int]:
        total = 0
        page: list[IndexEntry] = []
        end = offset + limit
        since = utc_iso(f.since) if f.since is not None else ""
        until = utc_iso(f.until) if f.until is not None else ""
        for entry in self.newest_first():
            if entry.matches(f, since, until):
                if offset <= total < end:
                    page.append(entry)
                total += 1
        return page, total

    def search(self, text: str, limit: int) -> list[IndexEntry]:
        needle = text.strip().casefold()
        if not needle:
            return []
        found: list[IndexEntry] = []
        for entry in self.newest_first():
            if needle in entry.name:
                found.append(entry)
                if len(found) >= limit:
                    break
        return found

    def for_user(self, user_id: int) -> list[IndexEntry]:
        return [e for e in self.newest_first() if e.user_id == user_id]

    def expired(self, created_cutoff: datetime, closed_cutoff: datetime) -> list[IndexEntry]:
        """The intakes retention deletes: every one sent before `created_cutoff` (the longest
        anything is kept), and every one closed before `closed_cutoff` whose person did not
        agree to keep it longer."""
        created = utc_iso(created_cutoff)
        closed = utc_iso(closed_cutoff)
        return [
            entry
            for key in self._sorted
            if (entry := self.entries[key[2]]).created < created
            or (entry.closed and entry.closed < closed and not entry.keep)
        ]

    def created_before(self, cutoff: datetime) -> list[IndexEntry]:
        limit = utc_iso(cutoff)
        result: list[IndexEntry] = []
        for key in self._sorted:
            if key[0] >= limit:
                break
            result.append(self.entries[key[2]])
        return result


def prepare_new(intake: Intake, index: IntakeIndex, now: datetime) -> dict[str, Any]:
    """The document to store for a new intake: numbered, timestamps in UTC, JSON-clean."""
    doc: dict[str, Any] = json_copy(intake.to_dict())
    created = normalize_iso(doc.get("created_at") or "") or utc_iso(now)
    doc["created_at"] = created
    doc["updated_at"] = normalize_iso(doc.get("updated_at") or "") or created
    doc["number"] = index.allocate(intake.kind, parse_iso(created).year)
    doc["schema"] = INTAKE_SCHEMA
    return doc


def apply_update(
    intake: Intake,
    at: datetime,
    by: str,
    action: str,
    detail: str,
    *,
    status: Status | None,
    assignee_id: int | None,
    assignee_name: str | None,
    note: Note | None,
    card: tuple[int, int] | None,
    actor: Actor | None = None,
    messages: Sequence[MessageRef] = (),
) -> None:
    """Change an intake in place and append the history entry (who, what, when)."""
    stamp = utc_iso(at)
    if status is not None:
        was_closed = intake.status.is_closed
        intake.status = Status(status)
        if not intake.status.is_closed:
            intake.closed_at = ""
        elif not was_closed or not intake.closed_at:
            intake.closed_at = stamp
    if assignee_id is not None:
        intake.assignee_id = assignee_id
    if assignee_name is not None:
        intake.assignee_name = assignee_name
    if note is not None:
        intake.notes.append(note)
    if card is not None:
        intake.card_chat_id, intake.card_message_id = card
    intake.updated_at = stamp
    intake.history.append(
        HistoryEntry(
            at=stamp,
            by=by,
            action=action,
            detail=detail,
            actor_id=actor.id if actor is not None else None,
            actor_name=actor.name if actor is not None else "",
            messages=list(messages),
        )
    )

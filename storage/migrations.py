"""Schema versions and the migrations applied when an old record is read.

Every stored record carries `schema`. When a record with an older version is read, the functions
registered here are applied one step at a time (`v0 -> v1 -> v2 ...`); the record is written back
in the new shape the next time its file is written. To change a record's shape: bump the version
constant in `flows/records.py` (or `CONVERSATION_SCHEMA` here), add `migrate_<kind>_vN_to_vN1`
and register it in `MIGRATIONS`, and add a fixture of the old shape to tests/storage.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flows.records import INTAKE_SCHEMA, OUTBOX_SCHEMA, utc_iso

CONVERSATION_SCHEMA = 1
# 2: each entry also holds when the intake was closed and whether it may be kept longer.
INDEX_SCHEMA = 2

Record = dict[str, Any]
Migration = Callable[[Record], Record]


class FutureSchemaError(ValueError):
    """A record written by a newer version of the bot than this one."""


def _iso(value: Any) -> str:
    """A v0 timestamp (may be naive, meaning UTC) as UTC ISO-8601."""
    if not value:
        return ""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return utc_iso(moment)


def migrate_intake_v0_to_v1(data: Record) -> Record:
    """v0 (the prototype) kept one target group and one route, `created` without a time zone.

    v1 keeps lists (`target_groups`, `routes`), `created_at`/`updated_at` in UTC ISO-8601.
    """
    out = dict(data)
    created = out.pop("created", None)
    if "created_at" not in out:
        out["created_at"] = _iso(created)
    group = out.pop("target_group", None)
    out.setdefault("target_groups", [group] if group else [])
    route = out.pop("route", None)
    out.setdefault("routes", [route] if route else [])
    out.setdefault("updated_at", out["created_at"])
    out.setdefault("answers", {})
    out.setdefault("outcome", {})
    out.setdefault("language", "nl")
    out.setdefault("flow_version", "")
    out["schema"] = 1
    return out


def migrate_delivery_v0_to_v1(data: Record) -> Record:
    """v0 deliveries had `text` instead of a Bot API call (`method` + `payload`)."""
    out = dict(data)
    if "method" not in out:
        out["method"] = "sendMessage"
        out["payload"] = {"chat_id": out.get("chat_id"), "text": out.pop("text", "")}
    out.setdefault("next_attempt_at", out.get("created_at", ""))
    out["schema"] = 1
    return out


MIGRATIONS: dict[str, dict[int, Migration]] = {
    "intake": {0: migrate_intake_v0_to_v1},
    "delivery": {0: migrate_delivery_v0_to_v1},
    "conversation": {},
}

CURRENT: dict[str, int] = {
    "intake": INTAKE_SCHEMA,
    "delivery": OUTBOX_SCHEMA,
    "conversation": CONVERSATION_SCHEMA,
}


def upgrade(kind: str, data: Record) -> Record:
    """`data` migrated to the current schema of `kind` (returned as is when already current)."""
    version = int(data.get("schema", 0))
    target = CURRENT[kind]
    if version > target:
        raise FutureSchemaError(f"{kind} schema {version} is newer than {target}")
    steps = MIGRATIONS[kind]
    while version < target:
        data = steps[version](data)
        version += 1
        data["schema"] = version
    return data

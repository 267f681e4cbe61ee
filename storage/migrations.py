"""Schema versions of the stored records, and the check that refuses one this bot does not know.

Every stored record carries `schema`. No layout before the current one ever shipped, so there is
nothing to migrate: a record of another version is refused (the caller treats its file as
unreadable and says why). A record written by a newer version of the bot than this one is
refused with `FutureSchemaError`, whose message says so. When a record's shape changes after the
first release: bump its version constant (in `flows/records.py`, or `CONVERSATION_SCHEMA` here)
and add the step from the old shape to the new one here, applied on read.
"""

from __future__ import annotations

from typing import Any

from flows.records import INTAKE_SCHEMA, OUTBOX_SCHEMA

CONVERSATION_SCHEMA = 1
# 3: one index file per partition (`intakes/index/<partition>.json`), not one `index.json`.
INDEX_SCHEMA = 3

Record = dict[str, Any]

CURRENT: dict[str, int] = {
    "intake": INTAKE_SCHEMA,
    "delivery": OUTBOX_SCHEMA,
    "conversation": CONVERSATION_SCHEMA,
}


class FutureSchemaError(ValueError):
    """A record written by a newer version of the bot than this one."""


def check_schema(kind: str, data: Record) -> Record:
    """`data` itself when it has the current schema of `kind`.

    FutureSchemaError for a newer schema, ValueError for any other (an older or missing one).
    """
    version = data.get("schema")
    target = CURRENT[kind]
    number = version if isinstance(version, int) and not isinstance(version, bool) else None
    if number == target:
        return data
    if number is not None and number > target:
        raise FutureSchemaError(
            f"{kind} schema {version} was written by a newer version of the bot"
            f" (this one knows {target})"
        )
    raise ValueError(f"{kind} schema {version!r} is not {target}")

"""Old records are migrated on read, step by step, and written back in the new shape."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flows.records import INTAKE_SCHEMA, IntakeKind, Status
from storage import open_stores
from storage.migrations import MIGRATIONS, FutureSchemaError, upgrade
from tests.storage.conftest import FakeClock

FIXTURES = Path(__file__).parent / "fixtures"


async def test_v0_partition_and_outbox_are_migrated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "intakes").mkdir(parents=True)
    (data / "outbox").mkdir(parents=True)
    shutil.copy(FIXTURES / "intakes-v0.json", data / "intakes" / "2025-03-001.json")
    shutil.copy(FIXTURES / "outbox-v0.json", data / "outbox" / "pending.json")
    clock = FakeClock()
    stores = await open_stores(data, clock, retention_days=400, conversation_days=7)
    assert stores.problems == []
    old = await stores.intakes.get("K-2025-0007")
    assert old is not None
    assert old.schema == INTAKE_SCHEMA
    assert old.created_at == "2025-03-14T10:30:00+00:00"
    assert old.updated_at == old.created_at
    assert (old.target_groups, old.routes) == (["wajong"], ["jobcoach"])
    assert old.status is Status.OPGEPAKT
    employer = await stores.intakes.get("W-2025-0002")
    assert employer is not None
    assert employer.kind is IntakeKind.EMPLOYER
    assert employer.created_at == "2025-03-15T07:00:00+00:00"
    assert (employer.target_groups, employer.routes) == ([], [])
    (delivery,) = await stores.outbox.pending()
    assert (delivery.method, delivery.payload["text"]) == (
        "sendMessage",
        "Uw aanmelding is ontvangen",
    )
    # The counters follow the migrated numbers: a new 2025 candidate gets 0008.
    await stores.intakes.update("K-2025-0007", "coord", "view")
    await stores.close()
    on_disk = json.loads((data / "intakes" / "2025-03-001.json").read_text())["intakes"]
    assert {doc["schema"] for doc in on_disk.values()} == {INTAKE_SCHEMA}
    assert "created" not in on_disk["1"]


def test_upgrade_registry() -> None:
    current = {"schema": INTAKE_SCHEMA, "x": 1}
    assert upgrade("intake", current) is current
    with pytest.raises(FutureSchemaError):
        upgrade("intake", {"schema": INTAKE_SCHEMA + 1})
    for kind, steps in MIGRATIONS.items():
        assert sorted(steps) == list(range(len(steps))), kind  # v0->v1, v1->v2, ... no gaps

"""After /verwijder, nothing of the person is left: not in any file under DATA_DIR, not in the logs.

One person does two whole intakes (a candidate intake with a phone number, an employer intake
with an e-mail address) on the TinyDB stores in a temporary DATA_DIR, coordinators get the card
and make an export, and then the person erases everything. Every byte of every file (partitions,
counters, outbox day files, conversations, funnel, temp and moved-aside files) and every captured
log record is then searched for the person's user id, name, phone number and e-mail address.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from flows.records import HistoryEntry, MessageRef, Note, Status, sent_personal_data, utc_iso
from storage import open_stores
from storage.funnel import FileFunnel
from tests.bot.coordinator_harness import deliver_outbox
from tests.bot.intake_harness import (
    COORDINATOR_GROUP,
    EMPLOYER_ANSWERS,
    FakeClock,
    build_harness,
    confirm_summary,
    walk,
    walk_candidate,
)
from tests.support.updates import group_message_update

USER_ID = 987654321
COORDINATOR = 4242
NAME = "Zebulon Quixotewicz"
PHONE_TYPED = "06 13579246"
PHONE_STORED = "0613579246"
EMAIL = "zebulon.quixote@voorbeeld-post.nl"


def needles() -> dict[str, bytes]:
    return {
        "user id": str(USER_ID).encode(),
        "name": NAME.encode(),
        "first name": b"Zebulon",
        "last name": b"Quixotewicz",
        "phone": PHONE_STORED.encode(),
        "phone digits": b"13579246",
        "e-mail": EMAIL.encode(),
        "e-mail name": b"zebulon.quixote",
    }


def found_in_files(data_dir: Path) -> list[str]:
    hits: list[str] = []
    for path in sorted(data_dir.rglob("*")):
        relative = str(path.relative_to(data_dir))
        for what, needle in needles().items():
            if needle.decode() in relative:
                hits.append(f"{what} in the file name {relative}")
        if path.is_file():
            content = path.read_bytes()
            for what, needle in needles().items():
                # JSON may escape nothing here (ASCII), but check the lower-case form as well.
                if needle in content or needle.lower() in content.lower():
                    hits.append(f"{what} in {relative}")
    return hits


def found_in_logs(records: list[logging.LogRecord]) -> list[str]:
    hits: list[str] = []
    for record in records:
        parts = [record.getMessage(), repr(record.args), record.exc_text or "", record.name]
        text = "\n".join(parts).lower()
        for what, needle in needles().items():
            if needle.decode().lower() in text:
                hits.append(f"{what} in a log line of {record.name}: {record.getMessage()[:120]}")
    return hits


async def test_erasure_leaves_nothing_in_files_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("aiogram", "aiogram.event", "aiogram.dispatcher", "baanwijzer", "bot", "storage"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    data_dir = tmp_path / "data"
    clock = FakeClock()
    stores = await open_stores(data_dir, clock, retention_days=365, conversation_days=30)
    harness = await build_harness(
        data_dir, stores=stores, clock=clock, COORDINATOR_IDS=frozenset({COORDINATOR})
    )
    harness.services.funnel = FileFunnel(data_dir / "funnel.json")
    try:
        driver = harness.driver(USER_ID)
        await walk_candidate(
            harness,
            {"name": NAME, "phone": PHONE_TYPED, "work_other": f"Ik ben {NAME}"},
            user_id=USER_ID,
        )
        await confirm_summary(driver)
        employer = {**EMPLOYER_ANSWERS, "contact_name": NAME, "contact_email": EMAIL}
        await walk(harness, "employer", employer, user_id=USER_ID)
        await confirm_summary(driver)
        await driver.send("/mijngegevens")
        intakes = await harness.intakes()
        assert len(intakes) == 2
        assert {i.user_id for i in intakes} == {USER_ID}

        # The coordinators' side: the cards are delivered (the delivered record stays in a day
        # file), a coordinator exports, and a note with the phone number and a free-text audit
        # line are added.
        await deliver_outbox(harness)
        assert all(i.card_message_id for i in await harness.intakes())
        await harness.dp.feed_update(
            harness.bot,
            group_message_update("/export", chat_id=COORDINATOR_GROUP, user_id=COORDINATOR),
        )
        await harness.settle()  # the files are sent, and audited with their message ids
        first = intakes[0].number
        now = utc_iso(clock.now())
        await harness.stores.intakes.update(
            first,
            "Piet",
            "note",
            note=Note(at=now, by="Piet", text=f"{NAME} gebeld op {PHONE_STORED}"),
        )
        await harness.stores.intakes.record(
            first,
            HistoryEntry(
                at=now,
                by="Piet",
                action="export",
                detail=f"{NAME}, {EMAIL}",
                messages=[MessageRef(COORDINATOR_GROUP, 900)],
            ),
        )
        exported = [
            m
            for h in (await harness.stores.intakes.get(first) or intakes[0]).history
            if sent_personal_data(h.action)
            for m in h.messages
        ]
        assert exported, "an export is named in the audit trail"
        # The export itself went to the coordinator's private chat, and is named there too.
        assert COORDINATOR in {m.chat_id for m in exported}
        # Another person's intake stays as it is.
        await walk_candidate(harness, {"name": "Bob"}, user_id=2002)
        await confirm_summary(harness.driver(2002))
        assert found_in_files(data_dir), "the scan must see the data before the erasure"

        await driver.send("/verwijder")
        await driver.click("🗑️ Ja, wis alles")
        assert "Gewist" in (driver.last_text or "")
        deleted = {
            (r.params["chat_id"], m)
            for r in harness.session.requests_of("deleteMessages")
            for m in json.loads(r.params["message_ids"])
        }
        assert {(str(m.chat_id), m.message_id) for m in exported} <= deleted
        # The card edits ("ingetrokken") go out too, and leave only delivered records behind.
        await deliver_outbox(harness)
    finally:
        await harness.services.funnel.close()
        await harness.close()

    reopened = await open_stores(data_dir, clock, retention_days=365, conversation_days=30)
    try:
        stored = await reopened.intakes.all()
        stones = [i for i in stored if i.status == Status.INGETROKKEN]
        assert sorted(i.number for i in stones) == sorted(i.number for i in intakes)
        assert [i.name for i in stored if i not in stones] == ["Bob"]
        assert await reopened.intakes.for_user(USER_ID) == []
    finally:
        await reopened.close()

    assert found_in_files(data_dir) == []
    assert found_in_logs(caplog.records) == []
    assert caplog.records, "the logs were captured"

"""One behaviour, two implementations: every test runs on the memory and the TinyDB stores.

For TinyDB, tests close the stores, open them again from disk and read back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey

from flows.ports import IntakeFilter
from flows.records import HistoryEntry, IntakeKind, Note, Status, utc_iso
from tests.storage.conftest import (
    BOTH,
    Harness,
    conversations_on_disk,
    generation_files,
    make_delivery,
    make_intake,
)

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


class Form(StatesGroup):
    name = State()
    age = State()


@BOTH
class TestIntakes:
    async def test_numbers_per_kind_and_year_sequential(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        a = await repo.add(make_intake("A"))
        b = await repo.add(make_intake("B"))
        w = await repo.add(make_intake("W", kind=IntakeKind.EMPLOYER))
        old = await repo.add(
            make_intake("Old", created_at=datetime(2025, 12, 31, 23, 0, tzinfo=UTC))
        )
        assert [a.number, b.number, w.number, old.number] == [
            "K-2026-0001",
            "K-2026-0002",
            "W-2026-0001",
            "K-2025-0001",
        ]
        assert a.created_at == utc_iso(T0)
        assert a.updated_at == a.created_at
        repo = (await harness.reopen()).intakes
        got = await repo.get("K-2026-0002")
        assert got is not None
        assert got.name == "B"
        assert got.answers == {"naam": "B", "werk": ["zorg", "groen"]}

    async def test_numbers_never_reused_after_deletion(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        await repo.add(make_intake("A", user_id=1))
        last = await repo.add(make_intake("B", user_id=2))
        assert await repo.delete_user(2) == [last.number]
        repo = (await harness.reopen()).intakes
        again = await repo.add(make_intake("C", user_id=3))
        assert again.number == "K-2026-0003"

    async def test_get_unknown_is_none(self, harness: Harness) -> None:
        assert await harness.stores.intakes.get("K-2026-9999") is None
        unknown = await harness.stores.intakes.update("K-2026-9999", "x", "status")
        assert unknown is None

    async def test_list_filters_newest_first_paged(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        for day in range(12):
            await repo.add(
                make_intake(
                    f"P{day}",
                    created_at=T0 - timedelta(days=day),
                    kind=IntakeKind.EMPLOYER if day % 3 == 0 else IntakeKind.CANDIDATE,
                    target_groups=["participatiewet"] if day % 2 else ["wajong"],
                    routes=["proefplaatsing"] if day < 4 else ["jobcoach"],
                )
            )
        first = await repo.list(IntakeFilter(), offset=0, limit=5)
        assert first.total == 12
        assert [i.name for i in first.items] == ["P0", "P1", "P2", "P3", "P4"]
        third = await repo.list(IntakeFilter(), offset=10, limit=5)
        assert [i.name for i in third.items] == ["P10", "P11"]
        await repo.update("K-2026-0001", "coord", "status", status=Status.OPGEPAKT)
        repo = (await harness.reopen()).intakes
        employers = await repo.list(IntakeFilter(kind=IntakeKind.EMPLOYER), limit=50)
        assert [i.name for i in employers.items] == ["P0", "P3", "P6", "P9"]
        wajong = await repo.list(IntakeFilter(target_group="wajong"), limit=50)
        assert wajong.total == 6
        route = await repo.list(IntakeFilter(route="proefplaatsing"), limit=50)
        assert [i.name for i in route.items] == ["P0", "P1", "P2", "P3"]
        window = await repo.list(
            IntakeFilter(since=T0 - timedelta(days=3), until=T0 - timedelta(days=1)), limit=50
        )
        assert [i.name for i in window.items] == ["P2", "P3"]
        picked = await repo.list(IntakeFilter(status=Status.OPGEPAKT))
        assert [i.number for i in picked.items] == ["K-2026-0001"]
        both = await repo.list(
            IntakeFilter(kind=IntakeKind.CANDIDATE, target_group="participatiewet"), limit=50
        )
        assert [i.name for i in both.items] == ["P1", "P5", "P7", "P11"]

    async def test_search_name_case_insensitive_substring(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        await repo.add(make_intake("Anna de Vries", created_at=T0 - timedelta(hours=2)))
        await repo.add(make_intake("Piet VRIESMAN", created_at=T0 - timedelta(hours=1)))
        await repo.add(make_intake("Karel Appel"))
        repo = (await harness.reopen()).intakes
        found = await repo.search_name("vries")
        assert [i.name for i in found] == ["Piet VRIESMAN", "Anna de Vries"]
        assert [i.name for i in await repo.search_name("VRIES", limit=1)] == ["Piet VRIESMAN"]
        assert await repo.search_name("") == []
        assert await repo.search_name("zzz") == []

    async def test_for_user(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        await repo.add(make_intake("A", user_id=7))
        await repo.add(make_intake("B", user_id=8))
        await repo.add(make_intake("C", user_id=7, kind=IntakeKind.EMPLOYER))
        repo = (await harness.reopen()).intakes
        assert sorted(i.name for i in await repo.for_user(7)) == ["A", "C"]
        assert await repo.for_user(9) == []

    async def test_update_appends_history_in_the_same_write(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        intake = await repo.add(make_intake())
        harness.clock.advance(timedelta(minutes=5))
        note = Note(at=utc_iso(harness.clock.now()), by="Coördinator Kim", text="gebeld")
        updated = await repo.update(
            intake.number,
            "Coördinator Kim",
            "status",
            "nieuw -> opgepakt",
            status=Status.OPGEPAKT,
            assignee_id=42,
            assignee_name="Kim",
            note=note,
            card=(-100123, 77),
        )
        assert updated is not None
        assert updated.status is Status.OPGEPAKT
        assert updated.updated_at == utc_iso(harness.clock.now())
        await repo.record(
            intake.number, HistoryEntry(at=utc_iso(harness.clock.now()), by="Kim", action="view")
        )
        got = await (await harness.reopen()).intakes.get(intake.number)
        assert got is not None
        assert got.status is Status.OPGEPAKT
        assert (got.assignee_id, got.assignee_name) == (42, "Kim")
        assert (got.card_chat_id, got.card_message_id) == (-100123, 77)
        assert got.notes == [note]
        assert [(h.by, h.action, h.detail) for h in got.history] == [
            ("Coördinator Kim", "status", "nieuw -> opgepakt"),
            ("Kim", "view", ""),
        ]

    async def test_replace_and_returned_objects_are_copies(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        intake = await repo.add(make_intake(answers={"steun": "rolstoel", "nested": {"a": [1]}}))
        intake.answers["nested"]["a"].append(2)
        fresh = await repo.get(intake.number)
        assert fresh is not None
        assert fresh.answers["nested"] == {"a": [1]}
        fresh.answers.pop("steun")
        fresh.consents = []
        await repo.replace(fresh)
        got = await (await harness.reopen()).intakes.get(intake.number)
        assert got is not None
        assert "steun" not in got.answers

    async def test_delete_user_and_purge_before(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        a = await repo.add(make_intake("A", user_id=1, created_at=T0 - timedelta(days=40)))
        b = await repo.add(make_intake("B", user_id=2, created_at=T0 - timedelta(days=30)))
        c = await repo.add(make_intake("C", user_id=1, created_at=T0 - timedelta(days=1)))
        assert await repo.purge_before(T0 - timedelta(days=35)) == 1
        assert await repo.get(a.number) is None
        assert await repo.delete_user(1) == [c.number]
        repo = (await harness.reopen()).intakes
        assert [i.number for i in await repo.all()] == [b.number]

    async def test_all_oldest_first(self, harness: Harness) -> None:
        repo = harness.stores.intakes
        for hours in (3, 1, 2):
            await repo.add(make_intake(f"H{hours}", created_at=T0 - timedelta(hours=hours)))
        repo = (await harness.reopen()).intakes
        assert [i.name for i in await repo.all()] == ["H3", "H2", "H1"]


@BOTH
class TestOutbox:
    async def test_put_pending_due_in_order(self, harness: Harness) -> None:
        box = harness.stores.outbox
        for n in range(4):
            await box.put(make_delivery(f"d{n}", chat_id=10 + n % 2, at=T0))
        await box.put(make_delivery("later", chat_id=12, at=T0 + timedelta(hours=1)))
        await box.put(make_delivery("d0", chat_id=10, at=T0))  # the same id twice: kept once
        box = (await harness.reopen()).outbox
        assert [d.id for d in await box.pending()] == ["d0", "d1", "d2", "d3", "later"]
        assert [d.id for d in await box.due(T0)] == ["d0", "d1", "d2", "d3"]
        assert [d.id for d in await box.due(T0, limit=2)] == ["d0", "d1"]
        assert [d.id for d in await box.due(T0 + timedelta(hours=1))][-1] == "later"

    async def test_failed_head_holds_back_its_chat(self, harness: Harness) -> None:
        box = harness.stores.outbox
        await box.put(make_delivery("a1", chat_id=1, at=T0))
        await box.put(make_delivery("b1", chat_id=2, at=T0))
        await box.put(make_delivery("a2", chat_id=1, at=T0))
        await box.mark_failed("a1", "Too Many Requests: retry after 30", T0 + timedelta(seconds=30))
        box = (await harness.reopen()).outbox
        assert [d.id for d in await box.due(T0)] == ["b1"]
        later = await box.due(T0 + timedelta(seconds=30))
        assert [d.id for d in later] == ["a1", "b1", "a2"]
        assert later[0].attempts == 1
        assert later[0].last_error.startswith("Too Many Requests")

    async def test_mark_delivered_and_purge(self, harness: Harness) -> None:
        box = harness.stores.outbox
        await box.put(make_delivery("x", chat_id=1, at=T0, user_id=5))
        await box.put(make_delivery("y", chat_id=1, at=T0))
        await box.mark_delivered("x", T0 + timedelta(seconds=1))
        await box.mark_delivered("missing", T0)
        box = (await harness.reopen()).outbox
        assert [d.id for d in await box.pending()] == ["y"]
        assert await box.purge_delivered_before(T0) == 0
        assert await box.purge_delivered_before(T0 + timedelta(days=1)) == 1

    async def test_get_one_until_it_is_delivered_or_erased(self, harness: Harness) -> None:
        box = harness.stores.outbox
        await box.put(make_delivery("a", chat_id=1, at=T0, user_id=5, text="voor a"))
        await box.put(make_delivery("b", chat_id=1, at=T0))
        await box.mark_failed("b", "Too Many Requests", T0 + timedelta(seconds=5))
        box = (await harness.reopen()).outbox
        a = await box.get("a")
        assert a is not None
        assert (a.user_id, a.payload["text"]) == (5, "voor a")
        b = await box.get("b")
        assert b is not None
        assert (b.attempts, b.last_error) == (1, "Too Many Requests")
        assert b.next_attempt_at == utc_iso(T0 + timedelta(seconds=5))
        await box.mark_delivered("b", T0)
        await box.delete_user(5)
        assert await box.get("a") is None
        assert await box.get("b") is None
        assert await box.get("missing") is None

    async def test_delete_user_and_intakes(self, harness: Harness) -> None:
        box = harness.stores.outbox
        await box.put(make_delivery("a", chat_id=1, at=T0, user_id=5))
        await box.put(make_delivery("b", chat_id=-100, at=T0, intake_number="K-2026-0001"))
        await box.put(make_delivery("c", chat_id=1, at=T0, user_id=5))
        await box.put(make_delivery("d", chat_id=2, at=T0, user_id=6))
        await box.mark_delivered("c", T0)
        assert await box.delete_user(5) == 2
        assert await harness.stores.outbox.delete_intakes(["K-2026-0001"]) == 1
        box = (await harness.reopen()).outbox
        assert [d.id for d in await box.pending()] == ["d"]


@BOTH
class TestConversations:
    KEY = StorageKey(bot_id=1, chat_id=501, user_id=501)

    async def test_state_and_data_survive_reopen(self, harness: Harness) -> None:
        conv = harness.stores.conversations
        await conv.set_state(self.KEY, Form.name)
        await conv.set_data(self.KEY, {"answers": {"naam": "Jan"}, "n": 1})
        assert await conv.update_data(self.KEY, {"n": 2}) == {"answers": {"naam": "Jan"}, "n": 2}
        conv = (await harness.reopen()).conversations
        assert await conv.get_state(self.KEY) == "Form:name"
        assert await conv.get_data(self.KEY) == {"answers": {"naam": "Jan"}, "n": 2}
        assert await conv.get_value(self.KEY, "n") == 2
        other = StorageKey(bot_id=1, chat_id=502, user_id=502)
        assert await conv.get_state(other) is None
        assert await conv.get_data(other) == {}

    async def test_returned_data_is_a_copy(self, harness: Harness) -> None:
        conv = harness.stores.conversations
        data = {"list": [1]}
        await conv.set_data(self.KEY, data)
        data["list"].append(2)
        got = await conv.get_data(self.KEY)
        got["list"].append(3)
        assert await conv.get_data(self.KEY) == {"list": [1]}

    async def test_not_json_is_refused(self, harness: Harness) -> None:
        with pytest.raises(TypeError):
            await harness.stores.conversations.set_data(self.KEY, {"when": datetime.now(UTC)})

    async def test_fsm_context_and_dispatcher(self, harness: Harness) -> None:
        conv = harness.stores.conversations
        Dispatcher(storage=conv)
        ctx = FSMContext(storage=conv, key=self.KEY)
        await ctx.set_state(Form.age)
        await ctx.update_data(age=30)
        conv = (await harness.reopen()).conversations
        ctx = FSMContext(storage=conv, key=self.KEY)
        assert await ctx.get_state() == Form.age.state
        assert await ctx.get_data() == {"age": 30}
        await ctx.clear()
        assert await conv.count() == 0
        conv = (await harness.reopen()).conversations
        assert await conv.get_state(self.KEY) is None
        if harness.data_dir is not None:
            # Reopening compacted the journal: one generation, nothing open, nothing in it.
            folder = harness.data_dir / "conversations"
            ((generation, names),) = generation_files(folder).items()
            assert names == [f"journal-{generation}.jsonl", f"snapshot-{generation}.jsonl"]
            assert (folder / f"journal-{generation}.jsonl").read_bytes() == b""
            assert conversations_on_disk(folder) == {}

    async def test_keys_lacking_fragments_of_the_stored_json(self, harness: Harness) -> None:
        """The keys whose data lacks a piece, seen in the stored JSON: in the snapshot after a
        reopen, and in memory for a conversation written since."""
        conv = harness.stores.conversations
        keys = [StorageKey(bot_id=1, chat_id=c, user_id=c) for c in range(1, 6)]
        await conv.set_data(keys[0], {"antwoord": "één", "outbox": [], "klaar": None})
        await conv.set_data(keys[1], {"antwoord": "één", "outbox": [{"id": "a"}], "klaar": None})
        await conv.set_data(keys[2], {"antwoord": "twee", "outbox": [], "klaar": True})
        await conv.set_data(keys[3], {"tekst": '"outbox":[]', "klaar": None})
        await conv.set_state(keys[4], "Form:name")  # no data at all
        pieces = ('"outbox":[]', '"klaar":null', "één")

        async def lacking() -> set[int]:
            return {key.chat_id for key in await conv.keys_lacking(pieces)}

        assert await lacking() == {2, 3, 4, 5}
        conv = (await harness.reopen()).conversations
        assert await lacking() == {2, 3, 4, 5}
        await conv.set_data(keys[2], {"antwoord": "één", "outbox": [], "klaar": None})
        await conv.set_data(keys[0], {"antwoord": "één", "outbox": [1], "klaar": None})
        assert await lacking() == {1, 2, 4, 5}
        assert await conv.keys_lacking(()) == []

    async def test_delete_delete_user_purge_idle(self, harness: Harness) -> None:
        conv = harness.stores.conversations
        keys = [StorageKey(bot_id=1, chat_id=c, user_id=c) for c in (1, 2, 3)]
        group_key = StorageKey(bot_id=1, chat_id=-100, user_id=2)
        for key in [*keys, group_key]:
            await conv.set_state(key, "Form:name")
            harness.clock.advance(timedelta(hours=1))
        assert await conv.delete(keys[0]) is True
        assert await conv.delete(keys[0]) is False
        assert await conv.delete_user(2) == 2
        assert await conv.count() == 1
        await conv.set_state(StorageKey(bot_id=1, chat_id=4, user_id=4), "Form:age")
        conv = (await harness.reopen()).conversations
        assert await conv.purge_idle_before(harness.clock.now() - timedelta(minutes=30)) == 1
        assert await conv.get_state(keys[2]) is None
        assert await conv.get_state(StorageKey(bot_id=1, chat_id=4, user_id=4)) == "Form:age"


@BOTH
async def test_unchanged_conversation_write_is_skipped_but_refreshes_hourly(
    harness: Harness,
) -> None:
    conv = harness.stores.conversations
    key = StorageKey(bot_id=1, chat_id=77, user_id=77)
    await conv.set_state(key, "Form:name")
    harness.clock.advance(timedelta(minutes=30))
    await conv.set_state(key, "Form:name")  # no change: no write, updated_at stays
    harness.clock.advance(timedelta(minutes=31))
    assert await conv.purge_idle_before(harness.clock.now() - timedelta(minutes=60)) == 1
    await conv.set_state(key, "Form:name")
    harness.clock.advance(timedelta(minutes=90))
    await conv.set_state(key, "Form:name")  # unchanged but over an hour: refreshed
    conv = (await harness.reopen()).conversations
    assert await conv.purge_idle_before(harness.clock.now() - timedelta(minutes=1)) == 0

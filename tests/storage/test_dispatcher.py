"""A conversation kept by the TinyDB storage survives a restart of the Dispatcher (and process)."""

from __future__ import annotations

from pathlib import Path

from aiogram import Bot, Dispatcher, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import Message

from storage import open_stores
from tests.storage.conftest import FakeClock, conversations_on_disk
from tests.support.updates import message_update

USER = 31337


class Ask(StatesGroup):
    name = State()
    town = State()


def make_dispatcher(storage: BaseStorage, seen: list[dict[str, object]]) -> Dispatcher:
    router = Router()

    @router.message(StateFilter(None))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Ask.name)

    @router.message(StateFilter(Ask.name))
    async def name(message: Message, state: FSMContext) -> None:
        await state.update_data(name=message.text)
        await state.set_state(Ask.town)

    @router.message(StateFilter(Ask.town))
    async def town(message: Message, state: FSMContext) -> None:
        seen.append(await state.update_data(town=message.text))
        await state.clear()

    dp = Dispatcher(storage=storage)
    dp.include_router(router)
    return dp


async def test_conversation_survives_a_restart(tmp_path: Path, bot: Bot) -> None:
    clock = FakeClock()
    seen: list[dict[str, object]] = []
    stores = await open_stores(tmp_path, clock, retention_days=28, conversation_days=7)
    dp = make_dispatcher(stores.conversations, seen)
    await dp.feed_update(bot, message_update("/start", user_id=USER))
    await dp.feed_update(bot, message_update("Jan", user_id=USER))
    await stores.close()  # the process stops here
    (record,) = conversations_on_disk(tmp_path / "conversations").values()
    assert (record["state"], record["data"]) == (Ask.town.state, {"name": "Jan"})

    stores = await open_stores(tmp_path, clock, retention_days=28, conversation_days=7)
    key = StorageKey(bot_id=bot.id, chat_id=USER, user_id=USER)
    assert await stores.conversations.get_state(key) == Ask.town.state
    dp = make_dispatcher(stores.conversations, seen)
    await dp.feed_update(bot, message_update("Zwolle", user_id=USER))
    assert seen == [{"name": "Jan", "town": "Zwolle"}]
    assert await stores.conversations.count() == 0  # cleared: the journal says so
    assert conversations_on_disk(tmp_path / "conversations") == {}
    await stores.close()

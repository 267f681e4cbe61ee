"""Shared pieces of the benchmarks: a session without network, the real bot assembly, updates.

Only the network is left out. `BenchSession` is aiogram's `AiohttpSession` (the production
session, `bot.app.create_bot`) with `make_request` replaced: it builds the request with the
session's own `build_form_data` (`prepare_value` per field into an aiohttp `FormData`, whose
urlencoded body is generated), builds the JSON answer Telegram would give and decodes it with
`check_response`, so the bot pays for request encoding and response parsing as it does in
production. With a `FloodModel` (tests/support/flood.py) it refuses calls beyond Telegram's
limits with a 429 and `retry_after`, as Telegram does. The bot itself is assembled by
`bot.__main__._assemble`: the file stores from `open_stores`, the file funnel, the services, the
sender and the Dispatcher from `create_dispatcher`, exactly what `python -m bot` runs.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import math
import os
import platform
import resource
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiogram
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update

from bot.config import Settings
from bot.sender import Limits, Sender
from bot.services import Services
from storage import Stores
from tests.support.flood import FloodModel

BENCH_BOT_ID = 424242
BENCH_TOKEN = f"{BENCH_BOT_ID}:BENCH-token"
COORDINATOR_GROUP = -1009999
BATCH = 100  # getUpdates hands out at most 100 updates per call

# A whole candidate intake typed as a person would: numbers for choices, then "klopt" on the
# summary. Checked against the shipped flow in tests/bench (every answer is accepted).
START_TEXT = "/start kandidaat"
CANDIDATE_ANSWERS: tuple[str, ...] = (
    "1",  # consent: akkoord
    "1",  # filled_by: zelf
    "3",  # age: 18-26
    "1",  # sensitive_consent: ja
    "1",  # register_known: ja
    "5",  # register_basis: wajong
    "2",  # guidance: beetje
    "1",  # support: werktijden
    "1",  # helpers: gemeente
    "2",  # work_kind: catering
    "3",  # work_setting: maakt-niet-uit
    "1",  # employer_pref: rijk
    "24",  # hours
    "1 2",  # days: ma, di
    "3511 AB",  # postcode
    "2",  # travel: ov
    "3",  # contact_method: telegram
    "Sam",  # name
    "2",  # keep_longer: nee
)
CONFIRM_TEXT = "klopt"
CANDIDATE_SCRIPT: tuple[str, ...] = (START_TEXT, *CANDIDATE_ANSWERS, CONFIRM_TEXT)

# The step benchmark: everyone is at this single-choice question and types the number "3".
MID_QUESTION = "work_setting"
MID_ANSWER = "3"
MID_NEXT = "employer_pref"


# -- the session -------------------------------------------------------------------------------


class BenchSession(AiohttpSession):
    """The production session (aiogram's AiohttpSession) with only the network replaced.

    With `flood` set, limited calls beyond Telegram's limits are answered with a 429 and
    `parameters.retry_after`, decoded by `check_response` into `TelegramRetryAfter` like a real
    one. `delivered(name, fields)` is called after each successful call (subclasses watch it).
    """

    def __init__(self, flood: FloodModel | None = None) -> None:
        super().__init__()
        self.flood = flood
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        # The encoded fields of the last call of each method, to copy a real request from.
        self.last: dict[str, dict[str, str]] = {}
        self._message_ids: dict[str, int] = {}
        self._date = str(int(time.time()))
        self._bot_json = json.dumps(
            {
                "id": BENCH_BOT_ID,
                "is_bot": True,
                "first_name": "Baanwijzer",
                "username": "baanwijzer_bench_bot",
            }
        )

    def delivered(self, name: str, fields: dict[str, str]) -> None:
        """A call succeeded (for subclasses)."""

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - signature fixed by BaseSession
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("the benchmarks download nothing")
        yield b""  # pragma: no cover - makes this an async generator

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - signature fixed by BaseSession
    ) -> TelegramType:
        # The production session's form (AiohttpSession.build_form_data), then the body aiohttp
        # would put on the wire.
        form = self.build_form_data(bot=bot, method=method)
        fields: dict[str, str] = {}
        for options, _headers, value in form._fields:
            if options.get("filename"):
                raise NotImplementedError("the benchmarks upload no files")
            fields[options["name"]] = value
        form()
        name = method.__api_method__
        if self.flood is not None:
            chat = fields.get("chat_id")
            numeric = chat is not None and chat.lstrip("-").isdigit()
            refused = self.flood.check(name, int(chat) if chat and numeric else None)
            if refused is not None:
                status, retry_after = refused
                self.refused[name] += 1
                content = json.dumps(
                    {
                        "ok": False,
                        "error_code": status,
                        "description": f"Too Many Requests: retry after {retry_after}",
                        "parameters": {"retry_after": retry_after},
                    }
                )
                self.check_response(bot=bot, method=method, status_code=status, content=content)
                raise AssertionError("check_response accepted a refusal")  # pragma: no cover
        self.calls[name] += 1
        self.last[name] = fields
        content = self._answer(name, fields)
        response = self.check_response(bot=bot, method=method, status_code=200, content=content)
        self.delivered(name, fields)
        return cast(TelegramType, response.result)

    def _answer(self, name: str, fields: dict[str, str]) -> str:
        if name == "sendMessage":
            chat_id = fields["chat_id"]
            message_id = self._message_ids.get(chat_id, 0) + 1
            self._message_ids[chat_id] = message_id
            return self._message(chat_id, message_id, fields)
        if name in ("editMessageText", "editMessageReplyMarkup"):
            return self._message(fields["chat_id"], int(fields["message_id"]), fields)
        if name == "getMe":
            return '{"ok":true,"result":' + self._bot_json + "}"
        if name in (
            "answerCallbackQuery",
            "deleteMessage",
            "deleteMessages",
            "setMyCommands",
            "deleteWebhook",
        ):
            return '{"ok":true,"result":true}'
        raise NotImplementedError(f"BenchSession does not answer {name}")

    def _message(self, chat_id: str, message_id: int, fields: dict[str, str]) -> str:
        kind = "private" if not chat_id.startswith("-") else "supergroup"
        parts = [
            f'"message_id":{message_id}',
            f'"from":{self._bot_json}',
            f'"chat":{{"id":{chat_id},"type":"{kind}"}}',
            f'"date":{self._date}',
        ]
        text = fields.get("text")
        if text is not None:
            parts.append('"text":' + json.dumps(text, ensure_ascii=False))
        markup = fields.get("reply_markup")
        if markup is not None:
            parts.append('"reply_markup":' + markup)
        return '{"ok":true,"result":{' + ",".join(parts) + "}}"


def make_bot(session: BaseSession) -> Bot:
    return Bot(token=BENCH_TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))


# -- the bot as `python -m bot` assembles it ----------------------------------------------------


def bench_settings(data_dir: Path, *, coordinator: bool = True) -> Settings:
    """Settings from arguments only: no `.env` and no environment variable decides anything."""
    return Settings(
        _env_file=None,
        BOT_TOKEN=BENCH_TOKEN,
        TELEGRAM_API_BASE=None,
        COORDINATOR_CHAT_ID=COORDINATOR_GROUP if coordinator else None,
        COORDINATOR_IDS=frozenset(),
        DATA_DIR=data_dir,
        DEFAULT_LANGUAGE="nl",
        WEBHOOK_URL=None,
        WEBHOOK_SECRET=None,
        LOG_LEVEL="WARNING",
    )


@dataclass
class BenchBot:
    """The production assembly over a data directory, with a BenchSession instead of HTTP."""

    settings: Settings
    services: Services
    dp: Dispatcher
    stores: Stores
    sender: Sender
    bot: Bot
    session: BenchSession

    def key(self, user_id: int) -> StorageKey:
        """The FSM key of a private chat (chat id = user id), as aiogram builds it."""
        return StorageKey(bot_id=self.bot.id, chat_id=user_id, user_id=user_id)

    async def close(self) -> None:
        await self.sender.stop()
        await self.services.funnel.close()
        await self.stores.close()
        await self.bot.session.close()


async def open_bench_bot(
    data_dir: Path,
    *,
    coordinator: bool = True,
    limits: Limits | None = None,
    session: BenchSession | None = None,
) -> BenchBot:
    """`python -m bot`'s assembly (`_assemble`) over `data_dir`; the sender paces with `limits`
    (none by default: the step and footprint benchmarks measure CPU, not Telegram's pace)."""
    from bot.__main__ import _assemble

    settings = bench_settings(data_dir, coordinator=coordinator)
    session = session or BenchSession()
    bot = make_bot(session)
    services, dp, stores, sender = await _assemble(settings, bot, limits or Limits.unlimited())
    return BenchBot(settings, services, dp, stores, sender, bot, session)


def settle_gc() -> None:
    """What `python -m bot` does once started: collect, then freeze what start-up made."""
    gc.collect()
    gc.freeze()


def fresh_gc() -> None:
    """Before a timed round: collect, so that every round starts with the collector's counts at
    zero and no garbage of the round before. Otherwise a full collection (up to 0.4 s) left
    over from one round lands in whichever round comes next, which was most of the spread
    between runs. What a round's own allocations cost the collector still counts in it."""
    gc.collect()


def unfreeze_gc() -> None:
    gc.unfreeze()
    gc.collect()


# -- updates -----------------------------------------------------------------------------------


class UpdateFactory:
    """Private-chat text messages as Telegram sends them (JSON), with rising ids."""

    def __init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1_000_000)

    def message(self, user_id: int, text: str) -> str:
        person = {"id": user_id, "is_bot": False, "first_name": "Kandidaat", "language_code": "nl"}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": person,
            "chat": {"id": user_id, "type": "private", "first_name": "Kandidaat"},
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return json.dumps(
            {"update_id": next(self._update_ids), "message": message}, ensure_ascii=False
        )


@dataclass
class RoundResult:
    """One batch of updates fed like polling feeds them."""

    count: int
    wall: float
    cpu: float = 0.0  # process CPU time (all threads) while the round ran
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unhandled: int = 0

    @property
    def per_second(self) -> float:
        return self.count / self.wall if self.wall > 0 else 0.0

    @property
    def cpu_ms_each(self) -> float:
        return self.cpu / self.count * 1000 if self.count else 0.0


async def feed_round(
    dp: Dispatcher,
    bot: Bot,
    raws: Sequence[str],
    *,
    batch: int = BATCH,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> RoundResult:
    """Feed raw JSON updates the way `Dispatcher.start_polling` does with handle_as_tasks.

    Polling gets up to 100 updates per getUpdates call and starts one task per update without
    waiting for it, then goes back for more; the JSON -> Update parsing happens in the polling
    loop. Here each update is parsed on arrival and started as a task, batch by batch, with one
    pass of the event loop between batches where polling would wait for the next response.
    Every update's latency runs from its arrival to the end of its handling. With `settle`
    (`sender.idle`), the round ends when that returns too: the calls the handlers queued are
    sent and written back, and the wall time and CPU include that.
    """
    result = RoundResult(count=len(raws), wall=0.0)

    async def handle(update: Update, arrived: float) -> None:
        try:
            response = await dp.feed_update(bot, update)
        except Exception as exc:
            result.errors.append(f"{type(exc).__name__}: {exc}")
        else:
            if response is UNHANDLED:
                result.unhandled += 1
        result.latencies.append(time.perf_counter() - arrived)

    tasks: list[asyncio.Task[None]] = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for first in range(0, len(raws), batch):
        for raw in raws[first : first + batch]:
            arrived = time.perf_counter()
            update = Update.model_validate_json(raw, context={"bot": bot})
            tasks.append(asyncio.create_task(handle(update, arrived)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    if settle is not None:
        await settle()
    result.wall = time.perf_counter() - started
    result.cpu = time.process_time() - cpu_started
    return result


# -- figures -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


def machine_line() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, aiogram {aiogram.__version__}"
    )


Row = tuple[str, str]
"""(figure, value) for the table."""


def report_json(name: str, ok: bool, rows: Sequence[Row], **extra: Any) -> str:
    return json.dumps({"bench": name, "ok": ok, "rows": [list(r) for r in rows], **extra})


def print_rows(title: str, rows: Sequence[Row]) -> None:
    width = max((len(f) for f, _ in rows), default=10)
    print(f"{title} ({machine_line()})")
    for figure, value in rows:
        print(f"  {figure:<{width}}  {value}")

"""Every kind of update the bot can get, mixed at random from many people at once.

What a person may send is not up to us: buttons of old messages, forged callback data, edits,
media, enormous texts, HTML in names, group chatter, channel posts. Whatever comes: nothing
raises, nothing is logged as an error, and every tap is answered exactly once, at once, even
while the sender is far behind with messages (answers are not queued behind sends).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiogram.types import Update

from bot.sender import Limits
from tests.bot.intake_harness import build_harness
from tests.support.bot_api_state import BotApiError
from tests.support.updates import (
    callback_update,
    channel_post_update,
    document_update,
    edited_message_update,
    group_message_update,
    message_update,
    photo_update,
    sticker_update,
    voice_update,
)

USERS = [700_000 + i for i in range(50)]
UPDATES = 2_000
BATCH = 25  # updates handled together, as the poller does with one getUpdates answer

TEXTS = [
    "/start", "/start kandidaat", "/start werkgever", "/stop", "/terug", "/mens", "/help",
    "/taal", "/mijngegevens", "/verwijder", "/intrekken", "/onbekend", "/start@other_bot",
    "1", "2", "3", "12", "0", "-1", "ja", "nee", "klopt", "Ja, dat is goed", "Anna",
    "06 12345678", "anna@example.nl", "3511 AB", "<b>vet</b> & <script>", "😀" * 50,
    "x" * 5_000, " ", "1 2 3", "Ik wil graag werken met dieren",
]  # fmt: skip
FORGED = [
    "", "zzz", "a:c:999:999", "a:c:-1:0", "a:e:0:0", "t:c:3:1", "r:<b>admin</b>", "r:helper",
    "s:ok:c", "s:edit:c", "x:1", "x:0", "n:back", "l:en", "l:xx", "p:K-2026-0001", "c:claim:1",
    "é" * 32,
]  # fmt: skip


def random_update(rng: random.Random, session_keyboards: dict[int, list[str]]) -> Update:
    user = rng.choice(USERS)
    roll = rng.random()
    if roll < 0.40:
        return message_update(rng.choice(TEXTS), user_id=user, first_name=rng.choice(NAMES))
    if roll < 0.70:
        # A real button of the person's newest keyboard (a double tap, or an old one), or data
        # nobody ever sent.
        buttons = session_keyboards.get(user) or []
        data = rng.choice(buttons) if buttons and rng.random() < 0.7 else rng.choice(FORGED)
        return callback_update(data, user_id=user, message_id=rng.randint(1, 60))
    if roll < 0.78:
        media: list[Callable[..., Update]] = [
            photo_update,
            sticker_update,
            voice_update,
            document_update,
        ]
        return rng.choice(media)(user_id=user)
    if roll < 0.84:
        return edited_message_update(rng.choice(TEXTS), user_id=user, message_id=1)
    if roll < 0.90:
        return group_message_update(rng.choice(TEXTS), user_id=user)
    if roll < 0.95:
        return callback_update(
            rng.choice(FORGED), user_id=user, chat_id=-100555, chat_type="supergroup"
        )
    return channel_post_update(rng.choice(TEXTS))


NAMES = ["Anna", "<b>Bram</b>", "Chloé & Co", "😀", "a" * 64, "</i><script>"]


@pytest.mark.looptime
async def test_a_random_mix_of_every_update_raises_nothing_and_answers_every_tap_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(20261203)
    # A sender far behind: a private chat gets one message every 1,000 s. Taps must still be
    # answered while their replies wait.
    harness = await build_harness(tmp_path, limits=Limits(chat_per_second=0.001, chat_burst=1))
    session = harness.session
    # Leaving a channel fails: that must not end in a traceback either.
    session.fail_next("leaveChat", BotApiError.chat_not_found(), times=UPDATES)
    caplog.set_level(logging.WARNING)
    raised: list[str] = []
    taps: list[str] = []
    try:
        for _ in range(UPDATES // BATCH):
            keyboards = {
                user: [d for row in session.last_keyboard(user) for _, d in row if d is not None]
                for user in USERS
            }
            batch = [random_update(rng, keyboards) for _ in range(BATCH)]
            taps += [u.callback_query.id for u in batch if u.callback_query is not None]

            async def feed(update: Update) -> None:
                try:
                    await harness.dp.feed_update(harness.bot, update)
                except Exception as exc:  # the test's verdict, below
                    raised.append(f"{type(exc).__name__}: {exc}")

            await asyncio.gather(*(feed(u) for u in batch))
            # Every tap of the batch is answered when its handling ends, not when a send is
            # made: the sender still holds replies for these people.
            answered = Counter(
                r.params.get("callback_query_id")
                for r in session.requests_of("answerCallbackQuery")
            )
            missing = [t for t in taps if answered[t] == 0]
            assert missing == [], f"taps not answered at once: {missing[:5]}"
        assert harness.sender.stats.sent < UPDATES  # the sender was indeed far behind

        assert raised == []
        answered = Counter(
            r.params.get("callback_query_id") for r in session.requests_of("answerCallbackQuery")
        )
        assert len(taps) > 500
        assert {t: n for t, n in answered.items() if n != 1} == {}  # once each
        assert set(answered) == set(taps)
        problems = [
            r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info or "Traceback" in r.getMessage()
        ]
        assert problems == []
    finally:
        await harness.close()

"""Fixtures shared by all tests: a Bot whose session records instead of calling Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot

from tests.support.session import RecordingSession, make_bot


@pytest.fixture
def recording_session() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
async def bot(recording_session: RecordingSession) -> AsyncIterator[Bot]:
    test_bot = make_bot(recording_session)
    yield test_bot
    await test_bot.session.close()

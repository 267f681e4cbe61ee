"""The writer killed by test_crash: a fork server run as `python -m tests.storage.crash_writer`.

Importing aiogram takes seconds, so this process imports once and forks one writer child per
trial. Protocol on stdin/stdout, one line each:
  -> `run <data_dir> <trial>`
  <- `pid <pid>`, then the child's `ack ...` lines, then `exit <trial>`
  -> `quit`
The child writes forever and prints an `ack` line after each durable write returns (`begin`
before an erasure, whose effect a kill may leave half done).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiogram.fsm.storage.base import StorageKey

from flows.records import Delivery, Intake, IntakeKind, Status, utc_iso
from storage import SystemClock, conversations, intakes, open_stores

CHATS = 12
# A small threshold, so that kills also land in compactions of the conversation journal at its
# size threshold (every few dozen steps), not only in those of erasure and of open.
COMPACT_BYTES = 8 * 1024
# Index files for partitions written 50 ms ago already (the file system's timestamps are much
# finer), two per turn of the writer thread: so that kills land in checkpoints, between their
# chunks too, and the next open finds a partial index.
FRESH_NS = 50_000_000
CHECKPOINT_CHUNK = 2


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


async def write_forever(data_dir: Path, trial: int) -> None:
    conversations.COMPACT_BYTES = COMPACT_BYTES
    intakes.FRESH_NS = FRESH_NS
    intakes.CHECKPOINT_CHUNK = CHECKPOINT_CHUNK
    stores = await open_stores(data_dir, SystemClock(), retention_days=365, conversation_days=30)
    if stores.problems:
        say("problem " + " | ".join(stores.problems))
    step = 0
    while True:
        step += 1
        tag = f"{trial}-{step}"
        chat = step % CHATS + 1
        kind = IntakeKind.EMPLOYER if step % 5 == 0 else IntakeKind.CANDIDATE
        intake = await stores.intakes.add(
            Intake(
                number="",
                kind=kind,
                created_at="",
                user_id=chat,
                chat_id=chat,
                language="nl",
                flow_version="crash",
                answers={"tag": tag},
                outcome={},
                name=f"Naam {tag}",
            )
        )
        say(f"ack intake {intake.number} {tag} {chat}")
        await stores.intakes.update(intake.number, "crash", "status", tag, status=Status.OPGEPAKT)
        say(f"ack update {intake.number} {tag}")
        key = StorageKey(bot_id=1, chat_id=chat, user_id=chat)
        await stores.conversations.set_state(key, f"Form:q{step % 7}")
        await stores.conversations.update_data(key, {"trial": trial, "step": step})
        say(f"ack conv {chat} {trial} {step}")
        now = datetime.now(UTC)
        # Two puts at once (they share one write), to this chat and the next one.
        tags = [f"{tag}-0", f"{tag}-1"]
        await asyncio.gather(
            *(
                stores.outbox.put(
                    Delivery(
                        id=t,
                        chat_id=chat + n,
                        method="sendMessage",
                        payload={"text": t},
                        created_at=utc_iso(now),
                        next_attempt_at=utc_iso(now),
                    )
                )
                for n, t in enumerate(tags)
            )
        )
        for t in tags:
            say(f"ack put {t}")
        if step % 3 == 0:
            await stores.outbox.mark_failed(tags[1], "Bad Gateway", now)
            say(f"ack failed {tags[1]}")
        if step % 2 == 0:
            await stores.outbox.mark_delivered(tags[0], now)
            say(f"ack delivered {tags[0]}")
        if step % 4 == 0:
            await stores.intakes.checkpoint()
        if step % 9 == 0:
            say(f"begin erase {chat}")
            numbers = await stores.intakes.delete_user(chat)
            await stores.conversations.delete_user(chat)  # compacts the journal
            say(f"ack erase {chat} {','.join(numbers) or '-'}")


def main() -> None:
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            return
        data_dir, trial = Path(words[1]), int(words[2])
        pid = os.fork()
        if pid == 0:  # the writer child
            try:
                asyncio.run(write_forever(data_dir, trial))
            finally:
                os._exit(1)
        say(f"pid {pid}")
        os.waitpid(pid, 0)
        say(f"exit {trial}")


if __name__ == "__main__":
    main()

"""kill -9 the real `python -m bot` many times while five candidates fill in their intakes.

The bot runs in polling mode against the fake Bot API server (tests/support/fake_bot_api.py), on
a DATA_DIR in tmp_path, with the coordinators' group set so every intake gets a card. Five
simulated candidates (starting one after the other, overlapping) answer the intake as a person
would: each looks at the newest bot message with a keyboard in their chat and answers that
question (a button, typed text or number, ticks and "Klaar"), presses "Klopt, versturen" on the
summary, and waits for the bot in between. A copy of the screen they just answered is not a new
question; they answer again only when the bot refused and showed the screen anew, or when
nothing happened for PATIENCE seconds of the bot being up.

Meanwhile the process is SIGKILLed and restarted on the same DATA_DIR, until everyone has their
number and at least MIN_KILLS kills were made. Each round has a random timer, and one of:

- a kill right after getUpdates handed updates over (between taking, committing and sending);
- a kill the moment a getUpdates confirms updates with its offset (aiogram asks for the next
  batch as soon as it has taken one: is the last one stored by then?);
- a kill the moment a send or an edit reaches Telegram, before the bot gets the answer (between
  send and mark-sent: the call goes again after the restart);

and, while their budgets last: a kill just after "Klopt, versturen" was handed over or when its
callback is answered (during the submit), and when a card reaches the group, before or just
after the answer (between send and writing down the card's message id).

Like Telegram, the fake hands an update out again until a later getUpdates confirms it with its
offset (the fake did so already), so an update that a killed process took but never confirmed
comes back after the restart.

At the end, with the last process stopped by SIGTERM, the transcript and the data directory must
show: no person got a question older than one they had seen; no answer was dropped (confirmed to
Telegram, then lost in a kill); exactly one stored intake per candidate, with the answers they
gave; each intake in a card that it names (a second copy only across a kill); each person told
their number; and at most one call per chat sent twice per kill. The counts are printed; a
failure prints the transcripts of the people concerned (KILLS_TRANSCRIPTS=1: all of them).

Slow (two to three minutes: each start imports aiogram): CI runs it as a step of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp import web

from flows.engine import Engine, Phase, Rejected
from flows.loader import load_shipped_flows
from flows.model import Kind
from storage import SystemClock, open_stores
from tests.support.bot_api_state import JsonDict, keyboard_rows, visible_text
from tests.support.bot_process import bot_env, spawn_bot
from tests.support.fake_bot_api import FakeBotApiServer, ServerRequest

pytestmark = pytest.mark.slow

TOKEN = "42:TEST-kills_token"
GROUP = -100777
PEOPLE = 5
FIRST_USER = 7001
# `KILLS_SEED=123 pytest ...` replays another run's choices (the timing still varies);
# KILLS_TRANSCRIPTS=1 prints every person's transcript, not only those of a failure.
SEED = int(os.environ.get("KILLS_SEED", "20261203"))
MIN_KILLS = 15
MAX_KILLS = 22
KILL_WINDOW = 160.0  # seconds from the start in which kills happen; then the bot may finish
HARD_LIMIT = 240.0  # the whole run, kills and the quiet end included
STAGGER = 1.5  # person i starts with the process number 1 + int(STAGGER * i)
START_TIMEOUT = 30.0  # one start of the process on a loaded 2-core machine
# Seconds of the bot being up (polling, added up over restarts) with nothing new in the chat
# before a person answers the question on screen again: far longer than the pacing ever makes
# anyone wait.
PATIENCE = 6.0
QUIET = 2.0  # seconds without a call that say the last process has sent everything

QUESTION = re.compile(r"Vraag (\d+) · ")
NUMBER = re.compile(r"Je nummer is (K-\d{4}-\d+)")
SUMMARY = "Dit zijn je antwoorden"
KLOPT = "✅ Klopt, versturen"
ROLE = "🔎 Ik zoek werk"
DONE = "✅ Klaar"
TICKED = "☑️"


def now() -> float:
    return time.monotonic()


# -- the fake Bot API server, watched ----------------------------------------------------------


@dataclass
class Seen:
    """A call the server answered: when it arrived, from which process (generation).

    A call may arrive just after its process was killed (it was on its way), so whether a kill
    came between two calls is told by their generations, not by the clock.
    """

    at: float
    generation: int
    request: ServerRequest

    @property
    def text(self) -> str:
        """The text as the person saw it when it arrived (later edits change the message)."""
        return visible_text(str(self.request.params.get("text", "")))


class WatchedServer(FakeBotApiServer):
    """The fake server, telling the test what it answers and which updates it hands out.

    The fake already behaves like Telegram for getUpdates: an update stays queued, and is handed
    out again, until a getUpdates with a higher offset confirms it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generation = 0
        self.seen: list[Seen] = []
        # (when, generation, update ids) of every getUpdates that handed something out
        self.handed: list[tuple[float, int, list[int]]] = []
        self.updates_by_id: dict[int, JsonDict] = {}
        self.confirmed: dict[int, tuple[float, int]] = {}  # update id -> (when, generation)
        self.first_poll: dict[int, float] = {}  # generation -> when it first asked for updates
        # Run before the bot gets the answer: a kill there lands between send and mark-sent.
        self.on_answer: Callable[[ServerRequest], None] | None = None
        self.on_handed: Callable[[list[JsonDict]], None] | None = None
        self.on_confirmed: Callable[[list[int]], None] | None = None

    def push_update(self, kind: str, payload: JsonDict) -> int:
        update_id = super().push_update(kind, payload)
        self.updates_by_id[update_id] = {"update_id": update_id, kind: payload}
        return update_id

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        generation, arrived = self.generation, now()
        response = await super()._handle_method(request)
        if method != "getupdates":
            # No await since the base class appended it: the last request is this one.
            recorded = self.requests[-1]
            self.seen.append(Seen(arrived, generation, recorded))
            if self.on_answer is not None:
                self.on_answer(recorded)
        return response

    async def _get_updates(self, params: Mapping[str, str]) -> list[JsonDict]:
        generation = self.generation
        self.first_poll.setdefault(generation, now())
        offset = int(params.get("offset", "0") or 0)
        newly = [i for i in self.updates_by_id if i < offset and i not in self.confirmed]
        for update_id in newly:
            self.confirmed[update_id] = (now(), generation)
        if newly and generation == self.generation and self.on_confirmed is not None:
            self.on_confirmed(newly)
        updates = await super()._get_updates(params)
        if updates:
            self.handed.append((now(), generation, [int(u["update_id"]) for u in updates]))
            # A long poll of a killed process may wake up and answer into a dead socket.
            if generation == self.generation and self.on_handed is not None:
                self.on_handed(updates)
        return updates


# -- the process -------------------------------------------------------------------------------


@dataclass
class Kill:
    number: int
    generation: int
    reason: str
    at: float
    uptime: float | None  # seconds since it started polling; None: killed while starting


class BotProcess:
    """Starts `python -m bot` on the same DATA_DIR, kills it, knows whether it is up."""

    def __init__(self, server: WatchedServer, tmp_path: Path) -> None:
        self.server = server
        self.data_dir = tmp_path / "data"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.home = tmp_path
        self.process: asyncio.subprocess.Process | None = None
        self.exited: asyncio.Future[int] | None = None
        self.generation = 0
        self.spawned_at = 0.0
        self.killed = False
        self.kills: list[Kill] = []
        self.starts: list[tuple[float, int]] = []  # (when polling began, generation)
        self.spawns: list[tuple[float, int]] = []  # (when started, generation)

    def env(self) -> dict[str, str]:
        return bot_env(
            home=self.home,
            token=TOKEN,
            api_base=self.server.base_url,
            data_dir=self.data_dir,
            COORDINATOR_CHAT_ID=str(GROUP),
            # Faster than Telegram allows a chat (1 a second), so the intakes fit the time; the
            # pacing has its own tests (tests/bot/test_sending.py).
            SEND_PER_CHAT_PER_SECOND="3",
            SEND_CHAT_BURST="3",
        )

    def log_path(self, generation: int) -> Path:
        return self.logs / f"bot-{generation}.log"

    async def spawn(self) -> None:
        assert not self.alive
        self.generation += 1
        self.server.generation = self.generation
        self.killed = False
        self.process = await spawn_bot(self.env(), self.home, self.log_path(self.generation))
        self.spawned_at = now()
        self.spawns.append((self.spawned_at, self.generation))
        self.exited = asyncio.ensure_future(self.process.wait())

    @property
    def alive(self) -> bool:
        return self.exited is not None and not self.exited.done()

    @property
    def up_since(self) -> float | None:
        """When this process began polling, if it is up and polling."""
        if not self.alive or self.killed:
            return None
        return self.server.first_poll.get(self.generation)

    def uptime_since(self, since: float) -> float:
        """Seconds since `since` in which a process was up and polling."""
        ended = {k.generation: k.at for k in self.kills}
        total = 0.0
        for generation, began in self.server.first_poll.items():
            end = ended.get(generation, now())
            total += max(0.0, end - max(began, since))
        return total

    async def wait_polling(self) -> bool:
        """True once it polls; False if it died (was killed) while starting."""
        deadline = self.spawned_at + START_TIMEOUT
        while self.generation not in self.server.first_poll:
            if not self.alive:
                if not self.killed:
                    raise AssertionError(f"the bot exited while starting:\n{self.read_log()}")
                return False
            if now() > deadline:
                raise AssertionError(f"the bot did not start polling:\n{self.read_log()}")
            await asyncio.sleep(0.02)
        self.starts.append((self.server.first_poll[self.generation], self.generation))
        return True

    def kill(self, reason: str, generation: int | None = None) -> None:
        """SIGKILL the running process (once), if it is still the generation meant."""
        if generation is not None and generation != self.generation:
            return
        if not self.alive or self.killed or self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.killed = True
        started = self.server.first_poll.get(self.generation)
        uptime = now() - started if started is not None else None
        self.kills.append(Kill(len(self.kills) + 1, self.generation, reason, now(), uptime))

    async def wait_exit(self, timeout: float = 15.0) -> int:  # noqa: ASYNC109
        assert self.exited is not None
        async with asyncio.timeout(timeout):
            # Shielded: a waiter that gives up must not cancel the process's own wait.
            return await asyncio.shield(self.exited)

    def read_log(self, generation: int | None = None) -> str:
        path = self.log_path(generation or self.generation)
        return path.read_text(errors="replace") if path.exists() else ""


# -- what each person answers ------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """How a person answers one question: press a button, type, or tick options and "Klaar"."""

    how: Literal["press", "type", "tick"]
    codes: tuple[str, ...] = ()
    text: str = ""


def make_plan(engine: Engine, index: int, rng: random.Random) -> dict[str, Decision]:
    plan: dict[str, Decision] = {}
    for q in engine.flow.questions:
        if q.kind == Kind.MULTI:
            plain = [o.code for o in q.options if not o.exclusive]
            alone = [o.code for o in q.options if o.exclusive]
            if alone and rng.random() < 0.15:
                codes = [alone[0]]
            else:
                codes = rng.sample(plain, rng.choice((1, 2)))
            plan[q.id] = Decision("tick", tuple(c for c in q.option_codes if c in codes))
        elif q.kind.has_options:
            choices = [i for i, o in enumerate(q.options) if o.ends is None]
            pick = rng.choice(choices)
            code = q.options[pick].code
            # "Tik op een knop, of typ het nummer": some people type the number.
            if rng.random() < 0.3:
                plan[q.id] = Decision("type", (code,), str(pick + 1))
            else:
                plan[q.id] = Decision("press", (code,))
        elif q.kind == Kind.NUMBER:
            low, high = q.validation.minimum or 1, q.validation.maximum or 40
            plan[q.id] = Decision("type", text=str(rng.randint(low, high)))
        elif q.kind == Kind.POSTCODE:
            plan[q.id] = Decision("type", text=f"{3511 + index} AB")
        elif q.kind == Kind.PHONE:
            plan[q.id] = Decision("type", text=f"06-1234567{index}")
        elif q.kind == Kind.EMAIL:
            plan[q.id] = Decision("type", text=f"kandidaat{index}@example.nl")
        elif q.id == "name":
            plan[q.id] = Decision("type", text=f"Kandidaat {index}")
        else:
            plan[q.id] = Decision("type", text=f"Iets met dieren, persoon {index}")
    return plan


def expected_answers(engine: Engine, plan: Mapping[str, Decision]) -> dict[str, Any]:
    """The answers the intake must hold: the plan walked through the engine."""
    state = engine.start()
    while (step := engine.step(state)) is not None:
        decision = plan[step.question.id]
        if decision.how == "type":
            result = engine.answer_text(state, decision.text)
        elif decision.how == "tick":
            result = engine.answer(state, list(decision.codes))
        else:
            result = engine.answer(state, decision.codes[0])
        assert not isinstance(result, Rejected), (step.question.id, decision, result.reason)
        state = result.state
    assert state.phase == Phase.SUMMARY
    answers = {
        line.question.id: state.answers[line.question.id] for line in engine.summary(state, "nl")
    }
    normal: dict[str, Any] = json.loads(json.dumps(answers))
    return normal


# -- the people --------------------------------------------------------------------------------


class ConfusedError(AssertionError):
    pass


class Person:
    """A candidate in their own chat: answers the screen they see, then waits for the bot.

    A copy of the screen they just answered (sent again after a kill) is not a new question: they
    wait. They look again at the same screen when the bot said something else and then showed it
    again ("Deze knop werkt niet meer. Hier was je:"), or when nothing at all happened for
    PATIENCE seconds of the bot being up (it took the update and died before storing it).
    """

    def __init__(
        self,
        index: int,
        server: WatchedServer,
        bot: BotProcess,
        engine: Engine,
        rng: random.Random,
        started: float,
    ) -> None:
        self.index = index
        self.user_id = FIRST_USER + index
        self.server = server
        self.bot = bot
        self.engine = engine
        self.rng = rng
        self.started = started
        self.plan = make_plan(engine, index, rng)
        self.expected = expected_answers(engine, self.plan)
        self.acted_on: tuple[str, str] | None = None  # the screen answered last (text, keyboard)
        self.acted_at = 0.0
        self.mark = 0  # the newest message id in the chat when they acted last
        self.acted_id = 0  # the message id of the screen they acted on last
        self.last_update: tuple[int, str | None] = (0, None)  # update id, callback id
        # (update id, callback id) of the actions followed by PATIENCE seconds of silence
        self.silences: list[tuple[int, str | None]] = []
        self.repeats = 0  # answered again after a silence
        self.refused = 0  # answered again after the bot refused and showed the screen again
        self.repeats_here = 0
        self.number: str | None = None
        self.done_at = (0.0, 0)  # seconds into the run, generation
        self.actions: list[tuple[float, str]] = []
        self.klopt_updates: list[int] = []

    def note(self, what: str) -> None:
        self.actions.append((now(), what))

    def view(self) -> JsonDict | None:
        """The newest bot message with a keyboard: the screen the person answers. One older than
        the screen they answered last (a first copy of a question sent twice, whose keyboard the
        bot never took off) is not looked at again: nobody scrolls up to answer it."""
        view = self.server.state.last_keyboard_message(self.user_id)
        if view is None or int(view["message_id"]) < self.acted_id:
            return None
        return view

    def told_number(self) -> str | None:
        for message in self.server.state.chat_messages(self.user_id):
            found = NUMBER.search(str(message.get("text", "")))
            if found and message.get("from", {}).get("is_bot"):
                return found.group(1)
        return None

    def shown_again(self, view: JsonDict) -> bool:
        """Since they acted, the bot said something else, then showed this screen anew."""
        acted_text = self.acted_on[0] if self.acted_on else None
        return any(
            self.mark < int(m["message_id"]) < int(view["message_id"])
            and m.get("from", {}).get("is_bot")
            and m.get("text") != acted_text
            for m in self.server.state.chat_messages(self.user_id)
        )

    def patience_over(self) -> bool:
        return self.bot.uptime_since(self.acted_at) >= PATIENCE

    async def run(self) -> None:
        # One after the other, so that intakes are sent, and cards delivered, all through the
        # run; each overlaps with a few others.
        await until(lambda: self.bot.generation > int(STAGGER * self.index), HARD_LIMIT)
        await asyncio.sleep(self.rng.uniform(0.0, 1.0))
        self.type("/start", "start")
        while self.number is None:
            await asyncio.sleep(0.05)
            self.number = self.told_number()
            if self.number is not None:
                self.done_at = (now() - self.started, self.bot.generation)
                self.note(f"sees their number {self.number}")
                return
            view = self.view()
            new = view is not None and screen_content(view) != self.acted_on
            again = view is not None and not new and self.shown_again(view)
            if new or again:
                # Reading and thinking; then answer what is on screen by now.
                await asyncio.sleep(self.rng.uniform(0.05, 0.4))
                if self.told_number() is not None:
                    continue
                view = self.view()
                if screen_content(view) != self.acted_on:
                    self.repeats_here = 0
                    self.act(view, why="")
                else:
                    self.refused += 1
                    self.count_repeat()
                    self.act(view, why=", again: the bot showed it again")
            elif self.patience_over() and (view is not None or self.acted_id == 0):
                self.repeats += 1
                self.silences.append(self.last_update)
                self.count_repeat()
                if view is None:
                    self.type("/start", "start, again: nothing happened")
                else:
                    self.act(view, why=", again: nothing happened")

    def count_repeat(self) -> None:
        self.repeats_here += 1
        if self.repeats_here > 6:
            raise ConfusedError(f"person {self.index}: answered the same screen 7 times")

    def type(self, text: str, what: str) -> None:
        update_id = self.server.push_message(text, self.user_id)
        self.acted_at = now()
        self.last_update = (update_id, None)
        self.note(f"types {text!r} (update {update_id}): {what}")

    def press(self, view: JsonDict, data: str, label: str, what: str) -> None:
        update_id = self.server.push_callback(
            data, self.user_id, message_id=int(view["message_id"])
        )
        self.acted_at = now()
        callback = self.server.updates_by_id[update_id]["callback_query"]["id"]
        self.last_update = (update_id, str(callback))
        if data.startswith("s:ok:"):
            self.klopt_updates.append(update_id)
        self.note(f"presses {label!r} on message {view['message_id']} (update {update_id}): {what}")

    def act(self, view: JsonDict | None, *, why: str) -> None:
        assert view is not None
        self.acted_on = screen_content(view)
        self.acted_id = int(view["message_id"])
        self.mark = max(int(m["message_id"]) for m in self.server.state.chat_messages(self.user_id))
        again = why
        text = str(view.get("text", ""))
        buttons = {
            label: data for row in keyboard_rows(view.get("reply_markup")) for label, data in row
        }
        if SUMMARY in text:
            self.press(view, require(buttons, KLOPT), KLOPT, "the summary" + again)
            return
        if ROLE in buttons:
            self.press(view, require(buttons, ROLE), ROLE, "the welcome" + again)
            return
        found = QUESTION.search(text)
        question = self.question_in(text)
        if found is None or question is None:
            raise ConfusedError(
                f"person {self.index} does not know what to do with: {text[:200]!r}"
            )
        where = f"Vraag {found.group(1)} ({question.id}){again}"
        decision = self.plan[question.id]
        if decision.how == "type":
            self.type(decision.text, where)
            return
        if decision.how == "press":
            pick = question.option_codes.index(decision.codes[0])
            label = f"{pick + 1}. {question.options[pick].label.nl}"
            self.press(view, require(buttons, label), label, where)
            return
        # Tick what they want and untick what they do not, one tap at a time; then "Klaar".
        for i, option in enumerate(question.options):
            shown = next((b for b in buttons if b.endswith(f" {i + 1}. {option.label.nl}")), None)
            if shown is None:
                raise ConfusedError(
                    f"person {self.index}: no button for {option.code} in {buttons}"
                )
            ticked = shown.startswith(TICKED)
            if ticked != (option.code in decision.codes):
                self.press(view, require(buttons, shown), shown, where)
                return
        self.press(view, require(buttons, DONE), DONE, where)

    def question_in(self, text: str) -> Any:
        # A question text may hold placeholders ("{after_close}"): match what is around them.
        # A helper reads the question about "de persoon" (text_helper) instead.
        matches = [
            (q, wording.nl)
            for q in self.engine.flow.questions
            for wording in (q.text, q.text_helper)
            if wording is not None
            and all(part in text for part in re.split(r"\{[a-z_]+\}", wording.nl))
        ]
        return max(matches, key=lambda m: len(m[1]))[0] if matches else None


def require(buttons: Mapping[str, str | None], label: str) -> str:
    data = buttons.get(label)
    if data is None:
        raise ConfusedError(f"no button {label!r} among {list(buttons)}")
    return data


def screen_content(view: JsonDict | None) -> tuple[str, str] | None:
    """What a person sees of a screen: a resent copy of the same question looks the same."""
    if view is None:
        return None
    return str(view.get("text", "")), json.dumps(view.get("reply_markup"), sort_keys=True)


# -- the killer --------------------------------------------------------------------------------

# Rounds whose kill lands when the first batch after the start is confirmed.
RESTART_BATCH_ROUNDS = (4, 9)
CYCLE_TRIGGERS = ["timer"] * 4 + ["send"] * 3 + ["edit"] * 1 + ["handed"] * 3 + ["confirmed"] * 2


class Killer:
    """Decides when to kill: a timer each round, plus one targeted trigger for the round, plus
    triggers around "Klopt, versturen" and the cards while their budgets last."""

    def __init__(self, server: WatchedServer, bot: BotProcess, rng: random.Random) -> None:
        self.server = server
        self.bot = bot
        self.rng = rng
        self.active = False
        self.trigger = "timer"
        self.trigger_after: float | None = None  # seconds after polling began; None: from spawn
        self.budgets = {"klopt-handed": 3, "klopt-answered": 2, "card-sent": 4}
        # Callback id -> person, of the "Klopt" presses of people whose submit was not yet aimed
        # at: one such kill per person, so that the kills do not keep one submit from finishing.
        self.klopt_callbacks: dict[str, int] = {}
        self.klopt_killed: set[int] = set()
        server.on_answer = self.on_answer
        server.on_handed = self.on_handed
        server.on_confirmed = self.on_confirmed

    def new_round(self, number: int) -> None:
        if number in RESTART_BATCH_ROUNDS:
            # The answers people gave while the bot was down come as one batch right after the
            # start: kill when the next getUpdates confirms that batch.
            self.trigger, self.trigger_after = "confirmed", 0.0
            return
        self.trigger = self.rng.choice(CYCLE_TRIGGERS)
        from_spawn = self.trigger in ("send", "edit") and self.rng.random() < 0.3
        self.trigger_after = None if from_spawn else self.rng.uniform(0.3, 3.0)

    def _armed(self) -> bool:
        if not self.active or not self.bot.alive or self.bot.killed:
            return False
        if self.trigger_after is None:
            return True
        up = self.bot.up_since
        return up is not None and now() - up >= self.trigger_after

    def _spend(self, budget: str) -> bool:
        if not self.active or self.budgets[budget] <= 0:
            return False
        self.budgets[budget] -= 1
        return True

    def on_answer(self, request: ServerRequest) -> None:
        if not self.bot.alive or self.bot.killed:
            return
        method = request.method.lower()
        chat = int(request.chat_id) if request.chat_id else 0
        if method == "sendmessage" and chat == GROUP and request.ok:
            if self._spend("card-sent"):
                if self.rng.random() < 0.25:
                    self.bot.kill(
                        "card: reached the group; killed before the answer (send → mark-sent)"
                    )
                else:
                    # After the answer: while the bot writes down that the card is out.
                    delay = self.rng.uniform(0.0, 0.015)
                    asyncio.get_running_loop().call_later(
                        delay,
                        self.bot.kill,
                        f"card: {delay * 1000:.0f} ms after it reached the group",
                        self.bot.generation,
                    )
            return
        person = self.klopt_callbacks.get(str(request.params.get("callback_query_id")))
        if (
            method == "answercallbackquery"
            and person is not None
            and person not in self.klopt_killed
            and self._spend("klopt-answered")
        ):
            self.klopt_killed.add(person)
            self.bot.kill('klopt-answered: "Klopt" answered, after its commit (during the submit)')
            return
        if chat <= 0 or not self._armed():
            return
        if self.trigger == "send" and method == "sendmessage":
            self.bot.kill(
                "send: a message reached Telegram; killed before the answer (send → mark-sent)"
            )
        elif self.trigger == "edit" and method.startswith("editmessage"):
            self.bot.kill(
                "edit: an edit reached Telegram; killed before the answer (send → mark-sent)"
            )

    def on_confirmed(self, update_ids: list[int]) -> None:
        if self.trigger == "confirmed" and self._armed():
            # aiogram asks for more updates as soon as it has taken a batch, before handling it.
            self.bot.kill(f"confirmed: a getUpdates confirmed update {update_ids[-1]} just now")

    def on_handed(self, updates: list[JsonDict]) -> None:
        generation = self.bot.generation
        loop = asyncio.get_running_loop()
        klopt = [
            u
            for u in updates
            if str(u.get("callback_query", {}).get("data", "")).startswith("s:ok:")
        ]
        people = {int(u["callback_query"]["from"]["id"]) for u in klopt} - self.klopt_killed
        for update in klopt:
            self.klopt_callbacks[str(update["callback_query"]["id"])] = int(
                update["callback_query"]["from"]["id"]
            )
        if people and self._spend("klopt-handed"):
            self.klopt_killed |= people
            delay = self.rng.uniform(0.0, 0.08)
            loop.call_later(
                delay,
                self.bot.kill,
                f'klopt-handed: {delay * 1000:.0f} ms after "Klopt" was handed over',
                generation,
            )
        elif self.trigger == "handed" and self._armed():
            delay = self.rng.uniform(0.0, 0.05)
            loop.call_later(
                delay,
                self.bot.kill,
                f"handed: {delay * 1000:.0f} ms after updates were handed over",
                generation,
            )


# -- the run -----------------------------------------------------------------------------------


async def until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = now() + seconds
    while not condition():
        if now() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def first_of(*waits: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Run:
    server: WatchedServer
    bot: BotProcess
    people: list[Person]
    started: float
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def all_done(self) -> bool:
        return all(p.number is not None for p in self.people)

    def check_people(self) -> None:
        for task in self.tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error

    def elapsed(self) -> float:
        return now() - self.started


async def drive(run: Run, killer: Killer, rng: random.Random) -> None:
    bot = run.bot
    # Kills go on after the last candidate got their number while there were fewer than
    # MIN_KILLS (they still land in cards and edits on their way).
    while not run.all_done() or (len(bot.kills) < MIN_KILLS and run.elapsed() < KILL_WINDOW):
        run.check_people()
        if run.elapsed() > HARD_LIMIT:
            raise AssertionError("the candidates did not finish in time")
        killing = len(bot.kills) < MAX_KILLS and run.elapsed() < KILL_WINDOW
        killer.active = killing
        if killing:
            killer.new_round(len(bot.kills) + 1)
        if not bot.alive:
            await bot.spawn()
        if not await bot.wait_polling():
            await bot.wait_exit()
            continue
        if not killing:
            # No more kills: the bot must bring everyone to the end on its own.
            await first_of(
                until(run.all_done, HARD_LIMIT - run.elapsed()), bot.wait_exit(HARD_LIMIT)
            )
            if not bot.alive:
                raise AssertionError(f"the bot exited by itself:\n{bot.read_log()}")
            continue
        timer = rng.uniform(0.8, 4.5)
        done_before = run.all_done()
        waits = [asyncio.sleep(timer), bot.wait_exit(timer + 1)]
        if not done_before:
            waits.append(until(run.all_done, timer))
        await first_of(*waits)
        if bot.alive and not bot.killed and (done_before or not run.all_done()):
            bot.kill(f"timer: {timer:.1f} s after polling began")
        if bot.killed:
            await bot.wait_exit()
        elif not bot.alive:
            raise AssertionError(f"the bot exited by itself:\n{bot.read_log()}")
    killer.active = False
    if not bot.alive:
        await bot.spawn()
        assert await bot.wait_polling()


async def finish(run: Run) -> None:
    """Let the last process deliver every card and queued call, then stop it with SIGTERM."""
    server, bot = run.server, run.bot
    numbers = {p.number for p in run.people}

    def cards_out() -> bool:
        texts = [str(r.params.get("text", "")) for r in group_sends(server)]
        return all(any(n in t for t in texts) for n in numbers if n)

    assert await until(cards_out, 60.0), "not every intake's card reached the group"

    def quiet() -> bool:
        return not server.seen or now() - server.seen[-1].at >= QUIET

    assert await until(quiet, 60.0), "the bot kept sending"
    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)
    code = await bot.wait_exit(20.0)
    assert code == 0, f"the last process exited with {code}:\n{bot.read_log()}"


# -- reading the transcript ---------------------------------------------------------------------


def sends(server: WatchedServer, chat: int) -> list[Seen]:
    return [
        s
        for s in server.seen
        if s.request.ok and s.request.method == "sendMessage" and s.request.chat_id == str(chat)
    ]


def group_sends(server: WatchedServer) -> list[ServerRequest]:
    return [s.request for s in sends(server, GROUP)]


def kills_between(kills: list[Kill], first: Seen, second: Seen) -> list[Kill]:
    """The kills of the processes from the one that sent `first` up to the one before `second`'s."""
    return [k for k in kills if first.generation <= k.generation < second.generation]


def transcript(run: Run, person: Person) -> str:
    """What happened in one person's chat, with the kills and restarts, in time order."""
    t0 = run.started
    lines: list[tuple[float, str]] = [(at, f"person   {what}") for at, what in person.actions]
    for seen in run.server.seen:
        request = seen.request
        if request.chat_id != str(person.user_id):
            continue
        if request.method == "sendMessage":
            mid = request.result.get("message_id") if isinstance(request.result, dict) else None
            text = " ".join(seen.text.split())[:110]
            what = f"sendMessage → #{mid}: {text}"
        elif request.method.startswith("editMessage"):
            what = f"{request.method} #{request.params.get('message_id')}"
        else:
            what = request.method
        status = "" if request.ok else f"  [{request.error}]"
        lines.append((seen.at, f"bot g{seen.generation:<3} {what}{status}"))
    for kill in run.bot.kills:
        lines.append((kill.at, f"KILL #{kill.number} of g{kill.generation}: {kill.reason}"))
    for at, generation in run.bot.starts:
        lines.append((at, f"START g{generation} polls"))
    lines.sort(key=lambda line: line[0])
    header = f"--- transcript of person {person.index} (chat {person.user_id}) ---"
    return "\n".join([header, *(f"{at - t0:8.2f}  {what}" for at, what in lines)])


def duplicates(server: WatchedServer, chat: int) -> list[tuple[Seen, Seen]]:
    """Two sends in a row with the same text to the same chat."""
    chat_sends = sends(server, chat)
    return [
        (a, b)
        for a, b in itertools.pairwise(chat_sends)
        if a.request.params.get("text") == b.request.params.get("text")
    ]


# -- the test ----------------------------------------------------------------------------------


async def test_kill_9_at_random_moments_while_five_candidates_submit(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    engine = Engine(load_shipped_flows()["candidate"])
    server = WatchedServer(token=TOKEN)
    async with server:
        bot = BotProcess(server, tmp_path)
        started = now()
        people = [
            Person(i, server, bot, engine, random.Random(SEED * 10 + i), started)
            for i in range(PEOPLE)
        ]
        run = Run(server, bot, people, started)
        killer = Killer(server, bot, rng)
        run.tasks = [asyncio.create_task(p.run()) for p in people]
        failed = True
        try:
            await drive(run, killer, rng)
            run.check_people()
            await finish(run)
            failed = False
        finally:
            for task in run.tasks:
                task.cancel()
            await asyncio.gather(*run.tasks, return_exceptions=True)
            if bot.alive and bot.process is not None:
                bot.process.send_signal(signal.SIGKILL)
                await bot.wait_exit()
            if failed:
                for person in people:
                    print(transcript(run, person))
                print(f"--- log of the last process (g{bot.generation}) ---\n{bot.read_log()}")
        elapsed = run.elapsed()
        await check(run, elapsed)


async def check(run: Run, elapsed: float) -> None:
    server, bot, people = run.server, run.bot, run.people
    kills = bot.kills
    problems: list[str] = []
    concerned: set[int] = set()

    # What the process logs said: storage problems after a kill, calls resumed, errors.
    resumed: list[int] = []
    log_errors: list[str] = []
    for generation in range(1, bot.generation + 1):
        log = bot.read_log(generation)
        if re.search(r"WARNING bot: storage:", log):
            problems.append(f"g{generation} found storage problems:\n{log}")
        resumed += [int(n) for n in re.findall(r"resuming (\d+) calls", log)]
        log_errors += [
            f"g{generation}: {line}"
            for line in log.splitlines()
            if "ERROR" in line or "Traceback" in line
        ]

    # 1. Lost answers: the question numbers each person received never go down.
    lost = 0
    for person in people:
        numbers = [
            int(found.group(1))
            for seen in sends(server, person.user_id)
            if (found := QUESTION.search(seen.text))
        ]
        for before, after in itertools.pairwise(numbers):
            if after < before:
                lost += 1
                concerned.add(person.index)
                problems.append(f"person {person.index} got Vraag {after} after Vraag {before}")

    # 1b. Answers dropped: taken by a process and confirmed to Telegram (a later getUpdates
    # passed its offset), then lost in a kill before the bot stored them. Telegram does not hand
    # such an update out again: the person sees nothing happen and must answer again.
    dropped = 0
    silences: list[str] = []
    killed = {k.generation for k in kills}
    for person in people:
        for update_id, callback in person.silences:
            confirmed = server.confirmed.get(update_id)
            handed_at = [at for at, g, ids in server.handed if update_id in ids]
            if callback is not None:
                answered = any(
                    s.request.method == "answerCallbackQuery"
                    and s.request.params.get("callback_query_id") == callback
                    for s in server.seen
                )
            else:
                answered = confirmed is not None and any(
                    s.generation == confirmed[1] and handed_at and s.at >= handed_at[0]
                    for s in sends(server, person.user_id)
                )
            what = f"person {person.index}, update {update_id}"
            if confirmed is not None and confirmed[1] in killed and not answered:
                dropped += 1
                concerned.add(person.index)
                problems.append(
                    f"{what}: confirmed to Telegram by g{confirmed[1]} (the offset of its next"
                    f" getUpdates) before it was stored, and lost when g{confirmed[1]} was killed:"
                    " the person had to answer again"
                )
            else:
                silences.append(f"{what} (confirmed by g{confirmed[1] if confirmed else '-'})")

    # 2. Duplicate sends: only across a kill, at most one per chat per kill.
    dup_count = 0
    per_kill_chat: Counter[tuple[int, int]] = Counter()
    for chat in [GROUP, *(p.user_id for p in people)]:
        for a, b in duplicates(server, chat):
            dup_count += 1
            between = kills_between(kills, a, b)
            text = a.text[:80]
            if not between:
                problems.append(f"sent twice without a kill between, to chat {chat}: {text!r}")
                concerned.add(chat - FIRST_USER)
            for kill in between[:1]:
                per_kill_chat[(kill.number, chat)] += 1
    for (number, chat), count in per_kill_chat.items():
        if count > 1:
            problems.append(f"kill #{number} left {count} calls to chat {chat} sent twice")
            concerned.add(chat - FIRST_USER)

    # 3. The data directory: one intake per candidate, the answers they gave, no leftovers.
    stores = await open_stores(
        bot.data_dir, SystemClock(), retention_days=365, conversation_days=30
    )
    try:
        assert stores.problems == [], stores.problems
        intakes = list(await stores.intakes.all())
        pending = list(await stores.outbox.pending())
        leftovers = {}
        for key in await stores.conversations.keys():
            data = await stores.conversations.get_data(key)
            if data.get("outbox") or data.get("submitting"):
                leftovers[key.chat_id] = (data.get("outbox"), data.get("submitting"))
    finally:
        await stores.close()
    by_user: dict[int, list[Any]] = defaultdict(list)
    for intake in intakes:
        by_user[intake.user_id].append(intake)
    duplicate_intakes = sum(max(0, len(v) - 1) for v in by_user.values())
    for person in people:
        theirs = by_user.get(person.user_id, [])
        if len(theirs) != 1:
            concerned.add(person.index)
            problems.append(
                f"person {person.index} has {len(theirs)} intakes: {[i.number for i in theirs]}"
            )
            continue
        intake = theirs[0]
        got = json.loads(json.dumps(intake.answers))
        if got != person.expected:
            concerned.add(person.index)
            wrong = {
                k: (got.get(k), person.expected.get(k))
                for k in set(got) | set(person.expected)
                if got.get(k) != person.expected.get(k)
            }
            problems.append(
                f"person {person.index}: stored answers differ (stored, given): {wrong}"
            )
        # 4. Told their number.
        told = [s for s in sends(server, person.user_id) if intake.number in s.text]
        if not told or person.number != intake.number:
            concerned.add(person.index)
            problems.append(
                f"person {person.index} was not told {intake.number} (saw {person.number})"
            )
    if pending:
        problems.append(f"deliveries still pending: {pending}")
    if leftovers:
        problems.append(f"conversations with calls or a submit left: {leftovers}")

    # 5. Cards: every intake in exactly one card, a second copy only across a kill.
    cards_sent = group_sends(server)
    card_seen = sends(server, GROUP)
    intakes_without_card = 0
    card_duplicates = 0
    for intake in intakes:
        copies = [s for s in card_seen if intake.number in s.text]
        if not copies:
            intakes_without_card += 1
            problems.append(f"intake {intake.number} has no card")
            continue
        card_duplicates += len(copies) - 1
        for a, b in itertools.pairwise(copies):
            if not kills_between(kills, a, b):
                problems.append(f"card {intake.number} sent twice without a kill between")
        card_ids = {
            int(c.request.result["message_id"])
            for c in copies
            if isinstance(c.request.result, dict)
        }
        if intake.card_message_id not in card_ids:
            problems.append(
                f"intake {intake.number}: its card went out (message ids {sorted(card_ids)}) but"
                f" the intake names card {intake.card_message_id}: later edits of the card and"
                " replies under it cannot find it"
            )

    # Which windows the kills hit, by what the kills were aimed at and what followed.
    reasons = Counter(k.reason.split(":")[0] for k in kills)
    submit_cut = 0
    for person in people:
        for update_id in person.klopt_updates:
            handed = [(at, g) for at, g, ids in server.handed if update_id in ids and g]
            told = [s for s in sends(server, person.user_id) if NUMBER.search(s.text)]
            if (
                handed
                and told
                and any(
                    k.generation == handed[0][1] and handed[0][0] <= k.at <= told[0].at
                    for k in kills
                )
            ):
                submit_cut += 1
                break
    handed_to: dict[int, set[int]] = defaultdict(set)
    for _at, generation, handed_ids in server.handed:
        if generation in {g for _, g in bot.starts}:
            for update_id in handed_ids:
                handed_to[update_id].add(generation)
    redelivered = sum(1 for gens in handed_to.values() if len(gens) > 1)
    repeats = sum(p.repeats for p in people)
    refused = sum(p.refused for p in people)
    not_modified = sum(
        1
        for s in server.seen
        if s.request.error is not None and "not modified" in str(s.request.error)
    )

    print(
        f"\nkill test (seed {SEED}): {len(kills)} kills in {elapsed:.0f} s,"
        f" {bot.generation} starts, {len(people)} candidates,"
        f" {len(server.updates_by_id)} updates, {len(server.seen)} calls"
    )
    for kill in kills:
        up = f"{kill.uptime:5.2f} s up" if kill.uptime is not None else "  starting"
        print(f"  kill #{kill.number:<2} g{kill.generation:<3} {up}: {kill.reason}")
    print(f"  kills by aim: {dict(reasons)}")
    took = [bot.server.first_poll[g] - at for at, g in bot.spawns if g in bot.server.first_poll]
    print(
        f"  starts took {sum(took) / len(took):.1f} s on average ({min(took):.1f}-{max(took):.1f});"
        " done: "
        + ", ".join(f"person {p.index} at {p.done_at[0]:.0f} s (g{p.done_at[1]})" for p in people)
    )
    print(
        f"  lost answers (a question older than one seen): {lost};"
        f" answers dropped (confirmed to Telegram, lost in a kill): {dropped}\n"
        f"  duplicate intakes: {duplicate_intakes}; intakes without a card: {intakes_without_card};"
        f" cards sent twice across a kill: {card_duplicates} ({len(cards_sent)} card sends)\n"
        f"  calls sent twice in a row (same text, same chat): {dup_count};"
        f" edits answered 'not modified' (sent again after a kill): {not_modified}\n"
        f"  restarts that resumed stored calls: {len(resumed)} ({sum(resumed)} calls);"
        f" submits cut off by a kill and finished after it: {submit_cut}\n"
        f"  updates handed to two processes (not confirmed before the kill): {redelivered};"
        f" answers given again after {PATIENCE:.0f} s of silence: {repeats},"
        f" after the bot refused and showed the screen again: {refused}\n"
        f"  every candidate told their number: {all(p.number for p in people)}"
    )
    if silences:
        print("  silences after an answer the bot had taken: " + ", ".join(silences))
    if log_errors:
        print("  errors in the logs:\n    " + "\n    ".join(log_errors[:20]))
    if os.environ.get("KILLS_TRANSCRIPTS"):
        concerned.update(range(len(people)))
    if problems or os.environ.get("KILLS_TRANSCRIPTS"):
        for index in sorted(i for i in concerned if 0 <= i < len(people)):
            print(transcript(run, people[index]))
    assert not problems, "\n".join(problems)
    assert len(kills) >= 12, f"only {len(kills)} kills: the run was too short to mean much"

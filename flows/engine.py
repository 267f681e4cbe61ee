"""The engine that walks a flow: pure functions over a JSON-friendly state.

The state is plain data (`FlowState`), stored between messages; every call returns a new state and
never touches the old one. The walk is in flow order: the current question is always the first
one that applies and is not yet answered, unless the person went back or is changing an answer
from the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from flows.conditions import holds, maybe
from flows.model import AnswerValue, ConsentScope, Flow, Kind, Language, Question, Text
from flows.outcome import Outcome, compute_outcome
from flows.validation import Invalid, check_value, parse_text

STATE_SCHEMA = 1


class Phase(StrEnum):
    ASKING = "asking"
    SUMMARY = "summary"
    ENDED = "ended"  # stopped early by an answer (no consent, no parent present)


def _copy_answers(answers: dict[str, AnswerValue]) -> dict[str, AnswerValue]:
    """A copy that shares nothing mutable: answers are str, int or a list of str. Cheaper than
    `copy.deepcopy`, which this runs on every step (bench/step_bench.py)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in answers.items()}


@dataclass(slots=True)
class FlowState:
    """Where one person is in one flow. Survives `to_dict`/`from_dict` through JSON unchanged."""

    flow: str
    version: str
    phase: Phase
    current: str | None
    answers: dict[str, AnswerValue] = field(default_factory=dict)
    # Set while changing one answer from the summary: the question being changed, and the
    # dependent questions already re-asked.
    editing: str | None = None
    reasked: list[str] = field(default_factory=list)
    end_code: str | None = None
    # Chosen on the welcome: "I help someone who looks for work". Counts until the flow's role
    # question (flows.model.HelperMode.role) is answered; that answer decides after it.
    helper: bool = False
    schema: int = STATE_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "version": self.version,
            "phase": str(self.phase),
            "current": self.current,
            "answers": _copy_answers(self.answers),
            "editing": self.editing,
            "reasked": list(self.reasked),
            "end_code": self.end_code,
            "helper": self.helper,
            "schema": self.schema,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowState:
        return cls(
            flow=str(data["flow"]),
            version=str(data["version"]),
            phase=Phase(data["phase"]),
            current=data.get("current"),
            answers=_copy_answers(data.get("answers", {})),
            editing=data.get("editing"),
            reasked=list(data.get("reasked", [])),
            end_code=data.get("end_code"),
            helper=bool(data.get("helper", False)),
            schema=int(data.get("schema", STATE_SCHEMA)),
        )

    def copy(self) -> FlowState:
        # `replace` keeps every field, also one added later; only the mutable ones are copied.
        return replace(self, answers=_copy_answers(self.answers), reasked=list(self.reasked))


@dataclass(frozen=True, slots=True)
class Step:
    """The question to show now, with its place in the flow ("question 3 of 9").

    `total` is the most questions there may still be, so it can shrink as answers rule some
    out. `progress` (0 to 1) is the part done: it grows with every answer going forward, even
    when `total` shrinks, so it is what a progress bar shows.
    """

    question: Question
    number: int
    total: int
    previous: AnswerValue | None
    editing: bool
    # Filled in for someone else: the question is shown in the third person (`text`).
    helper: bool = False

    @property
    def text(self) -> Text:
        """The question text for whoever answers: the candidate or a helper."""
        return self.question.text_for(self.helper)

    @property
    def progress(self) -> float:
        return (self.number - 1) / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class SummaryLine:
    question: Question
    answer: str
    editable: bool


@dataclass(frozen=True, slots=True)
class Accepted:
    state: FlowState


@dataclass(frozen=True, slots=True)
class Rejected:
    state: FlowState
    reason: Invalid


Result = Accepted | Rejected


class Engine:
    """Walks one flow. Holds only the flow and what can be derived from it once."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        direct: dict[str, set[str]] = {q.id: set() for q in flow.questions}
        from flows.model import condition_leaves

        for q in flow.questions:
            for leaf in condition_leaves(q.when):
                if leaf.question in direct:
                    direct[leaf.question].add(q.id)
        # The questions each question's condition looks at directly.
        self._looks_at: dict[str, frozenset[str]] = {
            q.id: frozenset(leaf.question for leaf in condition_leaves(q.when))
            for q in flow.questions
        }
        # Transitive: changing one answer can switch on a question that switches on another.
        self._dependents: dict[str, tuple[str, ...]] = {}
        for qid in direct:
            seen: set[str] = set()
            todo = list(direct[qid])
            while todo:
                nxt = todo.pop()
                if nxt not in seen:
                    seen.add(nxt)
                    todo.extend(direct.get(nxt, ()))
            self._dependents[qid] = tuple(q.id for q in flow.questions if q.id in seen)

    # -- reading the state ------------------------------------------------------------------

    def applies(self, question: Question, answers: dict[str, AnswerValue]) -> bool:
        return holds(question.when, answers)

    def editable(self, question: Question) -> bool:
        """Whether the summary offers to change this answer.

        The general consent is not changed from the summary (saying no there means stopping).
        The sensitive consent is: turning it to "skip" withdraws it and drops those answers.
        """
        return question.consent != ConsentScope.GENERAL

    def for_someone_else(self, state: FlowState) -> bool:
        """Whether a helper fills in this intake for another person.

        Once the role question is answered its answer decides ("Ik, voor mezelf" ends helping);
        before that, the choice on the welcome (`FlowState.helper`) does.
        """
        mode = self.flow.helper
        if mode is None:
            return False
        if mode.role in state.answers:
            return holds(mode.when, state.answers)
        return state.helper

    def consent_given_by(
        self, state: FlowState, scope: ConsentScope = ConsentScope.SENSITIVE
    ) -> str:
        """Who gives a consent (flows.model.GIVEN_BY): the candidate, or a helper. A helper's
        sensitive consent says on whose word: the first `helper.consent_by` that holds."""
        mode = self.flow.helper
        if mode is None or not self.for_someone_else(state):
            return "candidate"
        if scope != ConsentScope.SENSITIVE:
            return "helper"
        for rule in mode.consent_by:
            if holds(rule.when, state.answers):
                return rule.given_by
        # The flow asks the sensitive questions of a helper only on one of these grounds.
        return "helper_on_candidates_word"

    def dependents(self, qid: str) -> tuple[str, ...]:
        return self._dependents.get(qid, ())

    def step(self, state: FlowState) -> Step | None:
        if state.phase != Phase.ASKING or state.current is None:
            return None
        q = self.flow.question(state.current)
        index = self.flow.position(q.id)
        before = sum(1 for p in self.flow.questions[:index] if self.applies(p, state.answers))
        # The questions that may still come. Conditions only look back, so in flow order each
        # question is judged on the ones before it: one that can no longer be asked does not
        # keep later questions that depend on it in the count.
        possible = {q.id}
        after = 0
        for p in self.flow.questions[index + 1 :]:
            if maybe(p.when, state.answers, frozenset(possible)) is not False:
                after += 1
                if p.id not in state.answers:
                    possible.add(p.id)
        return Step(
            q,
            before + 1,
            before + 1 + after,
            state.answers.get(q.id),
            state.editing is not None,
            self.for_someone_else(state),
        )

    def summary(self, state: FlowState, lang: Language) -> list[SummaryLine]:
        lines = []
        for q in self.flow.questions:
            if q.id in state.answers and self.applies(q, state.answers):
                lines.append(
                    SummaryLine(q, self.display(q, state.answers[q.id], lang), self.editable(q))
                )
        return lines

    def display(self, question: Question, value: AnswerValue, lang: Language) -> str:
        """An answer as a person reads it: labels for codes, the text as typed otherwise."""
        if question.kind.has_options:
            codes = value if isinstance(value, list) else [str(value)]
            labels = [o.label.get(lang) for c in codes if (o := question.option(c)) is not None]
            return ", ".join(labels)
        if value == "":
            return "-"
        return str(value)

    def outcome(self, state: FlowState) -> Outcome:
        answers = {
            q.id: state.answers[q.id]
            for q in self.flow.questions
            if q.id in state.answers and self.applies(q, state.answers)
        }
        return compute_outcome(self.flow, answers, helper=self.for_someone_else(state))

    # -- moving -----------------------------------------------------------------------------

    def start(self, helper: bool = False) -> FlowState:
        """A new walk; `helper`: the person said on the welcome that they help someone else."""
        state = FlowState(self.flow.name, self.flow.version, Phase.ASKING, None)
        state.helper = helper and self.flow.helper is not None
        state.current = self._first_open(state.answers, after=-1)
        if state.current is None:
            state.phase = Phase.SUMMARY
        return state

    def resume(self, state: FlowState) -> FlowState:
        """Fit a stored state to this flow, which may have changed since the state was saved.

        Answers to questions that no longer exist, or that are no longer valid (an option that
        was removed), are dropped. The walk goes on at the first question still open and, as
        after going back, continues in order from there. A state of another flow starts afresh.
        An unchanged state comes back equal. Call it on every state read from storage.
        """
        if state.flow != self.flow.name:
            return self.start()
        new = state.copy()
        new.version = self.flow.version
        new.answers = {}
        for q in self.flow.questions:
            if q.id in state.answers:
                checked = check_value(q, state.answers[q.id])
                if not isinstance(checked, Invalid):
                    new.answers[q.id] = checked
        self._drop_inapplicable(new.answers)
        if new.phase == Phase.ENDED:
            return new
        if new.editing is not None and not self.flow.has_question(new.editing):
            new.editing, new.reasked = None, []
        current = new.current
        still_there = (
            current is not None
            and self.flow.has_question(current)
            and self.applies(self.flow.question(current), new.answers)
        )
        if new.phase == Phase.ASKING and still_there:
            return new
        new.editing, new.reasked = None, []
        new.current = self._first_open(new.answers, after=-1)
        new.phase = Phase.ASKING if new.current is not None else Phase.SUMMARY
        return new

    def answer(self, state: FlowState, value: AnswerValue) -> Result:
        """Accept a structured answer (a button's code, a list of codes) for the question now."""
        question = self._current(state)
        if question is None:
            return Rejected(state, Invalid("not_now"))
        checked = check_value(question, value)
        return self._accept(state, question, checked)

    def answer_text(self, state: FlowState, text: str) -> Result:
        """Accept typed text: a number or label for a choice, or the value itself."""
        question = self._current(state)
        if question is None:
            return Rejected(state, Invalid("not_now"))
        return self._accept(state, question, parse_text(question, text))

    def back(self, state: FlowState) -> Result:
        """One question back. From the summary, back to the last question."""
        if state.phase == Phase.SUMMARY:
            last = self._previous_applicable(state.answers, len(self.flow.questions))
            if last is None:
                return Rejected(state, Invalid("first_question"))
            new = state.copy()
            new.phase, new.current = Phase.ASKING, last
            return Accepted(new)
        if state.phase != Phase.ASKING or state.current is None:
            return Rejected(state, Invalid("not_now"))
        if state.editing is not None:
            # Backing out of a change returns to the summary once the answers are complete again.
            if self._first_open(state.answers, after=-1) is None:
                new = state.copy()
                new.phase, new.current, new.editing, new.reasked = Phase.SUMMARY, None, None, []
                return Accepted(new)
            return Rejected(state, Invalid("not_now"))
        previous = self._previous_applicable(state.answers, self.flow.position(state.current))
        if previous is None:
            return Rejected(state, Invalid("first_question"))
        new = state.copy()
        new.current = previous
        return Accepted(new)

    def edit(self, state: FlowState, qid: str) -> Result:
        """From the summary: change one answer. Only its dependent questions are asked again."""
        if state.phase != Phase.SUMMARY:
            return Rejected(state, Invalid("not_now"))
        if not self.flow.has_question(qid):
            return Rejected(state, Invalid("not_editable"))
        q = self.flow.question(qid)
        if not self.editable(q) or qid not in state.answers or not self.applies(q, state.answers):
            return Rejected(state, Invalid("not_editable"))
        new = state.copy()
        new.phase, new.current, new.editing, new.reasked = Phase.ASKING, qid, qid, []
        return Accepted(new)

    # -- internals --------------------------------------------------------------------------

    def _current(self, state: FlowState) -> Question | None:
        if state.phase != Phase.ASKING or state.current is None:
            return None
        return self.flow.question(state.current)

    def _accept(
        self, state: FlowState, question: Question, checked: AnswerValue | Invalid
    ) -> Result:
        if isinstance(checked, Invalid):
            return Rejected(state, checked)
        new = state.copy()
        new.answers[question.id] = checked
        # Only the questions whose conditions look (through others) at this answer can stop
        # applying because of it.
        self._drop_inapplicable(new.answers, self.dependents(question.id))
        if question.kind in (Kind.SINGLE, Kind.YESNO) and isinstance(checked, str):
            option = question.option(checked)
            if option is not None and option.ends:
                new.phase, new.current, new.end_code = Phase.ENDED, None, option.ends
                new.editing, new.reasked = None, []
                return Accepted(new)
        if new.editing is not None:
            if question.id != new.editing:
                new.reasked.append(question.id)
            # A dependent is asked again when it looks at an answer given in this change (or
            # was never answered); one further down a chain whose link was not asked keeps its
            # answer (changing the age asks a helper's questions only of a helper).
            changed = {new.editing, *new.reasked}
            nxt = next(
                (
                    d
                    for d in self.dependents(new.editing)
                    if d not in new.reasked
                    and self.applies(self.flow.question(d), new.answers)
                    and (d not in new.answers or self._looks_at[d] & changed)
                ),
                None,
            )
            # Safety net: a question that now applies and was never answered is asked too.
            nxt = nxt or self._first_open(new.answers, after=-1)
        else:
            nxt = self._next_applicable(new.answers, self.flow.position(question.id))
        if nxt is None:
            new.phase, new.current, new.editing, new.reasked = Phase.SUMMARY, None, None, []
        else:
            new.current = nxt
        return Accepted(new)

    def _drop_inapplicable(
        self, answers: dict[str, AnswerValue], among: tuple[str, ...] | None = None
    ) -> None:
        """Remove the answers to questions that no longer apply (of `among`, or of all): not
        hidden, because what is not needed is not kept (data minimisation), and the outcome
        cannot be based on them."""
        questions = self.flow.questions if among is None else [self.flow.question(q) for q in among]
        changed = True
        while changed:
            changed = False
            for q in questions:
                if q.id in answers and not self.applies(q, answers):
                    del answers[q.id]
                    changed = True

    def _next_applicable(self, answers: dict[str, AnswerValue], after: int) -> str | None:
        for q in self.flow.questions[after + 1 :]:
            if self.applies(q, answers):
                return q.id
        return None

    def _first_open(self, answers: dict[str, AnswerValue], after: int) -> str | None:
        for q in self.flow.questions[after + 1 :]:
            if q.id not in answers and self.applies(q, answers):
                return q.id
        return None

    def _previous_applicable(self, answers: dict[str, AnswerValue], before: int) -> str | None:
        for q in reversed(self.flow.questions[:before]):
            if self.applies(q, answers):
                return q.id
        return None

"""The flow model: frozen dataclasses built from the flow data files.

Nothing here knows about Telegram, files on disk or templates. A flow is a list of questions in
the order they are asked; each question may carry a condition on earlier answers. Rules map the
answers to target-group codes and placement routes, each with a reason in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias

Language: TypeAlias = Literal["nl", "en"]
LANGUAGES: tuple[Language, ...] = ("nl", "en")

# One answer as stored: a code for single choice and yes/no, a list of codes for multiple choice,
# an int for numbers, a normalised string for text, postcode, phone and e-mail.
AnswerValue: TypeAlias = str | int | list[str]

# The vocabularies of docs/domain.md: data and exports use these codes and nothing else.
TARGET_GROUP_CODES: tuple[str, ...] = (
    "uwv-indicatie",
    "praktijkroute",
    "vso-pro",
    "wsw",
    "wajong",
    "wiw-id",
    "werkvoorziening",
    "wia-experiment",
    "onbekend",
)
ROUTE_CODES: tuple[str, ...] = (
    "individueel",
    "collectief",
    "social-return",
    "andere-overheid",
    "wsp",
)
# Placeholders a flow text may hold, filled in from the settings when the text is shown
# (`fill`): how long data is kept after an intake is closed, and the longest it is ever kept.
PLACEHOLDERS: tuple[str, ...] = ("after_close", "longest")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Forms of the individual route (docs/domain.md section 3).
ROUTE_FORMS: tuple[str, ...] = (
    "detachering",
    "uitzendkracht",
    "tijdelijk",
    "vast",
    "proefplaatsing",
)


class Kind(StrEnum):
    """What kind of answer a question takes."""

    SINGLE = "single"
    MULTI = "multi"
    YESNO = "yesno"
    TEXT = "text"
    NUMBER = "number"
    POSTCODE = "postcode"
    PHONE = "phone"
    EMAIL = "email"

    @property
    def has_options(self) -> bool:
        return self in (Kind.SINGLE, Kind.MULTI, Kind.YESNO)


class ConsentScope(StrEnum):
    """Which consent a consent question gives."""

    GENERAL = "general"
    SENSITIVE = "sensitive"
    # Keeping the intake longer after it is closed (up to the longest retention period).
    RETENTION = "retention"


@dataclass(frozen=True, slots=True)
class Text:
    """A text in both languages the bot speaks."""

    nl: str
    en: str

    def get(self, lang: Language) -> str:
        return self.nl if lang == "nl" else self.en


def placeholders(text: str) -> list[str]:
    """The `{name}` placeholders in a text, in order."""
    return _PLACEHOLDER.findall(text)


def fill(text: str, values: Mapping[str, str]) -> str:
    """A text with its `{name}` placeholders filled in; an unknown name is left as it is."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a question. `code` is stable: data, rules and exports use it."""

    code: str
    label: Text
    # A choice that cannot be combined with others in a multiple-choice question ("none").
    exclusive: bool = False
    # Choosing this ends the flow early with this end code (for example: no consent).
    ends: str | None = None
    # What the short label means, shown as a numbered list under the question (the button
    # itself stays short enough to read on a phone).
    explain: Text | None = None


@dataclass(frozen=True, slots=True)
class Validation:
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    min_choices: int | None = None
    max_choices: int | None = None


# Conditions are small trees: a leaf tests one earlier answer, `all`/`any`/`not` combine.
@dataclass(frozen=True, slots=True)
class Leaf:
    question: str
    # one of: "is" (equals one code), "in" (equals one of codes), "has" (multi contains code),
    # "has_any" (multi contains one of codes), "answered"
    op: Literal["is", "in", "has", "has_any", "answered", "gte", "lte"]
    values: tuple[str, ...] = ()
    number: int | None = None


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Condition


Condition: TypeAlias = Leaf | AllOf | AnyOf | Not


def condition_leaves(cond: Condition | None) -> Iterator[Leaf]:
    """Every leaf of a condition tree, in order."""
    if cond is None:
        return
    if isinstance(cond, Leaf):
        yield cond
    elif isinstance(cond, AllOf | AnyOf):
        for part in cond.parts:
            yield from condition_leaves(part)
    else:
        yield from condition_leaves(cond.part)


@dataclass(frozen=True, slots=True)
class Help:
    """The answer to "why do we ask this?": purpose, who sees it, how long it is kept."""

    purpose: Text
    who_sees: Text
    kept: Text


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    kind: Kind
    text: Text
    options: tuple[Option, ...] = ()
    help: Help | None = None
    sensitive: bool = False
    # Set on the questions whose answer gives a consent; `grants` is the option code that does.
    consent: ConsentScope | None = None
    grants: str | None = None
    when: Condition | None = None
    validation: Validation = field(default_factory=Validation)
    # Optional questions can be skipped with the "skip" answer (for example an optional name).
    optional: bool = False
    # Part of the short summary shown to coordinators in the group (False for contact details).
    summary_key: str | None = None
    # A short label for the summary and the "change an answer" list; without it the question
    # sentence of `text` is used (see `label`).
    short: Text | None = None
    # The same question for someone who fills in the intake for another person (a helper), in
    # the third person ("Hoe oud is de persoon ...?"); without it `text` and `short` are used.
    text_helper: Text | None = None
    short_helper: Text | None = None

    def text_for(self, helper: bool) -> Text:
        """The question text for the person who answers: a helper, or the candidate."""
        return self.text_helper if helper and self.text_helper is not None else self.text

    def label(self, lang: Language, helper: bool = False) -> str:
        """What the summary shows for this question: `short`, or the sentence that asks."""
        # The check (flows/lint.py) asks a `short_helper` wherever `short` says "je".
        short = self.short_helper if helper and self.short_helper is not None else self.short
        if short is not None:
            return short.get(lang)
        text = self.text_for(helper).get(lang)
        asking: list[str] = [s.strip() for s in re.findall(r"[^.?!]*\?", text) if s.strip()]
        if asking:
            return asking[0]
        first: str = re.split(r"(?<=[.!])\s", text, maxsplit=1)[0]
        return first

    def option(self, code: str) -> Option | None:
        for opt in self.options:
            if opt.code == code:
                return opt
        return None

    @property
    def option_codes(self) -> tuple[str, ...]:
        return tuple(opt.code for opt in self.options)


@dataclass(frozen=True, slots=True)
class Rule:
    """Maps answers to a code. `id` names the rule in the outcome: "the rules that fired"."""

    id: str
    code: str
    when: Condition
    reason: Text
    # For the individual route: the forms this rule points to (detachering, vast, ...).
    forms: tuple[str, ...] = ()
    # A note for the coordinators only, never shown to the person ("does not count for ...").
    note: Text | None = None
    # The reason as told to a helper, about "de persoon" instead of "je".
    reason_helper: Text | None = None

    def reason_for(self, helper: bool) -> Text:
        return self.reason_helper if helper and self.reason_helper is not None else self.reason


@dataclass(frozen=True, slots=True)
class Advice:
    """A next step shown to the person at the end when its condition holds."""

    id: str
    when: Condition
    text: Text
    # The advice as told to a helper, about "de persoon" instead of "je".
    text_helper: Text | None = None

    def text_for(self, helper: bool) -> Text:
        return self.text_helper if helper and self.text_helper is not None else self.text


@dataclass(frozen=True, slots=True)
class ConsentBy:
    """On whose word a helper gives the sensitive consent, when `when` holds."""

    given_by: str
    when: Condition


# On whose word a helper answers the sensitive questions (`helper: consent_by` in a flow file).
CONSENT_GROUNDS: tuple[str, ...] = ("helper_on_candidates_word", "parent_for_under_16")
# Who gave a consent (flows.records.ConsentRecord.given_by): the candidate, a helper (for the
# general and the retention consent), or a helper on one of the grounds above.
GIVEN_BY: tuple[str, ...] = ("candidate", "helper", *CONSENT_GROUNDS)


@dataclass(frozen=True, slots=True)
class HelperMode:
    """When an intake is filled in by someone else (a helper), and what tells about the helper.

    `when` holds once the role question (`role`) is answered with a helper's role. Before that
    the bot's own choice on the welcome ("I help someone") counts. `name` and `contact` are the
    questions with the helper's own name and contact details.
    """

    when: Condition
    role: str
    name: str | None = None
    contact: tuple[str, ...] = ()
    consent_by: tuple[ConsentBy, ...] = ()


@dataclass(frozen=True, slots=True)
class End:
    """An early end of a flow (no consent, no parent present) with what to tell the person."""

    code: str
    text: Text
    # What a helper reads at this end, about "de persoon".
    text_helper: Text | None = None

    def text_for(self, helper: bool) -> Text:
        return self.text_helper if helper and self.text_helper is not None else self.text


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    version: str
    title: Text
    questions: tuple[Question, ...]
    target_group_rules: tuple[Rule, ...] = ()
    route_rules: tuple[Rule, ...] = ()
    ends: tuple[End, ...] = ()
    advice: tuple[Advice, ...] = ()
    # Question ids whose answers make up "support needs" and "contact preference" in the outcome.
    support_questions: tuple[str, ...] = ()
    contact_questions: tuple[str, ...] = ()
    # The question that holds the person's name, used for search and the coordinator card.
    name_question: str | None = None
    # Filling in for someone else; None when the flow has no helper mode (employers).
    helper: HelperMode | None = None
    # Where the flow file came from, for linter messages.
    source: str = ""
    _index: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {q.id: i for i, q in enumerate(self.questions)})

    def question(self, qid: str) -> Question:
        return self.questions[self._index[qid]]

    def has_question(self, qid: str) -> bool:
        return qid in self._index

    def position(self, qid: str) -> int:
        return self._index[qid]

    def end(self, code: str) -> End | None:
        for end in self.ends:
            if end.code == code:
                return end
        return None

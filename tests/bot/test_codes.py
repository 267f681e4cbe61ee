"""The names of the codes are in one table per language (templates/<lang>/codes.yaml): every
status has a name, an icon and, where a coordinator can move an intake to it, a button; the
card, the list, the alerts and the usage text show what the table says."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bot.coordinator.cards import card_context
from bot.coordinator.keyboards import card_keyboard
from bot.i18n import TEMPLATES_DIR, StatusLabel, codes, load_codes
from bot.render import Renderer
from flows.model import LANGUAGES, Language
from flows.records import Intake, IntakeKind, Status
from tests.support.bot_api_state import visible_text


def _intake(status: Status, kind: IntakeKind = IntakeKind.CANDIDATE) -> Intake:
    return Intake(
        number="K-2026-0042",
        kind=kind,
        created_at="2026-11-30T09:00:00+00:00",
        updated_at="2026-11-30T09:00:00+00:00",
        user_id=7,
        chat_id=7,
        language="nl",
        flow_version="1",
        status=status,
        answers={"name": "Zoë"},
        outcome={},
        name="Zoë",
        routes=["collectief"],
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_status_has_a_name_and_an_icon(lang: Language) -> None:
    table = codes(lang).status
    assert list(table) == list(Status)  # in the order of the workflow, as /intakes lists them
    for status in Status:
        assert table[status].name.strip(), status
        assert table[status].icon.strip(), status
    for status in Status:
        for target in status.next_statuses:
            assert table[target].move.strip(), target


def test_each_status_has_its_own_name_and_both_languages_the_same_icons() -> None:
    for lang in LANGUAGES:
        names = [codes(lang).status[s].name for s in Status]
        assert len(set(names)) == len(names), lang
    assert [codes("nl").status[s].icon for s in Status] == [
        codes("en").status[s].icon for s in Status
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("status", list(Status))
def test_a_card_shows_the_tables_name_and_icon(lang: Language, status: Status) -> None:
    label = codes(lang).status[status]
    kind = codes(lang).kind[IntakeKind.CANDIDATE]
    card = visible_text(Renderer().render(lang, "card", **card_context(_intake(status))))
    assert card.splitlines()[0] == f"{label.icon} K-2026-0042 · {kind} · {label.name}"


def test_the_card_and_its_buttons_in_dutch_and_english() -> None:
    # What a coordinator saw before the names moved into the tables, word for word.
    renderer = Renderer()
    intake = _intake(Status.OPGEPAKT, IntakeKind.EMPLOYER)
    nl = visible_text(renderer.render("nl", "card", **card_context(intake)))
    en = visible_text(renderer.render("en", "card", **card_context(intake)))
    assert nl.startswith("🙋 K-2026-0042 · werkgever · opgepakt")
    assert en.startswith("🙋 K-2026-0042 · employer · picked up")
    expected: dict[Language, list[str]] = {
        "nl": ["🙋 Ik pak dit op", "🔒 Details", "📞 Contact gehad", "📁 Afsluiten", "📝 Notitie"],
        "en": ["🙋 I'll take it", "🔒 Details", "📞 Contacted", "📁 Close", "📝 Note"],
    }
    for lang in LANGUAGES:
        markup = card_keyboard("K-2026-0042", Status.OPGEPAKT, lang, has_details=True)
        assert markup is not None
        assert [b.text for row in markup.inline_keyboard for b in row] == expected[lang]
    markup = card_keyboard("K-2026-0042", Status.CONTACT_GEHAD, "en", has_details=True)
    assert markup is not None
    assert [b.text for b in markup.inline_keyboard[1]] == ["✅ Placed", "📁 Close"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_list_and_the_alert_show_the_tables_names(lang: Language) -> None:
    renderer = Renderer()
    table = codes(lang)
    items = [
        {
            "number": f"K-2026-000{i}",
            "kind": "employer",
            "status": str(s),
            "name": "",
            "assignee": "",
            "received": "2026-11-30",
        }
        for i, s in enumerate(Status)
    ]
    text = visible_text(
        renderer.render(
            lang,
            "coord_list",
            title="T",
            filter="",
            total=6,
            page=0,
            pages=1,
            items=items,
            private=False,
        )
    )
    for i, status in enumerate(Status):
        label = table.status[status]
        line = f"{label.icon} K-2026-000{i} {table.kind[IntakeKind.EMPLOYER]} · {label.name} · "
        assert line in text
        alert = renderer.render(lang, "coord_alert", key="status", number="K-1", status=status)
        assert alert.endswith(f": {label.name}.")


@pytest.mark.parametrize(("lang", "words"), [("nl", "met een status"), ("en", "with a status")])
def test_the_usage_text_lists_every_status_code_in_workflow_order(
    lang: Language, words: str
) -> None:
    text = Renderer().render(lang, "coord_usage", command="intakes", bad="")
    codes_listed = ", ".join(s.value for s in Status)
    assert f"{words} ({codes_listed})" in text
    assert codes_listed == "nieuw, opgepakt, contact-gehad, geplaatst, afgesloten, ingetrokken"


def _table(path: Path, change: dict[str, object]) -> Path:
    raw = yaml.safe_load((TEMPLATES_DIR / "nl" / "codes.yaml").read_text(encoding="utf-8"))
    for key, value in change.items():
        part, _, code = key.partition(".")
        if value is None:
            del raw[part][code]
        else:
            raw[part][code] = value
    target = path / "codes.yaml"
    target.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return target


def test_a_table_without_a_status_its_icon_or_its_button_is_refused(tmp_path: Path) -> None:
    assert load_codes(_table(tmp_path, {})) == codes("nl")
    with pytest.raises(ValueError, match="names no geplaatst"):
        load_codes(_table(tmp_path, {"status.geplaatst": None}))
    with pytest.raises(ValueError, match="names no button of afgesloten"):
        load_codes(_table(tmp_path, {"status.afgesloten": {"name": "afgesloten", "icon": "📁"}}))
    with pytest.raises(ValueError, match="icon"):
        load_codes(_table(tmp_path, {"status.nieuw": {"name": "nieuw"}}))
    with pytest.raises(ValueError, match="afgelsoten"):
        load_codes(_table(tmp_path, {"status.afgelsoten": {"name": "x", "icon": "x"}}))
    with pytest.raises(ValueError, match="colour"):
        load_codes(_table(tmp_path, {"status.nieuw": {"name": "n", "icon": "i", "colour": "red"}}))


def test_the_card_takes_its_names_from_the_table_not_from_the_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = codes("nl")
    renamed = replace(
        table,
        status={**table.status, Status.NIEUW: StatusLabel(name="vers", icon="✨")},
        kind={**table.kind, IntakeKind.CANDIDATE: "zoeker"},
    )
    monkeypatch.setattr("bot.render.codes", lambda lang: renamed)
    card = visible_text(Renderer().render("nl", "card", **card_context(_intake(Status.NIEUW))))
    assert card.splitlines()[0] == "✨ K-2026-0042 · zoeker · vers"

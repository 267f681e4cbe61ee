"""/export files: a Dutch spreadsheet reads the CSV; the XLSX holds the same rows; no formulas."""

from __future__ import annotations

import csv
import io

import openpyxl

from bot.coordinator.export import COLUMNS, safe_cell, to_csv, to_xlsx
from flows.records import Intake, IntakeKind, Note, Status


def intake(number: str, name: str, **extra: object) -> Intake:
    values: dict[str, object] = {
        "number": number,
        "kind": IntakeKind.CANDIDATE,
        "created_at": "2026-11-02T08:00:00+00:00",
        "updated_at": "2026-11-03T09:30:00+00:00",
        "user_id": 1,
        "chat_id": 1,
        "language": "nl",
        "flow_version": "2026.1",
        "answers": {
            "contact_method": "telefoon",
            "filled_by": "jobcoach",
            "support": ["werktijden"],
        },
        "outcome": {"routes": [{"code": "individueel", "forms": ["detachering", "vast"]}]},
        "name": name,
        "target_groups": ["wajong", "wsw"],
        "routes": ["individueel", "collectief"],
    }
    values.update(extra)
    return Intake(**values)  # type: ignore[arg-type]


def test_csv_opens_with_dutch_settings() -> None:
    rows = [
        intake("K-2026-0001", 'Zoë; "de Jong"', status=Status.OPGEPAKT, assignee_name="Cora"),
        intake(
            "K-2026-0002", '=HYPERLINK("x")', notes=[Note("2026-11-03T09:00:00+00:00", "C", "n")]
        ),
    ]
    data = to_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == ";".join(COLUMNS)
    parsed = list(csv.reader(io.StringIO(text), delimiter=";"))
    first = dict(zip(COLUMNS, parsed[1], strict=True))
    assert first["naam"] == 'Zoë; "de Jong"'
    assert first["status"] == "opgepakt"
    assert first["aangemaakt"] == "2026-11-02T08:00:00+00:00"
    assert first["doelgroep"] == "wajong|wsw"
    assert first["routes"] == "individueel|collectief"
    assert first["vormen"] == "detachering|vast"
    assert first["contactroute"] == "telefoon"
    assert first["ingevuld_door"] == "jobcoach"
    assert first["coordinator"] == "Cora"
    second = dict(zip(COLUMNS, parsed[2], strict=True))
    assert second["naam"] == '\'=HYPERLINK("x")'
    assert second["notities"] == "1"
    assert "werktijden" not in text  # no sensitive answers


def test_xlsx_has_the_same_rows() -> None:
    rows = [intake("K-2026-0001", "Zoë"), intake("W-2026-0001", "-1", kind=IntakeKind.EMPLOYER)]
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(rows)))
    values = [[c.value for c in row] for row in book.active.iter_rows()]
    assert values[0] == list(COLUMNS)
    assert values[1][:3] == ["K-2026-0001", "candidate", "nieuw"]
    assert values[2][1] == "employer"
    assert values[2][5] == "'-1"


def test_safe_cell() -> None:
    assert safe_cell("+31 6") == "'+31 6"
    assert safe_cell("@home") == "'@home"
    assert safe_cell("Anna") == "Anna"

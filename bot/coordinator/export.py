"""/export: one row per intake as CSV and XLSX, built in memory and never written to disk.

The CSV opens in a spreadsheet with Dutch settings: `;` between columns, UTF-8 with a BOM so the
accents survive, dates as ISO 8601 and several codes in one cell joined with `|`. Columns hold
the codes of docs/domain.md (target groups, routes, forms, statuses), not the texts. No sensitive
answers and no contact details are exported; the stated target-group codes are, as the issue
asks. A cell that starts like a formula (= + - @) gets a leading apostrophe, so a name cannot
run as a formula in the spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from flows.records import Intake

COLUMNS: tuple[str, ...] = (
    "nummer",
    "soort",
    "status",
    "aangemaakt",
    "bijgewerkt",
    "naam",
    "doelgroep",
    "routes",
    "vormen",
    "contactroute",
    "ingevuld_door",
    "taal",
    "coordinator",
    "notities",
)
JOIN = "|"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _forms(intake: Intake) -> list[str]:
    forms: list[str] = []
    for finding in intake.outcome.get("routes", []):
        forms.extend(f for f in finding.get("forms", []) if f not in forms)
    return forms


def _code(intake: Intake, qid: str) -> str:
    value = intake.answers.get(qid, "")
    return JOIN.join(value) if isinstance(value, list) else str(value)


def row(intake: Intake) -> list[str]:
    return [
        intake.number,
        str(intake.kind),
        str(intake.status),
        intake.created_at,
        intake.updated_at,
        safe_cell(intake.name),
        JOIN.join(intake.target_groups),
        JOIN.join(intake.routes),
        JOIN.join(_forms(intake)),
        _code(intake, "contact_method"),
        _code(intake, "filled_by"),
        intake.language,
        safe_cell(intake.assignee_name),
        str(len(intake.notes)),
    ]


def to_csv(intakes: Sequence[Intake]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for intake in intakes:
        writer.writerow(row(intake))
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(intakes: Sequence[Intake]) -> bytes:
    # Imported on first use, so that openpyxl does not weigh on every start-up of the bot.
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "intakes"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for intake in intakes:
        sheet.append(row(intake))
    sheet.freeze_panes = "A2"
    for column, width in zip(
        "ABCDEFGHIJKLMN", (14, 10, 14, 26, 26, 24, 30, 30, 24, 14, 14, 6, 24, 8), strict=True
    ):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export_files(intakes: Sequence[Intake]) -> tuple[bytes, bytes]:
    return to_csv(intakes), to_xlsx(intakes)

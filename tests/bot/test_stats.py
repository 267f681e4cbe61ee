"""/stats figures: aggregate counts with small numbers hidden, and a PNG chart."""

from __future__ import annotations

from bot.coordinator.stats import chart_png, figures, small, week_of
from flows.engine import Engine
from flows.loader import load_shipped_flows
from flows.records import Intake, IntakeKind


def make(number: str, created: str, routes: list[str], groups: list[str]) -> Intake:
    return Intake(
        number=number,
        kind=IntakeKind.CANDIDATE,
        created_at=created,
        user_id=1,
        chat_id=1,
        language="nl",
        flow_version="1",
        answers={},
        outcome={},
        target_groups=groups,
        routes=routes,
    )


def test_small_counts_are_hidden() -> None:
    assert [small(n) for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]


def test_figures_per_kind_code_route_status_week_and_funnel() -> None:
    intakes = [
        make(f"K-2026-{i:04d}", "2026-11-02T08:00:00+00:00", ["collectief"], ["wajong"])
        for i in range(6)
    ]
    intakes.append(make("K-2026-0099", "2026-11-10T08:00:00+00:00", [], ["onbekend"]))
    engines = {name: Engine(flow) for name, flow in load_shipped_flows().items()}
    counts = {
        "candidate:started": 9,
        "candidate:finished": 7,
        "candidate:shown:consent": 9,
        "candidate:shown:age": 8,
        "candidate:stopped:age": 2,
        "candidate:ended:no_consent": 1,
    }
    result = figures(intakes, counts, engines, "nl")
    assert result["total"] == "7"
    assert result["kinds"] == [("candidate", "7"), ("employer", "0")]
    assert dict(result["groups"]) == {"onbekend": "<5", "wajong": "6"}
    assert dict(result["routes"]) == {"collectief": "6", "geen": "<5"}
    assert dict(result["weeks"]) == {"2026-W45": "6", "2026-W46": "<5"}
    funnel = result["funnels"][0]
    assert (funnel["started"], funnel["finished"]) == ("9", "7")
    age = next(q for q in funnel["questions"] if q["id"] == "age")
    assert age == {"id": "age", "shown": "8", "stopped": "<5"}
    assert funnel["ended"] == [{"code": "no_consent", "count": "<5"}]


def test_chart_is_a_png_in_memory() -> None:
    intakes = [make("K-2026-0001", "2026-11-02T08:00:00+00:00", ["individueel", "collectief"], [])]
    png = chart_png(intakes)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert chart_png([]).startswith(b"\x89PNG")
    assert week_of(intakes[0]) == "2026-W45"

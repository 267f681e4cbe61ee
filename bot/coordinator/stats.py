"""/stats: aggregate counts only, small counts hidden, and a chart of intakes per week by route.

Counts from 1 to 4 are shown as "<5" (in the chart: a hatched bar of fixed height without a
number), so a figure cannot point at one person; 0 is shown as 0. The chart is drawn with
matplotlib's Agg canvas into memory, in a worker thread (it takes a few hundred ms).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flows.engine import Engine
from flows.model import Language
from flows.records import Intake, parse_iso

SMALL = 5
NO_ROUTE = "geen"
SMALL_BAR = 2.5


def small(count: int) -> str:
    return f"<{SMALL}" if 0 < count < SMALL else str(count)


def week_of(intake: Intake) -> str:
    year, week, _ = parse_iso(intake.created_at).isocalendar()
    return f"{year}-W{week:02d}"


def _pairs(counter: Counter[str], order: Iterable[str] | None = None) -> list[tuple[str, str]]:
    keys = list(order) if order is not None else sorted(counter)
    return [(k, small(counter[k])) for k in keys if counter[k]]


def figures(
    intakes: Sequence[Intake],
    counts: Mapping[str, int],
    engines: Mapping[str, Engine],
    lang: Language,
) -> dict[str, Any]:
    kinds = Counter(str(i.kind) for i in intakes)
    statuses = Counter(str(i.status) for i in intakes)
    groups = Counter(code for i in intakes for code in i.target_groups)
    routes = Counter(code for i in intakes for code in (i.routes or [NO_ROUTE]))
    weeks = Counter(week_of(i) for i in intakes)
    funnels = []
    for name, engine in engines.items():
        questions = [
            {
                "id": q.id,
                "shown": small(counts.get(f"{name}:shown:{q.id}", 0)),
                "stopped": small(counts.get(f"{name}:stopped:{q.id}", 0)),
            }
            for q in engine.flow.questions
            if counts.get(f"{name}:shown:{q.id}", 0) or counts.get(f"{name}:stopped:{q.id}", 0)
        ]
        summary_stops = counts.get(f"{name}:stopped:summary", 0)
        if summary_stops:
            questions.append({"id": "summary", "shown": "-", "stopped": small(summary_stops)})
        prefix = f"{name}:ended:"
        ended = [
            {"code": key.removeprefix(prefix), "count": small(value)}
            for key, value in sorted(counts.items())
            if key.startswith(prefix)
        ]
        funnels.append(
            {
                "title": engine.flow.title.get(lang),
                "started": small(counts.get(f"{name}:started", 0)),
                "finished": small(counts.get(f"{name}:finished", 0)),
                "questions": questions,
                "ended": ended,
            }
        )
    return {
        "total": small(len(intakes)),
        "kinds": [(k, small(kinds[k])) for k in ("candidate", "employer")],
        "statuses": _pairs(statuses),
        "groups": _pairs(groups),
        "routes": _pairs(routes),
        "weeks": _pairs(weeks),
        "funnels": funnels,
    }


def chart_png(intakes: Sequence[Intake]) -> bytes:
    weeks = sorted({week_of(i) for i in intakes})
    routes = sorted({code for i in intakes for code in (i.routes or [NO_ROUTE])})
    table = Counter((week_of(i), code) for i in intakes for code in (i.routes or [NO_ROUTE]))
    # Imported on first use: matplotlib (with numpy and PIL) made every start-up of the bot
    # about 1 s slower and 40 MB bigger, for a command coordinators use now and then.
    # The object API (no pyplot) keeps no global state, so this can run in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    try:
        bottoms = [0.0] * len(weeks)
        for route in routes:
            values = [table[(w, route)] for w in weeks]
            heights = [float(v) if v >= SMALL else (SMALL_BAR if v else 0.0) for v in values]
            bars = axes.bar(weeks, heights, bottom=bottoms, label=route)
            for bar, value in zip(bars, values, strict=True):
                if 0 < value < SMALL:
                    bar.set_hatch("//")
                    bar.set_alpha(0.5)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        axes.set_title("Intakes per week per route")
        axes.set_xlabel("week")
        axes.set_ylabel("intakes (gearceerd: <5)")
        if routes:
            axes.legend(fontsize="small")
        if not weeks:
            axes.text(
                0.5, 0.5, "nog geen intakes", ha="center", va="center", transform=axes.transAxes
            )
        figure.autofmt_xdate()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        figure.clear()
    return buffer.getvalue()

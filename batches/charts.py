"""Small line charts drawn on the server as SVG, for the batch history.

This module works out where everything goes; `templates/batches/_line_chart.html` draws it. The
site's Content-Security-Policy allows no script and no `style` attribute, so the SVG uses
presentation attributes and the classes in static/css/app.css. It has a viewBox and takes the
width of its card, so it reads the same on the workshop laptop and the bench tablet; each
point carries a <title> (its run and value) and the chart a <title> and <desc> that say what
it shows in words. The tables beside it hold the same figures.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils.dateformat import format as date_format

from batches.history import ProductHistory
from stock.models import current_workshop
from stock.units import display

WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 34  # room for the tick labels
X_LABELS = 7  # at most, under the axis
VALUES_UP_TO = 12  # runs: more, and each point's value is in its <title> only
SERIES_WITH_VALUES = 2  # more lines than this, and the values would overlap
STYLES = 4  # series-0 .. series-3 in app.css; more lines reuse them
ROOM_ABOVE = 20  # a line's values are written above its points when they all have this room


@dataclass
class Point:
    x: str
    y: str
    title: str  # "CND-01, 3 Mar 2026: 90.0 %"
    value: str  # shown beside the point when there is room
    value_y: str


@dataclass
class Series:
    name: str
    css: str
    path: str  # "M x y L x y …", broken where a run has no value
    points: list[Point] = field(default_factory=list)


@dataclass
class Tick:
    at: str
    label: str


@dataclass
class LineChart:
    title: str
    desc: str
    series: list[Series]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    reference: Tick | None  # a dashed line (what was planned), named in the legend
    show_values: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    label_y: int = HEIGHT - BOTTOM + 20

    @property
    def legend(self) -> bool:
        return len(self.series) > 1 or self.reference is not None


def _coordinate(value: float) -> str:
    return f"{value:.1f}"


def nice_step(span: Decimal, steps: int = 4) -> Decimal:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that cuts `span` in about `steps`."""
    raw = span / steps
    power = Decimal(10) ** math.floor(math.log10(raw))
    for factor in (1, 2, Decimal("2.5"), 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power  # pragma: no cover: the loop ends at 10


def line_chart(
    *,
    title: str,
    desc: str,
    labels: list[str],
    titles: list[str],
    series: list[tuple[str, list[Decimal | None]]],
    fmt: Callable[[Decimal], str],
    unit: str = "",
    at_least: Decimal = Decimal(0),
    reference: tuple[Decimal, str] | None = None,
) -> LineChart:
    """A chart of one line per series over the same runs (`labels` under the axis, `titles`
    naming each run in its points' titles), from 0 up to a round figure above the largest
    value (and `at_least`). `fmt` writes a value, `unit` follows the axis' figures."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = max([*values, at_least, reference[0] if reference else Decimal(0)])
    step = nice_step(top) if top > 0 else Decimal(1)
    ceiling = step * math.ceil(top / step) if top > 0 else 4 * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(labels)

    def x(i: int) -> float:
        return LEFT + (i + 0.5) * plot_w / max(n, 1)

    def y(v: Decimal) -> float:
        return TOP + plot_h * (1 - float(v / ceiling))

    y_ticks = []
    tick = Decimal(0)
    while tick <= ceiling:
        y_ticks.append(Tick(at=_coordinate(y(tick)), label=f"{display(tick)}{unit}"))
        tick += step
    every = max(1, math.ceil(n / X_LABELS))
    x_ticks, last = [], None
    for i, label in enumerate(labels):
        if i % every == 0 and label != last:
            x_ticks.append(Tick(at=_coordinate(x(i)), label=label))
            last = label
    drawn = []
    for s, (name, vs) in enumerate(series):
        path, pen_down, points = [], False, []
        # A second line's values go under its points, and so do a line's near the top.
        below = s % 2 == 1 or any(y(v) - TOP < ROOM_ABOVE for v in vs if v is not None)
        for i, v in enumerate(vs):
            if v is None:
                pen_down = False
                continue
            px, py = x(i), y(v)
            path.append(f"{'L' if pen_down else 'M'}{_coordinate(px)} {_coordinate(py)}")
            pen_down = True
            points.append(
                Point(
                    x=_coordinate(px),
                    y=_coordinate(py),
                    title=f"{titles[i]}: {name + ' ' if len(series) > 1 else ''}{fmt(v)}",
                    value=fmt(v),
                    value_y=_coordinate(min(py + 16, TOP + plot_h - 2) if below else py - 8),
                )
            )
        drawn.append(
            Series(name=name, css=f"series-{s % STYLES}", path=" ".join(path), points=points)
        )
    return LineChart(
        title=title,
        desc=desc,
        series=drawn,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        reference=Tick(at=_coordinate(y(reference[0])), label=reference[1]) if reference else None,
        show_values=n <= VALUES_UP_TO and len(series) <= SERIES_WITH_VALUES,
    )


# The history's two charts ------------------------------------------------------------------


def _percent(value: Decimal) -> str:
    return f"{value} %"  # as the batch page writes a yield: 87.5 %


def _cost(value: Decimal) -> str:
    """A cost per unit in a few characters: to the cent from 1 up, three significant figures
    below (0.0071)."""
    places = 2 if value >= 1 or value == 0 else max(2, 2 - value.adjusted())
    return f"{value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):,}"


def _runs(history: ProductHistory) -> tuple[list[str], list[str]]:
    labels = [date_format(r.batch.production_date, "j M") for r in history.runs]
    titles = [
        f"{r.batch.reference}, {date_format(r.batch.production_date, 'j M Y')}"
        for r in history.runs
    ]
    return labels, titles


def yield_chart(history: ProductHistory) -> LineChart:
    labels, titles = _runs(history)
    values = [r.yield_percent for r in history.runs]
    said = "; ".join(
        f"{t}: {_percent(v) if v is not None else 'no figure'}"
        for t, v in zip(titles, values, strict=True)
    )
    n = len(history.runs)
    return line_chart(
        title=f"Yield of {history.product.name} over {n} run{'s' if n != 1 else ''}",
        desc=(
            f"Saleable units as a share of the units planned, per run, oldest first. {said}. "
            f"Over these runs: {_percent(history.yield_percent or Decimal(0))}."
        ),
        labels=labels,
        titles=titles,
        series=[("Yield", values)],
        fmt=_percent,
        unit=" %",
        at_least=Decimal(100),
        reference=(Decimal(100), "100 %: every unit planned made saleable"),
    )


def cost_chart(history: ProductHistory) -> LineChart:
    labels, titles = _runs(history)
    currency = current_workshop().currency
    series = [
        (v.name, [r.unit_costs[k] for r in history.runs]) for k, v in enumerate(history.variants)
    ]
    said = " ".join(
        f"{name}: "
        + "; ".join(
            f"{t}: {_cost(c) if c is not None else 'none made'}"
            for t, c in zip(titles, costs, strict=True)
        )
        + "."
        for name, costs in series
    )
    n = len(history.runs)
    return line_chart(
        title=f"Cost per unit of {history.product.name} ({currency}) over {n} run"
        f"{'s' if n != 1 else ''}",
        desc=f"What one saleable unit cost, from the lots each run made, oldest first. {said}",
        labels=labels,
        titles=titles,
        series=series,
        fmt=_cost,
    )

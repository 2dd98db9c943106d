"""The console's chart of events per hour, as SVG geometry computed on the server.

No chart library and no script: each bar is a `<rect>` whose position and
size are attributes (the CSP forbids inline style), coloured by a class from
the hub's stylesheet. Each bar carries a `<title>` for pointer and screen
reader users, and the page also gives the same numbers as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.events.activity import HOURS, SERIES, ConnectorActivity

WIDTH = 720
HEIGHT = 200
LEFT = 40
BOTTOM = 24
TOP = 8
SLOT = (WIDTH - LEFT) / HOURS
BAR = SLOT / (len(SERIES) + 1)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    connector: str
    width: int
    height: int
    bars: list[Bar]
    hour_ticks: list[Tick]
    count_ticks: list[Tick]
    baseline: float
    activity: ConnectorActivity


def _nice_ceiling(value: int) -> int:
    ceiling = 1
    while ceiling < value:
        for step in (2, 5, 10):
            if ceiling * step >= value:
                return ceiling * step
        ceiling *= 10
    return ceiling


def chart(activity: ConnectorActivity) -> Chart:
    plot_height = HEIGHT - BOTTOM - TOP
    baseline = HEIGHT - BOTTOM
    top_value = _nice_ceiling(max([1] + [count for counts in activity.counts.values() for count in counts]))
    bars = []
    for hour_index, hour in enumerate(activity.hours):
        for series_index, series in enumerate(SERIES):
            count = activity.counts[series][hour_index]
            height = round(plot_height * count / top_value, 2)
            x = round(LEFT + hour_index * SLOT + (series_index + 0.5) * BAR, 2)
            label = f"{hour:%H}:00 UTC, {series}: {count}"
            bars.append(Bar(x=x, y=round(baseline - height, 2), width=round(BAR, 2), height=height, series=series, label=label))
    hour_ticks = [
        Tick(x=round(LEFT + index * SLOT + SLOT / 2, 2), y=HEIGHT - 6, text=f"{hour:%H}")
        for index, hour in enumerate(activity.hours) if index % 3 == 0
    ]
    count_ticks = [Tick(x=LEFT - 6, y=round(baseline - plot_height * fraction, 2) + 4, text=str(int(top_value * fraction)))
                   for fraction in (0, 0.5, 1)]
    return Chart(activity.connector, WIDTH, HEIGHT, bars, hour_ticks, count_ticks, baseline, activity)

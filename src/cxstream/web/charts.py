"""Charts as SVG, rendered on the server: the foundation every page of cxstream draws with.

Why SVG from Python rather than a JavaScript charting library: the page works offline with no build step and
no CDN, a chart is one string in a JSON answer (the live snapshot carries them), every chart is testable
without a browser (its threshold lines and labels are elements), and the screen's tests can find them by
class. Each chart scales to its box (``viewBox``); text is sized in the chart's own units, so a chart drawn
at ``width`` user units and shown at that many pixels has the font sizes given here.

Three shapes cover the war room and the pages to come:

* :func:`trend`: values over time of several series on one shared, labelled axis, each with its interval as
  a band, and horizontal levels (warning, critical, a target) drawn and named;
* :func:`bars`: horizontal bars with a count, a share and the n they are out of;
* :func:`counts`: a small table-like chart of counts per row by severity (breaches by rule and region).

Every number drawn carries its n: trends in each point's ``<title>``, bars and counts in their label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

#: Colours shared with the page: one per series, and one per level kind.
SERIES_COLOURS = ("#58a6ff", "#f0883e", "#a371f7", "#3fb950", "#db61a2", "#e3b341")
LEVEL_COLOURS = {"critical": "#f85149", "warning": "#d29922", "target": "#3fb950"}
TEXT = "#e6edf3"
DIM = "#8b98a5"
GRID = "#30363d"


@dataclass(frozen=True)
class Point:
    at_ms: int
    value: float | None  # None: no value (insufficient sample): a gap in the line
    low: float | None = None
    high: float | None = None
    n: int = 0
    partial: bool = False  # drawn hollow: the period is not complete yet


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Level:
    name: str  # e.g. "critical 55%"
    value: float
    kind: str  # critical, warning or target


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    of: int  # the n the share is out of


def format_value(value: float, unit: str) -> str:
    """A number with its unit as charts and lists print it: 61%, 5.6, 12 h, 0 points."""
    text = f"{value:.0f}" if abs(value) >= 10 or unit == "%" or value == int(value) else f"{value:.1f}"
    return f"{text}{unit}" if unit in ("%", "") else f"{text} {unit}"


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About ``count`` round tick values covering [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = (lo // step) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        if value >= lo - step * 1e-9:
            ticks.append(round(value, 10))
        value += step
    return ticks


def domain_of(series: Sequence[Series], levels: Sequence[Level], floor: float | None = None,
              ceiling: float | None = None) -> tuple[float, float]:  # fmt: skip
    """A shared y range holding every value, interval and level (so that charts side by side compare)."""
    values = [v for s in series for p in s.points for v in (p.value, p.low, p.high) if v is not None]
    values += [level.value for level in levels]
    if not values:
        return (floor if floor is not None else 0.0, ceiling if ceiling is not None else 1.0)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad
    if floor is not None:
        lo = max(lo, floor)
    if ceiling is not None:
        hi = min(hi, ceiling)
    return lo, hi


def trend(
    title: str,
    unit: str,
    series: Sequence[Series],
    levels: Sequence[Level] = (),
    *,
    domain: tuple[float, float] | None = None,
    width: int = 640,
    height: int = 300,
    font: int = 16,
) -> str:
    """A line per series with its interval band, the levels as labelled horizontal lines, a labelled y axis
    (with the unit) and the first and last times on the x axis."""
    lo, hi = domain or domain_of(series, levels)
    labelled = len(series) > 1  # one series: the chart's title names it; several: each is labelled at its end
    left, right, top, bottom = font * 3.2, font * (6 if labelled else 0.5), font * 1.6, font * 1.5
    times = [p.at_ms for s in series for p in s.points]
    t0, t1 = (min(times), max(times)) if times else (0, 1)
    t1 = t1 if t1 > t0 else t0 + 1

    span_ms = t1 - t0
    time_format = "%H:%M UTC" if span_ms < 86_400_000 else "%d %b %Y" if span_ms > 180 * 86_400_000 else "%d %b"

    def x(at_ms: int) -> float:
        return left + (at_ms - t0) / (t1 - t0) * (width - left - right)

    def y(value: float) -> float:
        return top + (hi - value) / (hi - lo or 1) * (height - top - bottom)

    parts = [f"<title>{escape(title)}</title>"]
    room = (height - top - bottom) / (font * 1.6)  # tick labels a line and a half apart at least
    tick_unit = unit if len(unit) <= 3 else ""  # a long unit ("points") is in the levels' and the tile's text
    for tick in _ticks(lo, hi, max(1, min(4, int(room)))):
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="{GRID}"/><text x="{left - 6}" y="{y(tick) + font / 3:.1f}" text-anchor="end" '
                     f'font-size="{font}" fill="{DIM}">{escape(format_value(tick, tick_unit))}</text>')  # fmt: skip
    for i, s in enumerate(series):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        known = [p for p in s.points if p.value is not None]
        banded = [p for p in known if p.low is not None and p.high is not None]
        if len(banded) >= 2:
            upper = [f"{x(p.at_ms):.1f},{y(p.high):.1f}" for p in banded]  # type: ignore[arg-type]
            lower = [f"{x(p.at_ms):.1f},{y(p.low):.1f}" for p in reversed(banded)]  # type: ignore[arg-type]
            parts.append(f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{colour}" '
                         'fill-opacity="0.18"/>')  # fmt: skip
        path, pen = [], "M"
        for p in s.points:
            if p.value is None:
                pen = "M"
                continue
            path.append(f"{pen}{x(p.at_ms):.1f},{y(p.value):.1f}")
            pen = "L"
        if path:
            parts.append(f'<path class="line" data-series="{escape(s.name)}" d="{" ".join(path)}" fill="none" '
                         f'stroke="{colour}" stroke-width="{max(2, font // 6)}"/>')  # fmt: skip
        for p in known:
            assert p.value is not None
            interval = ""
            if p.low is not None and p.high is not None:
                interval = f", interval {format_value(p.low, unit)} to {format_value(p.high, unit)}"
            when = datetime.fromtimestamp(p.at_ms / 1000, UTC).strftime(time_format)
            fill = "none" if p.partial else colour
            note = ", partial" if p.partial else ""
            reading = (
                f"{escape(s.name)} {when}: {escape(format_value(p.value, unit))} (n={p.n}{escape(interval)}{note})"
            )
            radius = max(3, font // 5)
            centre = f'cx="{x(p.at_ms):.1f}" cy="{y(p.value):.1f}" r="{radius}"'
            parts.append(f'<circle class="point" {centre} fill="{fill}" stroke="{colour}" stroke-width="2">'
                         f"<title>{reading}</title></circle>")  # fmt: skip
        if known and labelled:
            last = known[-1]
            assert last.value is not None
            parts.append(f'<text class="series-label" x="{x(last.at_ms) + 8:.1f}" y="{y(last.value) + font / 3:.1f}" '
                         f'font-size="{font}" fill="{colour}">{escape(s.name)} {escape(format_value(last.value, unit))}'
                         "</text>")  # fmt: skip
    ordered = sorted((lv for lv in levels if lo <= lv.value <= hi), key=lambda lv: -lv.value)
    for rank, level in enumerate(ordered):
        colour = LEVEL_COLOURS.get(level.kind, DIM)
        # the highest level's name above its line, the next one's below its own: close levels do not collide
        room_below = y(level.value) + font <= height - bottom
        over = (rank == 0 and y(level.value) - font > top * 0.5) or not room_below
        above = y(level.value) - font * 0.25 if over else y(level.value) + font * 0.95
        parts.append(f'<line class="level level-{escape(level.kind)}" x1="{left}" x2="{width - right}" '
                     f'y1="{y(level.value):.1f}" y2="{y(level.value):.1f}" stroke="{colour}" stroke-width="2" '
                     f'stroke-dasharray="8 5"/><text class="level-label" x="{width - right - 4}" y="{above:.1f}" '
                     f'text-anchor="end" font-size="{font}" fill="{colour}">{escape(level.name)}</text>')  # fmt: skip
    if times:
        for at, anchor, where in ((t0, "start", left), (t1, "end", width - right)):
            label = datetime.fromtimestamp(at / 1000, UTC).strftime(time_format.removesuffix(" UTC"))
            parts.append(f'<text x="{where}" y="{height - font * 0.4:.1f}" text-anchor="{anchor}" '
                         f'font-size="{font}" fill="{DIM}">{label}</text>')  # fmt: skip
    return _svg(width, height, title, parts)


def bars(title: str, items: Sequence[Bar], *, width: int = 640, font: int = 16, top_n: int = 6) -> str:
    """Horizontal bars, longest first: label, count and share of n."""
    shown = sorted(items, key=lambda b: (-b.count, b.label))[:top_n]
    row = font * 2
    height = int(font * 2.2 + row * max(1, len(shown)))
    label_w = font * 9
    longest = max((b.count for b in shown), default=1) or 1
    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)}</text>"]  # fmt: skip
    if not shown:
        parts.append(f'<text x="0" y="{font * 3.2:.1f}" font-size="{font}" fill="{DIM}">none</text>')
    for i, b in enumerate(shown):
        top = font * 2.2 + i * row
        length = (width - label_w - font * 9) * b.count / longest
        share = f"{100 * b.count / b.of:.0f}%" if b.of else "-"
        parts.append(f'<text x="0" y="{top + font * 1.1:.1f}" font-size="{font}" fill="{TEXT}">{escape(b.label)}'
                     f'</text><rect class="bar" x="{label_w}" y="{top + font * 0.25:.1f}" width="{length:.1f}" '
                     f'height="{font * 1.2:.1f}" fill="{SERIES_COLOURS[0]}"/><text x="{label_w + length + 6:.1f}" '
                     f'y="{top + font * 1.1:.1f}" font-size="{font}" fill="{DIM}">{b.count} ({share} of n={b.of})'
                     "</text>")  # fmt: skip
    return _svg(width, height, title, parts)


def counts(title: str, rows: Sequence[tuple[str, dict[str, int]]], kinds: Sequence[str], *, width: int = 640,
           font: int = 16) -> str:  # fmt: skip
    """One row per label with a square per kind (e.g. severity) holding its count."""
    row = font * 2
    height = int(font * 2.2 + row * max(1, len(rows)))
    cell = font * 3
    label_w = width - cell * len(kinds)
    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)}</text>"]  # fmt: skip
    if not rows:
        parts.append(f'<text x="0" y="{font * 3.2:.1f}" font-size="{font}" fill="{DIM}">none</text>')
    for i, (label, by_kind) in enumerate(rows):
        top = font * 2.2 + i * row
        parts.append(f'<text x="0" y="{top + font * 1.2:.1f}" font-size="{font}" fill="{TEXT}">{escape(label)}</text>')
        for j, kind in enumerate(kinds):
            n = by_kind.get(kind, 0)
            colour = LEVEL_COLOURS.get(kind.lower(), DIM) if n else GRID
            x0 = label_w + j * cell
            parts.append(f'<rect class="count count-{escape(kind.lower())}" x="{x0}" y="{top + 2}" '
                         f'width="{cell - 6}" height="{row - 6}" rx="4" fill="{colour}" fill-opacity="0.3"/>'
                         f'<text x="{x0 + (cell - 6) / 2:.1f}" y="{top + font * 1.2:.1f}" text-anchor="middle" '
                         f'font-size="{font}" fill="{TEXT}">{n}<title>{escape(label)}: {n} {escape(kind)}</title>'
                         "</text>")  # fmt: skip
    return _svg(width, height, title, parts)


@dataclass(frozen=True)
class XY:
    """A point of a curve over a number (not a time): y with its interval, n where it is an observation."""

    x: float
    y: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0


def curve(title: str, x_unit: str, y_unit: str, series: Sequence[tuple[str, Sequence[XY]]], *,
          marker: Level | None = None, markers: Sequence[Level] = (), width: int = 900, height: int = 260,
          font: int = 14) -> str:  # fmt: skip
    """Lines over a numeric x axis, each with its interval band, points with n drawn as dots, and labelled
    vertical markers (e.g. today's value; a tolerance point and the levels proposed around it)."""
    verticals = [*([marker] if marker is not None else []), *markers]
    xs = [p.x for _, points in series for p in points] + [m.value for m in verticals]
    ys = [v for _, points in series for p in points for v in (p.y, p.low, p.high) if v is not None]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    pad = (y1 - y0) * 0.08 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    left, right, top, bottom = font * 4.2, font * 9, font * (3.2 + 1.1 * max(min(len(verticals), 3) - 1, 0)), font * 2.6

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * (width - left - right)

    def py(y: float) -> float:
        return top + (y1 - y) / ((y1 - y0) or 1) * (height - top - bottom)

    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)}</text>"]  # fmt: skip
    for tick in _ticks(y0, y1):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 6}" y="{py(tick) + font * 0.35:.1f}" text-anchor="end" font-size="{font}" '
                     f'fill="{DIM}">{escape(format_value(tick, y_unit))}</text>')  # fmt: skip
    for tick in _ticks(x0, x1):
        parts.append(f'<text x="{px(tick):.1f}" y="{height - font * 1.2:.1f}" text-anchor="middle" '
                     f'font-size="{font}" fill="{DIM}">{escape(format_value(tick, x_unit))}</text>')  # fmt: skip
    rows = min(len(verticals), 3)
    for i, mark in enumerate(sorted(verticals, key=lambda m: m.value)):
        colour = LEVEL_COLOURS.get(mark.kind, DIM)
        label_y = top - 6 - (i % rows if rows else 0) * font * 1.1  # neighbours' labels on rows of their own
        parts.append(f'<line class="marker" data-kind="{escape(mark.kind)}" x1="{px(mark.value):.1f}" '
                     f'x2="{px(mark.value):.1f}" y1="{top:.1f}" y2="{height - bottom:.1f}" stroke="{colour}" '
                     f'stroke-dasharray="6 4"/><text x="{px(mark.value):.1f}" y="{label_y:.1f}" '
                     f'text-anchor="middle" font-size="{font}" fill="{colour}">{escape(mark.name)}</text>')  # fmt: skip
    for k, (name, points) in enumerate(series):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        valued = [p for p in points if p.y is not None]
        banded = [p for p in valued if p.low is not None and p.high is not None]
        if len(banded) > 1 and not any(p.n for p in banded):
            outline = [(px(p.x), py(p.high)) for p in banded] + [(px(p.x), py(p.low)) for p in reversed(banded)]  # type: ignore[arg-type]
            parts.append(f'<polygon points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in outline)}" fill="{colour}" '
                         'fill-opacity="0.18"/>')  # fmt: skip
        if len(valued) > 1 and not any(p.n for p in valued):
            line = " ".join(f"{'M' if i == 0 else 'L'}{px(p.x):.1f},{py(p.y):.1f}" for i, p in enumerate(valued))  # type: ignore[arg-type]
            parts.append(f'<path data-series="{escape(name)}" d="{line}" fill="none" stroke="{colour}" '
                         'stroke-width="2.5"/>')  # fmt: skip
        for p in valued:
            assert p.y is not None
            if p.n and p.low is not None and p.high is not None:
                parts.append(f'<line x1="{px(p.x):.1f}" x2="{px(p.x):.1f}" y1="{py(p.low):.1f}" y2="{py(p.high):.1f}" '
                             f'stroke="{colour}" stroke-width="2"/>')  # fmt: skip
            tip = f"{name}: {format_value(p.y, y_unit)} at {format_value(p.x, x_unit)}" + (f" (n={p.n})" if p.n else "")
            parts.append(f'<circle data-series="{escape(name)}" cx="{px(p.x):.1f}" cy="{py(p.y):.1f}" '
                         f'r="{font * (0.3 if p.n else 0.22):.1f}" fill="{colour}"><title>{escape(tip)}</title>'
                         "</circle>")  # fmt: skip
        if valued:
            last = valued[-1]
            assert last.y is not None
            parts.append(f'<text x="{px(last.x) + 8:.1f}" y="{py(last.y) + font * 0.35:.1f}" font-size="{font}" '
                         f'fill="{colour}">{escape(name)}</text>')  # fmt: skip
    return _svg(width, height, title, parts)


@dataclass(frozen=True)
class Estimate:
    """One row of a forest chart: a value with its interval and n (None: no value for this row)."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    n: float
    flagged: bool = False  # drawn in the critical colour


def forest(title: str, rows: Sequence[Estimate], reference: Level | None, unit: str, *, width: int = 900,
           font: int = 14, lo: float = 0.0, hi: float = 100.0) -> str:  # fmt: skip
    """One row per label: the value as a dot with its interval as a line, n beside it, and a vertical reference
    line (e.g. the team's value): for comparing many small samples without ranking them."""
    row = font * 1.9
    label_w, right = font * 9, font * 10
    top = font * 3.6  # the title, then the reference's label on a line of its own
    height = int(top + row * max(1, len(rows)) + font * 1.6)

    def x(value: float) -> float:
        return label_w + (min(hi, max(lo, value)) - lo) / ((hi - lo) or 1) * (width - label_w - right)

    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)}</text>"]  # fmt: skip
    bottom = top + row * max(1, len(rows))
    for tick in _ticks(lo, hi):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top:.1f}" y2="{bottom:.1f}" stroke="{GRID}"/>'
                     f'<text x="{x(tick):.1f}" y="{bottom + font * 1.2:.1f}" text-anchor="middle" font-size="{font}" '
                     f'fill="{DIM}">{escape(format_value(tick, unit))}</text>')  # fmt: skip
    if reference is not None:
        colour = LEVEL_COLOURS.get(reference.kind, DIM)
        parts.append(f'<line class="reference" x1="{x(reference.value):.1f}" x2="{x(reference.value):.1f}" '
                     f'y1="{top - 4:.1f}" y2="{bottom:.1f}" stroke="{colour}" stroke-dasharray="6 4"/>'
                     f'<text x="{x(reference.value):.1f}" y="{top - 6:.1f}" text-anchor="middle" font-size="{font}" '
                     f'fill="{colour}">{escape(reference.name)}</text>')  # fmt: skip
    for i, r in enumerate(rows):
        y = top + i * row + row / 2
        parts.append(f'<text x="0" y="{y + font * 0.35:.1f}" font-size="{font}" fill="{TEXT}">{escape(r.label)}</text>')
        if r.value is None:
            parts.append(f'<text x="{label_w}" y="{y + font * 0.35:.1f}" font-size="{font}" fill="{DIM}">'
                         f"insufficient sample (n={r.n:g})</text>")  # fmt: skip
            continue
        colour = LEVEL_COLOURS["critical"] if r.flagged else SERIES_COLOURS[0]
        if r.low is not None and r.high is not None:
            parts.append(f'<line class="interval" x1="{x(r.low):.1f}" x2="{x(r.high):.1f}" y1="{y:.1f}" '
                         f'y2="{y:.1f}" stroke="{colour}" stroke-width="3"/>')  # fmt: skip
        interval = (f", {format_value(r.low, unit)} to {format_value(r.high, unit)}"
                    if r.low is not None and r.high is not None else "")  # fmt: skip
        parts.append(f'<circle class="estimate" data-label="{escape(r.label)}" cx="{x(r.value):.1f}" cy="{y:.1f}" '
                     f'r="{font * 0.35:.1f}" fill="{colour}"><title>{escape(r.label)}: '
                     f"{escape(format_value(r.value, unit))}{escape(interval)} (n={r.n:.4g})</title></circle>"
                     f'<text x="{width - right + font * 0.5:.1f}" y="{y + font * 0.35:.1f}" font-size="{font}" '
                     f'fill="{DIM}">{escape(format_value(r.value, unit))} (n={r.n:.4g})</text>')  # fmt: skip
    return _svg(width, height, title, parts)


def _svg(width: int, height: int, title: str, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" font-family="system-ui, sans-serif">{"".join(parts)}</svg>')  # fmt: skip


def svg(width: int, height: int, title: str, parts: list[str]) -> str:
    """The chart document around drawn parts: for chart shapes kept in modules of their own."""
    return _svg(width, height, title, parts)

"""Variance charts, drawn like every chart of cxstream (:mod:`cxstream.web.charts`):

* :func:`funnel_chart`: each location as a dot at its n (log scale) and value, the target line, and the 95 % and
  99.8 % limits as curves narrowing with n (widened by the random effect when there is over-dispersion);
  hovering a dot shows its name, value, n and interval;
* :func:`control_chart`: a location's days with the centre line, each day's limits (they move with its n), and
  the days where a Nelson rule fires drawn in red with the rules named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from cxstream.domain.locations.funnel import Z95, Z998
from cxstream.web.charts import DIM, GRID, LEVEL_COLOURS, SERIES_COLOURS, TEXT, svg


@dataclass(frozen=True)
class FunnelDot:
    label: str
    value: float  # in the chart's unit (percent, NPS points)
    n: int
    low: float
    high: float
    band: str  # inside, warning, alarm


def _ticks(lo: float, hi: float) -> list[float]:
    step = 10 ** math.floor(math.log10(max(hi - lo, 1e-9) / 4))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= 6:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def funnel_chart(title: str, unit: str, target: float, se_at: Mapping[int, float], tau: float,
                 dots: Sequence[FunnelDot], *, width: int = 900, height: int = 360, font: int = 14,
                 bounded: tuple[float, float] | None = (0.0, 100.0)) -> str:  # fmt: skip
    """``se_at``: the standard error (in the chart's unit) at sample sizes spanning the plot, for the curves."""
    ns = sorted(se_at)
    n0, n1 = (ns[0], ns[-1]) if ns else (10, 1000)
    left, right, top, bottom = font * 4.5, font * 10, font * 3.2, font * 2.8
    curves: dict[str, list[tuple[int, float]]] = {}
    for level, z in (("99.8 %", Z998), ("95 %", Z95)):
        for side, sign in (("low", -1), ("high", 1)):
            curves[f"{level} {side}"] = [(n, target + sign * z * math.sqrt(se_at[n] ** 2 + tau**2)) for n in ns]
    values = [d.value for d in dots] + [v for c in curves.values() for _, v in c] + [target]
    y0, y1 = min(values), max(values)
    if bounded is not None:
        y0, y1 = max(bounded[0], y0), min(bounded[1], y1)
    pad = (y1 - y0) * 0.06 or 1.0
    y0, y1 = y0 - pad, y1 + pad

    def px(n: float) -> float:
        span = math.log10(n1) - math.log10(n0) or 1.0
        return left + (math.log10(max(n, n0)) - math.log10(n0)) / span * (width - left - right)

    def py(v: float) -> float:
        v = min(max(v, y0), y1)
        return top + (y1 - v) / ((y1 - y0) or 1) * (height - top - bottom)

    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)}</text>"]  # fmt: skip
    for tick in _ticks(y0, y1):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 6}" y="{py(tick) + font * 0.35:.1f}" text-anchor="end" font-size="{font}" '
                     f'fill="{DIM}">{tick:g}{escape(unit)}</text>')  # fmt: skip
    decade = 10 ** math.floor(math.log10(n0))
    while decade <= n1:
        if decade >= n0:
            parts.append(f'<text x="{px(decade):.1f}" y="{height - font * 1.3:.1f}" text-anchor="middle" '
                         f'font-size="{font}" fill="{DIM}">n={decade:g}</text>')  # fmt: skip
        decade *= 10
    parts.append(f'<line class="target" x1="{left}" x2="{width - right}" y1="{py(target):.1f}" y2="{py(target):.1f}" '
                 f'stroke="{LEVEL_COLOURS["target"]}" stroke-dasharray="6 4"/><text x="{width - right + 6}" '
                 f'y="{py(target) + font * 0.35:.1f}" font-size="{font}" fill="{LEVEL_COLOURS["target"]}">all '
                 f"{target:.1f}{escape(unit)}</text>")  # fmt: skip
    for label, points in curves.items():
        colour = LEVEL_COLOURS["critical"] if label.startswith("99.8") else LEVEL_COLOURS["warning"]
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(n):.1f},{py(v):.1f}" for i, (n, v) in enumerate(points))
        parts.append(f'<path class="limit" data-limit="{escape(label)}" d="{path}" fill="none" stroke="{colour}" '
                     'stroke-width="1.5"/>')  # fmt: skip
        if points:
            parts.append(f'<text x="{width - right + 6}" y="{py(points[-1][1]) + font * 0.35:.1f}" font-size="{font}" '
                         f'fill="{colour}">{escape(label.rsplit(" ", 1)[0])}</text>')  # fmt: skip
    for d in dots:
        colour = {"alarm": LEVEL_COLOURS["critical"], "warning": LEVEL_COLOURS["warning"]}.get(
            d.band, SERIES_COLOURS[0]
        )
        parts.append(f'<circle class="site" data-site="{escape(d.label)}" data-band="{d.band}" cx="{px(d.n):.1f}" '
                     f'cy="{py(d.value):.1f}" r="{font * 0.4:.1f}" fill="{colour}"><title>{escape(d.label)}: '
                     f"{d.value:.1f}{escape(unit)} (n={d.n}, 95 % CI {d.low:.1f} to {d.high:.1f}{escape(unit)}; "
                     f"{escape(d.band)})</title></circle>")  # fmt: skip
        if d.band != "inside":
            parts.append(f'<text x="{px(d.n) + font * 0.6:.1f}" y="{py(d.value) + font * 0.35:.1f}" font-size="{font}" '
                         f'fill="{colour}">{escape(d.label)}</text>')  # fmt: skip
    return svg(width, height, title, parts)


@dataclass(frozen=True)
class ChartDay:
    at_ms: int
    value: float | None
    lcl: float | None
    ucl: float | None
    n: int
    rules: tuple[int, ...]  # rules firing on this day


def control_chart(title: str, unit: str, centre: float | None, days: Sequence[ChartDay], *, width: int = 900,
                  height: int = 300, font: int = 14) -> str:  # fmt: skip
    left, right, top, bottom = font * 4.5, font * 4, font * 3.2, font * 2.6
    values = [v for d in days for v in (d.value, d.lcl, d.ucl) if v is not None] + ([centre] if centre else [])
    y0, y1 = (min(values), max(values)) if values else (0.0, 100.0)
    pad = (y1 - y0) * 0.08 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    count = max(1, len(days) - 1)

    def px(i: int) -> float:
        return left + i / count * (width - left - right)

    def py(v: float) -> float:
        return top + (y1 - v) / ((y1 - y0) or 1) * (height - top - bottom)

    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)}</text>"]  # fmt: skip
    for tick in _ticks(y0, y1):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 6}" y="{py(tick) + font * 0.35:.1f}" text-anchor="end" font-size="{font}" '
                     f'fill="{DIM}">{tick:g}{escape(unit)}</text>')  # fmt: skip
    if days:
        for i in (0, len(days) - 1):
            day = datetime.fromtimestamp(days[i].at_ms / 1000, UTC).strftime("%d %b")
            parts.append(f'<text x="{px(i):.1f}" y="{height - font * 1.2:.1f}" text-anchor="middle" font-size="{font}" '
                         f'fill="{DIM}">{day}</text>')  # fmt: skip
    if centre is not None:
        parts.append(f'<line class="centre" x1="{left}" x2="{width - right}" y1="{py(centre):.1f}" '
                     f'y2="{py(centre):.1f}" stroke="{LEVEL_COLOURS["target"]}" stroke-dasharray="6 4"/>')  # fmt: skip
    for key, colour in (("ucl", LEVEL_COLOURS["critical"]), ("lcl", LEVEL_COLOURS["critical"])):
        steps = [(i, getattr(d, key)) for i, d in enumerate(days) if getattr(d, key) is not None]
        if steps:
            path = " ".join(f"{'M' if j == 0 else 'L'}{px(i) - (width - left - right) / count / 2:.1f},{py(v):.1f} "
                            f"L{px(i) + (width - left - right) / count / 2:.1f},{py(v):.1f}"
                            for j, (i, v) in enumerate(steps))  # fmt: skip
            parts.append(f'<path class="limit" data-limit="{key}" d="{path}" fill="none" stroke="{colour}" '
                         'stroke-width="1.2"/>')  # fmt: skip
    valued = [(i, d) for i, d in enumerate(days) if d.value is not None]
    if len(valued) > 1:
        line = " ".join(f"{'M' if j == 0 else 'L'}{px(i):.1f},{py(d.value):.1f}" for j, (i, d) in enumerate(valued)  # type: ignore[arg-type]
                        )  # fmt: skip
        parts.append(f'<path d="{line}" fill="none" stroke="{SERIES_COLOURS[0]}" stroke-width="2"/>')
    for i, d in valued:
        assert d.value is not None
        colour = LEVEL_COLOURS["critical"] if d.rules else SERIES_COLOURS[0]
        fired = f"; rules {', '.join(str(r) for r in d.rules)}" if d.rules else ""
        parts.append(f'<circle class="day" data-rules="{",".join(str(r) for r in d.rules)}" cx="{px(i):.1f}" '
                     f'cy="{py(d.value):.1f}" r="{font * 0.3:.1f}" fill="{colour}"><title>'
                     f"{d.value:.1f}{escape(unit)} (n={d.n}){escape(fired)}</title></circle>")  # fmt: skip
    return svg(width, height, title, parts)

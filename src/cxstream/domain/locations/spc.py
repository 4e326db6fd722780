"""Control charts for a site over time: the p-chart with limits per period (its own n), and the eight Nelson
rules, each named when it fires, on the standardised points.

p-chart: centre p-bar = sum of hits / sum of n over the periods; a period's limits p-bar +/- 3 sqrt(p-bar
(1 - p-bar) / n_i), floored at 0 and capped at 1. Reference (tested): ten samples of 200 with p-bar 0.16 give
UCL 0.2378 and LCL 0.0822. When the periods vary more than their n explains, Laney's p' widens the limits.

Nelson rules (Nelson 1984, Journal of Quality Technology 16:237), on z_i = (p_i - p-bar) / sigma_i so that
periods of different n share one scale:

1. one point more than 3 sigma from the centre;
2. nine points in a row on the same side of the centre;
3. six points in a row steadily increasing or steadily decreasing;
4. fourteen points in a row alternating up and down;
5. two out of three points in a row more than 2 sigma from the centre, on the same side;
6. four out of five points in a row more than 1 sigma from the centre, on the same side;
7. fifteen points in a row within 1 sigma of the centre, on either side;
8. eight points in a row more than 1 sigma from the centre, on either side (none within).

A rule fires at the point that completes its pattern; every such point is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

RULES: dict[int, str] = {
    1: "a point beyond 3 sigma",
    2: "nine points in a row on one side of the centre",
    3: "six points in a row steadily rising or falling",
    4: "fourteen points in a row alternating up and down",
    5: "two of three points beyond 2 sigma on one side",
    6: "four of five points beyond 1 sigma on one side",
    7: "fifteen points in a row within 1 sigma",
    8: "eight points in a row beyond 1 sigma, none within",
}


@dataclass(frozen=True)
class Limits:
    centre: float
    lcl: float
    ucl: float
    sigma: float


def p_limits(p_bar: float, n: int, k: float = 3.0) -> Limits:
    """The p-chart's limits for a period of ``n`` units."""
    if not 0.0 <= p_bar <= 1.0 or n <= 0:
        raise ValueError("p-bar is a share (0-1) and n positive")
    sigma = math.sqrt(p_bar * (1.0 - p_bar) / n)
    return Limits(p_bar, max(0.0, p_bar - k * sigma), min(1.0, p_bar + k * sigma), sigma)


@dataclass(frozen=True)
class Period:
    hits: int
    n: int

    @property
    def share(self) -> float | None:
        return self.hits / self.n if self.n else None


@dataclass(frozen=True)
class ChartPoint:
    share: float | None
    n: int
    limits: Limits | None
    z: float | None  # (share - centre) / sigma; None without units or with sigma 0


@dataclass(frozen=True)
class Firing:
    rule: int
    at: int  # index of the point that completes the pattern
    name: str


@dataclass(frozen=True)
class PChart:
    centre: float | None
    points: tuple[ChartPoint, ...]
    firings: tuple[Firing, ...]
    sigma_z: float = 1.0  # Laney's between-period factor applied (1: a plain p-chart)

    def rules_fired(self) -> list[int]:
        return sorted({f.rule for f in self.firings})


def laney_sigma_z(z: Sequence[float | None]) -> float:
    """Laney's sigma_z: the mean moving range of consecutive z-scores / 1.128 (1.128: the mean range of two
    standard normal values). Near 1 when the periods vary as their n explains; larger when they vary more."""
    ranges = [abs(b - a) for a, b in pairwise(z) if a is not None and b is not None]
    return (sum(ranges) / len(ranges)) / 1.128 if ranges else 1.0


def p_chart(periods: Sequence[Period], centre: float | None = None, *, laney: bool = True) -> PChart:
    """The chart of ``periods`` (oldest first) around ``centre`` (default: their pooled share). With ``laney``,
    when the periods vary more than their n explains (sigma_z above 1, as with large n and day-to-day drift),
    the limits widen by sigma_z (Laney's p' chart, Quality Engineering 14:531, 2002), so a big site is not
    flagged every day for the spread every site has."""
    total = sum(p.n for p in periods)
    if centre is None:
        centre = sum(p.hits for p in periods) / total if total else None
    raw: list[float | None] = []
    base: list[Limits | None] = []
    for period in periods:
        if centre is None or not period.n:
            raw.append(None)
            base.append(None)
            continue
        limits = p_limits(centre, period.n)
        base.append(limits)
        raw.append((period.hits / period.n - centre) / limits.sigma if limits.sigma > 0 else None)
    factor = max(1.0, laney_sigma_z(raw)) if laney else 1.0
    points = []
    for period, z, plain in zip(periods, raw, base, strict=True):
        if plain is None or centre is None:
            points.append(ChartPoint(period.share, period.n, None, None))
            continue
        wide = p_limits(centre, period.n, 3.0 * factor) if factor > 1.0 else plain
        points.append(ChartPoint(period.share, period.n, Limits(centre, wide.lcl, wide.ucl, plain.sigma * factor),
                                 None if z is None else z / factor))  # fmt: skip
    return PChart(centre, tuple(points), tuple(nelson([p.z for p in points])), factor)


def nelson(z: Sequence[float | None]) -> list[Firing]:
    """Every point at which one of the eight rules completes its pattern. A period without a value breaks
    every run."""
    firings: list[Firing] = []

    def fire(rule: int, at: int) -> None:
        firings.append(Firing(rule, at, RULES[rule]))

    def window(end: int, length: int) -> list[float] | None:
        if end + 1 < length:
            return None
        values = z[end + 1 - length : end + 1]
        return None if any(v is None for v in values) else [float(v) for v in values if v is not None]

    for i, value in enumerate(z):
        if value is None:
            continue
        if abs(value) > 3:
            fire(1, i)
        if (w := window(i, 9)) and (all(v > 0 for v in w) or all(v < 0 for v in w)):
            fire(2, i)
        if (w := window(i, 6)) and (all(b > a for a, b in pairwise(w))
                                    or all(b < a for a, b in pairwise(w))):  # fmt: skip
            fire(3, i)
        if w := window(i, 14):
            steps = [b - a for a, b in pairwise(w)]
            if all(s != 0 for s in steps) and all((a > 0) != (b > 0) for a, b in pairwise(steps)):
                fire(4, i)
        if (w := window(i, 3)) and (sum(v > 2 for v in w) >= 2 or sum(v < -2 for v in w) >= 2):
            fire(5, i)
        if (w := window(i, 5)) and (sum(v > 1 for v in w) >= 4 or sum(v < -1 for v in w) >= 4):
            fire(6, i)
        if (w := window(i, 15)) and all(abs(v) < 1 for v in w):
            fire(7, i)
        if (w := window(i, 8)) and all(abs(v) > 1 for v in w):
            fire(8, i)
    return firings

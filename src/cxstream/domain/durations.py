"""Prometheus durations ("500ms", "30s", "5m", "1h30m", "7d", "2w", "1y") as ops teams write them: whole
numbers with units from the largest to the smallest, each at most once (Prometheus' ``model.ParseDuration``:
a year is 365 days, a week 7 days, and "0" alone is zero)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS_MS = {
    "ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000,
}  # fmt: skip
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"^(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?(?:\d+ms)?$")


def parse_duration_ms(text: str) -> int:
    """Milliseconds in ``text``; raises ValueError with the accepted forms on anything else."""
    cleaned = text.strip()
    if cleaned == "0":
        return 0
    if not cleaned or not _WHOLE.match(cleaned):
        raise ValueError(
            f"{text!r} is not a duration such as 500ms, 30s, 5m, 1h30m, 7d, 2w or 1y (units from the largest down)"
        )
    return sum(int(n) * _UNITS_MS[unit] for n, unit in _PART.findall(cleaned))


def parse_duration(text: str) -> timedelta:
    return timedelta(milliseconds=parse_duration_ms(text))


def format_duration_ms(ms: int) -> str:
    """Inverse of :func:`parse_duration_ms` using the largest whole units."""
    if ms == 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = _UNITS_MS[unit]
        if ms >= size:
            count, ms = divmod(ms, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)

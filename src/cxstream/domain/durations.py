"""Prometheus-style durations ("500ms", "30s", "5m", "1h30m", "7d", "2w") as ops teams write them."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w))+$")


def parse_duration_ms(text: str) -> int:
    """Milliseconds in ``text``; raises ValueError with the accepted forms on anything else."""
    cleaned = text.strip()
    if not _WHOLE.match(cleaned):
        raise ValueError(f"{text!r} is not a duration such as 500ms, 30s, 5m, 1h30m, 7d or 2w")
    units = [unit for _, unit in _PART.findall(cleaned)]
    if len(set(units)) != len(units):
        raise ValueError(f"{text!r} repeats a unit")
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

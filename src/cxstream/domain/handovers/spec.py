"""``handovers:`` in the topology (``topologies/handovers.yaml``): each team's shifts (start times in the team's
time zone; a shift ends where the next begins), how long after a shift's end its handover is published, and how
long the incoming supervisor has to acknowledge it before it escalates through the routing tree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict, from_ms, to_ms
from cxstream.domain.durations import parse_duration_ms

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def clock(text: str) -> time:
    found = _CLOCK.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a time of day HH:MM (or HH:MM:SS)")
    return time(int(found.group(1)), int(found.group(2)), int(found.group(3) or 0))


class Shift(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    start: str = Field(description="local start time, HH:MM (or HH:MM:SS)")

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        clock(value)
        return value


class TeamShifts(Strict):
    team: str
    time_zone: str = "UTC"
    shifts: tuple[Shift, ...] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone, e.g. Europe/Amsterdam") from None
        return value

    @model_validator(mode="after")
    def _distinct(self) -> TeamShifts:
        starts = [clock(s.start) for s in self.shifts]
        if len(set(starts)) != len(starts) or len({s.name for s in self.shifts}) != len(self.shifts):
            raise ValueError("shift names and start times must be distinct")
        return self

    def ordered(self) -> list[tuple[time, Shift]]:
        return sorted(((clock(s.start), s) for s in self.shifts), key=lambda pair: pair[0])


class HandoverSpec(Strict):
    ack_within: str = Field("30m", description="an unacknowledged handover escalates this long after it is out")
    grace: str = Field("2m", description="published this long after the shift's end (late events arrive)")
    severity: str = Field("WARNING", pattern=r"^(INFO|WARNING|CRITICAL)$")
    top_metrics: int = Field(5, ge=1, le=20, description="the metrics that moved most, per handover")
    teams: tuple[TeamShifts, ...] = ()

    @field_validator("ack_within", "grace")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_ms(value)
        return value

    @property
    def ack_within_ms(self) -> int:
        return parse_duration_ms(self.ack_within)

    @property
    def grace_ms(self) -> int:
        return parse_duration_ms(self.grace)

    def team(self, team_id: str) -> TeamShifts | None:
        return next((t for t in self.teams if t.team == team_id), None)


@dataclass(frozen=True)
class ShiftWindow:
    team: str
    shift: str
    start_ms: int
    end_ms: int

    @property
    def handover_id(self) -> str:
        """``<team>.<shift start, UTC>``, e.g. ``logistics.20261205T050000Z``: safe in a URL path."""
        return f"{self.team}.{from_ms(self.start_ms).strftime('%Y%m%dT%H%M%SZ')}"


def windows(team: TeamShifts, first_ms: int, last_ms: int) -> list[ShiftWindow]:
    """Every shift of the team that overlaps [first, last), oldest first (local times, so DST is honoured)."""
    zone = ZoneInfo(team.time_zone)
    ordered = team.ordered()
    day = from_ms(first_ms).astimezone(zone).date() - timedelta(days=1)
    stop = from_ms(last_ms).astimezone(zone).date() + timedelta(days=1)
    starts: list[tuple[int, Shift]] = []
    while day <= stop:
        for at, shift in ordered:
            local = datetime.combine(day, at, tzinfo=zone)
            starts.append((to_ms(local.astimezone(UTC)), shift))
        day = day + timedelta(days=1)
    out = []
    for (start, shift), (end, _) in pairwise(starts):
        if end > first_ms and start < last_ms:
            out.append(ShiftWindow(team.team, shift.name, start, end))
    return out


def shift_at(team: TeamShifts, at_ms: int) -> ShiftWindow:
    """The team's shift holding the instant ``at_ms``."""
    found = [w for w in windows(team, at_ms, at_ms + 1) if w.start_ms <= at_ms < w.end_ms]
    return found[0]


def ended_between(team: TeamShifts, after_ms: int, until_ms: int) -> list[ShiftWindow]:
    """The team's shifts that ended in (after, until]."""
    return [w for w in windows(team, after_ms - 2 * 86_400_000, until_ms) if after_ms < w.end_ms <= until_ms]


def local_day(team: TeamShifts, at_ms: int) -> date:
    return from_ms(at_ms).astimezone(ZoneInfo(team.time_zone)).date()

"""Named time intervals with Alertmanager's semantics (``time_intervals``, used by a route's
``mute_time_intervals`` and ``active_time_intervals``): "weekday evenings in Amsterdam", "the last three days
of every month", "Christmas week".

An interval holds when every field it sets holds (times, weekdays, days of the month, months, years), each
field holding when any of its ranges does; a named interval holds when any of its intervals does. Fields:

* ``times``: ``{start_time: "17:00", end_time: "24:00"}``, start inclusive, end exclusive, ``HH:MM``;
* ``weekdays``: ``monday:friday`` or ``saturday``, inclusive, weeks from sunday to saturday (``saturday:sunday``
  is refused, as in Alertmanager: write ``[saturday, sunday]``);
* ``days_of_month``: ``1:5``, ``-3:-1`` (the last three days), ``-1``; negative days count from the month's end,
  and a range is clamped to the month (``1:31`` in February ends on the 28th or 29th);
* ``months``: ``january:march`` or ``1:3``; ``years``: ``2026:2027``;
* ``location``: an IANA time zone (``Europe/Amsterdam``) the other fields are read in; UTC when absent.

Pure: :meth:`NamedInterval.holds` takes the time to consider as epoch milliseconds.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # Alertmanager's: 0-6
MONTHS = tuple(m.lower() for m in calendar.month_name[1:])
_CLOCK = re.compile(r"^(?:([01][0-9]|2[0-3]):([0-5][0-9])|24:00)$")


def _minutes(text: str) -> int:
    if not _CLOCK.match(text):
        raise ValueError(f"couldn't parse timestamp {text}, invalid format (HH:MM, 00:00 to 24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _range(text: str, member: type[int] | tuple[str, ...], what: str) -> tuple[int, int]:
    """``a:b`` or ``a``, each a number or (for weekdays and months) a name, as (begin, end)."""
    parts = str(text).strip().lower().split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"{text!r} is not a {what} or a range of them (a:b)")

    def one(part: str) -> int:
        if isinstance(member, tuple):
            if part in member:
                return member.index(part) + (1 if member is MONTHS else 0)
            if member is MONTHS and part.isdigit():
                return int(part)
            raise ValueError(f"{part} is not a valid {what}")
        try:
            return int(part)
        except ValueError:
            raise ValueError(f"{part} is not a valid {what}") from None

    begin = one(parts[0])
    return begin, one(parts[-1])


class TimeRange(Strict):
    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _order(self) -> TimeRange:
        if _minutes(self.start_time) >= _minutes(self.end_time):
            raise ValueError("start time cannot be equal or greater than end time")
        return self

    def holds(self, minute_of_day: int) -> bool:
        return _minutes(self.start_time) <= minute_of_day < _minutes(self.end_time)


class TimeInterval(Strict):
    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[str, ...] | None = None
    days_of_month: tuple[str, ...] | None = None
    months: tuple[str, ...] | None = None
    years: tuple[str, ...] | None = None
    location: str | None = Field(None, description="IANA time zone, e.g. Europe/Amsterdam; UTC when absent")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for text in value or ():
            begin, end = _range(text, WEEKDAYS, "weekday")
            if begin > end:
                raise ValueError(f"{text}: start day cannot be after end day (weeks run sunday to saturday)")
        return value

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for text in value or ():
            begin, end = _range(text, int, "day of the month")
            for day in (begin, end):
                if day == 0 or not -31 <= day <= 31:
                    raise ValueError(f"{day} is not a valid day of the month: out of range")
            if begin < 0 < end:
                raise ValueError("end day must be negative if start day is negative")
            if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
                raise ValueError(f"end day {end} is always before start day {begin}")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for text in value or ():
            begin, end = _range(text, MONTHS, "month")
            if not (1 <= begin <= 12 and 1 <= end <= 12):
                raise ValueError(f"{text} is not a valid month: out of range")
            if begin > end:
                raise ValueError(f"end month {MONTHS[end - 1]} is before start month {MONTHS[begin - 1]}")
        return value

    @field_validator("years")
    @classmethod
    def _years(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for text in value or ():
            begin, end = _range(text, int, "year")
            if begin <= 0 or begin > end:
                raise ValueError(f"end year {end} is before start year {begin}")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Amsterdam)") from None
        return value

    def holds(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.location) if self.location else UTC)
        if self.times is not None and not any(t.holds(local.hour * 60 + local.minute) for t in self.times):
            return False
        if self.days_of_month is not None:
            length = calendar.monthrange(local.year, local.month)[1]

            def day_in(text: str) -> bool:
                begin, end = _range(text, int, "day of the month")
                begin, end = (length + d + 1 if d < 0 else d for d in (begin, end))
                if begin > length:
                    return False  # the 30th of February is in no February
                return begin <= local.day <= min(end, length)

            if not any(day_in(text) for text in self.days_of_month):
                return False
        for values, have, names in (
            (self.months, local.month, MONTHS),
            (self.weekdays, (local.weekday() + 1) % 7, WEEKDAYS),
            (self.years, local.year, int),
        ):
            if values is not None and not any(b <= have <= e for b, e in (_range(t, names, "value") for t in values)):
                return False
        return True


class NamedInterval(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,80}$")
    time_intervals: tuple[TimeInterval, ...] = Field(min_length=1)

    def holds(self, at_ms: int) -> bool:
        at = datetime.fromtimestamp(at_ms / 1000, UTC)
        return any(interval.holds(at) for interval in self.time_intervals)

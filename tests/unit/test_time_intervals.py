"""Named time intervals with Alertmanager's semantics (its ``timeinterval`` package): which instants they hold,
what a configuration may say, and a route muted by them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cxstream.domain.alerting.routing import AlertingRoutes, Dispatcher
from cxstream.domain.alerting.time_intervals import NamedInterval, TimeInterval


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def holds(interval: dict[str, Any], at: str) -> bool:
    return NamedInterval(name="x", time_intervals=(TimeInterval.model_validate(interval),)).holds(ms(at))


@pytest.mark.parametrize(
    ("interval", "at", "want"),
    [
        ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, "2026-12-04T09:00", True),  # start inclusive
        ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, "2026-12-04T17:00", False),  # end exclusive
        ({"times": [{"start_time": "17:00", "end_time": "24:00"}]}, "2026-12-04T23:59", True),
        ({"weekdays": ["monday:friday"]}, "2026-12-04T12:00", True),  # a Friday
        ({"weekdays": ["monday:friday"]}, "2026-12-05T12:00", False),  # a Saturday
        ({"weekdays": ["saturday", "sunday"]}, "2026-12-06T12:00", True),
        ({"weekdays": ["sunday:saturday"]}, "2026-12-06T12:00", True),  # the whole week
        ({"days_of_month": ["-1"]}, "2024-02-29T12:00", True),  # the last day, in a leap year
        ({"days_of_month": ["-1"]}, "2024-02-28T12:00", False),
        ({"days_of_month": ["-1"]}, "2023-02-28T12:00", True),
        ({"days_of_month": ["-3:-1"]}, "2026-11-28T00:00", True),  # the last three days of November
        ({"days_of_month": ["-3:-1"]}, "2026-11-27T23:59", False),
        ({"days_of_month": ["1:31"]}, "2026-02-28T12:00", True),  # clamped to the month
        ({"days_of_month": ["30:31"]}, "2026-02-28T12:00", False),  # no 30th in February
        ({"days_of_month": ["5:-1"]}, "2026-12-31T12:00", True),
        ({"months": ["december"]}, "2026-12-04T12:00", True),
        ({"months": ["january:march", "11"]}, "2026-12-04T12:00", False),
        ({"years": ["2026:2027"]}, "2026-12-04T12:00", True),
        ({"years": ["2027"]}, "2026-12-31T23:59", False),
        # read in the interval's time zone: 08:30 UTC is 09:30 in Amsterdam in winter, 16:30 UTC is 17:30
        ({"times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Europe/Amsterdam"},
         "2026-12-04T08:30", True),
        ({"times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Europe/Amsterdam"},
         "2026-12-04T16:30", False),
        ({"weekdays": ["saturday"], "location": "Asia/Singapore"}, "2026-12-04T17:00", True),  # Saturday 01:00 there
        # every field must hold
        ({"weekdays": ["friday"], "times": [{"start_time": "00:00", "end_time": "06:00"}]}, "2026-12-04T07:00", False),
    ],
)  # fmt: skip
def test_an_interval_holds_where_alertmanager_says(interval: dict[str, Any], at: str, want: bool) -> None:
    assert holds(interval, at) is want


@pytest.mark.parametrize(
    ("interval", "why"),
    [
        ({"times": [{"start_time": "17:00", "end_time": "09:00"}]}, "start time cannot be equal or greater"),
        ({"times": [{"start_time": "09:00", "end_time": "25:00"}]}, "invalid format"),
        ({"times": [{"start_time": "9:00", "end_time": "17:00"}]}, "invalid format"),
        ({"weekdays": ["saturday:sunday"]}, "start day cannot be after end day"),
        ({"weekdays": ["funday"]}, "funday is not a valid weekday"),
        ({"days_of_month": ["0"]}, "not a valid day of the month"),
        ({"days_of_month": ["32"]}, "not a valid day of the month"),
        ({"days_of_month": ["-3:5"]}, "end day must be negative if start day is negative"),
        ({"days_of_month": ["-1:-3"]}, "end day -3 is always before start day -1"),
        ({"months": ["march:january"]}, "end month january is before start month march"),
        ({"months": ["13"]}, "not a valid month"),
        ({"years": ["2027:2026"]}, "end year 2026 is before start year 2027"),
        ({"location": "Mars/Olympus_Mons"}, "unknown time zone"),
    ],
)
def test_what_alertmanager_refuses_is_refused(interval: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        TimeInterval.model_validate(interval)


ROUTES = {
    "route": {"receiver": "ops", "routes": [
        {"matchers": ["team=logistics"], "receiver": "logistics", "mute_time_intervals": ["weekends"]},
        {"matchers": ["team=billing"], "receiver": "billing", "active_time_intervals": ["office"]},
    ]},
    "time_intervals": [
        {"name": "weekends", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]},
        {"name": "office", "time_intervals": [{"weekdays": ["monday:friday"],
                                               "times": [{"start_time": "09:00", "end_time": "17:00"}]}]},
    ],
}  # fmt: skip


def dispatcher() -> Dispatcher:
    routing = AlertingRoutes.model_validate(ROUTES)
    root, inhibit = routing.build()
    return Dispatcher(root, inhibit, time_intervals=routing.intervals())


def test_a_route_notifies_nobody_within_its_mute_interval_and_goes_on_after() -> None:
    d = dispatcher()
    d.receive({"team": "logistics", "alertname": "a"}, ms("2026-12-05T10:00"))  # a Saturday
    saturday = [n for m in range(0, 24 * 60, 5) for n in d.due(ms("2026-12-05T10:00") + m * 60_000)]
    assert saturday == []
    [monday] = [n for m in range(0, 60, 5) for n in d.due(ms("2026-12-07T00:00") + m * 60_000)]
    assert monday.receiver == "logistics" and not monday.repeat  # never notified: the first notification


def test_a_route_with_active_intervals_notifies_only_within_them() -> None:
    d = dispatcher()
    d.receive({"team": "billing", "alertname": "b"}, ms("2026-12-04T07:00"))  # a Friday, before office hours
    early = [n for m in range(0, 120, 5) for n in d.due(ms("2026-12-04T07:00") + m * 60_000)]
    assert early == []
    [office] = [n for m in range(0, 60, 5) for n in d.due(ms("2026-12-04T09:00") + m * 60_000)]
    assert office.receiver == "billing"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"route": {"receiver": "ops", "routes": [{"receiver": "x", "mute_time_intervals": ["holidays"]}]}},
         "undefined time interval 'holidays' used in route.routes\\[0\\]"),
        ({"route": {"receiver": "ops", "mute_time_intervals": ["weekends"]}}, "root route cannot have"),
        ({"time_intervals": [*ROUTES["time_intervals"], ROUTES["time_intervals"][0]]}, "defined twice"),
    ],
)  # fmt: skip
def test_interval_names_must_be_defined_once_and_not_on_the_root(change: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        AlertingRoutes.model_validate({**ROUTES, **change})

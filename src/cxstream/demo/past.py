"""A seeded past for backfill demos, tests and benchmarks: canonical JSON Lines records (the ``canonical``
connector's shape) for every day of a span, with a weekly pattern (fewer answers and deliveries at weekends),
a slow seasonal drift in delivery CSAT, and late deliveries in EMEA in November and December. Delivery CSAT
answers carry their order's promised and actual arrival, and customers mind a delivery more than 12 hours late
(the tolerance ``cxstream thresholds tolerance`` should find: 5 points below the plateau at about 16 h).

Pure and seeded: the same seed and days give the same records.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from cxstream.demo.traffic import REGION_WEIGHTS, REGIONS

WEEKDAY_SHARE = (1.0, 1.0, 0.95, 0.95, 0.9, 0.45, 0.35)  # Monday .. Sunday
#: Delivery CSAT holds while a delivery is up to this many hours late, then falls this much per hour beyond.
TOLERATED_HOURS = 12.0
CSAT_FALL_PER_HOUR = 0.012


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def past_records(first: date, days: int, per_day: int = 200, seed: int = 11) -> Iterator[bytes]:
    """Records for ``days`` days from ``first``: about ``per_day`` on a weekday, each one JSON line."""
    rng = random.Random(seed)
    delays = random.Random(seed * 1_000_003 + 7)  # the surveyed deliveries' delays (the other draws stay as they were)
    regions = list(REGION_WEIGHTS)
    weights = [REGION_WEIGHTS[r] for r in regions]
    i = 0
    for offset in range(days):
        day = first + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        n = round(per_day * WEEKDAY_SHARE[day.weekday()])
        season = math.sin(2 * math.pi * day.timetuple().tm_yday / 365.25)
        for _ in range(n):
            i += 1
            region = rng.choices(regions, weights)[0]
            fulfilment, contact = REGIONS[region][3], REGIONS[region][2]
            when = midnight + timedelta(seconds=rng.uniform(0, 86_399))
            base = {"event_id": f"past-{seed}-{i}", "event_time": _iso(when), "source_record_id": str(i),
                    "customer_id": f"CUST-{rng.randint(1, 5000):06d}", "region": region}  # fmt: skip
            kind = rng.choices(("csat", "nps", "delivered", "solved"), (40, 15, 30, 15))[0]
            peak_trouble = region == "emea" and day.month in (11, 12)
            if kind == "csat":  # about a delivery: customers tolerate up to TOLERATED_HOURS late, then mind
                late_hours = delays.expovariate(1 / (20 if peak_trouble else 6)) - 4
                good = 0.78 + 0.05 * season - CSAT_FALL_PER_HOUR * max(0.0, late_hours - TOLERATED_HOURS)
                score = rng.choice((4, 5)) if rng.random() < max(good, 0.1) else rng.choice((1, 2, 3))
                answer = {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5}
                arrived = when - timedelta(hours=delays.uniform(6, 48))
                about = {"order_id": f"SO-{i}", "promised_at": _iso(arrived - timedelta(hours=late_hours)),
                         "actual_at": _iso(arrived)}  # fmt: skip
                record = {**base, "event_type": "SURVEY_RESPONSE", "team": "logistics", "site": fulfilment,
                          "journey_stage": "delivery", "touchpoint": "delivery", "channel": "email",
                          "survey": answer, "operation": about}  # fmt: skip
            elif kind == "nps":
                score = min(10, max(0, round(rng.gauss(7.6, 2.0))))
                answer = {"metric": "NPS", "score": score, "scale_min": 0, "scale_max": 10}
                record = {**base, "event_type": "SURVEY_RESPONSE", "team": "cx-operations", "site": contact,
                          "journey_stage": "relationship", "channel": "email", "survey": answer}  # fmt: skip
            elif kind == "delivered":
                late_hours = rng.expovariate(1 / (20 if peak_trouble else 6)) - 4
                promised = when - timedelta(hours=late_hours)
                ordered = promised - timedelta(days=3)
                operation = {"order_id": f"SO-{i}", "created_at": _iso(ordered), "promised_at": _iso(promised),
                             "actual_at": _iso(when)}  # fmt: skip
                record = {**base, "event_type": "ORDER_DELIVERED", "team": "logistics", "site": fulfilment,
                          "journey_stage": "delivery", "touchpoint": "delivery", "channel": "api",
                          "operation": operation}  # fmt: skip
            else:
                created = when - timedelta(hours=rng.lognormvariate(2.3, 0.8))
                operation = {"ticket_id": f"T-{i}", "created_at": _iso(created), "actual_at": _iso(when)}
                record = {**base, "event_type": "TICKET_SOLVED", "team": "customer-service", "site": contact,
                          "agent_id": f"agent-{rng.randint(1, 40)}", "journey_stage": "support",
                          "touchpoint": "ticket_resolution", "channel": "email", "operation": operation}  # fmt: skip
            yield json.dumps(record, separators=(",", ":")).encode()


#: When each region's contact centre is busy (UTC hours of its business day) and its share of contacts.
BUSINESS_HOURS_UTC = {"emea": (7, 17), "amer": (13, 23), "apac": (0, 10)}
_CHANNELS = (("email", 0.45), ("chat", 0.35), ("web_form", 0.20))
_TEAMS = (("customer-service", "360004419", 0.7), ("billing", "360004420", 0.2), ("field-service", "360004421", 0.1))


def intraday_weight(region: str, hour: float) -> float:
    """The relative arrival rate of a region's contacts at a UTC hour: a bump over its business day (peaking an
    hour before its middle) on a low night-time floor."""
    start, end = BUSINESS_HOURS_UTC[region]
    if not start <= hour < end:
        return 0.05
    x = (hour - start) / (end - start)
    return 0.2 + math.sin(math.pi * x**0.8)


def past_contacts(first: date, days: int, per_weekday: int = 600, seed: int = 13) -> Iterator[bytes]:
    """Helpdesk contacts for ``days`` days from ``first``: tickets opened (about ``per_weekday`` on a weekday,
    fewer at weekends, by each region's business hours) and, for most, their solving with a handle time.
    What the workforce forecast learns its weekly and intraday profile from."""
    from cxstream.demo.traffic import handle_seconds

    rng = random.Random(seed)
    regions = list(REGION_WEIGHTS)
    hours = [h + 0.5 for h in range(24)]
    i = 0
    end = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=days)
    for offset in range(days):
        day = first + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for region in regions:
            weights = [intraday_weight(region, h) for h in hours]
            mean = per_weekday * REGION_WEIGHTS[region] * WEEKDAY_SHARE[day.weekday()]
            n = _poisson(rng, mean)
            for _ in range(n):
                i += 1
                hour = rng.choices(range(24), weights)[0]
                opened = midnight + timedelta(hours=hour, seconds=rng.uniform(0, 3599))
                channel = rng.choices([c for c, _ in _CHANNELS], [w for _, w in _CHANNELS])[0]
                team, group, _ = rng.choices(_TEAMS, [w for *_, w in _TEAMS])[0]
                priority = rng.choice(("low", "normal", "normal", "high"))
                kind = rng.choices(("question", "incident", "problem", "task"), (50, 30, 12, 8))[0]
                contact = REGIONS[region][2]
                base = {"source_record_id": f"pc-{i}", "customer_id": f"CUST-{rng.randint(1, 5000):06d}",
                        "region": region, "team": team, "site": contact, "channel": channel,
                        "journey_stage": "support", "touchpoint": "ticket_resolution",
                        "attributes": {"ticket_type": kind}}  # fmt: skip
                ticket = {"ticket_id": f"PT-{seed}-{i}", "priority": priority, "created_at": _iso(opened)}
                yield _line({**base, "event_id": f"past-contact-{seed}-{i}", "event_type": "TICKET_CREATED",
                             "event_time": _iso(opened), "operation": ticket})  # fmt: skip
                solved = opened + timedelta(hours=rng.lognormvariate(1.5, 0.9))
                if rng.random() < 0.85 and solved < end:  # solved within the span (the rest: still open)
                    work = handle_seconds(rng, priority, channel, group, kind)
                    operation = {**ticket, "actual_at": _iso(solved), "handle_seconds": work}
                    yield _line({**base, "event_id": f"past-solved-{seed}-{i}", "event_type": "TICKET_SOLVED",
                                 "event_time": _iso(solved), "agent_id": f"agent-{rng.randint(1, 40)}",
                                 "operation": operation})  # fmt: skip


def _line(record: dict[str, object]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (normal approximation above 50, exact below), for day-to-day noise in volumes."""
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    n, p, limit = 0, 1.0, math.exp(-mean)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


#: Delivery CSAT a fulfilment site gets a day in the recent past the demo loads, and its true share: Amsterdam a
#: little worse than the others, so that the Locations view has something to compare.
SITE_DAY_ANSWERS = {"ams-1": ("emea", 90, 0.74), "chi-1": ("amer", 70, 0.83), "sin-1": ("apac", 50, 0.82)}


def past_site_answers(first: date, days: int, seed: int = 17) -> Iterator[bytes]:
    """Delivery CSAT at each fulfilment site for ``days`` days from ``first``: enough answers per site and day for
    the funnel plots and control charts (the year of past records has about 25 a day at the busiest site)."""
    rng = random.Random(seed)
    for offset in range(days):
        day = first + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for site, (region, n, share) in SITE_DAY_ANSWERS.items():
            for i in range(n):
                score = rng.choice((4, 5)) if rng.random() < share else rng.choice((1, 2, 3))
                yield _line({
                    "event_id": f"past-site-{seed}-{site}-{offset}-{i}", "source_record_id": f"{site}-{offset}-{i}",
                    "event_time": _iso(midnight + timedelta(seconds=rng.uniform(0, 86_399))),
                    "event_type": "SURVEY_RESPONSE", "customer_id": f"CUST-{rng.randint(1, 5000):06d}",
                    "region": region, "team": "logistics", "site": site, "journey_stage": "delivery",
                    "touchpoint": "delivery", "channel": "email",
                    "survey": {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5},
                })  # fmt: skip

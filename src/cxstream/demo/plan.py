"""What the demo source is asked to do, and running it: shared by ``cxstream demo`` and by ``cxstream run``,
which starts it as its own process (``python -m cxstream.demo <plan JSON>``) beside the worker."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from cxstream.demo.floor import DemoFloor
from cxstream.demo.impact import seed_impact
from cxstream.demo.partners import seed_partner_feedback
from cxstream.demo.producer import run_demo
from cxstream.demo.traffic import DemoTraffic


@dataclass(frozen=True)
class DemoPlan:
    rate: float = 20.0  # records per second
    seed: int = 7  # the same seed gives the same records
    malformed: float = 0.02  # share of malformed records
    incident: str | None = None  # delivery-delay-emea, slow-support-apac or none
    incident_after: float = 60.0  # seconds before the incident starts
    duration: float | None = None  # seconds to run; None: until stopped
    past_days: int = 0  # first load this many days of past records into metric history (when it is empty)
    incident_for: float | None = None  # seconds the incident lasts; None: until stopped

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DemoPlan:
        return cls(**json.loads(text))

    def traffic(self, now: datetime) -> DemoTraffic:
        """The traffic generator; ValueError names a bad incident or share."""
        start = now + timedelta(seconds=self.incident_after)
        end = start + timedelta(seconds=self.incident_for) if self.incident_for is not None else None
        return DemoTraffic(self.seed, self.malformed, self.incident, start, incident_end=end)


#: Days of past helpdesk contacts (with an intraday profile) loaded for the workforce forecast.
CONTACT_DAYS = 56
#: Days of denser delivery CSAT per fulfilment site: a control chart's span (locations.variance.chart_days).
SITE_DAYS = 28


def load_past(days: int, client_options: dict[str, Any], out: TextIO = sys.stderr) -> None:
    """A year (``days``) of past records into metric history, so that the history chart has something to show
    from the start; skipped when the history topic holds anything already (a second run adds nothing)."""
    from cxstream.app import load_context
    from cxstream.backfill import backfill_files, today_ms
    from cxstream.demo.past import past_contacts, past_records, past_site_answers
    from cxstream.domain.catalog import Topics
    from cxstream.kafka.history import read_history
    from cxstream.settings import load_settings

    ctx = load_context(load_settings())
    index, _ = asyncio.run(read_history(client_options, ctx.codec(Topics.HISTORY)))
    connector = next((c for c in ctx.connectors.values() if c.name == "canonical"), None)
    if index.count() or connector is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-past.jsonl"
        first = datetime.now(UTC).date() - timedelta(days=days)
        recent = min(days, CONTACT_DAYS)  # contacts per 15 minutes are kept for 13 weeks: 8 train the forecast
        contacts = past_contacts(first + timedelta(days=days - recent), recent)
        recent_sites = min(days, SITE_DAYS)  # enough answers per fulfilment site for the Locations view
        sites = past_site_answers(first + timedelta(days=days - recent_sites), recent_sites)
        path.write_bytes(b"\n".join([*past_records(first, days, per_day=150), *contacts, *sites]) + b"\n")
        report = asyncio.run(backfill_files(ctx, client_options, connector, [path], today_ms()))
    print(f"demo: {report.records} past records ({days} days) loaded into metric history in {report.elapsed_s:.0f} s",
          file=out, flush=True)  # fmt: skip


def plan_training(client_options: dict[str, Any], out: TextIO = sys.stderr) -> None:
    """One training on tomorrow's billing morning in the workforce calendar, so that the Staffing view shows how the
    calendar weighs it; skipped when the calendar holds anything already."""
    from cxstream.app import load_context
    from cxstream.domain.catalog import Topics
    from cxstream.domain.workforce.calendar import new_entry
    from cxstream.kafka.tools import read_decoded, send_records
    from cxstream.settings import load_settings

    ctx = load_context(load_settings())
    codec = ctx.codec(Topics.CALENDAR)
    records, _ = asyncio.run(read_decoded(client_options, codec, Topics.CALENDAR))
    queues = [q.id for q in ctx.topology.workforce.queues]
    if records or "billing" not in queues:
        return
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=UTC)
    entry = new_entry("training", "Refund policy 2027: classroom session", ["billing"], 1, start,
                      start + timedelta(hours=3), "demo", queues, "Wave 1 of 3")  # fmt: skip
    asyncio.run(
        send_records(client_options, Topics.CALENDAR, [(entry.entry_id.encode(), codec.encode(entry.to_record()))])
    )
    print(f"demo: training {entry.entry_id} planned in the workforce calendar for {start:%d %b %H:%M} UTC", file=out,
          flush=True)  # fmt: skip


def seed_backlog(client_options: dict[str, Any], out: TextIO = sys.stderr) -> None:
    """Two remediation items, so that the Improvement view has a backlog from the start: a refund-rule problem
    just proposed, and Amsterdam's late deliveries with a change defined (FMEA) and logistics' approval, waiting
    for customer service's; skipped when ``cx.remediation`` holds anything already."""
    from cxstream.app import load_context
    from cxstream.domain.base import to_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.remediation.fmea import FailureMode
    from cxstream.domain.remediation.items import Action, Change, ItemAction
    from cxstream.domain.remediation.records import action_record
    from cxstream.kafka.tools import read_decoded, send_records
    from cxstream.settings import load_settings

    ctx = load_context(load_settings())
    if ctx.topology.remediation is None:
        return
    codec = ctx.codec(Topics.REMEDIATION)
    records, _ = asyncio.run(read_decoded(client_options, codec, Topics.REMEDIATION))
    if records:
        return
    at = to_ms(datetime.now(UTC))
    change = Change(
        "Overflow to a second carrier when the evening pick-up in Amsterdam is full; customers told of a slip by 14:00",
        ("logistics", "customer-service"), ("carrier-booking", "delay-notice"), False, "late-delivery-handling", "2",
        (FailureMode(id="wrong-labels", description="Parcels labelled for the wrong carrier",
                     effect="Parcels returned, a week late", severity=9, occurrence=4, detection=5,
                     mitigation="Scan check at the dock before loading"),
         FailureMode(id="notice-spam", description="Delay notices sent for parcels that are on time",
                     effect="Needless worry and contacts", severity=4, occurrence=5, detection=6)),
        ("csat.delivery",),
    )  # fmt: skip
    late, refunds = "rem-demo-late-ams", "rem-demo-refunds"
    actions = [
        Action("demo-1", late, ItemAction.PROPOSE, "demo", at, title="Late deliveries from Amsterdam",
               source="manual", cause_code="SUP-CARRIER-CAPACITY", labels={"region": "emea", "site": "ams-1"},
               severity=7, cost_weeks=3, risk=0.2, comment="Complaints about late parcels from Amsterdam again",
               effect=8.0, effect_low=3.0, effect_high=12.0, requests={"ux": 1.0, "engineering": 4.0}),
        Action("demo-2", late, ItemAction.SET_CHANGE, "demo", at + 1, change=change),
        Action("demo-3", late, ItemAction.APPROVE, "demo", at + 2, role="supervisor", teams=("logistics",),
               department="logistics", comment="Carrier contract ready"),
        Action("demo-4", refunds, ItemAction.PROPOSE, "demo", at + 3, title="Refunds take two weeks to reach the card",
               source="manual", cause_code="POL-REFUND-RULE", reach=40, reach_low=28, reach_high=55, severity=6,
               cost_weeks=2, risk=0.3, comment="Billing detractors name refunds most", effect=4.0, effect_low=1.0,
               effect_high=7.0, requests={"analytics": 1.0, "engineering": 3.0}),
    ]  # fmt: skip
    asyncio.run(send_records(client_options, Topics.REMEDIATION,
                             [(a.item_id.encode(), codec.encode(action_record(a))) for a in actions]))  # fmt: skip
    print("demo: two remediation items in the backlog (cxstream changes list)", file=out, flush=True)


def run(plan: DemoPlan, client_options: dict[str, Any], out: TextIO = sys.stderr) -> Counter[str]:
    """Produce the plan's traffic until its duration ends or the process is interrupted (after loading the
    plan's past days into history)."""
    if plan.past_days > 0:
        load_past(plan.past_days, client_options, out)
        plan_training(client_options, out)
        seed_backlog(client_options, out)
        seed_partner_feedback(client_options, out)
        seed_impact(client_options, out)
    traffic = plan.traffic(datetime.now(UTC))
    if plan.incident:
        lasting = f", lasts {plan.incident_for:.0f} s" if plan.incident_for is not None else ""
        print(f"demo: incident {plan.incident} starts in {plan.incident_after:.0f} s{lasting}", file=out, flush=True)
    floor = DemoFloor(datetime.now(UTC), plan.seed)
    return asyncio.run(run_demo(client_options, traffic, plan.rate, plan.duration, out=out, floor=floor))

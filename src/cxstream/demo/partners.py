"""Partners' feedback for the demo: a few reports from the outsourced centres and the courier on the late-delivery
playbook's steps, sent as raw records to ``cx.raw.partners`` (through the connector, like any partner portal), so
the Locations view shows feedback per step and one revision before the board from the first run."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

REPORTS = (
    # (days ago, feedback id, partner, site, step, severity, issue, suggestion)
    (9, "mnl-2026-101", "manila-cx", "mnl-1", "notify", "high",
     "The SMS notice goes out after our evening shift has left, so replies wait until morning",
     "Send the delay notice at 15:00 local time"),
    (6, "swl-4410", "swiftline", "ams-1", "notify", "medium",
     "Customers call the depot before the notice reaches them", "Send the notice when the parcel misses the van"),
    (3, "swl-4452", "swiftline", "chi-1", "notify", "medium",
     "The notice names the original carrier, not the overflow one", "Name the carrier that now has the parcel"),
    (2, "sgf-0087", "sg-fulfil", "sin-1", "rebook", "low",
     "The overflow carrier's evening slot is often booked out by 15:00", "Book overflow capacity a day ahead"),
)  # fmt: skip


def seed_partner_feedback(client_options: dict[str, Any], out: TextIO = sys.stderr) -> None:
    """Skipped when ``cx.partner-feedback`` holds anything already (a second run of the demo)."""
    from cxstream.app import load_context
    from cxstream.domain.catalog import Topics
    from cxstream.kafka.tools import read_decoded, send_records
    from cxstream.settings import load_settings

    ctx = load_context(load_settings())
    if "partners" not in {c.name for c in ctx.connectors.values()}:
        return
    records, _ = asyncio.run(read_decoded(client_options, ctx.codec(Topics.PARTNER_FEEDBACK), Topics.PARTNER_FEEDBACK))
    if records:
        return
    now = datetime.now(UTC)
    raw = []
    for days, feedback_id, partner, site, step, severity, issue, suggestion in REPORTS:
        at = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        report = {"feedback_id": feedback_id, "partner": partner, "site": site, "playbook": "late-delivery-handling",
                  "version": "2", "step": step, "issue": issue, "suggestion": suggestion, "severity": severity,
                  "submitted_at": at}  # fmt: skip
        raw.append((feedback_id.encode(), json.dumps(report).encode()))
    asyncio.run(send_records(client_options, Topics.raw("partners"), raw))
    print(f"demo: {len(raw)} partner reports on the late-delivery playbook (cxstream playbooks feedback)", file=out,
          flush=True)  # fmt: skip

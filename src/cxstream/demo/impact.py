"""The demo's impact records: an experiment on support CSAT started with the demo (the demo's customers split by
the salted hash; the demo traffic knows nothing of the arms, so it shows an experiment that keeps running, as an
A/A test should), and a target for Amsterdam's delivery CSAT, so the Impact view and the review pack have them."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any, TextIO


def seed_impact(client_options: dict[str, Any], out: TextIO = sys.stderr) -> None:
    """Skipped when ``cx.experiments`` holds anything already (a second run of the demo)."""
    from cxstream.app import load_context
    from cxstream.domain.base import to_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.impact.experiments import Arm, Experiment
    from cxstream.domain.impact.planning import per_arm
    from cxstream.domain.impact.targets import TargetBook, declared
    from cxstream.kafka.tools import read_decoded, send_records
    from cxstream.settings import load_settings

    ctx = load_context(load_settings())
    codec = ctx.codec(Topics.EXPERIMENTS)
    records, _ = asyncio.run(read_decoded(client_options, codec, Topics.EXPERIMENTS))
    if records:
        return
    now = to_ms(datetime.now(UTC))
    experiment = Experiment(
        "exp-demo-callback", "Call back within 3 hours", "A call-back within 3 hours of a poor support rating "
        "lifts support CSAT by 5 points", ("csat.support",), "customer", (Arm("control", 1.0), Arm("callback", 1.0)),
        "exp-demo-callback", now, "l.moreau", planned_per_arm=per_arm(0.80, 0.85),
    )  # fmt: skip
    asyncio.run(send_records(client_options, Topics.EXPERIMENTS,
                             [(experiment.experiment_id.encode(), codec.encode(experiment.record()))]))  # fmt: skip
    target = declared(TargetBook(), "csat.delivery", {"site": "ams-1"}, 0.75, "2026 plan: back to the network's "
                      "level after the carrier change", now - 30 * 86_400_000, "a.okafor", now)  # fmt: skip
    targets = ctx.codec(Topics.TARGETS)
    asyncio.run(send_records(client_options, Topics.TARGETS,
                             [(f"{target.target_id}|1".encode(), targets.encode(target.record()))]))  # fmt: skip
    print(
        "demo: an experiment on support CSAT (cxstream experiments show exp-demo-callback) and a target for "
        "Amsterdam's delivery CSAT (cxstream targets list)",
        file=out,
        flush=True,
    )

"""What the demo source is asked to do, and running it: shared by ``cxstream demo`` and by ``cxstream run``,
which starts it as its own process (``python -m cxstream.demo <plan JSON>``) beside the worker."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

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

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DemoPlan:
        return cls(**json.loads(text))

    def traffic(self, now: datetime) -> DemoTraffic:
        """The traffic generator; ValueError names a bad incident or share."""
        return DemoTraffic(self.seed, self.malformed, self.incident, now + timedelta(seconds=self.incident_after))


def run(plan: DemoPlan, client_options: dict[str, Any], out: TextIO = sys.stderr) -> Counter[str]:
    """Produce the plan's traffic until its duration ends or the process is interrupted."""
    traffic = plan.traffic(datetime.now(UTC))
    if plan.incident:
        print(f"demo: incident {plan.incident} starts in {plan.incident_after:.0f} s", file=out, flush=True)
    return asyncio.run(run_demo(client_options, traffic, plan.rate, plan.duration, out=out))

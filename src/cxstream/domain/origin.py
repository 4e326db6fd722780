"""Where a declared level came from: typed next to the level in the YAML, so a threshold or an SLA in force says
whether a person typed it or it was proposed from data (``cxstream thresholds propose``), when and from what."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from cxstream.domain.base import Strict


class Origin(Strict):
    proposed: date = Field(description="the day the levels were proposed")
    data: str = Field(min_length=3, description="what they were computed from, e.g. 'csat.delivery daily history "
                                                "2026-09-05..2026-12-04 (91 days, n=12,480)'")  # fmt: skip
    method: str = Field(min_length=3, description="how, e.g. 'daily q10 / q01, clear at the median'")
    reviewed_by: str | None = Field(None, description="who applied the change")

    def describe(self) -> str:
        who = f", applied by {self.reviewed_by}" if self.reviewed_by else ""
        return f"proposed on {self.proposed.isoformat()} from {self.data} ({self.method}){who}"


def describe(origin: Origin | None) -> str:
    return origin.describe() if origin is not None else "typed by hand (no recorded origin)"

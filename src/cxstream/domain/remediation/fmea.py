"""FMEA: each failure mode of a proposed change has severity, occurrence and detection ratings (1-10), the classic
risk priority number (RPN = S x O x D) and an action priority (high, medium, low) looked up in a declared
table. The AIAG-VDA FMEA handbook (2019) replaced the RPN with such a table because the product treats the
three ratings alike: a rare failure of severity 9 and a frequent nuisance can share an RPN. The shipped table
(``topologies/remediation.yaml``) is the handbook's: bands of severity 9-10, 7-8, 4-6, 2-3, 1; occurrence
8-10, 6-7, 4-5, 2-3, 1; detection 7-10, 5-6, 2-4, 1.

Occurrence can be filled from an observed rate (:func:`occurrence_from_rate`) with declared rate thresholds.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.remediation.fault_tree import Evidence

RATINGS = range(1, 11)


class ActionPriority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def _band(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a rating band such as 7-10 or 1") from exc
    if not (1 <= bounds[0] <= bounds[1] <= 10):
        raise ValueError(f"band {text!r} must lie within 1-10, low to high")
    return bounds


def _cover(bands: list[str], what: str) -> None:
    """The bands cover 1-10 once each."""
    covered: list[int] = []
    for band in bands:
        low, high = _band(band)
        covered += range(low, high + 1)
    if sorted(covered) != list(RATINGS):
        raise ValueError(f"the {what} bands {', '.join(bands)} must cover 1-10 once each")


def _in(band: str, rating: int) -> bool:
    low, high = _band(band)
    return low <= rating <= high


class PriorityRow(Strict):
    """One row of the action-priority table: a severity band, an occurrence band, and per detection band the
    priority."""

    severity: str
    occurrence: str
    detection: dict[str, ActionPriority]

    @field_validator("severity", "occurrence")
    @classmethod
    def _band_text(cls, value: str) -> str:
        _band(value)
        return value

    @field_validator("detection")
    @classmethod
    def _detection(cls, value: dict[str, ActionPriority]) -> dict[str, ActionPriority]:
        _cover(list(value), "detection")
        return value


class OccurrenceScale(Strict):
    """Observed rate -> occurrence rating: the lowest rating whose ``up_to`` is at least the rate."""

    up_to: dict[int, float] = Field(description="rating -> highest rate (share of units) it stands for")

    @model_validator(mode="after")
    def _ordered(self) -> OccurrenceScale:
        if sorted(self.up_to) != list(RATINGS)[: len(self.up_to)] or len(self.up_to) < 9:
            raise ValueError("give the highest rate for ratings 1-9 (10 takes every rate above)")
        rates = [self.up_to[r] for r in sorted(self.up_to)]
        if any(b <= a for a, b in pairwise(rates)):
            raise ValueError("rates must rise with the rating")
        return self


class FmeaSpec(Strict):
    """``remediation.fmea``: the action-priority table and the occurrence scale."""

    action_priority: list[PriorityRow] = Field(min_length=1)
    occurrence_scale: OccurrenceScale
    must_mitigate: ActionPriority = Field(
        ActionPriority.HIGH, description="failure modes of this priority need a mitigation before approval"
    )

    @model_validator(mode="after")
    def _complete(self) -> FmeaSpec:
        for s in RATINGS:
            for o in RATINGS:
                rows = [r for r in self.action_priority if _in(r.severity, s) and _in(r.occurrence, o)]
                if len(rows) != 1:
                    state = "no row" if not rows else f"{len(rows)} rows"
                    raise ValueError(f"action_priority: severity {s}, occurrence {o} has {state} (need one)")
        return self

    def priority(self, severity: int, occurrence: int, detection: int) -> ActionPriority:
        for name, value in (("severity", severity), ("occurrence", occurrence), ("detection", detection)):
            if value not in RATINGS:
                raise ValueError(f"{name} must be 1-10, got {value}")
        row = next(r for r in self.action_priority if _in(r.severity, severity) and _in(r.occurrence, occurrence))
        return next(p for band, p in row.detection.items() if _in(band, detection))

    def occurrence(self, rate: float) -> int:
        return occurrence_from_rate(self.occurrence_scale, rate)


def occurrence_from_rate(scale: OccurrenceScale, rate: float) -> int:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"a rate is a share of units (0-1), got {rate}")
    return next((r for r in sorted(scale.up_to) if rate <= scale.up_to[r]), 10)


def rpn(severity: int, occurrence: int, detection: int) -> int:
    return severity * occurrence * detection


class FailureMode(Strict):
    """A way a change could hurt customers, rated; ``mitigation`` says what prevents or detects it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    description: str = Field(min_length=3)
    effect: str = Field("", description="the effect on customers")
    severity: int = Field(ge=1, le=10)
    occurrence: int = Field(ge=1, le=10)
    detection: int = Field(ge=1, le=10)
    mitigation: str | None = Field(None, description="what prevents or detects it")
    observed: Evidence | None = Field(
        None,
        description="where cxstream observes how often it happens (e.g. reopened tickets): suggests the occurrence",
    )

    @property
    def rpn(self) -> int:
        return rpn(self.severity, self.occurrence, self.detection)


def unmitigated(spec: FmeaSpec, modes: list[FailureMode]) -> list[FailureMode]:
    """Failure modes at or above ``must_mitigate`` priority that have no mitigation."""
    order = [ActionPriority.HIGH, ActionPriority.MEDIUM, ActionPriority.LOW]
    bar = order.index(spec.must_mitigate)
    return [
        m for m in modes
        if order.index(spec.priority(m.severity, m.occurrence, m.detection)) <= bar and not (m.mitigation or "").strip()
    ]  # fmt: skip

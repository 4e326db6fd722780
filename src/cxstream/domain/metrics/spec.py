"""What is measured, declared in ``topologies/metrics.yaml``: indicators, windows and metric definitions.

A window knows its own bounds (:meth:`WindowSpec.current`, :meth:`WindowSpec.ended`, :meth:`WindowSpec.final`),
aligned to UTC: days at midnight, whole weeks on Monday.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.ingest.events import SurveyMetric
from cxstream.domain.origin import Origin

DIMENSIONS = ("team", "region", "site", "journey_stage", "touchpoint", "channel")
#: Dimensions kept in an event's attributes by enrichment (not in every definition's default scope): a helpdesk
#: contact's complexity tier (``topologies/workforce.yaml``).
#: The bands of an operational value a survey answer knows (``topologies/tolerance.yaml``): a definition that keeps
#: one counts only the answers that carry it.
BAND_DIMENSIONS = ("delay_band", "first_response_band", "resolution_band")
ATTRIBUTE_DIMENSIONS = ("tier", "arm", *BAND_DIMENSIONS)  # arm: the attribute arm:<metric> (experiments)
UNKNOWN = "-"  # the value of a dimension the event does not carry


class Indicator(StrEnum):
    CSAT = "csat"
    CES = "ces"
    NPS = "nps"
    FIRST_RESPONSE = "first_response"  # minutes from ticket creation to the first public reply
    RESOLUTION = "resolution"  # hours from ticket creation to solved
    DELIVERY_DELAY = "delivery_delay"  # hours delivered after the promise (negative: early)
    REOPEN_RATE = "reopen_rate"  # reopened tickets per solved ticket
    CONTACTS = "contacts"  # contacts arriving at the helpdesk (tickets opened): a count per window
    HANDLE_TIME = "handle_time"  # minutes of agent work on a solved ticket (the helpdesk's time tracking)


SURVEY_INDICATORS = {
    Indicator.CSAT: SurveyMetric.CSAT,
    Indicator.CES: SurveyMetric.CES,
    Indicator.NPS: SurveyMetric.NPS,
}
#: unit of the measured value of each duration indicator, in milliseconds
DURATION_UNITS_MS = {
    Indicator.FIRST_RESPONSE: 60_000,
    Indicator.RESOLUTION: 3_600_000,
    Indicator.DELIVERY_DELAY: 3_600_000,
    Indicator.HANDLE_TIME: 60_000,
}
UNIT_NAMES = {
    Indicator.FIRST_RESPONSE: " min", Indicator.RESOLUTION: " h", Indicator.DELIVERY_DELAY: " h",
    Indicator.HANDLE_TIME: " min",
}  # fmt: skip
#: What each indicator's value is in, and on, when a definition declares no unit or scale of its own.
DEFAULT_UNITS = {
    Indicator.CSAT: "%", Indicator.CES: "", Indicator.NPS: "points", Indicator.FIRST_RESPONSE: "min",
    Indicator.RESOLUTION: "h", Indicator.DELIVERY_DELAY: "h", Indicator.REOPEN_RATE: "%",
    Indicator.CONTACTS: "contacts", Indicator.HANDLE_TIME: "min",
}  # fmt: skip
DEFAULT_SCALES = {
    Indicator.CSAT: "share of answers 4-5 on 1-5", Indicator.CES: "mean effort on 1-7, 7 easiest",
    Indicator.NPS: "% promoters (9-10) minus % detractors (0-6), -100 to 100",
    Indicator.FIRST_RESPONSE: "minutes to the first public reply", Indicator.RESOLUTION: "hours to solved",
    Indicator.DELIVERY_DELAY: "hours after the promised date (negative: early)",
    Indicator.REOPEN_RATE: "reopened tickets per solved ticket", Indicator.CONTACTS: "tickets opened",
    Indicator.HANDLE_TIME: "minutes of agent work per solved ticket",
}  # fmt: skip


def _duration(value: str) -> str:
    parse_duration_ms(value)
    return value


WEEK_MS = 7 * 86_400_000
MONDAY_MS = 4 * 86_400_000  # the Unix epoch was a Thursday: weeks start on Monday 00:00 UTC, as ISO weeks do


@dataclass(frozen=True)
class Span:
    """A window's bounds in epoch milliseconds, [start, end)."""

    start_ms: int
    end_ms: int

    def shifted(self, hops: int, hop_ms: int) -> Span:
        """This span moved ``hops`` whole hops later (negative: earlier)."""
        return Span(self.start_ms + hops * hop_ms, self.end_ms + hops * hop_ms)

    def holds(self, bucket_ms: int) -> bool:
        return self.start_ms <= bucket_ms < self.end_ms


class WindowKind(StrEnum):
    REALTIME = "realtime"
    LAGGING = "lagging"


class WindowSpec(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,20}$", description="any name but 'history'")
    display: str | None = Field(None, min_length=1, max_length=30, description="what people read, e.g. 'last hour'")
    kind: WindowKind
    size: str
    hop: str | None = Field(None, description="hopping windows advance by this; default: the size (tumbling)")

    @field_validator("id")
    @classmethod
    def _not_history(cls, value: str) -> str:
        if value == "history":
            raise ValueError("'history' names the closed-days read (/api/metrics/<definition>/history), not a window")
        return value

    @field_validator("size", "hop")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return value if value is None else _duration(value)

    @property
    def size_ms(self) -> int:
        return parse_duration_ms(self.size)

    @property
    def title(self) -> str:
        return self.display or self.id

    @property
    def hop_ms(self) -> int:
        return parse_duration_ms(self.hop) if self.hop else self.size_ms

    def _span_ending(self, end_ms: int) -> Span:
        """The window ending at the last hop boundary at or before ``end_ms``."""
        shift = MONDAY_MS if self.hop_ms % WEEK_MS == 0 else 0
        local = end_ms - shift
        end = local - local % self.hop_ms + shift
        return Span(end - self.size_ms, end)

    def current(self, now_ms: int) -> Span:
        """The latest window that has started: it ends at the next hop boundary after ``now_ms``."""
        return self._span_ending(now_ms).shifted(1, self.hop_ms)

    def ended(self, now_ms: int) -> Span:
        """The latest window that has ended (what alerts read: late events may still change it)."""
        return self._span_ending(now_ms)

    def final(self, now_ms: int, grace_ms: int) -> Span:
        """The latest window that is final: ended, and its grace for late events passed."""
        return self._span_ending(now_ms - grace_ms)


DAY_MS = 86_400_000
#: Interval lengths a definition may keep history in besides days (the workforce module plans in these).
INTERVALS = ("15m", "30m")


class HistoryPolicy(Strict):
    """How long closed periods of a definition are kept, and whether intraday intervals are kept too."""

    retention: str = Field("2y", description="closed days older than this are dropped")
    interval: str | None = Field(None, description="also keep 15m or 30m intervals (contact volumes, staffing)")
    interval_retention: str = Field("13w", description="closed intervals older than this are dropped")

    @field_validator("retention", "interval_retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        if parse_duration_ms(value) < DAY_MS:
            raise ValueError(f"retention {value!r} is shorter than a day")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and value not in INTERVALS:
            raise ValueError(f"interval {value!r}: one of {', '.join(INTERVALS)}")
        return value

    @property
    def retention_ms(self) -> int:
        return parse_duration_ms(self.retention)

    def retention_of(self, period_ms: int) -> int:
        """How long closed periods of this length are kept."""
        return self.retention_ms if period_ms >= DAY_MS else parse_duration_ms(self.interval_retention)

    @property
    def interval_ms(self) -> int | None:
        return parse_duration_ms(self.interval) if self.interval else None


class MetricDefinition(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,60}$")
    indicator: Indicator
    description: str = ""
    owner: str = Field(description="team that owns the number")
    journey_stages: tuple[str, ...] = Field((), description="only events at these stages; empty: any stage")
    touchpoints: tuple[str, ...] = Field((), description="only events at these touchpoints; empty: any")
    dimensions: tuple[str, ...] = Field(DIMENSIONS, description="the finest scope kept")
    sla: str | None = Field(None, description="duration indicators: the threshold for SLA compliance")
    sla_origin: Origin | None = Field(None, description="where the SLA came from (none: typed by hand)")
    min_n: int | None = Field(None, ge=1, description="default: metrics.min_n")
    history: HistoryPolicy = Field(default_factory=HistoryPolicy, description="closed days kept as history")
    display: str | None = Field(None, min_length=1, max_length=40, description="the name people read")
    unit: str | None = Field(None, max_length=12, description="default: the indicator's (%, min, h, points ...)")
    scale: str | None = Field(None, max_length=60, description="what the value is on, e.g. 'share of 4-5 on 1-5'")

    @cached_property
    def bands(self) -> tuple[str, ...]:
        """The band dimensions it keeps: it counts only the answers that carry each."""
        return tuple(d for d in self.dimensions if d in BAND_DIMENSIONS)

    @property
    def title(self) -> str:
        """The name people read: declared, else the id made readable."""
        return self.display or self.id.replace(".", " ").replace("_", " ").capitalize()

    @property
    def unit_name(self) -> str:
        return self.unit if self.unit is not None else DEFAULT_UNITS[self.indicator]

    @property
    def scale_text(self) -> str:
        return self.scale if self.scale is not None else DEFAULT_SCALES[self.indicator]

    @field_validator("dimensions")
    @classmethod
    def _known_dimensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in DIMENSIONS and name not in ATTRIBUTE_DIMENSIONS:
                known = ", ".join((*DIMENSIONS, *ATTRIBUTE_DIMENSIONS))
                raise ValueError(f"{name!r} is not a dimension (one of: {known})")
        if len(set(value)) != len(value):
            raise ValueError("a dimension is listed twice")
        return value

    @field_validator("sla")
    @classmethod
    def _sla(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.removeprefix("-")
        parse_duration_ms(text)
        return value

    @model_validator(mode="after")
    def _sla_fits(self) -> MetricDefinition:
        if self.sla is not None and self.indicator not in DURATION_UNITS_MS:
            raise ValueError(f"sla applies to duration indicators only, not {self.indicator.value}")
        return self

    @property
    def sla_ms(self) -> int | None:
        if self.sla is None:
            return None
        sign = -1 if self.sla.startswith("-") else 1
        return sign * parse_duration_ms(self.sla.removeprefix("-"))


class MetricsSpec(Strict):
    buckets: dict[WindowKind, str] = Field(
        default_factory=lambda: {WindowKind.REALTIME: "5m", WindowKind.LAGGING: "1h"},
        description="time grain per window kind; every window is a whole number of its buckets",
    )
    grace: str = Field("6h", description="an event arriving later than its bucket's end + grace is late")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    min_n: int = Field(30, ge=1, description="below this sample size a value reads 'insufficient sample'")
    windows: tuple[WindowSpec, ...] = ()
    definitions: tuple[MetricDefinition, ...] = ()

    @field_validator("grace")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @field_validator("buckets")
    @classmethod
    def _grains(cls, value: dict[WindowKind, str]) -> dict[WindowKind, str]:
        for grain in value.values():
            _duration(grain)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MetricsSpec:
        for window in self.windows:
            if window.kind not in self.buckets:
                raise ValueError(f"window {window.id}: no bucket size for {window.kind.value} windows")
            bucket = self.grain_ms(window)
            if window.size_ms % bucket or window.hop_ms % bucket:
                raise ValueError(
                    f"window {window.id}: size and hop must be whole multiples of its bucket "
                    f"({self.buckets[window.kind]})"
                )
            if window.size_ms % window.hop_ms:
                raise ValueError(f"window {window.id}: size must be a whole multiple of the hop")
        ids = [w.id for w in self.windows]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"window id {sorted(dupes)[0]!r} is used twice")
        return self  # definitions declared twice are reported with their lines by the topology check

    def grain_ms(self, window: WindowSpec) -> int:
        return parse_duration_ms(self.buckets[window.kind])

    @cached_property
    def grains(self) -> tuple[int, ...]:
        """Bucket sizes in use, finest first (computed once: read for every event)."""
        return tuple(sorted({self.grain_ms(w) for w in self.windows}))

    @cached_property
    def finest_ms(self) -> int:
        return self.grains[0] if self.grains else 300_000

    @cached_property
    def grace_ms(self) -> int:
        return parse_duration_ms(self.grace)

    @cached_property
    def id_memory_ms(self) -> int:
        """How long event ids are remembered for de-duplication: an older event is late anyway."""
        return self.grace_ms + 2 * self.finest_ms

    def retention_ms(self, grain: int) -> int:
        """How long buckets of this grain are needed: the longest window read from them, plus grace."""
        sizes = [w.size_ms for w in self.windows if self.grain_ms(w) == grain]
        return max(sizes, default=grain) + self.grace_ms

    def window(self, window_id: str) -> WindowSpec:
        for window in self.windows:
            if window.id == window_id:
                return window
        raise KeyError(f"no window {window_id!r}")

    def definition(self, definition_id: str) -> MetricDefinition:
        for definition in self.definitions:
            if definition.id == definition_id:
                return definition
        raise KeyError(f"no metric definition {definition_id!r}")

"""Live CX and operational metrics: what is measured (declared in ``topologies/metrics.yaml``), how one event
updates the tables, and how windows and scopes are read back.

Storage layout, chosen for cost (each table write is also a changelog message):

* one table key per (definition, time grain, bucket, source partition, finest scope): the event's values of all
  the definition's dimensions. An event writes one cell per definition it matches, in the finest grain
  (5-minute buckets), and no repartition message: the key carries the ``cx.events`` partition it came from,
  so every key is written by exactly one partition, in offset order.
* once no real-time window reads a 5-minute cell any more, it is folded into the 1-hour cell of the same
  hour that feeds the lagging windows (day, week); the hourly cell records, per bucket absorbed, the last
  offset it took in, so a fold interrupted by a crash never counts a bucket twice, while events that reach
  a bucket after its fold (a consumer hours behind) are still counted and folded later. Lagging windows
  read hourly cells plus the 5-minute cells not folded yet.
* values are :class:`~cxstream.domain.stats.Sufficient` statistics plus the offset of the last event applied.
  A replay after a crash skips events at or below that offset: updates are idempotent per key, which makes
  them effectively-once without broker transactions.
* windows (hopping real-time, lagging day/week) and coarser scopes are merged from buckets when read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.events import CanonicalEvent, EventType, SurveyMetric
from cxstream.domain.stats import (
    Estimate,
    Sufficient,
    ces_easy,
    ces_mean,
    csat,
    hit_rate,
    mean_value,
    nps,
)

DIMENSIONS = ("team", "region", "site", "journey_stage", "touchpoint", "channel")
UNKNOWN = "-"  # the value of a dimension the event does not carry


class Indicator(StrEnum):
    CSAT = "csat"
    CES = "ces"
    NPS = "nps"
    FIRST_RESPONSE = "first_response"  # minutes from ticket creation to the first public reply
    RESOLUTION = "resolution"  # hours from ticket creation to solved
    DELIVERY_DELAY = "delivery_delay"  # hours delivered after the promise (negative: early)
    REOPEN_RATE = "reopen_rate"  # reopened tickets per solved ticket


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
}
UNIT_NAMES = {Indicator.FIRST_RESPONSE: " min", Indicator.RESOLUTION: " h", Indicator.DELIVERY_DELAY: " h"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str) -> str:
    parse_duration_ms(value)
    return value


class WindowKind(StrEnum):
    REALTIME = "realtime"
    LAGGING = "lagging"


class WindowSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,20}$")
    kind: WindowKind
    size: str
    hop: str | None = Field(None, description="hopping windows advance by this; default: the size (tumbling)")

    @field_validator("size", "hop")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return value if value is None else _duration(value)

    @property
    def size_ms(self) -> int:
        return parse_duration_ms(self.size)

    @property
    def hop_ms(self) -> int:
        return parse_duration_ms(self.hop) if self.hop else self.size_ms


class MetricDefinition(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,60}$")
    indicator: Indicator
    description: str = ""
    owner: str = Field(description="team that owns the number")
    journey_stages: tuple[str, ...] = Field((), description="only events at these stages; empty: any stage")
    touchpoints: tuple[str, ...] = Field((), description="only events at these touchpoints; empty: any")
    dimensions: tuple[str, ...] = Field(DIMENSIONS, description="the finest scope kept")
    sla: str | None = Field(None, description="duration indicators: the threshold for SLA compliance")
    min_n: int | None = Field(None, ge=1, description="default: metrics.min_n")

    @field_validator("dimensions")
    @classmethod
    def _known_dimensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in DIMENSIONS:
                raise ValueError(f"{name!r} is not a dimension (one of: {', '.join(DIMENSIONS)})")
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


class MetricsSpec(_Strict):
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


# --- from events to table updates -------------------------------------------------------------------------


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def measure(definition: MetricDefinition, event: CanonicalEvent) -> Sufficient | None:
    """The contribution of one event to one definition, or None when the event does not count for it."""
    if definition.journey_stages and event.journey_stage not in definition.journey_stages:
        return None
    if definition.touchpoints and event.touchpoint not in definition.touchpoints:
        return None
    indicator = definition.indicator
    out = Sufficient()
    if indicator in SURVEY_INDICATORS:
        survey = event.survey
        if event.event_type is not EventType.SURVEY_RESPONSE or survey is None:
            return None
        if survey.metric is not SURVEY_INDICATORS[indicator]:
            return None
        out.add_score(survey.score)
        return out
    op = event.operation
    if indicator is Indicator.REOPEN_RATE:
        if event.event_type is EventType.TICKET_SOLVED:
            out.add_trial(hit=False)
        elif event.event_type is EventType.TICKET_REOPENED:
            out.hits += 1  # a reopen counts against the solved tickets of the same scope and window
        else:
            return None
        return out
    wanted = {
        Indicator.FIRST_RESPONSE: EventType.TICKET_FIRST_REPLY,
        Indicator.RESOLUTION: EventType.TICKET_SOLVED,
        Indicator.DELIVERY_DELAY: EventType.ORDER_DELIVERED,
    }[indicator]
    if event.event_type is not wanted or op is None or op.actual_at is None:
        return None
    start = op.promised_at if indicator is Indicator.DELIVERY_DELAY else op.created_at
    if start is None:
        return None
    elapsed_ms = _ms(op.actual_at) - _ms(start)
    sla = definition.sla_ms
    out.add_value(elapsed_ms / DURATION_UNITS_MS[indicator], hit=sla is not None and elapsed_ms <= sla)
    return out


def scope_of(definition: MetricDefinition, event: CanonicalEvent) -> tuple[str, ...]:
    return tuple(str(getattr(event, d) or UNKNOWN) for d in definition.dimensions)


def bucket_start(event_time_ms: int, bucket_ms: int) -> int:
    return event_time_ms - event_time_ms % bucket_ms


def is_late(spec: MetricsSpec, event: CanonicalEvent) -> bool:
    """Later than the end of its finest bucket + grace, measured on the event's own ingest time, so that a
    replay decides the same way."""
    finest = spec.finest_ms
    end = bucket_start(_ms(event.event_time), finest) + finest
    return _ms(event.ingest_time) > end + spec.grace_ms


@dataclass(frozen=True)
class CellKey:
    """A table key: one definition, one time grain and bucket, one source partition, one finest scope."""

    definition: str
    grain: int
    bucket: int
    partition: int
    scope: tuple[str, ...]

    def encode(self) -> str:
        return json.dumps(
            [self.definition, self.grain, self.bucket, self.partition, list(self.scope)], separators=(",", ":")
        )

    @classmethod
    def decode(cls, text: str) -> CellKey:
        definition, grain, bucket, partition, scope = json.loads(text)
        return cls(str(definition), int(grain), int(bucket), int(partition), tuple(str(s) for s in scope))


@dataclass(frozen=True)
class Update:
    key: CellKey
    delta: Sufficient
    drivers: tuple[str, ...] = ()  # verbatim drivers of a detractor answer, counted per cell


DETRACTOR = {SurveyMetric.CSAT: (1, 2), SurveyMetric.CES: (1, 3), SurveyMetric.NPS: (0, 6)}


def is_detractor(event: CanonicalEvent) -> bool:
    survey = event.survey
    if survey is None:
        return False
    low, high = DETRACTOR[survey.metric]
    return low <= survey.score <= high


def updates_for(spec: MetricsSpec, event: CanonicalEvent, partition: int, drivers: Iterable[str] = ()) -> list[Update]:
    """Table updates for one event: one per matching definition, in the finest grain."""
    event_ms = _ms(event.event_time)
    grain = spec.finest_ms
    detractor_drivers = tuple(drivers) if is_detractor(event) else ()
    out = []
    for definition in spec.definitions:
        delta = measure(definition, event)
        if delta is None:
            continue
        key = CellKey(definition.id, grain, bucket_start(event_ms, grain), partition, scope_of(definition, event))
        out.append(Update(key, delta, detractor_drivers if definition.indicator in SURVEY_INDICATORS else ()))
    return out


def apply_update(current: Mapping[str, Any] | None, update: Update, offset: int) -> dict[str, Any] | None:
    """The new table value, or None when this offset was already applied to the cell (a replay)."""
    if current is not None and int(current.get("o", -1)) >= offset:
        return None
    stats = Sufficient.from_json(current or {}).merge(update.delta)
    drivers: dict[str, int] = dict((current or {}).get("d") or {})
    for driver in update.drivers:
        drivers[driver] = drivers.get(driver, 0) + 1
    value: dict[str, Any] = {**stats.to_json(), "o": offset}
    if drivers:
        value["d"] = drivers
    return value


def is_expired(key: CellKey, now_ms: int, spec: MetricsSpec) -> bool:
    """A bucket no window can still read: older than the longest window of its grain plus grace."""
    return key.bucket + key.grain < now_ms - spec.retention_ms(key.grain)


# --- reading windows and scopes back -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    key: CellKey
    stats: Sufficient
    drivers: Mapping[str, int]
    offset: int = -1  # fine cells: the last offset applied
    absorbed: Mapping[int, int] = field(default_factory=dict)  # coarse cells: fine bucket -> last offset taken in


def cells(items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Cell]:
    return [
        Cell(
            CellKey.decode(k),
            Sufficient.from_json(v),
            dict(v.get("d") or {}),
            int(v.get("o", -1)),
            {int(b): int(o) for b, o in (v.get("f") or {}).items()},
        )
        for k, v in items
        if v is not None
    ]


def _absorbed(value: Mapping[str, Any] | None) -> dict[str, int]:
    return dict((value or {}).get("f") or {})


def _already_folded(coarse: Mapping[str, Any] | None, fine_bucket: int, fine: Mapping[str, Any]) -> bool:
    """The fine cell's content is in the coarse cell already (a fold cut short left it behind)."""
    taken = _absorbed(coarse).get(str(fine_bucket))
    return taken is not None and int(fine.get("o", -1)) <= taken


def _merge_values(target: Mapping[str, Any] | None, fine: Mapping[str, Any], fine_bucket: int) -> dict[str, Any]:
    stats = Sufficient.from_json(target or {}).merge(Sufficient.from_json(fine))
    drivers: dict[str, int] = dict((target or {}).get("d") or {})
    for driver, count in (fine.get("d") or {}).items():
        drivers[driver] = drivers.get(driver, 0) + int(count)
    absorbed = _absorbed(target)
    absorbed[str(fine_bucket)] = max(absorbed.get(str(fine_bucket), -1), int(fine.get("o", -1)))
    value: dict[str, Any] = {**stats.to_json(), "f": absorbed}
    if drivers:
        value["d"] = drivers
    return value


@dataclass(frozen=True)
class Housekeeping:
    """Table changes that keep the metric table small: values to write and keys to delete."""

    writes: dict[str, dict[str, Any]]
    deletes: list[str]


def housekeeping(
    items: Iterable[tuple[str, Mapping[str, Any]]], partition: int, now_ms: int, spec: MetricsSpec
) -> Housekeeping:
    """Fold the fine cells of ``partition`` that no real-time window reads any more into their coarse cell, and
    delete cells no window reads at all. Only this partition's keys: the changes go to its changelog."""
    grains = spec.grains
    fine, coarse = grains[0] if grains else spec.finest_ms, grains[-1] if grains else spec.finest_ms
    table = {k: v for k, v in items if v is not None}
    writes: dict[str, dict[str, Any]] = {}
    deletes: list[str] = []
    for text, value in table.items():
        key = CellKey.decode(text)
        if key.partition != partition:
            continue
        if key.grain == fine and coarse != fine and key.bucket + fine < now_ms - spec.retention_ms(fine):
            target = CellKey(key.definition, coarse, bucket_start(key.bucket, coarse), partition, key.scope).encode()
            current = writes.get(target) or table.get(target)
            if not _already_folded(current, key.bucket, value):
                writes[target] = _merge_values(current, value, key.bucket)
            deletes.append(text)
        elif is_expired(key, now_ms, spec):
            deletes.append(text)
    for target in [t for t in writes if is_expired(CellKey.decode(t), now_ms, spec)]:
        del writes[target]
        if target in table:
            deletes.append(target)
    return Housekeeping(writes, deletes)


ScopeFilter = Mapping[str, str]


def scope_values(definition: MetricDefinition, scope: tuple[str, ...]) -> dict[str, str]:
    """A cell's finest scope by dimension name."""
    return dict(zip(definition.dimensions, scope, strict=True))


def _matches(definition: MetricDefinition, scope: tuple[str, ...], where: ScopeFilter) -> bool:
    values = scope_values(definition, scope)
    return all(values.get(name, UNKNOWN) == wanted for name, wanted in where.items())


@dataclass(frozen=True)
class WindowValue:
    """One indicator over one window and scope: the estimate with n and interval, SLA compliance for
    durations, top drivers among detractors, and whether the window is final (past end + grace)."""

    definition: str
    indicator: Indicator
    window: str
    start: datetime
    end: datetime
    scope: Mapping[str, str]
    estimate: Estimate
    sla: Estimate | None
    easy: Estimate | None
    top_drivers: tuple[tuple[str, int], ...]
    final: bool


def estimate_of(definition: MetricDefinition, stats: Sufficient, spec: MetricsSpec) -> Estimate:
    min_n = definition.min_n or spec.min_n
    conf = spec.confidence
    estimators: dict[Indicator, Callable[..., Estimate]] = {
        Indicator.CSAT: csat,
        Indicator.CES: ces_mean,
        Indicator.NPS: nps,
        Indicator.REOPEN_RATE: hit_rate,
    }
    if definition.indicator is Indicator.REOPEN_RATE and stats.hits > stats.n:
        # more reopens than solves in this window (tickets solved before it): the rate is capped at 100 %
        stats = Sufficient(n=stats.n, hits=stats.n)
    if definition.indicator in estimators:
        return estimators[definition.indicator](stats, confidence=conf, min_n=min_n)
    return mean_value(stats, confidence=conf, min_n=min_n, unit=UNIT_NAMES[definition.indicator])


WEEK_MS = 7 * 86_400_000
MONDAY_MS = 4 * 86_400_000  # the Unix epoch was a Thursday: weeks start on Monday 00:00 UTC, as ISO weeks do


def window_bounds(window: WindowSpec, now_ms: int, closed: bool, grace_ms: int, ended: bool = False) -> tuple[int, int]:
    """The latest window of this spec that has started, as [start, end); with ``ended``, the latest that has
    ended; with ``closed``, the latest that is final (ended + grace). Windows are aligned to UTC: days at
    midnight, whole weeks on Monday."""
    hop = window.hop_ms
    shift = MONDAY_MS if hop % WEEK_MS == 0 else 0
    if closed or ended:
        latest_end = now_ms - (grace_ms if closed else 0) - shift
        end = latest_end - latest_end % hop
    else:
        local = now_ms - shift
        end = local - local % hop + hop
    return end - window.size_ms + shift, end + shift


def read_window(
    spec: MetricsSpec,
    all_cells: Iterable[Cell],
    definition_id: str,
    window_id: str,
    *,
    now: datetime,
    where: ScopeFilter | None = None,
    closed: bool = False,
    ended: bool = False,
    back: int = 0,
    top: int = 5,
) -> WindowValue:
    """One window of one definition, merged over every finest scope matching ``where`` (a roll-up).

    ``closed`` reads the last final window instead of the current one, ``ended`` the last that has ended
    (what alerts read: late events may still change it); ``back`` steps further into the past by whole hops
    (history)."""
    definition = spec.definition(definition_id)
    window = spec.window(window_id)
    grain = spec.grain_ms(window)
    now_ms = _ms(now)
    start, end = window_bounds(window, now_ms, closed, spec.grace_ms, ended)
    start -= back * window.hop_ms
    end -= back * window.hop_ms
    filt = dict(where or {})
    for name in filt:
        if name not in definition.dimensions:
            raise KeyError(f"{definition_id} has no dimension {name!r} (it keeps {', '.join(definition.dimensions)})")
    stats = Sufficient()
    drivers: dict[str, int] = {}
    materialized = [c for c in all_cells if c.key.definition == definition_id]
    absorbed = {
        (c.key.partition, c.key.scope, b): o
        for c in materialized
        if c.key.grain == grain
        for b, o in c.absorbed.items()
    }
    for cell in materialized:
        key = cell.key
        if not start <= key.bucket < end or key.grain > grain:
            continue
        taken = absorbed.get((key.partition, key.scope, key.bucket)) if key.grain < grain else None
        if taken is not None and cell.offset <= taken:
            continue  # folded already; a fold cut short by a crash left it behind
        if not _matches(definition, key.scope, filt):
            continue
        stats.merge(cell.stats)
        for driver, count in cell.drivers.items():
            drivers[driver] = drivers.get(driver, 0) + count
    sla = None
    if definition.sla is not None:
        sla = hit_rate(stats, confidence=spec.confidence, min_n=definition.min_n or spec.min_n)
    easy = None
    if definition.indicator is Indicator.CES:
        easy = ces_easy(stats, confidence=spec.confidence, min_n=definition.min_n or spec.min_n)
    ranked = tuple(sorted(drivers.items(), key=lambda kv: (-kv[1], kv[0]))[:top])
    return WindowValue(
        definition=definition_id,
        indicator=definition.indicator,
        window=window_id,
        start=datetime.fromtimestamp(start / 1000, UTC),
        end=datetime.fromtimestamp(end / 1000, UTC),
        scope=filt,
        estimate=estimate_of(definition, stats, spec),
        sla=sla,
        easy=easy,
        top_drivers=ranked,
        final=end + spec.grace_ms <= now_ms,
    )


def history(
    spec: MetricsSpec,
    all_cells: Iterable[Cell],
    definition_id: str,
    window_id: str,
    *,
    now: datetime,
    count: int,
    where: ScopeFilter | None = None,
) -> list[WindowValue]:
    """The last ``count`` windows, newest first, each ``hop`` apart."""
    materialized = list(all_cells)
    return [
        read_window(spec, materialized, definition_id, window_id, now=now, where=where, back=i) for i in range(count)
    ]


def scopes(spec: MetricsSpec, all_cells: Iterable[Cell], definition_id: str, dimension: str) -> list[str]:
    """The values one dimension takes in the stored cells of a definition (for listings and roll-ups)."""
    definition = spec.definition(definition_id)
    index = definition.dimensions.index(dimension)
    return sorted({c.key.scope[index] for c in all_cells if c.key.definition == definition_id})

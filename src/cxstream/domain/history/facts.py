"""What the history topic (``cx.metrics.history``, compacted) holds, and how it is keyed.

* :class:`HistoryFact`: one closed period (a UTC day, or a 15/30-minute interval) of one definition at its
  finest scope, from one **origin**: a ``cx.events`` partition (``p3``; every cell key belongs to exactly one
  partition, so each partition publishes its own share without coordination) or one imported file
  (``import:<digest>``). Readers add the origins up: the statistics are sums, so the merge is exact.
* :class:`HistoryClosed`: up to when an origin has published every period, so a reader can say whether a
  day is complete (every partition closed it) or still partial.

Keys are JSON lists, as cell keys are: ``[definition, period_ms, start_ms, origin, [scope...]]`` and
``["~closed", origin]``. A fact carries a ``version`` (live: the highest ``cx.events`` offset its cells took
in): a reader keeps the highest version of a key, so a worker that lost its partitions and writes from a
stale copy never replaces a fresher value, and a replay writes the same key with the same value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from cxstream.domain.base import Record, as_float, as_int, as_str, as_time, from_ms, int_map, obj, seq, to_ms
from cxstream.domain.metrics.spec import UNKNOWN
from cxstream.domain.metrics.stats import Sufficient

CLOSED_KEY = "~closed"
LIVE_PREFIX = "p"
IMPORT_PREFIX = "import:"


def live_origin(partition: int) -> str:
    return f"{LIVE_PREFIX}{partition}"


def is_live(origin: str) -> bool:
    return origin.startswith(LIVE_PREFIX) and origin[len(LIVE_PREFIX) :].isdigit()


@dataclass(frozen=True, slots=True)
class FactKey:
    definition: str
    period_ms: int
    start_ms: int
    origin: str
    scope: tuple[str, ...]

    def encode(self) -> str:
        return json.dumps(
            [self.definition, self.period_ms, self.start_ms, self.origin, list(self.scope)], separators=(",", ":")
        )


@dataclass(frozen=True, slots=True)
class HistoryFact:
    """One period of one definition and finest scope, from one origin."""

    key: FactKey
    dimensions: tuple[str, ...]
    stats: Sufficient
    drivers: Mapping[str, int] = field(default_factory=dict)
    version: int = 0

    @property
    def end_ms(self) -> int:
        return self.key.start_ms + self.key.period_ms

    def value_of(self, dimension: str) -> str:
        """The fact's scope value of one dimension (UNKNOWN when it is not kept by it)."""
        for name, value in zip(self.dimensions, self.key.scope, strict=False):
            if name == dimension:
                return value
        return UNKNOWN

    def within(self, where: Mapping[str, str]) -> bool:
        """Whether the fact's scope has every dimension value of ``where``."""
        return all(self.value_of(name) == wanted for name, wanted in where.items())

    def same_content(self, other: HistoryFact) -> bool:
        return self.stats == other.stats and dict(self.drivers) == dict(other.drivers)

    def to_record(self) -> Record:
        s = self.stats
        return {
            "entry": (
                "cxstream.HistoryFact",
                {
                    "definition": self.key.definition,
                    "period_start": from_ms(self.key.start_ms),
                    "period_ms": self.key.period_ms,
                    "dimensions": list(self.dimensions),
                    "scope": list(self.key.scope),
                    "origin": self.key.origin,
                    "version": self.version,
                    "scores": {str(k): v for k, v in sorted(s.hist.items())},
                    "n": s.n,
                    "mean": s.mean,
                    "m2": s.m2,
                    "hits": s.hits,
                    "log_n": s.log_n,
                    "log_mean": s.log_mean,
                    "log_m2": s.log_m2,
                    "drivers": dict(sorted(self.drivers.items())),
                },
            )
        }


@dataclass(frozen=True)
class HistoryClosed:
    """Every period of ``origin`` ending at or before ``through_ms`` is published."""

    origin: str
    through_ms: int
    partitions: int  # of cx.events, for a live partition; 0 for an imported file
    note: str = ""  # what the origin is, for people (an imported file's name)

    def key(self) -> str:
        return closed_key(self.origin)

    def to_record(self) -> Record:
        return {
            "entry": (
                "cxstream.HistoryClosed",
                {
                    "origin": self.origin,
                    "closed_through": from_ms(self.through_ms),
                    "partitions": self.partitions,
                    "note": self.note,
                },
            )
        }


def closed_key(origin: str) -> str:
    return json.dumps([CLOSED_KEY, origin], separators=(",", ":"))


HistoryEntry = HistoryFact | HistoryClosed


def entry_from_record(record: Mapping[str, object]) -> HistoryEntry:
    """A history record as the Avro codec decodes it (the union's branch is told apart by its fields)."""
    entry = obj(record.get("entry"), "history entry")
    if "closed_through" in entry:
        return HistoryClosed(
            as_str(entry["origin"], "origin"),
            to_ms(as_time(entry["closed_through"], "closed_through")),
            as_int(entry["partitions"], "partitions"),
            as_str(entry.get("note", ""), "note"),
        )
    stats = Sufficient(
        hist={int(k): v for k, v in int_map(entry.get("scores"), "scores").items()},
        n=as_int(entry["n"], "n"),
        mean=as_float(entry["mean"], "mean"),
        m2=as_float(entry["m2"], "m2"),
        hits=as_int(entry["hits"], "hits"),
        log_n=as_int(entry["log_n"], "log_n"),
        log_mean=as_float(entry["log_mean"], "log_mean"),
        log_m2=as_float(entry["log_m2"], "log_m2"),
    )
    key = FactKey(
        as_str(entry["definition"], "definition"),
        as_int(entry["period_ms"], "period_ms"),
        to_ms(as_time(entry["period_start"], "period_start")),
        as_str(entry["origin"], "origin"),
        tuple(str(s) for s in seq(entry["scope"], "scope")),
    )
    dimensions = tuple(str(d) for d in seq(entry["dimensions"], "dimensions"))
    return HistoryFact(key, dimensions, stats, int_map(entry.get("drivers"), "drivers"), as_int(entry["version"]))

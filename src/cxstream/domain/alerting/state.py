"""The routing desk's saved state, as the desk table holds it under one key, and the views the war room reads
from it (open breaches with their ladder, silences, the last breach): the web layer never parses the JSON.

Keys inside the state that join two ids are typed here and encoded once: a ladder by receiver and breach
(``receiver|breach_id``: team ids hold no ``|``), an SLA lapse by breach, step and due time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cxstream.domain.alerting.hot_alerts import HotAlert
from cxstream.domain.alerting.records import BreachKind, LastBreach, Status
from cxstream.domain.alerting.routing import DispatcherState, Labels, Silence
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.base import Json, as_float, as_int, as_str, obj, opt_str, text_map

BREACH_PREFIX, CASE_PREFIX = "br-", "case-"


def case_id_for(breach_id: str) -> str:
    """The follow-up case of a breach (one case per breach; acknowledging the case stops its ladder)."""
    return CASE_PREFIX + breach_id.removeprefix(BREACH_PREFIX)


@dataclass(frozen=True, order=True)
class LadderKey:
    receiver: str
    breach_id: str

    def encode(self) -> str:
        return f"{self.receiver}|{self.breach_id}"

    @classmethod
    def decode(cls, text: str) -> LadderKey:
        receiver, _, breach_id = text.partition("|")
        return cls(receiver, breach_id)


@dataclass
class LadderStep:
    """Where one notified breach stands on its ladder: ``level`` was notified at ``since_ms``."""

    policy: str
    level: int
    since_ms: int
    receiver: str
    group_key: str

    def to_json(self) -> dict[str, Json]:
        return {"policy": self.policy, "level": self.level, "since_ms": self.since_ms, "receiver": self.receiver,
                "group_key": self.group_key}  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> LadderStep:
        value = obj(data, "ladder step")
        return cls(as_str(value["policy"]), as_int(value["level"]), as_int(value["since_ms"]),
                   as_str(value["receiver"]), as_str(value["group_key"]))  # fmt: skip


@dataclass(frozen=True)
class Acknowledgement:
    """Someone took the case of a breach: who, when, and the ladder level it had reached."""

    by: str
    at_ms: int
    level: int

    def to_json(self) -> dict[str, Json]:
        return {"by": self.by, "at": self.at_ms, "level": self.level}

    @classmethod
    def from_json(cls, data: object) -> Acknowledgement:
        value = obj(data, "acknowledgement")
        return cls(as_str(value["by"]), as_int(value["at"]), as_int(value.get("level", 0)))


@dataclass(frozen=True)
class LapseKey:
    """An SLA lapse already escalated: each escalates once."""

    breach_id: str
    step: str
    due_ms: int

    def encode(self) -> str:
        return f"{self.breach_id}|{self.step}|{self.due_ms}"

    @classmethod
    def decode(cls, text: str) -> LapseKey:
        breach_id, step, due = text.rsplit("|", 2)
        return cls(breach_id, step, int(due))


def _last_breach(data: object) -> LastBreach | None:
    if data is None:
        return None
    value = obj(data, "last breach")
    return LastBreach(as_str(value["breach_id"]), Status(as_str(value["status"])),
                      Severity.of(value.get("severity"), Severity.WARNING), opt_str(value.get("rule")),
                      as_str(value["summary"]), as_int(value["at_ms"]))  # fmt: skip


@dataclass(frozen=True)
class BreachFacts:
    """What the war room shows of an open breach besides its labels: the number against its level, with n and
    interval, and since when it is open."""

    metric: str
    started_ms: int
    n: int
    value: float | None = None
    low: float | None = None
    high: float | None = None
    threshold: float | None = None

    def to_json(self) -> dict[str, Json]:
        return {"metric": self.metric, "started_ms": self.started_ms, "n": self.n, "value": self.value,
                "low": self.low, "high": self.high, "threshold": self.threshold}  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> BreachFacts:
        value = obj(data, "breach facts")
        return cls(as_str(value["metric"], "metric"), as_int(value["started_ms"], "started_ms"),
                   as_int(value.get("n", 0), "n"), opt_float(value.get("value")), opt_float(value.get("low")),
                   opt_float(value.get("high")), opt_float(value.get("threshold")))  # fmt: skip


def opt_float(value: object) -> float | None:
    return None if value is None else as_float(value, "number")


@dataclass(frozen=True)
class OpenBreach:
    """An open breach as the war room lists it."""

    breach_id: str
    kind: BreachKind
    rule: str | None
    severity: Severity
    team: str | None
    region: str | None
    summary: str
    labels: Mapping[str, str]
    acknowledged_by: str | None
    ladder_level: int
    facts: BreachFacts | None = None

    @property
    def case_id(self) -> str:
        return case_id_for(self.breach_id)

    def to_json(self) -> dict[str, Json]:
        return {
            "breach_id": self.breach_id, "case_id": self.case_id, "kind": self.kind.value, "rule": self.rule,
            "severity": self.severity.value, "team": self.team, "region": self.region, "summary": self.summary,
            "labels": dict(self.labels), "acknowledged_by": self.acknowledged_by, "ladder_level": self.ladder_level,
            "facts": self.facts.to_json() if self.facts else None,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> OpenBreach:
        """An open breach as another worker listed it (:meth:`to_json`, masked for the caller there)."""
        value = obj(data, "open breach")
        return cls(
            breach_id=as_str(value["breach_id"], "breach_id"),
            kind=BreachKind(as_str(value["kind"], "kind")),
            rule=opt_str(value.get("rule"), "rule"),
            severity=Severity(as_str(value["severity"], "severity")),
            team=opt_str(value.get("team"), "team"),
            region=opt_str(value.get("region"), "region"),
            summary=as_str(value["summary"], "summary"),
            labels=text_map(value.get("labels"), "labels"),
            acknowledged_by=opt_str(value.get("acknowledged_by"), "acknowledged_by"),
            ladder_level=as_int(value.get("ladder_level", 0), "ladder_level"),
            facts=BreachFacts.from_json(value["facts"]) if value.get("facts") else None,
        )


@dataclass(frozen=True)
class DeskState:
    """Everything the routing side remembers between messages."""

    dispatcher: DispatcherState = field(default_factory=DispatcherState)
    alerts: Mapping[str, Labels] = field(default_factory=dict)  # open breach id -> its labels (breach_id too)
    summaries: Mapping[str, str] = field(default_factory=dict)
    facts: Mapping[str, BreachFacts] = field(default_factory=dict)  # open breach id -> what the war room shows
    hot: Mapping[str, HotAlert] = field(default_factory=dict)
    ladders: Mapping[LadderKey, LadderStep] = field(default_factory=dict)
    acked: Mapping[str, Acknowledgement] = field(default_factory=dict)
    lapses: Mapping[LapseKey, int] = field(default_factory=dict)  # -> when it was escalated
    last_breach: LastBreach | None = None
    silences: Mapping[str, Silence] = field(default_factory=dict)

    def to_json(self) -> dict[str, Json]:
        alerts: dict[str, Json] = {b: dict(labels) for b, labels in self.alerts.items()}
        return {
            "dispatcher": self.dispatcher.to_json(),
            "alerts": alerts,
            "summaries": dict(self.summaries),
            "facts": {b: f.to_json() for b, f in self.facts.items()},
            "hot": {b: a.to_json() for b, a in self.hot.items()},
            "ladders": {k.encode(): s.to_json() for k, s in self.ladders.items()},
            "acked": {b: a.to_json() for b, a in self.acked.items()},
            "lapses": {k.encode(): at for k, at in self.lapses.items()},
            "last_breach": self.last_breach.to_json() if self.last_breach else None,
            "silences": {s.id: s.to_json() for s in self.silences.values()},
        }

    @classmethod
    def from_json(cls, data: object) -> DeskState:
        value = obj(data or {}, "desk state")

        def section(name: str) -> Mapping[str, object]:
            return obj(value.get(name) or {}, name)

        silences = (Silence.from_json(s) for s in section("silences").values())
        return cls(
            dispatcher=DispatcherState.from_json(value.get("dispatcher") or {}),
            alerts={str(b): text_map(labels) for b, labels in section("alerts").items()},
            summaries={str(b): str(t) for b, t in section("summaries").items()},
            facts={str(b): BreachFacts.from_json(f) for b, f in section("facts").items()},
            hot={str(b): HotAlert.from_json(a) for b, a in section("hot").items()},
            ladders={LadderKey.decode(k): LadderStep.from_json(s) for k, s in section("ladders").items()},
            acked={str(b): Acknowledgement.from_json(a) for b, a in section("acked").items()},
            lapses={LapseKey.decode(k): as_int(at) for k, at in section("lapses").items()},
            last_breach=_last_breach(value.get("last_breach")),
            silences={s.id: s for s in silences},
        )

    def open_breaches(self) -> list[OpenBreach]:
        """Open breaches (threshold and hot alerts) with their ladder state, critical first."""
        ladders: dict[str, int] = {}
        for key, step in self.ladders.items():
            ladders[key.breach_id] = max(ladders.get(key.breach_id, 0), step.level)
        rows = [
            OpenBreach(
                breach_id=breach_id,
                kind=BreachKind(labels.get("kind", BreachKind.THRESHOLD.value)),
                rule=labels.get("rule"),
                severity=Severity.of(labels.get("severity"), Severity.WARNING),
                team=labels.get("owner"),
                region=labels.get("region"),
                summary=self.summaries.get(breach_id, ""),
                labels={k: v for k, v in labels.items() if k != "breach_id"},
                acknowledged_by=ack.by if (ack := self.acked.get(breach_id)) else None,
                ladder_level=ladders.get(breach_id, 0),
                facts=self.facts.get(breach_id),
            )
            for breach_id, labels in sorted(self.alerts.items())
        ]
        return sorted(rows, key=lambda r: (-r.severity.rank, r.breach_id))

    def active_silences(self, now_ms: int) -> list[Silence]:
        """Silences not ended yet (active and pending), soonest end first."""
        return sorted((s for s in self.silences.values() if s.ends_ms > now_ms), key=lambda s: s.ends_ms)

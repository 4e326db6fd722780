"""What a handover holds and what crosses ``cx.handovers`` (schema ``cxstream.Handover``, compacted per handover)
and ``cx.handover-acks`` (schema ``cxstream.HandoverAck``, the audit trail of acknowledgements).

The routing side is the only writer of ``cx.handovers``: it publishes a shift's handover at the shift's end, and
republishes it (a higher ``version``) when it escalates or when an acknowledgement arrives on
``cx.handover-acks``. :class:`HandoverBook` folds both topics the same way on every worker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from cxstream.domain.base import (
    Record,
    as_float,
    as_int,
    as_str,
    as_time,
    obj,
    opt_int,
    opt_str,
    opt_time,
    seq,
    str_list,
    text_map,
    to_ms,
)
from cxstream.domain.base import from_ms as _dt


def _ms(value: object) -> int:
    return to_ms(as_time(value))


def _opt_ms(record: Mapping[str, object], name: str) -> int | None:
    at = opt_time(record.get(name))
    return None if at is None else to_ms(at)


def _opt_float(value: object) -> float | None:
    return None if value is None else as_float(value)


@dataclass(frozen=True)
class BreachLine:
    """A breach the team owned that opened, changed or resolved during the shift (its status at the shift's end)."""

    breach_id: str
    rule_id: str
    kind: str
    severity: str
    status: str
    opened: bool  # opened during the shift
    resolved: bool  # resolved during the shift
    updates: int  # records during the shift
    summary: str

    def record(self) -> Record:
        return {"breach_id": self.breach_id, "rule_id": self.rule_id, "kind": self.kind, "severity": self.severity,
                "status": self.status, "opened": self.opened, "resolved": self.resolved, "updates": self.updates,
                "summary": self.summary}  # fmt: skip

    @classmethod
    def of(cls, r: Mapping[str, object]) -> BreachLine:
        return cls(as_str(r["breach_id"]), as_str(r["rule_id"]), as_str(r["kind"]), as_str(r["severity"]),
                   as_str(r["status"]), bool(r["opened"]), bool(r["resolved"]), as_int(r["updates"]),
                   as_str(r["summary"]))  # fmt: skip


@dataclass(frozen=True)
class CaseLine:
    """A case of the team at the shift's end: its state, who has it, the next SLA step and what was done."""

    case_id: str
    state: str
    severity: str
    assignee: str | None
    breach_id: str | None
    opened_ms: int
    next_step: str | None  # acknowledge, resolve or follow_up; None: nothing due
    next_due_ms: int | None
    minutes_left: int | None  # at the shift's end; negative: overdue
    done: tuple[str, ...]  # the actions during the shift, e.g. "10:42 ACKNOWLEDGE by ana"

    def record(self) -> Record:
        return {"case_id": self.case_id, "state": self.state, "severity": self.severity, "assignee": self.assignee,
                "breach_id": self.breach_id, "opened_at": _dt(self.opened_ms), "next_step": self.next_step,
                "next_due_at": None if self.next_due_ms is None else _dt(self.next_due_ms),
                "minutes_left": self.minutes_left, "done": list(self.done)}  # fmt: skip

    @classmethod
    def of(cls, r: Mapping[str, object]) -> CaseLine:
        return cls(as_str(r["case_id"]), as_str(r["state"]), as_str(r["severity"]), opt_str(r.get("assignee")),
                   opt_str(r.get("breach_id")), _ms(r["opened_at"]), opt_str(r.get("next_step")),
                   _opt_ms(r, "next_due_at"), opt_int(r.get("minutes_left")),
                   tuple(str_list(r.get("done", []))))  # fmt: skip


@dataclass(frozen=True)
class LadderLine:
    case_id: str
    level: int
    notify: str
    at_ms: int

    def record(self) -> Record:
        return {"case_id": self.case_id, "level": self.level, "notify": self.notify, "at": _dt(self.at_ms)}

    @classmethod
    def of(cls, r: Mapping[str, object]) -> LadderLine:
        return cls(as_str(r["case_id"]), as_int(r["level"]), as_str(r["notify"]), _ms(r["at"]))


@dataclass(frozen=True)
class SilenceLine:
    silence_id: str
    matchers: tuple[str, ...]
    created_by: str
    comment: str
    starts_ms: int
    ends_ms: int

    def record(self) -> Record:
        return {"silence_id": self.silence_id, "matchers": list(self.matchers), "created_by": self.created_by,
                "comment": self.comment, "starts_at": _dt(self.starts_ms), "ends_at": _dt(self.ends_ms)}  # fmt: skip

    @classmethod
    def of(cls, r: Mapping[str, object]) -> SilenceLine:
        return cls(as_str(r["silence_id"]), tuple(str_list(r["matchers"])), as_str(r["created_by"]),
                   as_str(r["comment"]), _ms(r["starts_at"]), _ms(r["ends_at"]))  # fmt: skip


@dataclass(frozen=True)
class MetricMove:
    """One of the team's metrics in one scope: this shift against the shift before, each with n and interval."""

    metric: str
    label: str
    scope: Mapping[str, str]
    unit: str
    before: float | None
    before_n: int
    before_low: float | None
    before_high: float | None
    after: float | None
    after_n: int
    after_low: float | None
    after_high: float | None
    difference: float | None  # after - before
    z: float | None  # the difference over its approximate standard error: how far beyond noise

    def record(self) -> Record:
        return {"metric": self.metric, "label": self.label, "scope": dict(self.scope), "unit": self.unit,
                "before": self.before, "before_n": self.before_n, "before_low": self.before_low,
                "before_high": self.before_high, "after": self.after, "after_n": self.after_n,
                "after_low": self.after_low, "after_high": self.after_high, "difference": self.difference,
                "z": self.z}  # fmt: skip

    @classmethod
    def of(cls, r: Mapping[str, object]) -> MetricMove:
        return cls(as_str(r["metric"]), as_str(r["label"]), text_map(r.get("scope", {})), as_str(r["unit"]),
                   _opt_float(r.get("before")), as_int(r["before_n"]), _opt_float(r.get("before_low")),
                   _opt_float(r.get("before_high")), _opt_float(r.get("after")), as_int(r["after_n"]),
                   _opt_float(r.get("after_low")), _opt_float(r.get("after_high")), _opt_float(r.get("difference")),
                   _opt_float(r.get("z")))  # fmt: skip


@dataclass(frozen=True)
class Handover:
    handover_id: str  # team|shift start (UTC)
    team: str
    shift: str
    start_ms: int
    end_ms: int
    next_shift: str
    published_ms: int
    ack_due_ms: int
    breaches: tuple[BreachLine, ...] = ()
    cases: tuple[CaseLine, ...] = ()
    ladder: tuple[LadderLine, ...] = ()
    silences: tuple[SilenceLine, ...] = ()
    metrics: tuple[MetricMove, ...] = ()
    pick_up: tuple[str, ...] = ()
    acknowledged_by: str | None = None
    acknowledged_ms: int | None = None
    ack_note: str | None = None
    escalated_ms: int | None = None
    version: int = 0

    @property
    def key(self) -> bytes:
        return self.handover_id.encode()

    def state(self, now_ms: int) -> str:
        if self.acknowledged_by is not None:
            return "acknowledged"
        if self.escalated_ms is not None:
            return "escalated"
        return "overdue" if now_ms >= self.ack_due_ms else "awaiting acknowledgement"

    def record(self) -> Record:
        return {
            "handover_id": self.handover_id, "team": self.team, "shift": self.shift, "shift_start": _dt(self.start_ms),
            "shift_end": _dt(self.end_ms), "next_shift": self.next_shift, "published_at": _dt(self.published_ms),
            "ack_due": _dt(self.ack_due_ms), "breaches": [b.record() for b in self.breaches],
            "cases": [c.record() for c in self.cases], "ladder": [s.record() for s in self.ladder],
            "silences": [s.record() for s in self.silences], "metrics": [m.record() for m in self.metrics],
            "pick_up": list(self.pick_up), "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": None if self.acknowledged_ms is None else _dt(self.acknowledged_ms),
            "ack_note": self.ack_note, "escalated_at": None if self.escalated_ms is None else _dt(self.escalated_ms),
            "version": self.version,
        }  # fmt: skip

    @classmethod
    def from_record(cls, r: Mapping[str, object]) -> Handover:
        return cls(
            handover_id=as_str(r["handover_id"]), team=as_str(r["team"]), shift=as_str(r["shift"]),
            start_ms=_ms(r["shift_start"]), end_ms=_ms(r["shift_end"]), next_shift=as_str(r["next_shift"]),
            published_ms=_ms(r["published_at"]), ack_due_ms=_ms(r["ack_due"]),
            breaches=tuple(BreachLine.of(obj(x)) for x in seq(r.get("breaches", []))),
            cases=tuple(CaseLine.of(obj(x)) for x in seq(r.get("cases", []))),
            ladder=tuple(LadderLine.of(obj(x)) for x in seq(r.get("ladder", []))),
            silences=tuple(SilenceLine.of(obj(x)) for x in seq(r.get("silences", []))),
            metrics=tuple(MetricMove.of(obj(x)) for x in seq(r.get("metrics", []))),
            pick_up=tuple(str_list(r.get("pick_up", []))), acknowledged_by=opt_str(r.get("acknowledged_by")),
            acknowledged_ms=_opt_ms(r, "acknowledged_at"), ack_note=opt_str(r.get("ack_note")),
            escalated_ms=_opt_ms(r, "escalated_at"), version=as_int(r.get("version", 0)),
        )  # fmt: skip


@dataclass(frozen=True)
class HandoverAck:
    """The incoming supervisor's acknowledgement (who, when, a note): the audit trail on ``cx.handover-acks``."""

    handover_id: str
    actor: str
    at_ms: int
    role: str | None = None
    note: str | None = None

    def record(self) -> Record:
        return {"handover_id": self.handover_id, "actor": self.actor, "role": self.role, "at": _dt(self.at_ms),
                "note": self.note}  # fmt: skip

    @classmethod
    def from_record(cls, r: Mapping[str, object]) -> HandoverAck:
        return cls(
            as_str(r["handover_id"]), as_str(r["actor"]), _ms(r["at"]), opt_str(r.get("role")), opt_str(r.get("note"))
        )


@dataclass
class HandoverBook:
    """The newest version of each handover and the first acknowledgement of each (later ones change nothing)."""

    handovers: dict[str, Handover] = field(default_factory=dict)
    acks: dict[str, HandoverAck] = field(default_factory=dict)

    def add(self, handover: Handover) -> None:
        held = self.handovers.get(handover.handover_id)
        if held is None or handover.version >= held.version:
            self.handovers[handover.handover_id] = handover

    def acknowledge(self, ack: HandoverAck) -> None:
        self.acks.setdefault(ack.handover_id, ack)

    def view(self, handover_id: str) -> Handover | None:
        """The handover as people should see it: with its acknowledgement even before the routing side republished."""
        held = self.handovers.get(handover_id)
        ack = self.acks.get(handover_id)
        if held is None or ack is None or held.acknowledged_by is not None:
            return held
        return replace(held, acknowledged_by=ack.actor, acknowledged_ms=ack.at_ms, ack_note=ack.note)

    def latest(self, team: str | None = None, limit: int = 20) -> list[Handover]:
        chosen = [h for h in self.handovers.values() if team in (None, h.team)]
        chosen.sort(key=lambda h: (h.end_ms, h.team), reverse=True)
        return [v for h in chosen[:limit] if (v := self.view(h.handover_id)) is not None]

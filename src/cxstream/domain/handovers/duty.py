"""What the routing side does about handovers on a tick, given what it has published and the acknowledgements:

- a handover past its ``ack_due`` with no acknowledgement is republished as escalated, and a ``HANDOVER`` breach
  (owner: the team) goes through the routing tree like any other: the team is paged, a case opens, the ladder runs;
- an acknowledgement is copied into the handover (who, when, the note), and an escalated handover's breach
  resolves.

Ids come from the handover, so a replayed tick publishes the same records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from cxstream.domain.alerting.records import Breach, BreachKind, Direction, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.base import digest, from_ms
from cxstream.domain.handovers.records import Handover, HandoverAck
from cxstream.domain.handovers.spec import HandoverSpec

RULE_ID = "handover.unacknowledged"


def breach_id(handover_id: str) -> str:
    return f"handover-{digest(handover_id, 16)}"


def handover_breach(h: Handover, spec: HandoverSpec, status: Status, started_ms: int, now_ms: int) -> Breach:
    severity = Severity(spec.severity)
    scope = {"team": h.team, "shift": h.shift}
    labels = {"kind": BreachKind.HANDOVER.value, "rule": RULE_ID, "owner": h.team, "severity": severity.value,
              "handover": h.handover_id, **scope}  # fmt: skip
    ended = from_ms(h.end_ms).strftime("%Y-%m-%d %H:%M UTC")
    open_items = len(h.pick_up)
    summary = (f"Handover acknowledged: {h.team} {h.shift} shift ending {ended}" if status is Status.RESOLVED else
               f"Handover not acknowledged: {h.team} {h.shift} shift ending {ended}, {open_items} item(s) to pick up "
               f"(due {from_ms(h.ack_due_ms).strftime('%H:%M UTC')})")  # fmt: skip
    return Breach(
        breach_id=breach_id(h.handover_id), rule_id=RULE_ID, kind=BreachKind.HANDOVER, status=status,
        severity=severity, metric="handover", scope=scope, labels=labels, n=open_items, direction=Direction.ABOVE,
        started_at=from_ms(started_ms), updated_at=from_ms(now_ms), summary=summary,
        window_start=from_ms(h.start_ms), window_end=from_ms(h.end_ms),
    )  # fmt: skip


@dataclass
class Decision:
    """Handovers to republish, each with the breach it raises or resolves (None: none)."""

    republish: list[tuple[Handover, Breach | None]] = field(default_factory=list)


def decide(handovers: Mapping[str, Handover], acks: Mapping[str, HandoverAck], spec: HandoverSpec,
           now_ms: int) -> Decision:  # fmt: skip
    out = Decision()
    for h in handovers.values():
        ack = acks.get(h.handover_id)
        if h.acknowledged_by is not None:
            continue
        if ack is not None:
            acked = replace(h, acknowledged_by=ack.actor, acknowledged_ms=ack.at_ms, ack_note=ack.note,
                            version=h.version + 1)  # fmt: skip
            resolved = handover_breach(h, spec, Status.RESOLVED, h.escalated_ms, now_ms) if h.escalated_ms else None
            out.republish.append((acked, resolved))
        elif h.escalated_ms is None and now_ms >= h.ack_due_ms:
            out.republish.append((replace(h, escalated_ms=now_ms, version=h.version + 1),
                                  handover_breach(h, spec, Status.FIRING, now_ms, now_ms)))  # fmt: skip
    return out

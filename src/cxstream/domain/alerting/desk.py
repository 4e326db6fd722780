"""From alerts to escalations. The desk holds everything the routing side remembers between rounds: the open
alerts (threshold breaches and hot alerts), the Alertmanager-style dispatcher with its groups and timers, the
silences, and each notified breach's place on its escalation ladder. It takes breaches, hot alerts,
acknowledgements, silences and the time, and says which ``cx.breaches`` and ``cx.escalations.<team>``
records to publish. Its whole state is JSON, kept by the agent in a changelog-backed table, so a restarted
worker goes on where the dead one stopped.

Every record id is deterministic and says what the record is, never when it was computed: a notification by
its receiver, group and the breaches it reports firing and resolved (a reminder also by its repeat period, as
Alertmanager's notification log tells notifications apart), a ladder step by receiver, breach and level. So a
record published again (a crash replay, a worker that lost its partitions) carries the same id, and consumers
drop it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cxstream.domain.alerting.hot_alerts import HotAlert, hot_breach_record
from cxstream.domain.alerting.records import Breach, Escalation, LastBreach, Status
from cxstream.domain.alerting.routing import Dispatcher, InhibitRule, Labels, Notification, Route, Silence, muted_by
from cxstream.domain.alerting.severity import Severity, worst
from cxstream.domain.alerting.spec import Alerting, EscalationPolicy
from cxstream.domain.alerting.state import (
    Acknowledgement,
    BreachFacts,
    DeskState,
    LadderKey,
    LadderStep,
    LapseKey,
    case_id_for,
)
from cxstream.domain.base import Json, as_int, as_str, digest, obj, opt_str, text_map, to_ms
from cxstream.domain.cases.machine import Action, ActionType
from cxstream.domain.durations import parse_duration_ms

__all__ = ["AlertDesk", "Lapse", "Outcome", "case_id_for", "escalate_action", "escalation_record", "open_actions"]

#: Case actions that show someone took the case: its breach's ladder stops.
TAKING_ACTIONS = frozenset({ActionType.ACKNOWLEDGE, ActionType.DOCUMENT_ACTION, ActionType.RESOLVE, ActionType.CLOSE})
#: Case actions after which a hot alert is over (it no longer waits for its ``resolve_after``).
ENDING_ACTIONS = frozenset({ActionType.RESOLVE, ActionType.CLOSE})
OVERDUE_MEMORY_MS = 7 * 24 * 3_600_000  # how long an SLA lapse already escalated is remembered


def alert_labels(breach: Breach) -> dict[str, str]:
    return {**{str(k): str(v) for k, v in breach.labels.items()}, "breach_id": breach.breach_id}


def _severity(labels: Labels) -> Severity:
    return Severity.of(labels.get("severity"), Severity.WARNING)


def escalation_record(
    note: Notification, summaries: Mapping[str, str], first_event_ms: int | None = None
) -> Escalation:
    """The ``cx.escalations.<team>`` record of one routed notification (ladder level 0)."""
    alerts = note.firing or note.resolved
    common = {k: v for k, v in alerts[0].items() if k != "breach_id" and all(a.get(k) == v for a in alerts)}
    breach_ids = sorted(a["breach_id"] for a in alerts if "breach_id" in a)
    lines = [summaries.get(b, b) for b in breach_ids]
    if note.firing:
        summary = "; ".join(lines) + (" (reminder)" if note.repeat else "")
    else:
        summary = "resolved: " + "; ".join(lines)
    resolved_ids = sorted(a["breach_id"] for a in note.resolved if "breach_id" in a)
    firing_ids = sorted(a["breach_id"] for a in note.firing if "breach_id" in a)
    identity = f"{note.receiver}|{note.group_key}|firing={','.join(firing_ids)}|resolved={','.join(resolved_ids)}"
    return Escalation(
        escalation_id=f"esc-{digest(f'{identity}|{note.slot}')}",
        receiver=note.receiver,
        group_key=note.group_key,
        severity=worst([_severity(a) for a in alerts]),
        level=0,
        breach_ids=tuple(breach_ids),
        labels={**common, "status": "firing" if note.firing else "resolved"},
        created_ms=note.at_ms,
        first_event_ms=first_event_ms if note.firing else None,
        summary=summary,
    )


def open_actions(note: Notification, escalation_id: str, hot: set[str]) -> list[Action]:
    """The ``cx.case-actions`` OPEN action of each breach a notification escalates: it opens the breach's
    case, or joins the open one (the case keeps every escalation id)."""
    out = []
    for labels in note.firing:
        breach_id = labels["breach_id"]
        out.append(Action(
            action_id=f"act-{digest(f'open|{escalation_id}|{breach_id}')}",
            case_id=case_id_for(breach_id),
            action=ActionType.OPEN,
            actor="system:routing",
            at_ms=note.at_ms,
            breach_id=breach_id,
            escalation_id=escalation_id,
            team=note.receiver,
            severity=labels.get("severity", Severity.WARNING.value),
            labels={k: v for k, v in labels.items() if k != "breach_id"},
            follow_up=breach_id in hot,
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class Lapse:
    """A case missed an SLA step: what the routing desk needs to page the next level (it travels on the
    alerting control topic as JSON)."""

    case_id: str
    breach_id: str
    step: str
    due_ms: int
    team: str
    severity: Severity
    labels: Mapping[str, str]

    @property
    def key(self) -> LapseKey:
        return LapseKey(self.breach_id, self.step, self.due_ms)

    @classmethod
    def of(cls, overdue: Action) -> Lapse:
        """The lapse an OVERDUE action of the SLA timer reports (it carries the breach and the team)."""
        if overdue.breach_id is None or overdue.team is None:
            raise ValueError(f"OVERDUE action {overdue.action_id} names no breach or team")
        return cls(overdue.case_id, overdue.breach_id, str(overdue.comment), overdue.at_ms, overdue.team,
                   Severity.of(overdue.severity, Severity.WARNING), dict(overdue.labels))  # fmt: skip

    def to_json(self) -> dict[str, Json]:
        return {"case_id": self.case_id, "breach_id": self.breach_id, "step": self.step, "due_ms": self.due_ms,
                "team": self.team, "severity": self.severity.value, "labels": dict(self.labels)}  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> Lapse:
        value = obj(data, "lapse")
        return cls(as_str(value["case_id"]), as_str(value["breach_id"]), as_str(value["step"]),
                   as_int(value["due_ms"]), as_str(value["team"]),
                   Severity.of(opt_str(value.get("severity")), Severity.WARNING),
                   text_map(value.get("labels") or {}))  # fmt: skip


def escalate_action(escalation: Escalation, now_ms: int) -> Action:
    """The ESCALATE action on ``cx.case-actions`` for a ladder step: the case's history shows who was paged."""
    [breach_id] = escalation.breach_ids
    labels = escalation.labels
    return Action(
        action_id="act-" + digest(f"escalate|{escalation.escalation_id}"),
        case_id=case_id_for(breach_id),
        action=ActionType.ESCALATE,
        actor="system:routing",
        at_ms=now_ms,
        comment=escalation.summary,
        escalation_id=escalation.escalation_id,
        team=escalation.receiver,
        labels={
            "level": str(escalation.level), "notify": labels.get("notify", ""), "receiver": escalation.receiver,
            **({"sla": labels["sla"]} if "sla" in labels else {}),
        },
    )  # fmt: skip


@dataclass
class Outcome:
    breaches: list[Breach] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)  # ingest of the triggering event -> escalation
    case_actions: list[Action] = field(default_factory=list)  # OPEN, ESCALATE: for the breach's case


class AlertDesk:
    """The routing side's working copy of its :class:`DeskState`: built from the saved state, changed by the
    inputs and the clock, saved again with :meth:`state`."""

    def __init__(
        self, alerting: Alerting, routes: tuple[Route, tuple[InhibitRule, ...]], state: DeskState | None = None
    ) -> None:
        state = state or DeskState()
        self.alerting = alerting
        self.policies = {p.id: p for p in alerting.escalation_policies}
        self.silences: dict[str, Silence] = dict(state.silences)
        root, inhibit = routes
        self.inhibit = inhibit
        intervals = alerting.routing.intervals() if alerting.routing is not None else {}
        self.dispatcher = Dispatcher(root, inhibit, self.silences.values(), intervals)
        self.dispatcher.restore(state.dispatcher)
        self.alerts: dict[str, Labels] = {b: dict(labels) for b, labels in state.alerts.items()}
        self.summaries: dict[str, str] = dict(state.summaries)
        self.facts: dict[str, BreachFacts] = dict(state.facts)
        self.hot: dict[str, HotAlert] = dict(state.hot)
        self.ladders: dict[LadderKey, LadderStep] = {
            k: LadderStep(s.policy, s.level, s.since_ms, s.receiver, s.group_key) for k, s in state.ladders.items()
        }  # copies: the desk moves them up, the saved state stays as it was
        self.acked: dict[str, Acknowledgement] = dict(state.acked)
        self.lapses: dict[LapseKey, int] = dict(state.lapses)  # SLA lapses escalated -> when
        self.last_breach: LastBreach | None = state.last_breach

    # --- inputs --------------------------------------------------------------------------------------------

    def on_breach(self, breach: Breach, now_ms: int) -> None:
        """A ``cx.breaches`` record. ``alerts`` remembers each open breach's labels, so a severity change
        replaces the alert instead of resolving it."""
        breach_id = breach.breach_id
        labels = alert_labels(breach)
        previous = self.alerts.get(breach_id)
        self.last_breach = LastBreach(breach_id, breach.status, _severity(labels), labels.get("rule"),
                                      breach.summary, now_ms)  # fmt: skip
        self.summaries[breach_id] = breach.summary
        if breach.status is Status.RESOLVED:
            self.facts.pop(breach_id, None)
            if previous is not None:
                self.dispatcher.resolve(previous)
                del self.alerts[breach_id]
            self._forget_ladder(breach_id)
            return
        if previous is not None and previous != labels:
            self.dispatcher.withdraw(previous)
        self.dispatcher.receive(labels, now_ms)
        self.alerts[breach_id] = labels
        self.facts[breach_id] = BreachFacts(breach.metric, to_ms(breach.started_at), breach.n, breach.value,
                                            breach.interval_low, breach.interval_high, breach.threshold)  # fmt: skip

    def on_hot(self, alert: HotAlert, now_ms: int) -> Breach | None:
        """A hot alert from the event side: its FIRING breach, or None when it is already known (the event was
        processed again after a crash)."""
        if alert.breach_id in self.hot:
            return None
        self.hot[alert.breach_id] = alert
        breach = hot_breach_record(alert, Status.FIRING, now_ms)
        self.on_breach(breach, now_ms)
        return breach

    def _climbing(self, breach_id: str) -> list[LadderKey]:
        return sorted((k for k in self.ladders if k.breach_id == breach_id), key=LadderKey.encode)

    def on_ack(self, case_id: str, actor: str, at_ms: int) -> bool:
        """Someone took the case of a breach: its ladder stops. True when it was climbing one."""
        breach_id = next((b for b in [*self.alerts, *self.acked] if case_id_for(b) == case_id), None)
        if breach_id is None or breach_id in self.acked:
            return False
        climbing = self._climbing(breach_id)
        level = max((self.ladders[k].level for k in climbing), default=0)
        self.acked[breach_id] = Acknowledgement(actor, at_ms, level)
        for key in climbing:
            del self.ladders[key]
        return bool(climbing)

    def on_case_ended(self, case_id: str, now_ms: int) -> Outcome:
        """The case of a hot alert was resolved or closed: the alert resolves now, not at ``resolve_after``."""
        out = Outcome()
        breach_id = next((b for b in self.hot if case_id_for(b) == case_id), None)
        if breach_id is not None:
            out.breaches.append(self._resolve_hot(breach_id, now_ms))
        return out

    def on_overdue(self, lapse: Lapse, now_ms: int) -> Outcome:
        """A case missed an SLA step (an OVERDUE record of the SLA timer): the breach's ladder goes one level
        up now, unless it already climbed since the step fell due; a case no longer climbing (acknowledged, or
        its breach over) pages the next level once. Each lapse escalates once."""
        out = Outcome()
        breach_id, key = lapse.breach_id, lapse.key
        if key in self.lapses:
            return out
        self.lapses[key] = now_ms
        labels = {**lapse.labels, "breach_id": breach_id}
        labels.setdefault("severity", lapse.severity.value)
        receiver = lapse.team
        climbing = self._climbing(breach_id)
        policy = self.policies.get(self.ladders[climbing[0]].policy) if climbing else self.alerting.policy_for(labels)
        if policy is None or not policy.levels:
            return out  # no ladder for it: the overdue case is on cx.cases and the metric, nothing to page
        if climbing:
            step_now = self.ladders[climbing[0]]
            if step_now.since_ms >= lapse.due_ms:
                return out  # the ladder's own clock already paged the next level for this lapse
            receiver = step_now.receiver
        else:
            ack = self.acked.get(breach_id)
            step_now = LadderStep(policy.id, ack.level if ack else 0, now_ms, receiver,
                                  f"{{}}:{{case_id={case_id_for(breach_id)}}}")  # fmt: skip
        step_now.level = min(step_now.level + 1, len(policy.levels))
        step_now.since_ms = now_ms
        level = policy.levels[step_now.level - 1]
        paged = self._ladder_record(policy, step_now, breach_id, labels, level.receiver or step_now.receiver, now_ms)
        escalation = Escalation(
            escalation_id="esc-" + digest(f"{key.encode()}|{paged.receiver}"),
            receiver=paged.receiver,
            group_key=paged.group_key,
            severity=paged.severity,
            level=paged.level,
            breach_ids=paged.breach_ids,
            labels={**paged.labels, "sla": lapse.step},
            created_ms=now_ms,
            summary=f"{lapse.step} overdue, paging {level.notify}: {self.summaries.get(breach_id, breach_id)}",
        )
        out.escalations.append(escalation)
        out.case_actions.append(escalate_action(escalation, now_ms))
        return out

    def on_silence(self, silence: Silence) -> None:
        """Added, changed or expired (an expired silence is sent again with its new end)."""
        self.silences[silence.id] = silence
        self.dispatcher.silences = list(self.silences.values())

    # --- the clock -----------------------------------------------------------------------------------------

    def _resolve_hot(self, breach_id: str, now_ms: int) -> Breach:
        breach = hot_breach_record(self.hot.pop(breach_id), Status.RESOLVED, now_ms)
        self.on_breach(breach, now_ms)
        return breach

    def tick(self, now_ms: int) -> Outcome:
        out = Outcome()
        for breach_id, alert in sorted(self.hot.items()):
            if alert.resolve_at_ms <= now_ms:
                out.breaches.append(self._resolve_hot(breach_id, now_ms))
        for note in self.dispatcher.due(now_ms):
            first = self._first_event(note.firing)
            escalation = escalation_record(note, self.summaries, first[0] if first else None)
            out.escalations.append(escalation)
            out.case_actions.extend(open_actions(note, escalation.escalation_id, set(self.hot)))
            if first and not note.repeat:
                out.latencies_s.append(max(0.0, (now_ms - first[1]) / 1000))
            self._start_ladders(note)
        climbed = self._climb(now_ms)
        out.escalations.extend(climbed)
        out.case_actions.extend(escalate_action(escalation, now_ms) for escalation in climbed)
        self._prune(now_ms)
        return out

    def _first_event(self, alerts: Iterable[Labels]) -> tuple[int, int] | None:
        """(event time, ingest time) of the earliest hot event among the alerts."""
        hot = [self.hot[a["breach_id"]] for a in alerts if a.get("breach_id") in self.hot]
        if not hot:
            return None
        first = min(hot, key=lambda a: a.event_ms)
        return first.event_ms, first.ingest_ms

    def _start_ladders(self, note: Notification) -> None:
        for labels in note.firing:
            breach_id = labels["breach_id"]
            key = LadderKey(note.receiver, breach_id)
            if key in self.ladders or breach_id in self.acked:
                continue
            policy = self.alerting.policy_for(labels)
            if policy is not None:
                self.ladders[key] = LadderStep(policy.id, 0, note.at_ms, note.receiver, note.group_key)

    def _climb(self, now_ms: int) -> list[Escalation]:
        firing = list(self.alerts.values())
        out = []
        for key in sorted(self.ladders, key=LadderKey.encode):
            step = self.ladders[key]
            policy = self.policies.get(step.policy)
            labels = self.alerts.get(key.breach_id)
            if policy is None or labels is None or step.level >= len(policy.levels):
                continue
            level = policy.levels[step.level]
            if now_ms - step.since_ms < parse_duration_ms(level.after):
                continue
            if muted_by(labels, firing, self.inhibit, self.silences.values(), now_ms):
                continue  # muted meanwhile: the ladder waits, it does not page around a silence
            step.level += 1
            step.since_ms = now_ms
            out.append(
                self._ladder_record(policy, step, key.breach_id, labels, level.receiver or step.receiver, now_ms)
            )
        return out

    def _ladder_record(
        self, policy: EscalationPolicy, step: LadderStep, breach_id: str, labels: Labels, receiver: str, now_ms: int
    ) -> Escalation:
        level = policy.levels[step.level - 1]
        return Escalation(
            escalation_id=f"esc-{digest(f'{receiver}|{breach_id}|level{step.level}|{step.receiver}')}",
            receiver=receiver,
            group_key=step.group_key,
            severity=_severity(labels),
            level=step.level,
            breach_ids=(breach_id,),
            labels={
                **{k: v for k, v in labels.items() if k != "breach_id"},
                "status": "firing",
                "policy": policy.id,
                "notify": level.notify,
                "case_id": case_id_for(breach_id),
            },
            created_ms=now_ms,
            summary=f"not acknowledged after {level.after}, paging {level.notify}: "
            f"{self.summaries.get(breach_id, breach_id)}",
        )

    def _forget_ladder(self, breach_id: str) -> None:
        for key in self._climbing(breach_id):
            del self.ladders[key]
        self.acked.pop(breach_id, None)

    def _prune(self, now_ms: int) -> None:
        for silence_id in [s.id for s in self.silences.values() if s.ends_ms <= now_ms]:
            del self.silences[silence_id]
        self.dispatcher.silences = list(self.silences.values())
        pending = {
            a["breach_id"] for g in self.dispatcher.groups.values() for a in [*g.firing.values(), *g.resolved.values()]
        }
        self.summaries = {b: t for b, t in self.summaries.items() if b in pending or b in self.alerts}
        self.facts = {b: f for b, f in self.facts.items() if b in self.alerts}
        self.lapses = {k: at for k, at in self.lapses.items() if now_ms - at < OVERDUE_MEMORY_MS}

    def state(self) -> DeskState:
        ladders = {
            k: LadderStep(s.policy, s.level, s.since_ms, s.receiver, s.group_key) for k, s in self.ladders.items()
        }
        return DeskState(
            dispatcher=self.dispatcher.state(), alerts={b: dict(labels) for b, labels in self.alerts.items()},
            summaries=dict(self.summaries), facts=dict(self.facts), hot=dict(self.hot), ladders=ladders,
            acked=dict(self.acked),
            lapses=dict(self.lapses), last_breach=self.last_breach, silences=dict(self.silences),
        )  # fmt: skip

    def to_json(self) -> dict[str, Json]:
        return self.state().to_json()

    @property
    def unmatched(self) -> int:
        return self.dispatcher.unmatched

"""From alerts to escalations. The desk holds everything the routing side remembers between rounds: the open
alerts (threshold breaches and hot alerts), the Alertmanager-style dispatcher with its groups and timers, the
silences, and each notified breach's place on its escalation ladder. It takes breaches, hot alerts,
acknowledgements, silences and the time, and says which ``cx.breaches`` and ``cx.escalations.<team>``
records to publish. Its whole state is JSON, kept by the agent in a changelog-backed table, so a restarted
worker goes on where the dead one stopped.

Every record id is deterministic (group + time for notifications, receiver + breach + level for ladder
steps), so a record published again after a crash carries the same id and consumers drop it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cxstream.domain.alerting import Alerting, EscalationPolicy
from cxstream.domain.cases import Action, ActionType, action_record
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.hot_alerts import HotAlert, hot_breach_record
from cxstream.domain.routing import Dispatcher, InhibitRule, Labels, Notification, Route, Silence, muted_by

SEVERITY_ORDER = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}
#: Case actions that show someone took the case: its breach's ladder stops.
TAKING_ACTIONS = frozenset({"ACKNOWLEDGE", "DOCUMENT_ACTION", "RESOLVE", "CLOSE"})
#: Case actions after which a hot alert is over (it no longer waits for its ``resolve_after``).
ENDING_ACTIONS = frozenset({"RESOLVE", "CLOSE"})
OVERDUE_MEMORY_MS = 7 * 24 * 3_600_000  # how long an SLA lapse already escalated is remembered


def case_id_for(breach_id: str) -> str:
    """The follow-up case of a breach (one case per breach; acknowledging the case stops its ladder)."""
    return "case-" + breach_id.removeprefix("br-")


def alert_labels(breach: Mapping[str, Any]) -> dict[str, str]:
    return {**{str(k): str(v) for k, v in breach["labels"].items()}, "breach_id": str(breach["breach_id"])}


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def escalation_record(
    note: Notification, summaries: Mapping[str, str], first_event_ms: int | None = None
) -> dict[str, Any]:
    """The ``cx.escalations.<team>`` record of one routed notification (ladder level 0)."""
    alerts = note.firing or note.resolved
    severity = max((a.get("severity", "WARNING") for a in alerts), key=lambda s: SEVERITY_ORDER.get(s, 0))
    common = {k: v for k, v in alerts[0].items() if k != "breach_id" and all(a.get(k) == v for a in alerts)}
    breach_ids = sorted(a["breach_id"] for a in alerts if "breach_id" in a)
    lines = [summaries.get(b, b) for b in breach_ids]
    if note.firing:
        summary = "; ".join(lines) + (" (reminder)" if note.repeat else "")
    else:
        summary = "resolved: " + "; ".join(lines)
    return {
        "escalation_id": f"esc-{_digest(f'{note.receiver}|{note.group_key}|{note.at_ms}')}",
        "receiver": note.receiver,
        "group_key": note.group_key,
        "severity": severity,
        "level": 0,
        "breach_ids": breach_ids,
        "labels": {**common, "status": "firing" if note.firing else "resolved"},
        "created_at": _at(note.at_ms),
        "first_event_time": _at(first_event_ms) if first_event_ms is not None and note.firing else None,
        "summary": summary,
    }


def open_actions(note: Notification, escalation_id: str, hot: set[str]) -> list[dict[str, Any]]:
    """The ``cx.case-actions`` OPEN record of each breach a notification escalates: it opens the breach's
    case, or joins the open one (the case keeps every escalation id)."""
    out = []
    for labels in note.firing:
        breach_id = labels["breach_id"]
        action = Action(
            action_id=f"act-{_digest(f'open|{escalation_id}|{breach_id}')}",
            case_id=case_id_for(breach_id),
            action=ActionType.OPEN,
            actor="system:routing",
            at_ms=note.at_ms,
            breach_id=breach_id,
            escalation_id=escalation_id,
            team=note.receiver,
            severity=labels.get("severity", "WARNING"),
            labels={k: v for k, v in labels.items() if k != "breach_id"},
            follow_up=breach_id in hot,
        )
        out.append(action_record(action))
    return out


def lapse_of(overdue: Mapping[str, Any]) -> dict[str, Any]:
    """What :meth:`AlertDesk.on_overdue` needs from an OVERDUE record of ``cx.case-actions``."""
    return {
        "case_id": str(overdue["case_id"]), "breach_id": str(overdue["breach_id"]), "step": str(overdue["comment"]),
        "due_ms": int(overdue["at"].timestamp() * 1000), "team": str(overdue["team"]),
        "severity": overdue.get("severity") or "WARNING", "labels": dict(overdue.get("labels") or {}),
    }  # fmt: skip


def escalate_action(record: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """The ESCALATE record on ``cx.case-actions`` for a ladder step: the case's history shows who was paged."""
    [breach_id] = record["breach_ids"]
    labels = record["labels"]
    action = Action(
        action_id="act-" + _digest(f"escalate|{record['escalation_id']}"),
        case_id=case_id_for(breach_id),
        action=ActionType.ESCALATE,
        actor="system:routing",
        at_ms=now_ms,
        comment=str(record["summary"]),
        escalation_id=str(record["escalation_id"]),
        team=str(record["receiver"]),
        labels={
            "level": str(record["level"]), "notify": str(labels.get("notify", "")),
            "receiver": str(record["receiver"]), **({"sla": labels["sla"]} if "sla" in labels else {}),
        },
    )  # fmt: skip
    return action_record(action)


@dataclass
class LadderStep:
    """Where one notified breach stands on its ladder: ``level`` was notified at ``since_ms``."""

    policy: str
    level: int
    since_ms: int
    receiver: str
    group_key: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Outcome:
    breaches: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)  # ingest of the triggering event -> escalation
    case_actions: list[dict[str, Any]] = field(default_factory=list)  # OPEN, ESCALATE: for the breach's case


class AlertDesk:
    def __init__(
        self, alerting: Alerting, routes: tuple[Route, tuple[InhibitRule, ...]], state: Mapping[str, Any]
    ) -> None:
        self.alerting = alerting
        self.policies = {p.id: p for p in alerting.escalation_policies}
        self.silences = {s["id"]: Silence.from_json(s) for s in (state.get("silences") or {}).values()}
        root, inhibit = routes
        self.inhibit = inhibit
        self.dispatcher = Dispatcher(root, inhibit, self.silences.values())
        self.dispatcher.restore(state.get("dispatcher") or {})
        self.alerts: dict[str, dict[str, str]] = dict(state.get("alerts") or {})
        self.summaries: dict[str, str] = dict(state.get("summaries") or {})
        self.hot = {b: HotAlert.from_json(a) for b, a in (state.get("hot") or {}).items()}
        self.ladders = {k: LadderStep(**v) for k, v in (state.get("ladders") or {}).items()}
        self.acked: dict[str, dict[str, Any]] = dict(state.get("acked") or {})
        self.lapses: dict[str, int] = dict(state.get("lapses") or {})  # SLA lapses escalated -> when
        self.last_breach: dict[str, Any] | None = state.get("last_breach")

    # --- inputs --------------------------------------------------------------------------------------------

    def on_breach(self, breach: Mapping[str, Any], now_ms: int) -> None:
        """A ``cx.breaches`` record. ``alerts`` remembers each open breach's labels, so a severity change
        replaces the alert instead of resolving it."""
        breach_id = str(breach["breach_id"])
        labels = alert_labels(breach)
        previous = self.alerts.get(breach_id)
        self.last_breach = {
            "breach_id": breach_id, "status": str(breach["status"]), "severity": labels.get("severity"),
            "rule": labels.get("rule"), "summary": str(breach["summary"]), "at_ms": now_ms,
        }  # fmt: skip
        self.summaries[breach_id] = str(breach["summary"])
        if breach["status"] == "RESOLVED":
            if previous is not None:
                self.dispatcher.resolve(previous)
                del self.alerts[breach_id]
            self._forget_ladder(breach_id)
            return
        if previous is not None and previous != labels:
            self.dispatcher.withdraw(previous)
        self.dispatcher.receive(labels, now_ms)
        self.alerts[breach_id] = labels

    def on_hot(self, alert: HotAlert, now_ms: int) -> dict[str, Any] | None:
        """A hot alert from the event side: its FIRING breach record, or None when it is already known (the
        event was processed again after a crash)."""
        if alert.breach_id in self.hot:
            return None
        self.hot[alert.breach_id] = alert
        record = hot_breach_record(alert, "FIRING", now_ms)
        self.on_breach(record, now_ms)
        return record

    def on_ack(self, case_id: str, actor: str, at_ms: int) -> bool:
        """Someone took the case of a breach: its ladder stops. True when it was climbing one."""
        breach_id = next((b for b in [*self.alerts, *self.acked] if case_id_for(b) == case_id), None)
        if breach_id is None or breach_id in self.acked:
            return False
        climbing = [key for key in self.ladders if key.endswith(f"|{breach_id}")]
        level = max((self.ladders[k].level for k in climbing), default=0)
        self.acked[breach_id] = {"by": actor, "at": at_ms, "level": level}
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

    def on_overdue(self, lapse: Mapping[str, Any], now_ms: int) -> Outcome:
        """A case missed an SLA step (an OVERDUE record of the SLA timer): the breach's ladder goes one level
        up now, unless it already climbed since the step fell due; a case no longer climbing (acknowledged, or
        its breach over) pages the next level once. Each lapse escalates once."""
        out = Outcome()
        breach_id, step, due_ms = str(lapse["breach_id"]), str(lapse["step"]), int(lapse["due_ms"])
        key = f"{breach_id}|{step}|{due_ms}"
        if key in self.lapses:
            return out
        self.lapses[key] = now_ms
        labels = {**{str(k): str(v) for k, v in (lapse.get("labels") or {}).items()}, "breach_id": breach_id}
        labels.setdefault("severity", str(lapse.get("severity") or "WARNING"))
        receiver = str(lapse["team"])
        climbing = sorted(k for k in self.ladders if k.endswith(f"|{breach_id}"))
        policy = self.policies.get(self.ladders[climbing[0]].policy) if climbing else self.alerting.policy_for(labels)
        if policy is None or not policy.levels:
            return out  # no ladder for it: the overdue case is on cx.cases and the metric, nothing to page
        if climbing:
            step_now = self.ladders[climbing[0]]
            if step_now.since_ms >= due_ms:
                return out  # the ladder's own clock already paged the next level for this lapse
            receiver = step_now.receiver
        else:
            previous = int((self.acked.get(breach_id) or {}).get("level", 0))
            step_now = LadderStep(policy.id, previous, now_ms, receiver, f"{{}}:{{case_id={case_id_for(breach_id)}}}")
        step_now.level = min(step_now.level + 1, len(policy.levels))
        step_now.since_ms = now_ms
        level = policy.levels[step_now.level - 1]
        record = self._ladder_record(policy, step_now, breach_id, labels, level.receiver or step_now.receiver, now_ms)
        record["escalation_id"] = "esc-" + _digest(f"{key}|{record['receiver']}")
        record["labels"]["sla"] = step
        record["summary"] = f"{step} overdue, paging {level.notify}: {self.summaries.get(breach_id, breach_id)}"
        out.escalations.append(record)
        out.case_actions.append(escalate_action(record, now_ms))
        return out

    def on_silence(self, silence: Silence) -> None:
        """Added, changed or expired (an expired silence is sent again with its new end)."""
        self.silences[silence.id] = silence
        self.dispatcher.silences = list(self.silences.values())

    # --- the clock -----------------------------------------------------------------------------------------

    def _resolve_hot(self, breach_id: str, now_ms: int) -> dict[str, Any]:
        record = hot_breach_record(self.hot.pop(breach_id), "RESOLVED", now_ms)
        self.on_breach(record, now_ms)
        return record

    def tick(self, now_ms: int) -> Outcome:
        out = Outcome()
        for breach_id, alert in sorted(self.hot.items()):
            if alert.resolve_at_ms <= now_ms:
                out.breaches.append(self._resolve_hot(breach_id, now_ms))
        for note in self.dispatcher.due(now_ms):
            first = self._first_event(note.firing)
            record = escalation_record(note, self.summaries, first[0] if first else None)
            out.escalations.append(record)
            out.case_actions.extend(open_actions(note, record["escalation_id"], set(self.hot)))
            if first and not note.repeat:
                out.latencies_s.append(max(0.0, (now_ms - first[1]) / 1000))
            self._start_ladders(note)
        climbed = self._climb(now_ms)
        out.escalations.extend(climbed)
        out.case_actions.extend(escalate_action(record, now_ms) for record in climbed)
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
            key = f"{note.receiver}|{breach_id}"
            if key in self.ladders or breach_id in self.acked:
                continue
            policy = self.alerting.policy_for(labels)
            if policy is not None:
                self.ladders[key] = LadderStep(policy.id, 0, note.at_ms, note.receiver, note.group_key)

    def _climb(self, now_ms: int) -> list[dict[str, Any]]:
        firing = list(self.alerts.values())
        out = []
        for key in sorted(self.ladders):
            step = self.ladders[key]
            breach_id = key.split("|", 1)[1]
            policy = self.policies.get(step.policy)
            labels = self.alerts.get(breach_id)
            if policy is None or labels is None or step.level >= len(policy.levels):
                continue
            level = policy.levels[step.level]
            if now_ms - step.since_ms < parse_duration_ms(level.after):
                continue
            if muted_by(labels, firing, self.inhibit, self.silences.values(), now_ms):
                continue  # muted meanwhile: the ladder waits, it does not page around a silence
            step.level += 1
            step.since_ms = now_ms
            out.append(self._ladder_record(policy, step, breach_id, labels, level.receiver or step.receiver, now_ms))
        return out

    def _ladder_record(
        self, policy: EscalationPolicy, step: LadderStep, breach_id: str, labels: Labels, receiver: str, now_ms: int
    ) -> dict[str, Any]:
        level = policy.levels[step.level - 1]
        waited = level.after
        return {
            "escalation_id": f"esc-{_digest(f'{receiver}|{breach_id}|level{step.level}|{step.receiver}')}",
            "receiver": receiver,
            "group_key": step.group_key,
            "severity": labels.get("severity", "WARNING"),
            "level": step.level,
            "breach_ids": [breach_id],
            "labels": {
                **{k: v for k, v in labels.items() if k != "breach_id"},
                "status": "firing",
                "policy": policy.id,
                "notify": level.notify,
                "case_id": case_id_for(breach_id),
            },
            "created_at": _at(now_ms),
            "first_event_time": None,
            "summary": f"not acknowledged after {waited}, paging {level.notify}: "
            f"{self.summaries.get(breach_id, breach_id)}",
        }

    def _forget_ladder(self, breach_id: str) -> None:
        for key in [k for k in self.ladders if k.endswith(f"|{breach_id}")]:
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
        self.lapses = {k: at for k, at in self.lapses.items() if now_ms - at < OVERDUE_MEMORY_MS}

    def to_json(self) -> dict[str, Any]:
        return {
            "dispatcher": self.dispatcher.to_json(),
            "alerts": self.alerts,
            "summaries": self.summaries,
            "hot": {b: a.to_json() for b, a in self.hot.items()},
            "ladders": {k: s.to_json() for k, s in self.ladders.items()},
            "acked": self.acked,
            "lapses": self.lapses,
            "last_breach": self.last_breach,
            "silences": {s.id: s.to_json() for s in self.silences.values()},
        }

    @property
    def unmatched(self) -> int:
        return self.dispatcher.unmatched

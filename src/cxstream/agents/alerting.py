"""The routing side of alerting, owned by one agent so that groups, timers and ladders have a single writer.

Everything it reacts to arrives on a one-partition internal control topic: clock ticks from a leader timer,
hot alerts from the events agent, acknowledgements from ``cx.case-actions`` and silences from
``cx.silences`` (both forwarded by :mod:`cxstream.agents.alert_inputs`). On a tick the agent evaluates the
threshold rules on the windows that ended, keeps each scope's state in a table and publishes the breach
lifecycle to ``cx.breaches``; on every message the alert desk (:mod:`cxstream.domain.escalation`) says which
notifications and ladder steps are due, and they go to ``cx.escalations.<team>``.

A control topic rather than timers doing the work: Faust tables can only change inside stream iteration, and
a message handled again after a crash is harmless (rules ignore windows already judged; the desk ignores hot
alerts it knows; records published again carry the same ids).

Threshold rules need windows covering every ``cx.events`` partition: a worker holding only some skips the
threshold part of the round and says so (``cxstream_breach_evaluations_total{outcome="skipped_partial"}``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.metric_tables import MetricTables
from cxstream.domain.alerting import Alerting
from cxstream.domain.breaches import state_from_json, state_to_json
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.escalation import ENDING_ACTIONS, AlertDesk, Outcome
from cxstream.domain.evaluation import assess, breach_record
from cxstream.domain.hot_alerts import HotAlert
from cxstream.domain.metrics import MetricsSpec
from cxstream.domain.routing import Silence
from cxstream.domain.topology import ESCALATION_PREFIX
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import (
    ALERTING_INPUTS,
    BREACH_EVALUATIONS,
    BREACHES,
    ESCALATION_LATENCY,
    ESCALATIONS,
    OPEN_BREACHES,
    UNROUTED_ALERTS,
)

CONTROL_TOPIC = "cxstream-alerting-control"
STATE_TABLE = "cxstream-breach-state"
DESK_TABLE = "cxstream-escalation-state"
BREACHES_TOPIC = "cx.breaches"
CASE_ACTIONS_TOPIC = "cx.case-actions"
log = get_logger(__name__)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@dataclass
class Control:
    """Puts messages on the control topic; handed to the agents that feed the routing side."""

    topic: Any
    last_breach: Callable[[], Any] = lambda: None  # the last breach the routing side saw (on its worker)
    desk_table: Any = None  # the desk's saved state under key "state": open alerts, ladders, silences

    async def _send(self, message: dict[str, Any]) -> None:
        await self.topic.send(key=b"control", value=json.dumps(message, separators=(",", ":")).encode())

    async def hot(self, alert: HotAlert) -> None:
        await self._send({"kind": "hot", "alert": alert.to_json()})

    async def ack(self, case_id: str, actor: str, at_ms: int, action: str) -> None:
        await self._send({"kind": "ack", "case_id": case_id, "actor": actor, "at_ms": at_ms, "action": action})

    async def overdue(self, lapse: dict[str, Any]) -> None:
        await self._send({"kind": "overdue", "lapse": lapse})

    async def silence(self, silence: Silence) -> None:
        await self._send({"kind": "silence", "silence": silence.to_json()})

    async def tick(self) -> None:
        await self._send({"kind": "tick", "at_ms": _now_ms()})


def register(
    app: faust.App,
    alerting: Alerting,
    metrics: MetricsSpec,
    tables: MetricTables,
    breaches_serializer: str,
    serializer_for: Callable[[str], str],
) -> Control | None:
    if not alerting.active or alerting.routing is None:
        return None
    owners = {d.id: d.owner for d in metrics.definitions}
    topic = app.topic(
        CONTROL_TOPIC, internal=True, partitions=1, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw",
    )  # fmt: skip
    control = Control(topic)
    states = app.Table(STATE_TABLE, default=None, key_type=str, value_type=None, partitions=1)
    desk_table = app.Table(DESK_TABLE, default=None, key_type=str, value_type=None, partitions=1)
    control.last_breach = lambda: (desk_table.get("state") or {}).get("last_breach")
    control.desk_table = desk_table
    breaches = app.topic(BREACHES_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=breaches_serializer)
    case_actions = app.topic(
        CASE_ACTIONS_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=serializer_for(CASE_ACTIONS_TOPIC)
    )
    routes = alerting.routing.build()
    team_topics: dict[str, Any] = {}
    cache: dict[str, Any] = {}  # the desk built from the table value it was last saved as

    def team_topic(receiver: str) -> Any:
        if receiver not in team_topics:
            name = f"{ESCALATION_PREFIX}{receiver}"
            team_topics[receiver] = app.topic(
                name, key_type=bytes, key_serializer="raw", value_serializer=serializer_for(name)
            )
        return team_topics[receiver]

    @app.timer(parse_duration_ms(alerting.evaluate_every) / 1000, on_leader=True)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await control.tick()

    def desk() -> AlertDesk:
        saved = desk_table.get("state")
        if cache.get("saved") is not saved or "desk" not in cache:  # recovered or moved: rebuild from the table
            cache["desk"] = AlertDesk(alerting, routes, saved or {})
            cache["saved"] = saved
        return cache["desk"]  # type: ignore[no-any-return]

    def save(current: AlertDesk) -> None:
        state = current.to_json()
        if state != cache.get("saved"):
            desk_table["state"] = state
            cache["saved"] = state
        UNROUTED_ALERTS.set(current.unmatched)

    @app.agent(topic, name="cxstream.alerting")
    async def route(stream: Any) -> None:
        async for event in stream.events():
            kind = "unknown"
            try:
                message = json.loads(event.value)
                kind = str(message.get("kind"))
                current = desk()
                now_ms = _now_ms()
                outcome = await _handle(current, kind, message, now_ms)
                await _publish(outcome)
                save(current)
                ALERTING_INPUTS.labels(kind=kind, outcome=outcome_label(outcome)).inc()
            except Exception:  # one bad message must not stop the next one
                log.exception("alerting_failed", kind=kind, offset=event.message.offset)
                ALERTING_INPUTS.labels(kind=kind, outcome="failed").inc()
                cache.clear()  # the desk may be half-changed: start again from the table

    def outcome_label(outcome: Outcome | None) -> str:
        return "ignored" if outcome is None else "done"

    async def _handle(current: AlertDesk, kind: str, message: dict[str, Any], now_ms: int) -> Outcome | None:
        if kind == "tick":
            at = datetime.fromtimestamp(int(message["at_ms"]) / 1000, UTC)
            for record in await _thresholds(at):
                current.on_breach(record, now_ms)
            return current.tick(now_ms)
        if kind == "hot":
            fired = current.on_hot(HotAlert.from_json(message["alert"]), now_ms)
            if fired is None:
                return None
            await _send_breach(fired)
            return current.tick(now_ms)
        if kind == "ack":
            case_id = str(message["case_id"])
            if current.on_ack(case_id, str(message["actor"]), int(message["at_ms"])):
                log.info("ladder_stopped", case_id=case_id, actor=message["actor"])
            if message.get("action") in ENDING_ACTIONS:
                return current.on_case_ended(case_id, now_ms)
            return Outcome()
        if kind == "overdue":
            return current.on_overdue(message["lapse"], now_ms)
        if kind == "silence":
            current.on_silence(Silence.from_json(message["silence"]))
            return current.tick(now_ms)  # an expired silence may let a notification out at once
        raise ValueError(f"unknown control message kind {kind!r}")

    async def _send_breach(record: dict[str, Any]) -> None:
        await breaches.send(key=str(record["breach_id"]).encode(), value=record)
        BREACHES.labels(rule=record["rule_id"], status=record["status"], severity=record["severity"]).inc()
        log.info(
            "breach", breach_id=record["breach_id"], rule=record["rule_id"], kind=record["kind"],
            status=record["status"], severity=record["severity"], scope=record["scope"], n=record["n"],
        )  # fmt: skip

    async def _publish(outcome: Outcome | None) -> None:
        if outcome is None:
            return
        for record in outcome.breaches:
            await _send_breach(record)
        for escalation in outcome.escalations:
            await team_topic(escalation["receiver"]).send(key=escalation["group_key"].encode(), value=escalation)
            ESCALATIONS.labels(
                receiver=escalation["receiver"], severity=escalation["severity"], level=str(escalation["level"])
            ).inc()
            log.info(
                "escalation", escalation_id=escalation["escalation_id"], receiver=escalation["receiver"],
                level=escalation["level"], breaches=escalation["breach_ids"], status=escalation["labels"]["status"],
            )  # fmt: skip
        for seconds in outcome.latencies_s:
            ESCALATION_LATENCY.observe(seconds)
        for action in outcome.case_actions:
            await case_actions.send(key=str(action["case_id"]).encode(), value=action)

    async def _thresholds(now: datetime) -> list[dict[str, Any]]:
        have, total = tables.coverage()
        if have != total:
            BREACH_EVALUATIONS.labels(outcome="skipped_partial").inc()
            return []
        cells = tables.snapshot()
        published: list[dict[str, Any]] = []
        known = {key: state_from_json(value) for key, value in list(states.items()) if value is not None}
        open_count: Counter[tuple[str, str]] = Counter()
        for rule in alerting.thresholds:
            mine = {k: v for k, v in known.items() if k.startswith(f"{rule.id}|")}
            changed, verdicts = assess(rule, metrics, cells, mine, now)
            for verdict in verdicts:
                record = breach_record(verdict, rule, owners.get(rule.metric, ""), now)
                await _send_breach(record)
                published.append(record)
            for key, state in changed.items():
                states[key] = state_to_json(state)
                known[key] = state
            open_count.update(_open(known, rule.id))
        for rule in alerting.thresholds:
            for severity in ("WARNING", "CRITICAL"):
                OPEN_BREACHES.labels(rule=rule.id, severity=severity).set(open_count[(rule.id, severity)])
        BREACH_EVALUATIONS.labels(outcome="done").inc()
        return published

    return control


def _open(known: dict[str, Any], rule_id: str) -> Iterable[tuple[str, str]]:
    for key, state in known.items():
        if key.startswith(f"{rule_id}|") and state.open_id and state.severity:
            yield (rule_id, state.severity.value)

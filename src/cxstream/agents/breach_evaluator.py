"""Threshold rules against the live windows, on a clock: a leader timer puts a tick on a one-partition
internal topic; the agent that owns it reads the windows that ended, evaluates every rule and scope, keeps
each scope's state in a changelog-backed table, and publishes the breach lifecycle to ``cx.breaches``. The
same agent then routes the open breaches through the Alertmanager-style dispatcher (groups and timers kept
in a table too) and publishes the notifications it lets out to ``cx.escalations.<team>``.

Ticks rather than a timer doing the work: Faust tables can only change inside stream iteration, and a tick
replayed after a crash is harmless (a rule ignores windows it has already judged). A record sent again after
a crash carries the same breach id and status, so consumers drop it.

The windows must cover every ``cx.events`` partition: a worker holding only some skips the round and says
so (``cxstream_breach_evaluations_total{outcome="skipped_partial"}``). With several workers, the metric table
has to be made global first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.metric_tables import MetricTables
from cxstream.domain.breaches import Alerting, state_from_json, state_to_json
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.escalation import apply_breach, escalation_record
from cxstream.domain.evaluation import assess, breach_record
from cxstream.domain.metrics import MetricsSpec
from cxstream.domain.routing import Dispatcher
from cxstream.domain.topology import ESCALATION_PREFIX
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import BREACH_EVALUATIONS, BREACHES, ESCALATIONS, OPEN_BREACHES

TICKS_TOPIC = "cxstream-breach-ticks"
STATE_TABLE = "cxstream-breach-state"
ROUTING_TABLE = "cxstream-escalation-state"
BREACHES_TOPIC = "cx.breaches"
log = get_logger(__name__)


def register(
    app: faust.App,
    alerting: Alerting,
    metrics: MetricsSpec,
    tables: MetricTables,
    breaches_serializer: str,
    serializer_for: Callable[[str], str],
    events_topic: str,
) -> None:
    if not alerting.thresholds:
        return
    owners = {d.id: d.owner for d in metrics.definitions}
    ticks = app.topic(
        TICKS_TOPIC, internal=True, partitions=1, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw",
    )  # fmt: skip
    states = app.Table(STATE_TABLE, default=None, key_type=str, value_type=None, partitions=1)
    breaches = app.topic(BREACHES_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=breaches_serializer)
    every_s = parse_duration_ms(alerting.evaluate_every) / 1000
    routing_state = app.Table(ROUTING_TABLE, default=None, key_type=str, value_type=None, partitions=1)
    route_tree = alerting.routing.build() if alerting.routing is not None else None
    team_topics: dict[str, Any] = {}

    def team_topic(receiver: str) -> Any:
        if receiver not in team_topics:
            team_topics[receiver] = app.topic(
                f"{ESCALATION_PREFIX}{receiver}",
                key_type=bytes,
                key_serializer="raw",
                value_serializer=serializer_for(f"{ESCALATION_PREFIX}{receiver}"),
            )
        return team_topics[receiver]

    @app.timer(every_s, on_leader=True)  # type: ignore[untyped-decorator]  # faust.App.timer is not typed
    async def tick() -> None:
        await ticks.send(key=b"tick", value=str(int(datetime.now(UTC).timestamp() * 1000)).encode())

    def holds_all() -> bool:
        have, total = tables.coverage(events_topic)
        return have == total

    @app.agent(ticks, name="cxstream.breach-evaluator")
    async def evaluator(stream: Any) -> None:
        async for event in stream.events():
            try:
                if not holds_all():
                    BREACH_EVALUATIONS.labels(outcome="skipped_partial").inc()
                    continue
                now = datetime.fromtimestamp(int(event.value) / 1000, UTC)
                await _round(now)
                BREACH_EVALUATIONS.labels(outcome="done").inc()
            except Exception:  # a bad round must not stop the next one
                log.exception("breach_evaluation_failed")
                BREACH_EVALUATIONS.labels(outcome="failed").inc()

    async def _route(records: list[dict[str, Any]], now: datetime) -> None:
        if route_tree is None:
            return
        root, inhibit = route_tree
        dispatcher = Dispatcher(root, inhibit)
        saved = routing_state.get("state") or {}
        dispatcher.restore(saved.get("dispatcher") or {})
        alerts: dict[str, dict[str, str]] = dict(saved.get("alerts") or {})
        summaries: dict[str, str] = dict(saved.get("summaries") or {})
        now_ms = int(now.timestamp() * 1000)
        for record in records:
            apply_breach(dispatcher, record, alerts, now_ms)
            summaries[record["breach_id"]] = record["summary"]
        for note in dispatcher.due(now_ms):
            escalation = escalation_record(note, summaries)
            await team_topic(note.receiver).send(key=escalation["group_key"].encode(), value=escalation)
            ESCALATIONS.labels(receiver=note.receiver, severity=escalation["severity"]).inc()
            log.info(
                "escalation", escalation_id=escalation["escalation_id"], receiver=note.receiver,
                breaches=escalation["breach_ids"], status=escalation["labels"]["status"],
            )  # fmt: skip
        pending = {
            a["breach_id"] for g in dispatcher.groups.values() for a in [*g.firing.values(), *g.resolved.values()]
        }
        state = {
            "dispatcher": dispatcher.to_json(),
            "alerts": alerts,
            "summaries": {b: text for b, text in summaries.items() if b in pending or b in alerts},
        }
        if state != saved:
            routing_state["state"] = state

    async def _round(now: datetime) -> None:
        cells = tables.snapshot()
        published: list[dict[str, Any]] = []
        known = {key: state_from_json(value) for key, value in list(states.items()) if value is not None}
        open_count: Counter[tuple[str, str]] = Counter()
        for rule in alerting.thresholds:
            mine = {k: v for k, v in known.items() if k.startswith(f"{rule.id}|")}
            changed, verdicts = assess(rule, metrics, cells, mine, now)
            for verdict in verdicts:
                record = breach_record(verdict, rule, owners.get(rule.metric, ""), now)
                await breaches.send(key=verdict.change.breach_id.encode(), value=record)
                published.append(record)
                BREACHES.labels(rule=rule.id, status=record["status"], severity=record["severity"]).inc()
                log.info(
                    "breach", breach_id=record["breach_id"], rule=rule.id, status=record["status"],
                    severity=record["severity"], scope=record["scope"], n=record["n"],
                )  # fmt: skip
            for key, state in changed.items():
                states[key] = state_to_json(state)
                known[key] = state
            for key, state in known.items():
                if key.startswith(f"{rule.id}|") and state.open_id and state.severity:
                    open_count[(rule.id, state.severity.value)] += 1
        for rule in alerting.thresholds:
            for severity in ("WARNING", "CRITICAL"):
                OPEN_BREACHES.labels(rule=rule.id, severity=severity).set(open_count[(rule.id, severity)])
        await _route(published, now)

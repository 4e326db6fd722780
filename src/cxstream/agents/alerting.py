"""The routing side of alerting, owned by one agent so that groups, timers and ladders have a single writer.

Everything it reacts to arrives on a one-partition internal control topic: clock ticks from a leader timer,
hot alerts from the events agent, acknowledgements from ``cx.case-actions`` and silences from
``cx.silences`` (both forwarded by :mod:`cxstream.agents.alert_inputs`). On a tick the agent evaluates the
threshold rules on the windows that ended, keeps each scope's state in a table and publishes the breach
lifecycle to ``cx.breaches``; on every message the alert desk (:mod:`cxstream.domain.alerting.desk`) says which
notifications and ladder steps are due, and they go to ``cx.escalations.<team>``.

A control topic rather than timers doing the work: Faust tables can only change inside stream iteration, and
a message handled again after a crash is harmless (rules ignore windows already judged; the desk ignores hot
alerts it knows; records published again carry the same ids).

Threshold rules read windows over every ``cx.events`` partition: the partitions this worker holds from its own
table, the others' from the cells their owners wrote to the metric changelog (:mod:`cxstream.agents.cell_replica`;
cells are sufficient statistics, so the merge is exact). While that replica is loading, or a partition has no owner
(a rebalance), the threshold part of the round is skipped and says so
(``cxstream_breach_evaluations_total{outcome="skipped_partial"}``); the sequential test catches up on the buckets
it missed at the next round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.assignment import held
from cxstream.agents.audits import AuditWatch
from cxstream.agents.guard import Guards
from cxstream.agents.handovers import HandoverWatch
from cxstream.agents.locations import SiteWatch
from cxstream.agents.metric_tables import MetricTables
from cxstream.agents.staffing import Staffing
from cxstream.domain.alerting import control as messages
from cxstream.domain.alerting.control import (
    AckInput,
    ControlMessage,
    HotInput,
    OverdueInput,
    PresenceInput,
    SilenceInput,
    Tick,
)
from cxstream.domain.alerting.desk import ENDING_ACTIONS, AlertDesk, Outcome
from cxstream.domain.alerting.evaluation import evaluate_thresholds
from cxstream.domain.alerting.hot_alerts import HotAlert, HotAlertRule, detect
from cxstream.domain.alerting.records import Breach, LastBreach
from cxstream.domain.alerting.routing import Silence
from cxstream.domain.alerting.spec import Alerting
from cxstream.domain.alerting.state import DeskState
from cxstream.domain.alerting.thresholds import BreachKey, BreachState
from cxstream.domain.base import Json, from_ms, now_ms
from cxstream.domain.cases.machine import action_record
from cxstream.domain.catalog import Internal, Tables, Topics
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.topology import ESCALATION_PREFIX
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import (
    ALERTING_INPUTS,
    BREACH_EVALUATIONS,
    BREACHES,
    DUPLICATES,
    ESCALATION_LATENCY,
    ESCALATIONS,
    EXPECTED_FALSE_BREACHES,
    HOT_ALERTS,
    OPEN_BREACHES,
    QUEUE_AGENTS_REQUIRED,
    QUEUE_AGENTS_STAFFED,
    QUEUE_SERVICE_LEVEL,
    THRESHOLD_PARTITIONS,
    UNROUTED_ALERTS,
)

AGENT = "cxstream.alerting"
CONTROL_TOPIC = Internal.ALERTING_CONTROL
STATE_TABLE = Tables.BREACH_STATE
DESK_TABLE = Tables.ESCALATION_STATE
DESK_KEY = "state"  # the desk table holds one value: the whole DeskState
BREACHES_TOPIC = Topics.BREACHES
CASE_ACTIONS_TOPIC = Topics.CASE_ACTIONS
#: what the routing desk's rounds set: only the worker holding the desk reports them
DESK_GAUGES = (THRESHOLD_PARTITIONS, OPEN_BREACHES, EXPECTED_FALSE_BREACHES, QUEUE_AGENTS_STAFFED,
               QUEUE_AGENTS_REQUIRED, QUEUE_SERVICE_LEVEL)  # fmt: skip
log = get_logger(__name__)


@dataclass
class Control:
    """Puts messages on the control topic; handed to the agents that feed the routing side."""

    topic: Any
    desk_table: Any = None  # the desk's saved DeskState JSON under DESK_KEY: open alerts, ladders, silences
    staffing: Staffing | None = None  # agents' presence and staffing gaps (None: no workforce queues)
    sites: SiteWatch | None = None  # execution gaps across locations (None: no locations declared)
    audits: AuditWatch | None = None  # drifts from audited standards (None: no audits declared)
    handovers: HandoverWatch | None = None  # shift handovers and their escalation (None: no shifts declared)

    def desk_state(self) -> DeskState:
        """This worker's copy of the desk's saved state (empty when there is none)."""
        return DeskState.from_json(self.desk_table.get(DESK_KEY) if self.desk_table is not None else None)

    def last_breach(self) -> LastBreach | None:
        """The last breach the routing side saw (on its worker)."""
        return self.desk_state().last_breach

    async def send(self, message: ControlMessage) -> None:
        await self.topic.send(key=b"control", value=messages.encode(message))

    async def hot(self, alert: HotAlert) -> None:
        await self.send(HotInput(alert))

    async def try_hot_rules(self, rules: Sequence[HotAlertRule], event: CanonicalEvent) -> None:
        """Send the hot alerts ``event`` raises to the routing side; count the rules it matched too late for."""
        alerts, stale = detect(rules, event, datetime.now(UTC))
        for alert in alerts:
            await self.hot(alert)
            HOT_ALERTS.labels(rule=alert.rule_id, outcome="raised").inc()
        for rule_id in stale:
            HOT_ALERTS.labels(rule=rule_id, outcome="stale").inc()
        if stale:
            log.info("hot_alert_stale", event_id=event.event_id, rules=stale)

    async def silence(self, silence: Silence) -> None:
        await self.send(SilenceInput(silence))

    async def tick(self) -> None:
        await self.send(Tick(now_ms()))


def register(
    app: faust.App,
    alerting: Alerting,
    metrics: MetricsSpec,
    tables: MetricTables,
    breaches_serializer: str,
    serializer_for: Callable[[str], str],
    guards: Guards,
    staffing: Staffing | None = None,
    sites: SiteWatch | None = None,
    audits: AuditWatch | None = None,
    handovers: HandoverWatch | None = None,
) -> Control | None:
    busy = (alerting.active or (staffing is not None and staffing.active) or sites is not None or audits is not None
            or handovers is not None)  # fmt: skip
    if not busy or alerting.routing is None:
        return None
    topic = app.topic(
        CONTROL_TOPIC, internal=True, partitions=1, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw",
    )  # fmt: skip
    states = app.Table(STATE_TABLE, default=None, key_type=str, value_type=None, partitions=1)
    # the whole desk is one value (one record per save, so a crash never leaves half of it): about 1.4 KB per open
    # hot alert, over Kafka's default 1 MB per record at some 740 of them; its changelog takes what the producer sends
    largest = {"max.message.bytes": str(app.conf.producer_max_request_size)}
    desk_table = app.Table(DESK_TABLE, default=None, key_type=str, value_type=None, partitions=1,
                           extra_topic_configs=largest)  # fmt: skip
    control = Control(topic, desk_table, staffing if staffing is not None and staffing.active else None, sites,
                      audits, handovers)  # fmt: skip
    breaches = app.topic(BREACHES_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=breaches_serializer)
    case_actions = app.topic(
        CASE_ACTIONS_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=serializer_for(CASE_ACTIONS_TOPIC)
    )
    routes = alerting.routing.build()
    team_topics: dict[str, Any] = {}

    @dataclass
    class Cached:
        saved: object = None  # the table value the desk was built from or last saved as
        desk: AlertDesk | None = None

    cache = Cached()

    def team_topic(receiver: str) -> Any:
        if receiver not in team_topics:
            name = f"{ESCALATION_PREFIX}{receiver}"
            team_topics[receiver] = app.topic(
                name, key_type=bytes, key_serializer="raw", value_serializer=serializer_for(name)
            )
        return team_topics[receiver]

    def left_the_desk(*args: object, **kwargs: object) -> None:
        """The desk's gauges describe the rounds of the worker holding the control topic. A worker the desk moved
        away from drops them: a sum over the workers counts each open breach once, and no worker goes on showing a
        round it no longer runs."""
        if not held(app, topic.get_topic_name()):
            for gauge in DESK_GAUGES:
                gauge.clear()
            UNROUTED_ALERTS.set(0)

    app.on_partitions_assigned.connect(left_the_desk)

    @app.timer(parse_duration_ms(alerting.evaluate_every) / 1000, on_leader=True)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await control.tick()

    def desk() -> AlertDesk:
        saved = desk_table.get(DESK_KEY)
        if cache.desk is None or cache.saved is not saved:  # recovered or moved: rebuild from the table
            cache.desk = AlertDesk(alerting, routes, DeskState.from_json(saved))
            cache.saved = saved
        return cache.desk

    def save(current: AlertDesk) -> None:
        state: Json = current.to_json()
        if state != cache.saved:
            desk_table[DESK_KEY] = state
            cache.saved = state
        UNROUTED_ALERTS.set(current.unmatched)

    guard = guards.of(AGENT)

    async def handle(event: Any) -> None:
        message = messages.decode(event.value)
        current = desk()
        outcome = await _handle(current, message, now_ms())
        await _publish(outcome)
        if not isinstance(message, PresenceInput):  # an agent's status is the staffing side's: the desk is unchanged
            save(current)  # (a save serializes the whole desk: see docs/alerting.md)
        ALERTING_INPUTS.labels(kind=messages.kind_of(message), outcome="ignored" if outcome is None else "done").inc()

    async def failed(event: Any, exc: Exception) -> None:
        """One bad message must not stop the next one (up to the dead-letter limit)."""
        kind = messages.peek_kind(event.value)
        log.exception("alerting_failed", kind=kind, offset=event.message.offset)
        ALERTING_INPUTS.labels(kind=kind, outcome="failed").inc()
        cache.desk = None  # the desk may be half-changed: start again from the table

    @app.agent(topic, name=AGENT)
    async def route(stream: Any) -> None:
        await guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            await guard.run(event, event, handle, failed)

    async def _handle(current: AlertDesk, message: ControlMessage, now: int) -> Outcome | None:
        match message:
            case Tick(at_ms):
                for breach in await _thresholds(at_ms):
                    current.on_breach(breach, now)
                for breach in await _staffing_gaps(at_ms):
                    current.on_breach(breach, now)
                for breach in await _execution_gaps(at_ms):
                    current.on_breach(breach, now)
                return current.tick(now)
            case PresenceInput(presence):
                if control.staffing is None or not control.staffing.on_presence(presence):
                    return None
                return Outcome()
            case HotInput(alert):
                fired = current.on_hot(alert, now)
                if fired is None:  # the event was handled again (a replay): its alert is known
                    DUPLICATES.labels(topic=CONTROL_TOPIC).inc()
                    return None
                await _send_breach(fired)
                return current.tick(now)
            case AckInput(case_id, actor, at_ms, action):
                if current.on_ack(case_id, actor, at_ms):
                    log.info("ladder_stopped", case_id=case_id, actor=actor)
                if action in ENDING_ACTIONS:
                    return current.on_case_ended(case_id, now)
                return Outcome()
            case OverdueInput(lapse):
                return current.on_overdue(lapse, now)
            case SilenceInput(silence):
                current.on_silence(silence)
                return current.tick(now)  # an expired silence may let a notification out at once

    async def _send_breach(breach: Breach) -> None:
        await breaches.send(key=breach.key, value=breach.to_record())
        BREACHES.labels(rule=breach.rule_id, status=breach.status.value, severity=breach.severity.value).inc()
        log.info(
            "breach", breach_id=breach.breach_id, rule=breach.rule_id, kind=breach.kind.value,
            status=breach.status.value, severity=breach.severity.value, scope=dict(breach.scope), n=breach.n,
        )  # fmt: skip

    async def _publish(outcome: Outcome | None) -> None:
        if outcome is None:
            return
        for breach in outcome.breaches:
            await _send_breach(breach)
        for escalation in outcome.escalations:
            await team_topic(escalation.receiver).send(key=escalation.key, value=escalation.to_record())
            ESCALATIONS.labels(
                receiver=escalation.receiver, severity=escalation.severity.value, level=str(escalation.level)
            ).inc()
            log.info(
                "escalation", escalation_id=escalation.escalation_id, receiver=escalation.receiver,
                ladder_level=escalation.level, breaches=list(escalation.breach_ids), status=escalation.status,
            )  # fmt: skip
        for seconds in outcome.latencies_s:
            ESCALATION_LATENCY.observe(seconds)
        for action in outcome.case_actions:
            await case_actions.send(key=action.case_id.encode(), value=action_record(action))

    async def _staffing_gaps(at_ms: int) -> list[Breach]:
        if control.staffing is None:
            return []
        gaps = control.staffing.evaluate(at_ms)
        for breach in gaps:
            await _send_breach(breach)
        return gaps

    async def _execution_gaps(at_ms: int) -> list[Breach]:
        gaps = control.sites.evaluate(at_ms) if control.sites is not None else []
        if control.audits is not None:
            gaps = [*gaps, *control.audits.evaluate(at_ms)]
            await control.audits.publish()
        if control.handovers is not None:
            gaps = [*gaps, *control.handovers.evaluate(at_ms)]
            await control.handovers.publish()
        for breach in gaps:
            await _send_breach(breach)
        return gaps

    async def _thresholds(at_ms: int) -> list[Breach]:
        if not alerting.thresholds:
            return []
        whole = tables.whole()
        if whole is None:
            BREACH_EVALUATIONS.labels(outcome="skipped_partial").inc()
            return []
        cells, replicated = whole
        THRESHOLD_PARTITIONS.labels(source="own").set(tables.coverage()[1] - replicated)
        THRESHOLD_PARTITIONS.labels(source="replica").set(replicated)
        known = {BreachKey.decode(k): BreachState.from_json(v) for k, v in list(states.items()) if v is not None}
        round_ = evaluate_thresholds(alerting, metrics, cells, known, from_ms(at_ms))
        for breach in round_.breaches:
            await _send_breach(breach)
        for key, state in round_.changed.items():
            states[key.encode()] = state.to_json()
        for (rule_id, severity), count in round_.open_counts.items():
            OPEN_BREACHES.labels(rule=rule_id, severity=severity.value).set(count)
        for rule_id, expected in round_.expected_false_per_day.items():
            EXPECTED_FALSE_BREACHES.labels(rule=rule_id).set(expected)
        BREACH_EVALUATIONS.labels(outcome="done").inc()
        return list(round_.breaches)

    return control

"""Cases from their actions: every record on ``cx.case-actions`` (keyed by case id) goes through the case
state machine of :mod:`cxstream.domain.cases.machine`; the case's state lives in a changelog-backed table and each
change is published to the compacted ``cx.cases``. An action the machine refuses goes to the dead-letter topic
with its rule id and message; the action stays on ``cx.case-actions`` as part of the audit trail.

SLA timers: a leader timer puts one tick on each partition of an internal clock topic with as many partitions
as ``cx.case-actions``, so each tick reaches the worker that holds that partition of the cases table (Faust
assigns topics of equal partition count together). On a tick the agent checks the cases of that partition
against their deadlines and records each lapse as an OVERDUE action on ``cx.case-actions``; the state comes
from the changelog after a restart and the check from the clock, not from new actions.

Accepted actions that concern a breach's escalation ladder (taking the case, a missed SLA step) go on to the
routing side's control topic; a refused one changes nothing there.

Recurrence: each opened case is sent, keyed by subject (customer, driver at a site), to an internal topic; the
recurrence agent keeps each subject's recent cases in its own table and flags a case recurring with a
FLAG_RECURRING action when the subject had another within the window.
"""

from __future__ import annotations

import json
from typing import Any

import faust

from cxstream.agents.alerting import Control
from cxstream.agents.dead_letters import DeadLetterSink
from cxstream.agents.guard import Guards
from cxstream.agents.invites import Contacts
from cxstream.agents.stores import Store
from cxstream.domain.alerting.control import from_case_action
from cxstream.domain.base import now_ms
from cxstream.domain.cases.machine import (
    ActionType,
    CasePolicy,
    Refused,
    StoredCase,
    action_from_record,
    action_record,
    apply,
    case_record,
    overdue_actions,
)
from cxstream.domain.cases.recurrence import effects, flag_action, history_from_json, history_to_json, remember
from cxstream.domain.catalog import Internal, Tables, Topics
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.ingest.dead_letter import Reason, Stage
from cxstream.domain.remediation.causes import RootCauses
from cxstream.domain.remediation.proposals import proposal_for
from cxstream.domain.remediation.records import action_record as remediation_record
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import CASE_ACTIONS, CASES_OVERDUE, DUPLICATES, RECURRING_CASES
from cxstream.serde.avro import AvroCodec

AGENT, CLOCK_AGENT, RECURRENCE_AGENT = "cxstream.cases", "cxstream.case-clock", "cxstream.case-recurrence"
CASES_TOPIC = Topics.CASES
CASES_TABLE = Tables.CASES
CLOCK_TOPIC = Internal.CASE_CLOCK
SUBJECTS_TOPIC = Internal.CASE_SUBJECTS
SUBJECTS_TABLE = Tables.CASE_SUBJECTS_INDEX
log = get_logger(__name__)


def _raw(app: faust.App, name: str, **kw: Any) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw", **kw)


def register(
    app: faust.App,
    policy: CasePolicy,
    actions_topic: str,
    actions: AvroCodec,
    cases_serializer: str,
    partitions: int,
    dead_letters: DeadLetterSink,
    control: Control | None,
    guards: Guards,
    contacts: Contacts | None = None,
    causes: RootCauses | None = None,
    remediation_serializer: str | None = None,
) -> Any:
    source = _raw(app, actions_topic)
    cases = app.topic(CASES_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=cases_serializer)
    table = Store(app.Table(CASES_TABLE, default=None, key_type=str, value_type=None, partitions=partitions),
                  StoredCase.from_json, StoredCase.to_json)  # fmt: skip
    clock = _raw(app, CLOCK_TOPIC, internal=True, partitions=partitions)
    subjects = _raw(app, SUBJECTS_TOPIC, internal=True, partitions=partitions)
    index = Store(app.Table(SUBJECTS_TABLE, default=None, key_type=str, value_type=None, partitions=partitions),
                  history_from_json, history_to_json)  # fmt: skip
    window_ms = parse_duration_ms(policy.recurring_within)
    remediation = (
        app.topic(Topics.REMEDIATION, key_type=bytes, key_serializer="raw", value_serializer=remediation_serializer)
        if remediation_serializer is not None and causes is not None
        else None
    )

    async def tell_routing(record: dict[str, Any]) -> None:
        message = from_case_action(action_from_record(record))
        if control is not None and message is not None:
            await control.send(message)

    async def record_action(record: dict[str, Any]) -> None:
        await source.send(key=str(record["case_id"]).encode(), value=actions.encode(record))

    follow_guard, clock_guard, recurrence_guard = guards.of(AGENT), guards.of(CLOCK_AGENT), guards.of(RECURRENCE_AGENT)

    @app.agent(source, name=AGENT)
    async def follow(stream: Any) -> None:
        await follow_guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            record = await dead_letters.decoded(event, actions, actions_topic)
            if record is not None:
                await follow_guard.run(event, (event, record), _follow, _follow_failed)

    async def _follow_failed(item: tuple[Any, dict[str, Any]], exc: Exception) -> None:
        event, record = item
        log.exception("case_action_failed", offset=event.message.offset)
        CASE_ACTIONS.labels(action=str(record.get("action")), outcome="failed").inc()
        await dead_letters.send(
            event, source=actions_topic, stage=Stage.PROCESS,
            reasons=[Reason("process.cases", f"{type(exc).__name__}: {exc}")],
        )  # fmt: skip

    async def _follow(item: tuple[Any, dict[str, Any]]) -> None:
        event, record = item
        kind = str(record.get("action"))
        action = action_from_record(record)
        saved = table.get(action.case_id)
        before = saved.case if saved is not None else None
        try:
            after = apply(before, action, policy, causes)
        except Refused as refused:
            CASE_ACTIONS.labels(action=kind, outcome="refused").inc()
            log.info("case_action_refused", case_id=record.get("case_id"), action=kind, rule=refused.rule_id)
            await dead_letters.send(
                event, source=actions_topic, stage=Stage.VALIDATE, reasons=[Reason(refused.rule_id, refused.message)]
            )
            return
        if after == before:
            CASE_ACTIONS.labels(action=kind, outcome="replayed").inc()
            DUPLICATES.labels(topic=actions_topic).inc()
            await tell_routing(record)  # it may not have got there before a crash
            return
        table[action.case_id] = StoredCase(after, event.message.partition)
        await cases.send(key=action.case_id.encode(), value=case_record(after))
        CASE_ACTIONS.labels(action=kind, outcome="applied").inc()
        await tell_routing(record)
        if action.action is ActionType.OVERDUE:
            CASES_OVERDUE.labels(step=str(action.comment), severity=after.severity).inc()
        if action.action is ActionType.FLAG_RECURRING:
            RECURRING_CASES.inc()
        then = effects(before, after)
        if contacts is not None and then.tell_contacts:
            await contacts.case(after)
        for key, value in then.subjects:  # a new case: the recurrence index hears of each subject once
            await subjects.send(key=key.encode(), value=json.dumps(value).encode())
        if remediation is not None and causes is not None:
            proposal = proposal_for(before, after, causes, action.at_ms)
            if proposal is not None:  # a recurring problem with a known cause: the backlog hears of it
                await remediation.send(key=proposal.item_id.encode(), value=remediation_record(proposal))
                log.info("remediation_proposed", case_id=after.case_id, item_id=proposal.item_id)
        log.info("case", case_id=after.case_id, state=after.state.value, action=kind, version=after.version)

    @app.timer(parse_duration_ms(policy.check_every) / 1000, on_leader=True)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        at = json.dumps({"at_ms": now_ms()}).encode()
        for partition in range(partitions):
            await clock.send(key=b"tick", value=at, partition=partition)

    async def _check(event: Any) -> None:
        at_ms = int(json.loads(event.value)["at_ms"])
        mine = [s.case for s in table.values() if s.partition == event.message.partition]
        for case in mine:
            for action in overdue_actions(case, at_ms):
                await record_action(action_record(action))
                log.info("case_overdue", case_id=action.case_id, step=action.comment)

    async def _check_failed(event: Any, exc: Exception) -> None:
        """A clock tick is repeated in a moment: log it and go on."""
        log.exception("case_clock_failed", partition=event.message.partition, offset=event.message.offset)

    @app.agent(clock, name=CLOCK_AGENT)
    async def check(stream: Any) -> None:
        await clock_guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            await clock_guard.run(event, event, _check, _check_failed)

    async def _recur(event: Any) -> None:
        message = json.loads(event.value)
        subject, case_id, opened_ms = str(message["subject"]), str(message["case_id"]), message["opened_ms"]
        history, earlier = remember(index.get(subject) or [], case_id, int(opened_ms), window_ms)
        index[subject] = history
        if earlier:
            await record_action(flag_action(case_id, subject, earlier, now_ms(), policy.recurring_within))
            log.info("case_recurring", case_id=case_id, subject_kind=subject.partition(":")[0], earlier=earlier)

    async def _recur_failed(event: Any, exc: Exception) -> None:
        log.exception("case_recurrence_failed", offset=event.message.offset)

    @app.agent(subjects, name=RECURRENCE_AGENT)
    async def recur(stream: Any) -> None:
        await recurrence_guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            await recurrence_guard.run(event, event, _recur, _recur_failed)

    return table

"""Cases from their actions: every record on ``cx.case-actions`` (keyed by case id) goes through the case
state machine of :mod:`cxstream.domain.cases`; the case's state lives in a changelog-backed table and each
change is published to the compacted ``cx.cases``. An action the machine refuses goes to the dead-letter topic
with its rule id and message; the action stays on ``cx.case-actions`` as part of the audit trail."""

from __future__ import annotations

from typing import Any

import faust

from cxstream.agents.dead_letters import DeadLetterSink
from cxstream.domain.cases import (
    CasePolicy,
    Refused,
    action_from_record,
    apply,
    case_from_json,
    case_record,
    case_to_json,
)
from cxstream.domain.dead_letter import Reason, Stage
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import CASE_ACTIONS
from cxstream.serde.avro import AvroCodec

CASES_TOPIC = "cx.cases"
CASES_TABLE = "cxstream-cases"
log = get_logger(__name__)


def register(
    app: faust.App,
    policy: CasePolicy,
    actions_topic: str,
    actions: AvroCodec,
    cases_serializer: str,
    partitions: int,
    dead_letters: DeadLetterSink,
) -> None:
    source = app.topic(actions_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    cases = app.topic(CASES_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=cases_serializer)
    table = app.Table(CASES_TABLE, default=None, key_type=str, value_type=None, partitions=partitions)

    @app.agent(source, name="cxstream.cases")
    async def follow(stream: Any) -> None:
        async for event in stream.events():
            record = await dead_letters.decoded(event, actions, actions_topic)
            if record is None:
                continue
            kind = str(record.get("action"))
            try:
                action = action_from_record(record)
                saved = table.get(action.case_id)
                before = case_from_json(saved) if saved is not None else None
                after = apply(before, action, policy)
            except Refused as refused:
                CASE_ACTIONS.labels(action=kind, outcome="refused").inc()
                log.info("case_action_refused", case_id=record.get("case_id"), action=kind, rule=refused.rule_id)
                await dead_letters.send(
                    event, source=actions_topic, stage=Stage.VALIDATE,
                    reasons=[Reason(refused.rule_id, refused.message)],
                )  # fmt: skip
                continue
            except Exception as exc:  # one odd record must never stop the agent
                log.exception("case_action_failed", offset=event.message.offset)
                CASE_ACTIONS.labels(action=kind, outcome="failed").inc()
                await dead_letters.send(
                    event, source=actions_topic, stage=Stage.PROCESS,
                    reasons=[Reason("process.cases", f"{type(exc).__name__}: {exc}")],
                )  # fmt: skip
                continue
            if after == before:
                CASE_ACTIONS.labels(action=kind, outcome="replayed").inc()
                continue
            table[action.case_id] = case_to_json(after)
            await cases.send(key=action.case_id.encode(), value=case_record(after))
            CASE_ACTIONS.labels(action=kind, outcome="applied").inc()
            log.info("case", case_id=after.case_id, state=after.state.value, action=kind, version=after.version)

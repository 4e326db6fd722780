"""A case from escalation to closure on the embedded broker: a hot alert opens its case; nobody acknowledges
it, so it goes overdue - with the worker killed before the deadline and restarted after it - and the overdue
case pages the next ladder level; the same customer complaining again makes a recurring case; people then
acknowledge, document, call back, resolve and close through the CLI, which refuses what the state machine
refuses; an action sent around the CLI that the state machine refuses lands on cx.dlq with its rule."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cxstream.kafka.embedded import free_port
from tests.integration.foreign import SingleObjectReader, consume_all
from tests.integration.procs import CXSTREAM, ROOT, edited_topology, eventually, ready, spawn, stop
from tests.integration.test_breaches import breaches, cli, detractor, escalations, produce
from tests.integration.test_ingest import DLQ, scrape, total
from tests.integration.test_metrics import iso, worker_env

pytestmark = pytest.mark.integration
CASES = SingleObjectReader(ROOT / "schemas/Case.avsc")
INVITES = SingleObjectReader(ROOT / "schemas/SurveyInvite.avsc")
ACTIONS = SingleObjectReader(ROOT / "schemas/CaseAction.avsc")


def quick_slas(tmp_path: Path) -> Path:
    """The shipped topology with rounds every 2 s, critical cases due for acknowledgement after 15 s and
    checked every 2 s; the ladder's own levels stay long, so only the SLA makes it climb."""
    return edited_topology(tmp_path, [
        ("alerting.yaml", "alerting:\n", "alerting:\n  evaluate_every: 2s\n"),
        ("cases.yaml", "CRITICAL: {acknowledge: 15m, contain: 1h,", "CRITICAL: {acknowledge: 15s, contain: 1h,"),
        ("cases.yaml", "check_every: 15s", "check_every: 2s"),
    ])  # fmt: skip


def cases_of(bootstrap: str, breach_id: str) -> list[dict[str, Any]]:
    found = [CASES.decode(m.value()) for m in consume_all(bootstrap, "cx.cases", idle_polls=2)]
    return [c for c in found if c["breach_id"] == breach_id]


def actions_of(bootstrap: str, case_id: str) -> list[dict[str, Any]]:
    found = [ACTIONS.decode(m.value()) for m in consume_all(bootstrap, "cx.case-actions", idle_polls=2)]
    return [a for a in found if a["case_id"] == case_id]


def refused(env: dict[str, str], *args: str) -> str:
    import subprocess

    done = subprocess.run([*CXSTREAM, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, (done.stdout, done.stderr)
    return done.stderr


async def send_raw(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def test_an_unacknowledged_case_goes_overdue_across_a_restart_climbs_and_ends_documented(
    bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-cases-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    env["CXSTREAM_TOPOLOGY_DIR"] = str(quick_slas(tmp_path))
    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
    customer = f"C-{uuid.uuid4().hex[:6]}"
    worker = spawn(["worker"], env, tmp_path / "worker-1.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        first_id = f"case-{uuid.uuid4().hex[:8]}"
        asyncio.run(
            produce(bootstrap, [detractor(first_id, "Third late parcel. I am cancelling my account.", customer)])
        )
        [hot] = eventually(lambda: [b for b in breaches(bootstrap) if first_id in b["event_ids"]], 120, "hot alert")
        [opened] = eventually(lambda: cases_of(bootstrap, hot["breach_id"]), 60, "the case to open")
        case_id = opened["case_id"]
        assert (opened["state"], opened["severity"], opened["team"]) == ("OPEN", "CRITICAL", "cx-operations")
        assert opened["follow_up_due_at"] is not None and opened["labels"]["customer_id"] == customer
        # survey invites: none while the customer's case is open; a delivery to someone else: a CSAT invite
        other = f"C-{uuid.uuid4().hex[:6]}"
        asyncio.run(produce(bootstrap, [solved(f"t-{first_id}", customer), delivered(f"d-{first_id}", other)]))
        [invite] = eventually(lambda: invites_for(bootstrap, other), 60, "the invite on cx.survey-invites")
        assert (invite["survey"], invite["trigger"], invite["labels"]["region"]) == ("CSAT", "ORDER_DELIVERED", "emea")
        eventually(lambda: total(scrape(port), "cxstream_survey_invites_total", outcome="open_case") == 1, 60,
                   "the ticket's CES invite to be suppressed: the customer has an open case")  # fmt: skip
        assert not invites_for(bootstrap, customer)
        # killed before its acknowledgement falls due; the deadline passes while no worker runs
        stop(worker, signal.SIGKILL)
        assert not [a for a in actions_of(bootstrap, case_id) if a["action"] == "OVERDUE"]
        worker = spawn(["worker"], env, tmp_path / "worker-2.log")
        eventually(lambda: worker.poll() is None and ready(port), 240, "the restarted worker to be ready")

        def overdue() -> list[dict[str, Any]]:
            return [a for a in actions_of(bootstrap, case_id) if a["action"] == "OVERDUE"]

        [lapse] = eventually(overdue, 90, "the SLA timer to record the missed acknowledgement")
        assert (lapse["actor"], lapse["comment"]) == ("timer:sla", "acknowledge")
        assert lapse["at"] == opened["acknowledge_due_at"]  # dated when it fell due
        climbed = eventually(
            lambda: [e for e in escalations(bootstrap, "cx-operations")
                     if hot["breach_id"] in e["breach_ids"] and e["level"] == 1], 60, "the ladder to climb",
        )  # fmt: skip
        assert [e["labels"]["sla"] for e in climbed] == ["acknowledge"]
        assert climbed[0]["labels"]["notify"] == "team-lead"

        def latest() -> dict[str, Any]:
            return cases_of(bootstrap, hot["breach_id"])[-1]

        state = eventually(lambda: (c := latest())["ladder_level"] == 1 and c, 60, "the case to show its level")
        assert state["overdue"] == ["acknowledge"] and state["state"] == "OPEN"

        # the same customer again: a recurring case
        second_id = f"case-{uuid.uuid4().hex[:8]}"
        asyncio.run(produce(bootstrap, [detractor(second_id, "My lawyer will hear about this.", customer)]))
        [again] = eventually(lambda: [b for b in breaches(bootstrap) if second_id in b["event_ids"]], 120, "hot alert")
        recurring = eventually(lambda: [c for c in cases_of(bootstrap, again["breach_id"]) if c["recurring"]], 60,
                               "the second case to be flagged recurring")  # fmt: skip
        second_case = recurring[-1]["case_id"]
        [flag] = [a for a in actions_of(bootstrap, second_case) if a["action"] == "FLAG_RECURRING"]
        assert case_id in flag["comment"] and flag["actor"] == "system:recurrence"

        # people work the first case; the CLI refuses what the state machine refuses
        assert "case.transition" in refused(cli_env, "cases", "resolve", case_id, "--author", "j.devries")
        cli(cli_env, "cases", "ack", case_id, "--author", "j.devries")
        eventually(lambda: latest()["state"] == "ACKNOWLEDGED", 60, "ack")
        cli(cli_env, "cases", "document", case_id, "--author", "j.devries", "--action-taken",
            "Refund and a new parcel by courier", "--owner", "cx-operations-lead")  # fmt: skip
        eventually(lambda: latest()["state"] == "ACTION_DOCUMENTED", 60, "doc")
        assert "case.follow_up" in refused(cli_env, "cases", "resolve", case_id, "--root-cause", "carrier:lost")
        cli(cli_env, "cases", "follow-up", case_id, "--author", "j.devries", "--outcome", "reached")
        eventually(lambda: latest()["follow_up_outcome"] == "reached", 60, "call")
        # a root-cause code from the taxonomy is required beside the words
        no_code = refused(cli_env, "cases", "resolve", case_id, "--author", "j.devries", "--root-cause", "carrier:lost")
        assert "case.root_cause_code" in no_code and "root-cause code is required" in no_code
        unknown = refused(cli_env, "cases", "resolve", case_id, "--root-cause", "carrier:lost", "--cause-code", "X")
        assert "unknown root-cause code 'X'" in unknown
        cli(cli_env, "cases", "resolve", case_id, "--author", "j.devries", "--root-cause", "carrier:lost",
            "--cause-code", "SUP-CARRIER-HANDOVER")  # fmt: skip
        done = eventually(lambda: (c := latest())["state"] == "RESOLVED" and c, 60,
                          "the case to resolve")  # fmt: skip
        assert (done["root_cause_category"], done["action_owner"]) == ("carrier:lost", "cx-operations-lead")
        assert done["root_cause_code"] == "SUP-CARRIER-HANDOVER"
        assert done["action_taken"] == "Refund and a new parcel by courier" and done["resolved_at"] is not None
        # its hot alert is over now, not a day later
        eventually(lambda: [b for b in breaches(bootstrap) if b["breach_id"] == hot["breach_id"]
                            and b["status"] == "RESOLVED"], 60, "the hot alert to resolve with its case")  # fmt: skip
        cli(cli_env, "cases", "close", case_id, "--author", "j.devries")
        eventually(lambda: latest()["state"] == "CLOSED", 60, "the case to close")
        history = cli(cli_env, "cases", "show", case_id)
        for kind in ("OPEN", "OVERDUE", "ESCALATE", "ACKNOWLEDGE", "DOCUMENT_ACTION", "FOLLOW_UP", "RESOLVE", "CLOSE"):
            assert kind in history, (kind, history)
        assert second_case in cli(cli_env, "cases", "list") and case_id not in cli(cli_env, "cases", "list")

        # around the CLI: an action the state machine refuses lands on cx.dlq with its rule, the case unchanged
        from cxstream.app import load_context
        from cxstream.domain.cases.machine import Action, ActionType, action_record
        from cxstream.settings import Settings

        codec = load_context(Settings()).codec("cx.case-actions")
        acks = total(scrape(port), "cxstream_alerting_inputs_total", kind="ack")
        bad = Action(f"act-{uuid.uuid4().hex[:16]}", second_case, ActionType.CLOSE, "someone", lapse_ms(lapse))
        asyncio.run(send_raw(bootstrap, "cx.case-actions", second_case.encode(), codec.encode(action_record(bad))))

        def dead() -> list[dict[str, Any]]:
            found = [DLQ.decode(m.value()) for m in consume_all(bootstrap, "cx.dlq", idle_polls=2)]
            return [
                d
                for d in found
                if d["source_topic"] == "cx.case-actions" and bad.action_id.encode() in d["original_value"]
            ]

        [letter] = eventually(dead, 60, "the refused action on cx.dlq")
        assert letter["reasons"][0]["rule_id"] == "case.transition" and letter["stage"] == "VALIDATE"
        assert cases_of(bootstrap, again["breach_id"])[-1]["state"] == "OPEN"
        rounds = total(scrape(port), "cxstream_alerting_inputs_total", kind="tick")
        eventually(
            lambda: total(scrape(port), "cxstream_alerting_inputs_total", kind="tick") >= rounds + 2, 30, "rounds"
        )
        assert total(scrape(port), "cxstream_alerting_inputs_total", kind="ack") == acks  # refused: the ladder goes on
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0


def invites_for(bootstrap: str, customer: str) -> list[dict[str, Any]]:
    found = [INVITES.decode(m.value()) for m in consume_all(bootstrap, "cx.survey-invites", idle_polls=2)]
    return [i for i in found if i["customer_id"] == customer]


def operational(event_id: str, event_type: str, customer: str, operation: dict[str, str]) -> bytes:
    return json.dumps({
        "event_id": event_id, "event_type": event_type, "event_time": iso(datetime.now(UTC)),
        "customer_id": customer, "region": "emea", "site": "ams-1", "team": "customer-service",
        "agent_id": "A-17", "channel": "email", "operation": operation,
    }).encode()  # fmt: skip


def solved(event_id: str, customer: str) -> bytes:
    return operational(event_id, "TICKET_SOLVED", customer, {"ticket_id": f"T-{event_id}", "status": "solved"})


def delivered(event_id: str, customer: str) -> bytes:
    promised = iso(datetime.now(UTC))
    return operational(event_id, "ORDER_DELIVERED", customer, {"order_id": f"O-{event_id}", "promised_at": promised,
                                                               "actual_at": promised})  # fmt: skip


def lapse_ms(action: dict[str, Any]) -> int:
    return int(action["at"].timestamp() * 1000)

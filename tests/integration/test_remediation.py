"""From root cause to verified fix on the embedded broker: the demo's EMEA delivery incident (its raw ERP, CRM and
helpdesk records, dated over the last minutes) and a customer complaining twice give recurring cases; the
recurring case resolved with a cause code proposes a remediation item, whose Pareto names the late site; the
change goes through its approvals (refused where the role does not fit) and is rolled out; once the incident is
over and enough answers came in after the rollout, the workers record the pre/post verdict.

The topology is edited for a test's patience: one-minute buckets, an eight-minute before period, a three-minute
after period, comparisons every five seconds and a minimum effect of 20 points (so about 60 answers a side do).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from cxstream.demo.traffic import DemoTraffic, RawRecord
from cxstream.kafka.embedded import free_port
from tests.integration.procs import edited_topology, eventually, ready, spawn, stop
from tests.integration.test_breaches import breaches, cli, detractor, produce
from tests.integration.test_cases import cases_of
from tests.integration.test_metrics import ADMIN_TOKEN, iso, worker_env
from tests.integration.test_warroom import call

LOGISTICS = "tok-sup-logistics-remediation"
TOKENS = [
    {"name": "test-admin", "role": "admin", "token": ADMIN_TOKEN},
    {"name": "s.logistics", "role": "supervisor", "teams": ["logistics"], "token": LOGISTICS},
]


def quick_verdicts(tmp_path: Path) -> Path:
    return edited_topology(tmp_path, [
        ("metrics.yaml", "buckets: {realtime: 5m, lagging: 1h}", "buckets: {realtime: 1m, lagging: 1h}"),
        ("remediation.yaml", "    before: 7d ", "    check_every: 5s\n    before: 8m "),
        ("remediation.yaml", "    after: 7d ", "    after: 3m "),
        ("remediation.yaml", "    min_effect: 0.05 ", "    min_effect: 0.20 "),
    ])  # fmt: skip


async def send(bootstrap: str, records: list[RawRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        for record in records:
            await producer.send(record.topic, record.value, key=record.key)
        await producer.flush()
    finally:
        await producer.stop()


def incident(now: datetime, seconds: int = 270, per_second: int = 10) -> list[RawRecord]:
    """The demo's delivery-delay-emea incident: its records over the ``seconds`` before ``now`` (less half a
    minute), at ``per_second``."""
    start = now - timedelta(seconds=seconds + 30)
    traffic = DemoTraffic(seed=11, malformed_share=0.0, incident="delivery-delay-emea", incident_start=start,
                          incident_end=now)  # fmt: skip
    return [traffic.next(start + timedelta(seconds=i / per_second)) for i in range(seconds * per_second)]


def happy_answers(tag: str, at: datetime, count: int = 150) -> list[bytes]:
    """Delivery CSAT in EMEA once the incident is over: mostly 4 and 5."""
    scores = ([5] * 6 + [4] * 3 + [2]) * (count // 10)
    return [
        json.dumps({
            "event_id": f"{tag}-after-{i}", "event_type": "SURVEY_RESPONSE", "event_time": iso(at),
            "customer_id": f"C-after-{i}", "region": "emea", "site": "ams-1", "team": "logistics",
            "journey_stage": "delivery", "touchpoint": "delivery", "channel": "email",
            "survey": {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5},
        }).encode()
        for i, score in enumerate(scores)
    ]  # fmt: skip


def api(port: int, path: str, token: str = ADMIN_TOKEN, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    return call(port, path, token, body, "POST" if body is not None else "GET")


def test_a_recurring_late_delivery_problem_goes_from_cases_to_a_verified_fix(bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-rca-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    env["CXSTREAM_TOPOLOGY_DIR"] = str(quick_verdicts(tmp_path))
    env["CXSTREAM_API_TOKENS"] = json.dumps(TOKENS)
    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        tag = uuid.uuid4().hex[:8]
        asyncio.run(send(bootstrap, incident(datetime.now(UTC))))

        # the same customer complains twice: the second case is recurring
        customer = f"C-{tag}"
        first = f"rca-1-{tag}"
        asyncio.run(produce(bootstrap, [detractor(first, "Third late parcel. I am cancelling my account.", customer)]))
        [hot] = eventually(lambda: [b for b in breaches(bootstrap) if first in b["event_ids"]], 120, "the hot alert")
        eventually(lambda: cases_of(bootstrap, hot["breach_id"]), 60, "the first case")
        second = f"rca-2-{tag}"
        asyncio.run(produce(bootstrap, [detractor(second, "Late again, I am cancelling my account.", customer)]))
        [again] = eventually(lambda: [b for b in breaches(bootstrap) if second in b["event_ids"]], 120, "hot alert")
        [recurring] = eventually(lambda: [c for c in cases_of(bootstrap, again["breach_id"]) if c["recurring"]][-1:],
                                 60, "the second case flagged recurring")  # fmt: skip
        case_id = recurring["case_id"]
        who = ("--author", "j.devries")
        cli(cli_env, "cases", "ack", case_id, *who)
        eventually(lambda: cases_of(bootstrap, again["breach_id"])[-1]["state"] == "ACKNOWLEDGED", 60, "ack")
        cli(cli_env, "cases", "document", case_id, *who, "--action-taken", "New parcel by courier", "--owner", "ops")
        cli(cli_env, "cases", "follow-up", case_id, *who, "--outcome", "reached")
        eventually(lambda: cases_of(bootstrap, again["breach_id"])[-1]["follow_up_outcome"] == "reached", 60, "call")
        cli(cli_env, "cases", "resolve", case_id, *who, "--root-cause", "evening pick-up full in Amsterdam",
            "--cause-code", "SUP-CARRIER-CAPACITY")  # fmt: skip

        # the recurring problem is a remediation item, and its Pareto names the late site
        def proposed() -> dict[str, Any] | None:
            status, body = api(port, "/api/remediation")
            found = [i for i in body.get("items", []) if i["source"] == "recurrence"] if status == 200 else []
            return found[0] if found else None

        item = eventually(proposed, 90, "the proposal from the recurring case")
        assert item["cause_code"] == "SUP-CARRIER-CAPACITY" and item["labels"] == {"region": "emea", "site": "ams-1"}
        assert item["state"] == "PROPOSED" and item["severity"] == 8
        item_id = item["item_id"]
        status, detail = api(port, f"/api/remediation/items/{item_id}?chart=svg")
        assert status == 200, detail
        assert detail["pareto"]["rows"][0]["key"] == "ams-1" and detail["pareto"]["rows"][0]["count"] > 50, detail
        assert detail["measured_reach"]["per_week"] > 0 and detail["reach_source"] == "measured"
        assert "Amsterdam fulfilment centre" in detail["charts"]["pareto"]
        assert [t["action"] for t in detail["trail"]] == ["PROPOSE"]

        # the change, its FMEA and approvals; rollout only once they are complete
        change = {"description": "Second carrier for Amsterdam overflow",
                  "departments": ["logistics", "customer-service"], "target_metrics": ["csat.delivery"],
                  "procedure": "late-delivery-handling", "procedure_version": "2",
                  "failure_modes": [{"id": "wrong-labels", "description": "Parcels labelled for the wrong carrier",
                                     "severity": 9, "occurrence": 5, "detection": 5}]}  # fmt: skip
        actions = f"/api/remediation/items/{item_id}/actions"
        assert api(port, actions, body={"action": "SET_CHANGE", "change": change})[0] == 202
        eventually(lambda: api(port, f"/api/remediation/items/{item_id}")[1]["state"] == "ANALYSED", 30, "analysed")
        status, body = api(port, actions, LOGISTICS, {"action": "APPROVE", "department": "logistics"})
        assert (status, body["rule"]) == (409, "item.fmea"), body  # the high failure mode has no mitigation
        change["failure_modes"][0]["mitigation"] = "Scan check at the dock before loading"  # type: ignore[index]
        assert api(port, actions, body={"action": "SET_CHANGE", "change": change})[0] == 202
        eventually(lambda: api(port, f"/api/remediation/items/{item_id}")[1]["version"] >= 3, 30, "the new change")
        status, body = api(port, actions, LOGISTICS, {"action": "APPROVE", "department": "customer-service"})
        assert (status, body["rule"]) == (409, "item.role"), body
        assert api(port, actions, LOGISTICS, {"action": "APPROVE", "department": "logistics"})[0] == 202
        eventually(lambda: api(port, f"/api/remediation/items/{item_id}")[1]["missing_approvals"]
                   == ["customer-service"], 30, "logistics' approval")  # fmt: skip
        status, body = api(port, actions, body={"action": "ROLL_OUT", "scope": {"region": "emea"}})
        assert (status, body["rule"]) == (409, "item.transition"), body  # not before every approval
        assert api(port, actions, body={"action": "APPROVE", "department": "customer-service"})[0] == 202
        eventually(lambda: api(port, f"/api/remediation/items/{item_id}")[1]["state"] == "APPROVED", 30, "approved")
        assert api(port, actions, LOGISTICS, {"action": "ROLL_OUT", "scope": {"region": "emea"}})[0] == 202
        rolled = eventually(lambda: (i := api(port, f"/api/remediation/items/{item_id}")[1])["state"] == "ROLLED_OUT"
                            and i, 30, "rolled out")  # fmt: skip
        rollout_at = datetime.fromisoformat(rolled["rollouts"][0]["at"])

        # before the rollout: the incident's answers; not enough after it yet
        def check() -> dict[str, Any]:
            return api(port, f"/api/remediation/items/{item_id}")[1]["check"]  # type: ignore[no-any-return]

        waiting = eventually(lambda: (c := check())["comparisons"] and c, 90, "the first comparison")
        assert waiting["decision"] == "not yet" and waiting["comparisons"][0]["n_before"] >= 60, waiting
        assert "not yet" in waiting["comparisons"][0]["summary"]

        # the incident is over: good answers in the first whole minute after the rollout
        minute = rollout_at.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=5)
        asyncio.run(produce(bootstrap, happy_answers(tag, minute)))

        def verdict() -> dict[str, Any] | None:
            body = api(port, f"/api/remediation/items/{item_id}")[1]
            return body if body["state"] in ("VERIFIED", "FAILED") else None

        done = eventually(verdict, 240, "the verdict once the after period holds enough answers")
        assert done["state"] == "VERIFIED", done["verdicts"]
        [recorded] = done["verdicts"]
        assert recorded["metric"] == "csat.delivery"
        assert recorded["summary"].startswith("pre/post: verified: Delivery CSAT +"), recorded
        assert " points, 95 % CI [" in recorded["summary"] and "n " in recorded["summary"]
        trail = [t for t in done["trail"] if t["action"] == "VERIFY"]
        assert len(trail) == 1 and trail[0]["actor"] == "system:verdict"

        # the audit trail and the procedure per location, from a terminal
        shown = cli(cli_env, "changes", "show", item_id)
        for kind in ("PROPOSE", "SET_CHANGE", "APPROVE", "ROLL_OUT", "VERIFY"):
            assert kind in shown, shown
        assert "REFUSED" not in shown  # refused requests were never published
        procedures = json.loads(cli(cli_env, "changes", "procedures", "--json"))
        [handling] = [p for p in procedures if p["procedure"] == "late-delivery-handling"]
        assert handling["newest"] == "2" and handling["running"][0]["where"] == "region=emea"
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0

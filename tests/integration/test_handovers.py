"""Shift handovers on the embedded broker: a worker whose cx-operations shift ends a minute and a half after the test
starts. During the shift a detractor threatens to leave (a hot alert, its case opens), the case is taken, contained
and commented on, a silence is added; after the boundary another detractor arrives. The handover published at the
boundary holds the first shift's breach, case (with what was done and its next SLA step), silence and what to pick
up, and not the second one's. Nobody acknowledges it: it escalates through the routing tree as a HANDOVER breach to
cx-operations; the supervisor's acknowledgement (over the API, audited) resolves it, and the command line shows it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cxstream.kafka.embedded import free_port
from tests.integration.foreign import SingleObjectReader, consume_all
from tests.integration.procs import CXSTREAM, ROOT, edited_topology, eventually, ready, spawn, stop
from tests.integration.test_breaches import breaches, detractor, escalations, produce
from tests.integration.test_metrics import ADMIN_TOKEN, worker_env
from tests.integration.test_warroom import call

HANDOVERS = SingleObjectReader(ROOT / "schemas/Handover.avsc")


def handovers(bootstrap: str, handover_id: str) -> list[dict[str, Any]]:
    found = [HANDOVERS.decode(m.value()) for m in consume_all(bootstrap, "cx.handovers", idle_polls=2)]
    return sorted((h for h in found if h["handover_id"] == handover_id), key=lambda h: h["version"])


def test_a_shift_boundary_publishes_its_handover_and_an_unacknowledged_one_escalates(
    bootstrap: str, tmp_path: Path
) -> None:
    boundary = (datetime.now(UTC) + timedelta(seconds=55)).replace(microsecond=0)
    start = boundary - timedelta(hours=2)
    topology = edited_topology(tmp_path, [("alerting.yaml", "alerting:\n", "alerting:\n  evaluate_every: 2s\n")])
    (topology / "handovers.yaml").write_text(
        "handovers:\n  ack_within: 15s\n  grace: 3s\n  teams:\n    - team: cx-operations\n      time_zone: UTC\n"
        f'      shifts:\n        - {{name: early, start: "{start:%H:%M:%S}"}}\n'
        f'        - {{name: late, start: "{boundary:%H:%M:%S}"}}\n'
    )
    handover_id = f"cx-operations.{start:%Y%m%dT%H%M%SZ}"
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-handover-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    env["CXSTREAM_TOPOLOGY_DIR"] = str(topology)
    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 80, "the worker to be ready")
        tag = uuid.uuid4().hex[:8]
        asyncio.run(produce(bootstrap, [detractor(f"ho-{tag}-1", "Third late parcel. I am cancelling my account.",
                                                  customer=f"C-{tag}-1")]))  # fmt: skip

        def hot(event_id: str) -> dict[str, Any] | None:
            return next((b for b in breaches(bootstrap) if event_id in b["event_ids"]), None)

        during = eventually(lambda: hot(f"ho-{tag}-1"), 60, "the hot alert during the shift")

        def case_id() -> str | None:
            status, body = call(port, "/api/cases?team=cx-operations", ADMIN_TOKEN)
            mine = [c for c in body.get("cases", []) if c["breach_id"] == during["breach_id"]] if status == 200 else []
            return mine[0]["case_id"] if mine else None

        case = eventually(case_id, 90, "the case of the hot alert")
        documented = "ACTION_DOCUMENTED"
        steps = (({"action": "ACKNOWLEDGE", "assignee": "m.jansen"}, "ACKNOWLEDGED"),
                 ({"action": "CONTAIN", "action_taken": "called back, parcel re-sent by courier"}, documented),
                 ({"action": "COMMENT", "comment": "carrier asked why the depot held it"}, documented))  # fmt: skip
        for body, state in steps:
            status, answer = call(port, f"/api/cases/{case}/actions", ADMIN_TOKEN, body)
            assert status == 202, answer
            eventually(lambda state=state: call(port, f"/api/cases/{case}", ADMIN_TOKEN)[1].get("state") == state,
                       30, f"the case {state.lower()}")  # fmt: skip
        added = subprocess.run([*CXSTREAM, "silence", "add", "owner=cx-operations", "rule=nps.relationship.low",
                                "--duration", "1h", "--author", "m.jansen", "--comment", "survey tool outage"],
                               cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert added.returncode == 0, added.stderr
        silence_id = added.stdout.split()[0]
        assert datetime.now(UTC) < boundary - timedelta(seconds=10), "the first shift's events came too late"

        eventually(lambda: datetime.now(UTC) > boundary + timedelta(seconds=1), 200, "the shift boundary")
        asyncio.run(produce(bootstrap, [detractor(f"ho-{tag}-2", "Never again, I am cancelling my account.",
                                                  customer=f"C-{tag}-2")]))  # fmt: skip
        after = eventually(lambda: hot(f"ho-{tag}-2"), 60, "the hot alert of the next shift")
        [first, *_] = eventually(lambda: handovers(bootstrap, handover_id), 60, "the handover at the boundary")
        assert (first["team"], first["shift"], first["next_shift"]) == ("cx-operations", "early", "late")
        assert first["acknowledged_by"] is None and first["escalated_at"] is None and first["version"] == 0
        lines = {b["breach_id"]: b for b in first["breaches"]}
        assert during["breach_id"] in lines and after["breach_id"] not in lines, lines
        assert lines[during["breach_id"]]["opened"] and lines[during["breach_id"]]["severity"] == "CRITICAL"
        [held] = [c for c in first["cases"] if c["case_id"] == case]
        assert held["state"] == "ACTION_DOCUMENTED" and held["assignee"] == "m.jansen"
        assert held["next_step"] == "resolve"  # contained: the resolve step is next
        assert held["minutes_left"] is not None and held["minutes_left"] > 0
        assert any("ACKNOWLEDGE by test-admin" in d for d in held["done"]), held["done"]
        assert any("CONTAIN by test-admin: called back, parcel re-sent" in d for d in held["done"]), held["done"]
        assert any("COMMENT by test-admin: carrier asked" in d for d in held["done"]), held["done"]
        assert silence_id in {s["silence_id"] for s in first["silences"]}
        assert any(during["rule_id"] in line and "still firing" in line for line in first["pick_up"])
        assert any(case in line and "resolve due in" in line for line in first["pick_up"])
        assert all(m["after_n"] >= 0 and "before_n" in m for m in first["metrics"])

        # nobody acknowledged it within 15 s: a HANDOVER breach, routed to the team like any other
        def escalated() -> dict[str, Any] | None:
            return next((b for b in breaches(bootstrap) if b["kind"] == "HANDOVER"
                         and b["labels"].get("handover") == handover_id and b["status"] == "FIRING"), None)  # fmt: skip

        breach = eventually(escalated, 90, "the handover's escalation breach")
        assert breach["labels"]["owner"] == "cx-operations" and breach["rule_id"] == "handover.unacknowledged"
        assert "Handover not acknowledged: cx-operations early shift" in breach["summary"]
        paged = eventually(lambda: [e for e in escalations(bootstrap, "cx-operations")
                                    if breach["breach_id"] in e["breach_ids"]], 90, "the team paged")  # fmt: skip
        assert paged[0]["labels"]["status"] == "firing"
        assert eventually(lambda: handovers(bootstrap, handover_id)[-1]["escalated_at"], 30, "escalated on the topic")

        status, answer = call(port, f"/api/handovers/{handover_id}/ack", ADMIN_TOKEN, {"note": "taken over"})
        assert status == 202 and answer["acknowledged_by"] == "test-admin", answer
        status, again = call(port, f"/api/handovers/{handover_id}/ack", ADMIN_TOKEN, {})
        assert status == 409, again
        acked = eventually(lambda: (h := handovers(bootstrap, handover_id)[-1])["acknowledged_by"] and h, 60,
                           "the acknowledgement copied into the handover")  # fmt: skip
        assert acked["ack_note"] == "taken over" and acked["escalated_at"] is not None and acked["version"] == 2
        eventually(lambda: any(b["breach_id"] == breach["breach_id"] and b["status"] == "RESOLVED"
                               for b in breaches(bootstrap)), 60, "the escalation resolved")  # fmt: skip
        status, listed = call(port, "/api/handovers?team=cx-operations", ADMIN_TOKEN)
        assert status == 200 and listed["handovers"][0]["handover_id"] == handover_id
        assert listed["handovers"][0]["state"] == "acknowledged"
        shown = subprocess.run([*CXSTREAM, "handover", "--team", "cx-operations", "--shift", "early", "--json"],
                               cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        [text] = json.loads(shown.stdout)
        assert text["handover_id"] == handover_id and text["acknowledged_by"] == "test-admin"
        unknown = subprocess.run([*CXSTREAM, "handover", "ack", "cx-operations.20000101T000000Z"], cwd=ROOT,
                                 env=cli_env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert unknown.returncode == 1 and "no handover" in unknown.stderr
        audit = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()
                 if '"handover.acknowledge"' in line]  # fmt: skip
        assert audit and audit[0]["actor"] == "test-admin" and audit[0]["handover_id"] == handover_id
    finally:
        stop(worker)

"""An A/B experiment on the embedded broker: started through the API, its customers' support ratings arrive through
the canonical source; each rating is tagged with its customer's arm at normalization (the arm anyone computes
from the salted hash), the arms' answers are summed across partitions, and the anytime-valid interval of the
planted effect excludes zero: the experiment reaches its verdict, with no sample-ratio mismatch."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cxstream.domain.impact.experiments import Arm, Experiment, assign
from cxstream.kafka.embedded import free_port
from tests.integration.procs import edited_topology, eventually, ready, spawn, stop
from tests.integration.test_breaches import cli, produce
from tests.integration.test_metrics import ADMIN_TOKEN, iso, worker_env
from tests.integration.test_warroom import call


def ratings(tag: str, experiment: Experiment, customers: int, rng: random.Random) -> tuple[list[bytes], dict[str, int]]:
    """One support rating per customer: 70 % satisfied in the control arm, 88 % with the call-back."""
    when = datetime.now(UTC) - timedelta(minutes=15)
    records, per_arm = [], {"control": 0, "callback": 0}
    for i in range(customers):
        customer = f"C-{tag}-{i}"
        arm = assign(experiment, customer)
        per_arm[arm] += 1
        satisfied = rng.random() < (0.88 if arm == "callback" else 0.70)
        records.append(json.dumps({
            "event_id": f"xp-{tag}-{i}", "event_type": "SURVEY_RESPONSE", "event_time": iso(when),
            "customer_id": customer, "region": "emea", "site": "lis-1", "team": "customer-service",
            "journey_stage": "support", "touchpoint": "ticket", "channel": "email",
            "survey": {"metric": "CSAT", "score": rng.choice((4, 5)) if satisfied else rng.choice((1, 2)),
                       "scale_min": 1, "scale_max": 5},
        }).encode())  # fmt: skip
    return records, per_arm


def test_an_experiment_with_a_planted_effect_reaches_its_verdict(bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-exp-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    directory = edited_topology(
        tmp_path, [("remediation.yaml", "    before: 7d ", "    check_every: 3s\n    before: 7d ")]
    )
    env["CXSTREAM_TOPOLOGY_DIR"] = str(directory)
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    tag = uuid.uuid4().hex[:8]
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        body = {"experiment_id": f"exp-{tag}", "title": "Call back within 3 hours", "unit": "customer",
                "hypothesis": "A call-back within 3 hours of a poor rating lifts support CSAT",
                "metrics": ["csat.support"], "arms": [{"name": "control", "weight": 1}, {"name": "callback",
                "weight": 1}], "start": start, "baseline": 0.70, "target": 0.80}  # fmt: skip
        status, started = call(port, "/api/experiments", ADMIN_TOKEN, body)
        assert status == 202 and started["planned_per_arm"] == 292 and started["state"] == "RUNNING", started
        eventually(lambda: call(port, f"/api/experiments/exp-{tag}", ADMIN_TOKEN)[0] == 200, 60, "the experiment")
        status, overlap = call(port, "/api/experiments", ADMIN_TOKEN, {**body, "experiment_id": f"exp-{tag}-3"})
        assert status == 409 and overlap["rule"] == "experiment.overlap", overlap  # one per metric at a time

        local = Experiment(f"exp-{tag}", "", "", ("csat.support",), "customer", (Arm("control", 1), Arm("callback", 1)),
                           f"exp-{tag}", 0, "")  # fmt: skip
        records, per_arm = ratings(tag, local, 800, random.Random(4))
        asyncio.run(produce(bootstrap, records))

        def decided() -> dict[str, Any] | None:
            found = call(port, f"/api/experiments/exp-{tag}?chart=svg", ADMIN_TOKEN)[1]
            result = found.get("result") or {}
            arms = {a["arm"]: a["n"] for m in result.get("metrics", []) for a in m["arms"]}
            return found if arms == per_arm and result.get("decision") == "effect" else None

        found = eventually(decided, 120, "the experiment's verdict")
        [metric] = found["result"]["metrics"]
        [comparison] = metric["comparisons"]
        assert comparison["arm"] == "callback" and comparison["method"] == "confidence sequence (anytime-valid)"
        assert 0 < comparison["low"] < 18 < comparison["high"], comparison  # the planted +18 points
        fixed = comparison["fixed"]
        assert comparison["low"] < fixed["low"] and fixed["high"] < comparison["high"]  # anytime-valid is wider
        assert metric["srm"] is not None and not metric["srm"]["alarm"], metric["srm"]
        assert 'class="estimate" data-label="callback"' in found["chart"]
        # the command line puts the same arms together from the topics (history and the workers' partials)
        cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
        shown = json.loads(cli(cli_env, "experiments", "show", f"exp-{tag}", "--json"))
        assert shown["result"]["decision"] == "effect", shown["result"]
        assert {a["arm"]: a["n"] for a in shown["result"]["metrics"][0]["arms"]} == per_arm

        status, halted = call(port, f"/api/experiments/exp-{tag}/stop", ADMIN_TOKEN,
                              {"decision": "ship the call-back to every support team"})  # fmt: skip
        assert status == 202 and halted["state"] == "STOPPED"
        eventually(lambda: call(port, f"/api/experiments/exp-{tag}", ADMIN_TOKEN)[1]["state"] == "STOPPED", 60,
                   "the stop")  # fmt: skip
        assert f"exp-{tag}  STOPPED" in cli(cli_env, "experiments", "list")
        assert worker.poll() is None
    finally:
        call(port, f"/api/experiments/exp-{tag}/stop", ADMIN_TOKEN, {"decision": "test over"})  # free csat.support
        code = stop(worker, signal.SIGTERM)
    assert code == 0

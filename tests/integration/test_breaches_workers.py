"""Three workers sharing the ``cx.events`` partitions raise the breach one worker raises (test_breaches: the same
rule, scope, severity, n, value and evidence): the routing desk's worker merges its own cells with the other
workers' cells from the metric changelog. Killed with SIGKILL, the desk moves to another worker, which neither
raises the breach again nor escalates it twice."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.procs import edited_topology, eventually, ready, spawn, stop
from tests.integration.test_breaches import answers, breaches, escalations, produce
from tests.integration.test_ingest import scrape, total
from tests.integration.test_metrics import ADMIN_TOKEN, worker_env
from tests.integration.test_warroom import call

pytestmark = pytest.mark.integration
PARTITIONS = 6


def held(port: int) -> set[int]:
    status, body = call(port, "/api/peer/cells?definition=csat.delivery&local=1", ADMIN_TOKEN)
    return set(body["partitions"]) if status == 200 else set()


def replicated(port: int) -> float:
    """How many partitions the worker's last threshold round read from the other workers' cells."""
    try:
        return total(scrape(port), "cxstream_threshold_partitions", source="replica")
    except OSError:
        return 0.0


def test_three_workers_raise_the_breach_one_worker_raises_and_keep_it_across_a_sigkill(
    bootstrap: str, tmp_path: Path
) -> None:
    app_id = f"cxstream-three-{uuid.uuid4().hex[:8]}"
    ports = [free_port() for _ in range(3)]
    envs = [worker_env(bootstrap, port, app_id, tmp_path / f"data-{i}") for i, port in enumerate(ports)]
    quick = edited_topology(tmp_path, [("alerting.yaml", "alerting:\n", "alerting:\n  evaluate_every: 2s\n")])
    for env in envs:
        env["CXSTREAM_LOG_LEVEL"] = "INFO"
        env["CXSTREAM_TOPOLOGY_DIR"] = str(quick)  # a round every 2 s rather than 15 s
    workers = [spawn(["worker"], env, tmp_path / f"worker-{i}.log") for i, env in enumerate(envs)]
    desk = -1
    try:
        for worker, port in zip(workers, ports, strict=True):
            eventually(lambda w=worker, p=port: w.poll() is None and ready(p), 240, "three workers to be ready")

        def shared() -> bool:
            parts = [held(p) for p in ports]
            return all(0 < len(p) < PARTITIONS for p in parts) and len(set().union(*parts)) == PARTITIONS

        eventually(shared, 120, "the six cx.events partitions shared by the three workers")
        tag = uuid.uuid4().hex[:6]
        # as in test_breaches: EMEA 120 answers, 10 % satisfied; AMER 120 answers, 90 % satisfied
        asyncio.run(produce(bootstrap, answers("emea", "ams-1", [5] * 12 + [1] * 108, tag)
                            + answers("amer", "chi-1", [5] * 108 + [2] * 12, tag)))  # fmt: skip

        def firing() -> list[dict[str, Any]] | None:
            return [b for b in breaches(bootstrap) if b["status"] == "FIRING"] or None

        [breach] = eventually(firing, 180, "a FIRING breach on cx.breaches")
        assert breach["rule_id"] == "csat.delivery.low" and breach["severity"] == "CRITICAL"
        assert breach["scope"] == {"region": "emea"} and breach["n"] == 120  # every partition's answers
        assert breach["value"] == pytest.approx(10.0) and breach["interval_high"] < 55
        assert "cusum: evidence of 55" in breach["summary"]
        [escalation] = eventually(lambda: escalations(bootstrap, "logistics") or None, 60, "the escalation")
        assert escalation["breach_ids"] == [breach["breach_id"]]

        # the desk's worker read the partitions it does not hold from the replica
        [desk] = eventually(lambda: [i for i, p in enumerate(ports) if replicated(p) > 0] or None, 60,
                            "the desk's worker to report replicated partitions")  # fmt: skip
        assert replicated(ports[desk]) == PARTITIONS - len(held(ports[desk]))

        stop(workers[desk], signal.SIGKILL)
        survivors = [i for i in range(3) if i != desk]

        def rounds_after_the_kill() -> bool:
            samples = [scrape(ports[i]) for i in survivors]
            done = sum(total(s, "cxstream_breach_evaluations_total", outcome="done") for s in samples)
            return done >= 3 and any(replicated(ports[i]) > 0 for i in survivors)

        eventually(rounds_after_the_kill, 180, "three threshold rounds on a surviving worker, over every partition")
        after = breaches(bootstrap)
        assert {b["breach_id"] for b in after if b["status"] == "FIRING"} == {breach["breach_id"]}
        assert not [b for b in after if b["status"] == "RESOLVED"]
        assert {e["escalation_id"] for e in escalations(bootstrap, "logistics")} == {escalation["escalation_id"]}
        assert all(workers[i].poll() is None for i in survivors)
    finally:
        codes = [stop(w, signal.SIGTERM) for w in workers]
    assert all(code == 0 for i, code in enumerate(codes) if i != desk)

"""Three workers sharing the ``cx.events`` partitions raise the breach one worker raises (test_breaches: the same
rule, scope, severity, n, value and evidence): the routing desk's worker merges its own cells with the other
workers' cells from the metric changelog. Killed with SIGKILL, the desk moves to another worker, which neither
raises the breach again nor escalates it twice."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.procs import edited_topology, eventually, http_get, ready, spawn, stop
from tests.integration.test_breaches import answers, breaches, escalations, produce
from tests.integration.test_ingest import scrape, total
from tests.integration.test_metrics import ADMIN_TOKEN, worker_env
from tests.integration.test_warroom import call

pytestmark = pytest.mark.integration
PARTITIONS = 6


def held(port: int) -> set[int]:
    status, body = call(port, "/api/peer/cells?definition=csat.delivery&local=1", ADMIN_TOKEN)
    return set(body["partitions"]) if status == 200 else set()


def sample(port: int, name: str, **labels: str) -> float:
    """One metric of a worker (0 when it does not answer: a killed one)."""
    try:
        return total(scrape(port), name, **labels)
    except OSError:
        return 0.0


def replicated(port: int) -> float:
    """How many partitions the worker's last threshold round read from the other workers' cells."""
    return sample(port, "cxstream_threshold_partitions", source="replica")


def emea_answers(ports: list[int]) -> list[int] | None:
    """The EMEA delivery answers in each worker's own partitions (the last hour), once they add up to all 120."""
    counts = []
    for port in ports:
        status, body = call(port, "/api/metrics/csat.delivery/1h?region=emea&local=1", ADMIN_TOKEN)
        if status != 200:
            return None
        counts.append(int(body["estimate"]["n"] or 0))
    return counts if sum(counts) == 120 else None


def rounds(port: int) -> float:
    return sample(port, "cxstream_breach_evaluations_total", outcome="done")


def evaluating(ports: list[int]) -> list[int] | None:
    """The index of the one worker whose threshold rounds go on (rounds every 2 s), None while unclear."""
    before = [rounds(p) for p in ports]
    time.sleep(5)
    going = [i for i, p in enumerate(ports) if rounds(p) > before[i]]
    return going if len(going) == 1 else None


def test_three_workers_raise_the_breach_one_worker_raises_and_keep_it_across_a_sigkill(
    bootstrap: str, tmp_path: Path
) -> None:
    app_id = f"cxstream-three-{uuid.uuid4().hex[:8]}"
    ports = [free_port() for _ in range(3)]
    envs = [worker_env(bootstrap, port, app_id, tmp_path / f"data-{i}") for i, port in enumerate(ports)]
    # rounds every 2 s, and 1-minute buckets: the sequential test judges each bucket boundary once, so answers that
    # reach the desk after a boundary's round (its own partitions' at once, the others' a changelog fetch later)
    # count at the next boundary: a minute here rather than five
    quick = edited_topology(tmp_path, [
        ("alerting.yaml", "alerting:\n", "alerting:\n  evaluate_every: 2s\n"),
        ("metrics.yaml", "buckets: {realtime: 5m,", "buckets: {realtime: 1m,"),
        ("metrics.yaml", "size: 1h, hop: 5m}", "size: 1h, hop: 1m}"),
    ])  # fmt: skip
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

        def critical() -> list[dict[str, Any]] | None:
            return [b for b in breaches(bootstrap) if b["status"] != "RESOLVED" and b["severity"] == "CRITICAL"] or None

        try:
            breach = eventually(critical, 180, "a CRITICAL breach on cx.breaches")[-1]
        except AssertionError:
            for port in ports:
                text = http_get(f"http://127.0.0.1:{port}/metrics")[1]
                print(port, held(port), [line for line in text.splitlines() if any(x in line for x in (
                    "evaluations_total", "threshold_part", "replica_cells", "cxstream_events_total{",
                    "metric_updates_total"))])  # fmt: skip
            raise
        # one breach: a round may have fired on part of the answers (a WARNING first), as with one worker; the
        # CRITICAL update keeps its id
        assert {b["breach_id"] for b in breaches(bootstrap)} == {breach["breach_id"]}
        assert breach["rule_id"] == "csat.delivery.low" and breach["scope"] == {"region": "emea"}
        assert breach["interval_high"] < 55 and "cusum: evidence of 55" in breach["summary"]
        eventually(lambda: emea_answers(ports), 60, "every EMEA answer counted by its worker")

        def paged() -> set[str]:
            """The critical escalations of the breach (a WARNING first may have its own, 30 s later)."""
            return {e["escalation_id"] for e in escalations(bootstrap, "logistics")
                    if e["severity"] == "CRITICAL" and e["breach_ids"] == [breach["breach_id"]]}  # fmt: skip

        sent = eventually(paged, 60, "the critical escalation")

        # the desk's worker (the one whose rounds go on: the desk may have moved in the first rebalances) read the
        # partitions it does not hold from the replica
        [desk] = eventually(lambda: evaluating(ports), 60, "one worker doing the threshold rounds")
        assert replicated(ports[desk]) == PARTITIONS - len(held(ports[desk])) > 0

        stop(workers[desk], signal.SIGKILL)
        survivors = [i for i in range(3) if i != desk]
        counted = sum(rounds(ports[i]) for i in survivors)
        eventually(lambda: sum(rounds(ports[i]) for i in survivors) >= counted + 3, 180,
                   "three threshold rounds on a surviving worker, over every partition")  # fmt: skip
        [new_desk] = eventually(lambda: evaluating([ports[i] for i in survivors]), 60, "the desk on a survivor")
        assert replicated(ports[survivors[new_desk]]) == PARTITIONS - len(held(ports[survivors[new_desk]])) > 0
        # the other survivor runs no rounds: it reports none of the desk's gauges (a sum over the workers counts the
        # open breach once)
        other = ports[survivors[1 - new_desk]]
        assert sample(other, "cxstream_threshold_partitions") == sample(other, "cxstream_open_breaches") == 0
        assert sample(ports[survivors[new_desk]], "cxstream_open_breaches", severity="CRITICAL") >= 1
        after = breaches(bootstrap)
        assert {b["breach_id"] for b in after} == {breach["breach_id"]}
        assert not [b for b in after if b["status"] == "RESOLVED"]
        assert paged() == sent  # neither lost nor sent again under a new id
        assert all(workers[i].poll() is None for i in survivors)
    finally:
        codes = [stop(w, signal.SIGTERM) for w in workers]
    assert all(code == 0 for i, code in enumerate(codes) if i != desk)

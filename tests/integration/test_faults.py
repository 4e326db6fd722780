"""Faults beyond a clean crash, each with known scores and exact end counts, on the embedded broker:

* a worker of two paused (SIGSTOP) past its session timeout and resumed mid-stream: its partitions moved
  while it stood still; it must overwrite no fresh table value, page nobody twice, open no case twice;
* a rebalance storm: a third worker started and stopped three times while the stream runs: no worker stops,
  nothing is lost or counted twice; then one of the two killed (SIGKILL): the other ends exact.

Both run under ``make stress``, the pause 1 + CXSTREAM_STRESS_REPEATS times; the storm came up short in 1 of
25 runs after the last-batch recovery fix (an open defect). No timing is asserted: the waits are
hang guards and the pause is the fault itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.foreign import consume_all
from tests.integration.procs import alive, children, eventually, ready, spawn, stop
from tests.integration.test_breaches import ESCALATIONS, breaches
from tests.integration.test_metrics import (
    ADMIN_TOKEN,
    DEFINITIONS,
    Truth,
    api,
    expected,
    millis,
    produce,
    seeded_stream,
    settled_counts,
    worker_env,
)
from tests.integration.test_warroom import call, complaint

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SITES = {"emea": "ams-1", "amer": "chi-1", "apac": "sin-1"}
TEAMS = ("cx-operations", "customer-service", "logistics", "billing", "field-service")
STRESS_REPEATS = int(os.environ.get("CXSTREAM_STRESS_REPEATS", "5"))


def assert_exact(port: int, truth: Truth) -> None:
    """Every definition, overall and for one region, equals the truth computed from the raw scores."""
    for definition in DEFINITIONS:
        for region in (None, "emea"):
            window = api(port, f"/api/metrics/{definition}/1d" + (f"?region={region}" if region else ""))
            want, got = expected(definition, truth, window, region), window["estimate"]
            assert got["n"] == want["n"], (port, definition, region)
            assert got["value"] == pytest.approx(want["value"], rel=1e-9, abs=1e-9), (port, definition, region)
            assert window["partitions"]["held"] == window["partitions"]["total"], window["partitions"]


def all_counted(port: int, truth: Truth) -> bool:
    """True once every event is counted on ``port``; otherwise raises with the counts (what a hang shows)."""
    if settled_counts(port, truth) is not None:
        return True
    have = {d: api(port, f"/api/metrics/{d}/1d")["estimate"]["n"] for d in DEFINITIONS}
    want = {d: expected(d, truth, api(port, f"/api/metrics/{d}/1d"), None)["n"] for d in DEFINITIONS}
    raise AssertionError(f"counted {have}, sent {want}")


def merged(one: Truth, other: Truth) -> Truth:
    out = Truth(solved=one.solved + other.solved, reopened=one.reopened + other.reopened,
                late_ids=one.late_ids | other.late_ids)  # fmt: skip
    for kind in {*one.scores, *other.scores}:
        out.scores[kind] = one.scores.get(kind, []) + other.scores.get(kind, [])
    for kind in {*one.values, *other.values}:
        out.values[kind] = one.values.get(kind, []) + other.values.get(kind, [])
    return out


def faust_process(supervisor: int) -> int:
    """The worker process a ``cxstream worker`` supervises."""
    found = eventually(lambda: children(supervisor), 30, "the supervised worker process")
    return int(found[0])


def hot_complaints(tag: str, count: int) -> list[bytes]:
    regions = list(SITES)
    return [complaint(f"{tag}-{i}", f"C-{tag}-{i}", regions[i % 3], SITES[regions[i % 3]]) for i in range(count)]


def escalation_ids_by_breach(bootstrap: str, breach_ids: set[str]) -> dict[str, set[str]]:
    """The distinct ids of the first-level escalations of each breach, over every team's topic."""
    found: dict[str, set[str]] = defaultdict(set)
    for team in TEAMS:
        for message in consume_all(bootstrap, f"cx.escalations.{team}", idle_polls=1):
            record = ESCALATIONS.decode(message.value())
            if record["level"] == 0 and record["labels"].get("status") == "firing":
                for breach_id in set(record["breach_ids"]) & breach_ids:
                    found[breach_id].add(record["escalation_id"])
    return dict(found)


def pause_and_resume(bootstrap: str, tmp_path: Path, seed: int) -> None:
    app_id = f"cxstream-pause-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    envs = [worker_env(bootstrap, port, app_id, tmp_path / f"data-{i}") for i, port in enumerate(ports)]
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = [spawn(["worker"], env, log) for env, log in zip(envs, logs, strict=True)]
    try:
        for worker, port in zip(workers, ports[:2], strict=True):
            eventually(lambda w=worker, p=port: w.poll() is None and ready(p), 240, "both workers to be ready")
        records, truth = seeded_stream(seed=seed, now=datetime.now(UTC), count=2400)
        tag = f"pause-{uuid.uuid4().hex[:6]}"
        hots = hot_complaints(tag, 6)
        for hot in hots:  # NPS answers too (detractors)
            answer = json.loads(hot)
            when = datetime.fromisoformat(answer["event_time"].replace("Z", "+00:00"))
            truth.scores["nps"].append((millis(when), answer["region"], answer["survey"]["score"]))
        asyncio.run(produce(bootstrap, records[:1200] + hots[:3]))
        paused = faust_process(workers[1].pid)
        os.kill(paused, signal.SIGSTOP)  # mid-stream, with records fetched and not yet handled
        try:
            asyncio.run(produce(bootstrap, records[1200:] + hots[3:]))
            time.sleep(30)  # the fault: three session timeouts without a heartbeat
        finally:
            os.kill(paused, signal.SIGCONT)
        # it learns it may have lost its partitions, exits before any write, and its supervisor starts it again
        eventually(lambda: not alive(paused), 60, "the resumed worker to exit")
        assert "worker_paused_past_session_timeout" in logs[1].read_text()
        for worker, port in zip(workers, ports[:2], strict=True):
            eventually(lambda w=worker, p=port: w.poll() is None and ready(p), 240, "both workers ready again")
            eventually(lambda p=port: all_counted(p, truth), 240, "every event to be counted")
            assert_exact(port, truth)

        fired = [b for b in breaches(bootstrap) if b["status"] == "FIRING" and tag in "".join(b["event_ids"])]
        assert len(fired) == len({b["breach_id"] for b in fired}) == 6, [b["breach_id"] for b in fired]
        breach_ids = {b["breach_id"] for b in fired}
        cases = {"case-" + b.removeprefix("br-") for b in breach_ids}

        def listed() -> list[dict[str, Any]] | None:
            status, body = call(ports[0], "/api/cases", ADMIN_TOKEN)
            found = [c for c in body["cases"] if c["case_id"] in cases] if status == 200 else []
            return found if len(found) == len(cases) else None

        opened = eventually(listed, 180, "a case for every hot alert")
        assert all(len(case["escalation_ids"]) == 1 for case in opened), opened  # each opened by one escalation
        by_breach = escalation_ids_by_breach(bootstrap, breach_ids)
        assert set(by_breach) == breach_ids
        assert all(len(ids) == 1 for ids in by_breach.values()), by_breach  # paged once, under one id
        assert all(w.poll() is None for w in workers)
    finally:
        codes = [stop(w, signal.SIGTERM) for w in workers]
    assert codes == [0, 0]


@pytest.mark.stress  # exact in 9 of 9 runs since the replay fix; kept with the long fault runs
def test_a_worker_paused_past_its_session_timeout_overwrites_nothing_and_pages_once(
    bootstrap: str, tmp_path: Path
) -> None:
    pause_and_resume(bootstrap, tmp_path, seed=11)


@pytest.mark.stress
@pytest.mark.parametrize("round_", range(STRESS_REPEATS))
def test_the_pause_again_and_again(bootstrap: str, tmp_path: Path, round_: int) -> None:
    pause_and_resume(bootstrap, tmp_path, seed=100 + round_)


@pytest.mark.stress  # short in 1 of 25 runs after the last-batch recovery fix: an open defect, out of make test
def test_a_rebalance_storm_and_a_sigkill_lose_and_double_nothing(bootstrap: str, tmp_path: Path) -> None:
    app_id = f"cxstream-storm-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port(), free_port()]
    envs = [worker_env(bootstrap, port, app_id, tmp_path / f"data-{i}") for i, port in enumerate(ports)]
    workers = [spawn(["worker"], envs[i], tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        for worker, port in zip(workers, ports[:2], strict=True):
            eventually(lambda w=worker, p=port: w.poll() is None and ready(p), 240, "both workers to be ready")
        now = datetime.now(UTC)
        records, truth = seeded_stream(seed=13, now=now, count=2000)
        chunks = [records[i * len(records) // 4 : (i + 1) * len(records) // 4] for i in range(4)]
        asyncio.run(produce(bootstrap, chunks[0]))
        for cycle in range(3):  # a third worker joins and leaves, three times, while records arrive
            third = spawn(["worker"], envs[2], tmp_path / f"worker-2-{cycle}.log")
            try:
                asyncio.run(produce(bootstrap, chunks[1 + cycle]))
                eventually(lambda t=third: t.poll() is None and ready(ports[2]), 240, "the third worker to join")
            finally:
                assert stop(third, signal.SIGTERM) == 0
        for worker, port in zip(workers, ports[:2], strict=True):
            eventually(lambda w=worker, p=port: w.poll() is None and ready(p), 240, "both workers ready")
            eventually(lambda p=port: all_counted(p, truth), 240, "every event to be counted")
            assert_exact(port, truth)

        # one of the two is killed while more records arrive: the other ends exact
        more, extra = seeded_stream(seed=14, now=now, count=600)
        asyncio.run(produce(bootstrap, more[:300]))
        stop(workers[1], signal.SIGKILL)
        asyncio.run(produce(bootstrap, more[300:]))
        truth = merged(truth, extra)
        eventually(lambda: ready(ports[0]), 240, "the survivor to hold every partition")
        eventually(lambda: all_counted(ports[0], truth), 240, "every event to be counted")
        assert_exact(ports[0], truth)
        assert workers[0].poll() is None
    finally:
        codes = [stop(w, signal.SIGTERM) for w in workers]
    assert codes[0] == 0

"""A real fall in a metric becomes a breach on cx.breaches, read by a client that is not cxstream; a worker
killed and restarted does not open it again."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cxstream.kafka.embedded import free_port
from tests.integration.foreign import SingleObjectReader, consume_all
from tests.integration.procs import ROOT, eventually, ready, spawn, stop
from tests.integration.test_ingest import scrape, total
from tests.integration.test_metrics import iso, worker_env

pytestmark = pytest.mark.integration
READER = SingleObjectReader(ROOT / "schemas/Breach.avsc")
ESCALATIONS = SingleObjectReader(ROOT / "schemas/Escalation.avsc")


def answers(region: str, site: str, scores: list[int], tag: str) -> list[bytes]:
    when = datetime.now(UTC) - timedelta(minutes=20)
    return [
        json.dumps({
            "event_id": f"{tag}-{region}-{i}", "event_type": "SURVEY_RESPONSE", "event_time": iso(when),
            "customer_id": f"C-{i}", "region": region, "site": site, "team": "logistics",
            "journey_stage": "delivery", "touchpoint": "delivery", "channel": "email",
            "survey": {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5},
        }).encode()
        for i, score in enumerate(scores)
    ]  # fmt: skip


async def produce(bootstrap: str, records: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait("cx.raw.canonical", record, key=json.loads(record)["event_id"].encode())
    finally:
        await producer.stop()


def breaches(bootstrap: str) -> list[dict[str, Any]]:
    return [READER.decode(m.value()) for m in consume_all(bootstrap, "cx.breaches", idle_polls=2)]


def escalations(bootstrap: str, team: str) -> list[dict[str, Any]]:
    return [ESCALATIONS.decode(m.value()) for m in consume_all(bootstrap, f"cx.escalations.{team}", idle_polls=2)]


def test_a_falling_metric_raises_one_breach_and_one_escalation_across_a_restart(bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-breach-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    worker = spawn(["worker"], env, tmp_path / "worker-1.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        tag = uuid.uuid4().hex[:6]
        # EMEA: 120 answers, 10 % satisfied (critical is 55 %); AMER: 120 answers, 90 % satisfied
        asyncio.run(produce(bootstrap, answers("emea", "ams-1", [5] * 12 + [1] * 108, tag)
                            + answers("amer", "chi-1", [5] * 108 + [2] * 12, tag)))  # fmt: skip

        def firing() -> list[dict[str, Any]] | None:
            found = [b for b in breaches(bootstrap) if b["status"] == "FIRING"]
            return found or None

        [breach] = eventually(firing, 180, "a FIRING breach on cx.breaches")
        assert breach["rule_id"] == "csat.delivery.low" and breach["severity"] == "CRITICAL"
        assert breach["scope"] == {"region": "emea"} and breach["n"] == 120
        assert breach["labels"]["owner"] == "logistics"
        assert breach["value"] == pytest.approx(10.0) and breach["interval_high"] < 55

        # the owner's team gets it at once (critical logistics route: group_wait 0s); nobody else does
        [escalation] = eventually(lambda: escalations(bootstrap, "logistics") or None, 60, "the escalation")
        assert escalation["breach_ids"] == [breach["breach_id"]] and escalation["severity"] == "CRITICAL"
        assert escalation["labels"]["status"] == "firing" and "emea" in escalation["summary"]
        assert escalations(bootstrap, "customer-service") == [] and escalations(bootstrap, "cx-operations") == []

        stop(worker, signal.SIGKILL)
        worker = spawn(["worker"], env, tmp_path / "worker-2.log")
        eventually(lambda: worker.poll() is None and ready(port), 240, "the restarted worker to be ready")
        eventually(lambda: total(scrape(port), "cxstream_breach_evaluations_total", outcome="done") >= 3, 120,
                   "three evaluation rounds after the restart")  # fmt: skip
        after = breaches(bootstrap)
        assert {b["breach_id"] for b in after if b["status"] == "FIRING"} == {breach["breach_id"]}
        assert not [b for b in after if b["status"] == "RESOLVED"]
        # neither lost nor sent again as a new one: a re-send after the crash would carry the same id
        assert {e["escalation_id"] for e in escalations(bootstrap, "logistics")} == {escalation["escalation_id"]}
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0

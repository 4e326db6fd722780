from __future__ import annotations

import asyncio
import json
import re
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cxstream.kafka import earliest
from cxstream.kafka.embedded import free_port
from cxstream.serde.avro import CodecFactory, read_avro_json
from cxstream.serde.catalog import SchemaCatalog
from tests.integration.procs import ROOT, alive, children, eventually, http_get, ready, spawn, stop

pytestmark = pytest.mark.integration
CODECS = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas"))
EVENT_CODEC = CODECS.for_topic("cx.events", "cxstream.CanonicalEvent")
DLQ_CODEC = CODECS.for_topic("cx.dlq", "cxstream.DeadLetter")
GARBAGE = b"\xff\xfe not avro, not even UTF-8 \x00"


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def produce(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait("cx.events", value, key=key)
    finally:
        await producer.stop()


async def read_dead_letters(bootstrap: str, count: int) -> list[dict]:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        "cx.dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=f"t-{uuid.uuid4()}"
    )
    await earliest.start(consumer)
    found = []
    try:
        while len(found) < count:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 60)
            for messages in batch.values():
                found.extend(DLQ_CODEC.decode(m.value) for m in messages)
    finally:
        await consumer.stop()
    return found


@pytest.fixture
def worker(bootstrap: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {
        "CXSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "CXSTREAM_WEB_PORT": str(port),
        "CXSTREAM_APP_ID": f"cxstream-test-{uuid.uuid4().hex[:8]}",
        "CXSTREAM_DATA_DIR": str(tmp_path / "data"),
        "CXSTREAM_LOG_FORMAT": "json",
    }
    proc = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: proc.poll() is None and ready(port), 180, "the worker to be ready")
    except AssertionError:
        stop(proc, signal.SIGKILL)
        raise AssertionError((tmp_path / "worker.log").read_text()[-4000:]) from None
    yield proc, port, tmp_path / "worker.log"
    if proc.poll() is None:
        stop(proc, signal.SIGKILL)


def test_worker_serves_health_metrics_and_dead_letters_bad_records(bootstrap: str, worker) -> None:  # type: ignore[no-untyped-def]
    proc, port, log = worker
    base = f"http://127.0.0.1:{port}"
    assert http_get(f"{base}/healthz") == (200, '{"status":"ok"}')
    checks = ready(port)
    assert checks is not None and checks["ready"] is True
    assert set(checks["checks"]) == {"broker", "partitions_assigned", "tables_recovered", "partitions_answered",
                                     "agents", "history_loaded"}  # fmt: skip
    assert checks["checks"]["partitions_answered"]["detail"] == "answering for 6 of 6 partitions"

    event = read_avro_json(EVENT_CODEC.entry, (ROOT / "examples/topics/cx.events.json").read_text())
    asyncio.run(produce(bootstrap, [(b"381772941", EVENT_CODEC.encode(event)), (b"bad", GARBAGE)]))

    [dead] = asyncio.run(read_dead_letters(bootstrap, 1))
    assert dead["original_value"] == GARBAGE
    assert dead["original_key"] == b"bad"
    assert dead["stage"] == "DECODE"
    assert dead["reasons"][0]["rule_id"] == "decode.avro"
    assert "single-object" in dead["reasons"][0]["message"]
    assert dead["source_topic"] == "cx.events"
    assert dead["dead_letter_id"] == f"cx.events/{dead['source_partition']}/{dead['source_offset']}"

    def counted() -> str | None:
        status, text = http_get(f"{base}/metrics")
        done = metric(text, "cxstream_events_total", source="helpdesk", event_type="SURVEY_RESPONSE") == 1.0
        return text if status == 200 and done else None

    text = eventually(counted, 60, "the event to be counted")
    assert metric(text, "cxstream_dead_letters_total", source="cx.events", stage="DECODE") == 1.0
    assert metric(text, "cxstream_messages_in_total", topic="cx.events") == 2.0
    assert metric(text, "cxstream_messages_out_total", topic="cx.dlq") == 1.0
    assert metric(text, "cxstream_ready") == 1.0
    assert re.search(r'^cxstream_build_info\{app_id="cxstream-test-\w+",version="[^"]+"\} 1\.0$', text, re.M)
    assert "# HELP cxstream_event_ingest_delay_seconds" in text

    # the worker survived the bad record and stops cleanly on SIGTERM
    assert proc.poll() is None
    assert stop(proc, signal.SIGTERM) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(entry.get("event") == "dead_lettered" and entry.get("stage") == "DECODE" for entry in lines)


def test_make_run_equivalent_starts_everything_and_ctrl_c_leaves_no_process(tmp_path: Path) -> None:
    """`cxstream run` with no cluster configured: embedded broker, topics, worker; SIGINT stops all."""
    port = free_port()
    env = {
        "CXSTREAM_WEB_PORT": str(port),
        "CXSTREAM_DATA_DIR": str(tmp_path / "data"),
        "CXSTREAM_LOG_FORMAT": "json",
    }
    proc = spawn(["run"], env, tmp_path / "run.log")
    try:
        eventually(lambda: proc.poll() is None and ready(port), 180, "cxstream run to be ready")
        status, text = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "cxstream_ready 1.0" in text
        brokers = children(proc.pid)
        assert brokers, "the embedded broker should be a child of cxstream run"
        # the demo loads a year of past records into metric history first: the history chart has data at once
        token = re.search(r"#token=(\S+)", (tmp_path / "run.log").read_text())
        assert token, "cxstream run prints the page's link with a token"

        def past_months() -> int:
            status, body = http_get(f"http://127.0.0.1:{port}/api/metrics/csat.delivery/history?grain=month",
                                    token=token.group(1))  # fmt: skip
            months = json.loads(body)["points"] if status == 200 else []
            return sum(1 for m in months if m["imported"] and m["estimate"]["n"] > 0)

        assert eventually(lambda: past_months() >= 12, 180, "a year of demo history")

        def staffed() -> dict[str, Any] | None:  # and eight weeks of helpdesk contacts: a staffing forecast
            status, body = http_get(f"http://127.0.0.1:{port}/api/workforce/emea-chat", token=token.group(1))
            plan = json.loads(body) if status == 200 else None
            return plan if plan and plan["insufficient"] is None and plan["accuracy"]["days"] >= 6 else None

        plan = eventually(staffed, 120, "the demo's staffing forecast")
        assert any(i["agents"] for i in plan["intervals"]) and plan["history"]["days"] >= 50
        assert [t["tier"] for t in plan["tiers"]] == ["complex", "simple", "standard"]

        def floor() -> dict[str, Any] | None:  # the demo floor: four EMEA chat agents logged in
            status, body = http_get(f"http://127.0.0.1:{port}/api/workforce/emea-chat", token=token.group(1))
            live = json.loads(body)["live"] if status == 200 else None
            return live if live and live["floor"]["agents"] == 4 and live["intervals"] else None

        live = eventually(floor, 120, "the demo's floor of EMEA chat")

        def planned() -> list[dict[str, Any]] | None:  # and a training in the workforce calendar, assessed
            status, body = http_get(f"http://127.0.0.1:{port}/api/calendar", token=token.group(1))
            return json.loads(body)["entries"] or None if status == 200 else None

        [training] = eventually(planned, 120, "the demo's planned training")
        assert training["queues"] == ["billing"] and training["verdict"] in ("ok", "below_target")
        assert live["floor"]["staffed"] + sum(n for s, n in live["floor"]["by_status"].items() if s == "away") == 4
    finally:
        code = stop(proc, signal.SIGINT)
    assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert not any(alive(pid) for pid in brokers)
    assert f"http://127.0.0.1:{port}/metrics" in (tmp_path / "run.log").read_text()


def test_sigkill_of_cxstream_run_takes_the_broker_down(tmp_path: Path) -> None:
    port = free_port()
    env = {"CXSTREAM_WEB_PORT": str(port), "CXSTREAM_DATA_DIR": str(tmp_path / "data")}
    proc = spawn(["run"], env, tmp_path / "run.log")
    try:
        brokers = eventually(lambda: children(proc.pid), 60, "the embedded broker to start")
    finally:
        stop(proc, signal.SIGKILL)
    eventually(lambda: not any(alive(pid) for pid in brokers), 10, "the broker to die with its parent")

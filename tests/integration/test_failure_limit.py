"""The dead-letter limit on a real broker: a connector whose handling raises on every record costs a bounded
number of records (dead-lettered with the reason), then the normalize agent stops, ``/readyz`` says which agent
and why, the other agents go on, and the records it did not take are still on the raw topic, beyond the consumer
group's committed offset, for a worker restarted after the fix."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cxstream.kafka import earliest
from cxstream.kafka.embedded import free_port
from cxstream.serde.avro import CodecFactory, read_avro_json
from cxstream.serde.catalog import SchemaCatalog
from tests.integration.procs import ROOT, eventually, http_get, ready, spawn, stop
from tests.integration.test_worker import metric

pytestmark = pytest.mark.integration
CODECS = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas"))
DLQ_CODEC = CODECS.for_topic("cx.dlq", "cxstream.DeadLetter")
EVENT_CODEC = CODECS.for_topic("cx.events", "cxstream.CanonicalEvent")
RAW = "cx.raw.explode"
RECORDS, LIMIT = 150, 20

CONNECTOR = '''
from cxstream.connectors.base import Connector


class ExplodingConnector(Connector):
    """A connector whose mapping calls a service that is down: every record raises."""

    name = "explode"
    description = "raises on every record (a test of the dead-letter limit)"

    def map(self, payload, context, raw):
        raise RuntimeError("inventory service unavailable")
'''

TOPOLOGY = f"""
topics:
  - name: {RAW}
    description: Records of a connector that raises on each.
    owner: data-platform
    partitions: 6
    retention: 7d
    key: string
    value: {{format: raw}}
connectors:
  - name: explode
"""


def plugin(tmp_path: Path) -> tuple[Path, Path]:
    """An installed connector package (module and .dist-info with its entry point) and a topology enabling it."""
    site = tmp_path / "site"
    (site / "cxstream_explode-0.1.0.dist-info").mkdir(parents=True)
    (site / "cxstream_explode.py").write_text(CONNECTOR)
    dist = site / "cxstream_explode-0.1.0.dist-info"
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cxstream_explode\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[cxstream.connectors]\nexplode = cxstream_explode:ExplodingConnector\n")
    topologies = tmp_path / "project/topologies"
    shutil.copytree(ROOT / "topologies", topologies)
    (tmp_path / "project/examples").symlink_to(ROOT / "examples")
    (topologies / "explode.yaml").write_text(TOPOLOGY)
    return site, topologies


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in records:  # the raw records all on partition 0: offsets 0, 1, 2 ... in one order
            await producer.send_and_wait(topic, value, key=key, partition=0 if topic == RAW else None)
    finally:
        await producer.stop()


async def dead_letter_offsets(bootstrap: str) -> list[int]:
    """The raw-topic offsets of every dead letter from ``RAW`` so far."""
    consumer = AIOKafkaConsumer(
        "cx.dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=f"t-{uuid.uuid4()}"
    )
    await earliest.start(consumer)
    found: list[int] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return found
            for messages in batch.values():
                for message in messages:
                    dead = DLQ_CODEC.decode(message.value)
                    if dead["source_topic"] == RAW:
                        assert dead["reasons"][0]["message"] == "RuntimeError: inventory service unavailable"
                        found.append(dead["source_offset"])
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str) -> tuple[int, int]:
    """(the group's committed offset on the raw topic, 0 when none; the topic's end offset), asked as any
    Kafka client would (OffsetFetch for the group, without joining it)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(RAW, 0)
        end = (await consumer.end_offsets([tp]))[tp]
        return (await consumer.committed(tp)) or 0, end
    finally:
        await consumer.stop()


async def raw_offsets(bootstrap: str, start: int) -> list[int]:
    """The offsets of the raw topic's records from ``start`` to its end, as a restarted worker would read them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(RAW, 0)
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: list[int] = []
        while len(found) < RECORDS - start:
            batch = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=1000), 30)
            found += [m.offset for m in batch.get(tp, [])]
        return found
    finally:
        await consumer.stop()


def readyz(port: int) -> dict[str, Any] | None:
    status, body = http_get(f"http://127.0.0.1:{port}/readyz")
    return json.loads(body) if status == 503 else None


def test_an_agent_that_keeps_failing_stops_at_the_limit_and_loses_nothing(bootstrap: str, tmp_path: Path) -> None:
    site, topologies = plugin(tmp_path)
    group = f"cxstream-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        "CXSTREAM_KAFKA_BOOTSTRAP": bootstrap, "CXSTREAM_WEB_PORT": str(port), "CXSTREAM_APP_ID": group,
        "CXSTREAM_DATA_DIR": str(tmp_path / "data"), "CXSTREAM_LOG_FORMAT": "json",
        "CXSTREAM_TOPOLOGY_DIR": str(topologies), "CXSTREAM_DLQ_MAX_CONSECUTIVE": str(LIMIT),
        "PYTHONPATH": str(site),
    }  # fmt: skip
    log = tmp_path / "worker.log"
    proc = spawn(["worker"], env, log)
    try:
        eventually(lambda: proc.poll() is None and ready(port), 180, "the worker to be ready")
        assert ready(port)["checks"]["agents"] == {"ok": True, "detail": "running"}  # type: ignore[index]
        records = [(f"r{i}".encode(), json.dumps({"id": i}).encode()) for i in range(RECORDS)]
        asyncio.run(produce(bootstrap, RAW, records))

        answer = eventually(lambda: readyz(port), 120, "/readyz to say the agent stopped")
        agents = answer["checks"]["agents"]
        assert agents["ok"] is False and answer["ready"] is False
        assert agents["detail"].startswith("cxstream.normalize stopped at the dead-letter limit: 20 records in a row")
        assert agents["stopped"]["cxstream.normalize"]["consecutive"] == LIMIT
        assert "RuntimeError: inventory service unavailable" in agents["detail"]

        # each failure up to the limit cost its record, kept in cx.dlq; none after it was taken
        assert sorted(set(asyncio.run(dead_letter_offsets(bootstrap)))) == list(range(LIMIT))
        _, text = http_get(f"http://127.0.0.1:{port}/metrics")
        assert metric(text, "cxstream_agent_stopped", agent="cxstream.normalize") == 1.0
        assert metric(text, "cxstream_agent_stopped", agent="cxstream.events-monitor") == 0.0
        assert metric(text, "cxstream_agent_failures_total", agent="cxstream.normalize") == float(LIMIT)

        # the other agents go on: a canonical event is still counted
        event = read_avro_json(EVENT_CODEC.entry, (ROOT / "examples/topics/cx.events.json").read_text())
        asyncio.run(produce(bootstrap, "cx.events", [(b"381772941", EVENT_CODEC.encode(event))]))

        def counted() -> bool:
            _, text = http_get(f"http://127.0.0.1:{port}/metrics")
            return metric(text, "cxstream_events_total", source="helpdesk", event_type="SURVEY_RESPONSE") == 1.0

        eventually(counted, 60, "the events agent to count an event while normalize is stopped")

        # the group never claims the records the agent did not take: they are all still there to be read
        offset, end = asyncio.run(committed(bootstrap, group))
        assert end == RECORDS and offset <= LIMIT
        assert asyncio.run(raw_offsets(bootstrap, offset)) == list(range(offset, RECORDS))
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        [stopped] = [e for e in lines if e.get("event") == "agent_stopped"]
        assert stopped["level"] == "error" and stopped["agent"] == "cxstream.normalize"
        assert stop(proc, signal.SIGTERM) == 0  # a stopped agent holds up neither shutdown nor rebalances
    finally:
        if proc.poll() is None:
            stop(proc, signal.SIGKILL)

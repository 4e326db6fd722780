from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cxstream.cli import main
from cxstream.config.topology import load_topology
from cxstream.kafka.topics import TopicAdmin
from cxstream.serde.catalog import SchemaCatalog

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = load_topology(ROOT / "topologies", SchemaCatalog.from_dir(ROOT / "schemas").names())


async def create(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def apply(bootstrap: str) -> list[tuple[str, str, list[str]]]:
    async with TopicAdmin({"bootstrap_servers": bootstrap}) as admin:
        return [(r.spec.name, r.status, r.errors) for r in await admin.apply(TOPOLOGY)]


def test_apply_creates_everything_then_is_idempotent(bootstrap: str) -> None:
    first = asyncio.run(apply(bootstrap))
    assert {status for _, status, _ in first} == {"created"}
    assert [name for name, _, _ in first] == [t.name for t in TOPOLOGY.topics]
    second = asyncio.run(apply(bootstrap))
    assert {status for _, status, _ in second} == {"ok"}

    async def actual() -> dict[str, int]:
        async with TopicAdmin({"bootstrap_servers": bootstrap}) as admin:
            return {n: a.partitions for n, a in (await admin.actual_topics()).items()}

    assert actual_partitions(asyncio.run(actual())) == {t.name: t.partitions for t in TOPOLOGY.topics}


def actual_partitions(found: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in found.items() if name.startswith("cx.")}


def test_drift_is_reported_not_repaired(
    bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(create(bootstrap, "cx.events", 2))
    asyncio.run(create(bootstrap, "cx.stray", 1))
    monkeypatch.setenv("CXSTREAM_KAFKA_BOOTSTRAP", bootstrap)

    assert main(["topics", "list"]) == 1  # most declared topics are missing
    listing = capsys.readouterr().out
    assert "cx.raw.crm" in listing and "missing" in listing
    assert "cx.stray" in listing and "extra" in listing

    assert main(["topics", "apply"]) == 1
    out = capsys.readouterr().out
    events_line = next(line for line in out.splitlines() if line.startswith("cx.events "))
    assert "drift" in events_line and "2/6" in events_line and "declared 6" in events_line
    assert "cx.dlq" in out and "created" in out

    results = {name: status for name, status, _ in asyncio.run(apply(bootstrap))}
    assert results["cx.events"] == "drift"  # still 2 partitions: cxstream never alters a topic
    assert {s for n, s in results.items() if n != "cx.events"} == {"ok"}


def test_topics_need_a_configured_cluster(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CXSTREAM_KAFKA_BOOTSTRAP", raising=False)
    assert main(["topics", "apply"]) == 2
    assert "CXSTREAM_KAFKA_BOOTSTRAP is not set" in capsys.readouterr().err

"""``make bench``, ceiling part: how fast the hot path's business work runs without Faust, next to a minimal Faust
agent measured in the same run. It answers how far a batch loop on aiokafka could take the worker.

One process, one event loop, aiokafka directly, on the same demo records as the throughput part:

* stage 1 reads the raw topics, maps, enriches and validates each record (the connectors and the validator the
  worker runs), keeps the event ids seen in a dict and writes each as a JSON changelog record, and sends the
  canonical events, Avro-encoded, to ``cx.events``;
* stage 2 reads ``cx.events``, decodes each record, builds the canonical event, applies its metric cells (the
  domain's ``updates_for`` and ``apply_update``) in a dict and writes each changed cell as a JSON changelog record.

Left out, so this is a ceiling and not a design: consumer groups and commits, fencing, recovery, the outbox's
acknowledgements, contacts and invites, ticket memory, hot-alert rules, history, dead letters and the Prometheus
counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from ingest_metrics import ROOT, create_topic, cxstream_env, demo_records, produce, run_baseline

from cxstream.app import load_context
from cxstream.connectors.base import RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.domain.ingest.enrichment import drivers_of
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.ingest.memory import RawPosition, SeenEvent
from cxstream.domain.metrics.cells import CellValue, apply_update
from cxstream.domain.metrics.measure import updates_for
from cxstream.kafka.embedded import EmbeddedBroker, free_port
from cxstream.settings import Settings

CHANGELOG = "bench.bare.changelog"
BATCH = 500


async def run_bare(bootstrap: str, count: int) -> tuple[float, float]:
    """Records/s and CPU seconds per record of the two stages over ``count`` raw records already on the broker."""
    ctx = load_context(Settings(kafka_bootstrap=bootstrap))
    codec = ctx.codec("cx.events")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    options = {"bootstrap_servers": bootstrap, "auto_offset_reset": "earliest", "enable_auto_commit": False,
               "group_id": None, "fetch_max_wait_ms": 50}  # fmt: skip
    raw = AIOKafkaConsumer(*sorted(ctx.connectors), **options)
    events = AIOKafkaConsumer("cx.events", **options)
    for client in (producer, raw, events):
        await client.start()
    seen: dict[str, SeenEvent] = {}
    cells: dict[str, CellValue] = {}
    done = {"raw": 0, "published": 0, "read": 0}

    async def normalize() -> None:
        while done["raw"] < count:
            for tp, messages in (await raw.getmany(timeout_ms=200, max_records=BATCH)).items():
                connector = ctx.connectors[tp.topic]
                for message in messages:
                    done["raw"] += 1
                    context = RawContext(datetime.now(UTC))
                    outcome = normalize_record(connector, message.value or b"", context, ctx.validator, ctx.enricher)
                    if outcome.rejects or outcome.ignored:
                        continue
                    for event in outcome.events:
                        if event.event_id in seen:
                            continue
                        entry = seen[event.event_id] = SeenEvent(
                            time.time_ns() // 1_000_000, message.partition, RawPosition(message.topic, message.offset)
                        )
                        await producer.send(
                            CHANGELOG,
                            json.dumps(entry.to_json()).encode(),
                            key=json.dumps(event.event_id).encode(),
                            partition=message.partition,
                        )
                        await producer.send("cx.events", codec.encode(event.to_record()), key=event.key.encode())
                        done["published"] += 1

    async def apply_cells() -> None:
        spec = ctx.topology.metrics
        while done["raw"] < count or done["read"] < done["published"]:
            for tp, messages in (await events.getmany(timeout_ms=200, max_records=BATCH)).items():
                for message in messages:
                    done["read"] += 1
                    event = CanonicalEvent.from_record(codec.decode(message.value))
                    for update in updates_for(spec, event, tp.partition, drivers_of(event)):
                        key = update.key.encode()
                        value = apply_update(cells.get(key), update, message.offset, None, 0)
                        if value is not None:
                            cells[key] = value
                            await producer.send(CHANGELOG, json.dumps(value.to_json()).encode(),
                                                key=json.dumps(key).encode(), partition=tp.partition)  # fmt: skip

    start, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(normalize(), apply_cells())
    await producer.flush()
    seconds, spent = time.monotonic() - start, time.process_time() - cpu
    for client in (raw, events, producer):
        await client.stop()
    return count / seconds, spent / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="raw records per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, alternating (default 2)")
    args = parser.parse_args()
    print(f"ceiling: the hot path's business work on aiokafka without Faust, {args.events} records per run, "
          f"{args.repeat} runs of each, a fresh embedded broker per run")  # fmt: skip
    baseline: list[float] = []
    bare: list[float] = []
    cpu: list[float] = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
            baseline.append(run_baseline(broker.bootstrap, args.events, Path(tmp))["events_per_s"])
        with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
            env = cxstream_env(broker.bootstrap, free_port(), Path(tmp) / "cxstream", "bench-bare")
            subprocess.run([sys.executable, "-m", "cxstream.cli", "topics", "apply"], env=env, cwd=ROOT, check=True,
                           capture_output=True)  # fmt: skip
            asyncio.run(create_topic(broker.bootstrap, CHANGELOG, 6))
            asyncio.run(produce(broker.bootstrap, demo_records(args.events)))
            rate, per_record = asyncio.run(run_bare(broker.bootstrap, args.events))
        bare.append(rate)
        cpu.append(per_record)
        print(f"run {i + 1}: minimal agent {baseline[-1]:.0f}/s, business work without Faust {rate:.0f}/s "
              f"({1000 * per_record:.2f} ms of CPU a record)")  # fmt: skip
    ratios = [b / m for b, m in zip(bare, baseline, strict=True)]
    print(f"ceiling ratio (business work without Faust / minimal agent): {statistics.fmean(ratios):.3f} "
          f"(n={len(ratios)} paired runs, range {min(ratios):.3f}-{max(ratios):.3f}); "
          f"{statistics.fmean(bare):.0f} records/s, {1000 * statistics.fmean(cpu):.2f} ms of CPU a record")  # fmt: skip


if __name__ == "__main__":
    main()

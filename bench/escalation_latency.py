"""``make bench``, latency part: from the produce of an event that demands action to the arrival of its
escalation on the team topic, through the whole path (raw topic -> normalization and the hot-alert rules ->
control topic -> routing -> cx.escalations.<team>), while the demo source keeps the worker busy with ordinary
traffic.
The baseline, measured in the same run on a fresh broker: a minimal Faust agent forwarding each message from
one topic to another (one hop of the five that cxstream's path takes).

Each probe is a detractor whose comment names a critical driver; its escalation is recognised by the breach
id, which is derived from the rule and the event id. Arrival is the moment the consumer here receives it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cxstream.app import load_context
from cxstream.domain.alerting.hot_alerts import hot_breach_id
from cxstream.kafka.embedded import EmbeddedBroker, free_port
from cxstream.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RULE = "detractor.critical-driver"
TEAM_TOPIC = "cx.escalations.cx-operations"


def probe_event(event_id: str) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({
        "event_id": event_id, "event_type": "SURVEY_RESPONSE", "event_time": now, "customer_id": "C-BENCH",
        "region": "emea", "site": "ams-1", "team": "cx-operations", "journey_stage": "relationship",
        "channel": "email",
        "survey": {"metric": "NPS", "score": 0, "scale_min": 0, "scale_max": 10,
                   "verbatim": "Third late parcel, I am cancelling my account."},
    }).encode()  # fmt: skip


async def probe(
    bootstrap: str,
    send_topic: str,
    make: Callable[[str], bytes],
    receive_topic: str,
    tag_of: Callable[[bytes], list[str]],
    count: int,
    interval_s: float,
) -> tuple[list[float], int]:
    """Latencies in ms of ``count`` probes, after one warm-up probe has made the whole way, and how many had not
    arrived a minute after the last was sent."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    expected: set[str] = set()
    complete = asyncio.Event()

    async def receive() -> None:
        partitions = consumer.partitions_for_topic(receive_topic) or set()
        tps = [TopicPartition(receive_topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for messages in batch.values():
                for message in messages:
                    for tag in tag_of(message.value):
                        arrived.setdefault(tag, now)
            if expected and expected <= arrived.keys():
                complete.set()

    async def send(tag: str) -> None:
        sent[tag] = time.perf_counter()
        await producer.send_and_wait(send_topic, make(tag), key=tag.encode())

    await consumer.topics()
    task = asyncio.create_task(receive())
    try:
        await asyncio.sleep(1)
        deadline = time.monotonic() + 300
        while not any(t in arrived for t in sent):  # warm-up: until one probe has come through
            if time.monotonic() > deadline:
                raise SystemExit("no probe came through within 5 minutes")
            await send(f"warm-{uuid.uuid4().hex[:10]}")
            await asyncio.sleep(2)
        tags = [f"probe-{uuid.uuid4().hex[:10]}" for _ in range(count)]
        expected.update(tags)
        for tag in tags:
            await send(tag)
            await asyncio.sleep(interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), WAIT_AFTER_S)
        # a probe still missing a minute after the last one was sent counts at the moment the wait ended: the
        # percentiles are then lower bounds, and the line says how many came late
        ended = time.perf_counter()
        return [(arrived.get(t, ended) - sent[t]) * 1000 for t in tags], sum(t not in arrived for t in tags)
    finally:
        task.cancel()
        await producer.stop()
        await consumer.stop()


WAIT_AFTER_S = 60


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


Probed = tuple[list[float], int]  # latencies in ms, and how many of them came later than the wait allowed


def baseline(count: int, interval_s: float, fetch_wait_ms: int | None = None) -> Probed:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:

        async def topics() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
            await admin.start()
            try:
                await admin.create_topics([NewTopic("bench.in", 3, 1), NewTopic("bench.out", 3, 1)])
            finally:
                await admin.close()

        asyncio.run(topics())
        args = [
            sys.executable,
            str(ROOT / "bench/minimal_forwarder.py"),
            broker.bootstrap,
            "bench.in",
            "bench.out",
            tmp,
            *([str(fetch_wait_ms)] if fetch_wait_ms is not None else []),
        ]
        forwarder = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return asyncio.run(
                probe(broker.bootstrap, "bench.in", lambda tag: tag.encode(), "bench.out",
                      lambda value: [value.decode()], count, interval_s)
            )  # fmt: skip
        finally:
            forwarder.terminate()
            forwarder.wait(60)


def cxstream(count: int, interval_s: float, demo_rate: float, fetch_wait_s: float | None = None) -> Probed:
    codec = load_context(Settings()).codecs.for_topic(TEAM_TOPIC, "cxstream.Escalation")
    by_breach: dict[str, str] = {}

    def make(tag: str) -> bytes:
        by_breach[hot_breach_id(RULE, tag)] = tag
        return probe_event(tag)

    def tags(value: bytes) -> list[str]:
        record = codec.decode(value)
        return [by_breach[b] for b in record["breach_ids"] if b in by_breach and record["level"] == 0]

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}
        env.update(
            CXSTREAM_KAFKA_BOOTSTRAP=broker.bootstrap, CXSTREAM_WEB_PORT=str(port), CXSTREAM_LOG_LEVEL="WARNING",
            CXSTREAM_LOG_FORMAT="json", CXSTREAM_DATA_DIR=str(Path(tmp) / "data"), CXSTREAM_APP_ID="bench-latency",
        )  # fmt: skip
        if fetch_wait_s is not None:
            env["CXSTREAM_CONSUMER_FETCH_WAIT"] = str(fetch_wait_s)
        cli = [sys.executable, "-m", "cxstream.cli"]
        subprocess.run([*cli, "topics", "apply"], env=env, cwd=ROOT, check=True, capture_output=True)
        log = (Path(tmp) / "worker.log").open("wb")
        worker = subprocess.Popen([*cli, "worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        demo = None
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).status == 200:
                        break
                except OSError:
                    time.sleep(0.5)
            if demo_rate > 0:
                demo = subprocess.Popen([*cli, "demo", "--rate", str(demo_rate), "--malformed", "0"], env=env,
                                        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            return asyncio.run(probe(broker.bootstrap, "cx.raw.canonical", make, TEAM_TOPIC, tags, count, interval_s))
        finally:
            if demo is not None:
                demo.terminate()
                demo.wait(30)
            worker.terminate()
            worker.wait(60)


def describe(probed: Probed) -> str:
    values, late = probed
    bound = ">" if late else ""
    text = (f"p50 {bound}{percentile(values, 0.5):6.0f} ms  p99 {bound}{percentile(values, 0.99):6.0f} ms  "
            f"mean {bound}{statistics.fmean(values):5.0f} ms  (n={len(values)})")  # fmt: skip
    return text + (f"; {late} not there {WAIT_AFTER_S} s after the last probe (the worker fell behind)" if late else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=200, help="probes per path (default 200)")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between probes (default 0.25)")
    parser.add_argument("--demo-rate", type=float, default=20.0, help="background demo records/s (default 20)")
    parser.add_argument("--busy-rate", type=float, default=1000.0,
                        help="background records/s of the busy run (default 1,000; 0 leaves it out)")  # fmt: skip
    args = parser.parse_args()
    wait_s = Settings().consumer_fetch_wait
    print(f"latency: {args.probes} probes per path, one every {args.interval:g} s; cxstream under "
          f"{args.demo_rate:g} demo records/s of background traffic; what a hop waits for: the consumer's fetch "
          f"wait, Faust's fixed 1.5 s against cxstream's {wait_s:g} s (CXSTREAM_CONSUMER_FETCH_WAIT)")  # fmt: skip
    faust_hop = baseline(args.probes, args.interval)
    base = baseline(args.probes, args.interval, round(wait_s * 1000))
    before = cxstream(args.probes, args.interval, args.demo_rate, 1.5)
    ours = cxstream(args.probes, args.interval, args.demo_rate)
    busy = cxstream(args.probes, args.interval, args.busy_rate) if args.busy_rate > 0 else None
    print(f"{'minimal Faust agent, one hop, fetch wait 1.5 s':62} {describe(faust_hop)}")
    print(f"{f'minimal Faust agent, one hop, fetch wait {wait_s:g} s':62} {describe(base)}")
    print(f"{f'cxstream, produce -> escalation, fetch wait 1.5 s, {args.demo_rate:g}/s':62} {describe(before)}")
    print(f"{f'cxstream, produce -> escalation, fetch wait {wait_s:g} s, {args.demo_rate:g}/s':62} {describe(ours)}")
    if busy:
        print(f"{f'cxstream, produce -> escalation, fetch wait {wait_s:g} s, {args.busy_rate:g}/s':62} "
              f"{describe(busy)}")  # fmt: skip
    p50 = percentile(ours[0], 0.5) / percentile(base[0], 0.5)
    p99 = percentile(ours[0], 0.99) / percentile(base[0], 0.99)
    gain50 = percentile(ours[0], 0.5) / percentile(before[0], 0.5)
    gain99 = percentile(ours[0], 0.99) / percentile(before[0], 0.99)
    print(f"latency ratio cxstream / one minimal hop (both {wait_s:g} s): p50 {p50:.1f}, p99 {p99:.1f} "
          f"(n={len(ours[0])} and {len(base[0])}); cxstream at {wait_s:g} s / at 1.5 s: p50 {gain50:.2f}, "
          f"p99 {gain99:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

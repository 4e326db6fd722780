"""Sends demo traffic to the raw topics at a steady rate."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer

from cxstream.demo.floor import DemoFloor
from cxstream.demo.traffic import DemoTraffic


async def run_demo(
    client_options: dict[str, Any],
    traffic: DemoTraffic,
    rate: float,
    duration: float | None,
    report_every: float = 10.0,
    out: TextIO = sys.stderr,
    floor: DemoFloor | None = None,
) -> Counter[str]:
    """Produce ``rate`` records per second for ``duration`` seconds (None: until cancelled), and the agents'
    status changes of ``floor`` as they fall due."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    producer = AIOKafkaProducer(**client_options, linger_ms=20, acks="all")
    await producer.start()
    sent: Counter[str] = Counter()
    started = last_report = time.monotonic()
    pending: list[asyncio.Future[Any]] = []
    try:
        while duration is None or time.monotonic() - started < duration:
            if floor is not None:
                for record in floor.due(datetime.now(UTC)):
                    pending.append(await producer.send(record.topic, record.value, key=record.key))
                    sent["floor"] += 1
            due = int((time.monotonic() - started) * rate) + 1 + sent["floor"]
            while sent.total() < due:
                record = traffic.next(datetime.now(UTC))
                pending.append(await producer.send(record.topic, record.value, key=record.key))
                sent[record.kind.split(".")[0]] += 1
            if len(pending) > 500:
                await asyncio.gather(*pending)
                pending.clear()
            if time.monotonic() - last_report >= report_every:
                last_report = time.monotonic()
                summary = ", ".join(f"{k} {v}" for k, v in sorted(sent.items()))
                print(f"demo: {sent.total()} records sent ({summary})", file=out, flush=True)
            await asyncio.sleep(max(0.0, (due / rate) - (time.monotonic() - started)))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent

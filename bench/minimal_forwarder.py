"""Baseline for the latency part of ``make bench``: the smallest Faust agent that forwards each message of one
topic to another, on the same broker and machine as cxstream. Runs until it is stopped. An optional fifth
argument sets its consumer's fetch wait in milliseconds (Faust fixes 1,500), as cxstream's worker does."""

from __future__ import annotations

import sys
import time
from typing import Any

import faust


def main() -> None:
    bootstrap, source_name, target_name, datadir = sys.argv[1:5]
    if len(sys.argv) > 5:
        from faust.transport.drivers import aiokafka as driver

        wait_ms = int(sys.argv[5])
        create = driver.AIOKafkaConsumerThread._create_worker_consumer

        def waiting(self: Any, transport: Any) -> Any:
            consumer = create(self, transport)
            consumer._fetch_max_wait_ms = wait_ms
            return consumer

        driver.AIOKafkaConsumerThread._create_worker_consumer = waiting  # type: ignore[method-assign]
    app = faust.App(
        f"bench-forwarder-{int(time.time())}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        consumer_auto_offset_reset="latest",
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=20,
    )
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    source, target = app.topic(source_name, **raw), app.topic(target_name, **raw)

    @app.agent(source)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await target.send(key=event.key, value=event.value)

    app.main = None  # type: ignore[assignment]
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()

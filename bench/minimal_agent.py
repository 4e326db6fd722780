"""Baseline for ``make bench``: the smallest useful Faust agent (count each message of a topic), on the same
broker and machine as cxstream. Writes one JSON object to the result file: events, seconds, events/s and
peak RSS, then exits at once (stopping a Faust app from inside its own agent would wait for that agent)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import faust


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    bootstrap, topic, expected, datadir, result = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    app = faust.App(
        f"bench-minimal-{int(time.time())}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=20,
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    state: dict[str, Any] = {"count": 0, "first": None}

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for _ in stream:
            if state["first"] is None:
                state["first"] = time.monotonic()
            state["count"] += 1
            if state["count"] == expected:
                seconds = time.monotonic() - state["first"]
                figures = {"events": expected, "seconds": seconds, "events_per_s": expected / seconds,
                           "peak_rss_mib": peak_rss_mib()}  # fmt: skip
                Path(result).write_text(json.dumps(figures))  # noqa: ASYNC240 - the last thing before exit
                os._exit(0)

    app.main = None  # type: ignore[assignment]
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()

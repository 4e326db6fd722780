"""A Faust sensor that feeds the Prometheus metrics for every agent and topic at once."""

from __future__ import annotations

import time
from typing import Any

import faust

from cxstream.observability.metrics import (
    MESSAGES_IN,
    MESSAGES_OUT,
    REBALANCE_SECONDS,
    REBALANCES,
    SEND_ERRORS,
    child,
)


class PrometheusSensor(faust.Sensor):
    """Counts messages in and out per topic; times rebalances."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        child(MESSAGES_IN, tp.topic).inc()

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> Any:
        return topic

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        child(MESSAGES_OUT, str(state)).inc()

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        SEND_ERRORS.labels(topic=str(state)).inc()

    def on_rebalance_start(self, app: Any) -> dict[str, Any]:
        REBALANCES.inc()
        return {"time_start": time.monotonic()}

    def on_rebalance_end(self, app: Any, state: dict[str, Any]) -> None:
        started = state.get("time_start") if state else None
        if started is not None:
            REBALANCE_SECONDS.observe(time.monotonic() - started)

"""What a worker can say about itself right now: consumer lag per assigned partition, keys per table, changelog
records still to apply, and the last breach it published. Read on demand by ``/metrics`` (as gauges) and
``/status`` (as JSON, for ``cxstream status``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from cxstream.observability.metrics import CHANGELOG_LAG, CONSUMER_LAG, TABLE_KEYS


def fetch_state(consumer: Any, tp: Any) -> dict[str, Any] | None:
    """What the Kafka client itself knows of a partition: the position it fetches from (None: waiting for an
    offset reset or for its committed offset), whether it waits for a reset, and whether it is paused at the
    client. Tells a partition that is assigned but never fetched from one that is caught up."""
    try:
        client = consumer._thread._ensure_consumer()
        state = client._subscription.subscription.assignment.state_value(tp)
    except Exception:  # no consumer yet, no assignment, or a partition being handed over
        return None
    if state is None:
        return None
    return {
        "position": state.position if state.has_valid_position else None,
        "awaiting_reset": bool(state.awaiting_reset),
        "paused": bool(state.paused),
    }


@dataclass
class RuntimeState:
    app: faust.App
    providers: dict[str, Callable[[], Any]] = field(default_factory=dict)

    def provide(self, name: str, read: Callable[[], Any]) -> None:
        """Another part of the worker adds what it knows (e.g. the routing side: the last breach)."""
        self.providers[name] = read

    def snapshot(self) -> dict[str, Any]:
        app: Any = self.app
        consumer = app.consumer
        changelogs = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
        lag = []
        changelog_partitions = 0
        for tp in sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition)):
            if tp.topic in changelogs:
                changelog_partitions += 1
                continue  # read to rebuild tables, never committed: their backlog is the changelog lag below
            highwater = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp)  # faust keeps no public accessor for it
            behind = None if highwater is None else max(0, highwater - (committed or 0))
            active = consumer._active_partitions  # None: every assigned partition is read
            lag.append({"topic": tp.topic, "partition": tp.partition, "highwater": highwater,
                        "committed": committed, "lag": behind,
                        # why a partition with lag does not move: what was read, handled and not yet committed,
                        # and whether the consumer reads it at all (paused during a recovery)
                        "read": consumer._read_offset.get(tp), "handled_pending": len(consumer._acked.get(tp, ())),
                        "reading": active is None or tp in active,
                        "paused": tp in consumer._paused_partitions,
                        "fetch": fetch_state(consumer, tp)})  # fmt: skip
        recovery = app.tables.recovery
        changelog = [
            {"topic": tp.topic, "partition": tp.partition, "kind": kind, "remaining": remaining}
            for kind, counts in (("active", recovery.active_remaining()), ("standby", recovery.standby_remaining()))
            for tp, remaining in sorted(counts.items(), key=lambda item: (item[0].topic, item[0].partition))
        ]
        return {
            "app_id": app.conf.id,
            "assigned_partitions": len(lag),
            "changelog_partitions": changelog_partitions,
            "consumer_lag": lag,
            "recovery": {
                "completed": bool(recovery.completed.is_set()),
                "active_remaining": sum(c["remaining"] for c in changelog if c["kind"] == "active"),
                "standby_remaining": sum(c["remaining"] for c in changelog if c["kind"] == "standby"),
            },
            "changelog_lag": changelog,
            "tables": {name: len(table) for name, table in sorted(app.tables.items())},
            **{name: read() for name, read in self.providers.items()},
        }

    def refresh_gauges(self) -> dict[str, Any]:
        state = self.snapshot()
        CONSUMER_LAG.clear()
        for row in state["consumer_lag"]:
            if row["lag"] is not None:
                CONSUMER_LAG.labels(topic=row["topic"], partition=str(row["partition"])).set(row["lag"])
        CHANGELOG_LAG.clear()
        for row in state["changelog_lag"]:
            CHANGELOG_LAG.labels(topic=row["topic"], partition=str(row["partition"]), kind=row["kind"]).set(
                row["remaining"]
            )
        for name, keys in state["tables"].items():
            TABLE_KEYS.labels(table=name).set(keys)
        return state

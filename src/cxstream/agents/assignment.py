"""Which partitions this worker holds, from the group's current assignment."""

from __future__ import annotations

from typing import Any

import faust


def held(app: faust.App, topic: str) -> set[int]:
    """The partitions of ``topic`` (a source or changelog topic) this worker holds as their active owner.
    Standby copies of other workers' table partitions, kept for a fast failover, are not counted: they can lag
    behind."""
    assignor: Any = app.assignor
    if assignor is None:
        return set()
    return {tp.partition for tp in assignor.assigned_actives() if tp.topic == topic}

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


def owned(app: faust.App, changelog: str) -> set[int]:
    """The partitions of the table changelog ``changelog`` that some worker of the group holds as their active
    owner, from the assignment the group's leader handed out (every member receives all of it)."""
    assignor: Any = app.assignor
    if assignor is None:
        return set()
    out: set[int] = set()
    for topics in assignor.table_metadata(changelog).values():
        out.update(topics.get(changelog, ()))
    return out

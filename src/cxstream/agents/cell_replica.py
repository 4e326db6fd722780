"""Every partition's cells of the metrics threshold rules and shift handovers read, from the metric table's
changelog, so that the routing desk can evaluate threshold rules (and write handovers) while other workers hold
some ``cx.events`` partitions.

Cells are sufficient statistics per source partition (:mod:`cxstream.domain.metrics.cells`): a window over every
partition is the exact merge of each partition's cells, whichever worker wrote them. The changelog is where a
table partition's owner writes every cell it changes; reading it the way recovery does (records of a fenced
writer dropped, owner markers skipped, tombstones deleting) gives the cells the owner holds, a fetch later.

The replica starts when it is wanted: a worker holding every ``cx.events`` partition reads its own table and
never pays for it. Once wanted it keeps following, so the desk moving to another worker of a multi-worker
group finds it warm. It holds only the definitions threshold rules and handovers read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import TopicPartition

from cxstream.agents.fencing import MARKER_KEY, Epochs, epoch_of
from cxstream.agents.history import TopicFeed
from cxstream.domain.metrics.cells import Cell, CellKey, CellValue
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import CHANGELOG_FENCED, REPLICA_CELLS

log = get_logger(__name__)
#: How often an idle replica asks whether it is wanted yet.
WANT_POLL_S = 1.0


class CellCopy:
    """The fold of changelog records into cells (no Kafka): fencing per partition as recovery applies it, only
    the given definitions kept."""

    def __init__(self, definitions: Iterable[str]) -> None:
        # a cell key is JSON text that starts with its definition: ["csat.delivery",...]
        self._prefixes = tuple(f"[{json.dumps(d)}," for d in sorted(set(definitions)))
        self._cells: dict[str, Cell] = {}
        self._epochs = Epochs()
        self.fenced = 0
        self.undecodable = 0

    def apply(self, partition: int, offset: int, headers: Any, key: bytes | None, value: bytes | None) -> None:
        admitted = self._epochs.admit(partition, offset, epoch_of(headers))
        if key is None:
            self.undecodable += 1
            return
        text = key.decode("utf-8", "replace")
        if text.startswith('"'):  # a table with text keys writes them as JSON strings
            try:
                text = str(json.loads(text))
            except ValueError:
                self.undecodable += 1
                return
        if text == MARKER_KEY or not text.startswith(self._prefixes):
            return
        if not admitted:
            self.fenced += 1
            return
        if value is None:
            self._cells.pop(text, None)
            return
        try:
            self._cells[text] = Cell(CellKey.decode(text), CellValue.from_json(json.loads(value)))
        except (ValueError, TypeError, KeyError) as exc:
            self.undecodable += 1
            log.warning("cell_replica_undecodable", partition=partition, offset=offset, error=str(exc)[:200])

    def cells(self, partitions: set[int]) -> list[Cell]:
        """The cells of the given source partitions."""
        return [cell for cell in self._cells.values() if cell.key.partition in partitions]

    def __len__(self) -> int:
        return len(self._cells)


class CellReplica(TopicFeed):
    """Follows the metric table's changelog (every partition, no consumer group) into a :class:`CellCopy`, from
    the first moment ``wanted()`` says so."""

    def __init__(
        self,
        client_options: dict[str, Any],
        changelog: str,
        definitions: Iterable[str],
        wanted: Callable[[], bool],
        fetch_wait_ms: int | None = None,
    ) -> None:
        super().__init__(client_options, fetch_wait_ms)
        self.topic = changelog
        self.copy = CellCopy(definitions)
        self._wanted = wanted
        self._fenced_seen = 0

    async def run(self) -> None:
        # the assignment changes without an event to wait for: asked every second
        while not self._wanted():  # noqa: ASYNC110
            await asyncio.sleep(WANT_POLL_S)
        log.info("cell_replica_started", changelog=self.topic)
        await super().run()

    def apply_message(self, tp: TopicPartition, message: Any) -> None:
        self.copy.apply(tp.partition, message.offset, message.headers, message.key, message.value)

    def after_batch(self) -> None:
        REPLICA_CELLS.set(len(self.copy))
        if self.copy.fenced > self._fenced_seen:
            CHANGELOG_FENCED.labels(table=f"{self.topic} (replica)").inc(self.copy.fenced - self._fenced_seen)
            self._fenced_seen = self.copy.fenced

    def on_ready(self) -> None:
        log.info("cell_replica_loaded", changelog=self.topic, cells=len(self.copy))

    def cells(self, partitions: set[int]) -> list[Cell]:
        return self.copy.cells(partitions)

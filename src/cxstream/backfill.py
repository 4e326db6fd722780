"""Loading past records into metric history (``cxstream import --history``, and the demo's past year): files
through a connector and the validation rules, summed into history facts by
:class:`~cxstream.domain.history.backfill.Backfill`, written to ``cx.metrics.history``; refused records to
``cx.dlq`` with their reasons and bytes. Nothing reaches ``cx.events``."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cxstream.connectors.base import Connector, RawContext
from cxstream.connectors.files import IMPORT_FILE_HEADER, read_records
from cxstream.connectors.pipeline import normalize_record
from cxstream.domain.base import now_ms, to_ms
from cxstream.domain.catalog import Topics
from cxstream.domain.history.backfill import Backfill, Counted, import_origin
from cxstream.domain.history.facts import IMPORT_PREFIX, HistoryClosed, is_live
from cxstream.domain.ingest.dead_letter import SourcePosition, dead_letter_record
from cxstream.kafka.history import BackfillWriter, read_history
from cxstream.kafka.tools import IMPORT_POSITION_PREFIX, Progress


@dataclass
class BackfillReport:
    records: int = 0
    files: int = 0
    elapsed_s: float = 0.0
    outcomes: Counter[Counted] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by stage
    facts: int = 0
    days: dict[str, int] = field(default_factory=dict)  # distinct days written per definition

    @property
    def rate(self) -> float:
        return self.records / max(self.elapsed_s, 1e-6)


async def first_live_day(client_options: dict[str, Any], codec: Any) -> int | None:
    """The start of the first day the live partitions published, or None."""
    index, _ = await read_history(client_options, codec)
    live = [f.key.start_ms for f in index.all_facts() if is_live(f.key.origin)]
    return min(live) if live else None


def today_ms() -> int:
    return to_ms(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))


async def backfill_files(
    ctx: Any,
    client_options: dict[str, Any],
    connector: Connector,
    paths: Sequence[Path],
    until_ms: int,
    progress_out: TextIO | None = None,
) -> BackfillReport:
    """Load ``paths`` (days before ``until_ms``) into history; ``progress_out`` shows a progress line."""
    history_codec = ctx.codec(Topics.HISTORY)
    backfill = Backfill(ctx.topology.metrics, until_ms, now_ms())
    report = BackfillReport(files=len(paths))
    progress = Progress(sum(_lines(p) for p in paths), progress_out, label="records") if progress_out else None
    began = time.monotonic()
    origins = [import_origin(connector.name, _sha256(path)) for path in paths]
    async with BackfillWriter(client_options, history_codec, ctx.codec(Topics.DLQ)) as writer:
        for path, origin in zip(paths, origins, strict=True):
            headers = {IMPORT_FILE_HEADER: path.name.encode()}
            position_topic = f"{IMPORT_POSITION_PREFIX}{origin.removeprefix(IMPORT_PREFIX)}"
            for record in read_records(path):
                report.records += 1
                raw_context = RawContext(ingest_time=datetime.now(UTC), headers=headers)
                outcome = normalize_record(connector, record.value, raw_context, ctx.validator, ctx.enricher,
                                           history=True)  # fmt: skip
                if outcome.rejects:
                    assert outcome.stage is not None
                    letter = dead_letter_record(
                        source=connector.name,
                        stage=outcome.stage,
                        reasons=outcome.rejects,
                        position=SourcePosition(position_topic, 0, record.line),
                        value=record.value,
                        key=None,
                        headers=headers,
                        now_ms=now_ms(),
                    )
                    await writer.dead_letter(letter, connector.name.encode())
                    report.dead_lettered[outcome.stage.value] += 1
                for event in outcome.events:
                    backfill.add(event, origin)
                if progress is not None:
                    progress.advance()
        if progress is not None:
            progress.close()
        report.facts = await writer.facts(backfill.facts())
        for path, origin in zip(paths, origins, strict=True):  # each file: up to where it was loaded, what it is
            await writer.closure(HistoryClosed(origin, until_ms, 0, f"{path.name} via {connector.name}"))
    report.elapsed_s = time.monotonic() - began
    report.outcomes = backfill.outcomes
    report.days = backfill.days_per_definition()
    return report


def _lines(path: Path) -> int:
    """Lines in a file (an upper bound of its records, for the progress bar), counted fast."""
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

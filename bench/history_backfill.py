"""``make bench``: how fast ``cxstream import --history`` loads past records, and what a stored day costs.

A seeded past (``cxstream demo --write-past``: surveys, deliveries and solved tickets with a weekly pattern;
about 1,000,000 records over a year unless told otherwise) is imported into a fresh embedded broker, next to a
baseline measured in the same run on the same file: reading it and parsing each line as JSON, the least any
import must do. Printed: records/s of both and their ratio, the peak memory of the import, the hours tens of
millions of records would take at that rate, and the bytes a stored history day costs per definition and scope
on ``cx.metrics.history``. A backfill writes history only (never ``cx.events``), so it pages nobody.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cxstream.demo.past import past_records
from cxstream.domain.catalog import Topics
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.kafka.embedded import EmbeddedBroker
from cxstream.kafka.history import decode_entry
from cxstream.kafka.tools import read_to_end
from cxstream.serde.avro import CodecFactory
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[1]


def baseline(path: Path) -> float:
    """Records/s of reading the file and parsing every line."""
    started = time.perf_counter()
    n = 0
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)
            n += 1
    return n / (time.perf_counter() - started)


def run_import(path: Path, bootstrap: str) -> tuple[float, float]:
    """Records/s of one ``cxstream import --history`` run (wall clock of the process) and its peak RSS (MiB)."""
    env = {**os.environ, "CXSTREAM_KAFKA_BOOTSTRAP": bootstrap}
    records = sum(1 for _ in path.open("rb"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cxstream.cli", "import", "--history", "--source", "canonical",
                           str(path)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return records / elapsed, max(peak, before) / 1024


async def stored_bytes(bootstrap: str) -> tuple[int, int, int]:
    """(day facts, their key + value bytes, distinct definition x scope pairs) on the history topic."""
    codec = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas")).for_topic(Topics.HISTORY, "cxstream.HistoryRecord")
    facts, size, scopes = 0, 0, set()
    async for message in read_to_end({"bootstrap_servers": bootstrap}, Topics.HISTORY):
        entry = decode_entry(codec, message.value)
        if entry is None or not hasattr(entry, "stats") or entry.key.period_ms != DAY_MS:
            continue
        facts += 1
        size += len(message.key or b"") + len(message.value or b"")
        scopes.add((entry.key.definition, entry.key.scope))
    return facts, size, len(scopes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365, help="days of past records (default 365)")
    parser.add_argument(
        "--records",
        type=int,
        default=1_000_000,
        help="about how many past records (default 1000000): sets the records on a weekday",
    )
    parser.add_argument("--per-day", type=int, help="records on a weekday instead of --records")
    parser.add_argument("--repeat", type=int, default=2, help="import runs, each into a fresh broker (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "past.jsonl"
        first = datetime.now(UTC).date() - timedelta(days=args.days)
        per_day = args.per_day
        if per_day is None:  # the generator's volume scales with the weekday figure: measure it at 100
            sample = sum(1 for _ in past_records(first, args.days, per_day=100))
            per_day = max(1, round(100 * args.records / max(1, sample)))
        with path.open("wb") as out:
            for record in past_records(first, args.days, per_day=per_day):
                out.write(record + b"\n")
        records = sum(1 for _ in path.open("rb"))
        print(f"history backfill: {records:,} records over {args.days} days, {args.repeat} runs, a fresh embedded "
              "broker per run, one import process each")  # fmt: skip
        bases, rates, peaks = [], [], []
        stored = (0, 0, 0)
        for i in range(args.repeat):
            bases.append(baseline(path))
            with EmbeddedBroker() as broker:
                subprocess.run([sys.executable, "-m", "cxstream.cli", "topics", "apply"], cwd=ROOT, check=True,
                               env={**os.environ, "CXSTREAM_KAFKA_BOOTSTRAP": broker.bootstrap},
                               capture_output=True)  # fmt: skip
                rate, peak = run_import(path, broker.bootstrap)
                rates.append(rate)
                peaks.append(peak)
                stored = asyncio.run(stored_bytes(broker.bootstrap))
            print(
                f"run {i + 1}: read + parse {bases[-1]:,.0f}/s, import --history {rate:,.0f}/s, peak RSS {peak:.0f} MiB"
            )
    rate = statistics.mean(rates)
    ratios = [r / b for r, b in zip(rates, bases, strict=True)]
    print()
    print(f"import --history: {rate:,.0f} records/s (range {min(rates):,.0f}-{max(rates):,.0f}, n={len(rates)} runs); "
          f"read + parse: {statistics.mean(bases):,.0f}/s; ratio {statistics.mean(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f})")  # fmt: skip
    print(f"peak RSS of the import: {max(peaks):.0f} MiB (one in-run id digest per record, and the day sums)")
    for millions in (10, 50):
        print(f"  {millions} M records at this rate: {millions * 1e6 / rate / 3600:.1f} h on one process")
    facts, size, scopes = stored
    if facts:
        per_year = size * 365 / max(1, args.days) / 2**20
        print(
            f"stored: {facts:,} day facts for {scopes} definition x scope pairs, {size / facts:.0f} bytes per day "
            f"and scope (key + value), {per_year:.1f} MiB per year of this traffic"
        )


if __name__ == "__main__":
    main()

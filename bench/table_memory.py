"""``make bench``: what the tables cost in memory: bytes per metric cell, per open case and per customer in the
contact-policy table, and the peak RSS of a process holding 1,000,000 customers on the RocksDB store.

Bytes per key are measured with tracemalloc on values as the in-memory store holds them (the text key and the
JSON value a :class:`~cxstream.agents.stores.Store` writes), next to a baseline measured in the same run: the same
keys mapped to None (what any table pays for its keys alone). The cells come from an hour of demo traffic mapped
and enriched as the worker does it; the cases from the case machine (opened from a breach, acknowledged,
commented, contained); the customers after one invite, one complaint and one open case. The changelog / RocksDB
form of each (key + value bytes) is printed beside.

The peak RSS runs are separate processes: the same imports and keys with nothing kept (baseline), 1,000,000
customers in a dict (the memory store), and 1,000,000 customers written to six RocksDB databases (one per
partition, Faust's RocksDB options, the bytes Faust's store writes).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 6
H = 3_600_000


def traced(build: Callable[[], dict[str, Any]]) -> tuple[int, int]:
    """(bytes the dict ``build`` returns holds, number of keys), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    table = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, len(table)


def serialized(table: dict[str, Any]) -> float:
    """Mean key + value bytes as a Faust table writes them (JSON key, JSON value): the changelog and RocksDB form."""
    return statistics.fmean(len(json.dumps(k)) + len(json.dumps(v, separators=(",", ":"))) for k, v in table.items())


def metric_cells(hours: float) -> dict[str, Any]:
    from cxstream.app import load_context
    from cxstream.connectors.base import RawContext
    from cxstream.connectors.pipeline import normalize_record
    from cxstream.demo.traffic import DemoTraffic
    from cxstream.domain.ingest.enrichment import drivers_of
    from cxstream.domain.metrics.cells import apply_update
    from cxstream.domain.metrics.measure import updates_for
    from cxstream.settings import Settings

    ctx = load_context(Settings())
    connectors = {c.name: c for c in ctx.connectors.values()}
    traffic = DemoTraffic(seed=3, malformed_share=0.0)
    start = datetime.now(UTC) - timedelta(hours=hours)
    cells: dict[Any, Any] = {}
    records = int(hours * 3600 * 20)  # the demo's 20 records/s
    for i in range(records):
        now = start + timedelta(seconds=i / 20)
        raw = traffic.next(now)
        outcome = normalize_record(connectors[raw.source], raw.value, RawContext(now), ctx.validator, ctx.enricher)
        for event in outcome.events:
            partition = zlib.crc32(event.key.encode()) % PARTITIONS
            for update in updates_for(ctx.topology.metrics, event, partition, drivers_of(event)):
                cells[update.key] = apply_update(cells.get(update.key), update, i)
    return {key.encode(): value.to_json() for key, value in cells.items()}


def cases(count: int) -> dict[str, Any]:
    from cxstream.app import load_context
    from cxstream.domain.cases.machine import Action, ActionType, StoredCase, apply
    from cxstream.settings import Settings

    policy = load_context(Settings()).topology.followup.cases  # the shipped cases.yaml
    out: dict[str, Any] = {}
    t0 = 1_790_000_000_000
    for i in range(count):
        case_id = f"case-{i:08d}-{'a' * 24}"
        steps = [
            Action(f"a{i}-1", case_id, ActionType.OPEN, "system:routing", t0, team="logistics", severity="CRITICAL",
                   breach_id=f"csat.delivery.low:region=emea:{t0 + i}", escalation_id=f"esc-{i:08d}",
                   labels={"region": "emea", "rule": "csat.delivery.low", "owner": "logistics"}),
            Action(f"a{i}-2", case_id, ActionType.ACKNOWLEDGE, "j.devries", t0 + 5 * 60_000),
            Action(f"a{i}-3", case_id, ActionType.COMMENT, "j.devries", t0 + 9 * 60_000,
                   comment="Carrier backlog in Rotterdam; second carrier asked for today's parcels"),
            Action(f"a{i}-4", case_id, ActionType.CONTAIN, "j.devries", t0 + 20 * 60_000,
                   action_taken="Second carrier for the backlog", action_owner="logistics-ops-lead"),
        ]  # fmt: skip
        case = None
        for step in steps:
            case = apply(case, step, policy)
        assert case is not None
        out[case_id] = StoredCase(case, i % PARTITIONS).to_json()
    return out


def customer_value(i: int) -> Any:
    from cxstream.domain.cases.contact_policy import Contact
    from cxstream.domain.cases.invites import ContactHistory

    t = 1_790_000_000_000 + i
    contact = Contact(last_invite_ms=t, last_complaint_ms=t + 3 * H, open_cases=frozenset({f"case-{i:08d}"}))
    return ContactHistory(contact, (f"inv-delivery-csat-{i:010d}",)).to_json()


def customers(count: int) -> dict[str, Any]:
    return {f"C-{i:09d}": customer_value(i) for i in range(count)}


def keys_only(table: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    names = list(table)
    return lambda: {json.loads(json.dumps(name)): None for name in names}  # key objects of its own, as decoded


def peak_run(kind: str, count: int, workdir: str) -> dict[str, float]:
    """Runs this file as a child (``--child KIND``) and returns what it printed."""
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--customers", str(count), "--dir", workdir],
                         cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(kind: str, count: int, workdir: Path) -> None:
    """One peak-RSS process: ``none`` builds each customer and drops it, ``memory`` keeps them in a dict,
    ``rocksdb`` writes them to six RocksDB databases as Faust's RocksDB store does."""
    from faust.stores.rocksdb import RocksDBOptions

    kept: dict[str, Any] = {}
    dbs = []
    if kind == "rocksdb":
        options = RocksDBOptions()
        dbs = [options.open(workdir / f"contacts-{p}.db") for p in range(PARTITIONS)]
    for i in range(count):
        key, value = f"C-{i:09d}", customer_value(i)
        if kind == "memory":
            kept[key] = value
        elif kind == "rocksdb":
            dbs[i % PARTITIONS].put(json.dumps(key).encode(), json.dumps(value, separators=(",", ":")).encode())
    disk = 0.0
    for db in dbs:
        db.flush()
        db.close()
    if dbs:
        disk = sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file()) / 2**20
    print(json.dumps({"peak_rss_mib": peak_rss_mib(), "disk_mib": disk, "kept": len(kept)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers in the peak RSS runs")
    parser.add_argument("--repeat", type=int, default=2, help="peak RSS runs of each kind (default 2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.customers, Path(args.dir))
        return
    print("table memory: bytes per key on the in-memory store (tracemalloc), against the same keys alone")
    print(f"{'':28} {'keys':>8} {'bytes/key':>10} {'keys alone':>11} {'ratio':>6} {'changelog bytes':>16}")
    for name, build in (("metric cell (1 h of demo)", lambda: metric_cells(1.0)),
                        ("open case", lambda: cases(5_000)),
                        ("customer (contact policy)", lambda: customers(50_000))):  # fmt: skip
        table = build()
        size, n = traced(lambda t=table: json.loads(json.dumps(t)))  # fresh objects, as decoded from a changelog
        alone, _ = traced(keys_only(table))
        print(f"{name:28} {n:>8,} {size / n:>10,.0f} {alone / n:>11,.0f} {size / alone:>6.1f} "
              f"{serialized(table):>16,.0f}")  # fmt: skip
    print()
    print(f"peak RSS with {args.customers:,} customers in the contact-policy table, {args.repeat} runs of each kind")
    with tempfile.TemporaryDirectory() as tmp:
        runs: dict[str, list[dict[str, float]]] = {"none": [], "memory": [], "rocksdb": []}
        for i in range(args.repeat):
            for kind in runs:
                workdir = Path(tmp) / f"{kind}-{i}"
                workdir.mkdir()
                runs[kind].append(peak_run(kind, args.customers, str(workdir)))
    floor = statistics.fmean(r["peak_rss_mib"] for r in runs["none"])
    for kind, title in (("none", "baseline: built, not kept"), ("memory", "in-memory store (dict)"),
                        ("rocksdb", "RocksDB store (6 partitions)")):  # fmt: skip
        values = [r["peak_rss_mib"] for r in runs[kind]]
        mean = statistics.fmean(values)
        extra = f", {mean - floor:,.0f} MiB above the baseline" if kind != "none" else ""
        disk = f", {statistics.fmean(r['disk_mib'] for r in runs[kind]):,.0f} MiB on disk" if kind == "rocksdb" else ""
        print(f"  {title:30} {mean:>7,.0f} MiB (n={len(values)}, range {min(values):,.0f}-{max(values):,.0f}){extra}"
              f"{disk}")  # fmt: skip
    print(f"  (the RocksDB store keeps keys on disk: its memory is the write buffers and the block cache, "
          f"{os.cpu_count()} CPUs)")  # fmt: skip


if __name__ == "__main__":
    main()

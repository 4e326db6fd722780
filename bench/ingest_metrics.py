"""``make bench``: sustained throughput and peak memory of cxstream's ingest -> metrics path on the embedded
broker, next to a minimal Faust agent measured in the same run, and the ratio of the two.

The cxstream figure covers everything a raw record costs: connector mapping, validation, de-duplication,
the canonical Avro event on cx.events, and the metric table updates of the events-monitor agent. Records are
produced before the worker starts, so the worker runs flat out; the clock starts at its first record and
stops when its last event has been counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cxstream.demo.traffic import DemoTraffic
from cxstream.kafka.embedded import EmbeddedBroker, free_port
from cxstream.process import children

ROOT = Path(__file__).resolve().parents[1]
#: How often the worker's /metrics is read while it runs: each read costs the worker readiness checks and
#: gauges (at 10 per second, 4.7 % of its CPU); twice a second ends a run at most half a second late.
POLL_S = 0.5


async def produce(bootstrap: str, records: list[tuple[str, bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("cxstream_") and " " in line:
            series, value = line.rsplit(" ", 1)
            name = series.split("{", 1)[0]
            totals[name] = totals.get(name, 0.0) + float(value)  # each metric summed over its labels
            if series != name:
                totals[series] = float(value)  # and each labelled series as it is
    return totals


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory of the largest process of ``pid``'s tree: ``cxstream worker`` supervises the
    Faust worker in a child process, which holds the tables."""
    peaks = []
    for proc in [pid, *children(pid)]:
        for line in Path(f"/proc/{proc}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=float("nan"))


def run_baseline(bootstrap: str, count: int, workdir: Path) -> dict[str, float]:
    asyncio.run(create_topic(bootstrap, "bench.baseline", 6))
    payload = b'{"event_id": "x", "score": 4}'
    asyncio.run(produce(bootstrap, [("bench.baseline", str(i).encode(), payload) for i in range(count)]))
    result = workdir / "baseline.json"
    agent = [sys.executable, str(ROOT / "bench/minimal_agent.py"), bootstrap, "bench.baseline", str(count)]
    out = subprocess.run([*agent, str(workdir), str(result)], capture_output=True, text=True, timeout=1800, check=False)
    if not result.is_file():
        raise SystemExit(f"baseline agent failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return dict(json.loads(result.read_text()))


ACCOUNTED = ("cxstream_records_normalized_total", "cxstream_dead_letters_total", "cxstream_records_duplicate_total",
             "cxstream_records_ignored_total")  # fmt: skip
BENCH_TOKEN = "bench-admin-token-0001"


def demo_records(count: int) -> list[tuple[str, bytes | None, bytes]]:
    """``count`` raw demo records (topic, key, value), the same every run."""
    traffic = DemoTraffic(seed=11, malformed_share=0.0)
    now = datetime.now(UTC)
    return [(r.topic, r.key, r.value) for r in (traffic.next(now) for _ in range(count))]


def cxstream_env(bootstrap: str, port: int, data: Path, app_id: str) -> dict[str, str]:
    """A worker's environment: this machine's, without any CXSTREAM_ setting but the bench's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}
    env.update(
        CXSTREAM_KAFKA_BOOTSTRAP=bootstrap, CXSTREAM_WEB_PORT=str(port), CXSTREAM_LOG_LEVEL="WARNING",
        CXSTREAM_LOG_FORMAT="json", CXSTREAM_DATA_DIR=str(data), CXSTREAM_APP_ID=app_id,
        CXSTREAM_API_TOKENS=json.dumps([{"name": "bench", "role": "admin", "token": BENCH_TOKEN}]),
    )  # fmt: skip
    return env


def found_in(totals: dict[str, float], metric: str) -> float:
    """The sum of ``metric``'s series labelled ``outcome="found"``."""
    return sum(v for k, v in totals.items() if k.startswith(metric + "{") and 'outcome="found"' in k)


def finished(totals: dict[str, float], count: int) -> bool:
    """Every raw record accounted for (normalized, dead-lettered, duplicate or ignored), every event counted."""
    accounted = sum(totals.get(name, 0.0) for name in ACCOUNTED)
    published = totals.get("cxstream_events_published_total", 0.0)
    return accounted >= count and totals.get("cxstream_events_total", 0.0) >= published > 0


def run_cxstream(bootstrap: str, count: int, workdir: Path) -> dict[str, float]:
    raw = demo_records(count)
    port = free_port()
    env = cxstream_env(bootstrap, port, workdir / "cxstream", "bench-cxstream")
    # topics first (the worker's own apply), then the records, then the worker
    subprocess.run([sys.executable, "-m", "cxstream.cli", "topics", "apply"], env=env, cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    asyncio.run(produce(bootstrap, raw))
    log = (workdir / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "cxstream.cli", "worker"], env=env, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)  # fmt: skip
    try:
        start = None
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise SystemExit(f"cxstream worker exited with {worker.returncode}; see {workdir / 'worker.log'}")
            try:
                totals = scrape(port)
            except OSError:
                time.sleep(0.2)
                continue
            received = totals.get("cxstream_records_received_total", 0.0)
            if start is None and received > 0:
                start = time.monotonic()
            if start is not None and finished(totals, count):
                seconds = time.monotonic() - start
                return {
                    "events": count,
                    "canonical_events": totals.get("cxstream_events_published_total", 0.0),
                    "metric_updates": totals.get("cxstream_metric_updates_total", 0.0),
                    "messages_in": totals.get("cxstream_messages_in_total", 0.0),
                    "messages_out": totals.get("cxstream_messages_out_total", 0.0),
                    "coalesced": totals.get("cxstream_changelog_coalesced_total", 0.0),
                    "read_back": totals.get("cxstream_events_read_back_total", 0.0),
                    "read_back_found": found_in(totals, "cxstream_events_read_back_total"),
                    "seconds": seconds,
                    "events_per_s": count / seconds,
                    "peak_rss_mib": peak_rss_mib(worker.pid),
                }
            time.sleep(POLL_S)
        raise SystemExit("cxstream did not finish within 30 minutes")
    finally:
        worker.terminate()
        worker.wait(60)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``'s process tree so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    spent = 0.0
    for proc in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        spent += (int(fields[11]) + int(fields[12])) / ticks
    return spent


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / ticks, sum(values) / ticks


def held_partitions(port: int) -> set[int]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/peer/cells?definition=csat.delivery&local=1",
                                     headers={"Authorization": f"Bearer {BENCH_TOKEN}"})  # fmt: skip
    return set(json.loads(urllib.request.urlopen(request, timeout=10).read())["partitions"])


def run_group(bootstrap: str, count: int, workdir: Path, workers: int, standby: int | None) -> dict[str, float]:
    """``workers`` cxstream workers of one app share the partitions: they start first (and settle who holds
    what), then the records are produced; the clock runs from the first record any of them received to the
    last event counted by all of them."""
    raw = demo_records(count)
    ports = [free_port() for _ in range(workers)]
    procs = []
    for i, port in enumerate(ports):
        env = cxstream_env(bootstrap, port, workdir / f"cxstream-{i}", "bench-group")
        if standby is not None:
            env["CXSTREAM_STANDBY_REPLICAS"] = str(standby)
        if i == 0:
            subprocess.run([sys.executable, "-m", "cxstream.cli", "topics", "apply"], env=env, cwd=ROOT, check=True,
                           capture_output=True)  # fmt: skip
        log = (workdir / f"worker-{i}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "cxstream.cli", "worker"], env=env, cwd=ROOT, stdout=log,
                                      stderr=subprocess.STDOUT))  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a cxstream worker exited; see {workdir}")
            try:
                held = [held_partitions(port) for port in ports]
            except (OSError, ValueError, KeyError):
                time.sleep(1)
                continue
            if all(held) and len(set().union(*held)) == 6 and sum(len(h) for h in held) == 6:
                break
            time.sleep(1)
        else:
            raise SystemExit("the workers did not share the partitions within 10 minutes")
        asyncio.run(produce(bootstrap, raw))
        start = cpu0 = busy0 = None
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            totals: dict[str, float] = {}
            for port in ports:
                for name, value in scrape(port).items():
                    totals[name] = totals.get(name, 0.0) + value
            if start is None and totals.get("cxstream_records_received_total", 0.0) > 0:
                start = time.monotonic()
                cpu0, busy0 = sum(cpu_seconds(p.pid) for p in procs), machine_busy()
            if start is not None and finished(totals, count):
                seconds = time.monotonic() - start
                assert cpu0 is not None and busy0 is not None
                busy1 = machine_busy()
                return {
                    "workers": workers,
                    "events": count,
                    "seconds": seconds,
                    "events_per_s": count / seconds,
                    "worker_cpu_s": sum(cpu_seconds(p.pid) for p in procs) - cpu0,
                    "machine_busy_share": (busy1[0] - busy0[0]) / max(1e-9, busy1[1] - busy0[1]),
                    "peak_rss_mib": max(peak_rss_mib(p.pid) for p in procs),
                }
            time.sleep(POLL_S)
        raise SystemExit("the workers did not finish within 30 minutes")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def scaling(counts: list[int], repeat: int, events: int, standby: int | None) -> None:
    """``--workers 1,2,3``: records/s per worker count, efficiency against one worker, where the CPU went."""
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    for i in range(repeat):
        for n in counts:
            with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
                runs[n].append(run_group(broker.bootstrap, events, Path(tmp), n, standby))
            print(f"run {i + 1}, {n} worker(s): {runs[n][-1]['events_per_s']:.0f} records/s")
    print()
    one = statistics.fmean(r["events_per_s"] for r in runs[counts[0]]) / counts[0]
    print(f"{'workers':>8} {'records/s':>34} {'efficiency':>11} {'worker CPU ms/record':>21} {'machine busy':>13}")
    for n in counts:
        rate = statistics.fmean(r["events_per_s"] for r in runs[n])
        cpu_ms = statistics.fmean(1000 * r["worker_cpu_s"] / r["events"] for r in runs[n])
        busy = statistics.fmean(r["machine_busy_share"] for r in runs[n])
        print(f"{n:>8} {summary(runs[n], 'events_per_s'):>34} {rate / (n * one):>11.2f} {cpu_ms:>21.2f} "
              f"{100 * busy:>12.0f}%")  # fmt: skip
    print(
        f"efficiency: records/s over (workers x the per-worker rate of {counts[0]}); {os.cpu_count()} CPUs on "
        "this machine: once the workers keep every CPU busy, more workers cannot add records/s here"
    )


def summary(runs: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in runs]
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.0f} (n=1)"
    return f"{mean:.0f} (n={len(values)}, range {min(values):.0f}-{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="raw records per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating (default 3)")
    parser.add_argument(
        "--workers",
        help="worker counts to compare, e.g. 1,2,3: records/s of a group of workers "
        "sharing the partitions, and the scaling efficiency (instead of the single-worker comparison)",
    )
    parser.add_argument(
        "--standby",
        type=int,
        help="with --workers: CXSTREAM_STANDBY_REPLICAS for the workers (default: the setting's default, 1)",
    )
    args = parser.parse_args()
    if args.workers:
        counts = [int(n) for n in args.workers.split(",") if n.strip()]
        standby = "" if args.standby is None else f", {args.standby} standby replicas"
        print(f"{args.events} records per run, {args.repeat} runs of each worker count, a fresh embedded broker per "
              f"run, {os.cpu_count()} CPUs{standby}")  # fmt: skip
        scaling(counts, args.repeat, args.events, args.standby)
        return
    print(f"{args.events} records per run, {args.repeat} runs of each, a fresh embedded broker per run, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    baseline: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
            baseline.append(run_baseline(broker.bootstrap, args.events, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
            ours.append(run_cxstream(broker.bootstrap, args.events, Path(tmp)))
        b, o = baseline[-1]["events_per_s"], ours[-1]["events_per_s"]
        print(f"run {i + 1}: minimal agent {b:.0f}/s, cxstream {o:.0f}/s")
    print()
    print(f"{'':44} {'records/s':>34} {'peak RSS MiB':>34}")
    for name, runs in (("minimal Faust agent (count each message)", baseline),
                       ("cxstream raw -> canonical -> metric tables", ours)):  # fmt: skip
        print(f"{name:44} {summary(runs, 'events_per_s'):>34} {summary(runs, 'peak_rss_mib'):>34}")
    ratios = [o["events_per_s"] / b["events_per_s"] for o, b in zip(ours, baseline, strict=True)]
    spread = f", range {min(ratios):.3f}-{max(ratios):.3f}" if len(ratios) > 1 else ""
    print()
    mean_ratio = statistics.fmean(ratios)
    print(f"throughput ratio cxstream / minimal agent: {mean_ratio:.3f} (n={len(ratios)} paired runs{spread})")
    last = ours[-1]
    print(
        f"per run cxstream wrote {last['canonical_events']:.0f} canonical events and "
        f"{last['metric_updates']:.0f} metric cell updates for {last['events']:.0f} raw records"
    )
    per = last["events"]
    print(
        f"per raw record (last run): {last['messages_in'] / per:.2f} messages consumed by agents, "
        f"{last['messages_out'] / per:.2f} records produced (topics and changelogs), "
        f"{last['coalesced'] / per:.2f} table writes replaced by a newer one of the same key before they left"
    )
    if last["read_back"]:
        print(
            f"canonical events read back from cx.events (events agent, ticket feed; last run): "
            f"{last['read_back_found'] / last['read_back']:.0%} of {last['read_back']:.0f} still at hand, "
            f"not decoded again"
        )


if __name__ == "__main__":
    main()

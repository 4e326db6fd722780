"""The live metric tables against values computed here, independently, from the raw scores of a seeded
stream: counts exactly, ratios within 1e-9, intervals as scipy computes them. Once without interruption,
once with the worker killed (SIGKILL) mid-stream and restarted: both must equal the truth."""

from __future__ import annotations

import asyncio
import json
import math
import random
import signal
import statistics
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from scipy import stats as sp

from cxstream.kafka.embedded import free_port
from cxstream.kafka.tools import read_to_end
from cxstream.serde.avro import CodecFactory, read_avro_json
from cxstream.serde.catalog import SchemaCatalog
from tests.integration.procs import ROOT, eventually, http_get, ready, spawn, stop
from tests.integration.test_ingest import scrape, total

pytestmark = pytest.mark.integration
CODECS = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas"))
DLQ = CODECS.for_topic("cx.dlq", "cxstream.DeadLetter")
EVENTS = CODECS.for_topic("cx.events", "cxstream.CanonicalEvent")
SITES = {"emea": ["ams-1", "lis-1", "waw-1"], "amer": ["chi-1", "aus-1"], "apac": ["sin-1", "mnl-1"]}
Z = sp.norm.ppf(0.975)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def millis(value: datetime) -> datetime:
    """Avro keeps times to the millisecond: so must the truth."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass
class Truth:
    """What each definition must show, kept as raw observations with their event times."""

    scores: dict[str, list[tuple[datetime, str, int]]] = field(default_factory=dict)  # csat/ces/nps
    values: dict[str, list[tuple[datetime, str, float, bool]]] = field(default_factory=dict)  # durations
    solved: list[tuple[datetime, str]] = field(default_factory=list)
    reopened: list[tuple[datetime, str]] = field(default_factory=list)
    late_ids: set[str] = field(default_factory=set)


def seeded_stream(seed: int, now: datetime, count: int) -> tuple[list[bytes], Truth]:
    rng = random.Random(seed)
    truth = Truth()
    records = []
    # the answers fall in the last 50 minutes, or since midnight when the test runs in the first 50 minutes of
    # a UTC day: all inside today's 1d window, which the test reads
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    recent = max(timedelta(seconds=2), min(timedelta(minutes=50), now - midnight))
    for i in range(count):
        region = rng.choice(list(SITES))
        site = rng.choice(SITES[region])
        late = i % 97 == 0
        when = millis(now - (timedelta(hours=8) if late else recent * (rng.uniform(60, 50 * 60) / (50 * 60))))
        base: dict[str, Any] = {
            "event_id": f"m{seed}-{i}", "event_time": iso(when), "customer_id": f"C-{rng.randint(1, 500)}",
            "region": region, "site": site, "channel": rng.choice(["email", "app", "phone"]),
        }  # fmt: skip
        kind = rng.choices(
            ["csat", "nps", "ces", "solved", "delivered", "reopened", "frt"], [30, 20, 15, 15, 15, 5, 10]
        )[0]
        if late:
            kind = "csat"
            truth.late_ids.add(base["event_id"])
        if kind == "frt":  # a ticket opened, then its first reply, which does not say when the ticket was opened
            opened = millis(when - timedelta(minutes=rng.uniform(1, 120)))
            ticket = f"T-{seed}-{i}"
            created = {**base, "event_id": f"{base['event_id']}-c", "event_time": iso(opened),
                       "event_type": "TICKET_CREATED", "operation": {"ticket_id": ticket}}  # fmt: skip
            records.append(json.dumps(created).encode())
            base.update(event_type="TICKET_FIRST_REPLY", team="customer-service", journey_stage="support",
                        operation={"ticket_id": ticket, "actual_at": iso(when)})  # fmt: skip
            minutes = (when - opened).total_seconds() / 60
            truth.values.setdefault("first_response", []).append((when, region, minutes, minutes <= 60))
        elif kind in ("csat", "nps", "ces"):
            scale = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10)}[kind]
            score = rng.randint(*scale)
            stage, team = {"csat": ("delivery", "logistics"), "ces": ("support", "customer-service"),
                           "nps": ("relationship", "cx-operations")}[kind]  # fmt: skip
            answer = {"metric": kind.upper(), "score": score, "scale_min": scale[0], "scale_max": scale[1]}
            base.update(event_type="SURVEY_RESPONSE", journey_stage=stage, team=team, survey=answer)
            if not late:
                truth.scores.setdefault(kind, []).append((when, region, score))
        elif kind in ("solved", "reopened"):
            created = millis(when - timedelta(minutes=rng.uniform(30, 48 * 60)))
            ticket = {"ticket_id": f"T-{seed}-{i}", "created_at": iso(created), "actual_at": iso(when)}
            event_type = "TICKET_SOLVED" if kind == "solved" else "TICKET_REOPENED"
            base.update(event_type=event_type, agent_id="A-1", team="customer-service", journey_stage="support",
                        operation=ticket)  # fmt: skip
            if kind == "solved":
                hours = (when - created).total_seconds() / 3600
                truth.values.setdefault("resolution", []).append((when, region, hours, hours <= 24))
                truth.solved.append((when, region))
            else:
                truth.reopened.append((when, region))
        else:
            promised = millis(when + timedelta(hours=rng.uniform(-72, 48)))
            order = {"order_id": f"O-{i}", "delivery_id": f"D-{i}", "created_at": iso(promised - timedelta(days=3)),
                     "promised_at": iso(promised), "actual_at": iso(when)}  # fmt: skip
            base.update(event_type="ORDER_DELIVERED", team="logistics", journey_stage="delivery", operation=order)
            hours = (when - promised).total_seconds() / 3600
            truth.values.setdefault("delivery_delay", []).append((when, region, hours, hours <= 0))
        records.append(json.dumps(base).encode())
    return records, truth


async def produce(bootstrap: str, records: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for record in records:
            payload = json.loads(record)
            key = (payload.get("operation") or {}).get("ticket_id") or payload["event_id"]  # as the webhook keys them
            futures.append(await producer.send("cx.raw.canonical", record, key=key.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


#: The admin token every test worker accepts (CXSTREAM_API_TOKENS in worker_env).
ADMIN_TOKEN = "test-admin-token-7f3a"


def api(port: int, path: str) -> dict[str, Any]:
    status, body = http_get(f"http://127.0.0.1:{port}{path}", timeout=30, token=ADMIN_TOKEN)
    assert status == 200, body
    return dict(json.loads(body))


def in_window(when: datetime, window: dict[str, Any]) -> bool:
    return datetime.fromisoformat(window["start"]) <= when < datetime.fromisoformat(window["end"])


def wilson(hits: int, n: int) -> tuple[float, float]:
    ci = sp.binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    return 100 * ci.low, 100 * ci.high


def expected(definition: str, truth: Truth, window: dict[str, Any], region: str | None) -> dict[str, Any]:
    """value, n, low, high (and sla hits) computed from the raw observations alone."""

    def keep(when: datetime, where: str) -> bool:
        return in_window(when, window) and region in (None, where)

    kind = definition.split(".")[0]
    if kind in ("csat", "ces", "nps"):
        scores = [s for when, where, s in truth.scores[kind] if keep(when, where)]
        n = len(scores)
        if kind == "csat":
            hits = sum(s >= 4 for s in scores)
            return {"n": n, "value": 100 * hits / n, "interval": wilson(hits, n)}
        if kind == "ces":
            mean = statistics.fmean(scores)
            low, high = sp.t.interval(0.95, n - 1, loc=mean, scale=sp.sem(scores))
            return {"n": n, "value": mean, "interval": (low, high)}
        promoters, detractors = sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)
        p, d = (promoters + 0.75) / (n + 3), (detractors + 0.75) / (n + 3)  # adjusted Wald (Rocks 2016)
        margin = Z * math.sqrt((p + d - (p - d) ** 2) / (n + 3))
        value = (promoters - detractors) / n
        low, high = max(-1, p - d - margin), min(1, p - d + margin)
        return {"n": n, "value": 100 * value, "interval": (100 * min(low, value), 100 * max(high, value))}
    if definition == "reopen_rate":
        n = sum(keep(w, r) for w, r in truth.solved)
        hits = min(n, sum(keep(w, r) for w, r in truth.reopened))
        return {"n": n, "value": 100 * hits / n, "interval": wilson(hits, n)}
    rows = [(v, hit) for when, where, v, hit in truth.values[definition] if keep(when, where)]
    values = [v for v, _ in rows]
    n = len(values)
    mean = statistics.fmean(values)
    low, high = sp.t.interval(0.95, n - 1, loc=mean, scale=sp.sem(values))
    if definition in ("first_response", "resolution"):  # positive and skewed: modified Cox (Olsson 2005)
        if all(v > 0 for v in values):
            logs = [math.log(v) for v in values]
            s2 = statistics.variance(logs)
            half = sp.t.ppf(0.975, n - 1) * math.sqrt(s2 / n + s2 * s2 / (2 * (n - 1)))
            centre = statistics.fmean(logs) + s2 / 2
            low, high = min(math.exp(centre - half), mean), max(math.exp(centre + half), mean)
        else:
            low = max(0.0, low)
    hits = sum(hit for _, hit in rows)
    return {"n": n, "value": mean, "interval": (low, high), "sla": (100 * hits / n, wilson(hits, n))}


DEFINITIONS = (
    "csat.delivery",
    "ces.support",
    "nps.relationship",
    "first_response",
    "resolution",
    "delivery_delay",
    "reopen_rate",
)


def settled_counts(port: int, truth: Truth) -> dict[str, int] | None:
    """API n per definition once every event is in; None while some are missing (more is an error)."""
    counts = {}
    for definition in DEFINITIONS:
        window = api(port, f"/api/metrics/{definition}/1d")
        want = expected(definition, truth, window, None)["n"]
        have = window["estimate"]["n"]
        assert have <= want, f"{definition}: {have} counted, only {want} sent"
        if have < want:
            return None
        counts[definition] = have
    return counts


def worker_env(bootstrap: str, port: int, app_id: str, data: Path) -> dict[str, str]:
    return {
        "CXSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "CXSTREAM_WEB_PORT": str(port),
        "CXSTREAM_APP_ID": app_id,
        "CXSTREAM_DATA_DIR": str(data),
        "CXSTREAM_LOG_FORMAT": "json",
        "CXSTREAM_API_TOKENS": json.dumps([{"name": "test-admin", "role": "admin", "token": ADMIN_TOKEN}]),
    }


@pytest.mark.parametrize("crash", [False, True], ids=["uninterrupted", "sigkill-and-restart"])
def test_tables_equal_values_computed_from_the_raw_scores(bootstrap: str, tmp_path: Path, crash: bool) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-metrics-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    worker = spawn(["worker"], env, tmp_path / "worker-1.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        records, truth = seeded_stream(seed=7, now=datetime.now(UTC), count=1600)
        asyncio.run(produce(bootstrap, records))
        if crash:  # kill it while it is still counting, then start a new worker with the same app id
            eventually(lambda: total(scrape(port), "cxstream_metric_updates_total") > 0, 120, "counting to start")
            stop(worker, signal.SIGKILL)
            worker = spawn(["worker"], env, tmp_path / "worker-2.log")
            eventually(lambda: worker.poll() is None and ready(port), 240, "the restarted worker to be ready")
        eventually(lambda: settled_counts(port, truth), 240, "every event to be counted")

        for definition in DEFINITIONS:
            for region in (None, "emea"):
                query = f"?region={region}" if region else ""
                window = api(port, f"/api/metrics/{definition}/1d{query}")
                want = expected(definition, truth, window, region)
                got = window["estimate"]
                assert got["n"] == want["n"], (definition, region)
                assert got["value"] == pytest.approx(want["value"], rel=1e-9, abs=1e-9), (definition, region)
                assert (got["low"], got["high"]) == pytest.approx(want["interval"], rel=1e-9, abs=1e-9)
                if "sla" in want:
                    assert window["sla"]["value"] == pytest.approx(want["sla"][0], abs=1e-9)
                    assert (window["sla"]["low"], window["sla"]["high"]) == pytest.approx(want["sla"][1], abs=1e-9)
                assert window["partitions"] == {"held": 6, "total": 6, "workers": {"answered": 1, "asked": 1}}

        # events past their bucket's end + grace: in no window, dead-lettered with the reason
        def late_letters() -> set[str] | None:
            found = {DLQ.decode(m.value)["event_id"] for m in asyncio.run(_read(bootstrap, "cx.dlq"))}
            found.discard(None)
            return found if truth.late_ids <= found else None

        assert eventually(late_letters, 60, "the late events in cx.dlq") >= truth.late_ids
        if not crash:  # counters start again with a new process
            assert total(scrape(port), "cxstream_late_events_total") == len(truth.late_ids)
            assert_api_answers(port, truth)
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0


def test_a_replay_counts_an_event_whose_id_was_stored_without_its_cells(bootstrap: str, tmp_path: Path) -> None:
    """The metrics' event-id memory and the cells are on two changelog topics, so a crash can leave the id
    stored while the cell write before it was still in the producer. The replay at the same offset must
    still count the event: here the id is in the changelog, the cell is not, and the offset is not committed."""
    port = free_port()
    app_id = f"cxstream-replay-{uuid.uuid4().hex[:8]}"
    env = worker_env(bootstrap, port, app_id, tmp_path / "data")
    worker = spawn(["worker"], env, tmp_path / "worker-1.log")  # creates the topics and changelogs
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
    finally:
        assert stop(worker, signal.SIGTERM) == 0
    now = millis(datetime.now(UTC))
    event = read_avro_json(EVENTS.entry, (ROOT / "examples/topics/cx.events.json").read_text())
    event.update(event_time=now - timedelta(minutes=1), ingest_time=now)
    event_ms = int(event["event_time"].timestamp() * 1000)

    async def seed() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            seen = json.dumps([0, event_ms, 0]).encode()  # applied at offset 0 of partition 0
            await producer.send_and_wait(f"{app_id}-cxstream-metrics-seen-changelog", seen,
                                         key=json.dumps(event["event_id"]).encode(), partition=0)  # fmt: skip
            await producer.send_and_wait("cx.events", EVENTS.encode(event), key=b"381772941", partition=0)
        finally:
            await producer.stop()

    asyncio.run(seed())
    worker = spawn(["worker"], env, tmp_path / "worker-2.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the restarted worker to be ready")
        window = eventually(lambda: (w := api(port, "/api/metrics/csat.support/1h"))["estimate"]["n"] and w, 60,
                            "the replayed event to be counted")  # fmt: skip
        assert window["estimate"]["n"] == 1
        # counted once: a rebalance before the first commit reads the partition again from its start (the
        # worker's seek for partitions nobody committed), and that second pass is a replay the cell refuses
        assert total(scrape(port), "cxstream_metric_updates_total") >= 1
    finally:
        assert stop(worker, signal.SIGTERM) == 0


def test_a_recovery_reads_the_whole_last_batch_of_every_changelog_partition(bootstrap: str, tmp_path: Path) -> None:
    """The embedded broker lists a partition's end as the base offset of its last record batch plus one, and
    Faust ends a recovery at the listed end: a fresh copy stopped after the first record of that batch. Here
    the metric changelogs of one worker are copied, one batch per partition, to a second app; its worker
    recovers them and replays every event: nothing may be applied twice, nor found missing."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    port = free_port()
    first, second = (f"cxstream-batch-{uuid.uuid4().hex[:8]}" for _ in range(2))
    records, truth = seeded_stream(seed=78, now=datetime.now(UTC), count=800)
    worker = spawn(["worker"], worker_env(bootstrap, port, first, tmp_path / "data-1"), tmp_path / "worker-1.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        asyncio.run(produce(bootstrap, records))
        want = eventually(lambda: settled_counts(port, truth), 240, "every event to be counted")
    finally:
        assert stop(worker, signal.SIGTERM) == 0
    tables = ("cxstream-metrics", "cxstream-metrics-seen")

    async def copy() -> dict[int, int]:
        options: dict[str, Any] = {"bootstrap_servers": bootstrap}
        admin = AIOKafkaAdminClient(**options)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(f"{second}-{table}-changelog", 6, 1) for table in tables])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(**options, linger_ms=1000, max_batch_size=16 * 1024 * 1024)
        await producer.start()
        sizes: dict[int, int] = {}
        try:
            for table in tables:
                sent = []
                async for m in read_to_end(options, f"{first}-{table}-changelog"):
                    sent.append(await producer.send(f"{second}-{table}-changelog", m.value, key=m.key,
                                                    partition=m.partition, headers=list(m.headers or [])))  # fmt: skip
                    if table == "cxstream-metrics":
                        sizes[m.partition] = sizes.get(m.partition, 0) + 1
                await asyncio.gather(*sent)
        finally:
            await producer.stop()
        return sizes

    sizes = asyncio.run(copy())
    assert len(sizes) == 6 and min(sizes.values()) > 10  # each partition one batch of many records
    worker = spawn(["worker"], worker_env(bootstrap, port, second, tmp_path / "data-2"), tmp_path / "worker-2.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the second app's worker to be ready")
        assert eventually(lambda: settled_counts(port, truth), 240, "every event counted again") == want

        def replayed() -> bool:  # the second app's group had no offsets: it reads cx.events from its start
            lag = json.loads(http_get(f"http://127.0.0.1:{port}/status")[1])["consumer_lag"]
            return all(row["lag"] == 0 for row in lag if row["topic"] == "cx.events")

        eventually(replayed, 240, "the replay of cx.events to end")
        samples = scrape(port)
        assert total(samples, "cxstream_metric_updates_total") == 0  # every cell came back whole from recovery
        assert total(samples, "cxstream_metric_updates_skipped_total") > 0  # and the replay found them applied
        assert total(samples, "cxstream_recovery_highwater_total", outcome="extended") >= 6
        assert settled_counts(port, truth) == want
    finally:
        assert stop(worker, signal.SIGTERM) == 0


def assert_api_answers(port: int, truth: Truth) -> None:
    """The read API: catalog, history, and clear refusals."""
    catalog = api(port, "/api/metrics")
    assert {d["id"] for d in catalog["definitions"]} >= set(DEFINITIONS)
    assert {w["id"] for w in catalog["windows"]} == {"1h", "1d", "7d"}
    windows = api(port, "/api/metrics/csat.delivery/1h/history?count=3")["windows"]
    assert len(windows) == 3 and windows[0]["end"] > windows[1]["end"] > windows[2]["end"]
    current = api(port, "/api/metrics/csat.delivery/1h")
    assert windows[0]["estimate"] == current["estimate"]
    status, body = http_get(f"http://127.0.0.1:{port}/api/metrics/csat.nowhere/1h", token=ADMIN_TOKEN)
    assert status == 404 and "csat.nowhere" in body
    status, body = http_get(
        f"http://127.0.0.1:{port}/api/metrics/nps.relationship/1h?touchpoint=delivery", token=ADMIN_TOKEN
    )
    assert status == 400 and "no dimension 'touchpoint'" in body
    week = api(port, "/api/metrics/csat.delivery/7d")
    today = api(port, "/api/metrics/csat.delivery/1d")
    assert week["estimate"]["n"] >= today["estimate"]["n"]
    # which window: still filling, the last ended (what threshold rules show), the last final; each says so
    hour = {at: api(port, f"/api/metrics/csat.delivery/1h?at={at}") for at in ("current", "ended", "final")}
    assert [hour[at]["at"] for at in hour] == ["current", "ended", "final"]
    assert hour["final"]["final"] and hour["final"]["end"] <= hour["ended"]["end"] <= hour["current"]["end"]
    assert api(port, "/api/metrics/csat.delivery/1h?closed=1")["at"] == "final"
    status, body = http_get(f"http://127.0.0.1:{port}/api/metrics/csat.delivery/1h?at=latest", token=ADMIN_TOKEN)
    assert status == 400 and "at is one of current, ended, final" in body


async def _read(bootstrap: str, topic: str) -> list[Any]:
    return [m async for m in read_to_end({"bootstrap_servers": bootstrap}, topic)]

"""Metric history on the embedded broker: live partitions publish a day once it is closed, a restart publishes
nothing new, and a backfilled year through ``cxstream import --history`` equals what is computed straight from
the file, changes nothing when run again, and raises no breach, hot alert or invite."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cxstream.demo.past import past_records
from cxstream.domain.catalog import Topics
from cxstream.domain.history.facts import HistoryFact, is_live
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Survey, SurveyMetric
from cxstream.kafka.embedded import free_port
from cxstream.kafka.history import read_history
from tests.integration.foreign import consume_all
from tests.integration.procs import ROOT, eventually, ready, spawn, stop
from tests.integration.test_metrics import CODECS, EVENTS, api, worker_env

pytestmark = pytest.mark.integration
HISTORY = CODECS.for_topic(Topics.HISTORY, "cxstream.HistoryRecord")
PARTITIONS = 6


def answer(i: int, when: datetime, ingested: datetime, score: int, region: str) -> CanonicalEvent:
    return CanonicalEvent.model_validate({
        "event_id": f"h-{i}", "event_type": EventType.SURVEY_RESPONSE, "event_time": when, "ingest_time": ingested,
        "source": "crm", "source_record_id": f"h-{i}", "customer_id": f"C-{i % 50}", "team": "logistics",
        "region": region, "site": "ams-1" if region == "emea" else "chi-1", "journey_stage": "delivery",
        "touchpoint": "delivery", "channel": "email", "survey": Survey.on_standard_scale(SurveyMetric.CSAT, score),
    })  # fmt: skip


async def send_events(bootstrap: str, placed: list[tuple[int, CanonicalEvent]]) -> None:
    """Canonical events straight onto cx.events partitions (as normalization would have put them, with the
    ingest times of the past)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(Topics.EVENTS, EVENTS.encode(e.to_record()), key=e.key.encode(), partition=p)
                   for p, e in placed]  # fmt: skip
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def facts_on_topic(bootstrap: str) -> list[tuple[bytes, HistoryFact | None]]:
    """Every fact record on the topic (all of them, not the latest per key), in key order."""
    from cxstream.kafka.history import decode_entry

    out = []
    for message in consume_all(bootstrap, Topics.HISTORY, idle_polls=2):
        entry = decode_entry(HISTORY, message.value())
        if entry is None or isinstance(entry, HistoryFact):
            out.append((message.key(), entry))
    return sorted(out, key=lambda kv: kv[0])


def test_a_closed_day_is_published_once_with_every_answer_and_a_restart_adds_nothing(
    bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-history-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    rng = random.Random(4)
    now = datetime.now(UTC).replace(microsecond=0)
    day = (now - timedelta(days=2)).replace(hour=0, minute=0, second=0)
    placed: list[tuple[int, CanonicalEvent]] = []
    truth: dict[str, list[int]] = defaultdict(list)
    for i in range(240):  # the day's answers, read as they came in that day
        when = day + timedelta(seconds=rng.uniform(0, 86_000))
        region, score = rng.choice(("emea", "amer")), rng.randint(1, 5)
        placed.append((i % PARTITIONS, answer(i, when, when + timedelta(seconds=30), score, region)))
        truth[region].append(score)
    placed.sort(key=lambda pe: pe[1].ingest_time)
    # then today's traffic on every partition: each partition's watermark passes the day's end + grace
    placed += [(p, answer(1000 + p, now - timedelta(minutes=1), now, 4, "emea")) for p in range(PARTITIONS)]
    worker = spawn(["worker"], env, tmp_path / "worker-1.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 240, "the worker to be ready")
        asyncio.run(send_events(bootstrap, placed))
        query = f"/api/metrics/csat.delivery/history?grain=day&from={day.date()}&to={day.date()}"

        def closed() -> dict[str, Any] | None:
            body = api(port, query)
            point = body["points"][0]
            return body if point["estimate"]["n"] == 240 and not point["partial"] else None

        body = eventually(closed, 120, "the day to be published by every partition")
        point = body["points"][0]
        top2 = sum(1 for s in truth["emea"] + truth["amer"] if s >= 4)
        assert point["estimate"]["value"] == pytest.approx(100 * top2 / 240, rel=1e-12)
        assert body["coverage"]["partitions"] == PARTITIONS == body["coverage"]["partitions_closed"]
        emea = api(port, query + "&region=emea")["points"][0]["estimate"]
        assert emea["n"] == len(truth["emea"])
        week = api(port, f"/api/metrics/csat.delivery/history?grain=week&from={day.date()}&to={day.date()}")
        assert week["points"][0]["estimate"]["n"] >= 240  # the week holds the day (and today's, once closed)
        before = facts_on_topic(bootstrap)
        assert before and len({k for k, _ in before}) == len(before), "a fact key was written twice"
    finally:
        stop(worker, signal.SIGTERM)
    worker = spawn(["worker"], env, tmp_path / "worker-2.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 240, "the worker to be ready again")
        asyncio.run(send_events(bootstrap, [(p, answer(2000 + p, now, now, 5, "amer")) for p in range(PARTITIONS)]))
        eventually(lambda: api(port, query)["points"][0]["estimate"]["n"] == 240, 60, "history served again")
        after = facts_on_topic(bootstrap)
        assert after == before, "a restart published a closed day again"
    finally:
        stop(worker, signal.SIGTERM)


def expected_weeks(lines: list[bytes], first: date, last: date) -> dict[date, tuple[int, int]]:
    """Delivery CSAT per ISO week straight from the file: (answers, answers of 4 or 5)."""
    out: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        record = json.loads(line)
        survey = record.get("survey") or {}
        if record.get("journey_stage") != "delivery" or survey.get("metric") != "CSAT":
            continue
        day = datetime.fromisoformat(record["event_time"].replace("Z", "+00:00")).date()
        if not first <= day <= last:
            continue
        week = day - timedelta(days=day.weekday())
        out[week][0] += 1
        out[week][1] += int(survey["score"] >= 4)
    return {w: (n, good) for w, (n, good) in out.items()}


def cxstream(args: list[str], bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = {"CXSTREAM_KAFKA_BOOTSTRAP": bootstrap, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "cxstream.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip


def test_a_backfilled_year_equals_the_file_counts_once_and_raises_nothing(bootstrap: str, tmp_path: Path) -> None:
    first = datetime.now(UTC).date() - timedelta(days=400)
    lines = list(past_records(first, 365, per_day=50, seed=21))
    bad = [b'{"event_id": "bad-1", "event_type": "SURVEY_RESPONSE", "event_time": "2025-03-03T10:00:00Z", '
           b'"survey": {"metric": "CSAT", "score": 9, "scale_min": 1, "scale_max": 5}}', b"{not json"]  # fmt: skip
    path = tmp_path / "past.jsonl"
    path.write_bytes(b"\n".join([*lines, lines[5], *bad]) + b"\n")  # one record twice, two bad ones
    until = first + timedelta(days=365)
    port = free_port()
    worker = spawn(["worker"], worker_env(bootstrap, port, f"cxstream-backfill-{uuid.uuid4().hex[:8]}",
                                          tmp_path / "data"), tmp_path / "worker.log")  # fmt: skip
    try:
        eventually(lambda: worker.poll() is None and ready(port), 240, "the worker to be ready")
        done = cxstream(["import", "--history", "--source", "canonical", "--until", str(until), str(path)], bootstrap)
        assert done.returncode == 0, done.stderr
        assert f"{len(lines) + 3} records from 1 file" in done.stdout
        assert "1 event duplicate" in done.stdout and "dead-lettered at" in done.stdout
        want = expected_weeks(lines, first, until - timedelta(days=1))
        csat_days = {json.loads(x)["event_time"][:10] for x in lines if b'"metric":"CSAT"' in x}
        assert f"csat.delivery        {len(csat_days)}\n" in done.stdout
        index, _ = asyncio.run(read_history({"bootstrap_servers": bootstrap}, HISTORY))
        snapshot = {f.key: f for f in index.all_facts()}
        assert snapshot and not [f for f in snapshot.values() if is_live(f.key.origin)]

        query = f"/api/metrics/csat.delivery/history?grain=week&from={first}&to={until - timedelta(days=1)}"

        def loaded() -> dict[str, Any] | None:
            body = api(port, query)
            return body if sum(p["estimate"]["n"] for p in body["points"]) == sum(n for n, _ in want.values()) else None

        body = eventually(loaded, 60, "the worker to read the imported history")
        for point in body["points"]:
            n, good = want.get(date.fromisoformat(point["start"][:10]), (0, 0))
            assert point["estimate"]["n"] == n and point["imported"]
            if n >= 30:
                assert point["estimate"]["value"] == pytest.approx(100 * good / n, rel=1e-12)
        weekdays = [p for p in body["points"] if p["estimate"]["n"]]
        assert len(weekdays) >= 52

        again = cxstream(["import", "--history", "--source", "canonical", "--until", str(until), str(path)], bootstrap)
        assert again.returncode == 0, again.stderr
        index, _ = asyncio.run(read_history({"bootstrap_servers": bootstrap}, HISTORY))
        assert {f.key: f for f in index.all_facts()} == snapshot, "importing the same file again changed history"
        assert api(port, query)["points"] == body["points"]

        letters = consume_all(bootstrap, Topics.DLQ, idle_polls=2)
        assert len(letters) == 4  # the two bad records, once per run
        for topic in (Topics.EVENTS, Topics.BREACHES, Topics.SURVEY_INVITES):
            assert consume_all(bootstrap, topic, idle_polls=1) == [], f"the backfill reached {topic}"
        shown = cxstream(["history", "show", "csat.delivery", "--grain", "quarter", "--from", str(first)], bootstrap)
        assert shown.returncode == 0 and "% (n=" in shown.stdout and " i " in shown.stdout, shown.stdout
    finally:
        stop(worker, signal.SIGTERM)

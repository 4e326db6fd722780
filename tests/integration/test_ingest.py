"""Every raw record sent is accounted for: a canonical event on cx.events that decodes with the schema, or a
cx.dlq record with the right reason and the original bytes, or a counted duplicate. Over Kafka, the HTTP
webhook and the file importer, against one real worker on a real broker."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cxstream.cli import main
from cxstream.demo.traffic import DemoTraffic, RawRecord
from cxstream.kafka.embedded import free_port
from cxstream.kafka.tools import read_to_end
from cxstream.serde.avro import CodecFactory
from cxstream.serde.catalog import SchemaCatalog
from tests.integration.foreign import SingleObjectReader, consume_all
from tests.integration.procs import ROOT, eventually, http_get, ready, spawn, stop
from tests.unit.test_demo import EXPECTED_REJECTION

pytestmark = pytest.mark.integration
CODECS = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas"))
EVENTS = CODECS.for_topic("cx.events", "cxstream.CanonicalEvent")
DLQ = CODECS.for_topic("cx.dlq", "cxstream.DeadLetter")
TOKEN = "test-ingest-token"
SOURCES = ("crm", "erp", "helpdesk", "canonical")
#: received = normalized + dead-lettered + duplicates + ignored (records that carry no CX signal)
PARTS = (
    "cxstream_records_normalized_total",
    "cxstream_dead_letters_total",
    "cxstream_records_duplicate_total",
    "cxstream_records_ignored_total",
)

LIMIT = 20 * 1024 * 1024  # max.message.bytes of the raw topics and of cx.dlq (topologies/topics.yaml)
HOSTILE = [
    RawRecord("crm", b"huge", b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}', "hostile.size"),
    # a dead letter of these would not fit whole: the first at the raw topic's limit, the second over it (the
    # embedded broker takes it; Kafka would refuse it)
    RawRecord("erp", b"at-limit", b'{"y": "' + b"b" * (LIMIT - 200) + b'"}', "hostile.limit"),
    RawRecord("helpdesk", b"over-limit", b'{"z": "' + b"c" * (LIMIT + 1024 * 1024) + b'"}', "hostile.over"),
    RawRecord("helpdesk", b"deep", b"[" * 10_000 + b"]" * 10_000, "hostile.deep"),
    RawRecord("erp", None, bytes(range(256)), "hostile.binary"),
]
HOSTILE_RULES = {"hostile.size": "decode.size", "hostile.deep": "decode.json", "hostile.binary": "decode.utf8",
                 "hostile.limit": "decode.size", "hostile.over": "decode.size"}  # fmt: skip


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    _, text = http_get(f"http://127.0.0.1:{port}/metrics")
    samples = {}
    for line in text.splitlines():
        if line.startswith("cxstream_") and "{" in line:
            name, rest = line.split("{", 1)
            labels, value = rest.rsplit("} ", 1)
            pairs = tuple(sorted(tuple(p.split("=", 1)) for p in labels.split(",") if p))
            samples[(name, tuple((k, v.strip('"')) for k, v in pairs))] = float(value)
    return samples


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all((k, val) in ls for k, val in labels.items()))


async def produce(bootstrap: str, records: list[RawRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * LIMIT, acks="all")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(record.topic, record.value, key=record.key)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    return [m async for m in read_to_end({"bootstrap_servers": bootstrap, "fetch_max_bytes": 64 * 1024 * 1024,
                                          "max_partition_fetch_bytes": 32 * 1024 * 1024}, topic)]  # fmt: skip


def post(port: int, source: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/ingest/{source}", data=body, method="POST")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def expected_outcomes(records: list[RawRecord]) -> list[str]:
    """What each record must become, from the generator's intent alone: "event", "duplicate" or a rule id."""
    first: dict[bytes, str] = {}
    outcomes = []
    for record in records:
        if record.kind in EXPECTED_REJECTION:
            outcome = EXPECTED_REJECTION[record.kind]
        elif record.kind in HOSTILE_RULES:
            outcome = HOSTILE_RULES[record.kind]
        elif record.kind == "duplicate":
            original = first[record.value]
            outcome = "duplicate" if original in ("event", "duplicate") else original
        else:
            outcome = "event"
        first.setdefault(record.value, outcome)
        outcomes.append(outcome)
    return outcomes


def test_every_record_is_accounted_for(
    bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    env = {
        "CXSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "CXSTREAM_WEB_PORT": str(port),
        "CXSTREAM_APP_ID": f"cxstream-ingest-{uuid.uuid4().hex[:8]}",
        "CXSTREAM_DATA_DIR": str(tmp_path / "data"),
        "CXSTREAM_INGEST_TOKEN": TOKEN,
        "CXSTREAM_LOG_FORMAT": "json",
    }
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")

        # 1. Kafka: demo traffic from every source, a sixth of it malformed or retried, plus hostile records
        traffic = DemoTraffic(seed=21, malformed_share=0.16)
        records = [traffic.next(datetime.now(UTC)) for _ in range(600)] + HOSTILE
        asyncio.run(produce(bootstrap, records))
        outcomes = expected_outcomes(records)

        # 2. HTTP: an array of three helpdesk events, byte for byte; a body that is not JSON is refused, not sent
        names = ("ticket_created", "comment_added", "status_solved")
        pieces = [(ROOT / f"examples/raw/helpdesk/{n}.json").read_bytes().strip() for n in names]
        assert post(port, "helpdesk", b"[" + b",\n".join(pieces) + b"]") == (
            202,
            {"accepted": 3, "topic": "cx.raw.helpdesk"},
        )
        assert post(port, "helpdesk", b'{"unfinished": ')[0] == 400

        # 3. Files: paper forms, one without a customer and one without a survey score
        forms = tmp_path / "paper-forms.csv"
        forms.write_text(
            "event_id,event_type,event_time,customer_id,region,site,channel,survey.metric,survey.score,survey.scale_min,survey.scale_max\n"
            f"paper-1,SURVEY_RESPONSE,{datetime.now(UTC).isoformat()},C-9,emea,ams-1,paper,CSAT,2,1,5\n"
            f"paper-2,SURVEY_RESPONSE,{datetime.now(UTC).isoformat()},,emea,waw-1,paper,NPS,9,0,10\n"
            f"paper-3,SURVEY_RESPONSE,{datetime.now(UTC).isoformat()},C-7,emea,waw-1,paper,NPS,,0,10\n"
        )
        monkeypatch.setenv("CXSTREAM_KAFKA_BOOTSTRAP", bootstrap)
        assert main(["import", "--source", "canonical", str(forms)]) == 0

        sent = len(records) + 3 + 3

        def all_received() -> dict[Any, float] | None:
            samples = scrape(port)
            return samples if total(samples, "cxstream_records_received_total") == sent else None

        samples = eventually(all_received, 120, f"the worker to receive {sent} records")

        last: list[dict[Any, float]] = []

        def settled() -> dict[Any, float] | None:
            s = scrape(port)
            last[:] = [s]
            # over the raw sources: cx.events' own dead letters (too late for the metrics) are not raw records
            done = sum(total(s, m, source=source) for m in PARTS for source in SOURCES)
            return s if done == sent else None

        try:
            samples = eventually(settled, 120, "every received record to be accounted")
        except AssertionError:
            parts = {(m, src): total(last[0], m, source=src) for m in (*PARTS, "cxstream_records_received_total")
                     for src in SOURCES}  # fmt: skip
            raise AssertionError(f"not settled: sent {sent}, counters {parts}") from None
        for source in SOURCES:  # the accounting identity, per source
            received = total(samples, "cxstream_records_received_total", source=source)
            parts = sum(total(samples, name, source=source) for name in PARTS)
            assert received == parts > 0, source

        expected = Counter(outcomes)
        assert total(samples, "cxstream_records_duplicate_total") == expected["duplicate"]

        # every canonical event decodes with the schema; one per good record, webhook and form records.
        # (counters move when a message is buffered; Faust flushes the producer before committing offsets)
        want_events = expected["event"] + 3 + 2

        seen_counts: list[int] = []

        def all_events() -> list[dict[str, Any]] | None:
            found = [EVENTS.decode(m.value) for m in asyncio.run(read_all(bootstrap, "cx.events"))]
            seen_counts.append(len(found))
            return found if len(found) >= want_events else None

        try:
            events = eventually(all_events, 60, f"{want_events} events on cx.events")
        except AssertionError:
            raise AssertionError(f"events read: {seen_counts[-3:]}, want {want_events}, expected {expected}") from None
        assert len(events) == want_events
        assert len({e["event_id"] for e in events}) == len(events)
        paper = {e["event_id"]: e for e in events if e["event_id"].startswith("paper-")}
        assert set(paper) == {"paper-1", "paper-2"}
        assert paper["paper-1"]["quality_flags"] == ["manual"]
        assert paper["paper-2"]["quality_flags"] == ["manual", "missing:customer_id"]

        # every refused record is in cx.dlq with the rule that refused it and its bytes unchanged
        wanted = Counter(o for o in outcomes if o not in ("event", "duplicate"))
        wanted["mapping.canonical"] += 1  # paper-3 has no score
        # the webhook's ticket was opened and solved days ago: valid events, but too late for the metric windows
        # (the opening counts for contacts, the solving for resolution and reopens)
        wanted["metrics.late"] += 2
        wanted["dead_letter.truncated"] += 2  # the records at and over the limit, carried in part

        letters = wanted.total() - wanted["dead_letter.truncated"]  # a cut record's letter has a second reason

        def all_dead() -> list[dict[str, Any]] | None:
            found = [DLQ.decode(m.value) for m in asyncio.run(read_all(bootstrap, "cx.dlq"))]
            return found if len(found) >= letters else None

        dead = eventually(all_dead, 60, f"{letters} dead letters")
        assert Counter(reason["rule_id"] for d in dead for reason in d["reasons"]) == wanted
        sent_values = {r.value for r in records}
        whole = [d for d in dead if d["original_size"] is None]
        assert all(d["original_value"] in sent_values for d in whole if d["source"] not in ("canonical", "cx.events"))
        by_key = {r.key: r.value for r in HOSTILE}
        cut = {d["original_key"]: d for d in dead if d["original_size"] is not None}
        assert set(cut) == {b"at-limit", b"over-limit"}
        for key, letter in cut.items():  # the first bytes, the size and digest of the whole, where it is
            original = by_key[key]
            assert original.startswith(letter["original_value"]) and len(letter["original_value"]) > LIMIT // 2
            assert (letter["original_size"], letter["original_sha256"]) == (
                len(original),
                hashlib.sha256(original).hexdigest(),
            )
            assert len(DLQ.encode(letter)) < LIMIT and letter["stage"] == "DECODE"
        late = [d for d in dead if d["stage"] == "LATE"]
        assert {d["source"] for d in late} == {"cx.events"}
        assert sorted(EVENTS.decode(d["original_value"])["event_type"] for d in late) == ["TICKET_CREATED",
                                                                                          "TICKET_SOLVED"]  # fmt: skip
        huge = next(d for d in dead if d["original_key"] == b"huge")
        assert huge["original_value"] == HOSTILE[0].value and huge["stage"] == "DECODE"

        # a client that is not cxstream reads both topics: librdkafka, and the avro reference library with the .avsc
        foreign_events = [m.value() for m in consume_all(bootstrap, "cx.events")]
        foreign_dead = [m.value() for m in consume_all(bootstrap, "cx.dlq")]
        event_reader = SingleObjectReader(ROOT / "schemas/CanonicalEvent.avsc")
        dead_reader = SingleObjectReader(ROOT / "schemas/DeadLetter.avsc")
        assert sorted(event_reader.decode(v)["event_id"] for v in foreign_events) == sorted(
            e["event_id"] for e in events
        )
        assert sorted(dead_reader.decode(v)["original_value"] for v in foreign_dead) == sorted(
            d["original_value"] for d in dead
        )

        # inspect: one row per reason, each with an example reason whole (up to 300 characters)
        capsys.readouterr()
        assert main(["dlq", "inspect", "--rule", "score.range"]) == 0
        inspected = capsys.readouterr().out.splitlines()
        assert inspected[1].split() == ["source", "stage", "rule", "count"]
        examples = [line for line in inspected if line.startswith("    e.g. ")]
        assert examples and all("score" in line and "..." not in line for line in examples), inspected

        # replay: the refused scores go back to their raw topic with a replay header, and are refused again
        assert main(["dlq", "replay", "--rule", "score.range", "--dry-run"]) == 0
        assert main(["dlq", "replay", "--rule", "score.range"]) == 0
        replayed = wanted["score.range"]

        def replays_back() -> list[dict[str, Any]] | None:
            found = [DLQ.decode(m.value) for m in asyncio.run(read_all(bootstrap, "cx.dlq"))]
            again = [d for d in found if "cxstream-replay-of" in d["original_headers"]]
            return found if len(again) == replayed else None

        dead_after = eventually(replays_back, 60, "the replayed records to be refused again")
        assert len(dead_after) == len(dead) + replayed

        # a dead letter holding part of its record replays the whole record, read again from the raw topic
        assert main(["dlq", "replay", "--rule", "dead_letter.truncated"]) == 0

        def cut_replays() -> list[dict[str, Any]] | None:
            found = [DLQ.decode(m.value) for m in asyncio.run(read_all(bootstrap, "cx.dlq"))]
            again = [d for d in found if "cxstream-replay-of" in d["original_headers"] and d["original_size"]]
            return again if len(again) == 2 else None

        again = eventually(cut_replays, 120, "the records cut in their dead letters to be replayed whole")
        assert {(d["original_key"], d["original_size"], d["original_sha256"]) for d in again} == {
            (k, d["original_size"], d["original_sha256"]) for k, d in cut.items()}  # fmt: skip

        # a record that already became an event, sent again, is a duplicate: no second event
        good = next(r for r, o in zip(records, outcomes, strict=True) if o == "event")
        before = total(scrape(port), "cxstream_records_duplicate_total")
        asyncio.run(produce(bootstrap, [good]))
        eventually(lambda: total(scrape(port), "cxstream_records_duplicate_total") == before + 1, 60, "the duplicate")
        assert len(asyncio.run(read_all(bootstrap, "cx.events"))) == len(events)

        assert worker.poll() is None and ready(port)  # no record stopped the agent
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0

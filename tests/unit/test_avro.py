from __future__ import annotations

import contextlib
import io
import json
import struct
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxstream.serde.avro import (
    SINGLE_OBJECT_MAGIC,
    AvroCodec,
    CodecFactory,
    ConfluentFraming,
    DecodeError,
    EncodeError,
    SingleObjectFraming,
    read_avro_json,
    record_branches,
    to_avro_json,
)
from cxstream.serde.catalog import SchemaCatalog, SchemaError, parse_schema_text
from tests.avro_strategies import from_schema

ROOT = Path(__file__).resolve().parents[2]
CATALOG = SchemaCatalog.from_dir(ROOT / "schemas")
FACTORY = CodecFactory(CATALOG)
NAMES = sorted(CATALOG.names())


def test_catalog_holds_every_message_of_the_design() -> None:
    assert set(NAMES) == {
        "cxstream.CanonicalEvent",
        "cxstream.DeadLetter",
        "cxstream.Breach",
        "cxstream.Escalation",
        "cxstream.Case",
        "cxstream.CaseAction",
        "cxstream.Silence",
        "cxstream.SurveyInvite",
        "cxstream.HistoryRecord",
        "cxstream.CalendarEntry",
        "cxstream.RemediationAction",
        "cxstream.GovernanceAction",
        "cxstream.PartnerFeedback",
        "cxstream.Experiment",
        "cxstream.AuditResult",
        "cxstream.Target",
        "cxstream.Handover",
        "cxstream.HandoverAck",
    }


def test_canonical_event_carries_the_fields_consumers_need() -> None:
    fields = {f["name"] for f in CATALOG.get("cxstream.CanonicalEvent").parsed["fields"]}
    assert {
        "event_id", "event_type", "event_time", "ingest_time", "source", "source_record_id", "customer_id",
        "account_id", "region", "site", "team", "channel", "journey_stage", "touchpoint", "agent_id", "survey",
        "operation", "quality_flags", "raw_payload",
    } <= fields  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(name: str, data: st.DataObject) -> None:
    entry = CATALOG.get(name)
    record = data.draw(from_schema(entry.parsed))
    codec = FACTORY.for_topic("t", name)
    encoded = codec.encode(record)
    assert encoded.startswith(SINGLE_OBJECT_MAGIC + entry.fingerprint)
    assert codec.decode(encoded) == record
    # the Avro JSON encoding (examples, kcat output) round-trips too
    assert read_avro_json(entry, to_avro_json(entry, record)) == record


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_decode_error(payload: bytes) -> None:
    codec = FACTORY.for_topic("cx.events", "cxstream.CanonicalEvent")
    for data in (payload, SINGLE_OBJECT_MAGIC + codec.entry.fingerprint + payload):
        with contextlib.suppress(DecodeError):
            codec.decode(data)


def test_decode_errors_say_why() -> None:
    codec = FACTORY.for_topic("cx.cases", "cxstream.Case")
    with pytest.raises(DecodeError, match="not Avro single-object encoded"):
        codec.decode(b'{"json": true}')
    with pytest.raises(DecodeError, match="unknown writer schema fingerprint 0000000000000000"):
        codec.decode(SINGLE_OBJECT_MAGIC + bytes(8) + b"\x00")
    record = read_avro_json(codec.entry, (ROOT / "examples/topics/cx.cases.json").read_text())
    encoded = codec.encode(record)
    with pytest.raises(DecodeError, match="trailing bytes"):
        codec.decode(encoded + b"\x00")
    with pytest.raises(DecodeError, match="corrupt Avro body"):
        codec.decode(encoded[:20])


def test_encode_errors_name_the_schema() -> None:
    codec = FACTORY.for_topic("cx.case-actions", "cxstream.CaseAction")
    with pytest.raises(EncodeError, match=r"cxstream\.CaseAction"):
        codec.encode({"action_id": "a"})


def test_reader_resolves_an_older_writer() -> None:
    """A consumer on a newer schema reads what a producer on the older one wrote (backward compatibility)."""
    entry = CATALOG.get("cxstream.CaseAction")
    document = json.loads(entry.text)
    document["fields"] = [f for f in document["fields"] if f["name"] != "outcome"]
    document["fields"].append({"name": "unused_later", "type": "string", "default": ""})
    older = json.dumps(document)
    name, parsed, digest = parse_schema_text(older, "older")
    from cxstream.serde.catalog import SchemaEntry

    writer_entry = SchemaEntry(name, Path("older"), older, parsed, digest)
    both = SchemaCatalog.__new__(SchemaCatalog)
    both._by_name = {name: entry}
    both._by_fingerprint = {entry.fingerprint: entry, digest: writer_entry}
    writer = AvroCodec(writer_entry, SingleObjectFraming(both))
    reader = AvroCodec(entry, SingleObjectFraming(both))
    record: dict[str, Any] = {
        "action_id": "a1", "case_id": "c1", "action": "ACKNOWLEDGE", "actor": "amy",
        "at": 1_795_773_764_000, "unused_later": "x",
    }  # fmt: skip
    decoded = reader.decode(writer.encode(record))
    assert decoded["outcome"] is None
    assert "unused_later" not in decoded


class _Registry:
    """Hands out ids the way a Confluent registry does (first registration gets 1). It checks the wire
    layout only: the HTTP client itself has no test against a real registry yet."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}

    def register(self, subject: str, text: str) -> int:
        for schema_id, known in self.texts.items():
            if known == text:
                return schema_id
        self.texts[len(self.texts) + 1] = text
        return len(self.texts)

    def schema_by_id(self, schema_id: int) -> str:
        return self.texts[schema_id]


def test_confluent_wire_framing_layout() -> None:
    entry = CATALOG.get("cxstream.CaseAction")
    registry = _Registry()
    codec = AvroCodec(entry, ConfluentFraming(registry, "cx.case-actions-value"))  # type: ignore[arg-type]
    record = read_avro_json(entry, (ROOT / "examples/topics/cx.case-actions.json").read_text())
    encoded = codec.encode(record)
    assert encoded[0] == 0
    assert struct.unpack(">I", encoded[1:5]) == (1,)
    assert codec.decode(encoded) == record
    with pytest.raises(DecodeError, match="magic byte 0"):
        codec.decode(b"\x01" + encoded[1:])


def test_schema_file_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "Bad.avsc").write_text('{"type": "record", "name": "Bad", "fields": [{"name": "x", "type": "nope"}]}')
    with pytest.raises(SchemaError, match=r"Bad\.avsc: invalid Avro schema"):
        SchemaCatalog.from_dir(tmp_path)
    (tmp_path / "Bad.avsc").write_text("{not json")
    with pytest.raises(SchemaError, match=r"Bad\.avsc:1: not JSON"):
        SchemaCatalog.from_dir(tmp_path)


def test_record_branches_are_named_for_the_writer_without_changing_the_bytes() -> None:
    """The codec names the record branch of a null-or-record union (fastavro then skips validating the block to
    choose it): the bytes are those of the plain write, and a block that does not fit still fails, naming the
    schema."""
    entry = CATALOG.get("cxstream.CanonicalEvent")
    codec = FACTORY.for_topic("cx.events", entry.name)
    assert record_branches(entry.hinted) == {"survey": "cxstream.SurveyBlock", "operation": "cxstream.OperationBlock"}
    record = read_avro_json(entry, (ROOT / "examples/topics/cx.events.json").read_text())
    assert record["survey"] is not None
    plain = io.BytesIO()
    fastavro.schemaless_writer(plain, entry.hinted, record)
    encoded = codec.encode(record)
    assert encoded[10:] == plain.getvalue()
    assert codec.decode(encoded) == record
    assert record_branches(CATALOG.get("cxstream.HistoryRecord").hinted) == {}  # two record branches: fastavro picks
    with pytest.raises(EncodeError, match=r"cxstream\.CanonicalEvent"):
        codec.encode({**record, "survey": {"metric": "CSAT"}})

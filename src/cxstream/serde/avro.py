"""Avro encoding of record dicts with one of two framings.

* Local catalog (no registry configured): Avro *single-object encoding* (``C3 01`` + 8-byte
  CRC-64-AVRO fingerprint + body), so a reader can tell which schema wrote each message.
* Confluent Schema Registry: magic byte ``0`` + 4-byte big-endian schema id + body, readable by
  every Confluent-compatible tool (kcat ``-s value=avro``, ksqlDB, Kafka Connect).

Decoding resolves the writer's schema against the reader's (the local schema of the same name), so
producers and consumers can be upgraded independently within backward-compatible changes.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from typing import Any, Protocol

import fastavro

from cxstream.domain.base import Record
from cxstream.serde.catalog import SchemaCatalog, SchemaEntry, hinted, parse_schema_text
from cxstream.serde.registry import RegistryError, SchemaRegistryClient

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0


class DecodeError(ValueError):
    """Bytes that are not a record of the expected schema; the message says why."""


class EncodeError(ValueError):
    """A record that does not fit its schema; the message names the field when fastavro does."""


class Framing(Protocol):
    def header(self, entry: SchemaEntry) -> bytes: ...

    def writer_schema(self, data: bytes) -> tuple[Any, int]:
        """The writer's parsed schema and the offset where the Avro body starts."""
        ...


class SingleObjectFraming:
    def __init__(self, catalog: SchemaCatalog) -> None:
        self.catalog = catalog

    def header(self, entry: SchemaEntry) -> bytes:
        return SINGLE_OBJECT_MAGIC + entry.fingerprint

    def writer_schema(self, data: bytes) -> tuple[Any, int]:
        if len(data) < 10 or not data.startswith(SINGLE_OBJECT_MAGIC):
            raise DecodeError(
                f"not Avro single-object encoded (expected header c301, got {data[:2].hex() or 'nothing'})"
            )
        entry = self.catalog.by_fingerprint(data[2:10])
        if entry is None:
            raise DecodeError(f"unknown writer schema fingerprint {data[2:10].hex()}")
        return entry.hinted, 10


class ConfluentFraming:
    def __init__(self, registry: SchemaRegistryClient, subject: str) -> None:
        self.registry = registry
        self.subject = subject
        self._parsed_by_id: dict[int, Any] = {}

    def header(self, entry: SchemaEntry) -> bytes:
        schema_id = self.registry.register(self.subject, entry.text)
        return struct.pack(">bI", CONFLUENT_MAGIC, schema_id)

    def writer_schema(self, data: bytes) -> tuple[Any, int]:
        if len(data) < 5 or data[0] != CONFLUENT_MAGIC:
            raise DecodeError(f"not Confluent-framed Avro (expected magic byte 0, got {data[:1].hex() or 'nothing'})")
        (schema_id,) = struct.unpack_from(">I", data, 1)
        if schema_id not in self._parsed_by_id:
            try:
                text = self.registry.schema_by_id(schema_id)
            except RegistryError as exc:
                raise DecodeError(f"writer schema id {schema_id}: {exc}") from exc
            self._parsed_by_id[schema_id] = hinted(parse_schema_text(text, f"registry id {schema_id}")[1])
        return self._parsed_by_id[schema_id], 5


def record_branches(schema: Any) -> dict[str, str]:
    """The top-level fields of a parsed record schema whose type is a union of null and one record: field name ->
    the record's full name. fastavro picks a union's branch for a mapping by validating the mapping against the
    record branch first; named, the branch is taken as it is (:func:`tag_branches`), and the write still fails on
    a mapping that does not fit. Measured: a canonical event with both blocks 38 -> 29 microseconds to encode."""
    branches: dict[str, str] = {}
    for field in schema.get("fields", ()):
        union = field["type"]
        if not isinstance(union, list):
            continue
        records = [b for b in union if isinstance(b, dict) and b.get("type") == "record"]
        others = [b for b in union if b not in records]
        if len(records) == 1 and others == ["null"]:
            branches[field["name"]] = records[0]["name"]
    return branches


def tag_branches(record: Mapping[str, object], branches: Mapping[str, str]) -> dict[str, object]:
    """``record`` with the mapping in each of ``branches``' fields named as fastavro's (name, value) union notation."""
    tagged = dict(record)
    for field, name in branches.items():
        value = tagged.get(field)
        if isinstance(value, Mapping):
            tagged[field] = (name, value)
    return tagged


class AvroCodec:
    """Encode and decode records of one schema (the reader's) with one framing."""

    def __init__(self, entry: SchemaEntry, framing: Framing) -> None:
        self.entry = entry
        self.framing = framing
        self._branches = record_branches(entry.hinted)

    @property
    def schema_name(self) -> str:
        return self.entry.name

    def encode(self, record: Mapping[str, object]) -> bytes:
        if self._branches:
            record = tag_branches(record, self._branches)
        buffer = io.BytesIO()
        buffer.write(self.framing.header(self.entry))
        try:
            fastavro.schemaless_writer(buffer, self.entry.hinted, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise EncodeError(f"{self.entry.name}: {exc}") from exc
        return buffer.getvalue()

    def decode(self, data: bytes) -> Record:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        writer, offset = self.framing.writer_schema(data)
        buffer = io.BytesIO(data)
        buffer.seek(offset)
        try:
            record = fastavro.schemaless_reader(buffer, writer, self.entry.hinted)
        except Exception as exc:  # fastavro raises EOFError, UnicodeDecodeError, IndexError, ...
            raise DecodeError(f"{self.entry.name}: corrupt Avro body: {type(exc).__name__}: {exc}") from exc
        if buffer.tell() != len(data):
            raise DecodeError(f"{self.entry.name}: {len(data) - buffer.tell()} trailing bytes after the record")
        if not isinstance(record, dict):
            raise DecodeError(f"{self.entry.name}: decoded a {type(record).__name__}, not a record")
        return record


def read_avro_json(entry: SchemaEntry, text: str) -> Record:
    """A record from Avro's JSON encoding (as ``avro-tools tojson`` prints it), e.g. an example payload."""
    one_line = json.dumps(json.loads(text))  # fastavro's JSON decoder reads one record per line
    records = list(fastavro.json_reader(io.StringIO(one_line), entry.parsed))
    if len(records) != 1:
        raise ValueError(f"expected exactly one {entry.name} record, found {len(records)}")
    record = records[0]
    assert isinstance(record, dict)
    return record


def to_avro_json(entry: SchemaEntry, record: Mapping[str, object]) -> str:
    buffer = io.StringIO()
    fastavro.json_writer(buffer, entry.parsed, [record])
    return json.dumps(json.loads(buffer.getvalue()), indent=2)


class CodecFactory:
    """Builds the codec of each Avro topic from settings: registry framing when configured, else local."""

    def __init__(self, catalog: SchemaCatalog, registry: SchemaRegistryClient | None = None) -> None:
        self.catalog = catalog
        self.registry = registry
        self._local = SingleObjectFraming(catalog)

    def for_topic(self, topic: str, schema_name: str) -> AvroCodec:
        entry = self.catalog.get(schema_name)
        if self.registry is None:
            return AvroCodec(entry, self._local)
        return AvroCodec(entry, ConfluentFraming(self.registry, f"{topic}-value"))

"""Hypothesis strategies that draw valid records for any parsed (fastavro) Avro schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _timestamps() -> st.SearchStrategy[datetime]:
    millis = st.integers(min_value=0, max_value=4_102_444_800_000)  # up to year 2100
    return millis.map(lambda ms: _EPOCH + timedelta(milliseconds=ms))


def _named(schema: Any, names: dict[str, Any]) -> Any:
    if isinstance(schema, str) and schema in names:
        return names[schema]
    return schema


def from_schema(schema: Any, names: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    names = {} if names is None else names
    schema = _named(schema, names)
    if isinstance(schema, list):
        return st.one_of([from_schema(branch, names) for branch in schema])
    if isinstance(schema, str):
        schema = {"type": schema}
    kind = schema["type"]
    if isinstance(kind, dict | list) or (isinstance(kind, str) and kind in names):
        return from_schema(kind, names)
    if schema.get("logicalType") == "timestamp-millis":
        return _timestamps()
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "int":
        return st.integers(-(2**31), 2**31 - 1)
    if kind == "long":
        return st.integers(-(2**63), 2**63 - 1)
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, width=32 if kind == "float" else 64)
    if kind == "string":
        return st.text(max_size=40)
    if kind == "bytes":
        return st.binary(max_size=200)
    if kind == "enum":
        names[schema["name"]] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(from_schema(schema["items"], names), max_size=4)
    if kind == "map":
        # non-empty keys: fastavro's JSON encoder (json_encoder.write_value) rejects an empty map key
        keys = st.text(min_size=1, max_size=10)
        return st.dictionaries(keys, from_schema(schema["values"], names), max_size=4)
    if kind == "record":
        names[schema["name"]] = schema
        fields = {f["name"]: from_schema(f["type"], names) for f in schema["fields"]}
        return st.fixed_dictionaries(fields)
    raise NotImplementedError(f"no strategy for Avro type {kind!r}")

"""What every domain module shares: the strict base of declared (YAML) models, stable digests for
deterministic ids, epoch-millisecond conversions, and typed reading of the JSON that tables and internal
topics carry (so a stored value is decoded in one place, by name, never by position elsewhere)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeAlias

from pydantic import BaseModel, ConfigDict

#: A JSON document as ``json.loads`` returns it.
Json: TypeAlias = bool | int | float | str | list["Json"] | dict[str, "Json"] | None
JsonObject: TypeAlias = dict[str, Json]
#: An Avro record as the codecs in ``serde/`` write and read it: field name -> value (strings, numbers, bytes,
#: datetimes, lists, maps and nested records). Read back through the typed readers below, by name.
Record: TypeAlias = dict[str, object]


class Strict(BaseModel):
    """Declared configuration: unknown fields are errors, values never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def digest(text: str, length: int = 20) -> str:
    """A stable hex digest of ``text``: the same input always gives the same id."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def to_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def now_ms() -> int:
    """The wall clock in epoch milliseconds (for the edges that stamp what happens now)."""
    return to_ms(datetime.now(UTC))


class StoredValueError(ValueError):
    """A stored or transported JSON value does not have the shape its type expects."""


def obj(value: object, what: str = "value") -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise StoredValueError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def seq(value: object, what: str = "value") -> Sequence[object]:
    if not isinstance(value, list | tuple):
        raise StoredValueError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def as_int(value: object, what: str = "value") -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise StoredValueError(f"{what}: expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError as exc:
        raise StoredValueError(f"{what}: expected an integer, got {value!r}") from exc


def as_float(value: object, what: str = "value") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise StoredValueError(f"{what}: expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError as exc:
        raise StoredValueError(f"{what}: expected a number, got {value!r}") from exc


def as_str(value: object, what: str = "value") -> str:
    if not isinstance(value, str):
        raise StoredValueError(f"{what}: expected a string, got {value!r}")
    return value


def as_time(value: object, what: str = "value") -> datetime:
    """A timestamp as the Avro codec returns it (``timestamp-millis``: an aware datetime)."""
    if not isinstance(value, datetime):
        raise StoredValueError(f"{what}: expected a timestamp, got {value!r}")
    return value


def opt_time(value: object, what: str = "value") -> datetime | None:
    return None if value is None else as_time(value, what)


def opt_int(value: object, what: str = "value") -> int | None:
    return None if value is None else as_int(value, what)


def opt_str(value: object, what: str = "value") -> str | None:
    return None if value is None else as_str(value, what)


def text_map(value: object, what: str = "value") -> dict[str, str]:
    """An object of strings (labels); missing or null is empty."""
    if value is None:
        return {}
    return {str(k): str(v) for k, v in obj(value, what).items()}


def int_map(value: object, what: str = "value") -> dict[str, int]:
    if value is None:
        return {}
    return {str(k): as_int(v, what) for k, v in obj(value, what).items()}


def str_list(value: object, what: str = "value") -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(item) for item in seq(value, what))

"""Reading fields out of untrusted JSON with errors that name the field. Used by every connector."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from cxstream.connectors.base import MappingError

T = TypeVar("T")
_ODATA_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_SF_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def need_object(value: Any, where: str = "record") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{where} must be a JSON object, got {type(value).__name__}", "mapping.shape")
    return value


def lookup(payload: dict[str, Any], path: str) -> Any:
    """``a.b.c`` inside nested objects; None when any step is missing."""
    current: Any = payload
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def opt_str(payload: dict[str, Any], path: str, *, lower: bool = False) -> str | None:
    value = lookup(payload, path)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(f"{path} must be a string, got {type(value).__name__}", "mapping.type")
    text = str(value).strip()
    if not text:
        return None
    return text.lower() if lower else text


def req_str(payload: dict[str, Any], path: str, *, lower: bool = False) -> str:
    value = opt_str(payload, path, lower=lower)
    if value is None:
        raise MappingError(f"{path} is required", f"required.{path}")
    return value


def opt_int(payload: dict[str, Any], path: str) -> int | None:
    value = lookup(payload, path)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MappingError(f"{path} must be a number, got a boolean", "mapping.type")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,9}\s*", value):
        return int(value)
    raise MappingError(f"{path} must be a whole number, got {value!r:.40}", "mapping.type")


def parse_time(value: Any, path: str) -> datetime:
    """ISO 8601 (``Z`` or offset), Salesforce ``+0000`` offsets, OData ``/Date(ms)/``, or epoch millis."""
    if isinstance(value, bool):
        raise MappingError(f"{path} must be a time, got a boolean", "mapping.time")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise MappingError(f"{path}: {value!r:.40} is not a time in epoch milliseconds", "mapping.time") from None
    if not isinstance(value, str):
        raise MappingError(f"{path} must be a time, got {type(value).__name__}", "mapping.time")
    text = value.strip()
    odata = _ODATA_DATE.match(text)
    try:
        if odata:
            return datetime.fromtimestamp(int(odata.group(1)) / 1000, tz=UTC)
        text = _SF_OFFSET.sub(r"\1:\2", text) if "T" in text else text
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise MappingError(f"{path}: {value!r:.60} is not a recognised time", "mapping.time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def opt_time(payload: dict[str, Any], path: str) -> datetime | None:
    value = lookup(payload, path)
    return None if value is None or value == "" else parse_time(value, path)


def req_time(payload: dict[str, Any], path: str) -> datetime:
    value = opt_time(payload, path)
    if value is None:
        raise MappingError(f"{path} is required", f"required.{path}")
    return value


def _calendar_date(payload: dict[str, Any], path: str) -> date | datetime | None:
    value = lookup(payload, path)
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise MappingError(f"{path}: {value!r} is not a date", "mapping.time") from None
    return parse_time(value, path)


def opt_date_end(payload: dict[str, Any], path: str) -> datetime | None:
    """A promised calendar date (``2026-11-22`` or OData) as the last millisecond of that day, UTC: a promise
    "delivered on the 22nd" is kept by anything up to midnight. Full timestamps are kept as they are."""
    value = _calendar_date(payload, path)
    if isinstance(value, datetime) or value is None:
        return value
    return datetime.combine(value, time.max, tzinfo=UTC) - timedelta(microseconds=999)


def opt_date_start(payload: dict[str, Any], path: str) -> datetime | None:
    """An actual calendar date as the first moment of that day, UTC: the time is unknown, and the start
    is the only instant that can never lie in the future."""
    value = _calendar_date(payload, path)
    if isinstance(value, datetime) or value is None:
        return value
    return datetime.combine(value, time.min, tzinfo=UTC)


def found(value: Any) -> str:
    """What a record is, for a refusal that names what was expected and what was found."""
    if isinstance(value, dict):
        keys = sorted(str(k) for k in value)
        shown = ", ".join(repr(k) for k in keys[:8]) + (f", ... ({len(keys)} keys)" if len(keys) > 8 else "")
        return f"found an object with keys {shown}" if keys else "found an empty object"
    if isinstance(value, list):
        return f"found a list of {len(value)}"
    return f"found {type(value).__name__}"


def each_item(items: list[Any], where: str, map_one: Callable[[Any], list[T]]) -> list[T]:
    """Every item of a collection (a list response, an array of records) mapped by ``map_one``; a refusal
    names the item (``satisfaction_ratings[3]: score is required``), and refuses the whole record, so that a
    fixed record replayed from the dead-letter topic brings every item at once."""
    out: list[T] = []
    for i, item in enumerate(items):
        try:
            out.extend(map_one(item))
        except MappingError as exc:
            raise MappingError(f"{where}[{i}]: {exc}", exc.rule_id) from None
    return out


def each_record(payload: Any, shapes: str, map_object: Callable[[dict[str, Any]], list[T]]) -> list[T]:
    """A payload that is one JSON object (given to ``map_object``) or an array of them (each mapped, a refusal
    naming its item); anything else is refused, saying which ``shapes`` were expected and what was found."""
    if isinstance(payload, list):
        return each_item(payload, "record", lambda item: each_record(item, shapes, map_object))
    if not isinstance(payload, dict):
        raise MappingError(f"{shapes}; {found(payload)}", "mapping.shape")
    return map_object(payload)

"""The local schema catalog: every ``schemas/*.avsc``, parsed once, addressable by full name and fingerprint.

Fingerprints are CRC-64-AVRO of the Parsing Canonical Form as computed by fastavro (the ``avro``
reference library renders logical types inside unions differently and so disagrees on some schemas).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form


class SchemaError(Exception):
    """A schema file is unreadable or not valid Avro; the message names the file."""


@dataclass(frozen=True)
class SchemaEntry:
    name: str
    path: Path
    text: str
    parsed: Any
    fingerprint: bytes  # 8 bytes, little-endian as in Avro single-object encoding

    @property
    def canonical_form(self) -> str:
        return str(to_parsing_canonical_form(self.parsed))

    @cached_property
    def hinted(self) -> Any:
        """The schema as fastavro's readers and writers take it without parsing it again on every record (with
        its "parsed" hint): half the cost of an encode, a fifth of a decode (measured: 154 -> 76 and 128 -> 25
        microseconds for a canonical event). ``parsed`` stays for canonical forms and fingerprints."""
        return hinted(self.parsed)


def parse_schema_text(text: str, origin: str) -> tuple[str, Any, bytes]:
    """Full name, fastavro-parsed schema and fingerprint of one schema document."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{origin}:{exc.lineno}: not JSON: {exc.msg}") from exc
    if not isinstance(document, dict) or document.get("type") != "record":
        raise SchemaError(f"{origin}: the top level must be an Avro record")
    try:
        parsed = fastavro.parse_schema(document, _write_hint=False)
    except Exception as exc:  # fastavro raises several unrelated types
        raise SchemaError(f"{origin}: invalid Avro schema: {exc}") from exc
    digest = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    return str(cast(dict[str, Any], parsed)["name"]), parsed, digest[::-1]


def hinted(parsed: Any) -> Any:
    """A parsed schema with fastavro's write hint."""
    return fastavro.parse_schema(parsed)


class SchemaCatalog:
    def __init__(self, entries: list[SchemaEntry]) -> None:
        self._by_name: dict[str, SchemaEntry] = {}
        self._by_fingerprint: dict[bytes, SchemaEntry] = {}
        for entry in entries:
            if entry.name in self._by_name:
                other = self._by_name[entry.name].path
                raise SchemaError(f"{entry.path}: schema {entry.name} is already defined in {other}")
            self._by_name[entry.name] = entry
            self._by_fingerprint[entry.fingerprint] = entry

    @classmethod
    def from_dir(cls, directory: Path) -> SchemaCatalog:
        if not directory.is_dir():
            raise SchemaError(f"{directory}: schema directory not found (set CXSTREAM_SCHEMA_DIR)")
        entries = []
        for path in sorted(directory.glob("*.avsc")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise SchemaError(f"{path}: cannot read: {exc}") from exc
            name, parsed, digest = parse_schema_text(text, str(path))
            entries.append(SchemaEntry(name=name, path=path, text=text, parsed=parsed, fingerprint=digest))
        if not entries:
            raise SchemaError(f"{directory}: no *.avsc schema")
        return cls(entries)

    def names(self) -> set[str]:
        return set(self._by_name)

    def entries(self) -> list[SchemaEntry]:
        return [self._by_name[name] for name in sorted(self._by_name)]

    def get(self, name: str) -> SchemaEntry:
        try:
            return self._by_name[name]
        except KeyError:
            raise SchemaError(f"no schema named {name!r} (known: {', '.join(sorted(self._by_name))})") from None

    def by_fingerprint(self, digest: bytes) -> SchemaEntry | None:
        return self._by_fingerprint.get(digest)

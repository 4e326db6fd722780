"""Offline and manual records (paper forms, field-technician logs) from CSV or JSON Lines files.

JSON Lines: each non-blank line is sent byte for byte. CSV: each row becomes a JSON object; a column named
``survey.score`` fills ``{"survey": {"score": ...}}``; empty cells are left out, never filled in, so the
validation rules flag what is missing. Cells are text, except in the columns the canonical model declares as
integers (the survey's score and scale), which become JSON numbers when they are written as whole numbers
(anything else stays text, and is refused as ``mapping.type``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cxstream.connectors.base import MANUAL_ORIGIN, ORIGIN_HEADER, Connector, MappingError

IMPORT_FILE_HEADER = "cxstream-import-file"


@dataclass(frozen=True)
class FileRecord:
    line: int
    value: bytes


INTEGER_COLUMNS = frozenset({"survey.score", "survey.scale_min", "survey.scale_max"})
_WHOLE = re.compile(r"[+-]?[0-9]+")


def _cell(column: str, text: str) -> object:
    return int(text) if column in INTEGER_COLUMNS and _WHOLE.fullmatch(text) else text


def _nest(row: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for column, cell in row.items():
        if column is None or cell is None or cell.strip() == "":
            continue
        target = out
        *parents, leaf = column.strip().split(".")
        for part in parents:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"column {column!r} nests under {part!r}, which is also a plain column")
            target = child
        target[leaf] = _cell(column.strip(), cell.strip())
    return out


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise ValueError(f"{path}: unknown file type {suffix or '(none)'}; use .csv, .tsv, .jsonl or .ndjson")


def read_records(path: Path) -> Iterator[FileRecord]:
    kind = file_format(path)
    if kind == "jsonl":
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield FileRecord(number, line.rstrip(b"\r\n"))
        return
    text = path.read_text(encoding="utf-8-sig")
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    for row in reader:
        yield FileRecord(reader.line_num, json.dumps(_nest(row), separators=(",", ":")).encode())


def count_records(path: Path) -> int:
    return sum(1 for _ in read_records(path))


@dataclass
class FileImport:
    """A file's records keyed for a connector's raw topic, marked manual. Records that do not parse are sent
    too (unkeyed): the normalize agent dead-letters them with the reason, so nothing in the file is lost;
    ``unparseable_lines`` says which they were."""

    connector: Connector
    path: Path
    unparseable_lines: list[int] = field(default_factory=list)

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [(ORIGIN_HEADER, MANUAL_ORIGIN), (IMPORT_FILE_HEADER, self.path.name.encode())]

    def records(self) -> Iterator[tuple[bytes, bytes | None]]:
        for record in read_records(self.path):
            try:
                key = self.connector.record_key(self.connector.parse(record.value))
            except MappingError:
                key = None
                self.unparseable_lines.append(record.line)
            yield record.value, key.encode() if key else None

"""``cxstream schemas check``: every schema parses with fastavro *and* the ``avro`` reference library, and
each stays backward compatible (new reader reads old data) with its version at a git revision (``main``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import avro.compatibility
import avro.errors
import avro.schema

from cxstream.serde.catalog import SchemaCatalog, SchemaError, parse_schema_text


@dataclass(frozen=True)
class SchemaVerdict:
    name: str
    status: str  # unchanged | compatible | new | incompatible | removed | invalid
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("unchanged", "compatible", "new")


def parse_with_reference(text: str, origin: str) -> avro.schema.Schema:
    try:
        return avro.schema.parse(text)
    except (avro.errors.AvroException, ValueError) as exc:
        raise SchemaError(f"{origin}: the avro reference library refuses it: {exc}") from exc


def backward_problems(new_text: str, old_text: str) -> list[str]:
    """Why data written with ``old_text`` cannot be read with ``new_text`` (empty when it can)."""
    reader = parse_with_reference(new_text, "new")
    writer = parse_with_reference(old_text, "old")
    checker = avro.compatibility.ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible:
        return []
    found = zip(result.incompatibilities, result.messages, result.locations, strict=False)
    return [f"{loc}: {kind.name.lower()} ({msg})" for kind, msg, loc in found] or ["incompatible"]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LookupError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout


def schemas_at_revision(schema_dir: Path, revision: str) -> dict[str, str]:
    """Schema text by full name, as committed at ``revision``. LookupError if git cannot tell."""
    schema_dir = schema_dir.resolve()
    top = Path(_git(schema_dir, "rev-parse", "--show-toplevel").strip())
    relative = schema_dir.relative_to(top).as_posix()
    _git(top, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    listing = _git(top, "ls-tree", "--name-only", revision, f"{relative}/")
    found: dict[str, str] = {}
    for path in listing.split():
        if path.endswith(".avsc"):
            text = _git(top, "show", f"{revision}:{path}")
            try:
                name = parse_schema_text(text, f"{revision}:{path}")[0]
            except SchemaError:
                continue  # an old broken file says nothing about compatibility
            found[name] = text
    return found


def check_schemas(schema_dir: Path, revision: str = "main") -> tuple[list[SchemaVerdict], str]:
    """Verdicts per schema plus a note on what was compared."""
    catalog = SchemaCatalog.from_dir(schema_dir)
    verdicts: list[SchemaVerdict] = []
    for entry in catalog.entries():
        try:
            parse_with_reference(entry.text, str(entry.path))
        except SchemaError as exc:
            verdicts.append(SchemaVerdict(entry.name, "invalid", str(exc)))
    try:
        previous = schemas_at_revision(schema_dir, revision)
        note = f"compared with {revision}"
    except LookupError as exc:
        return verdicts + [SchemaVerdict(e.name, "new", "no git history") for e in catalog.entries()], (
            f"no comparison: {exc}"
        )
    invalid = {v.name for v in verdicts}
    for entry in catalog.entries():
        if entry.name in invalid:
            continue
        old = previous.get(entry.name)
        if old is None:
            verdicts.append(SchemaVerdict(entry.name, "new"))
        elif parse_schema_text(old, "old")[2] == entry.fingerprint:
            verdicts.append(SchemaVerdict(entry.name, "unchanged"))
        else:
            problems = backward_problems(entry.text, old)
            status = "incompatible" if problems else "compatible"
            verdicts.append(SchemaVerdict(entry.name, status, "; ".join(problems)))
    for name in sorted(set(previous) - catalog.names()):
        verdicts.append(SchemaVerdict(name, "removed", f"readers of topics using {name} would break"))
    return verdicts, note

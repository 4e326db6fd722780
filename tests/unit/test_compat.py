from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cxstream.cli import main
from cxstream.serde.compat import check_schemas

ROOT = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose main branch holds today's schemas."""
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "schemas")
    return tmp_path


def edit(repo: Path, name: str, change: object) -> None:
    path = repo / "schemas" / name
    document = json.loads(path.read_text())
    change(document)  # type: ignore[operator]
    path.write_text(json.dumps(document, indent=2))


def verdict(repo: Path, name: str) -> tuple[str, str]:
    verdicts, note = check_schemas(repo / "schemas", "main")
    assert note == "compared with main"
    found = {v.name: v for v in verdicts}[name]
    return found.status, found.detail


def test_unchanged_schemas_pass(repo: Path) -> None:
    verdicts, _ = check_schemas(repo / "schemas", "main")
    assert {v.status for v in verdicts} == {"unchanged"}


def test_optional_field_with_default_is_compatible(repo: Path) -> None:
    edit(
        repo,
        "Case.avsc",
        lambda d: d["fields"].append({"name": "tags", "type": {"type": "array", "items": "string"}, "default": []}),
    )
    assert verdict(repo, "cxstream.Case") == ("compatible", "")


def test_new_field_without_default_is_refused(repo: Path) -> None:
    edit(repo, "Case.avsc", lambda d: d["fields"].append({"name": "region", "type": "string"}))
    status, detail = verdict(repo, "cxstream.Case")
    assert status == "incompatible"
    assert "reader_field_missing_default_value" in detail
    assert "region" in detail


def test_type_change_is_refused(repo: Path) -> None:
    def narrow(document: dict) -> None:  # type: ignore[type-arg]
        for field in document["fields"]:
            if field["name"] == "n":
                field["type"] = "int"

    edit(repo, "Breach.avsc", narrow)
    assert verdict(repo, "cxstream.Breach")[0] == "incompatible"


def test_removed_schema_is_refused(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "schemas" / "CaseAction.avsc").unlink()
    assert verdict(repo, "cxstream.CaseAction")[0] == "removed"
    monkeypatch.setenv("CXSTREAM_SCHEMA_DIR", str(repo / "schemas"))
    assert main(["schemas", "check"]) == 1
    assert "BAD cxstream.CaseAction" in capsys.readouterr().out


def test_outside_git_every_schema_is_parsed_and_reported_new(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    verdicts, note = check_schemas(tmp_path / "schemas", "main")
    assert note.startswith("no comparison")
    assert {v.status for v in verdicts} == {"new"}


def test_repository_schemas_stay_backward_compatible_with_main() -> None:
    """The same check as `cxstream schemas check`: a branch that breaks readers fails the suite."""
    verdicts, _ = check_schemas(ROOT / "schemas", "main")
    assert [v for v in verdicts if not v.ok] == []

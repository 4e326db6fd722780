"""The README is the user's manual: its configuration table, commands and make targets must be true."""

from __future__ import annotations

import re
from pathlib import Path

from cxstream.cli import build_parser
from cxstream.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^\| `(CXSTREAM_[A-Z_]+)` \|", README, re.M))
    assert documented == {env_name(name) for name in Settings.model_fields}


def test_every_make_target_mentioned_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    mentioned = set(re.findall(r"`make ([a-z-]+)", README)) | set(
        re.findall(r"`([a-z-]+)`", README.split("make help")[1].split("\n\n")[0])
    )
    assert mentioned - {"ARGS"} <= targets


def test_every_cli_command_in_the_table_exists() -> None:
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for command in re.findall(r"^\| `cxstream ([a-z]+)", README, re.M):
        assert command in subcommands

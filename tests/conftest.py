"""Shared fixtures. Integration tests get a real Kafka-wire broker: the embedded one, or the cluster in
CXSTREAM_KAFKA_BOOTSTRAP when that is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CXSTREAM_* variable or .env file leaks into a settings test."""
    for name in list(os.environ):
        if name.startswith("CXSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def bootstrap() -> Iterator[str]:
    """A fresh embedded broker per test (about 0.1 s), or the external cluster when configured."""
    external = os.environ.get("CXSTREAM_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    from cxstream.kafka.embedded import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap

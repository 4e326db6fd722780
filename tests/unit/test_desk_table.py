"""The alert desk's state is one changelog record: its topic is declared to take records as large as the worker's
producer sends (Kafka's default of 1 MB holds some 740 open hot alerts)."""

from __future__ import annotations

from pathlib import Path

from faust.utils.json import dumps
from mode.utils.text import want_bytes

from cxstream.agents.alerting import DESK_TABLE
from cxstream.app import MAX_MESSAGE_BYTES, create_app, load_context
from cxstream.settings import Settings
from tests.unit.test_escalation import S, desk, hot

KAFKA_DEFAULT_RECORD_BYTES = 1048588


def test_the_desk_changelog_takes_records_as_large_as_the_producer_sends(tmp_path: Path) -> None:
    app = create_app(load_context(Settings(data_dir=tmp_path)), "127.0.0.1:9")  # built, never connected
    table = app.tables[DESK_TABLE]
    assert table.changelog_topic.config["max.message.bytes"] == str(MAX_MESSAGE_BYTES)


def test_a_desk_of_a_busy_day_outgrows_kafkas_default_record_size() -> None:
    """What the declaration is for: hot alerts stay open up to a day (``resolve_after``); 750 of them, written as
    the worker's JSON serializer writes them."""
    current = desk()
    for i in range(750):
        current.on_hot(hot(f"br-hot-{i}", at_ms=i * S), i * S)
        current.tick(i * S)
    size = len(want_bytes(dumps(current.to_json())))
    assert KAFKA_DEFAULT_RECORD_BYTES < size < MAX_MESSAGE_BYTES

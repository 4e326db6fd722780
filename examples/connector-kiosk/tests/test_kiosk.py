"""The mapping is a pure function: test it with sample payloads, no Kafka needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cxstream_kiosk import KioskConnector

from cxstream.connectors.base import MappingError, RawContext

SAMPLE = (Path(__file__).parent / "answer.json").read_bytes()
CONNECTOR = KioskConnector({"stores": {"AMS1": {"site": "ams-1", "region": "emea"}}})
CONTEXT = RawContext(ingest_time=datetime(2026, 11, 24, 9, 12, 5, tzinfo=UTC))


def test_an_answer_becomes_one_nps_response() -> None:
    [event] = CONNECTOR.normalize(SAMPLE, CONTEXT)
    assert event.event_id == "kiosk:k-7f3a" and event.source == "kiosk"
    assert (event.region, event.site, event.channel) == ("emea", "ams-1", "in_person")
    assert event.survey is not None and (event.survey.metric, event.survey.score) == ("NPS", 9)
    assert event.raw_payload == SAMPLE


def test_test_presses_are_ignored() -> None:
    assert CONNECTOR.normalize(json.dumps({"test_mode": True}).encode(), CONTEXT) == []


def test_an_unknown_question_is_refused_with_a_rule_id() -> None:
    payload = json.loads(SAMPLE) | {"question": "smiley"}
    with pytest.raises(MappingError) as refused:
        CONNECTOR.normalize(json.dumps(payload).encode(), CONTEXT)
    assert refused.value.rule_id == "mapping.question"

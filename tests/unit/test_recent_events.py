"""The events a worker published, kept by their bytes for its own readers of ``cx.events``."""

from __future__ import annotations

from datetime import UTC, datetime

from cxstream.agents.recent_events import RecentEvents
from cxstream.app import load_context
from cxstream.connectors.base import RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.demo.traffic import DemoTraffic
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.observability.metrics import REGISTRY
from cxstream.settings import Settings

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CONTEXT = load_context(Settings())


def demo_events(count: int, seed: int = 5) -> list[CanonicalEvent]:
    """The first ``count`` canonical events of the demo traffic, enriched as the worker enriches them."""
    traffic, events = DemoTraffic(seed=seed, malformed_share=0.0), []
    while len(events) < count:
        raw = traffic.next(NOW)
        connector = CONTEXT.connectors[raw.topic]
        events.extend(
            normalize_record(connector, raw.value, RawContext(NOW), CONTEXT.validator, CONTEXT.enricher).events
        )
    return events[:count]


def test_a_published_event_reads_back_from_its_bytes_as_the_very_same_event() -> None:
    """A reader handed the remembered event must see what decoding the bytes would give it: every kind of demo
    event, enriched as the worker enriches it, survives its Avro round trip unchanged."""
    codec = CONTEXT.codec("cx.events")
    kinds = set()
    for event in demo_events(4000):
        kinds.add(event.event_type)
        assert CanonicalEvent.from_record(codec.decode(codec.encode(event.to_record()))) == event
    assert len(kinds) >= 8  # surveys, tickets, orders, deliveries, ...


def found(reader: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value("cxstream_events_read_back_total", {"reader": reader, "outcome": outcome})
    return value or 0.0


def test_the_oldest_events_go_first_and_every_look_is_counted() -> None:
    events = demo_events(3)
    recent = RecentEvents(size=2)
    before_found, before_decoded = found("test", "found"), found("test", "decoded")
    for i, event in enumerate(events):
        recent.remember(f"bytes {i}".encode(), event)
    assert len(recent) == 2
    assert recent.find(b"bytes 0", "test") is None  # the oldest went
    assert recent.find(b"bytes 2", "test") is events[2]
    assert recent.find(b"bytes 1", "test") is events[1]
    assert recent.find(None, "test") is None  # a tombstone
    assert found("test", "found") - before_found == 2 and found("test", "decoded") - before_decoded == 2

"""Journey tagging and verbatim analysis, as normalization applies them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxstream.app import load_context
from cxstream.connectors.base import RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.domain.ingest.enrichment import drivers_of
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.domain.ingest.journey import JourneyMap
from cxstream.domain.ingest.verbatim import Lexicon, VerbatimAnalyzer, VerbatimSpec
from cxstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CTX = load_context(Settings())
ANALYZER = VerbatimAnalyzer(CTX.topology.verbatims)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def event(**fields: object) -> CanonicalEvent:
    base: dict[str, object] = {"event_id": "e", "event_type": EventType.ORDER_DELIVERED, "event_time": NOW,
                               "ingest_time": NOW, "source": "erp", "source_record_id": "r"}  # fmt: skip
    base.update(fields)
    return CanonicalEvent.model_validate(base)


@pytest.mark.parametrize(
    ("fields", "stage", "touchpoint"),
    [
        ({}, "delivery", "delivery"),
        ({"touchpoint": "repair"}, "field_service", "repair"),
        ({"journey_stage": "billing", "touchpoint": "billing"}, "billing", "billing"),
        ({"event_type": EventType.TICKET_SOLVED}, "support", "ticket_resolution"),
        ({"event_type": EventType.SURVEY_RESPONSE}, None, None),
        ({"event_type": EventType.SURVEY_RESPONSE, "source": "helpdesk"}, "support", "ticket_resolution"),
    ],
)
def test_journey_tags_fill_gaps_and_never_overwrite(fields: dict[str, object], stage: str, touchpoint: str) -> None:
    tagged = CTX.topology.journey.tag(event(**fields))
    assert (tagged.journey_stage, tagged.touchpoint) == (stage, touchpoint)


def test_journey_map_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="not in stage"):
        JourneyMap.model_validate({
            "stages": [{"id": "delivery", "touchpoints": ["delivery"]}],
            "tagging": [{"event_types": ["ORDER_DELIVERED"], "journey_stage": "delivery", "touchpoint": "billing"}],
        })  # fmt: skip


@pytest.mark.parametrize(
    ("text", "drivers", "sign"),
    [
        ("Parcel arrived 4 days late and nobody told me.", {"delivery", "waiting_time", "contact_effort"}, -1),
        ("Fast delivery, thanks!", {"delivery"}, 1),
        ("I was charged twice for one order.", {"billing"}, -1),
        ("The agent was rude and hung up on me.", {"staff_attitude"}, -1),
        ("Not bad, not late at all", {"waiting_time"}, 1),
        ("", set(), 0),
    ],
)
def test_drivers_and_sentiment(text: str, drivers: set[str], sign: int) -> None:
    analysis = ANALYZER.analyze(text, "en")
    assert set(analysis.drivers) == drivers
    if sign == 0:
        assert analysis.sentiment is None
    else:
        assert analysis.sentiment is not None and analysis.sentiment * sign > 0


def test_language_falls_back_to_the_default_and_dutch_has_its_own() -> None:
    assert ANALYZER.analyze("Pakket kwam veel te laat", "nl-BE").drivers == ("delivery", "waiting_time")
    assert ANALYZER.analyze("late parcel", "xx").drivers == ("delivery", "waiting_time")


@given(text=st.text(max_size=300), language=st.one_of(st.none(), st.text(max_size=6)))
def test_any_text_is_analyzed_without_error(text: str, language: str | None) -> None:
    analysis = ANALYZER.analyze(text, language)
    assert analysis.sentiment is None or -1 <= analysis.sentiment <= 1


def test_lexicon_terms_must_hold_a_word() -> None:
    with pytest.raises(ValueError, match="no word"):
        VerbatimSpec(lexicons=(Lexicon(language="en", drivers={"delivery": ("!!",)}),))


def test_normalization_enriches_before_validation() -> None:
    raw = (ROOT / "examples/raw/crm/survey_response.json").read_bytes()
    outcome = normalize_record(CTX.connectors["cx.raw.crm"], raw, RawContext(NOW), CTX.validator, CTX.enricher)
    [enriched] = outcome.events
    assert set(drivers_of(enriched)) >= {"delivery", "waiting_time"}
    assert float(enriched.attributes["sentiment"]) < 0

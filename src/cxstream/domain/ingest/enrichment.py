"""What normalization adds to every event after its connector mapped it: the journey stage and touchpoint
when the source did not say, the arms of the experiments its units are in, a helpdesk contact's complexity
tier, and the drivers and sentiment of its verbatim comment (as attributes)."""

from __future__ import annotations

from collections.abc import Callable

from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.ingest.journey import JourneyMap
from cxstream.domain.ingest.verbatim import VerbatimAnalyzer

DRIVERS_ATTRIBUTE = "drivers"
TIER_ATTRIBUTE = "tier"
SENTIMENT_ATTRIBUTE = "sentiment"


class Enricher:
    def __init__(
        self,
        journey: JourneyMap,
        analyzer: VerbatimAnalyzer,
        tier: Callable[[CanonicalEvent], str | None] | None = None,
        bands: Callable[[CanonicalEvent], dict[str, str]] | None = None,
    ) -> None:
        self.journey = journey
        self.analyzer = analyzer
        self.tier = tier  # a helpdesk contact's complexity tier (workforce), kept in its attributes
        self.bands = bands  # a survey answer's bands of the operational values it knows (customer tolerance)
        # the arm:<metric> tags of the experiments the event's units are in (set by the worker, which reads them)
        self.experiments: Callable[[CanonicalEvent], dict[str, str]] | None = None

    def __call__(self, event: CanonicalEvent) -> CanonicalEvent:
        event = self.journey.tag(event)
        if self.experiments is not None:
            arms = {k: v for k, v in self.experiments(event).items() if k not in event.attributes}
            if arms:
                event = event.model_copy(update={"attributes": {**event.attributes, **arms}})
        if self.tier is not None and TIER_ATTRIBUTE not in event.attributes:
            tier = self.tier(event)
            if tier is not None:
                event = event.model_copy(update={"attributes": {**event.attributes, TIER_ATTRIBUTE: tier}})
        if self.bands is not None:
            tags = {k: v for k, v in self.bands(event).items() if k not in event.attributes}
            if tags:
                event = event.model_copy(update={"attributes": {**event.attributes, **tags}})
        survey = event.survey
        text = (survey.verbatim if survey else None) or event.comment
        if not text or DRIVERS_ATTRIBUTE in event.attributes:
            return event
        analysis = self.analyzer.analyze(text, survey.language if survey else None)
        attributes = dict(event.attributes)
        attributes[DRIVERS_ATTRIBUTE] = ",".join(analysis.drivers)
        if analysis.sentiment is not None:
            attributes[SENTIMENT_ATTRIBUTE] = f"{analysis.sentiment:.3f}"
        return event.model_copy(update={"attributes": attributes})


def drivers_of(event: CanonicalEvent) -> tuple[str, ...]:
    value = event.attributes.get(DRIVERS_ATTRIBUTE, "")
    return tuple(d for d in value.split(",") if d)

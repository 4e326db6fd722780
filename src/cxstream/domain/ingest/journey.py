"""The journey map: journey stages and the operational touchpoints inside them, declared in
``topologies/journey.yaml``, and the tagging of events whose source does not say where in the journey they
belong."""

from __future__ import annotations

from pydantic import Field, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.ingest.events import CanonicalEvent, EventType


class Stage(Strict):
    id: str
    description: str = ""
    touchpoints: tuple[str, ...] = ()


class TaggingRule(Strict):
    """Events of these types (and sources, if given) that carry no stage or touchpoint get these."""

    event_types: tuple[EventType, ...] = Field(min_length=1)
    sources: tuple[str, ...] = ()
    journey_stage: str
    touchpoint: str


class JourneyMap(Strict):
    stages: tuple[Stage, ...] = ()
    tagging: tuple[TaggingRule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> JourneyMap:
        stages = {s.id: s for s in self.stages}
        if len(stages) != len(self.stages):
            raise ValueError("a stage id is used twice")
        for i, rule in enumerate(self.tagging):
            if rule.journey_stage not in stages:
                raise ValueError(f"tagging[{i}]: stage {rule.journey_stage!r} is not in the journey map")
            if rule.touchpoint not in stages[rule.journey_stage].touchpoints:
                raise ValueError(f"tagging[{i}]: touchpoint {rule.touchpoint!r} is not in stage {rule.journey_stage!r}")
        return self

    def stage_of(self, touchpoint: str) -> str | None:
        """The first stage (in declaration order) that contains the touchpoint."""
        for stage in self.stages:
            if touchpoint in stage.touchpoints:
                return stage.id
        return None

    def tag(self, event: CanonicalEvent) -> CanonicalEvent:
        """Fill a missing stage and touchpoint; never overwrite what the source said."""
        if event.journey_stage and event.touchpoint:
            return event
        update: dict[str, str] = {}
        if event.touchpoint and not event.journey_stage:
            stage = self.stage_of(event.touchpoint)
            if stage:
                update["journey_stage"] = stage
        else:
            for rule in self.tagging:
                if event.event_type in rule.event_types and (not rule.sources or event.source in rule.sources):
                    if event.journey_stage and event.journey_stage != rule.journey_stage:
                        continue  # the stage given by the source wins; look for a rule that agrees with it
                    update = {"journey_stage": rule.journey_stage, "touchpoint": rule.touchpoint}
                    break
        update = {k: v for k, v in update.items() if not getattr(event, k)}
        return event.model_copy(update=update) if update else event

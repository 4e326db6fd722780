"""Experiments on the workers: every worker reads ``cx.experiments`` whole (the normalize agent tags the events of
assigned units from it, and the API reads it); each arm's live answers are summed per partition with the
remediation verdicts' partials, so any worker can put an experiment's arms together."""

from __future__ import annotations

from typing import Any

from cxstream.agents.history import TopicFeed
from cxstream.domain.catalog import Topics
from cxstream.domain.impact.experiments import Experiment, ExperimentBook, settled, tags, wants
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.remediation.checks import Wanted
from cxstream.observability.logging import get_logger
from cxstream.serde.avro import AvroCodec, DecodeError

log = get_logger(__name__)


class ExperimentFeed(TopicFeed):
    topic = Topics.EXPERIMENTS

    def __init__(self, client_options: dict[str, Any], codec: AvroCodec) -> None:
        super().__init__(client_options)
        self.codec = codec
        self.book = ExperimentBook()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            self.book.add(Experiment.from_record(self.codec.decode(value)))
        except (DecodeError, ValueError, KeyError) as exc:
            log.warning("experiment_undecodable", error=str(exc)[:200])

    def on_ready(self) -> None:
        log.info("experiments_loaded", experiments=len(self.book.experiments))

    def tags(self, event: CanonicalEvent) -> dict[str, str]:
        """The arm tags of ``event`` (none before the feed has read the topic)."""
        return tags(self.book.experiments.values(), event) if self.book.experiments else {}

    def wants(self, finest_ms: int, now_ms: int) -> list[Wanted]:
        if not self.ready:
            return []
        return [
            w for e in self.book.experiments.values() if not settled(e, now_ms) for w in wants(e, finest_ms, now_ms)
        ]

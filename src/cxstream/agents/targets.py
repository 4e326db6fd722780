"""CX targets on the workers: every worker reads ``cx.targets`` whole for the API."""

from __future__ import annotations

from typing import Any

from cxstream.agents.history import TopicFeed
from cxstream.domain.catalog import Topics
from cxstream.domain.impact.targets import Target, TargetBook
from cxstream.observability.logging import get_logger
from cxstream.serde.avro import AvroCodec, DecodeError

log = get_logger(__name__)


class TargetFeed(TopicFeed):
    topic = Topics.TARGETS

    def __init__(self, client_options: dict[str, Any], codec: AvroCodec) -> None:
        super().__init__(client_options)
        self.codec = codec
        self.book = TargetBook()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            self.book.add(Target.from_record(self.codec.decode(value)))
        except (DecodeError, ValueError, KeyError) as exc:
            log.warning("target_undecodable", error=str(exc)[:200])

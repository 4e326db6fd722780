"""In-store survey kiosks: a tablet by the exit asks "How likely are you to recommend us?" (0-10) and
offers a comment box. The kiosk fleet's cloud posts one JSON document per answer::

    {"answer_id": "k-7f3a", "terminal": "AMS1-T03", "store": "AMS1", "answered_at": "2026-11-24T09:12:03Z",
     "question": "nps", "score": 9, "comment": "Quick pick-up", "language": "nl", "loyalty_card": "C-104233"}

``store`` codes map to a site and region through the connector's options in ``topologies/kiosk.yaml``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cxstream.connectors.base import Connector, ConnectorOptions, MappingError, RawContext
from cxstream.connectors.fields import need_object, opt_int, opt_str, req_str, req_time
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Survey, SurveyMetric

_QUESTIONS = {"nps": SurveyMetric.NPS, "csat": SurveyMetric.CSAT, "ces": SurveyMetric.CES}


class Store(BaseModel):
    site: str
    region: str


class KioskOptions(ConnectorOptions):
    stores: dict[str, Store] = Field(default_factory=dict, description="store code -> site and region")


class KioskConnector(Connector):
    name = "kiosk"  # the source: reads cx.raw.kiosk, events carry source="kiosk"
    description = "In-store survey kiosks (NPS, CSAT or CES with an optional comment)"
    options_model = KioskOptions

    def record_key(self, payload: Any) -> str | None:
        """The answer id, so that a kiosk re-sending an answer lands on the same partition."""
        if isinstance(payload, dict) and isinstance(payload.get("answer_id"), str):
            return str(payload["answer_id"])
        return None

    def map(self, payload: Any, context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        record = need_object(payload)
        if record.get("test_mode") is True:
            return []  # technicians' test presses carry no customer signal
        answer_id = req_str(record, "answer_id")
        question = req_str(record, "question", lower=True)
        metric = _QUESTIONS.get(question)
        if metric is None:
            raise MappingError(f"question {question!r} is not nps, csat or ces", "mapping.question")
        score = opt_int(record, "score")
        if score is None:
            raise MappingError("score is required", "required.score")
        assert isinstance(self.options, KioskOptions)
        code = opt_str(record, "store")
        store = self.options.stores.get(code) if code else None
        return [
            CanonicalEvent(
                event_id=f"kiosk:{answer_id}",
                event_type=EventType.SURVEY_RESPONSE,
                event_time=req_time(record, "answered_at"),
                ingest_time=context.ingest_time,
                source=self.name,
                source_record_id=answer_id,
                customer_id=opt_str(record, "loyalty_card"),
                region=store.region if store else None,
                site=store.site if store else (code.lower() if code else None),
                channel="in_person",
                journey_stage="purchase",
                touchpoint="store",
                survey=Survey.on_standard_scale(
                    metric, score, opt_str(record, "comment"), opt_str(record, "language", lower=True)
                ),
                attributes={"terminal": t} if (t := opt_str(record, "terminal")) else {},
                raw_payload=raw,
            )
        ]

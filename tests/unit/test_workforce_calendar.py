"""The training and change calendar without Kafka: an entry against its queues' forecast (the service level it
leaves, a better start), peak seasons and change freezes, and its record."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cxstream.domain.base import to_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.workforce.calendar import CalendarEntry, assess, days_of, new_entry, rule_hits
from cxstream.domain.workforce.spec import CalendarSpec
from cxstream.serde.avro import CodecFactory
from cxstream.serde.catalog import SchemaCatalog
from cxstream.web.calendar_api import assessment_json, plans_for
from tests.unit.test_connectors import ROOT
from tests.unit.test_workforce_plan import CTX, TODAY, index

WORKFORCE, METRICS = CTX.topology.workforce, CTX.topology.metrics
QUEUES = [q.id for q in WORKFORCE.queues]


def entry(kind: str, queue: str, agents: int, hour: int, hours: int = 2, day: date = TODAY) -> CalendarEntry:
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return new_entry(kind, "Refund policy 2027", [queue], agents, start, start + timedelta(hours=hours), "l.moreau",
                     QUEUES)  # fmt: skip


def test_an_entry_at_the_peak_leaves_the_queue_short_and_gets_a_better_start() -> None:
    planned = entry("training", "emea-chat", 2, 10)
    plans = plans_for(planned, METRICS, WORKFORCE, index())
    assert days_of(planned, 7) == (TODAY, 8) and len(plans["emea-chat"].staffing) == 7 * 48  # capped at the horizon
    verdict = assess(planned, plans, CalendarSpec())
    [impact] = verdict.impacts
    assert impact.needed is not None and impact.left == max(0, impact.needed - 2)
    assert impact.level is not None and impact.planned_level is not None and impact.level < impact.planned_level
    assert verdict.below_target and impact.level < 0.8 and impact.weeks == 8
    assert verdict.better_start is not None and verdict.better_start > datetime(2026, 11, 30, 10, tzinfo=UTC)
    moved = CalendarEntry(planned.entry_id, planned.kind, planned.title, planned.queues, planned.agents,
                          to_ms(verdict.better_start), to_ms(verdict.better_start) + 2 * 3_600_000,
                          planned.created_by, planned.updated_ms)  # fmt: skip
    again = assess(moved, plans, CalendarSpec())
    assert not again.below_target and all(i.level is not None and i.level >= 0.8 for i in again.impacts)
    text = verdict.summary()
    assert "takes 2 agents from emea-chat" in text and "instead of" in text and "first window" in text, text
    assert assessment_json(verdict)["verdict"] == "below_target"


def test_peaks_warn_freezes_refuse_by_kind_and_queue() -> None:
    spec = CalendarSpec.model_validate({
        "peaks": [{"name": "Black Friday", "from": "2026-11-27", "to": "2026-11-30", "action": "warn"}],
        "freezes": [{"name": "Year end", "from": "2026-11-30", "to": "2026-12-02", "kinds": ["system_change"],
                     "queues": ["billing"], "action": "refuse"}],
    })  # fmt: skip
    training = entry("training", "billing", 1, 3)
    change = entry("system_change", "billing", 1, 3)
    elsewhere = entry("system_change", "emea-chat", 1, 3)
    assert [(h.rule, h.action) for h in rule_hits(training, spec)] == [("Black Friday", "warn")]
    assert [(h.rule, h.action) for h in rule_hits(change, spec)] == [("Black Friday", "warn"), ("Year end", "refuse")]
    assert [h.rule for h in rule_hits(elsewhere, spec)] == ["Black Friday"]
    verdict = assess(change, plans_for(change, METRICS, WORKFORCE, index()), spec)
    assert verdict.refused and "refused: overlaps the change freeze Year end" in verdict.summary()
    later = entry("system_change", "billing", 1, 3, day=date(2026, 12, 3))
    assert rule_hits(later, spec) == ()
    with pytest.raises(ValueError, match="before 'from'"):
        CalendarSpec.model_validate({"peaks": [{"name": "x", "from": "2026-12-02", "to": "2026-12-01"}]})


def test_without_history_the_forecast_cannot_judge_it() -> None:
    planned = entry("training", "billing", 1, 10)
    verdict = assess(planned, plans_for(planned, METRICS, WORKFORCE, HistoryIndex()), CalendarSpec())
    assert verdict.unknown is not None and "no forecast for billing" in verdict.unknown
    assert assessment_json(verdict)["verdict"] == "unknown"


def test_a_new_entry_says_what_is_wrong_and_travels_as_its_avro_record() -> None:
    start = datetime(2026, 12, 14, 10, tzinfo=UTC)
    for kwargs, message in [
        ({"kind": "party"}, "kind is one of"), ({"queues": ["nowhere"]}, "not a queue"), ({"agents": 0}, "at least 1"),
        ({"ends": start}, "end after it starts"), ({"ends": start + timedelta(days=20)}, "at most 14 days"),
        ({"title": " "}, "title is required"),
    ]:  # fmt: skip
        given = {"kind": "training", "title": "T", "queues": ["billing"], "agents": 2, "starts": start,
                 "ends": start + timedelta(hours=1), "created_by": "l.moreau", "known_queues": QUEUES}  # fmt: skip
        given.update(kwargs)
        with pytest.raises(ValueError, match=message):
            new_entry(**given)  # type: ignore[arg-type]
    made = new_entry("training", "T", ["billing", "billing"], 2, start, start + timedelta(hours=1), "l.moreau", QUEUES,
                     "wave 1")  # fmt: skip
    assert made.queues == ("billing",) and made.entry_id.startswith("cal-")
    codec = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas")).for_topic(
        "cx.workforce-calendar", "cxstream.CalendarEntry"
    )
    assert CalendarEntry.from_record(codec.decode(codec.encode(made.to_record()))) == made
    assert made.cancel(5).cancelled and made.cancel(5).updated_ms == 5

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.app import load_context
from cxstream.config.topology import load_topology
from cxstream.config.yaml_source import ConfigError
from cxstream.connectors.base import RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.domain.ingest.dead_letter import Stage
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation, Survey, SurveyMetric
from cxstream.domain.ingest.validation import Reference, RuleAction, RuleSpec, ValidationSpec, Validator, is_duplicate
from cxstream.serde.catalog import SchemaCatalog
from cxstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = load_context(Settings())
VALIDATOR = CONTEXT.validator
NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def event(**changes: object) -> CanonicalEvent:
    base: dict[str, object] = {
        "event_id": "e1", "event_type": EventType.TICKET_SOLVED, "event_time": NOW - timedelta(minutes=3),
        "ingest_time": NOW, "source": "helpdesk", "source_record_id": "r1", "agent_id": "a1", "region": "emea",
        "site": "ams-1", "team": "customer-service", "channel": "chat", "journey_stage": "support",
        "touchpoint": "ticket_resolution", "operation": Operation(ticket_id="t1"),
    }  # fmt: skip
    base.update(changes)
    return CanonicalEvent.model_validate(base)


def rules(found: list[object]) -> set[tuple[str, str]]:
    return {(f.rule_id, f.action.value) for f in found}  # type: ignore[attr-defined]


def test_a_clean_event_passes() -> None:
    assert VALIDATOR.check(event()) == []


def test_missing_agent_rejects_but_only_flags_manual_records() -> None:
    assert rules(VALIDATOR.check(event(agent_id=None))) == {("required.agent_id", "reject")}
    [finding] = VALIDATOR.check(event(agent_id=None), manual=True)
    assert (finding.action, finding.flag) == (RuleAction.FLAG, "missing:agent_id")


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"event_time": NOW + timedelta(minutes=6)}, "time.not_future"),
        ({"event_time": NOW - timedelta(days=31)}, "time.horizon"),
        ({"operation": Operation(ticket_id="t1", created_at=NOW, actual_at=NOW - timedelta(hours=1))}, "time.order"),
        (
            {
                "event_type": EventType.SURVEY_RESPONSE,
                "customer_id": "c",
                "survey": Survey(metric=SurveyMetric.NPS, score=11, scale_min=0, scale_max=10),
            },
            "score.range",
        ),
        (
            {
                "event_type": EventType.SURVEY_RESPONSE,
                "customer_id": "c",
                "survey": Survey(metric=SurveyMetric.CSAT, score=5, scale_min=0, scale_max=10),
            },
            "score.range",
        ),
        ({"event_type": EventType.SURVEY_RESPONSE, "customer_id": "c"}, "required.survey"),
    ],
)
def test_reject_rules(changes: dict[str, object], rule: str) -> None:
    assert rules(VALIDATOR.check(event(**changes))) == {(rule, "reject")}


def test_skew_allowance_and_unknown_reference_values_flag() -> None:
    assert VALIDATOR.check(event(event_time=NOW + timedelta(minutes=4))) == []
    found = VALIDATOR.check(event(region="mars", site="olympus-1"))
    assert rules(found) == {("reference.region", "flag"), ("reference.site", "flag")}
    assert {f.flag for f in found} == {"unknown:region", "unknown:site"}


def test_pipeline_is_all_or_nothing_and_marks_manual_records() -> None:
    connector = CONTEXT.connectors["cx.raw.crm"]
    raw = (ROOT / "examples/raw/crm/case_complaint.json").read_bytes()
    clean = normalize_record(connector, raw, RawContext(datetime(2026, 11, 22, tzinfo=UTC)), VALIDATOR)
    assert len(clean.events) == 2 and not clean.rejects
    # at an ingest time before the case was closed, the TICKET_SOLVED event lies in the future: nothing is kept
    early = normalize_record(connector, raw, RawContext(datetime(2026, 11, 20, 9, tzinfo=UTC)), VALIDATOR)
    assert early.events == () and early.stage is Stage.VALIDATE
    assert [r.rule_id for r in early.rejects] == ["time.not_future"]
    manual = normalize_record(connector, raw, RawContext(datetime(2026, 11, 22, tzinfo=UTC), manual=True), VALIDATOR)
    assert all(e.quality_flags[0] == "manual" for e in manual.events)


def test_stage_of_undecodable_and_unmappable_records() -> None:
    connector = CONTEXT.connectors["cx.raw.erp"]
    assert normalize_record(connector, b"\xff", RawContext(NOW), VALIDATOR).stage is Stage.DECODE
    unmappable = normalize_record(connector, b'{"DocumentType": "OutboundDelivery"}', RawContext(NOW), VALIDATOR)
    assert unmappable.stage is Stage.NORMALIZE
    assert unmappable.rejects[0].rule_id == "required.DeliveryDocument"
    ignored = normalize_record(connector, b'{"DocumentType": "Invoice"}', RawContext(NOW), VALIDATOR)
    assert ignored.ignored


def test_duplicates_within_the_horizon() -> None:
    day = 86_400_000
    assert not is_duplicate(None, 10 * day, 7 * day)
    assert is_duplicate(9 * day, 10 * day, 7 * day)
    assert not is_duplicate(2 * day, 10 * day, 7 * day)
    # the same raw record read again after a crash is published again (readers drop it by event id) ...
    assert not is_duplicate(9 * day, 10 * day, 7 * day, ("cx.raw.crm", 41), ("cx.raw.crm", 41))
    # ... but the same event in another record, or in the same record re-sent, is a duplicate
    assert is_duplicate(9 * day, 10 * day, 7 * day, ("cx.raw.crm", 41), ("cx.raw.crm", 97))
    assert is_duplicate(9 * day, 10 * day, 7 * day, ("cx.raw.crm", 41), ("cx.raw.canonical", 41))


def test_rule_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        RuleSpec(id="x.y", kind="known_value", fields=("region", "site"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a canonical field"):
        RuleSpec(id="x.y", kind="required", fields=("shoe_size",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes no fields"):
        RuleSpec(id="x.y", kind="not_future", fields=("region",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="used twice"):
        ValidationSpec(rules=(RuleSpec(id="a.b", kind="not_future"), RuleSpec(id="a.b", kind="horizon")))  # type: ignore[arg-type]
    assert Validator(ValidationSpec(), Reference(), ()).check(event()) == []


def test_bad_rule_in_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    tmp_path = tmp_path / "topologies"
    tmp_path.mkdir()
    for name in ("teams.yaml", "topics.yaml", "connectors.yaml", "reference.yaml"):
        (tmp_path / name).write_text((ROOT / "topologies" / name).read_text())
    (tmp_path / "validation.yaml").write_text(
        "validation:\n  rules:\n    - id: time.bad\n      kind: not_future\n      action: shout\n"
    )
    names = SchemaCatalog.from_dir(ROOT / "schemas").names()
    with pytest.raises(ConfigError) as caught:
        load_topology(tmp_path, names)
    [problem] = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'validation.yaml'}:5: validation.rules[0].action: Input should be")
    (tmp_path / "validation2.yaml").write_text("validation:\n  rules: []\n")
    (tmp_path / "validation.yaml").write_text("validation:\n  rules: []\n")
    with pytest.raises(ConfigError, match="validation is already declared"):
        load_topology(tmp_path, names)


printable = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))  # what an identifier may hold
texts = st.one_of(
    st.none(), st.text(printable, max_size=12), st.sampled_from(["emea", "apac", "ams-1", "support", "a1"])
)
times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1), timezones=st.just(UTC))
surveys = st.builds(
    Survey, metric=st.sampled_from(SurveyMetric), score=st.integers(-(2**31), 2**31 - 1),
    scale_min=st.integers(-100, 100), scale_max=st.integers(-100, 100), verbatim=texts,
)  # fmt: skip
operations = st.builds(
    Operation, order_id=texts, ticket_id=texts, created_at=st.none() | times, promised_at=st.none() | times,
    actual_at=st.none() | times,
)  # fmt: skip
events = st.builds(
    CanonicalEvent, event_id=st.text(printable, min_size=1, max_size=8), event_type=st.sampled_from(EventType),
    event_time=times, ingest_time=times, source=st.sampled_from(["crm", "erp", "helpdesk", "canonical"]),
    source_record_id=st.just("r"), customer_id=texts, region=texts, site=texts, team=texts, channel=texts,
    journey_stage=texts, touchpoint=texts, agent_id=texts, survey=st.none() | surveys,
    operation=st.none() | operations,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(candidate=events, manual=st.booleans())
def test_every_rule_judges_any_event_without_raising(candidate: CanonicalEvent, manual: bool) -> None:
    declared = {rule.id: rule for rule in VALIDATOR.spec.rules}
    for finding in VALIDATOR.check(candidate, manual=manual):
        assert finding.rule_id in declared and finding.message and finding.flag
        assert finding.action is declared[finding.rule_id].action_for(manual)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300), manual=st.booleans())
def test_the_whole_pipeline_turns_any_bytes_into_an_outcome(raw: bytes, manual: bool) -> None:
    for connector in CONTEXT.connectors.values():
        outcome = normalize_record(connector, raw, RawContext(NOW, manual=manual), VALIDATOR)
        assert bool(outcome.rejects) == (outcome.stage is not None)

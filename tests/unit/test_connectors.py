from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxstream.app import load_context
from cxstream.connectors.base import Connector, MappingError, RawContext
from cxstream.domain.ingest.events import EventType, SurveyMetric
from cxstream.serde.avro import CodecFactory
from cxstream.serde.catalog import SchemaCatalog
from cxstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = load_context(Settings())
CONNECTORS: dict[str, Connector] = {c.name: c for c in CONTEXT.connectors.values()}
NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
CTX = RawContext(NOW)
EVENT_CODEC = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas")).for_topic("cx.events", "cxstream.CanonicalEvent")

EXPECTED = {
    "crm/survey_response.json": [EventType.SURVEY_RESPONSE],
    "crm/case_complaint.json": [EventType.COMPLAINT, EventType.TICKET_SOLVED],
    "crm/case_change_event.json": [EventType.TICKET_SOLVED],
    "crm/contact.json": [],
    "erp/sales_order.json": [EventType.ORDER_CREATED],
    "erp/outbound_delivery_goods_issued.json": [EventType.ORDER_GOODS_ISSUED],
    "erp/outbound_delivery_delivered.json": [EventType.ORDER_DELIVERED],
    "helpdesk/ticket_created.json": [EventType.TICKET_CREATED],
    "helpdesk/comment_added.json": [EventType.TICKET_REPLY],
    "helpdesk/first_reply_metric.json": [EventType.TICKET_FIRST_REPLY],
    "helpdesk/status_solved.json": [EventType.TICKET_SOLVED],
    "helpdesk/satisfaction_rating.json": [EventType.SURVEY_RESPONSE],
    "helpdesk/satisfaction_rating_bare.json": [EventType.SURVEY_RESPONSE],
    "helpdesk/satisfaction_ratings_page.json": [EventType.SURVEY_RESPONSE] * 2,  # the third was offered only
    "helpdesk/satisfaction_ratings_array.json": [EventType.SURVEY_RESPONSE] * 2,
    "crm/case_change_event_streaming.json": [EventType.TICKET_SOLVED],
    "crm/case_change_event_pubsub.json": [EventType.TICKET_SOLVED],
    "erp/sales_orders_collection.json": [EventType.ORDER_CREATED] * 2,
    "canonical/survey_response.json": [EventType.SURVEY_RESPONSE],
    "canonical/agent_status.json": [EventType.AGENT_STATUS],
    "helpdesk/agent_state_changed.json": [EventType.AGENT_STATUS],
    "partners/feedback.json": [EventType.PARTNER_FEEDBACK],
    "partners/feedback_batch.json": [EventType.PARTNER_FEEDBACK] * 2,
}


def events_of(name: str) -> list[Any]:
    path = ROOT / "examples/raw" / name
    return CONNECTORS[path.parent.name].normalize(path.read_bytes(), CTX)


def test_every_sample_payload_is_covered() -> None:
    samples = {p.relative_to(ROOT / "examples/raw").as_posix() for p in (ROOT / "examples/raw").glob("*/*.json")}
    assert samples == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_maps_to_the_expected_events_and_encodes(name: str) -> None:
    events = events_of(name)
    assert [e.event_type for e in events] == EXPECTED[name]
    raw = (ROOT / "examples/raw" / name).read_bytes()
    for event in events:
        assert event.raw_payload == raw
        assert event.ingest_time == NOW
        assert event.source == name.split("/")[0]
        assert EVENT_CODEC.decode(EVENT_CODEC.encode(event.to_record()))["event_id"] == event.event_id
    assert [e.event_id for e in events] == [e.event_id for e in events_of(name)]  # deterministic: replays dedupe


def test_salesforce_survey_fields() -> None:
    [event] = events_of("crm/survey_response.json")
    assert event.survey is not None
    assert (event.survey.metric, event.survey.score, event.survey.scale_min, event.survey.scale_max) == (
        SurveyMetric.NPS, 3, 0, 10,
    )  # fmt: skip
    assert (event.region, event.site, event.customer_id) == ("emea", "ams-1", "0035g00000AbCdEAAV")
    assert event.survey.verbatim == "Third time the parcel arrived late, and nobody called back."
    assert event.event_time == datetime(2026, 11, 23, 9, 14, 5, tzinfo=UTC)


def test_sap_delivery_promise_is_the_end_of_the_promised_day() -> None:
    [event] = events_of("erp/outbound_delivery_delivered.json")
    assert event.operation is not None
    assert event.operation.promised_at == datetime(2026, 11, 22, 23, 59, 59, 999000, tzinfo=UTC)
    assert event.operation.actual_at == datetime(2026, 11, 24, 15, 2, tzinfo=UTC)
    assert (event.region, event.site, event.team) == ("emea", "ams-1", "logistics")  # via connectors.yaml tables


def test_every_documented_shape_of_a_zendesk_rating_gives_the_same_answer() -> None:
    """Show, list page, bare object and array: the same rating, the same event."""
    rating = json.loads((ROOT / "examples/raw/helpdesk/satisfaction_rating_bare.json").read_text())
    helpdesk = CONNECTORS["helpdesk"]
    shapes = [{"satisfaction_rating": rating}, {"satisfaction_ratings": [rating], "count": 1}, rating, [rating]]
    events = [helpdesk.normalize(json.dumps(shape).encode(), CTX) for shape in shapes]
    assert all([e.event_id for e in found] == ["helpdesk:rating:35440"] for found in events)
    assert {found[0].survey.score for found in events if found[0].survey} == {5}
    offered = {**rating, "score": "offered"}
    assert helpdesk.normalize(json.dumps(offered).encode(), CTX) == []  # a survey sent, no answer
    assert helpdesk.normalize(json.dumps({**rating, "score": "bad_with_comment"}).encode(), CTX)[0].survey.score == 1


@pytest.mark.parametrize(
    ("connector", "payload", "expected", "found"),
    [
        ("helpdesk", {"rating": {"score": "good"}}, "satisfaction_ratings list", "found an object with keys 'rating'"),
        ("helpdesk", "good", "event webhook", "found str"),
        ("helpdesk", {"satisfaction_ratings": [{"id": 1, "score": "great", "created_at": "2026-11-23T10:00:00Z"}]},
         "satisfaction_ratings[0]: score is good, bad", "found 'great'"),
        ("crm", {"sobject": {"Id": "x"}}, "Streaming API message", "found an object with keys 'sobject'"),
        ("erp", {"d": {"SalesOrder": "1"}}, "__metadata.type", "found an object with keys 'SalesOrder'"),
        ("erp", {"d": {"results": [{"__metadata": {"type": "API_SALES_ORDER_SRV.A_SalesOrderType"}}]}},
         "d.results[0]: SalesOrder is required", ""),
    ],
)  # fmt: skip
def test_a_refusal_names_what_was_expected_and_what_was_found(
    connector: str, payload: Any, expected: str, found: str
) -> None:
    with pytest.raises(MappingError) as refused:
        CONNECTORS[connector].normalize(json.dumps(payload).encode(), CTX)
    assert expected in str(refused.value) and found in str(refused.value)


def test_a_sales_organization_is_not_a_region() -> None:
    """NL01 is declared (emea); 4010 is not: no region, the code kept, the gap counted."""
    from cxstream.observability.metrics import UNMAPPED_CODES

    before = UNMAPPED_CODES.labels(source="erp", field="sales_organization")._value.get()
    known, unknown = events_of("erp/sales_orders_collection.json")
    assert (known.region, known.attributes["sales_organization"]) == ("emea", "NL01")
    assert (unknown.region, unknown.attributes["sales_organization"]) == (None, "4010")
    assert UNMAPPED_CODES.labels(source="erp", field="sales_organization")._value.get() == before + 1


def test_zendesk_binary_rating_keeps_the_top_box_share() -> None:
    [bad] = events_of("helpdesk/satisfaction_rating.json")
    assert bad.survey is not None and bad.survey.score == 1 and bad.survey.metric is SurveyMetric.CSAT
    payload = json.loads((ROOT / "examples/raw/helpdesk/satisfaction_rating.json").read_text())
    payload["satisfaction_rating"]["score"] = "good"
    [good] = CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX)
    assert good.survey is not None and good.survey.score == 5


def test_zendesk_status_changes() -> None:
    payload = json.loads((ROOT / "examples/raw/helpdesk/status_solved.json").read_text())
    payload["event"] = {"current": "OPEN", "previous": "SOLVED"}
    [reopened] = CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX)
    assert reopened.event_type is EventType.TICKET_REOPENED
    payload["event"] = {"current": "PENDING", "previous": "OPEN"}
    assert CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX) == []


def test_zendesk_solved_ticket_carries_its_handle_time() -> None:
    payload = json.loads((ROOT / "examples/raw/helpdesk/status_solved.json").read_text())
    [solved] = CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX)
    assert solved.operation is not None and solved.operation.handle_seconds == 412
    for value, seconds in ((905, 905), ("61.6", 62), ("", None), (None, None)):
        payload["detail"]["custom_fields"][-1]["value"] = value
        [event] = CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX)
        assert event.operation is not None and event.operation.handle_seconds == seconds
    for bad in ("ten minutes", -5, True):
        payload["detail"]["custom_fields"][-1]["value"] = bad
        if bad is True:  # a checkbox is not a time: left out rather than read as 1 second
            [event] = CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX)
            assert event.operation is not None and event.operation.handle_seconds is None
            continue
        with pytest.raises(MappingError, match="handle time") as caught:
            CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX)
        assert caught.value.rule_id == "mapping.type"


def test_zendesk_agent_status_names_the_channel_and_where_the_agent_works() -> None:
    [event] = events_of("helpdesk/agent_state_changed.json")
    assert (event.agent_id, event.channel, event.team, event.region, event.site) == (
        "900004",
        "chat",
        "customer-service",
        "emea",
        "lis-1",
    )  # from the connector's agents option
    assert event.operation is not None and event.operation.status == "away"
    assert event.attributes == {"zendesk_channel": "messaging", "previous_status": "online"}
    assert event.event_time == datetime(2026, 11, 23, 9, 30, 58, 642000, tzinfo=UTC)
    payload = json.loads((ROOT / "examples/raw/helpdesk/agent_state_changed.json").read_text())
    payload["detail"]["agent_id"] = "12345"  # not in the agents option: the default team, no region
    payload["event"]["channel"] = "talk"
    [other] = CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX)
    assert (other.team, other.region, other.channel) == ("customer-service", None, "phone")
    del payload["event"]["new_state"]
    with pytest.raises(MappingError, match="new_state"):
        CONNECTORS["helpdesk"].normalize(json.dumps(payload).encode(), CTX)


def test_salesforce_change_event_fans_out_per_record_id() -> None:
    payload = json.loads((ROOT / "examples/raw/crm/case_change_event.json").read_text())
    payload["payload"]["ChangeEventHeader"]["recordIds"] = ["500A", "500B"]
    events = CONNECTORS["crm"].normalize(json.dumps(payload).encode(), CTX)
    assert [e.source_record_id for e in events] == ["500A", "500B"]
    assert len({e.event_id for e in events}) == 2


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b"\xff\xfe\x00", "decode.utf8"),
        (b'{"a": ', "decode.json"),
        (b'{"a": NaN}', "decode.json"),
        (b"[" * 10_000 + b"]" * 10_000, "decode.json"),
        (b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}', "decode.size"),
        (b'"just a string"', "mapping.shape"),
        (b'{"a": ' + b"9" * 5000 + b"}", "decode.json"),
    ],
)
def test_hostile_bytes_become_mapping_errors(raw: bytes, rule: str) -> None:
    for connector in CONNECTORS.values():
        with pytest.raises(MappingError) as caught:
            connector.normalize(raw, CTX)
        assert caught.value.rule_id == rule


def test_deep_nesting_inside_a_valid_field() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    raw = ('{"attributes": {"type": "Survey_Response__c"}, "Id": ' + deep + "}").encode()
    with pytest.raises(MappingError):
        CONNECTORS["crm"].normalize(raw, CTX)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    for connector in CONNECTORS.values():
        with contextlib.suppress(MappingError):
            connector.normalize(raw, CTX)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_arbitrary_json_never_raises_anything_else(value: Any) -> None:
    raw = json.dumps(value).encode()
    for connector in CONNECTORS.values():
        with contextlib.suppress(MappingError):
            connector.normalize(raw, CTX)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(EXPECTED)))
def test_samples_with_any_field_replaced_never_raise_anything_else(data: st.DataObject, name: str) -> None:
    """Real payload shapes with one field (at any depth) swapped for arbitrary JSON: the mapper must either
    map it or refuse it with a MappingError."""
    payload = json.loads((ROOT / "examples/raw" / name).read_text())
    target = payload
    while isinstance(target, dict) and target:
        key = data.draw(st.sampled_from(sorted(target)))
        if isinstance(target[key], dict) and data.draw(st.booleans()):
            target = target[key]
            continue
        target[key] = data.draw(json_values)
        break
    connector = CONNECTORS[name.split("/")[0]]
    try:
        events = connector.normalize(json.dumps(payload).encode(), CTX)
    except MappingError:
        return
    for event in events:
        EVENT_CODEC.encode(event.to_record())  # whatever maps must also fit the Avro schema


def test_canonical_refuses_fields_cxstream_owns() -> None:
    raw = json.dumps({"event_id": "x", "event_type": "COMMENT", "event_time": "2026-11-24T10:00:00Z", "ingest_time": 0})
    with pytest.raises(MappingError, match="set by cxstream"):
        CONNECTORS["canonical"].normalize(raw.encode(), CTX)


def test_canonical_validation_errors_name_the_field() -> None:
    raw = json.dumps({"event_id": "x", "event_type": "NOPE", "event_time": (NOW - timedelta(hours=1)).isoformat()})
    with pytest.raises(MappingError, match="canonical field event_type") as caught:
        CONNECTORS["canonical"].normalize(raw.encode(), CTX)
    assert caught.value.rule_id == "mapping.canonical"


HOSTILE_CHARACTERS = ["\x00", "\x1b", "\u202e", "\u2066", "\u200b", "\ufeff", "\u2028", "\x7f", "\x85"]
IDENTIFIER_FIELDS = ("event_id", "customer_id", "account_id", "region", "site", "team", "channel", "source_record_id")


def canonical_answer(**changes: Any) -> dict[str, Any]:
    record = json.loads((ROOT / "examples/raw/canonical/survey_response.json").read_text())
    record["event_time"] = (NOW - timedelta(minutes=5)).isoformat()
    record.update(changes)
    return record


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(IDENTIFIER_FIELDS), text=st.text(max_size=40), hostile=st.sampled_from(HOSTILE_CHARACTERS),
       where=st.integers(0, 40))  # fmt: skip
def test_identifiers_with_control_or_formatting_characters_are_refused_by_rule(
    field: str, text: str, hostile: str, where: int
) -> None:
    value = "id-" + text[:where] + hostile + text[where:]
    raw = json.dumps(canonical_answer(**{field: value})).encode()
    with pytest.raises(MappingError, match=f"{field} holds U\\+") as caught:
        CONNECTORS["canonical"].normalize(raw, CTX)
    assert caught.value.rule_id == "mapping.identifier"


PRINTABLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(IDENTIFIER_FIELDS), text=st.text(PRINTABLE, min_size=1, max_size=300))
def test_printable_identifiers_pass_unchanged_up_to_their_length_limit(field: str, text: str) -> None:
    text = f"x{text}x"
    raw = json.dumps(canonical_answer(**{field: text})).encode()
    limit = 512 if field == "event_id" else 256
    if len(text) > limit:
        with pytest.raises(MappingError, match="characters long") as caught:
            CONNECTORS["canonical"].normalize(raw, CTX)
        assert caught.value.rule_id == "mapping.identifier"
    else:
        [event] = CONNECTORS["canonical"].normalize(raw, CTX)
        assert getattr(event, field) == text


def test_a_100_kb_identifier_is_refused() -> None:
    for field in ("event_id", "customer_id"):
        raw = json.dumps(canonical_answer(**{field: "k" * 100_000})).encode()
        with pytest.raises(MappingError, match="100000 characters long") as caught:
            CONNECTORS["canonical"].normalize(raw, CTX)
        assert caught.value.rule_id == "mapping.identifier"


@given(score=st.one_of(st.booleans(), st.text(max_size=3), st.floats(allow_nan=False, allow_infinity=False), st.none(),
                       st.lists(st.integers(), max_size=2)))  # fmt: skip
def test_a_score_must_be_a_json_integer_not_true_or_a_string(score: object) -> None:
    survey = {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5}
    raw = json.dumps(canonical_answer(survey=survey)).encode()
    with pytest.raises(MappingError, match=r"canonical field survey\.score") as caught:
        CONNECTORS["canonical"].normalize(raw, CTX)
    assert caught.value.rule_id in ("mapping.type", "mapping.canonical")
    if isinstance(score, bool | str):
        assert caught.value.rule_id == "mapping.type"


def test_every_connector_is_held_to_the_identifier_rule_not_only_canonical() -> None:
    from cxstream.domain.ingest.events import CanonicalEvent

    class Kiosk(Connector):
        name = "kiosk"
        description = "a plug-in that passes ids through"

        def map(self, payload: Any, context: RawContext, raw: bytes) -> list[CanonicalEvent]:
            record = canonical_answer(**payload, source="kiosk", ingest_time=context.ingest_time)
            return [CanonicalEvent.model_validate({**record, "event_time": NOW - timedelta(minutes=1)})]

    kiosk = Kiosk()
    assert kiosk.normalize(json.dumps({"customer_id": "C-1"}).encode(), CTX)[0].customer_id == "C-1"
    with pytest.raises(MappingError, match=r"customer_id holds U\+202E") as caught:
        kiosk.normalize(json.dumps({"customer_id": "C-1\u202e9"}).encode(), CTX)
    assert caught.value.rule_id == "mapping.identifier"
    with pytest.raises(MappingError, match=r"operation\.ticket_id holds U\+0000"):
        kiosk.normalize(json.dumps({"operation": {"ticket_id": "T\x001"}}).encode(), CTX)

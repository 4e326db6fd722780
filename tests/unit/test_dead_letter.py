from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxstream.domain.base import StoredValueError
from cxstream.domain.ingest.dead_letter import DeadLetter, Reason, SourcePosition, Stage, dead_letter_record
from cxstream.serde.avro import CodecFactory
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
CODEC = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas")).for_topic("cx.dlq", "cxstream.DeadLetter")


@given(
    value=st.binary(max_size=2000),
    key=st.none() | st.binary(max_size=50),
    message=st.text(max_size=5000),
    stage=st.sampled_from(list(Stage)),
)
def test_original_bytes_survive_the_dead_letter_topic(
    value: bytes, key: bytes | None, message: str, stage: Stage
) -> None:
    record = dead_letter_record(
        source="helpdesk",
        stage=stage,
        reasons=[Reason("decode.json", message)],
        position=SourcePosition("cx.raw.helpdesk", 2, 18231, 1_795_773_765_000),
        value=value,
        key=key,
        headers={"content-type": b"application/json"},
        now_ms=1_795_773_765_210,
    )
    letter = DeadLetter.from_record(CODEC.decode(CODEC.encode(record)))
    assert letter.original_value == value
    assert letter.original_key == key
    assert letter.dead_letter_id == "cx.raw.helpdesk/2/18231"
    assert letter.position == SourcePosition("cx.raw.helpdesk", 2, 18231, 1_795_773_765_000)
    assert letter.first_seen_ms == 1_795_773_765_210
    assert letter.original_headers == {"content-type": b"application/json"}
    assert letter.stage == stage.value
    assert letter.reasons == (Reason("decode.json", message[:2000]),) and letter.has_rule("decode.json")


def test_a_record_that_is_not_a_dead_letter_is_named_as_such() -> None:
    record = dead_letter_record(
        source="x", stage=Stage.DECODE, reasons=[Reason("r", "m")], position=SourcePosition("t", 0, 0),
        value=b"", key=None, headers={}, now_ms=0,
    )  # fmt: skip
    with pytest.raises(StoredValueError, match="original_value: expected bytes"):
        DeadLetter.from_record({**record, "original_value": "text"})


def test_a_dead_letter_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="at least one reason"):
        dead_letter_record(
            source="x", stage=Stage.DECODE, reasons=[], position=SourcePosition("t", 0, 0),
            value=b"", key=None, headers={}, now_ms=0,
        )  # fmt: skip

from __future__ import annotations

import hashlib
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


LIMIT = 64 * 1024  # a dead-letter topic's max.message.bytes, small so that the examples stay small


@given(
    size=st.integers(min_value=0, max_value=3 * LIMIT),
    key_size=st.integers(min_value=0, max_value=LIMIT),
    header_size=st.integers(min_value=0, max_value=LIMIT),
    reasons=st.integers(min_value=1, max_value=300),
)
def test_a_dead_letter_always_fits_and_says_what_it_left_out(
    size: int, key_size: int, header_size: int, reasons: int
) -> None:
    value = bytes(i % 251 for i in range(size))
    key = b"k" * key_size
    headers = {"trace": b"h" * header_size} if header_size else {}
    position = SourcePosition("cx.raw.crm", 4, 99, 1_795_773_765_000)
    record = dead_letter_record(
        source="crm", stage=Stage.DECODE, reasons=[Reason(f"rule.{i}", "é" * 2500) for i in range(reasons)],
        position=position, value=value, key=key, headers=headers, now_ms=1_795_773_765_210, max_bytes=LIMIT,
    )  # fmt: skip
    encoded = CODEC.encode(record)
    assert len(encoded) + len(b"crm") + 100 <= LIMIT  # the Kafka record around it has room too
    letter = DeadLetter.from_record(CODEC.decode(encoded))
    assert len(letter.reasons) <= 102
    if letter.truncated:
        assert letter.original_size == size and value.startswith(letter.original_value)
        assert letter.original_sha256 == hashlib.sha256(value).hexdigest()
        [note] = [r for r in letter.reasons if r.rule_id == "dead_letter.truncated"]
        assert "cx.raw.crm/4/99" in note.message and str(size) in note.message
    else:
        assert (letter.original_value, letter.original_key, letter.original_headers) == (value, key, headers)
        assert not letter.has_rule("dead_letter.truncated")


def test_a_record_that_fits_is_kept_whole_and_one_that_does_not_is_cut_to_the_limit() -> None:
    def letter(size: int) -> DeadLetter:
        record = dead_letter_record(
            source="crm", stage=Stage.DECODE, reasons=[Reason("decode.size", "too large")],
            position=SourcePosition("cx.raw.crm", 0, 7), value=b"x" * size, key=b"order-1", headers={},
            now_ms=0, max_bytes=LIMIT,
        )  # fmt: skip
        return DeadLetter.from_record(CODEC.decode(CODEC.encode(record)))

    small = letter(LIMIT // 2)
    assert not small.truncated and len(small.original_value) == LIMIT // 2
    at_limit, over = letter(LIMIT), letter(10 * LIMIT)
    for cut in (at_limit, over):
        assert cut.truncated and LIMIT // 2 < len(cut.original_value) < LIMIT and cut.original_key == b"order-1"
    assert over.original_size == 10 * LIMIT

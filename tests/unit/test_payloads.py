from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxstream.connectors.base import MappingError
from cxstream.connectors.files import read_records
from cxstream.connectors.payloads import split_json_body

objects = st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8) | st.none(), max_size=4)
spaces = st.sampled_from(["", " ", "\n", "\t ", "\r\n  "])


@given(items=st.lists(objects, max_size=6), pads=st.lists(spaces, min_size=30, max_size=30), ascii_only=st.booleans())
def test_array_elements_keep_their_exact_bytes(
    items: list[dict[str, object]], pads: list[str], ascii_only: bool
) -> None:
    pieces = [json.dumps(item, ensure_ascii=ascii_only, indent=None if i % 2 else 1) for i, item in enumerate(items)]
    body = pads[0] + "[" + pads[1] + ("," + pads[2]).join(p + pads[3] for p in pieces) + "]" + pads[4]
    assert split_json_body(body.encode(), 10**6) == [p.encode() for p in pieces]


def test_one_object_is_the_whole_body() -> None:
    body = b'  {"a": 1}\n'
    assert split_json_body(body, 100) == [body]


@pytest.mark.parametrize(
    ("body", "message"), [(b"42", "object or an array"), (b"[1, {}]", "element 0"), (b"[", "not JSON")]
)
def test_refusals_say_why(body: bytes, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        split_json_body(body, 100)


def test_csv_rows_nest_dotted_columns_and_leave_blanks_out(tmp_path: Path) -> None:
    path = tmp_path / "forms.csv"
    path.write_text(
        "event_id,event_type,event_time,customer_id,agent_id,survey.metric,survey.score\n"
        "paper-1,SURVEY_RESPONSE,2026-11-20T10:00:00Z,C-1,,CSAT,4\n"
        "paper-2,SURVEY_RESPONSE,2026-11-20T11:00:00Z,,A-7,NPS,\n"
        "paper-3,SURVEY_RESPONSE,2026-11-20T12:00:00Z,C-3,,CES,four\n"
    )
    first, second, third = read_records(path)
    assert json.loads(first.value) == {
        "event_id": "paper-1", "event_type": "SURVEY_RESPONSE", "event_time": "2026-11-20T10:00:00Z",
        "customer_id": "C-1", "survey": {"metric": "CSAT", "score": 4},
    }  # fmt: skip
    assert json.loads(second.value)["survey"] == {"metric": "NPS"}
    assert json.loads(third.value)["survey"] == {"metric": "CES", "score": "four"}  # refused later as mapping.type
    assert (first.line, second.line) == (2, 3)


def test_jsonl_lines_are_sent_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"b": 1,  "a": 2}\n\n{not json}\r\n')
    assert [(r.line, r.value) for r in read_records(path)] == [(1, b'{"b": 1,  "a": 2}'), (3, b"{not json}")]

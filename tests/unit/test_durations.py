from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxstream.domain.durations import format_duration_ms, parse_duration_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("30s", 30_000),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("7d", 604_800_000),
        ("2w", 1_209_600_000),
    ],
)
def test_parse(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "7", "7 days", "1h1h", "-5m", "1.5h", "m"])
def test_refuse(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|repeats"):
        parse_duration_ms(text)


@given(st.integers(min_value=0, max_value=10**13))
def test_format_round_trips(ms: int) -> None:
    assert parse_duration_ms(format_duration_ms(ms)) == ms

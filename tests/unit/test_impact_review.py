"""The review pack: a scope's metrics against the period before with n and intervals, what moved beyond its
intervals, the audits of the scope, rendered as one self-contained HTML page (no script, charts inline)."""

from __future__ import annotations

import re

import pytest

from cxstream.domain.impact.audits import Audit, Audits
from cxstream.domain.impact.review import build_review, parse_period
from cxstream.web.review_html import render
from tests.unit.test_impact_audits import METRICS, START, history


def test_periods_are_months_or_day_spans() -> None:
    start, end = parse_period("2026-11")
    assert (end - start) == 30 * 86_400_000
    start, end = parse_period("2026-12-01..2026-12-31")
    assert (end - start) == 31 * 86_400_000
    with pytest.raises(ValueError, match="a month"):
        parse_period("last month")


def test_a_review_shows_what_moved_with_its_n_and_the_scope_audits() -> None:
    index = history([0.90, 0.89, 0.72, 0.90])  # 28-day periods from 2026-03-02 at ams-1
    audits = Audits(
        audits=[
            Audit.model_validate(
                {
                    "id": "delivery-standard",
                    "standard": "Late-delivery handling v2",
                    "owner": "logistics",
                    "metric": "csat.delivery",
                    "scopes": [{"site": "ams-1"}],
                    "starts": START,
                    "cadence": "28d",
                }
            )
        ]
    )
    start, end = parse_period("2026-04-27..2026-05-24")  # the third period, against the second
    pack = build_review({"region": "emea"}, start, end, METRICS, index, audits=audits, regions={"ams-1": "emea"},
                        now_ms=end + 10 * 86_400_000)  # fmt: skip
    [line] = [m for m in pack.metrics if m.metric == "csat.delivery"]
    assert line.now.n == 28 * 60 and line.before.n == 28 * 60
    assert line.change is not None and -20 < line.change < -15
    assert [m.metric for m in pack.moved_most] == ["csat.delivery"]
    assert [r.verdict for r in pack.audits] == ["drift"]  # the audit periods that end inside the review
    html = render(pack, {"ams-1": "Amsterdam fulfilment centre"})
    assert "<script" not in html and html.count("<svg") == 1 and "CX review: region emea" in html
    assert "n=1,680" in html and "the intervals do not overlap" in html and 'class="drift"' in html
    assert re.search(r"Late-delivery handling v2", html)

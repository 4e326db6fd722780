"""The chart foundation: SVG that parses, with its levels, bands, labels and sample sizes where people look."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cxstream.web import charts

NS = {"s": "http://www.w3.org/2000/svg"}
T0 = 1_796_000_000_000


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_a_trend_draws_its_levels_band_and_every_point_with_n() -> None:
    points = tuple(charts.Point(T0 + i * 300_000, 80 - i * 3, 74 - i * 3, 86 - i * 3, 100 + i) for i in range(12))
    line = charts.Series("EMEA", points)
    levels = [charts.Level("warning 70%", 70, "warning"), charts.Level("critical 55%", 55, "critical")]
    root = parse(charts.trend("Delivery CSAT · last hour · EMEA", "%", [line], levels, domain=(0, 100)))
    assert root.get("aria-label") == "Delivery CSAT · last hour · EMEA"
    kinds = {e.get("class") for e in root.iter() if (e.get("class") or "").startswith("level ")}
    assert kinds == {"level level-warning", "level level-critical"}
    assert "warning 70%" in texts(root) and "critical 55%" in texts(root)
    assert root.find(".//s:polygon[@class='band']", NS) is not None
    titles = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any("(n=111, interval 41% to 53%)" in t for t in titles)  # the last point: value, n and interval
    assert {"0%", "25%", "50%", "75%", "100%"} <= set(texts(root))  # a labelled axis with the unit


def test_an_insufficient_point_is_a_gap_and_levels_outside_the_axis_are_left_out() -> None:
    points = (
        charts.Point(T0, 5.0, 4.8, 5.2, 40),
        charts.Point(T0 + 1, None, n=3),
        charts.Point(T0 + 2, 5.1, 4.9, 5.3, 41),
    )
    far = [charts.Level("x", 2.0, "critical")]
    root = parse(charts.trend("Support effort", "", [charts.Series("AMER", points)], far, domain=(4, 6)))
    path = root.find(".//s:path", NS)
    assert path is not None and path.get("d", "").count("M") == 2  # the line breaks where n was too small
    assert root.find(".//s:line[@class='level level-critical']", NS) is None


def test_shared_axes_hold_every_series_interval_and_level() -> None:
    a = charts.Series("A", (charts.Point(T0, 50, 40, 60),))
    b = charts.Series("B", (charts.Point(T0, 90, 85, 95),))
    lo, hi = charts.domain_of([a, b], [charts.Level("critical", 30, "critical")], floor=0, ceiling=100)
    assert lo <= 30 and hi >= 95 and lo >= 0 and hi <= 100


def test_bars_say_count_share_and_n_and_counts_name_each_cell() -> None:
    root = parse(charts.bars("Top drivers", [charts.Bar("Waiting time", 30, 120), charts.Bar("Delivery", 45, 120)]))
    labels = texts(root)
    assert labels.index("Delivery") < labels.index("Waiting time")  # longest first
    assert "45 (38% of n=120)" in labels and "30 (25% of n=120)" in labels
    grid = parse(charts.counts("Open breaches", [("Delivery CSAT · EMEA", {"CRITICAL": 2})], ["CRITICAL", "WARNING"]))
    assert grid.find(".//s:rect[@class='count count-critical']", NS) is not None
    assert any(
        "Delivery CSAT · EMEA: 2 CRITICAL" in "".join(t.itertext())
        for t in grid.iter("{http://www.w3.org/2000/svg}title")
    )


def test_text_is_escaped() -> None:
    root = parse(charts.bars("<script>", [charts.Bar("a & b", 1, 2)]))
    assert "<script>" in texts(root) and "a & b" in texts(root)

"""Plateaus: the weekly trend with its interval, change points by PELT with the stated penalty (a planted shift
recovered, none claimed on a flat series), and the verdict: a plateau when flat despite changes rolled out."""

from __future__ import annotations

import random
from pathlib import Path

from cxstream.config.topology import load_topology
from cxstream.domain.history.facts import FactKey, HistoryFact
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.impact.plateaus import WEEK_MS, ChangeInWindow, PlateauSpec, plateau
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.stats import Sufficient
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
METRICS = load_topology(ROOT / "topologies", SchemaCatalog.from_dir(ROOT / "schemas").names()).metrics
END = 600 * DAY_MS
SPEC = PlateauSpec(weeks=16, band=0.25, min_n=30)


def history(share_of_week: list[float], per_day: int = 120, seed: int = 6) -> HistoryIndex:
    rng = random.Random(seed)
    definition = METRICS.definition("csat.delivery")
    index = HistoryIndex()
    start = END - len(share_of_week) * WEEK_MS
    for w, share in enumerate(share_of_week):
        for d in range(7):
            stats = Sufficient()
            for _ in range(per_day):
                stats.add_score(5 if rng.random() < share else 2)
            scope = tuple("emea" if dim == "region" else "-" for dim in definition.dimensions)
            day = start + w * WEEK_MS + d * DAY_MS
            fact = HistoryFact(FactKey("csat.delivery", DAY_MS, day, "p0", scope), definition.dimensions, stats)
            index.apply(fact.key.encode(), fact)
    return index


def changes(*weeks_ago: int) -> list[ChangeInWindow]:
    return [ChangeInWindow(f"rem-{w}", f"change {w}", END - w * WEEK_MS, 3.0, "VERIFIED", 1.0) for w in weeks_ago]


def test_a_planted_shift_is_found_where_it_was_planted() -> None:
    shares = [0.70] * 8 + [0.80] * 8
    found = plateau(history(shares), METRICS, "csat.delivery", {"region": "emea"}, END, SPEC)
    assert found.breakpoints == (END - 8 * WEEK_MS,), found.breakpoints
    assert found.penalty is not None and found.verdict == "moving" and found.slope is not None and found.slope > 0


def test_a_flat_series_has_no_change_point_and_a_plateau_despite_changes() -> None:
    flat = history([0.78] * 16)
    found = plateau(flat, METRICS, "csat.delivery", {"region": "emea"}, END, SPEC, changes(10, 6, 2, 30))
    assert found.breakpoints == () and found.verdict == "plateau", found.summary
    assert found.low is not None and found.high is not None and -0.25 <= found.low < found.high <= 0.25
    assert len(found.changes) == 3  # the one 30 weeks ago is outside the window
    assert found.summary.startswith("flat for 16 weeks (slope ")
    assert "after 3 change(s) costing 9 person-weeks, 3 verified" in found.summary
    assert plateau(flat, METRICS, "csat.delivery", {"region": "emea"}, END, SPEC).verdict == "flat"


def test_no_change_point_is_claimed_on_noise_in_most_runs() -> None:
    claimed = sum(bool(plateau(history([0.78] * 16, seed=s), METRICS, "csat.delivery", {"region": "emea"}, END,
                               SPEC).breakpoints) for s in range(60))  # fmt: skip
    placed = sum(plateau(history([0.70] * 8 + [0.80] * 8, seed=s), METRICS, "csat.delivery", {"region": "emea"},
                         END, SPEC).breakpoints == (END - 8 * WEEK_MS,) for s in range(60))  # fmt: skip
    print(f"change points: claimed on {claimed} of 60 flat series, placed right on {placed} of 60 shifted ones")
    assert claimed <= 3 and placed >= 54


def test_too_few_weeks_is_insufficient() -> None:
    found = plateau(history([0.78] * 4), METRICS, "csat.delivery", {"region": "emea"}, END, SPEC)
    assert found.verdict == "insufficient" and "fewer than 6 weeks" in found.summary

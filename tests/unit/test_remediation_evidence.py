"""Driver Paretos with their tests, the pre/post verdict against published reference values, and the evidence the
fault trees and verdicts read from the metric cells and history."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cxstream.config.topology import load_topology
from cxstream.domain.history.facts import FactKey, HistoryFact
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.cells import Cell, CellKey, CellValue
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.metrics.windows import stats_between
from cxstream.domain.remediation.backlog import Backlog
from cxstream.domain.remediation.evidence import MetricReader, failure_rate, tree_view
from cxstream.domain.remediation.pareto import pareto
from cxstream.domain.remediation.spec import VerdictSpec
from cxstream.domain.remediation.verdict import PrePost, newcombe, overall, sample_size, two_proportion_p
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = load_topology(ROOT / "topologies", SchemaCatalog.from_dir(ROOT / "schemas").names())
METRICS = TOPOLOGY.metrics
H = 3_600_000


# --- Pareto ----------------------------------------------------------------------------------------------------


def test_pareto_counts_shares_and_cumulative() -> None:
    result = pareto({"delivery": 60, "billing": 25, "staff_attitude": 15}, {})
    assert [r.key for r in result.rows] == ["delivery", "billing", "staff_attitude"]
    top = result.rows[0]
    assert (top.count, top.share, top.cumulative) == (60, 0.6, 0.6)
    assert result.rows[1].cumulative == pytest.approx(0.85)
    assert top.low == pytest.approx(0.5020, abs=1e-4) and top.high == pytest.approx(0.6906, abs=1e-4)  # Wilson
    assert top.p_value is None and result.moved_most() is None  # nothing to compare with


def test_a_driver_that_grew_is_named_and_noise_is_not() -> None:
    result = pareto(
        {"delivery": 180, "billing": 40, "staff_attitude": 30}, {"delivery": 60, "billing": 45, "staff_attitude": 35}
    )
    moved = result.moved_most()
    assert moved is not None and moved.key == "delivery" and moved.moved == "up"
    assert moved.p_value is not None and moved.q_value is not None and moved.q_value >= moved.p_value
    assert result.mix_p_value is not None and result.mix_p_value < 0.001


def test_false_alarms_under_no_change_stay_within_the_rate() -> None:
    """Both periods drawn from the same mix: drivers flagged as moved in at most about fdr of the runs."""
    rng = random.Random(7)
    mix = {"delivery": 0.4, "billing": 0.25, "staff_attitude": 0.15, "contact_effort": 0.12, "safety": 0.08}
    runs, flagged = 400, 0
    for _ in range(runs):
        draw = lambda n: {k: v for k, v in _multinomial(rng, n, mix).items()}  # noqa: E731
        result = pareto(draw(300), draw(300), fdr=0.05)
        flagged += any(r.moved for r in result.rows)
    assert flagged / runs <= 0.05 + 0.02  # Benjamini-Hochberg controls the family's error at about 5 %


def _multinomial(rng: random.Random, n: int, mix: dict[str, float]) -> dict[str, int]:
    out = dict.fromkeys(mix, 0)
    for key in rng.choices(list(mix), weights=list(mix.values()), k=n):
        out[key] += 1
    return out


# --- the verdict -----------------------------------------------------------------------------------------------


def test_newcombe_reference_interval() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, Table II: 56/70 against 48/80, method 10: 0.0524 to 0.3339
    d, low, high = newcombe(48, 80, 56, 70, 0.95)
    assert round(d, 4) == 0.2 and round(low, 4) == 0.0524 and round(high, 4) == 0.3339


@pytest.mark.parametrize(("p", "effect", "expected"), [(0.80, 0.05, 902), (0.50, 0.05, 1565), (0.10, 0.02, 3835)])
def test_sample_size_matches_normal_power_with_cohens_h(p: float, effect: float, expected: int) -> None:
    # statsmodels NormalIndPower().solve_power(proportion_effectsize(p + effect, p), alpha=0.05, power=0.8)
    assert round(sample_size(p, effect, True, 0.05, 0.8)) == expected


def test_two_proportion_test() -> None:
    # 56/70 against 48/80: the pooled z-test is the chi-square test without continuity correction,
    # R's prop.test(c(56, 48), c(70, 80), correct = FALSE): X-squared = 7.0234, p-value = 0.008045
    from scipy.stats import chi2_contingency

    assert round(two_proportion_p(48, 80, 56, 70), 6) == 0.008045
    assert two_proportion_p(48, 80, 56, 70) == pytest.approx(
        chi2_contingency([[56, 14], [48, 32]], correction=False).pvalue, rel=1e-9
    )


def _csat(hits: int, n: int) -> Sufficient:
    stats = Sufficient()
    for _ in range(hits):
        stats.add_score(5)
    for _ in range(n - hits):
        stats.add_score(2)
    return stats


def test_pre_post_verdicts() -> None:
    definition = METRICS.definition("csat.delivery")
    spec = VerdictSpec(min_effect=0.1)
    method = PrePost()
    early = method.compare(definition, _csat(60, 100), _csat(35, 50), spec)
    assert early.decision == "not yet" and "more answers" in early.summary and early.needed is not None
    better = method.compare(definition, _csat(300, 500), _csat(360, 480), spec)
    assert better.decision == "verified" and better.difference == pytest.approx(15.0)
    assert better.low is not None and better.low > 0 and "n 500 / 480" in better.summary
    assert better.summary.startswith("verified: Delivery CSAT +15.0 points, 95 % CI [")
    same = method.compare(definition, _csat(300, 500), _csat(290, 480), spec)
    assert same.decision == "failed" and "no clear improvement" in same.summary
    assert overall(["verified", "verified"]) == "verified" and overall(["verified", "not yet"]) == "not yet"
    assert overall(["verified", "failed"]) == "failed"


def test_reopen_rate_improves_when_it_falls() -> None:
    definition = METRICS.definition("reopen_rate")
    before, after = Sufficient(n=1000, hits=200), Sufficient(n=1000, hits=120)
    result = PrePost().compare(definition, before, after, VerdictSpec())
    assert result.decision == "verified" and result.difference == pytest.approx(-8.0)


# --- evidence --------------------------------------------------------------------------------------------------

NOW = 400 * DAY_MS + 12 * H


def _delay_cell(bucket: int, grain: int, site: str, n: int, misses: int, partition: int = 0) -> Cell:
    definition = METRICS.definition("delivery_delay")
    scope = tuple(site if d == "site" else "emea" if d == "region" else "~" for d in definition.dimensions)
    stats = Sufficient(n=n, hits=n - misses)
    return Cell(CellKey("delivery_delay", grain, bucket, partition, scope), CellValue(stats, offset=1))


def test_stats_between_takes_whole_buckets_and_absorbed_ones_once() -> None:
    fine, coarse = 300_000, H
    start = NOW - 2 * H
    cells = [
        _delay_cell(start, coarse, "ams-1", 100, 10),  # an hour already folded
        _delay_cell(start + H, fine, "ams-1", 20, 5),  # five minutes after it
        _delay_cell(start + H, fine, "chi-1", 50, 1),  # another site
    ]
    folded = _delay_cell(start, fine, "ams-1", 30, 3)  # folded into the hour: counted once
    hour = cells[0]
    cells[0] = Cell(hour.key, CellValue(hour.value.stats, -1, {start: 1}))
    stats, _ = stats_between(METRICS, [*cells, folded], "delivery_delay", start, NOW, {"site": "ams-1"})
    assert (stats.n, stats.n - stats.hits) == (120, 15)


def test_reader_joins_history_days_and_live_cells() -> None:
    index = HistoryIndex()
    definition = METRICS.definition("delivery_delay")
    old_day = (NOW // DAY_MS - 10) * DAY_MS
    scope = tuple("ams-1" if d == "site" else "emea" if d == "region" else "~" for d in definition.dimensions)
    fact = HistoryFact(FactKey("delivery_delay", DAY_MS, old_day, "p0", scope), definition.dimensions,
                       Sufficient(n=400, hits=360))  # fmt: skip
    index.apply(fact.key.encode(), fact)
    live = [_delay_cell(NOW - 3 * H, H, "ams-1", 100, 50)]
    reader = MetricReader(METRICS, index, live, NOW)
    observed = reader.read("delivery_delay", old_day, NOW, {"site": "ams-1"})
    assert (observed.stats.n, observed.stats.hits) == (500, 410)
    assert failure_rate(definition, observed.stats, "miss").hits == 90
    only_live = reader.read("delivery_delay", NOW - DAY_MS, NOW, {"site": "ams-1"})
    assert only_live.stats.n == 100


def test_the_shipped_tree_on_observed_evidence() -> None:
    assert TOPOLOGY.remediation is not None
    tree = TOPOLOGY.remediation.tree("late-delivery-emea")
    assert tree is not None
    empty = tree_view(tree, METRICS, MetricReader(METRICS, HistoryIndex(), [], NOW), NOW - DAY_MS, NOW,
                      confidence=0.95, min_n=30)  # fmt: skip
    nothing = next(e for e in empty.events if e.name == "hub_late")
    assert nothing.source == "insufficient" and empty.top is None  # no deliveries seen and no estimate: no number
    live = [_delay_cell(NOW - 3 * H, H, "ams-1", 400, 360)]  # the hub is late 90 % of the time
    reader = MetricReader(METRICS, HistoryIndex(), live, NOW)
    view = tree_view(tree, METRICS, reader, NOW - DAY_MS, NOW, confidence=0.95, min_n=30)
    hub = next(e for e in view.events if e.name == "hub_late")
    assert hub.source == "observed" and hub.probability == pytest.approx(0.9) and (hub.hits, hub.n) == (360, 400)
    support = next(e for e in view.events if e.name == "support_slow")
    assert support.source == "declared" and support.n == 0  # too few first replies observed: the estimate stands in
    assert view.top is not None
    live.append(_first_response_cell(NOW - 3 * H, 200, 20))
    view = tree_view(tree, METRICS, MetricReader(METRICS, HistoryIndex(), live, NOW), NOW - DAY_MS, NOW,
                     confidence=0.95, min_n=30)  # fmt: skip
    assert view.top is not None and view.top_low is not None and view.top_high is not None
    assert view.top_low <= view.top.best <= view.top_high
    # the late hub with nobody telling the customer explains most of it
    assert set(view.cut_sets[0].events) == {"hub_late", "no_notice"}


def _first_response_cell(bucket: int, n: int, misses: int) -> Cell:
    definition = METRICS.definition("first_response")
    scope = tuple("emea" if d == "region" else "~" for d in definition.dimensions)
    return Cell(CellKey("first_response", H, bucket, 0, scope), CellValue(Sufficient(n=n, hits=n - misses), 1))


# --- what the workers compare, and how their partial sums add up --------------------------------------------


def _rolled_out_backlog(rollout_ms: int) -> Backlog:
    from cxstream.domain.remediation.items import Action, Change, ItemAction

    assert TOPOLOGY.remediation is not None
    backlog = Backlog(TOPOLOGY.remediation)
    change = Change("second carrier", ("logistics",), target_metrics=("csat.delivery", "contacts"))
    steps = [
        (ItemAction.PROPOSE, {"title": "late", "labels": {"region": "emea"}}),
        (ItemAction.SET_CHANGE, {"change": change}),
        (ItemAction.APPROVE, {"department": "logistics"}),
        (ItemAction.ROLL_OUT, {"scope": {"region": "emea", "queue": "x"}}),
    ]
    for n, (kind, extra) in enumerate(steps):
        at = rollout_ms if kind is ItemAction.ROLL_OUT else rollout_ms - 1000 * (10 - n)
        backlog.record(Action(f"a{n}", "rem-1", kind, "ann", at, role="admin", **extra))  # type: ignore[arg-type]
    return backlog


def test_wanted_compares_judgeable_metrics_in_the_rolled_out_scope() -> None:
    from cxstream.domain.remediation.checks import wanted

    rollout = NOW - 10 * 60_000 - 7_000
    found = wanted(_rolled_out_backlog(rollout), METRICS, NOW)
    assert [(w.metric, w.side) for w in found] == [("csat.delivery", "before"), ("csat.delivery", "after")]
    before, after = found
    assert dict(before.where) == {"region": "emea"}  # a scope dimension the metric does not keep is dropped
    assert (before.start_ms, before.end_ms) == (rollout - 7 * DAY_MS, rollout)
    assert after.start_ms == rollout and after.end_ms == NOW - NOW % METRICS.finest_ms  # cut to whole buckets


def test_a_comparison_waits_for_every_partition_then_adds_the_history() -> None:
    from cxstream.domain.remediation.checks import EvidenceBook, Partial, check_item, wanted
    from cxstream.domain.remediation.verdict import PrePost

    rollout = NOW - 2 * DAY_MS
    backlog = _rolled_out_backlog(rollout)
    wants = wanted(backlog, METRICS, NOW)
    book = EvidenceBook()
    spec = VerdictSpec(min_effect=0.2)
    split = (NOW // DAY_MS - 6) * DAY_MS
    before, after = wants
    book.add(Partial(before.key, 0, 2, split, before.end_ms, _csat(20, 100)))
    book.add(Partial(after.key, 0, 2, split, after.end_ms, _csat(90, 100)))
    waiting = check_item("rem-1", wants, METRICS, None, book, spec, PrePost())
    assert waiting.waiting == 1 and waiting.decision == "not yet"  # partition 1 has not reported
    book.add(Partial(before.key, 1, 2, split, before.end_ms, _csat(10, 50)))
    book.add(Partial(after.key, 1, 2, split, after.end_ms, _csat(45, 50)))
    index = HistoryIndex()  # a closed day of the before period, older than the live cells reach
    definition = METRICS.definition("csat.delivery")
    scope = tuple("emea" if d == "region" else "~" for d in definition.dimensions)
    old_day = (NOW // DAY_MS - 8) * DAY_MS
    fact = HistoryFact(FactKey("csat.delivery", DAY_MS, old_day, "p0", scope), definition.dimensions, _csat(30, 150))
    index.apply(fact.key.encode(), fact)
    done = check_item("rem-1", wants, METRICS, index, book, spec, PrePost())
    [(where, comparison)] = done.comparisons
    assert dict(where) == {"region": "emea"} and done.decision == "verified"
    assert (comparison.n_before, comparison.n_after) == (300, 150)  # 100 + 50 live and 150 from the history
    # a newer round replaces the older one once complete; an incomplete newer one does not
    book.add(Partial(after.key, 0, 2, split, after.end_ms + 60_000, _csat(0, 10)))
    assert check_item("rem-1", wants, METRICS, index, book, spec, PrePost()).comparisons[0][1].n_after == 150

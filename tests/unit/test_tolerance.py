"""Customer tolerance: bands on answers, the curve and tolerance point on seeded data (a planted breakpoint is
recovered within its interval, no breakpoint claims none), the demo's year through backfill, and threshold
proposals against a hand-computed case and as a diff that loads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache

import numpy as np
import pytest
import yaml

from cxstream.domain.alerting.records import Direction
from cxstream.domain.alerting.thresholds import ThresholdRule
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation, Survey, SurveyMetric
from cxstream.domain.ingest.memory import TicketCreation
from cxstream.domain.ingest.tickets import lived, with_life
from cxstream.domain.metrics.spec import Indicator
from cxstream.domain.tolerance.bands import Bands, band_label, bands_of, operational_value, parse_band
from cxstream.domain.tolerance.estimate import BandCount, estimate, sentence
from cxstream.domain.tolerance.proposals import DailyValue, propose_scope, rounded

EDGES = (-24.0, 0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 30.0, 36.0, 48.0, 72.0)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
# planted: 85 % satisfied up to 12 h late, then 1.2 points less per hour: 5 points below the plateau at 16.17 h
PLATEAU, KNEE, FALL = 0.85, 12.0, 0.012
TRUE_POINT = KNEE + 0.05 / FALL


def simulate(rng: np.random.Generator, planted: bool, n: int = 6000) -> list[BandCount]:
    late = rng.exponential(8, n) - 4
    p = np.where(late <= KNEE, PLATEAU, PLATEAU - FALL * (late - KNEE)) if planted else np.full(n, 0.8)
    satisfied = rng.random(n) < np.clip(p, 0.05, 1)
    out = []
    for band in bands_of(EDGES):
        inside = (late >= (band.low if band.low is not None else -np.inf)) & (
            late < (band.high if band.high is not None else np.inf))  # fmt: skip
        out.append(BandCount(band.label, band.middle, int(satisfied[inside].sum()), int(inside.sum())))
    return out


def test_bands_read_back_as_their_bounds() -> None:
    assert [band_label(v, EDGES) for v in (-30, -24, -0.5, 0, 15.9, 72, 500)] == [
        "<-24", "-24..0", "-24..0", "0..4", "12..16", ">=72", ">=72"]  # fmt: skip
    band = parse_band("12..16", EDGES)
    assert band is not None and (band.low, band.high, band.middle) == (12, 16, 14)
    assert parse_band("<-24", EDGES).middle == -36 and parse_band(">=72", EDGES).middle == 84  # type: ignore[union-attr]
    assert parse_band("3..5", EDGES) is None


def _answer(**operation: datetime) -> CanonicalEvent:
    return CanonicalEvent(
        event_id="a", event_type=EventType.SURVEY_RESPONSE, event_time=NOW, ingest_time=NOW, source="crm",
        source_record_id="a", survey=Survey.on_standard_scale(SurveyMetric.CSAT, 4),
        operation=Operation(ticket_id="T-1", **operation),
    )  # fmt: skip


def test_an_answer_is_tagged_with_the_bands_of_what_it_knows() -> None:
    late = _answer(promised_at=NOW - timedelta(hours=30), actual_at=NOW - timedelta(hours=13))
    assert operational_value(Indicator.DELIVERY_DELAY, late) == 17
    bands = Bands({Indicator.DELIVERY_DELAY: EDGES, Indicator.FIRST_RESPONSE: (0, 15, 30, 60),
                   Indicator.RESOLUTION: (0, 4, 24)})  # fmt: skip
    assert bands.tags(late) == {"delay_band": "16..20"}
    # a rating of a ticket normalization saw opened, first answered after 45 minutes and solved after 6 hours
    opened = TicketCreation(1_000_000, 0)
    replied = lived(CanonicalEvent(**{**_answer().model_dump(), "event_type": EventType.TICKET_FIRST_REPLY,
                                      "operation": Operation(ticket_id="T-1", actual_at=datetime.fromtimestamp(
                                          (1_000_000 + 45 * 60_000) / 1000, UTC))}), opened)  # fmt: skip
    assert replied is not None and replied.first_reply_ms == 1_000_000 + 45 * 60_000
    solved = lived(CanonicalEvent(**{**_answer().model_dump(), "event_type": EventType.TICKET_SOLVED,
                                     "operation": Operation(ticket_id="T-1", actual_at=datetime.fromtimestamp(
                                         (1_000_000 + 6 * 3_600_000) / 1000, UTC))}), replied)  # fmt: skip
    assert solved is not None and TicketCreation.from_json(solved.to_json()) == solved
    rating = with_life(_answer(), solved)
    assert rating.attributes == {"first_reply_minutes": "45.0", "resolution_hours": "6.00"}
    assert bands.tags(rating) == {"first_response_band": "30..60", "resolution_band": "4..24"}
    assert bands.tags(rating.model_copy(update={"event_type": EventType.COMPLAINT})) == {}  # answers only


def test_a_planted_breakpoint_is_recovered_within_its_interval() -> None:
    rng = np.random.default_rng(7)
    found = estimate(simulate(rng, True), 5, seed=1)
    assert found.claimed and found.point is not None and found.point_low is not None and found.point_high is not None
    assert found.point_low <= TRUE_POINT <= found.point_high
    assert found.p_value is not None and found.p_value < 0.01
    assert found.slope is not None and found.slope_low is not None and found.slope_high is not None
    assert found.slope_high < 0  # satisfaction falls beyond the point
    text = sentence(found, "Customers in EMEA", "deliveries", "h")
    assert text.startswith("Customers in EMEA tolerate deliveries up to ") and "(n=6,000)" in text
    assert all(b.fitted_low is not None and b.fitted_low <= b.fitted <= (b.fitted_high or 1) for b in found.bands)


def test_the_interval_covers_the_planted_point_and_flat_data_claims_none() -> None:
    rng = np.random.default_rng(11)
    runs = 60
    covered = claimed = 0
    for run in range(runs):
        found = estimate(simulate(rng, True), 5, seed=run, resamples=200)
        claimed += found.claimed
        if found.point_low is not None and found.point_low <= TRUE_POINT <= (found.point_high or np.inf):
            covered += 1
    false_claims = sum(estimate(simulate(rng, False), 5, seed=run, resamples=200).claimed for run in range(runs))
    print(f"\nplanted: claimed {claimed}/{runs}, 95 % interval covered the point {covered}/{runs}; "
          f"flat: claimed {false_claims}/{runs}")  # fmt: skip
    assert claimed >= 55
    assert covered >= 50  # measured 54 to 60 of 60 over seeds (isotonic fits lean up at the plateau)
    assert false_claims <= 3 + 3  # 5 % of 60 and binomial slack


def test_too_few_answers_claim_nothing() -> None:
    found = estimate([BandCount("0..4", 2, 10, 12), BandCount("4..8", 6, 8, 10)], 5)
    assert not found.claimed and "at least 200" in found.reason and found.point is None


def test_a_share_where_lower_is_better_is_fitted_rising() -> None:
    rng = np.random.default_rng(3)
    good = simulate(rng, True)
    flipped = [BandCount(c.label, c.middle, c.n - c.hits, c.n) for c in good]  # dissatisfied share
    found = estimate(flipped, 5, higher_is_better=False, seed=1)
    assert found.claimed and found.plateau is not None and found.plateau < 0.25
    assert found.slope is not None and found.slope > 0


RULE = ThresholdRule.model_validate({"id": "delivery.delay.high", "metric": "delivery_delay", "window": "1h",
                                     "direction": "ABOVE", "warning": 12, "critical": 24, "clear": 6})  # fmt: skip


def test_levels_from_history_match_a_hand_computed_case() -> None:
    # days valued 1..100 (n 50 each) starting on a Monday: numpy's linear quantiles by hand:
    # q90 = 1 + 0.90 * 99 = 90.1 -> 90; q99 = 1 + 0.99 * 99 = 99.01 -> 99; median 50.5 -> 51 (halves away from 0)
    first = date(2026, 6, 1)
    values = [DailyValue(first + timedelta(days=i), float(i + 1), 50) for i in range(100)]
    found = propose_scope(RULE, values, {}, None)
    assert (found.warning, found.critical, found.clear) == (90, 99, 51)
    assert found.days == 100 and found.n == 5000 and found.basis == "history"
    assert found.weekday_medians[0] == 50  # Mondays: 1, 8, ..., 99: median 50
    june = next(m for m in found.months if m.month == "2026-06")
    # June holds days 1..30: none reaches 90 or the current warning of 12 from day 12 on
    assert (june.days, june.current_warning, june.current_critical, june.warning) == (30, 19, 7, 0)
    assert rounded(-2.45) == -2.5 and rounded(9.95) == 10.0 and rounded(12.5) == 13


def test_customer_tolerance_caps_the_levels_and_sets_the_sla() -> None:
    from cxstream.domain.tolerance.curves import ToleranceCurve

    first = date(2026, 6, 1)
    values = [DailyValue(first + timedelta(days=i), float(i % 40), 50) for i in range(80)]
    found = estimate(simulate(np.random.default_rng(5), True), 5, seed=2)
    assert found.point is not None and found.point_low is not None
    curve = ToleranceCurve("delivery-delay.csat", {}, "delivery_delay", "Delivery delay", "h", "csat.delivery.by-delay",
                           "CSAT", 0, 1, found, "summary")  # fmt: skip
    proposal = propose_scope(RULE, values, {}, curve)
    assert proposal.basis == "history and customer tolerance" and proposal.tolerance == "summary"
    assert proposal.critical == rounded(min(float(np.quantile([v.value for v in values], 0.99)), found.point))
    assert proposal.warning is not None and proposal.warning <= rounded(found.point_low)
    assert proposal.sla == float(int(found.point))
    below = ThresholdRule.model_validate({**RULE.model_dump(), "direction": Direction.BELOW, "warning": 70,
                                          "critical": 55, "clear": 75})  # fmt: skip
    mirrored = propose_scope(below, values, {}, curve)
    assert mirrored.basis == "history" and mirrored.warning is not None and mirrored.critical is not None
    assert mirrored.critical < mirrored.warning < (mirrored.clear or 0)  # tolerance caps ABOVE rules only


@cache
def demo_year() -> tuple[object, int]:
    from cxstream.app import load_context
    from cxstream.connectors.base import RawContext
    from cxstream.connectors.pipeline import normalize_record
    from cxstream.demo.past import past_records
    from cxstream.domain.base import to_ms
    from cxstream.domain.history.backfill import Backfill
    from cxstream.domain.history.facts import HistoryClosed
    from cxstream.domain.history.index import HistoryIndex
    from cxstream.settings import Settings

    ctx = load_context(Settings())
    today = date(2026, 11, 30)
    connector = next(c for c in ctx.connectors.values() if c.name == "canonical")
    midnight = to_ms(datetime(today.year, today.month, today.day, tzinfo=UTC))
    backfill = Backfill(ctx.topology.metrics, midnight, midnight + 3_600_000)
    context = RawContext(ingest_time=datetime(today.year, today.month, today.day, tzinfo=UTC))
    for raw in past_records(today - timedelta(days=365), 365, per_day=120, seed=11):
        for event in normalize_record(connector, raw, context, ctx.validator, ctx.enricher, history=True).events:
            backfill.add(event, "import:test")
    index = HistoryIndex()
    for fact in backfill.facts():
        index.apply(fact.key.encode(), fact)
    closure = HistoryClosed("import:test", midnight, 0, "past")
    index.apply(closure.key(), closure)
    return (ctx, index), midnight


def test_the_demo_years_tolerance_is_found_from_its_history_and_proposed_as_a_diff() -> None:
    from cxstream.domain.tolerance.curves import curves
    from cxstream.domain.tolerance.patch import diff, rule_patch, sla_patch
    from cxstream.domain.tolerance.proposals import propose

    (ctx, index), midnight = demo_year()
    topology = ctx.topology  # type: ignore[attr-defined]
    spec = topology.tolerance
    found = curves(spec, spec.pair("delivery-delay.csat"), topology.metrics, index, midnight)
    overall = next(c for c in found if not c.scope)
    t = overall.tolerance
    assert t.claimed and t.point is not None and 10 < t.point < 20 and t.n > 10_000
    assert {tuple(c.scope.items()) for c in found} >= {(), (("region", "emea"),)}
    assert overall.summary.startswith("Customers tolerate delivery delay up to ")
    rule = next(r for r in topology.alerting.thresholds if r.metric == "delivery_delay")
    proposal = propose(rule, topology.metrics, index, datetime(2026, 11, 30, 12, tzinfo=UTC), found, min_n=10)
    assert proposal.overall.basis == "history and customer tolerance" and proposal.overall.sla is not None
    assert proposal.overall.critical is not None and proposal.overall.critical <= t.point
    assert {s.scope["region"] for s in proposal.scopes} == {"emea", "amer", "apac"}
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "topologies"
    alerting = (root / "alerting.yaml").read_text()
    patched = rule_patch(alerting, proposal)
    loaded = yaml.safe_load(patched)["alerting"]["thresholds"]
    changed = next(r for r in loaded if r["id"] == rule.id)
    assert (
        changed["origin"]["proposed"] == date(2026, 11, 30)
        and "delivery_delay daily history" in changed["origin"]["data"]
    )
    assert changed["critical"] == proposal.overall.critical
    assert [r["id"] for r in loaded] == [r.id for r in topology.alerting.thresholds]  # the other rules untouched
    text = diff("alerting.yaml", alerting, patched)
    assert text.startswith("--- a/alerting.yaml\n+++ b/alerting.yaml\n") and "+      origin:" in text
    metrics = (root / "metrics.yaml").read_text()
    sla = sla_patch(metrics, proposal)
    assert sla is not None
    definition = next(d for d in yaml.safe_load(sla)["metrics"]["definitions"] if d["id"] == "delivery_delay")
    assert definition["sla"] == f"{int(proposal.overall.sla)}h" and "sla_origin" in definition


def test_a_patched_topology_loads_and_says_where_its_levels_came_from(tmp_path: object) -> None:
    import shutil
    from pathlib import Path

    from cxstream.config.topology import load_topology
    from cxstream.domain.tolerance.curves import curves
    from cxstream.domain.tolerance.patch import rule_patch
    from cxstream.domain.tolerance.proposals import propose
    from cxstream.domain.tolerance.views import in_force_json

    (ctx, index), midnight = demo_year()
    topology = ctx.topology  # type: ignore[attr-defined]
    root = Path(__file__).resolve().parents[2] / "topologies"
    target = Path(str(tmp_path)) / "topologies"
    shutil.copytree(root, target)
    shutil.copytree(root.parent / "examples", target.parent / "examples")
    rule = next(r for r in topology.alerting.thresholds if r.id == "csat.delivery.low")
    proposal = propose(rule, topology.metrics, index, datetime(2026, 11, 30, 12, tzinfo=UTC),
                       curves(topology.tolerance, topology.tolerance.pair("delivery-delay.csat"), topology.metrics,
                              index, midnight), min_n=10)  # fmt: skip
    (target / "alerting.yaml").write_text(rule_patch((root / "alerting.yaml").read_text(), proposal))
    loaded = load_topology(target, ctx.catalog.names())  # type: ignore[attr-defined]
    rows = in_force_json(loaded.alerting.thresholds, loaded.metrics)
    row = next(r for r in rows if isinstance(r, dict) and r["rule"] == "csat.delivery.low")
    assert isinstance(row, dict) and str(row["origin_text"]).startswith("proposed on 2026-11-30 from csat.delivery")
    other = next(r for r in rows if isinstance(r, dict) and r["rule"] == "reopen_rate.high")
    assert isinstance(other, dict) and other["origin_text"] == "typed by hand (no recorded origin)"


@pytest.mark.parametrize("broken", ["edges: [0, 4, 4]", "satisfaction: csat.delivery"])
def test_a_broken_pair_fails_at_start_with_the_field(tmp_path: object, broken: str) -> None:
    import shutil
    from pathlib import Path

    from cxstream.app import load_context
    from cxstream.config.topology import load_topology
    from cxstream.config.yaml_source import ConfigError
    from cxstream.settings import Settings

    root = Path(__file__).resolve().parents[2] / "topologies"
    target = Path(str(tmp_path)) / "topologies"
    shutil.copytree(root, target)
    shutil.copytree(root.parent / "examples", target.parent / "examples")
    text = (target / "tolerance.yaml").read_text()
    key = broken.split(":")[0]
    old = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
    (target / "tolerance.yaml").write_text(text.replace(old, old.split(key)[0] + broken, 1))
    with pytest.raises(ConfigError) as caught:
        load_topology(target, load_context(Settings()).catalog.names())
    message = "\n".join(caught.value.problems)
    assert "tolerance.yaml" in message and key in message

"""Targets as versioned records: set with a rationale, proposed after a capability change from what comparable
scopes reach (their pooled share with its Wilson interval, checked against a hand computation), accepted or
rejected by a person; the version in force follows the effective dates."""

from __future__ import annotations

import pytest

from cxstream.config.topology import load_topology
from cxstream.domain.history.facts import FactKey, HistoryFact
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.impact.targets import Refused, State, TargetBook, decide, declared, peers_of, propose, reach
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.stats import Sufficient, wilson
from cxstream.serde.catalog import SchemaCatalog
from tests.unit.test_impact_plateaus import ROOT

METRICS = load_topology(ROOT / "topologies", SchemaCatalog.from_dir(ROOT / "schemas").names()).metrics
NOW = 700 * DAY_MS + 3600_000


def index_of(per_site: dict[str, tuple[int, int]]) -> HistoryIndex:
    """Each site: (satisfied, answers) on each of the last 28 days."""
    definition = METRICS.definition("csat.delivery")
    index = HistoryIndex()
    for site, (good, n) in per_site.items():
        for d in range(1, 29):
            stats = Sufficient()
            for i in range(n):
                stats.add_score(5 if i < good else 2)
            scope = tuple(site if dim == "site" else "-" for dim in definition.dimensions)
            fact = HistoryFact(FactKey("csat.delivery", DAY_MS, 700 * DAY_MS - d * DAY_MS, "p0", scope),
                               definition.dimensions, stats)  # fmt: skip
            index.apply(fact.key.encode(), fact)
    return index


def test_a_capability_change_proposes_what_the_peers_reach() -> None:
    index = index_of({"ams-1": (30, 50), "chi-1": (40, 50), "sin-1": (44, 50)})
    peers = peers_of(index, "csat.delivery", {"site": "ams-1"}, NOW)
    assert peers == [{"site": "chi-1"}, {"site": "sin-1"}]
    found = reach(index, METRICS, "csat.delivery", peers, NOW)
    assert found is not None and found.n == 2 * 28 * 50
    hits = 28 * (40 + 44)  # by hand: 2,352 satisfied of 2,800
    assert found.value == pytest.approx(hits / 2800) and (found.low, found.high) == wilson(hits, 2800, 0.95)
    book = TargetBook()
    book.add(declared(book, "csat.delivery", {"site": "ams-1"}, 0.70, "the 2026 plan", 600 * DAY_MS, "l.moreau",
                      600 * DAY_MS))  # fmt: skip
    proposal = propose(book, "csat.delivery", {"site": "ams-1"}, "automated rebooking", found, "m.jansen", NOW)
    assert proposal.version == 2 and proposal.state is State.PROPOSED and proposal.value == round(hits / 2800, 4)
    assert "reach 84.0 % (n=2,800; 95 % CI" in (proposal.evidence or "")
    book.add(proposal)
    assert book.current(proposal.target_id, NOW).value == 0.70  # type: ignore[union-attr]  # not accepted yet
    accepted = decide(book, proposal.target_id, 2, True, "a.okafor", NOW + 1)
    book.add(accepted)
    assert book.current(proposal.target_id, NOW + 1).value == proposal.value  # type: ignore[union-attr]
    with pytest.raises(Refused, match="is ACCEPTED, not a proposal"):
        decide(book, proposal.target_id, 2, False, "a.okafor", NOW + 2)


def test_a_target_needs_a_share_and_a_rationale() -> None:
    book = TargetBook()
    with pytest.raises(Refused, match="between 0 and 1"):
        declared(book, "csat.delivery", {"site": "ams-1"}, 85, "typo", 0, "x", 0)
    with pytest.raises(Refused, match="rationale is required"):
        declared(book, "csat.delivery", {"site": "ams-1"}, 0.85, " ", 0, "x", 0)

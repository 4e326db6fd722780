"""Statistics report: execution gaps raised under no difference between locations, against the noise budget.

Forty locations with the same true delivery CSAT (0.8) and 250 answers a day each, reviewed day by day over a
simulated history through the same code the routing side runs (funnel plus the watched Nelson rules of the
shipped topology): the false gaps per 1,000 location-days, with the exact Poisson interval, beside what the
budget (``cxstream sites noise``) says to expect. No timing: a figure and its interval.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from scipy.stats import chi2

from cxstream.config.topology import load_topology
from cxstream.domain.history.facts import FactKey, HistoryFact
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.locations.spec import Location, Locations
from cxstream.domain.locations.variance import noise_budget, review_day
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.stats import Sufficient
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[1]
SITES, ANSWERS, DAYS, SHARE = 40, 250, 120, 0.8


def main() -> int:
    topology = load_topology(ROOT / "topologies", SchemaCatalog.from_dir(ROOT / "schemas").names())
    assert topology.locations is not None
    metrics = topology.metrics
    variance = topology.locations.variance.model_copy(update={"metrics": ["csat.delivery"]})
    sites = [f"s{i:02d}" for i in range(SITES)]
    spec = Locations(sites=[Location(site=s, type="fulfilment", owner="logistics") for s in sites],  # type: ignore[arg-type]
                     variance=variance)  # fmt: skip
    definition = metrics.definition("csat.delivery")
    rng = random.Random(2026)
    index = HistoryIndex()
    first = 1000 * DAY_MS
    for d in range(DAYS):
        for site in sites:
            stats = Sufficient()
            hits = sum(rng.random() < SHARE for _ in range(ANSWERS))
            stats.hist = {5: hits, 2: ANSWERS - hits}
            scope = tuple(site if dim == "site" else "-" for dim in definition.dimensions)
            fact = HistoryFact(FactKey("csat.delivery", DAY_MS, first + d * DAY_MS, "p0", scope), definition.dimensions,
                               stats)  # fmt: skip
            index.apply(fact.key.encode(), fact)
    reviewed = range(variance.chart_days - 1, DAYS)  # days with a full chart behind them
    gaps = sum(len(review_day(metrics, index, spec, first + d * DAY_MS, {}).gaps) for d in reviewed)
    location_days = len(reviewed) * SITES
    low = chi2.ppf(0.025, 2 * gaps) / 2 if gaps else 0.0
    high = chi2.ppf(0.975, 2 * gaps + 2) / 2
    per = 1000 / location_days
    budget = 1000 * noise_budget(1, spec)
    print(f"locations, no difference: {gaps} execution gaps in {location_days} location-days (rules "
          f"{', '.join(str(r) for r in variance.rules)}, 99.8 % funnel): {gaps * per:.2f} per 1,000 location-days "
          f"(95 % CI {low * per:.2f}-{high * per:.2f}); budget {budget:.2f}")  # fmt: skip
    within = low * per <= budget <= high * per or gaps * per <= budget
    print(f"  within the declared rate: {'yes' if within else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

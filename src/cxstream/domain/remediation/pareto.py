"""Driver Paretos: what a period's complaints, case root causes or operational failures are made of, largest first,
each share with its Wilson interval and the cumulative share, and which drivers moved against the previous
period with a test rather than by eye: per driver Fisher's exact test of its share (this period against the
previous one), the p-values adjusted for the number of drivers tested (Benjamini-Hochberg, scipy's
``false_discovery_control``), and a chi-square test of the whole mix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cxstream.domain.metrics.stats import wilson


@dataclass(frozen=True)
class ParetoRow:
    key: str
    count: int
    share: float
    low: float  # Wilson interval of the share
    high: float
    cumulative: float
    previous_count: int
    previous_share: float | None  # None when the previous period had nothing
    p_value: float | None  # Fisher's exact test, this period's share against the previous one's
    q_value: float | None  # the p-value adjusted for the drivers tested (Benjamini-Hochberg)
    moved: str | None  # "up" or "down" when q <= the false-discovery rate, else None


@dataclass(frozen=True)
class Pareto:
    total: int
    previous_total: int
    rows: tuple[ParetoRow, ...]
    mix_p_value: float | None  # chi-square test that the whole mix is the same in both periods
    fdr: float

    def top(self) -> ParetoRow | None:
        return self.rows[0] if self.rows else None

    def moved_most(self) -> ParetoRow | None:
        """The driver whose share changed most among those that moved (by the test)."""
        moved = [r for r in self.rows if r.moved is not None and r.previous_share is not None]
        return max(moved, key=lambda r: abs(r.share - (r.previous_share or 0.0)), default=None)


def pareto(
    current: Mapping[str, int], previous: Mapping[str, int], *, confidence: float = 0.95, fdr: float = 0.05
) -> Pareto:
    from scipy import stats

    total, before = sum(current.values()), sum(previous.values())
    keys = sorted({k for k, v in current.items() if v > 0} | {k for k, v in previous.items() if v > 0},
                  key=lambda k: (-current.get(k, 0), -previous.get(k, 0), k))  # fmt: skip
    p_values: list[float | None] = []
    for key in keys:
        a, c = current.get(key, 0), previous.get(key, 0)
        if total == 0 or before == 0:
            p_values.append(None)
            continue
        p_values.append(float(stats.fisher_exact([[a, total - a], [c, before - c]]).pvalue))
    tested = [p for p in p_values if p is not None]
    adjusted = iter(stats.false_discovery_control(tested).tolist() if tested else [])
    q_values = [None if p is None else float(next(adjusted)) for p in p_values]
    rows, running = [], 0
    for key, p, q in zip(keys, p_values, q_values, strict=True):
        count, earlier = current.get(key, 0), previous.get(key, 0)
        running += count
        share = count / total if total else 0.0
        low, high = wilson(count, total, confidence) if total else (0.0, 0.0)
        earlier_share = earlier / before if before else None
        moved = None
        if q is not None and q <= fdr and earlier_share is not None:
            moved = "up" if share > earlier_share else "down"
        rows.append(ParetoRow(key, count, share, low, high, running / total if total else 0.0, earlier,
                              earlier_share, p, q, moved))  # fmt: skip
    mix = None
    if total and before and len(keys) > 1:
        table = [[current.get(k, 0) for k in keys], [previous.get(k, 0) for k in keys]]
        mix = float(stats.chi2_contingency(table).pvalue)
    return Pareto(total, before, tuple(rows), mix, fdr)

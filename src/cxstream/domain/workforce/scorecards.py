"""CX scorecards per agent and team, and the incentive index.

For a team and a period, from the lives of its tickets (:mod:`cxstream.domain.workforce.tickets`):

- **CSAT** and **CES** (share of "easy" answers, 5-7): each rating of a ticket is credited by the declared
  attribution rule (the assignee at rating time, the last public replier, or every replier weighted by
  replies), so credited counts may be fractional;
- **first-contact resolution**: tickets first solved in the period with at most one public agent reply and no
  reopen seen since, credited to the solver; **reopen rate**: those first solved in the period and reopened
  since (reopens still to come are not seen: recent days read low);
- **handle time against the tier's norm**: each solved ticket's handle time over the team's mean for its
  complexity tier on its channel in the period (1.0 = the norm; a chat is not held to an email's time),
  averaged per agent with a t interval.

Proportions are shown raw (Wilson interval) and shrunk toward the team by empirical Bayes: a beta prior per
team and component whose mean is the team's share and whose strength (in answers) says how much more the
agents differ than binomial noise explains (:func:`beta_prior`; fewer than three agents: a prior worth
:data:`DEFAULT_STRENGTH` answers); each agent's posterior gives the shrunk share, its credible interval and the
probability of being worse than the team. Agents are listed, never ranked. A coaching flag needs evidence that
survives the number of comparisons: each agent's share is tested against the rest of the team (one-sided
Fisher exact test: worse than the others), and the flags are the Benjamini-Hochberg discoveries at
``coach_fdr`` over every agent and component of the team (with 25 agents and 4 components, 100 comparisons:
at 0.1, about one flag in ten may be noise, and pure noise raises almost none).

The incentive index weighs the components relative to the team (100 = the team): CSAT, CES and FCR as the
agent's shrunk share over the team's, reopens as the share of solves that stayed solved over the team's, speed
as the tier norm over the agent's handle time (clamped to 0.5-2). Components without data drop out and the others'
weights are scaled up; each component's contribution (its weight x its distance from the team) is shown, and
they add up to the index's distance from 100.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cxstream.domain.ingest.events import SurveyMetric
from cxstream.domain.metrics.stats import wilson
from cxstream.domain.workforce.spec import Attribution, ScorecardSpec
from cxstream.domain.workforce.tickets import Rating, TicketLife

#: The prior's strength (answers) when a team has too few agents to measure how much they differ.
DEFAULT_STRENGTH = 20.0
#: The prior's strength when the agents differ no more than binomial noise says (complete pooling, nearly).
MAX_STRENGTH = 10_000.0
HANDLE_CLAMP = (0.5, 2.0)
#: Half the 95 % chi-square quantile with one degree of freedom: a profile-likelihood interval's drop.
PROFILE_DROP = 1.92


@dataclass(frozen=True)
class Prior:
    mean: float
    strength: float  # alpha + beta, in answers

    @property
    def alpha(self) -> float:
        return self.mean * self.strength

    @property
    def beta(self) -> float:
        return (1 - self.mean) * self.strength


def beta_prior(pairs: list[tuple[float, float]]) -> Prior | None:
    """The team's beta prior from its agents' (hits, n): the pooled share as its mean, and as its strength the
    weakest one the data do not reject: the lower end of the strength's 95 % profile-likelihood interval under
    the beta-binomial model (the likelihood within 1.92 of its best). The best-fitting strength alone is noisy
    with a few dozen agents and makes intervals too narrow when it overshoots; the lower end keeps the shrunk
    intervals' coverage at or above their level (checked by simulation in the tests)."""
    import numpy as np
    from scipy import special

    pairs = [(h, n) for h, n in pairs if n > 0]
    total = sum(n for _, n in pairs)
    if not pairs or total <= 0:
        return None
    p = min(max(sum(h for h, _ in pairs) / total, 1e-6), 1 - 1e-6)
    if len(pairs) < 3:
        return Prior(p, DEFAULT_STRENGTH)
    hits = np.array([h for h, _ in pairs], dtype=float)
    sizes = np.array([n for _, n in pairs], dtype=float)
    grid = np.exp(np.linspace(0.0, math.log(MAX_STRENGTH), 121))
    a, b = p * grid[:, None], (1 - p) * grid[:, None]
    loglik = (special.betaln(hits + a, sizes - hits + b) - special.betaln(a, b)).sum(axis=1)
    plausible = grid[loglik >= loglik.max() - PROFILE_DROP]
    return Prior(p, float(plausible.min()))


@dataclass(frozen=True)
class Share:
    """A credited proportion: raw with its Wilson interval, shrunk toward the team with its credible interval, and
    the posterior probability of being worse than the team."""

    hits: float
    n: float
    raw: float | None = None
    raw_low: float | None = None
    raw_high: float | None = None
    shrunk: float | None = None
    low: float | None = None
    high: float | None = None
    p_worse: float | None = None


def share(hits: float, n: float, prior: Prior | None, confidence: float, higher_is_better: bool = True) -> Share:
    from scipy import stats

    if n <= 0:
        return Share(0.0, 0.0)
    raw_low, raw_high = wilson(hits, n, confidence)
    if prior is None:
        return Share(hits, n, hits / n, raw_low, raw_high)
    a, b = prior.alpha + hits, prior.beta + n - hits
    tail = (1 - confidence) / 2
    low, high = (float(x) for x in stats.beta.ppf([tail, 1 - tail], a, b))
    below = float(stats.beta.cdf(prior.mean, a, b))
    return Share(hits, n, hits / n, raw_low, raw_high, a / (a + b), low, high, below if higher_is_better else 1 - below)


@dataclass(frozen=True)
class HandleRatio:
    """Handle time over the tier's norm (1.0 = the team's mean for the same tiers), with a t interval."""

    n: int
    ratio: float | None = None
    low: float | None = None
    high: float | None = None


def handle_ratio(ratios: list[float], confidence: float) -> HandleRatio:
    from scipy import stats

    n = len(ratios)
    if not n:
        return HandleRatio(0)
    mean = sum(ratios) / n
    if n < 2:
        return HandleRatio(n, mean)
    sd = math.sqrt(sum((r - mean) ** 2 for r in ratios) / (n - 1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return HandleRatio(n, mean, max(0.0, mean - half), mean + half)


@dataclass(frozen=True)
class Evidence:
    """A rating behind a coaching flag: the ticket, the score and what the customer wrote."""

    ticket_id: str
    metric: str
    score: int
    at_ms: int
    weight: float
    verbatim: str | None


@dataclass(frozen=True)
class Flag:
    component: str
    p_value: float  # one-sided: the agent's share no worse than the rest of the team
    agent: float  # the agent's shrunk share (reopen: the reopen share)
    team: float
    comparisons: int  # the team's tests the Benjamini-Hochberg rule ran over


@dataclass(frozen=True)
class AgentCard:
    agent: str
    csat: Share
    ces: Share
    fcr: Share
    reopen: Share
    handle: HandleRatio
    index: float | None
    contributions: Mapping[str, float]
    flags: tuple[Flag, ...] = ()
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class TeamCard:
    team: str
    start_ms: int
    end_ms: int
    attribution: Attribution
    confidence: float
    agents: tuple[AgentCard, ...]
    totals: Mapping[str, Share]  # the team's own shares (raw)
    priors: Mapping[str, Prior | None]
    tickets: int  # tickets of the team with anything in the period
    weights: Mapping[str, float] = field(default_factory=dict)
    fdr: float = 0.1  # of the coaching flags


def credit(life: TicketLife, rating: Rating, rule: Attribution) -> dict[str, float]:
    """Who a rating is credited to, with weights summing to 1 (empty when nobody can be named)."""
    fallback = rating.assignee or next((s.agent for s in sorted(life.solves, key=lambda s: -s.at_ms) if s.agent),
                                       None)  # fmt: skip
    replies = life.replies_before(rating.at_ms)
    if rule is Attribution.LAST_REPLY and replies:
        return {replies[-1].agent: 1.0}
    if rule is Attribution.TOUCHES and replies:
        counts: dict[str, float] = defaultdict(float)
        for reply in replies:
            counts[reply.agent] += 1
        return {agent: c / len(replies) for agent, c in counts.items()}
    return {fallback: 1.0} if fallback else {}


@dataclass
class _Tally:
    hits: float = 0.0
    n: float = 0.0

    def add(self, good: bool, weight: float = 1.0) -> None:
        self.n += weight
        self.hits += weight if good else 0.0


def scorecard(tickets: Iterable[TicketLife], team: str, start_ms: int, end_ms: int, spec: ScorecardSpec,
              attribution: Attribution | None = None) -> TeamCard:  # fmt: skip
    """The team's scorecard over [start_ms, end_ms)."""
    rule = attribution or spec.attribution
    inside = range(start_ms, end_ms)
    tallies: dict[str, dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    solves: list[tuple[str, int, tuple[str | None, str | None]]] = []  # (agent, seconds, (tier, channel))
    count = 0
    for life in tickets:
        if life.team != team:
            continue
        touched = False
        for rating in life.ratings:
            if rating.at_ms not in inside:
                continue
            touched = True
            component = "csat" if rating.metric is SurveyMetric.CSAT else "ces"
            for agent, weight in credit(life, rating, rule).items():
                tallies[agent][component].add(rating.good, weight)
                if not rating.good:
                    evidence[agent].append(Evidence(life.ticket_id, rating.metric.value, rating.score, rating.at_ms,
                                                    weight, rating.verbatim))  # fmt: skip
        first = life.first_solve()
        if first is not None and first.at_ms in inside and first.agent:
            touched = True
            reopened = life.reopened_after(first.at_ms)
            tallies[first.agent]["fcr"].add(len(life.replies_before(first.at_ms)) <= 1 and not reopened)
            tallies[first.agent]["reopen"].add(not reopened)  # the share that stayed solved
            if reopened:
                evidence[first.agent].append(Evidence(life.ticket_id, REOPENED, 0, first.at_ms, 1.0, None))
            if first.handle_s is not None:
                solves.append((first.agent, first.handle_s, (first.tier, first.channel)))
        count += int(touched)
    norms: dict[tuple[str | None, str | None], list[int]] = defaultdict(list)
    for _, seconds, tier in solves:
        norms[tier].append(seconds)
    norm = {tier: sum(v) / len(v) for tier, v in norms.items()}
    ratios: dict[str, list[float]] = defaultdict(list)
    for agent, seconds, tier in solves:
        if norm[tier] > 0:
            ratios[agent].append(seconds / norm[tier])
    components = ("csat", "ces", "fcr", "reopen")
    priors = {c: beta_prior([(t[c].hits, t[c].n) for t in tallies.values()]) for c in components}
    totals = {}
    for c in components:
        hits, n = sum(t[c].hits for t in tallies.values()), sum(t[c].n for t in tallies.values())
        totals[c] = share(hits, n, None, spec.confidence)
    agents = sorted(set(tallies) | set(ratios))
    shares_of = {a: {c: share(tallies[a][c].hits, tallies[a][c].n, priors[c], spec.confidence) for c in components}
                 for a in agents}  # fmt: skip
    flagged = coaching_flags(tallies, shares_of, priors, spec.coach_fdr)
    cards = []
    for agent in agents:
        shares = shares_of[agent]
        # reopen is kept as "stayed solved" (higher is better) and shown as the reopen share
        reopen = _reopen_view(shares["reopen"])
        handle = handle_ratio(ratios.get(agent, []), spec.confidence)
        index, contributions = incentive(shares, handle, priors, spec.index)
        flags = flagged.get(agent, ())
        kinds = {EVIDENCE_OF[f.component] for f in flags}
        shown = tuple(sorted((e for e in evidence.get(agent, []) if e.metric in kinds), key=lambda e: -e.at_ms)[:5])
        cards.append(AgentCard(agent, shares["csat"], shares["ces"], shares["fcr"], reopen, handle, index,
                               contributions, flags, shown))  # fmt: skip
    totals["reopen"] = _reopen_view(totals["reopen"])
    return TeamCard(team, start_ms, end_ms, rule, spec.confidence, tuple(cards), totals, priors, count,
                    dict(spec.index), spec.coach_fdr)  # fmt: skip


REOPENED = "REOPEN"
#: What backs a flag on each component: the ratings that were not good, or the solved tickets that came back.
EVIDENCE_OF = {"csat": SurveyMetric.CSAT.value, "ces": SurveyMetric.CES.value, "fcr": REOPENED, "reopen": REOPENED}


def worse_p_value(hits: float, n: float, rest_hits: float, rest_n: float) -> float | None:
    """One-sided p-value that an agent's share (hits/n, higher is better) is no worse than the rest of the team's:
    Fisher's exact test on the 2x2 table, counts rounded to whole answers (credit split by touches is
    fractional). Exact rather than the normal approximation: with a few dozen answers near 85 % the normal
    approximation's lower tail is too thin and flags noise. None when either side has no answers."""
    from scipy import stats

    a, b = round(hits), round(n) - round(hits)
    c, d = round(rest_hits), round(rest_n) - round(rest_hits)
    if a + b <= 0 or c + d <= 0:
        return None
    return float(stats.fisher_exact([[a, b], [c, d]], alternative="less").pvalue)


def benjamini_hochberg(p_values: list[float], q: float) -> float | None:
    """The largest p-value the Benjamini-Hochberg step-up rule at false-discovery rate ``q`` rejects (None: none)."""
    ordered = sorted(p_values)
    m = len(ordered)
    passed = [p for k, p in enumerate(ordered, start=1) if p <= q * k / m]
    return max(passed) if passed else None


def coaching_flags(
    tallies: Mapping[str, Mapping[str, _Tally]],
    shares: Mapping[str, Mapping[str, Share]],
    priors: Mapping[str, Prior | None],
    fdr: float,
) -> dict[str, tuple[Flag, ...]]:
    """Per agent, the components on which it is worse than the rest of the team, as Benjamini-Hochberg discoveries
    at ``fdr`` over all of the team's agent-component tests."""
    tests: list[tuple[str, str, float]] = []
    for component in ("csat", "ces", "fcr", "reopen"):
        total_hits = sum(t[component].hits for t in tallies.values())
        total_n = sum(t[component].n for t in tallies.values())
        for agent, t in tallies.items():
            p = worse_p_value(t[component].hits, t[component].n, total_hits - t[component].hits,
                              total_n - t[component].n)  # fmt: skip
            if p is not None:
                tests.append((agent, component, p))
    cut = benjamini_hochberg([p for *_, p in tests], fdr) if tests else None
    out: dict[str, list[Flag]] = defaultdict(list)
    for agent, component, p in tests:
        s, prior = shares[agent][component], priors.get(component)
        if cut is None or p > cut or s.shrunk is None or prior is None:
            continue
        if component == "reopen":  # kept as "stayed solved": shown as the reopen share
            out[agent].append(Flag(component, p, 1 - s.shrunk, 1 - prior.mean, len(tests)))
        else:
            out[agent].append(Flag(component, p, s.shrunk, prior.mean, len(tests)))
    return {agent: tuple(flags) for agent, flags in out.items()}


def _reopen_view(stayed: Share) -> Share:
    """A "stayed solved" share turned into the reopen share (its complement, intervals swapped)."""

    def flip(x: float | None) -> float | None:
        return None if x is None else 1 - x

    return Share(stayed.n - stayed.hits, stayed.n, flip(stayed.raw), flip(stayed.raw_high), flip(stayed.raw_low),
                 flip(stayed.shrunk), flip(stayed.high), flip(stayed.low), stayed.p_worse)  # fmt: skip


def incentive(
    shares: Mapping[str, Share], handle: HandleRatio, priors: Mapping[str, Prior | None], weights: Mapping[str, float]
) -> tuple[float | None, dict[str, float]]:
    """The index (100 = the team) and each component's contribution to its distance from 100."""
    relative: dict[str, float] = {}
    for c in ("csat", "ces", "fcr", "reopen"):
        s, prior = shares[c], priors.get(c)
        if s.shrunk is not None and prior is not None and prior.mean > 0 and weights.get(c, 0) > 0:
            relative[c] = s.shrunk / prior.mean  # reopen here is the "stayed solved" share: higher is better
    if handle.ratio is not None and handle.ratio > 0 and weights.get("handle_time", 0) > 0:
        low, high = HANDLE_CLAMP
        relative["handle_time"] = min(high, max(low, 1 / handle.ratio))
    total = sum(weights[c] for c in relative)
    if not relative or total <= 0:
        return None, {}
    contributions = {c: 100 * weights[c] / total * (value - 1) for c, value in relative.items()}
    return 100 + sum(contributions.values()), contributions

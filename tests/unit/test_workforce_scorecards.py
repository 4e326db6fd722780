"""Scorecards without Kafka: ticket lives from canonical events, the attribution rules, first-contact
resolution, reopens, handle time against the tier norm, empirical-Bayes shrinkage (checked by simulation) and
the incentive index's decomposition."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from cxstream.agents.recent_events import RecentEvents
from cxstream.agents.scorecards import TicketFeed
from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import TYPE_HEADER, CanonicalEvent, EventType, Operation, Survey, SurveyMetric
from cxstream.domain.workforce.scorecards import (
    Prior,
    benjamini_hochberg,
    beta_prior,
    coaching_flags,
    credit,
    scorecard,
    share,
    worse_p_value,
)
from cxstream.domain.workforce.spec import Attribution, ScorecardSpec
from cxstream.domain.workforce.tickets import read_tickets
from cxstream.serde.avro import AvroCodec, SingleObjectFraming
from cxstream.serde.catalog import SchemaCatalog

T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)


def event(kind: EventType, ticket: str, minutes: float, agent: str | None = None, **extra: object) -> CanonicalEvent:
    at = T0 + timedelta(minutes=minutes)
    fields: dict[str, object] = {
        "event_id": f"{ticket}-{kind.value}-{minutes}", "event_type": kind, "event_time": at, "ingest_time": at,
        "source": "helpdesk", "source_record_id": "1", "team": "billing", "region": "emea", "agent_id": agent,
        "operation": Operation(ticket_id=ticket, handle_seconds=extra.pop("handle", None)),
        "attributes": extra.pop("attributes", {}),
    }  # fmt: skip
    fields.update(extra)
    return CanonicalEvent.model_validate(fields)


def rating(ticket: str, minutes: float, score: int, assignee: str, metric: SurveyMetric = SurveyMetric.CSAT,
           verbatim: str | None = None) -> CanonicalEvent:  # fmt: skip
    return event(EventType.SURVEY_RESPONSE, ticket, minutes, assignee,
                 survey=Survey.on_standard_scale(metric, score, verbatim))  # fmt: skip


def test_a_rating_is_credited_by_the_declared_rule() -> None:
    lives = read_tickets([
        event(EventType.TICKET_CREATED, "T1", 0), event(EventType.TICKET_REPLY, "T1", 5, "a1"),
        event(EventType.TICKET_REPLY, "T1", 10, "a2"), event(EventType.TICKET_REPLY, "T1", 20, "a1"),
        event(EventType.TICKET_SOLVED, "T1", 25, "a3"), rating("T1", 30, 2, "a3"),
        event(EventType.TICKET_REPLY, "T1", 40, "a2"),  # after the rating: not credited for it
    ])  # fmt: skip
    life = lives["helpdesk:T1"]
    [answer] = life.ratings
    assert credit(life, answer, Attribution.LAST_ASSIGNEE) == {"a3": 1.0}
    assert credit(life, answer, Attribution.LAST_REPLY) == {"a1": 1.0}
    assert credit(life, answer, Attribution.TOUCHES) == pytest.approx({"a1": 2 / 3, "a2": 1 / 3})
    replay = read_tickets([event(EventType.TICKET_REPLY, "T1", 5, "a1")] * 3)
    assert len(replay["helpdesk:T1"].replies) == 1  # an event seen again is kept once


def test_first_contact_resolution_reopens_handle_time_and_evidence() -> None:
    events = []
    for i in range(6):  # a1: one reply, solved, never back; simple tickets of 300 s
        t = f"A{i}"
        events += [event(EventType.TICKET_REPLY, t, i, "a1"),
                   event(EventType.TICKET_SOLVED, t, i + 1, "a1", handle=300, attributes={"tier": "simple"}),
                   rating(t, i + 2, 5, "a1")]  # fmt: skip
    for i in range(4):  # a2: three replies, solved slower, two come back, two poor ratings
        t = f"B{i}"
        events += [event(EventType.TICKET_REPLY, t, i + k, "a2") for k in range(3)]
        events += [event(EventType.TICKET_SOLVED, t, i + 4, "a2", handle=600, attributes={"tier": "simple"}),
                   rating(t, i + 5, 1 if i < 2 else 5, "a2", verbatim="Still not fixed")]  # fmt: skip
        if i < 2:
            events.append(event(EventType.TICKET_REOPENED, t, i + 30))
    card = scorecard(read_tickets(events).values(), "billing", to_ms(T0), to_ms(T0 + timedelta(days=1)),
                     ScorecardSpec())  # fmt: skip
    assert card.tickets == 10 and [a.agent for a in card.agents] == ["a1", "a2"]
    a1, a2 = card.agents
    assert (a1.fcr.hits, a1.fcr.n, a2.fcr.hits, a2.fcr.n) == (6, 6, 0, 4)
    assert (a2.reopen.hits, a2.reopen.n, a2.reopen.raw) == (2, 4, 0.5) and a1.reopen.raw == 0
    assert card.totals["reopen"].raw == pytest.approx(0.2) and card.totals["csat"].raw == pytest.approx(0.8)
    # the simple tier's norm is (6 x 300 + 4 x 600) / 10 = 420 s
    assert a1.handle.ratio == pytest.approx(300 / 420) and a2.handle.ratio == pytest.approx(600 / 420)
    assert a2.csat.shrunk is not None and a2.csat.raw is not None and a2.csat.shrunk > a2.csat.raw  # toward the team
    assert a1.index is not None and a2.index is not None and a1.index > 100 > a2.index
    for agent in (a1, a2):
        assert agent.index == pytest.approx(100 + sum(agent.contributions.values()))
    spec = ScorecardSpec(coach_fdr=0.45)
    [_, flagged] = scorecard(read_tickets(events).values(), "billing", to_ms(T0), to_ms(T0 + timedelta(days=1)),
                             spec).agents  # fmt: skip
    components = {f.component for f in flagged.flags}
    assert {"fcr", "reopen"} <= components
    assert {e.ticket_id for e in flagged.evidence} >= {"B0", "B1"}
    assert all(e.metric in ("CSAT", "REOPEN") for e in flagged.evidence)


def test_the_team_prior_measures_how_much_agents_differ_beyond_noise() -> None:
    same = [(40.0, 50.0)] * 10
    prior = beta_prior(same)
    assert prior is not None and prior.mean == pytest.approx(0.8) and prior.strength > 100  # pooled, nearly
    assert beta_prior([(4.0, 5.0), (3.0, 5.0)]) == Prior(0.7, 20.0)  # too few agents: the default strength
    assert beta_prior([]) is None


def test_shrinkage_beats_raw_shares_and_its_intervals_cover_by_simulation() -> None:
    rng = random.Random(5)
    strengths, raw_error, shrunk_error, covered, counted = [], 0.0, 0.0, 0, 0
    for _ in range(200):  # teams of 30 agents whose true CSAT is Beta(40, 10): strength 50
        truth = [rng.betavariate(40, 10) for _ in range(30)]
        sizes = [rng.randint(5, 60) for _ in truth]
        hits = [sum(rng.random() < p for _ in range(n)) for p, n in zip(truth, sizes, strict=True)]
        prior = beta_prior([(float(h), float(n)) for h, n in zip(hits, sizes, strict=True)])
        assert prior is not None
        strengths.append(prior.strength)
        for p, h, n in zip(truth, hits, sizes, strict=True):
            one = share(h, n, prior, 0.95)
            assert one.raw is not None and one.shrunk is not None and one.low is not None and one.high is not None
            raw_error += (one.raw - p) ** 2
            shrunk_error += (one.shrunk - p) ** 2
            covered += one.low <= p <= one.high
            counted += 1
    strengths.sort()
    assert 5 < strengths[len(strengths) // 2] < 50  # the weakest plausible prior: at most the true 50, mostly
    assert shrunk_error < 0.5 * raw_error
    assert 0.945 <= covered / counted <= 0.99  # at or above the level, never the 0.82 of the best-fitting prior


def test_index_weights_name_components_and_sum_to_one() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        ScorecardSpec(index={"csat": 0.5, "fcr": 0.4})
    with pytest.raises(ValueError, match="not a component"):
        ScorecardSpec(index={"csat": 0.5, "speed": 0.5})


def test_benjamini_hochberg_reproduces_the_papers_example() -> None:
    # Benjamini and Hochberg (1995), section 4: 15 p-values, q = 0.05: the four smallest are discoveries
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528,
         0.7590, 1.000]  # fmt: skip
    assert benjamini_hochberg(p, 0.05) == 0.0095
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005], 0.05) == 0.04  # R: p.adjust(..., "BH") all <= 0.04
    assert benjamini_hochberg([0.5, 0.9], 0.1) is None
    # Fisher's lady tasting tea: 3 of 4 cups right against 1 of 4, one-sided p = 0.2429 (= 17/70)
    assert worse_p_value(1, 4, 3, 4) == pytest.approx(17 / 70) and round(17 / 70, 4) == 0.2429
    assert worse_p_value(1.4, 4, 2.6, 4) == pytest.approx(17 / 70)  # fractional credit: rounded answers
    assert worse_p_value(0, 0, 5, 10) is None


def test_pure_noise_raises_almost_no_coaching_flag_by_simulation() -> None:
    from cxstream.domain.workforce.scorecards import _Tally

    rng = random.Random(11)
    teams_flagged = 0
    for _ in range(300):  # 20 agents, all truly at 85 % on every component: any flag is a false one
        tallies = {}
        for a in range(20):
            n = rng.randint(10, 80)
            tallies[f"a{a}"] = {c: _Tally(float(sum(rng.random() < 0.85 for _ in range(n))), float(n))
                                for c in ("csat", "ces", "fcr", "reopen")}  # fmt: skip
        shares = {a: {c: share(t.hits, t.n, Prior(0.85, 50), 0.95) for c, t in comps.items()}
                  for a, comps in tallies.items()}  # fmt: skip
        priors = dict.fromkeys(("csat", "ces", "fcr", "reopen"), Prior(0.85, 50))
        teams_flagged += bool(coaching_flags(tallies, shares, priors, 0.1))
    assert teams_flagged / 300 <= 0.13  # Benjamini-Hochberg under no difference: at most q, plus noise


def test_the_ticket_feed_skips_events_whose_type_header_no_scorecard_reads() -> None:
    root = Path(__file__).resolve().parents[2]
    catalog = SchemaCatalog.from_dir(root / "schemas")
    codec = AvroCodec(catalog.get("cxstream.CanonicalEvent"), SingleObjectFraming(catalog))
    feed = TicketFeed({}, codec, ScorecardSpec())

    def message(kind: EventType, ticket: str, headers: list[tuple[str, bytes]]) -> SimpleNamespace:
        value = codec.encode(event(kind, ticket, 0).to_record())
        return SimpleNamespace(key=ticket.encode(), value=value, headers=headers)

    def header(kind: EventType) -> list[tuple[str, bytes]]:
        return [(TYPE_HEADER, kind.value.encode())]

    feed.apply_message(None, message(EventType.TICKET_CREATED, "T1", header(EventType.TICKET_CREATED)))
    feed.apply_message(None, message(EventType.TICKET_CREATED, "T2", []))  # no header: decoded and read
    # a header naming a type scorecards do not read: skipped without decoding (the value is not even valid Avro)
    feed.apply_message(None, SimpleNamespace(key=b"T3", value=b"not avro", headers=header(EventType.ORDER_CREATED)))
    assert set(feed.tickets) == {"helpdesk:T1", "helpdesk:T2"} and feed.undecodable == 0


def test_the_ticket_feed_takes_an_event_this_worker_published_without_decoding_it() -> None:
    root = Path(__file__).resolve().parents[2]
    catalog = SchemaCatalog.from_dir(root / "schemas")
    codec = AvroCodec(catalog.get("cxstream.CanonicalEvent"), SingleObjectFraming(catalog))
    recent = RecentEvents()
    feed = TicketFeed({}, codec, ScorecardSpec(), recent)
    published = event(EventType.TICKET_CREATED, "T1", 0)
    # the bytes are the key: a value at hand is not decoded (this one would not even decode), one not at hand is
    recent.remember(b"published by this worker", published)
    feed.apply_message(None, SimpleNamespace(key=b"T1", value=b"published by this worker", headers=[]))
    other = event(EventType.TICKET_CREATED, "T2", 0)
    feed.apply_message(None, SimpleNamespace(key=b"T2", value=codec.encode(other.to_record()), headers=[]))
    # a type no scorecard reads, at hand, is skipped as a decoded one would be
    recent.remember(b"an order", event(EventType.ORDER_CREATED, "T3", 0))
    feed.apply_message(None, SimpleNamespace(key=b"T3", value=b"an order", headers=[]))
    assert set(feed.tickets) == {"helpdesk:T1", "helpdesk:T2"} and feed.undecodable == 0

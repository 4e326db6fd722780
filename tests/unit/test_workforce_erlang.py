"""Erlang C and Erlang A against published reference values, each other, and monotonicity."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.domain.workforce.erlang import Demand, Model, ServiceTarget, erlang_b, figures, required

REFERENCE = Demand(contacts=100, interval_s=1800, handle_s=180)  # 10 Erlangs


def test_erlang_c_reference_staffing() -> None:
    staffing = required(REFERENCE, ServiceTarget(answer_within_s=20, service_level=0.8, max_occupancy=0.85,
                                                 shrinkage=0.3))  # fmt: skip
    assert staffing.model is Model.ERLANG_C
    assert (staffing.agents, staffing.positions) == (14, 20)
    at = staffing.figures
    assert round(at.service_level, 4) == 0.8884
    assert round(at.occupancy, 4) == 0.7143
    assert round(at.waiting_probability, 4) == 0.1741
    assert round(at.asa_s, 2) == 7.84
    assert at.abandonment is None


def test_occupancy_cap_adds_agents() -> None:
    staffing = required(REFERENCE, ServiceTarget(20, 0.8, max_occupancy=0.70, shrinkage=0.3))
    assert (staffing.agents, staffing.positions) == (15, 22)
    assert staffing.figures.occupancy <= 0.70


def test_erlang_a_reference() -> None:
    at = figures(Demand(100, 1800, 180, patience_s=300), 14, 20)
    assert round(at.waiting_probability, 4) == 0.1453
    assert at.abandonment is not None
    assert round(at.abandonment, 4) == 0.0140
    # abandons relieve the agents: served load below offered
    assert at.occupancy < 10 / 14


@pytest.mark.parametrize(("contacts", "handle", "agents"), [(100, 180, 14), (100, 180, 11), (40, 600, 16)])
def test_erlang_a_tends_to_erlang_c_as_patience_grows(contacts: int, handle: int, agents: int) -> None:
    c = figures(Demand(contacts, 1800, handle), agents, 20)
    a = figures(Demand(contacts, 1800, handle, patience_s=1e8), agents, 20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.waiting_probability == pytest.approx(c.waiting_probability, abs=1e-4)
    assert a.occupancy == pytest.approx(c.occupancy, abs=1e-4)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-4)


def test_erlang_b_reference() -> None:
    # the classic table value: 10 Erlangs on 15 trunks block 3.65 %
    assert round(erlang_b(15, 10.0), 4) == 0.0365


def test_hundreds_of_agents_stay_finite() -> None:
    demand = Demand(contacts=9000, interval_s=1800, handle_s=300)  # 1,500 Erlangs
    staffing = required(demand, ServiceTarget(20, 0.8))
    assert 1500 < staffing.agents < 1600
    at = staffing.figures
    assert all(math.isfinite(x) for x in (at.service_level, at.occupancy, at.waiting_probability, at.asa_s))
    patient = required(Demand(9000, 1800, 300, patience_s=180), ServiceTarget(20, 0.8))
    assert patient.agents <= staffing.agents  # abandons never need more agents for the same target
    assert math.isfinite(patient.figures.asa_s)


def test_unstable_erlang_c_and_stable_erlang_a() -> None:
    c = figures(REFERENCE, 9, 20)
    assert (c.service_level, c.waiting_probability, c.asa_s) == (0.0, 1.0, math.inf)
    a = figures(Demand(100, 1800, 180, patience_s=300), 9, 20)
    assert 0 < a.service_level < 1 and a.abandonment is not None and a.abandonment > 0.05


def test_no_contacts_needs_one_agent() -> None:
    staffing = required(Demand(0, 1800, 180), ServiceTarget())
    assert staffing.agents == 1 and staffing.figures.service_level == 1.0


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="service level"):
        ServiceTarget(service_level=1.2)
    with pytest.raises(ValueError, match="shrinkage"):
        ServiceTarget(shrinkage=1.0)
    with pytest.raises(ValueError, match="positive"):
        Demand(10, 0, 180)


@settings(max_examples=60, deadline=None)
@given(
    contacts=st.integers(min_value=1, max_value=400),
    handle=st.integers(min_value=30, max_value=1200),
    patience=st.one_of(st.none(), st.integers(min_value=10, max_value=1800)),
    extra=st.integers(min_value=0, max_value=6),
)
def test_more_agents_never_lower_the_service_level(contacts: int, handle: int, patience: int | None,
                                                   extra: int) -> None:  # fmt: skip
    demand = Demand(contacts, 1800, handle, patience)
    n = max(1, math.floor(demand.load) + 1 + extra)
    fewer, more = figures(demand, n, 20), figures(demand, n + 1, 20)
    assert more.service_level >= fewer.service_level - 1e-9
    assert more.waiting_probability <= fewer.waiting_probability + 1e-9
    assert more.asa_s <= fewer.asa_s + 1e-9
    assert 0 <= more.service_level <= 1 and 0 <= more.occupancy <= 1


@settings(max_examples=40, deadline=None)
@given(contacts=st.integers(min_value=1, max_value=300), level=st.floats(min_value=0.5, max_value=0.95))
def test_required_is_the_smallest_meeting_the_target(contacts: int, level: float) -> None:
    demand, target = Demand(contacts, 1800, 240), ServiceTarget(20, level)
    staffing = required(demand, target)
    assert staffing.figures.service_level >= level
    if staffing.agents > math.floor(demand.load) + 1:
        assert figures(demand, staffing.agents - 1, 20).service_level < level


def test_the_calculator_prints_the_reference_staffing(capsys: pytest.CaptureFixture[str]) -> None:
    from cxstream.cli import main

    argv = ["staffing", "erlang", "--contacts", "100", "--interval", "30m", "--aht", "180s", "--answer-within", "20s",
            "--target", "0.8", "--shrinkage", "0.3", "--max-occupancy", "0.85"]  # fmt: skip
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["agents"], out["positions"]) == (14, 20)
    assert [round(out[k], 4) for k in ("service_level", "occupancy", "waiting_probability")] == [0.8884, 0.7143, 0.1741]
    assert round(out["asa_seconds"], 2) == 7.84 and "abandonment" not in out
    assert main([*argv[:-1], "0.70", "--json"]) == 0
    capped = json.loads(capsys.readouterr().out)
    assert (capped["agents"], capped["positions"]) == (15, 22)
    assert main([*argv, "--patience", "5m", "--agents", "14", "--json"]) == 0
    at14 = json.loads(capsys.readouterr().out)
    assert round(at14["waiting_probability"], 4) == 0.1453 and round(at14["abandonment"], 4) == 0.0140
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "agents            14" in text and "positions         20" in text and "88.8 %" in text


def test_the_calculator_refuses_bad_durations(capsys: pytest.CaptureFixture[str]) -> None:
    from cxstream.cli import main

    assert main(["staffing", "erlang", "--contacts", "100", "--aht", "3x"]) == 2
    assert "not a duration" in capsys.readouterr().err

"""Routing semantics, case by case as Alertmanager documents them: matchers, first match and ``continue``,
inheritance, grouping and its three timers, inhibition, silences, the default route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cxstream.domain.alerting.routing import (
    AggregationGroup,
    Dispatcher,
    InhibitRule,
    InhibitRuleSpec,
    Matcher,
    RootRouteSpec,
    Route,
    Silence,
    fingerprint,
    muted_by,
)
from cxstream.serde.catalog import SchemaCatalog

S, M = 1_000, 60_000
SCHEMAS = SchemaCatalog.from_dir(Path(__file__).resolve().parents[2] / "schemas").names()

TREE = yaml.safe_load("""
receiver: cx-operations
group_by: [metric, region]
group_wait: 30s
group_interval: 5m
repeat_interval: 4h
routes:
  - matchers: [owner=logistics]
    receiver: logistics
    routes:
      - matchers: [severity=CRITICAL, region=~emea|amer]
        receiver: logistics-oncall
        group_wait: 0s
  - matchers: [owner=customer-service]
    receiver: customer-service
    continue: true
  - matchers: [severity=CRITICAL]
    receiver: cx-operations-leads
    group_by: [...]
  - matchers: [owner=customer-service]
    receiver: never-reached
""")
ROOT = Route.build(RootRouteSpec.model_validate(TREE))


def receivers(**labels: str) -> list[str]:
    return [r.receiver for r in ROOT.match(labels)]


@pytest.mark.parametrize(
    ("text", "labels", "hit"),
    [
        ("tier=critical", {"tier": "critical"}, True),
        ("tier!=critical", {}, True),  # a missing label is ""
        ("region=~emea|amer", {"region": "emea"}, True),
        ("region=~emea", {"region": "emea-north"}, False),  # regexes are anchored
        ("region!~ap.*", {"region": "apac"}, False),
        ('team="field-service"', {"team": "field-service"}, True),
        ('site=""', {}, True),  # the empty value; a bare "site=" is refused, as in Alertmanager
    ],
)
def test_matchers(text: str, labels: dict[str, str], hit: bool) -> None:
    assert Matcher.parse(text).matches(labels) is hit


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("severity", "bad matcher format"),
        ("1abc=x", "bad matcher format"),
        ("region=~(emea", "error parsing regexp"),
        ("site=", "value is not present"),
    ],
)
def test_bad_matchers_are_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Matcher.parse(text)


def test_first_matching_child_wins_and_nested_routes_refine() -> None:
    assert receivers(owner="logistics", severity="WARNING", region="emea") == ["logistics"]
    assert receivers(owner="logistics", severity="CRITICAL", region="emea") == ["logistics-oncall"]
    assert receivers(owner="logistics", severity="CRITICAL", region="apac") == ["logistics"]
    # the logistics route matched and does not continue: the critical route below it is not reached
    assert "cx-operations-leads" not in receivers(owner="logistics", severity="CRITICAL")


def test_continue_lets_later_siblings_match_too() -> None:
    assert receivers(owner="customer-service", severity="CRITICAL") == ["customer-service", "cx-operations-leads"]
    assert receivers(owner="customer-service", severity="WARNING") == ["customer-service", "never-reached"]


def test_unmatched_alerts_take_the_default_route() -> None:
    assert receivers(owner="billing", severity="WARNING") == ["cx-operations"]
    dispatcher = Dispatcher(ROOT)
    dispatcher.receive({"owner": "billing", "metric": "csat"}, 0)
    assert dispatcher.unmatched == 1


def test_children_inherit_unset_settings() -> None:
    oncall = ROOT.match({"owner": "logistics", "severity": "CRITICAL", "region": "emea"})[0]
    assert oncall.group_by == ("metric", "region") and oncall.group_wait_ms == 0
    assert (oncall.group_interval_ms, oncall.repeat_interval_ms) == (5 * M, 240 * M)
    leads = ROOT.match({"severity": "CRITICAL"})[0]
    assert leads.group_by == ("...",) and leads.group_wait_ms == 30 * S


def test_group_keys() -> None:
    logistics = ROOT.match({"owner": "logistics"})[0]
    a = logistics.group_key({"metric": "csat", "region": "emea", "site": "ams-1"})
    b = logistics.group_key({"metric": "csat", "region": "emea", "site": "lis-1"})
    c = logistics.group_key({"metric": "csat", "region": "apac"})
    assert a == b != c
    leads = ROOT.match({"severity": "CRITICAL"})[0]
    assert leads.group_key({"severity": "CRITICAL", "site": "x"}) != leads.group_key({"severity": "CRITICAL"})


def alert(**labels: str) -> dict[str, str]:
    return {"owner": "logistics", "metric": "csat", "region": "emea", "severity": "WARNING", **labels}


def test_group_wait_gathers_then_group_interval_batches_changes_then_repeat() -> None:
    dispatcher = Dispatcher(ROOT)
    dispatcher.receive(alert(site="ams-1"), 0)
    dispatcher.receive(alert(site="lis-1"), 10 * S)
    assert dispatcher.due(29 * S) == []
    [first] = dispatcher.due(30 * S)
    assert first.receiver == "logistics" and len(first.firing) == 2 and not first.repeat
    dispatcher.receive(alert(site="waw-1"), 40 * S)
    assert dispatcher.due(5 * M) == []  # a change waits for the next group_interval tick
    [second] = dispatcher.due(5 * M + 30 * S)
    assert len(second.firing) == 3
    assert dispatcher.due(5 * M + 30 * S + 5 * M) == []  # unchanged, repeat_interval not over
    repeats = [n for t in range(2, 60) for n in dispatcher.due(30 * S + t * 5 * M)]
    assert len(repeats) == 1 and repeats[0].repeat and repeats[0].at_ms >= 5 * M + 30 * S + 240 * M


def test_resolved_alerts_are_reported_once_then_the_group_goes() -> None:
    dispatcher = Dispatcher(ROOT)
    dispatcher.receive(alert(), 0)
    dispatcher.due(30 * S)
    dispatcher.resolve(alert())
    [note] = dispatcher.due(30 * S + 5 * M)
    assert note.firing == () and len(note.resolved) == 1
    assert dispatcher.groups == {}
    assert dispatcher.due(30 * S + 10 * M) == []


INHIBIT = InhibitRule.build(
    InhibitRuleSpec(
        source_matchers=("severity=CRITICAL",), target_matchers=("severity=WARNING",), equal=("metric", "region")
    )
)


def test_critical_inhibits_warning_on_the_same_scope_only() -> None:
    critical = alert(severity="CRITICAL")
    assert INHIBIT.mutes(alert(), [critical])
    assert not INHIBIT.mutes(alert(region="apac"), [critical])
    assert not INHIBIT.mutes(alert(metric="nps"), [critical])
    both = InhibitRule.build(
        InhibitRuleSpec(source_matchers=("owner=logistics",), target_matchers=("owner=logistics",))
    )
    assert not both.mutes(alert(), [alert()])  # an alert does not inhibit itself
    assert not both.mutes(alert(site="ams-1"), [alert(site="lis-1")])  # nor its two-sided peers
    one_way = InhibitRule.build(InhibitRuleSpec(source_matchers=("owner=logistics",), target_matchers=("site=ams-1",)))
    assert one_way.mutes(alert(site="ams-1", owner="billing"), [alert(site="lis-1")])


def test_inhibited_alerts_are_held_back_until_the_source_resolves() -> None:
    dispatcher = Dispatcher(ROOT, [INHIBIT])
    dispatcher.receive(alert(severity="CRITICAL", owner="billing"), 0)
    dispatcher.receive(alert(), 0)
    notes = dispatcher.due(30 * S)
    assert [n.receiver for n in notes] == ["cx-operations-leads"]  # the warning is muted
    dispatcher.resolve(alert(severity="CRITICAL", owner="billing"))
    later = dispatcher.due(30 * S + 5 * M)
    assert {n.receiver for n in later} == {"cx-operations-leads", "logistics"}


def test_silences() -> None:
    silence = Silence("s1", (Matcher.parse("region=emea"),), 0, 60 * M, "ops-lead", "known carrier strike")
    assert silence.mutes(alert(), 10 * M) and not silence.mutes(alert(), 60 * M)
    assert not silence.mutes(alert(region="apac"), 10 * M)
    assert muted_by(alert(), [], [], [silence], 1) == "silenced:s1"
    for bad, why in (({"matchers": ()}, "matcher"), ({"ends_ms": 0}, "end after"), ({"comment": " "}, "says why")):
        args: dict[str, Any] = {"id": "x", "matchers": (Matcher.parse("a=b"),), "starts_ms": 0, "ends_ms": 1,
                                "created_by": "me", "comment": "why"}  # fmt: skip
        with pytest.raises(ValueError, match=why):
            Silence(**{**args, **bad})


def test_a_silenced_group_notifies_when_the_silence_ends() -> None:
    silence = Silence("s1", (Matcher.parse("owner=logistics"),), 0, 10 * M, "ops-lead", "maintenance")
    dispatcher = Dispatcher(ROOT, silences=[silence])
    dispatcher.receive(alert(), 0)
    assert dispatcher.due(30 * S) == []
    [note] = [n for t in range(1, 4) for n in dispatcher.due(30 * S + t * 5 * M)]
    assert note.at_ms >= 10 * M and len(note.firing) == 1


def test_the_root_route_takes_no_matchers_and_sets_the_timers() -> None:
    with pytest.raises(ValueError, match="no matchers"):
        RootRouteSpec.model_validate({"receiver": "x", "matchers": ["a=b"]})
    with pytest.raises(ValueError, match="not a duration"):
        RootRouteSpec.model_validate({"receiver": "x", "group_wait": "soon"})


labels_strategy = st.dictionaries(
    st.sampled_from(["owner", "severity", "region", "metric", "site"]),
    st.sampled_from(["logistics", "customer-service", "critical", "warning", "emea", "apac", "csat", ""]),
)


@given(labels=labels_strategy)
def test_every_alert_reaches_at_least_one_route_and_only_matching_ones(labels: dict[str, str]) -> None:
    routes = ROOT.match(labels)
    assert routes
    by_path = {}

    def index(route: Route) -> None:
        by_path[route.path] = route
        for child in route.routes:
            index(child)

    index(ROOT)
    for route in routes:
        parts = route.path.split(".")
        for end in range(1, len(parts) + 1):  # the route and all its ancestors match
            assert all(m.matches(labels) for m in by_path[".".join(parts[:end])].matchers)


@given(labels=labels_strategy)
def test_fingerprints_ignore_label_order(labels: dict[str, str]) -> None:
    assert fingerprint(labels) == fingerprint(dict(reversed(list(labels.items()))))
    group = AggregationGroup(ROOT, "k")
    group.add(labels, 0)
    group.add(dict(reversed(list(labels.items()))), 1)
    assert len(group.firing) == 1


def test_the_shipped_alerting_file_routes_each_owner_to_its_team(capsys: pytest.CaptureFixture[str]) -> None:
    from cxstream.cli import main

    assert main(["routes", "test", "owner=logistics", "severity=CRITICAL", "region=emea", "rule=r"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("logistics") and "cx.escalations.logistics" in out and "wait 0s" in out
    assert main(["routes", "test", "owner=marketing", "severity=WARNING"]) == 0
    out = capsys.readouterr().out
    assert "(default route)" in out and "no route tests for owner='marketing'" in out
    assert main(["routes", "show"]) == 0
    assert "owner=customer-service -> customer-service" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        (["severity=critical"], "did you mean severity=CRITICAL"),  # one spelling: refused, never routed by default
        (["owner=~team-A"], "=~ is for matchers"),  # not routed with the value "~team-A"
        (["owner!=billing"], "!= is for matchers"),
        (["kind=hot"], "kind is one of THRESHOLD, HOT_ALERT"),
        (['owner="team-A'], "unescaped double quote"),
    ],
)
def test_routes_test_refuses_what_is_not_a_label(
    labels: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cxstream.cli import main

    assert main(["routes", "test", *labels]) == 2
    assert why in capsys.readouterr().err


def test_routes_test_reads_quoted_values_marks_the_tree_and_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    from cxstream.cli import main

    assert main(["routes", "test", "--tree", 'owner="logistics"', "severity=CRITICAL", "region=emea"]) == 0
    out = capsys.readouterr().out
    marked = [line for line in out.splitlines() if line.startswith("*")]
    assert len(marked) == 1 and "severity=CRITICAL -> logistics" in marked[0]
    assert any(line.startswith("|") and "owner=logistics -> logistics" in line for line in out.splitlines())
    assert main(["routes", "test", "owner=logistics", "--verify-receivers", "logistics"]) == 0
    assert main(["routes", "test", "owner=logistics", "--verify-receivers", "billing"]) == 1
    assert "expected receivers ['billing'], got ['logistics']" in capsys.readouterr().out


def test_a_matcher_on_a_closed_set_that_can_never_match_is_refused() -> None:
    with pytest.raises(ValueError, match="did you mean severity=CRITICAL"):
        RootRouteSpec.model_validate({"receiver": "x", "routes": [{"matchers": ["severity=critical"]}]})
    with pytest.raises(ValueError, match="can never match"):
        RootRouteSpec.model_validate({"receiver": "x", "routes": [{"match_re": {"severity": "crit.*"}}]})
    RootRouteSpec.model_validate({"receiver": "x", "routes": [{"matchers": ["severity=~CRIT.*|WARNING"]}]})


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "receiver: billing",
            "receiver: finance",
            r"alerting.yaml:\d+: alerting.routing.route.routes\[0\].routes\[3\].receiver: no team 'finance'",
        ),
        (
            "drivers_any: [churn_risk, legal, safety]",
            "drivers_any: [churn_risk, lawsuit]",
            r"alerting.yaml:\d+: alerting.hot_alerts\[0\].when.drivers_any\[1\]: no verbatim driver 'lawsuit'",
        ),
        (
            "notify: director, receiver: cx-operations",
            "notify: director, receiver: board",
            r"alerting.escalation_policies\[0\].levels\[2\].receiver: no team 'board'",
        ),
        ("late_by_more_than: 5d", "late_by_more_than: five days", r"alerting.hot_alerts\[3\].when.late_by_more_than"),
        (
            "matchers: [severity=CRITICAL]\n      levels",
            'matchers: ["severity=~("]\n      levels',
            r"alerting.escalation_policies\[0\].matchers: .*error parsing regexp",
        ),
        ("metric: delivery_delay", "metric: delivery_time", r"alerting.thresholds\[1\].metric: no metric definition"),
        (
            "scope_by: [region]\n      warning: 12",
            "scope_by: [carrier]\n      warning: 12",
            r"does not keep dimension 'carrier'",
        ),
        ("matchers: [owner=billing]", "matchers: [owner=~(billing]", r"error parsing regexp"),
    ],
)
def test_alerting_mistakes_name_file_line_and_field(tmp_path: Any, old: str, new: str, message: str) -> None:
    _expect_config_error(tmp_path, "alerting.yaml", old, new, message)


def test_a_metric_claimed_by_two_teams_fails_with_both_claims(tmp_path: Any) -> None:
    from pathlib import Path

    lines = (Path(__file__).resolve().parents[2] / "topologies/metrics.yaml").read_text().splitlines()
    line = lines.index("    - id: csat.support") + 1
    message = (
        rf"metrics.yaml:{line}: metrics.definitions\[1\].id: metric 'csat.delivery' is claimed twice: by logistics "
        r"\(definitions\[0\]\) and by customer-service here"
    )
    _expect_config_error(tmp_path, "metrics.yaml", "    - id: csat.support", "    - id: csat.delivery", message)


def test_a_contact_policy_capped_by_an_unknown_label_fails_at_its_line(tmp_path: Any) -> None:
    message = r"cases.yaml:\d+: followup.contact_policy.cap_by\[0\]: invites carry no label 'country'"
    _expect_config_error(tmp_path, "cases.yaml", "cap_by: [region]", "cap_by: [country]", message)


def _expect_config_error(tmp_path: Any, name: str, old: str, new: str, message: str) -> None:
    import shutil
    from pathlib import Path

    from cxstream.config.topology import load_topology
    from cxstream.config.yaml_source import ConfigError

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(root / "examples")
    path = tmp_path / "topologies" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message):
        load_topology(tmp_path / "topologies", SCHEMAS)

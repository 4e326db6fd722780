"""Routing conformance with Prometheus Alertmanager, from its own test cases (translated, not copied):

* ``pkg/labels/parse_test.go``: the matcher grammar, valid inputs and the errors of invalid ones;
* ``dispatch/route_test.go``: ``TestRouteMatch`` (legacy ``match`` / ``match_re``), ``TestRouteMatchers``,
  ``TestRouteMatchersAndMatch`` and ``TestInheritParentGroupByAll``: which routes an alert takes and with
  which settings;
* ``notify/notify_test.go``: ``TestDedupStageNeedsUpdate``, when a group is notified again (with
  ``send_resolved`` true, the only mode here: team topics always get resolutions);
* ``config``: what a configuration may not say (zero intervals, ``group_by`` duplicates and ``...`` mixed);
* RE2 regex semantics (Go's ``regexp``), the cases where Python's ``re`` differs.

Deliberate differences are listed in docs/alerting.md ("Alertmanager compatibility")."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from cxstream.domain.alerting.matchers import Matcher, MatchOp, parse_matchers
from cxstream.domain.alerting.routing import (
    AggregationGroup,
    Dispatcher,
    InhibitRule,
    InhibitRuleSpec,
    RootRouteSpec,
    Route,
)
from cxstream.domain.durations import parse_duration_ms

S, M, H = 1_000, 60_000, 3_600_000
EQ, NE, RE, NRE = MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.REGEX, MatchOp.NOT_REGEX

# --- pkg/labels: the matcher grammar ----------------------------------------------------------------------------

PARSED = [
    ('{foo="bar"}', [("foo", EQ, "bar")]),
    ('{foo=~"bar.*"}', [("foo", RE, "bar.*")]),
    ('{foo!="bar"}', [("foo", NE, "bar")]),
    ('{foo!~"bar.*"}', [("foo", NRE, "bar.*")]),
    ('{foo="bar", baz!="quux"}', [("foo", EQ, "bar"), ("baz", NE, "quux")]),
    ('{foo="bar", baz!~"quux.*"}', [("foo", EQ, "bar"), ("baz", NRE, "quux.*")]),
    ('{foo="bar",baz!~".*quux", derp="wat"}', [("foo", EQ, "bar"), ("baz", NRE, ".*quux"), ("derp", EQ, "wat")]),
    ('{foo="bar", instance=~"some-api.*"}', [("foo", EQ, "bar"), ("instance", RE, "some-api.*")]),
    ('{foo=""}', [("foo", EQ, "")]),
    ('{foo="bar,quux", job="job1"}', [("foo", EQ, "bar,quux"), ("job", EQ, "job1")]),
    ('{foo = "bar", dings != "bums", }', [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    ("foo=bar,dings!=bums", [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    ('{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
     [("quote", EQ, 'She said: "Hi, ladies! That\'s gender-neutral…"')]),
    ('statuscode=~"5.."', [("statuscode", RE, "5..")]),
    ("tricky=~~~", [("tricky", RE, "~~")]),
    ('trickier==\\\\=\\=\\"', [("trickier", EQ, '=\\=\\="')]),
    ('contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
     [("contains_quote", NE, '"'), ("contains_comma", NRE, "foo,bar")]),
    ("a:b=c", [("a:b", EQ, "c")]),  # colons are allowed in label names, as in Prometheus
]  # fmt: skip

REFUSED = [
    ("job=", "matcher value is not present"),
    ('job="value', "unescaped double quote"),
    ('job=value"', "unescaped double quote"),
    ('trickier==\\\\=\\=\\""', "unescaped double quote"),
    ('contains_unescaped_quote = foo"bar', "unescaped double quote"),
    ('{invalid-name = "valid label"}', "bad matcher format"),
    ('{foo=~"invalid[regexp"}', "error parsing regexp"),
    ('"{foo=\\"bar"}', "bad matcher format"),
    ('"foo=\\"bar"', "bad matcher format"),
    ('"foo=\\"bar\\""', "bad matcher format"),
    ('"foo=\\"bar\\"', "bad matcher format"),
    ('"{foo=\\"bar\\"}"', "bad matcher format"),
    ('"foo="bar""', "bad matcher format"),
]


@pytest.mark.parametrize(("text", "want"), PARSED)
def test_the_matcher_grammar_reads_what_alertmanager_reads(text: str, want: list[tuple[str, MatchOp, str]]) -> None:
    assert [(m.label, m.op, m.value) for m in parse_matchers(text)] == want


@pytest.mark.parametrize(("text", "why"), REFUSED)
def test_the_matcher_grammar_refuses_what_alertmanager_refuses(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_matchers(text)


@pytest.mark.parametrize(("text", "want"), PARSED)
def test_a_matcher_prints_as_text_that_parses_back_to_it(text: str, want: list[tuple[str, MatchOp, str]]) -> None:
    for matcher in parse_matchers(text):
        assert Matcher.parse(str(matcher)) == matcher


def test_one_matcher_where_one_is_expected() -> None:
    with pytest.raises(ValueError, match="holds 2 matchers"):
        Matcher.parse('a="b",c="d"')  # never read as a="b\",c=\"d"


# --- RE2: Go's regexp, fully anchored ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "hit"),
    [
        ("a$", "a\n", False),  # Python's $ matches before a trailing newline; RE2's does not
        ("emea", "emea\n", False),
        (r"\d+", "١٢", False),  # \d is ASCII only (Arabic-Indic digits are not)
        (r"\w+", "é", False),  # so is \w
        ("[[:digit:]]+", "42", True),  # POSIX classes
        (r"\p{L}+", "é", True),  # Unicode classes
        ("x(?i)ab", "xAB", True),  # a flag in the middle applies from there on
        ("team-(B|C)", "team-B", True),
        ("team-(B|C)", "team-BC", False),  # anchored at both ends
        ("emea|apac", "emea-north", False),  # the alternation is anchored as a whole: ^(?:emea|apac)$
    ],
)
def test_regexes_behave_as_re2(pattern: str, value: str, hit: bool) -> None:
    assert Matcher("region", RE, pattern).matches({"region": value}) is hit
    assert Matcher("region", NRE, pattern).matches({"region": value}) is not hit


@pytest.mark.parametrize("pattern", ["a(?=b)", "a(?!b)", "(?<=a)b", r"(a)\1", r"\C", "(?P<x>a)(?P=x)", "a{1001}"])
def test_what_re2_refuses_is_refused_when_the_matcher_is_read(pattern: str) -> None:
    with pytest.raises(ValueError, match="error parsing regexp"):
        Matcher("region", RE, pattern)


# --- dispatch/route_test.go -------------------------------------------------------------------------------------

LEGACY_TREE = """
receiver: notify-def
routes:
- match: {owner: team-A}
  receiver: notify-A
  routes:
  - match: {env: testing}
    receiver: notify-testing
    group_by: ['...']
  - match: {env: production}
    receiver: notify-productionA
    group_wait: 1m
    continue: true
  - match_re: {env: produ.*, job: .*}
    receiver: notify-productionB
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
    group_by: [job]
- match_re: {owner: team-(B|C)}
  group_by: [foo, bar]
  group_wait: 2m
  receiver: notify-BC
- match: {group_by: role}
  group_by: [role]
  routes:
  - match: {env: testing}
    receiver: notify-testing
    routes:
    - match: {wait: long}
      group_wait: 2m
"""

MATCHERS_TREE = """
receiver: notify-def
routes:
- matchers: ['{owner="team-A"}', '{level!="critical"}']
  receiver: notify-A
  routes:
  - matchers: ['{env="testing"}', '{baz!~".*quux"}']
    receiver: notify-testing
    group_by: ['...']
  - matchers: ['{env="production"}']
    receiver: notify-productionA
    group_wait: 1m
    continue: true
  - matchers: [ env=~"produ.*", job=~".*"]
    receiver: notify-productionB
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
    group_by: [job]
- matchers: [owner=~"team-(B|C)"]
  group_by: [foo, bar]
  group_wait: 2m
  receiver: notify-BC
- matchers: [group_by="role"]
  group_by: [role]
  routes:
  - matchers: ['{env="testing"}']
    receiver: notify-testing
    routes:
    - matchers: [wait="long"]
      group_wait: 2m
"""

MIXED_TREE = MATCHERS_TREE.replace("""- matchers: ['{env="production"}']""", """- match: {env: production}""")
MIXED_TREE = MIXED_TREE.replace("""- matchers: [owner=~"team-(B|C)"]""", """- match_re: {owner: team-(B|C)}""")

DEFAULT = ((), 30 * S, 5 * M, 4 * H)
# labels -> [(receiver, group_by, group_wait, group_interval, repeat_interval)], Alertmanager's expected answers
EXPECTED: list[tuple[dict[str, str], list[tuple[str, tuple[str, ...], int, int, int]]]] = [
    ({"owner": "team-A"}, [("notify-A", *DEFAULT)]),
    ({"owner": "team-A", "env": "unset"}, [("notify-A", *DEFAULT)]),
    ({"owner": "team-C"}, [("notify-BC", ("foo", "bar"), 2 * M, 5 * M, 4 * H)]),
    ({"owner": "team-A", "env": "testing"}, [("notify-testing", ("...",), 30 * S, 5 * M, 4 * H)]),
    ({"owner": "team-A", "env": "production"},
     [("notify-productionA", (), 1 * M, 5 * M, 4 * H), ("notify-productionB", ("job",), 30 * S, 5 * M, 1 * H)]),
    ({"group_by": "role"}, [("notify-def", ("role",), 30 * S, 5 * M, 4 * H)]),
    ({"env": "testing", "group_by": "role"}, [("notify-testing", ("role",), 30 * S, 5 * M, 4 * H)]),
    ({"env": "testing", "group_by": "role", "wait": "long"}, [("notify-testing", ("role",), 2 * M, 5 * M, 4 * H)]),
]  # fmt: skip


def tree(text: str) -> Route:
    return Route.build(RootRouteSpec.model_validate(yaml.safe_load(text)))


@pytest.mark.parametrize("text", [LEGACY_TREE, MATCHERS_TREE, MIXED_TREE], ids=["match", "matchers", "both"])
@pytest.mark.parametrize(("labels", "want"), EXPECTED)
def test_routes_match_as_in_alertmanager(text: str, labels: dict[str, str], want: list[Any]) -> None:
    got = [
        (r.receiver, r.group_by, r.group_wait_ms, r.group_interval_ms, r.repeat_interval_ms)
        for r in tree(text).match(labels)
    ]
    assert got == want


def test_a_child_inherits_group_by_all_unless_it_sets_its_own() -> None:
    root = tree("""
receiver: def
routes:
- matchers: [env="parent"]
  group_by: ['...']
  routes:
  - matchers: [env="child1"]
  - matchers: [env="child2"]
    group_by: [foo]
""")
    parent = root.routes[0]
    assert parent.group_by == ("...",) and parent.routes[0].group_by == ("...",)
    assert parent.routes[1].group_by == ("foo",)


def test_legacy_match_maps_become_matchers() -> None:
    route = tree(LEGACY_TREE).routes[0].routes[2]
    assert [str(m) for m in route.matchers] == ["env=~produ.*", "job=~.*"]
    with pytest.raises(ValidationError, match="error parsing regexp"):
        RootRouteSpec.model_validate({"receiver": "x", "routes": [{"match_re": {"env": "(prod"}}]})
    with pytest.raises(ValidationError, match="invalid label name"):
        RootRouteSpec.model_validate({"receiver": "x", "routes": [{"match": {"bad-name": "x"}}]})


def test_legacy_inhibition_maps_become_matchers() -> None:
    rule = InhibitRule.build(InhibitRuleSpec.model_validate({
        "name": "critical mutes warning", "source_match": {"severity": "CRITICAL"},
        "target_match_re": {"severity": "WARNING|INFO"}, "equal": ["region"],
    }))  # fmt: skip
    warning = {"severity": "WARNING", "region": "emea"}
    assert rule.mutes(warning, [{"severity": "CRITICAL", "region": "emea"}])
    assert not rule.mutes(warning, [{"severity": "CRITICAL", "region": "apac"}])
    assert rule.name == "critical mutes warning"


# --- config: what Alertmanager refuses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "why"),
    [
        ({"group_interval": "0s"}, "cannot be zero"),
        ({"repeat_interval": "0s"}, "cannot be zero"),
        ({"group_by": ["...", "foo"]}, "wildcard group_by"),
        ({"group_by": ["foo", "foo"]}, "duplicated label 'foo'"),
        ({"group_by": ["bad-name"]}, "invalid label name"),
        ({"group_interval": "30s1h"}, "not a duration"),  # units in order, as Prometheus writes them
    ],
)
def test_configurations_alertmanager_refuses_are_refused(route: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        RootRouteSpec.model_validate({"receiver": "x", "routes": [route]})
    with pytest.raises(ValidationError, match=why):
        RootRouteSpec.model_validate({"receiver": "x", **route})


@pytest.mark.parametrize(
    ("text", "ms"), [("1y", 365 * 24 * H), ("0", 0), ("0s", 0), ("1h30m", 90 * M), ("2w1d", 15 * 24 * H), ("10ms", 10)]
)
def test_durations_are_prometheus_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_a_zero_group_wait_is_accepted() -> None:
    assert tree("receiver: x\ngroup_wait: 0s\n").group_wait_ms == 0


# --- notify: when a group is notified again ---------------------------------------------------------------------


def group(sent_firing: set[str] | None, sent_resolved: set[str] = set(), sent_ago: int = 9 * M) -> AggregationGroup:  # noqa: B006
    route = tree("receiver: x\nrepeat_interval: 10m\n")
    g = AggregationGroup(route, "k")
    if sent_firing is not None:
        g.sent_state, g.sent_resolved, g.last_sent_ms = frozenset(sent_firing), frozenset(sent_resolved), -sent_ago
    return g


@pytest.mark.parametrize(
    ("entry", "firing", "resolved", "notify"),
    [
        (None, {"2", "3", "4"}, set(), True),  # never notified: notify
        (None, set(), {"2", "3", "4"}, False),  # ... unless only resolved alerts
        (({"1", "2", "3"}, set(), 9 * M), {"2", "3", "4"}, set(), True),  # a new firing alert
        (({"1", "2", "3"}, set(), 9 * M), {"1", "2", "3"}, set(), False),  # identical, before repeat_interval
        (({"1", "2", "3"}, set(), 11 * M), {"1", "2", "3"}, set(), True),  # identical, after repeat_interval
        (({"1", "2", "3"}, set(), 10 * M), {"1", "2", "3"}, set(), False),  # exactly repeat_interval: not yet
        ((set(), {"1", "2", "3"}, 11 * M), set(), {"3", "4", "5"}, False),  # only resolved, receiver never knew
        (({"1", "2"}, {"3"}, 9 * M), {"1"}, {"2", "3"}, True),  # a new resolution (send_resolved)
        (({"1", "2"}, {"3"}, 9 * M), set(), {"1", "2", "3"}, True),  # everything resolved
        (({"1", "2"}, set(), 9 * M), {"1"}, set(), False),  # firing only shrank (the other one muted)
    ],
)
def test_a_group_is_notified_again_when_alertmanager_would(
    entry: tuple[set[str], set[str], int] | None, firing: set[str], resolved: set[str], notify: bool
) -> None:
    g = group(*entry) if entry is not None else group(None)
    assert (g.needs_update(frozenset(firing), frozenset(resolved), 0) is not None) is notify


def alert(name: str, **labels: str) -> dict[str, str]:
    return {"alertname": name, **labels}


def test_a_repeat_comes_at_the_first_tick_strictly_after_repeat_interval() -> None:
    """1 h repeat on 5 min ticks: first at 30 s, then reminders at 65 min 30 s, not at 60 min 30 s."""
    dispatcher = Dispatcher(tree("receiver: x\nrepeat_interval: 1h\n"))
    dispatcher.receive(alert("a"), 0)
    sent = [n for t in range(0, 200 * M, 30 * S) for n in dispatcher.due(t)]
    assert [n.at_ms for n in sent[:3]] == [30 * S, 65 * M + 30 * S, 130 * M + 30 * S]
    assert [n.repeat for n in sent[:3]] == [False, True, True]


def test_muted_alerts_are_left_out_before_the_comparison() -> None:
    """Two alerts notified; one gets silenced: the group's firing set only shrank, so nobody is notified."""
    from cxstream.domain.alerting.routing import Silence

    dispatcher = Dispatcher(tree("receiver: x\ngroup_by: [alertname]\n"))
    dispatcher.receive(alert("a", region="emea"), 0)
    dispatcher.receive(alert("a", region="apac"), 0)
    [first] = dispatcher.due(30 * S)
    assert len(first.firing) == 2
    dispatcher.silences = [Silence("s", (Matcher.parse("region=apac"),), 0, 10 * H, "me", "maintenance")]
    assert [n for t in range(1, 12) for n in dispatcher.due(30 * S + t * 5 * M)] == []  # until the repeat
    dispatcher.resolve(alert("a", region="emea"))
    [resolved] = dispatcher.due(30 * S + 12 * 5 * M)  # everything left is resolved: the receiver is told
    assert resolved.firing == () and [a["region"] for a in resolved.resolved] == ["emea"]


def test_a_group_whose_alert_resolves_reports_the_resolution_with_the_rest() -> None:
    dispatcher = Dispatcher(tree("receiver: x\ngroup_by: [alertname]\n"))
    dispatcher.receive(alert("a", region="emea"), 0)
    dispatcher.receive(alert("a", region="apac"), 0)
    dispatcher.due(30 * S)
    dispatcher.resolve(alert("a", region="apac"))
    [note] = dispatcher.due(30 * S + 5 * M)
    assert [a["region"] for a in note.firing] == ["emea"] and [a["region"] for a in note.resolved] == ["apac"]
    assert not note.repeat
    assert dispatcher.due(30 * S + 10 * M) == []  # a resolution is reported once


def test_route_labels_are_inherited_and_added_to_what_the_route_notifies() -> None:
    """Route-level labels (Alertmanager's newer ``labels`` on a route): a child inherits its parent's and may
    override them; the alerts a route notifies carry them, their own labels winning where both name one."""
    root = tree("""
receiver: x
labels: {pager: none, tier: default}
routes:
- matchers: [team="logistics"]
  receiver: logistics
  labels: {pager: logistics-oncall}
""")
    assert dict(root.routes[0].labels) == {"pager": "logistics-oncall", "tier": "default"}
    dispatcher = Dispatcher(root)
    dispatcher.receive(alert("a", team="logistics", tier="gold"), 0)
    [note] = dispatcher.due(30 * S)
    assert note.firing[0] == {"alertname": "a", "team": "logistics", "tier": "gold", "pager": "logistics-oncall"}
    with pytest.raises(ValidationError, match="invalid label name"):
        RootRouteSpec.model_validate({"receiver": "x", "labels": {"bad-name": "v"}})

"""Tokens, roles and scopes: who sees what and who may act, decided without any web server."""

from __future__ import annotations

import pytest

from cxstream.domain.access.principal import (
    MASK,
    Access,
    AccessSpec,
    Principal,
    Role,
    TokenSpec,
    masked,
    token_hash,
    tokens_from_env,
)


def spec(name: str, role: str, token: str, **scope: tuple[str, ...]) -> TokenSpec:
    return TokenSpec(name=name, role=Role(role), sha256=token_hash(token), **scope)


def test_tokens_are_known_by_their_hash_only() -> None:
    access = Access([spec("wall", "viewer", "s3cret", regions=("emea",))])
    assert access.authenticate("s3cret") == Principal("wall", Role.VIEWER, frozenset({"emea"}))
    assert access.authenticate("s3cret ") is None and access.authenticate(None) is None
    [from_env] = tokens_from_env('[{"name": "ops", "role": "admin", "token": "t0k"}]')
    assert from_env.sha256 == token_hash("t0k") and "t0k" not in from_env.model_dump_json()
    with pytest.raises(ValueError, match="needs name, role and token"):
        tokens_from_env('[{"name": "ops", "role": "admin"}]')
    twice = (spec("a", "viewer", "x"), spec("a", "admin", "y"))
    with pytest.raises(ValueError, match="unique"):
        AccessSpec(tokens=twice)


ROLES = {
    "viewer": Principal("v", Role.VIEWER, frozenset({"emea"})),
    "analyst": Principal("a", Role.ANALYST),
    "supervisor": Principal("s", Role.SUPERVISOR, teams=frozenset({"logistics"})),
    "admin": Principal("x", Role.ADMIN, frozenset({"emea"})),  # admins are never limited
}


@pytest.mark.parametrize(
    ("who", "region", "team", "sees", "acts"),
    [
        ("viewer", "emea", "logistics", True, False),
        ("viewer", "apac", "logistics", False, False),
        ("viewer", None, "logistics", True, False),  # no region on the record: not a regional record
        ("analyst", "apac", "logistics", True, False),
        ("supervisor", "apac", "logistics", True, True),
        ("supervisor", "emea", "customer-service", False, False),
        ("admin", "apac", "customer-service", True, True),
    ],
)
def test_scope_and_case_actions_by_role(who: str, region: str | None, team: str, sees: bool, acts: bool) -> None:
    principal = ROLES[who]
    assert principal.in_scope(region, team) is sees
    assert principal.may_act_on_case(team) is acts
    assert principal.may_silence is (who == "admin")


def test_personal_data_is_masked_for_roles_without_it() -> None:
    case = {"case_id": "case-1", "labels": {"customer_id": "C-7", "region": "emea", "kind": "HOT_ALERT"},
            "summary": "Detractor: 'I am cancelling'", "comment": "called back"}  # fmt: skip
    seen = masked(case, ROLES["viewer"])
    assert seen["labels"] == {"customer_id": MASK, "region": "emea", "kind": "HOT_ALERT"}
    assert seen["summary"] == MASK and seen["comment"] == MASK and case["labels"]["customer_id"] == "C-7"
    assert masked(case, ROLES["analyst"]) == case
    threshold = {"summary": "CSAT 61% (n=212, 95% CI 54-67%)", "labels": {"region": "emea"}}
    assert masked(threshold, ROLES["viewer"]) == threshold  # a scope's numbers are nobody's personal data


@pytest.mark.parametrize(
    ("who", "scope", "reads"),
    [
        ("viewer", {"region": "emea", "site": "ams-1"}, True),
        ("viewer", {"region": "apac", "site": "sin-1"}, False),
        ("viewer", {"team": "logistics"}, False),  # a metric not kept by region: not a region's to read
        ("analyst", {"region": "apac"}, True),
        ("supervisor", {"team": "logistics", "region": "apac"}, True),
        ("supervisor", {"team": "customer-service"}, False),
        ("supervisor", {"region": "emea"}, False),  # kept by region only: no team to read it by
        ("admin", {"region": "apac"}, True),
    ],
)
def test_metric_scopes_by_role(who: str, scope: dict[str, str], reads: bool) -> None:
    """What one worker hands another for a caller: the metric scopes the caller could read itself."""
    assert ROLES[who].reads_scope(scope) is reads


def test_a_metric_read_is_narrowed_to_the_tokens_scope() -> None:
    from cxstream.domain.access.principal import OutOfScope

    wall = Principal("wall", Role.VIEWER, frozenset({"emea"}))
    assert wall.narrow({}) == {"region": "emea"}  # one region: read when none is asked
    assert wall.narrow({"region": "emea", "site": "ams-1"}) == {"region": "emea", "site": "ams-1"}
    with pytest.raises(OutOfScope, match=r"wall reads region emea only: add \?region="):
        wall.narrow({"region": "apac"})
    two = Principal("leads", Role.SUPERVISOR, frozenset({"emea", "apac"}))
    with pytest.raises(OutOfScope, match="region apac, emea only"):
        two.narrow({})  # two regions: the query must say which
    assert Principal("ops", Role.ADMIN, frozenset({"emea"})).narrow({"region": "amer"}) == {"region": "amer"}
    assert Principal("analyst", Role.ANALYST).narrow({"team": "billing"}) == {"team": "billing"}


def test_silences_are_scoped_by_the_regions_and_teams_they_can_mute_and_masked() -> None:
    from datetime import UTC, datetime, timedelta

    from cxstream.domain.alerting.silences import new_silence as silence
    from cxstream.domain.alerting.silences import visible_silences

    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    end = start + timedelta(hours=2)
    amer = silence(["region=amer", "customer_id=C-881"], start, end, "j.devries", "calling the customer back")
    emea_or_apac = silence(["region=~emea|apac", "owner=logistics"], start, end, "j.devries", "depot strike")
    everywhere = silence(["rule=csat.delivery.low"], start, end, "j.devries", "known carrier outage")
    not_emea = silence(["region!=emea"], start, end, "j.devries", "x")
    every = [amer, emea_or_apac, everywhere, not_emea]
    shown = lambda who: [s["id"] for s in visible_silences(who, every)]  # noqa: E731

    assert shown(Principal("ops", Role.ADMIN)) == [s.id for s in every]
    wall = Principal("wall", Role.VIEWER, frozenset({"emea"}))
    assert shown(wall) == [emea_or_apac.id, everywhere.id]  # it cannot see the AMER one, nor the one sparing EMEA
    supervisor = Principal("s.cs", Role.SUPERVISOR, frozenset({"amer"}), frozenset({"customer-service"}))
    assert shown(supervisor) == [amer.id, everywhere.id, not_emea.id]  # logistics' silence is not theirs
    analyst = Principal("a", Role.ANALYST)
    [masked_row] = [s for s in visible_silences(wall, [everywhere, amer]) if s["id"] == everywhere.id]
    assert masked_row["comment"] == MASK and masked_row["created_by"] == "j.devries"
    [viewer_amer] = visible_silences(Principal("v", Role.VIEWER), [amer])
    assert viewer_amer["matchers"] == ["region=amer", f"customer_id={MASK}"] and viewer_amer["comment"] == MASK
    [analyst_amer] = visible_silences(analyst, [amer])
    assert analyst_amer["matchers"] == ["region=amer", "customer_id=C-881"]
    assert analyst_amer["comment"] == "calling the customer back"

"""Who may read and do what over the HTTP API: API tokens with a role and a scope.

Tokens are stored as SHA-256 hashes (``access.tokens`` in the topology, or ``CXSTREAM_API_TOKENS`` whose
plain tokens are hashed when read and then forgotten). A token names its holder, a role and optionally the
regions and teams it is limited to (none: all).

| role | reads | personal data (customer ids, verbatims) | case actions | silences |
| --- | --- | --- | --- | --- |
| viewer | in scope | masked | - | - |
| analyst | in scope | shown | - | - |
| supervisor | in scope | shown | on cases of their teams | - |
| admin | everything | shown | any case | add and expire |

A record is in scope when its region is one of the token's regions (or it has none) and its team is one of the
token's teams (or it has none). Pure: the web layer asks, this module answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cxstream.domain.base import Json, JsonObject


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


PII_ROLES = frozenset({Role.ANALYST, Role.SUPERVISOR, Role.ADMIN})
#: Record fields that identify a customer, and free text a customer wrote.
PII_FIELDS = frozenset({"customer_id", "account_id"})
TEXT_FIELDS = frozenset({"verbatim", "comment"})
MASK = "***"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$", description="who holds it: the actor of what it writes")
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the token, hex")
    regions: tuple[str, ...] = Field((), description="limited to these regions; empty: all")
    teams: tuple[str, ...] = Field((), description="limited to these teams; empty: all")


class AccessSpec(BaseModel):
    """``access:`` in the topology."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: tuple[TokenSpec, ...] = ()

    @field_validator("tokens")
    @classmethod
    def _unique(cls, value: tuple[TokenSpec, ...]) -> tuple[TokenSpec, ...]:
        names = [t.name for t in value]
        if len(set(names)) != len(names):
            raise ValueError("token names must be unique (they are the actors of what tokens write)")
        if len({t.sha256 for t in value}) != len(value):
            raise ValueError("two tokens share a hash")
        return value


def tokens_from_env(text: str) -> tuple[TokenSpec, ...]:
    """``CXSTREAM_API_TOKENS``: a JSON list of ``{"name", "role", "token", "regions"?, "teams"?}``; each token is
    hashed here and not kept."""
    items = json.loads(text)
    if not isinstance(items, list):
        raise ValueError("CXSTREAM_API_TOKENS must be a JSON list")
    out = []
    for item in items:
        if not isinstance(item, dict) or not item.get("token"):
            raise ValueError("each CXSTREAM_API_TOKENS entry needs name, role and token")
        fields = {k: v for k, v in item.items() if k != "token"}
        out.append(TokenSpec(**fields, sha256=token_hash(str(item["token"]))))
    return tuple(out)


class OutOfScope(ValueError):
    """A read asks for a region or team outside the token's scope."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    regions: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    @property
    def sees_pii(self) -> bool:
        return self.role in PII_ROLES

    def in_scope(self, region: str | None, team: str | None) -> bool:
        if self.role is Role.ADMIN:
            return True
        if self.regions and region and region not in self.regions:
            return False
        return not (self.teams and team and team not in self.teams)

    def reads_scope(self, values: Mapping[str, str]) -> bool:
        """Whether a metric scope (dimension -> value) is this principal's to read: a token limited to regions
        (teams) reads the scopes of those regions (teams) only, so only metrics kept by region (team)."""
        if self.role is Role.ADMIN:
            return True
        limits = (("region", self.regions), ("team", self.teams))
        return all(not allowed or values.get(dimension) in allowed for dimension, allowed in limits)

    def narrow(self, where: Mapping[str, str], kept: Collection[str] | None = None) -> dict[str, str]:
        """A metric query (dimension -> value) within this principal's scope: a token limited to one region
        (team) reads that region (team) when none is asked for; asking for another raises :class:`OutOfScope`.
        ``kept``: the dimensions the metric is kept by; a metric not kept by a dimension the token is limited by
        cannot be cut to the token's scope, so it is refused too. The one rule of every metric read (the API,
        the war-room snapshot and its stream, the cells asked of other workers)."""
        out = dict(where)
        if self.role is Role.ADMIN:
            return out
        for dimension, allowed in (("region", self.regions), ("team", self.teams)):
            if not allowed:
                continue
            if kept is not None and dimension not in kept:
                raise OutOfScope(f"{self.name} reads {dimension} {', '.join(sorted(allowed))} only, and this metric "
                                 f"is not kept by {dimension}")  # fmt: skip
            asked = out.get(dimension)
            if asked is None and len(allowed) == 1:
                out[dimension] = next(iter(allowed))
            elif asked not in allowed:
                raise OutOfScope(f"{self.name} reads {dimension} {', '.join(sorted(allowed))} only: add ?{dimension}=")
        return out

    def reaches(self, concerns: Callable[[str, str], bool]) -> bool:
        """Whether something that covers many scopes (a silence) is in this principal's scope: for each
        dimension the token is limited by, it concerns (``concerns(dimension, value)``) one of the token's
        values. The rule of :meth:`in_scope` for what has no single region and team."""
        if self.role is Role.ADMIN:
            return True
        limits = (("region", self.regions), ("team", self.teams))
        return all(not allowed or any(concerns(dimension, v) for v in allowed) for dimension, allowed in limits)

    def may_act_on_case(self, team: str | None) -> bool:
        if self.role is Role.ADMIN:
            return True
        return self.role is Role.SUPERVISOR and bool(team) and (not self.teams or team in self.teams)

    @property
    def may_silence(self) -> bool:
        return self.role is Role.ADMIN

    def describe(self) -> JsonObject:
        return {"name": self.name, "role": self.role.value, "regions": list[Json](sorted(self.regions)),
                "teams": list[Json](sorted(self.teams)), "pii": self.sees_pii}  # fmt: skip


class Access:
    def __init__(self, tokens: Iterable[TokenSpec]) -> None:
        self._by_hash = {t.sha256: t for t in tokens}

    def __len__(self) -> int:
        return len(self._by_hash)

    def by_hash(self, sha256: str) -> Principal | None:
        """The principal of a token known by its hash (a session names the hash, not the token)."""
        spec = self._by_hash.get(sha256)
        return None if spec is None else Principal(spec.name, spec.role, frozenset(spec.regions), frozenset(spec.teams))

    def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        digest = token_hash(token)
        for known, spec in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return Principal(spec.name, spec.role, frozenset(spec.regions), frozenset(spec.teams))
        return None


def masked(record: Mapping[str, object], principal: Principal) -> dict[str, object]:
    """The record as the principal may see it: customer ids and customers' words masked without PII permission
    (also inside ``labels``)."""
    out = dict(record)
    if principal.sees_pii:
        return out
    labels = out.get("labels")
    hot = isinstance(labels, Mapping) and labels.get("kind") == "HOT_ALERT"
    for key in (PII_FIELDS | TEXT_FIELDS | ({"summary"} if hot else set())) & out.keys():
        if out[key] is not None:
            out[key] = MASK  # a hot alert's summary quotes the customer
    if isinstance(labels, Mapping):
        out["labels"] = {k: (MASK if k in PII_FIELDS else v) for k, v in labels.items()}
    return out

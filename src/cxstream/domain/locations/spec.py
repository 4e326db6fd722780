"""What ``topologies/locations.yaml`` declares: the locations (sites, franchisees, vendors, outsourced centres) as
scopes with their type, parent region and owning team, and how variance across them is monitored."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.locations.spc import RULES


class SiteType(StrEnum):
    FULFILMENT = "fulfilment"
    CONTACT_CENTRE = "contact_centre"
    FIELD_SERVICE = "field_service"
    STORE = "store"
    FRANCHISE = "franchise"
    VENDOR = "vendor"
    OUTSOURCED = "outsourced"


class Location(Strict):
    site: str = Field(description="the site id (reference.sites): the region comes from there")
    type: SiteType
    owner: str = Field(description="the team its execution gaps go to")
    partner: str | None = Field(None, description="the franchisee, vendor or outsourcer running it")


class VarianceSpec(Strict):
    """Funnel plots across locations per closed day, and a control chart per location over the last days."""

    metrics: list[str] = Field(min_length=1, description="metric ids compared across locations (shares and NPS)")
    min_n: int = Field(30, ge=1, description="a location-day with fewer units is left out (insufficient sample)")
    chart_days: int = Field(28, ge=8, le=366, description="days on each location's control chart")
    alarm: float = Field(0.998, gt=0.9, lt=1, description="two-sided level of the funnel's outer limits")
    warning: float = Field(0.95, gt=0.5, lt=1, description="two-sided level of the inner limits")
    rules: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8], description="Nelson rules watched")
    severity: str = Field("WARNING", description="severity of an execution gap: WARNING or CRITICAL")

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: list[int]) -> list[int]:
        unknown = [r for r in value if r not in RULES]
        if unknown:
            raise ValueError(f"Nelson rules are 1-8, got {unknown[0]}")
        return sorted(set(value))

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        if value not in ("WARNING", "CRITICAL"):
            raise ValueError("WARNING or CRITICAL")
        return value

    @model_validator(mode="after")
    def _levels(self) -> VarianceSpec:
        if self.warning >= self.alarm:
            raise ValueError("the warning level must be below the alarm level")
        return self


class Locations(Strict):
    """``locations:`` in the topology."""

    sites: list[Location] = Field(min_length=2)
    variance: VarianceSpec

    @model_validator(mode="after")
    def _unique(self) -> Locations:
        ids = [s.site for s in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError("a site is declared twice")
        return self

    def location(self, site: str) -> Location | None:
        return next((s for s in self.sites if s.site == site), None)

"""Feedback from partners (franchisees, vendors, outsourced centres) on the steps of a playbook.

A partner portal, a form or a spreadsheet sends one JSON object per report (or an array of them)::

    {"feedback_id": "mnl-2026-118", "partner": "manila-cx", "site": "mnl-1",
     "playbook": "late-delivery-handling", "version": "2", "step": "notify",
     "issue": "The SMS notice goes out after our evening shift has left",
     "suggestion": "Send the notice at 15:00 local time", "severity": "high",
     "submitted_at": "2026-12-04T09:30:00Z"}

-> one PARTNER_FEEDBACK event, ``partners:<feedback_id>``; the issue is the event's comment, the rest its
attributes (``partner``, ``partner_type``, ``playbook``, ``version``, ``step``, ``severity``, ``suggestion``).

The partners are declared in the ``partners`` option (id -> name, type, the sites they run): feedback from an
undeclared partner, or about a site the partner does not run, is refused with the reason (``mapping.partner``,
``mapping.site``); a partner that runs one site may leave the site out. Severity is low, medium, high or
critical; the issue and the suggestion are at most 4,000 characters.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cxstream.connectors.base import Connector, ConnectorOptions, MappingError, RawContext
from cxstream.connectors.fields import each_record, opt_str, req_str, req_time
from cxstream.domain.base import Strict
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.domain.locations.feedback import TEXT_MAX, Severity


class Partner(Strict):
    name: str = Field(min_length=2, description="the name people read")
    type: Literal["franchise", "vendor", "outsourced"]
    sites: list[str] = Field(min_length=1, description="the sites it runs (reference.sites)")


class PartnersOptions(ConnectorOptions):
    partners: dict[str, Partner] = Field(default_factory=dict, description="partner id -> name, type and sites")


_SHAPES = (
    "a partner's feedback object (feedback_id, partner, playbook, step, issue, severity, submitted_at) or an array"
)


class PartnersConnector(Connector):
    name = "partners"
    description = "Partner feedback on playbook steps (franchisees, vendors, outsourced centres)"
    options_model = PartnersOptions
    options: PartnersOptions

    def record_key(self, payload: Any) -> str | None:
        if isinstance(payload, dict) and isinstance(payload.get("feedback_id"), str):
            return str(payload["feedback_id"])
        return None

    def map(self, payload: Any, context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        return each_record(payload, _SHAPES, lambda record: [self._one(record, context, raw)])

    def _one(self, record: dict[str, Any], context: RawContext, raw: bytes) -> CanonicalEvent:
        feedback_id = req_str(record, "feedback_id")
        partner_id = req_str(record, "partner")
        partner = self.options.partners.get(partner_id)
        if partner is None:
            known = ", ".join(sorted(self.options.partners)) or "none declared"
            raise MappingError(f"partner {partner_id!r} is not declared (partners: {known})", "mapping.partner")
        site = opt_str(record, "site")
        if site is None and len(partner.sites) == 1:
            site = partner.sites[0]
        if site is None:
            raise MappingError(f"site is required: {partner_id} runs {', '.join(partner.sites)}", "required.site")
        if site not in partner.sites:
            raise MappingError(f"{partner_id} does not run site {site!r} (it runs {', '.join(partner.sites)})",
                               "mapping.site")  # fmt: skip
        severity_text = req_str(record, "severity", lower=True)
        try:
            severity = Severity(severity_text)
        except ValueError:
            raise MappingError(f"severity must be one of {', '.join(s.value for s in Severity)}, got "
                               f"{severity_text!r}", "mapping.severity") from None  # fmt: skip
        issue = req_str(record, "issue")
        suggestion = opt_str(record, "suggestion")
        for name, text in (("issue", issue), ("suggestion", suggestion)):
            if text is not None and len(text) > TEXT_MAX:
                raise MappingError(f"{name} is {len(text)} characters, over {TEXT_MAX}", "mapping.length")
        attributes = {
            "partner": partner_id, "partner_type": partner.type, "playbook": req_str(record, "playbook"),
            "step": req_str(record, "step"), "severity": severity.value,
        }  # fmt: skip
        version = opt_str(record, "version")
        if version is not None:
            attributes["version"] = version
        if suggestion is not None:
            attributes["suggestion"] = suggestion
        return CanonicalEvent(
            event_id=f"partners:{feedback_id}", event_type=EventType.PARTNER_FEEDBACK,
            event_time=req_time(record, "submitted_at"), ingest_time=context.ingest_time, source=self.name,
            source_record_id=feedback_id, site=site, comment=issue, attributes=attributes,
            raw_payload=raw,
        )  # fmt: skip

"""What the API and the command line show of playbooks: the playbook a site runs, and a wave's report."""

from __future__ import annotations

from datetime import UTC, datetime

from cxstream.domain.base import Json, JsonObject
from cxstream.domain.locations.feedback import PartnerFeedback, StepFeedback, revision_ids
from cxstream.domain.locations.playbooks import EffectivePlaybook, FeedbackRule, WaveReport


def effective_json(effective: EffectivePlaybook) -> JsonObject:
    return {
        "playbook": effective.playbook, "version": effective.version, "language": effective.language,
        "adaptations": list(effective.adaptations),
        "steps": [{"id": s.id, "text": s.text} for s in effective.steps],
        "rules": {name: {"kind": r.kind.value, "value": r.value} for name, r in effective.rules.items()},
    }  # fmt: skip


def _points(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def wave_json(report: WaveReport) -> JsonObject:
    sites: list[Json] = [
        {"site": s.site, "before": _points(s.before), "after": _points(s.after), "n_before": s.n_before,
         "n_after": s.n_after, "difference": _points(s.difference)}
        for s in report.sites
    ]  # fmt: skip
    if report.pooled is None:
        summary = "not yet: no site has enough answers on both sides"
    else:
        low, high = 100 * (report.improved_low or 0), 100 * (report.improved_high or 0)
        share = f"{report.improved} of {report.compared} sites improved (95 % CI {low:.0f}-{high:.0f} %)"
        interval = f"{100 * (report.pooled_low or 0):+.1f} to {100 * (report.pooled_high or 0):+.1f}"
        summary = (
            f"{100 * report.pooled:+.1f} points across sites (95 % CI {interval}); spread between sites "
            f"tau {100 * (report.spread or 0):.1f} points; {share}"
        )
    return {
        "wave": report.wave, "metric": report.metric, "pooled": _points(report.pooled),
        "pooled_low": _points(report.pooled_low), "pooled_high": _points(report.pooled_high),
        "spread": _points(report.spread), "improved": report.improved, "compared": report.compared,
        "summary": summary, "sites": sites,
    }  # fmt: skip


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def report_json(report: PartnerFeedback) -> JsonObject:
    return {
        "feedback_id": report.feedback_id, "partner": report.partner, "partner_type": report.partner_type,
        "version": report.version, "site": report.site, "region": report.region, "issue": report.issue,
        "suggestion": report.suggestion, "severity": report.severity.value,
        "submitted_at": _iso(report.submitted_ms),
    }  # fmt: skip


def step_json(step: StepFeedback, revision: StepFeedback | None, states: dict[str, str]) -> JsonObject:
    """One step's feedback as shown; ``revision``: the step judged over every report (a scoped reader sees its
    own region's reports, but whether a revision is due is decided on all of them); ``states``: the state of
    the remediation items and governance proposals known, by id."""
    judged = revision or step
    item_id = proposal_id = None
    if judged.current_version is not None:
        item_id, proposal_id = revision_ids(step.playbook, judged.current_version, step.step)
    return {
        "playbook": step.playbook, "step": step.step, "declared": step.declared,
        "current_version": step.current_version, "reports": step.reports, "counted": step.counted,
        "partners": list(step.partners), "sites": list(step.sites), "severities": dict(step.severities),
        "versions": dict(step.versions), "first_at": _iso(step.first_ms), "last_at": _iso(step.last_ms),
        "revision_due": judged.due, "why": judged.why,
        "remediation_item": {"id": item_id, "state": states.get(item_id)} if item_id and item_id in states else None,
        "proposal": {"id": proposal_id, "state": states.get(proposal_id)}
        if proposal_id and proposal_id in states else None,
        "latest": [report_json(r) for r in step.latest],
    }  # fmt: skip


def rule_json(rule: FeedbackRule) -> JsonObject:
    return {"reports": rule.reports, "partners": rule.partners, "critical_alone": rule.critical_alone,
            "window": rule.window, "committee": rule.committee}  # fmt: skip

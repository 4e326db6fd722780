"""What the API and the command line show of playbooks: the playbook a site runs, and a wave's report."""

from __future__ import annotations

from cxstream.domain.base import Json, JsonObject
from cxstream.domain.locations.playbooks import EffectivePlaybook, WaveReport


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

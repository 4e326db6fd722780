"""Partner feedback on playbook steps: franchisees, vendors and outsourced centres say where a step does not work
and what they would change (playbook, version, step, site, issue, suggestion, severity). It arrives like any
source (the ``partners`` connector, through the webhook or a file import) and becomes a canonical event; the
worker republishes it as a typed record on ``cx.partner-feedback``, which every worker folds here.

Aggregated per playbook step, the reports on the step's current version decide when a revision is due: enough
reports from enough different partners within the window, or one critical report. A due step proposes a
remediation item (source ``partner-feedback``) and a ``playbook_revision`` before the governance committee, both
with ids derived from the playbook, its version and the step, so a step is proposed once per version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from cxstream.domain.base import Record, as_str, as_time, digest, opt_str, to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.domain.locations import governance as gov
from cxstream.domain.locations.playbooks import FeedbackRule, Playbook, Playbooks
from cxstream.domain.remediation.items import Action, ItemAction

SOURCE = "partner-feedback"  # the remediation item's source
ACTOR = "system:partner-feedback"
#: the attributes of a canonical PARTNER_FEEDBACK event, as the ``partners`` connector writes them
ATTRIBUTES = ("partner", "partner_type", "playbook", "version", "step", "severity", "suggestion")
TEXT_MAX = 4000


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rating(self) -> int:
        """The remediation item's severity (1-10) a report of this severity stands for."""
        return {"low": 3, "medium": 5, "high": 7, "critical": 9}[self.value]


class FeedbackError(ValueError):
    """A PARTNER_FEEDBACK event without what partner feedback needs; names the field."""


@dataclass(frozen=True)
class PartnerFeedback:
    feedback_id: str
    event_id: str
    partner: str
    playbook: str
    step: str
    issue: str
    severity: Severity
    submitted_ms: int
    partner_type: str | None = None
    version: str | None = None  # the version the partner runs; None: not said (counted as the current one)
    site: str | None = None
    region: str | None = None
    suggestion: str | None = None

    @classmethod
    def from_event(cls, event: CanonicalEvent) -> PartnerFeedback:
        if event.event_type is not EventType.PARTNER_FEEDBACK:
            raise FeedbackError(f"{event.event_id} is a {event.event_type.value} event, not partner feedback")
        a = event.attributes

        def need(name: str) -> str:
            value = (a.get(name) or "").strip()
            if not value:
                raise FeedbackError(f"partner feedback {event.event_id}: attributes.{name} is required")
            return value

        issue = (event.comment or "").strip()
        if not issue:
            raise FeedbackError(f"partner feedback {event.event_id}: the issue (comment) is required")
        try:
            severity = Severity(need("severity").lower())
        except ValueError:
            raise FeedbackError(f"partner feedback {event.event_id}: attributes.severity must be one of "
                                f"{', '.join(s.value for s in Severity)}") from None  # fmt: skip
        return cls(
            feedback_id=event.source_record_id, event_id=event.event_id, partner=need("partner"),
            playbook=need("playbook"), step=need("step"), issue=issue, severity=severity,
            submitted_ms=to_ms(event.event_time), partner_type=a.get("partner_type") or None,
            version=a.get("version") or None, site=event.site, region=event.region,
            suggestion=(a.get("suggestion") or "").strip() or None,
        )  # fmt: skip

    def record(self) -> Record:
        """The ``cx.partner-feedback`` record (schema ``cxstream.PartnerFeedback``)."""
        return {
            "feedback_id": self.feedback_id, "event_id": self.event_id, "partner": self.partner,
            "partner_type": self.partner_type, "playbook": self.playbook, "version": self.version,
            "step": self.step, "site": self.site, "region": self.region, "issue": self.issue,
            "suggestion": self.suggestion, "severity": self.severity.value,
            "submitted_at": datetime.fromtimestamp(self.submitted_ms / 1000, UTC),
        }  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> PartnerFeedback:
        def text(name: str) -> str | None:
            return opt_str(record.get(name), name)

        return cls(
            feedback_id=as_str(record["feedback_id"], "feedback_id"), event_id=as_str(record["event_id"], "event_id"),
            partner=as_str(record["partner"], "partner"), playbook=as_str(record["playbook"], "playbook"),
            step=as_str(record["step"], "step"), issue=as_str(record["issue"], "issue"),
            severity=Severity(as_str(record["severity"], "severity")),
            submitted_ms=to_ms(as_time(record["submitted_at"], "submitted_at")), partner_type=text("partner_type"),
            version=text("version"), site=text("site"), region=text("region"), suggestion=text("suggestion"),
        )  # fmt: skip


@dataclass(frozen=True)
class StepFeedback:
    """One playbook step's feedback: every report counted, the current version's recent ones judged."""

    playbook: str
    step: str
    declared: bool  # the step is in the playbook's current version (a partner may name an old or unknown one)
    current_version: str | None  # None: the playbook is not declared
    reports: int  # every report on the step, all versions, all time
    counted: int  # reports on the current version within the window
    partners: tuple[str, ...]  # partners among the counted reports
    sites: tuple[str, ...]
    severities: Mapping[str, int]  # severity -> counted reports
    versions: Mapping[str, int]  # version said ("unspecified") -> reports
    first_ms: int
    last_ms: int
    latest: tuple[PartnerFeedback, ...]  # the most recent reports, newest first
    due: bool
    why: str  # why a revision is or is not due, in words

    @property
    def worst(self) -> Severity | None:
        found = [s for s in Severity if self.severities.get(s.value)]
        return found[-1] if found else None


def _judge(counted: list[PartnerFeedback], rule: FeedbackRule, declared: bool) -> tuple[bool, str]:
    partners = {f.partner for f in counted}
    if not declared:
        return False, "the step is not in the playbook's current version"
    if rule.critical_alone and any(f.severity is Severity.CRITICAL for f in counted):
        return True, "a critical report"
    if len(counted) >= rule.reports and len(partners) >= rule.partners:
        return True, f"{len(counted)} reports from {len(partners)} partners (rule: {rule.reports} from {rule.partners})"
    return False, (f"{len(counted)} of {rule.reports} reports from {len(partners)} of {rule.partners} partners "
                   f"within {rule.window}")  # fmt: skip


@dataclass
class FeedbackBook:
    """Every partner report folded from ``cx.partner-feedback``; the latest record of a feedback id wins, as the
    topic's compaction keeps it."""

    reports: dict[str, PartnerFeedback] = field(default_factory=dict)

    def add(self, feedback: PartnerFeedback) -> bool:
        """Whether the report is new."""
        new = feedback.feedback_id not in self.reports
        self.reports[feedback.feedback_id] = feedback
        return new

    def steps(self, spec: Playbooks, now_ms: int,
              keep: Callable[[PartnerFeedback], bool] | None = None) -> list[StepFeedback]:  # fmt: skip
        """Per playbook step with reports (those ``keep`` keeps), most pressing first (due, then worst severity,
        then counted)."""
        grouped: dict[tuple[str, str], list[PartnerFeedback]] = {}
        for report in self.reports.values():
            if keep is not None and not keep(report):
                continue
            grouped.setdefault((report.playbook, report.step), []).append(report)
        rule = spec.feedback
        out = []
        for (playbook_id, step), found in grouped.items():
            playbook = spec.playbook(playbook_id)
            current = playbook.version if playbook is not None else None
            declared = playbook is not None and any(s.id == step for s in playbook.steps)
            counted = [f for f in found if f.version in (None, current) and f.submitted_ms >= now_ms - rule.window_ms]
            due, why = _judge(counted, rule, declared)
            newest = sorted(found, key=lambda f: (f.submitted_ms, f.feedback_id), reverse=True)
            out.append(StepFeedback(
                playbook=playbook_id, step=step, declared=declared, current_version=current, reports=len(found),
                counted=len(counted), partners=tuple(sorted({f.partner for f in counted})),
                sites=tuple(sorted({f.site for f in counted if f.site})),
                severities=dict(Counter(f.severity.value for f in counted)),
                versions=dict(Counter(f.version or "unspecified" for f in found)),
                first_ms=min(f.submitted_ms for f in found), last_ms=max(f.submitted_ms for f in found),
                latest=tuple(newest[: rule.shown]), due=due, why=why,
            ))  # fmt: skip
        rank = {s: i for i, s in enumerate(Severity)}
        return sorted(out, key=lambda s: (not s.due, -rank.get(s.worst, -1) if s.worst else 1, -s.counted,
                                          s.playbook, s.step))  # fmt: skip


@dataclass(frozen=True)
class Revision:
    """What a due step proposes: a remediation item and a playbook revision before the committee."""

    item: Action
    proposal: gov.Action | None


def summary(step: StepFeedback) -> str:
    worst = ", ".join(f"{n} {s}" for s, n in sorted(step.severities.items(), key=lambda kv: -kv[1]))
    text = (f"{step.counted} reports on version {step.current_version} from {len(step.partners)} partners "
            f"({', '.join(step.partners)}) at {len(step.sites)} sites ({worst})")  # fmt: skip
    suggestions = [f"{f.partner}: {f.suggestion}" for f in step.latest if f.suggestion]
    if suggestions:
        text += "; suggested: " + " | ".join(suggestions[:3])
    return text


def revision_ids(playbook: str, version: str, step: str) -> tuple[str, str]:
    """(remediation item id, governance proposal id) of a step's revision of one version."""
    key = digest(f"{playbook}|{version}|{step}")
    return f"rem-pfb-{key}", f"prop-pfb-{key}"


def revision_for(step: StepFeedback, playbook: Playbook, committee: str | None, at_ms: int) -> Revision:
    """The actions a due step proposes (ids from the playbook, its version and the step)."""
    key = digest(f"{playbook.id}|{playbook.version}|{step.step}")
    item_id, proposal_id = revision_ids(playbook.id, playbook.version, step.step)
    title = f"Revise {playbook.display} v{playbook.version}, step {step.step} (partner feedback)"
    scope = {"site": step.sites[0]} if len(step.sites) == 1 else {}
    rating = max((f.severity.rating for f in step.latest if f.version in (None, playbook.version)), default=5)
    note = summary(step)
    item = Action(
        action_id=f"pfb-{key}", item_id=item_id, action=ItemAction.PROPOSE, actor=ACTOR, at_ms=at_ms,
        title=title, source=SOURCE, labels=scope, severity=rating, comment=note,
    )  # fmt: skip
    proposal = None
    if committee is not None:
        proposal = gov.Action(
            action_id=f"pfb-gov-{key}", proposal_id=proposal_id, kind=gov.Kind.PROPOSE,
            actor=ACTOR, at_ms=at_ms, committee=committee, proposal_kind="playbook_revision", title=title,
            evidence=gov.Evidence(items=(item_id,), note=note), verified=False,
        )  # fmt: skip
    return Revision(item, proposal)


def deciding_committee(rule: FeedbackRule, spec: gov.Governance) -> str | None:
    if rule.committee is not None:
        return rule.committee
    found = next((c for c in spec.committees if "playbook_revision" in c.decides), None)
    return found.id if found is not None else None


def due_revisions(steps: Iterable[StepFeedback], spec: Playbooks, committee: str | None,
                  at_ms: int) -> list[Revision]:  # fmt: skip
    out = []
    for step in steps:
        playbook = spec.playbook(step.playbook)
        if step.due and playbook is not None:
            out.append(revision_for(step, playbook, committee, at_ms))
    return out

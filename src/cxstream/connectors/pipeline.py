"""One raw record through its connector and the validation rules: what to publish, or why not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cxstream.connectors.base import Connector, MappingError, RawContext
from cxstream.domain.ingest.dead_letter import Reason, Stage
from cxstream.domain.ingest.events import MANUAL_FLAG, CanonicalEvent
from cxstream.domain.ingest.validation import Finding, RuleAction, Validator


@dataclass(frozen=True)
class Outcome:
    """``events`` to publish (flags applied), or ``rejects`` with the stage that refused the record.

    A record is all-or-nothing: if any of its events is rejected, none is published, so that a replay after
    a fix re-creates all of them.
    """

    events: tuple[CanonicalEvent, ...] = ()
    rejects: tuple[Reason, ...] = ()
    stage: Stage | None = None
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def ignored(self) -> bool:
        return not self.events and not self.rejects


def normalize_record(
    connector: Connector,
    raw: bytes,
    context: RawContext,
    validator: Validator,
    enrich: Callable[[CanonicalEvent], CanonicalEvent] | None = None,
    history: bool = False,
) -> Outcome:
    """Map, enrich (journey tags, verbatim drivers), then validate (``history``: past records of a backfill,
    which the age horizon does not apply to)."""
    try:
        events = connector.normalize(raw, context)
    except MappingError as exc:
        stage = Stage.DECODE if exc.rule_id.startswith("decode.") else Stage.NORMALIZE
        return Outcome(rejects=(Reason(exc.rule_id, str(exc)),), stage=stage)
    if enrich is not None:
        events = [enrich(event) for event in events]
    kept: list[CanonicalEvent] = []
    rejects: list[Reason] = []
    all_findings: list[Finding] = []
    for event in events:
        findings = validator.check(event, manual=context.manual, history=history)
        all_findings.extend(findings)
        rejected = [f for f in findings if f.action is RuleAction.REJECT]
        if rejected:
            rejects.extend(Reason(f.rule_id, f"{event.event_id}: {f.message}") for f in rejected)
            continue
        flags = [f.flag for f in findings]
        if context.manual:
            flags.insert(0, MANUAL_FLAG)
        kept.append(event.with_flags(*flags) if flags else event)
    if rejects:
        return Outcome(rejects=tuple(rejects), stage=Stage.VALIDATE, findings=tuple(all_findings))
    return Outcome(events=tuple(kept), findings=tuple(all_findings))

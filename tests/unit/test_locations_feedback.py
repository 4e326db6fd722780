"""Partner feedback: the connector's refusals name the reason, a report survives Avro, reports per playbook step
make a revision due by the declared rule (current version, window, partners, a critical report alone), and a
due step proposes one remediation item and one governance proposal that the folds accept."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxstream.config.topology import load_topology
from cxstream.config.yaml_source import ConfigError
from cxstream.connectors.base import MappingError, RawContext
from cxstream.connectors.partners import PartnersConnector
from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.domain.locations.feedback import (
    FeedbackBook,
    FeedbackError,
    PartnerFeedback,
    Severity,
    deciding_committee,
    due_revisions,
    revision_ids,
)
from cxstream.domain.locations.governance import Register, State
from cxstream.domain.remediation.backlog import Backlog
from cxstream.domain.remediation.items import ItemState
from cxstream.serde.avro import AvroCodec, SingleObjectFraming
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = SchemaCatalog.from_dir(ROOT / "schemas")
TOPOLOGY = load_topology(ROOT / "topologies", CATALOG.names())
SPEC = TOPOLOGY.playbooks
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CONNECTOR = PartnersConnector(next(c.options for c in TOPOLOGY.connectors if c.name == "partners"))
SAMPLE = json.loads((ROOT / "examples/raw/partners/feedback.json").read_text())


def mapped(**changes: object) -> list[CanonicalEvent]:
    record = {**SAMPLE, **changes}
    record = {k: v for k, v in record.items() if v is not None}
    return CONNECTOR.normalize(json.dumps(record).encode(), RawContext(NOW))


def test_the_sample_becomes_a_partner_feedback_event_and_a_typed_report() -> None:
    (event,) = mapped()
    assert event.event_type is EventType.PARTNER_FEEDBACK and event.event_id == "partners:mnl-2026-118"
    assert event.site == "mnl-1" and event.comment is not None and event.comment.startswith("The SMS notice")
    report = PartnerFeedback.from_event(event)
    assert (report.partner, report.playbook, report.version, report.step) == ("manila-cx", "late-delivery-handling",
                                                                               "2", "notify")  # fmt: skip
    assert report.severity is Severity.HIGH and report.suggestion == "Send the delay notice at 15:00 local time"
    codec = AvroCodec(CATALOG.get("cxstream.PartnerFeedback"), SingleObjectFraming(CATALOG))
    assert PartnerFeedback.from_record(codec.decode(codec.encode(report.record()))) == report


@pytest.mark.parametrize(
    ("changes", "rule", "words"),
    [
        ({"partner": "acme"}, "mapping.partner", "partner 'acme' is not declared"),
        ({"partner": "swiftline", "site": "lis-1"}, "mapping.site", "swiftline does not run site 'lis-1'"),
        ({"partner": "swiftline", "site": None}, "required.site", "site is required"),
        ({"severity": "urgent"}, "mapping.severity", "severity must be one of low, medium, high, critical"),
        ({"issue": "x" * 4001}, "mapping.length", "issue is 4001 characters, over 4000"),
        ({"step": None}, "required.step", "step is required"),
        ({"submitted_at": "yesterday"}, "mapping.time", "submitted_at"),
    ],
)  # fmt: skip
def test_a_bad_report_is_refused_with_the_reason(changes: dict[str, object], rule: str, words: str) -> None:
    with pytest.raises(MappingError) as caught:
        mapped(**changes)
    assert caught.value.rule_id == rule and words in str(caught.value), caught.value


def test_a_partner_running_one_site_may_leave_it_out() -> None:
    (event,) = mapped(site=None)
    assert event.site == "mnl-1"


def test_an_event_without_what_feedback_needs_is_refused_naming_the_field() -> None:
    (event,) = mapped()
    bare = event.model_copy(update={"attributes": {k: v for k, v in event.attributes.items() if k != "step"}})
    with pytest.raises(FeedbackError, match=r"attributes\.step is required"):
        PartnerFeedback.from_event(bare)


def report(n: int, partner: str, *, step: str = "notify", severity: Severity = Severity.MEDIUM,
           version: str | None = "2", days_ago: float = 1, site: str = "mnl-1") -> PartnerFeedback:  # fmt: skip
    at = to_ms(NOW - timedelta(days=days_ago))
    return PartnerFeedback(f"fb-{n}", f"partners:fb-{n}", partner, "late-delivery-handling", step, f"issue {n}",
                           severity, at, "outsourced", version, site, "apac", f"suggestion {n}")  # fmt: skip


def test_a_revision_is_due_at_the_declared_reports_from_enough_partners() -> None:
    rule = SPEC.feedback
    assert (rule.reports, rule.partners, rule.window) == (3, 2, "90d")
    book = FeedbackBook()
    book.add(report(1, "manila-cx"))
    book.add(report(2, "manila-cx"))
    (step,) = book.steps(SPEC, to_ms(NOW))
    assert not step.due and step.why == "2 of 3 reports from 1 of 2 partners within 90d"
    book.add(report(3, "manila-cx"))
    assert not book.steps(SPEC, to_ms(NOW))[0].due  # three reports, one partner
    book.add(report(4, "swiftline", site="sin-1"))
    (step,) = book.steps(SPEC, to_ms(NOW))
    assert step.due and step.counted == 4 and step.partners == ("manila-cx", "swiftline")
    assert step.sites == ("mnl-1", "sin-1") and step.severities == {"medium": 4}
    assert [r.feedback_id for r in step.latest] == ["fb-4", "fb-3", "fb-2", "fb-1"]  # newest first


def test_old_versions_old_reports_and_unknown_steps_do_not_count() -> None:
    book = FeedbackBook()
    for n, partner in enumerate(["manila-cx", "swiftline", "sg-fulfil"]):
        book.add(report(n, partner, version="1"))  # an earlier version: already revised
        book.add(report(10 + n, partner, days_ago=120))  # outside the window
        book.add(report(20 + n, partner, step="escalate"))  # not a step of the playbook
    steps = {s.step: s for s in book.steps(SPEC, to_ms(NOW))}
    assert steps["notify"].reports == 6 and steps["notify"].counted == 0 and not steps["notify"].due
    assert steps["notify"].versions == {"1": 3, "2": 3}
    assert not steps["escalate"].declared and not steps["escalate"].due
    assert steps["escalate"].why == "the step is not in the playbook's current version"


def test_one_critical_report_is_enough_and_a_resent_report_replaces_its_first_reading() -> None:
    book = FeedbackBook()
    assert book.add(report(1, "manila-cx", step="rebook"))
    assert not book.steps(SPEC, to_ms(NOW))[0].due
    assert not book.add(report(1, "manila-cx", step="rebook", severity=Severity.CRITICAL))  # same id: replaced
    (step,) = book.steps(SPEC, to_ms(NOW))
    assert step.due and step.why == "a critical report" and step.reports == 1


def test_a_due_step_proposes_one_item_and_one_proposal_the_folds_accept() -> None:
    book = FeedbackBook()
    for n, partner in enumerate(["manila-cx", "swiftline", "sg-fulfil"]):
        book.add(report(n, partner, severity=Severity.HIGH if n == 0 else Severity.LOW, site=f"s-{n}"))
    committee = deciding_committee(SPEC.feedback, TOPOLOGY.governance)
    assert committee == "scaling-board"
    at = to_ms(NOW)
    (revision,) = due_revisions(book.steps(SPEC, at), SPEC, committee, at)
    again = due_revisions(book.steps(SPEC, at + 60_000), SPEC, committee, at + 60_000)[0]
    assert (revision.item.action_id, revision.item.item_id) == (again.item.action_id, again.item.item_id)
    item_id, proposal_id = revision_ids("late-delivery-handling", "2", "notify")
    assert revision.item.item_id == item_id and revision.proposal is not None
    assert revision.proposal.proposal_id == proposal_id and revision.proposal.evidence.items == (item_id,)
    backlog = Backlog(TOPOLOGY.remediation)  # type: ignore[arg-type]
    assert backlog.record(revision.item).refused is None
    assert backlog.record(again.item).refused is None  # the same action id: a replay, not a second proposal
    item = backlog.items[item_id]
    assert item.state is ItemState.PROPOSED and item.source == "partner-feedback" and item.severity == 7
    assert item.labels == {} and item.evidence == 1  # three sites: the central playbook, not one site
    assert "3 reports on version 2 from 3 partners" in (item.analysis or "")
    register = Register(TOPOLOGY.governance)
    assert register.record(revision.proposal) is None
    proposal = register.proposals[proposal_id]
    assert proposal.state is State.OPEN and proposal.kind == "playbook_revision" and not proposal.verified


def test_the_deciding_committee_must_decide_revisions(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    path = tmp_path / "topologies/playbooks.yaml"
    path.write_text(path.read_text().replace("  compare_days: 14", "  compare_days: 14\n  feedback: {committee: "
                                             "board-of-nobody}"))  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_topology(tmp_path / "topologies", CATALOG.names())
    assert any("feedback.committee" in p and "board-of-nobody" in p for p in caught.value.problems), caught.value

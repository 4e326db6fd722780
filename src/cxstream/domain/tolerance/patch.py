"""A proposal as a reviewed change: a unified diff of ``alerting.yaml`` (and of ``metrics.yaml`` for an SLA) that a
person reads, applies and commits. The rule's block is rewritten with the proposed levels, one override per
scope that differs from them, and an ``origin`` (when, from which data, by which method); the rest of the file
is left byte for byte. The patched rule is validated before the diff is shown, so a diff that applies loads."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from cxstream.domain.alerting.thresholds import ThresholdRule
from cxstream.domain.metrics.spec import MetricDefinition
from cxstream.domain.tolerance.proposals import RuleProposal, ScopeProposal


class PatchError(ValueError):
    pass


def _block(lines: list[str], item_id: str) -> tuple[int, int, int]:
    """First line, end (exclusive) and indentation of the list item ``- id: item_id``."""
    pattern = re.compile(rf"^(\s*)- id: ['\"]?{re.escape(item_id)}['\"]?\s*(#.*)?$")
    for i, line in enumerate(lines):
        found = pattern.match(line.rstrip("\n"))
        if found is None:
            continue
        indent = len(found.group(1))
        end = i + 1
        while end < len(lines):
            text = lines[end].rstrip("\n")
            if text.strip() and len(text) - len(text.lstrip()) <= indent:
                break
            end += 1
        while end > i + 1 and not lines[end - 1].strip():
            end -= 1  # blank lines before the next item stay where they are
        return i, end, indent
    raise PatchError(f"no item '- id: {item_id}' in the file")


def _render(item: Mapping[str, Any], indent: int) -> list[str]:
    text = yaml.safe_dump([dict(item)], sort_keys=False, default_flow_style=None, width=116, allow_unicode=True)
    return [" " * indent + line + "\n" for line in text.splitlines()]


def _levels(p: ScopeProposal) -> dict[str, float | int]:
    """The proposed levels as YAML numbers (a whole number without its ``.0``)."""
    pairs = (("warning", p.warning), ("critical", p.critical), ("clear", p.clear))
    return {k: int(v) if float(v).is_integer() else v for k, v in pairs if v is not None}


def _item(data: object, section: str, key: str, item_id: str) -> dict[str, Any]:
    items = data.get(section, {}).get(key, []) if isinstance(data, dict) else []
    for item in items or []:
        if isinstance(item, dict) and item.get("id") == item_id:
            return dict(item)
    raise PatchError(f"{section}.{key} has no item {item_id!r}")


def rule_patch(text: str, proposal: RuleProposal) -> str:
    """``alerting.yaml``'s text with the rule's levels, overrides and origin replaced."""
    rule = _item(yaml.safe_load(text), "alerting", "thresholds", proposal.rule)
    if proposal.overall.warning is None:
        raise PatchError(f"no levels proposed for {proposal.rule}: {proposal.overall.note}")
    base = _levels(proposal.overall)
    rule.update(base)
    proposed = []
    for scope in proposal.scopes:
        levels = _levels(scope)
        if levels and levels != base:
            proposed.append({"matchers": [f"{k}={v}" for k, v in scope.scope.items()], **levels})
    taken = {tuple(str(m) for m in o["matchers"]) for o in proposed}  # type: ignore[union-attr]
    kept = [o for o in rule.get("overrides", []) or [] if tuple(o.get("matchers") or ()) not in taken]
    rule.pop("overrides", None)
    rule.pop("origin", None)
    if proposed or kept:
        rule["overrides"] = [*proposed, *kept]
    rule["origin"] = proposal.origin.model_dump(exclude_none=True)
    ThresholdRule.model_validate(rule)  # a patch that would not load is never shown
    lines = text.splitlines(keepends=True)
    start, end, indent = _block(lines, proposal.rule)
    return "".join([*lines[:start], *_render(rule, indent), *lines[end:]])


def _duration(value: float, unit: str) -> str:
    minutes = value * {"h": 60, "min": 1}[unit]
    sign = "-" if minutes < 0 else ""
    minutes = abs(round(minutes))
    return f"{sign}{minutes // 60}h" if minutes % 60 == 0 and minutes else f"{sign}{minutes}m"


def sla_patch(text: str, proposal: RuleProposal) -> str | None:
    """``metrics.yaml``'s text with the metric's SLA and its origin, when the proposal has an SLA target."""
    sla = proposal.overall.sla
    if sla is None:
        return None
    item = _item(yaml.safe_load(text), "metrics", "definitions", proposal.metric)
    item["sla"] = _duration(sla, proposal.unit)
    origin = proposal.origin.model_copy(update={"method": "the customers' tolerance point over all scopes"})
    item["sla_origin"] = origin.model_dump(exclude_none=True)
    MetricDefinition.model_validate(item)
    lines = text.splitlines(keepends=True)
    start, end, indent = _block(lines, proposal.metric)
    return "".join([*lines[:start], *_render(item, indent), *lines[end:]])


def diff(name: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))  # fmt: skip

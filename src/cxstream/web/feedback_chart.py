"""Partner feedback per playbook step as a chart: one horizontal bar per step, stacked by severity (the reports
counted towards a revision: the current version, within the window), with the rule's report count drawn as a
dashed line and each bar's partners and sites named beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from cxstream.web.charts import DIM, TEXT, svg

SEVERITY_COLOURS = {"low": "#58a6ff", "medium": "#e3b341", "high": "#f0883e", "critical": "#f85149"}


@dataclass(frozen=True)
class StepBar:
    label: str  # e.g. "late-delivery-handling / notify"
    by_severity: Mapping[str, int]
    partners: int
    sites: int
    due: bool


def feedback_chart(title: str, rows: Sequence[StepBar], rule_reports: int, *, width: int = 900,
                   font: int = 14) -> str:  # fmt: skip
    """Each step: its name on one line, its bar below it (so long names never run into the bars)."""
    row = font * 3.6
    note_w = font * 16
    top0 = font * 3.4
    height = int(top0 + row * max(1, len(rows)) + font * 1.8)
    longest = max([rule_reports, *(sum(r.by_severity.values()) for r in rows)]) or 1
    scale = (width - note_w) / longest
    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)}</text>"]  # fmt: skip
    x = 0.0
    for name, colour in SEVERITY_COLOURS.items():
        parts.append(f'<rect x="{x:.1f}" y="{font * 1.9:.1f}" width="{font * 0.8:.1f}" height="{font * 0.8:.1f}" '
                     f'fill="{colour}"/><text x="{x + font:.1f}" y="{font * 2.65:.1f}" font-size="{font * 0.9:.1f}" '
                     f'fill="{DIM}">{name}</text>')  # fmt: skip
        x += font * 6
    if not rows:
        parts.append(f'<text x="0" y="{top0 + font:.1f}" font-size="{font}" fill="{DIM}">no partner feedback</text>')
    for i, r in enumerate(rows):
        top = top0 + i * row
        mark = " - revision due" if r.due else ""
        parts.append(f'<text x="0" y="{top + font * 1.1:.1f}" font-size="{font}" fill="{TEXT}">'
                     f"{escape(r.label)}{mark}</text>")  # fmt: skip
        left = 0.0
        total = 0
        for name, colour in SEVERITY_COLOURS.items():
            n = r.by_severity.get(name, 0)
            if not n:
                continue
            total += n
            parts.append(f'<rect class="bar sev-{name}" x="{left:.1f}" y="{top + font * 1.5:.1f}" '
                         f'width="{n * scale:.1f}" height="{font * 1.3:.1f}" fill="{colour}"><title>{escape(r.label)}'
                         f": {n} {name}</title></rect>")  # fmt: skip
            left += n * scale
        parts.append(f'<text x="{left + 6:.1f}" y="{top + font * 2.55:.1f}" font-size="{font}" fill="{DIM}">'
                     f"n={total} from {_count(r.partners, 'partner')}, {_count(r.sites, 'site')}</text>")  # fmt: skip
    rule_x = rule_reports * scale
    bottom = top0 + row * max(1, len(rows))
    parts.append(f'<line class="level" x1="{rule_x:.1f}" x2="{rule_x:.1f}" y1="{top0:.1f}" y2="{bottom:.1f}" '
                 f'stroke="{DIM}" stroke-width="2" stroke-dasharray="6 4"/><text x="{rule_x:.1f}" '
                 f'y="{bottom + font * 1.2:.1f}" text-anchor="middle" font-size="{font * 0.9:.1f}" fill="{DIM}">'
                 f"{rule_reports} reports: revision due (with enough partners)</text>")  # fmt: skip
    return svg(width, height, title, parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

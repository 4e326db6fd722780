"""A review pack as one self-contained HTML file: its style inline, its charts inline SVG, no script, nothing fetched;
it opens from a mail attachment or a shared drive as it does from the worker, and prints."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from cxstream.domain.impact.review import Measure, MetricLine, ReviewPack, period_text
from cxstream.domain.impact.views import state_of
from cxstream.web.charts import Level, Point, Series, trend

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1f2328; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
.meta { color: #59636e; font-size: .9rem; } h3 { font-size: 1rem; margin: 1rem 0 .2rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin-top: .5rem; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #d0d7de; vertical-align: top; }
th { color: #59636e; font-weight: normal; }
.up { color: #1a7f37; } .down { color: #cf222e; } .drift { color: #cf222e; font-weight: bold; }
.chart { margin: .6rem 0 1.2rem; } .chart svg { width: 100%; height: auto; background: #0d1117; border-radius: 6px; }
@media print { .chart svg { break-inside: avoid; } }
"""


def _pct(m: Measure) -> str:
    if m.value is None:
        return f"- (n={m.n:,})"
    interval = f", {100 * (m.low or 0):.1f}-{100 * (m.high or 0):.1f}" if m.low is not None else ""
    return f"{100 * m.value:.1f} % (n={m.n:,}{interval})"


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def _chart(line: MetricLine) -> str:
    points = tuple(Point(d, 100 * m.value if m.value is not None else None, 100 * m.low if m.low is not None else None,
                         100 * m.high if m.high is not None else None, m.n) for d, m in line.days)  # fmt: skip
    levels = [Level(f"target {100 * line.target.value:.1f}%", 100 * line.target.value, "target")] if line.target \
        else []  # fmt: skip
    return trend(f"{line.display} per day", "%", [Series(line.display, points)], levels, width=900, height=220,
                 font=14)  # fmt: skip


def render(pack: ReviewPack, names: dict[str, str] | None = None) -> str:
    where = ", ".join(f"{k} {(names or {}).get(v, v)}" for k, v in pack.scope.items()) or "everywhere"
    period = period_text(pack.start_ms, pack.end_ms)
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>CX review: {escape(where)}, "
             f"{escape(period)}</title><style>{STYLE}</style></head><body>",
             f"<h1>CX review: {escape(where)}</h1><div class=\"meta\">{escape(period)}, against the "
             f"{(pack.end_ms - pack.start_ms) // 86_400_000} days before; made "
             f"{escape(datetime.fromtimestamp(pack.generated_ms / 1000, UTC).strftime('%Y-%m-%d %H:%M UTC'))} "
             "from the metric history (closed days). Every value: n and its 95 % interval.</div>"]  # fmt: skip
    moved = pack.moved_most
    parts.append("<h2>What moved</h2>")
    if moved:
        parts.append("<ul>" + "".join(
            f"<li class=\"{'up' if ((m.change or 0) > 0) == m.higher_is_better else 'down'}\">{escape(m.display)}: "
            f"{m.change:+.1f} points {'better' if ((m.change or 0) > 0) == m.higher_is_better else 'worse'} "
            f"({escape(_pct(m.before))} before, {escape(_pct(m.now))} now; the intervals do not overlap)</li>"
            for m in moved) + "</ul>")  # fmt: skip
    else:
        parts.append("<p>No metric moved beyond its intervals.</p>")
    parts.append(
        "<h2>Metrics</h2><table><tr><th>metric</th><th>this period</th><th>the period before</th>"
        "<th>change</th><th>target in force</th><th>trend over the last weeks</th></tr>"
    )
    for m in pack.metrics:
        change = "-" if m.change is None else f"{m.change:+.1f} points"
        target = f"{100 * m.target.value:.1f} % ({escape(m.target.rationale)})" if m.target else "none set"
        flat = escape(f"{m.plateau.verdict}: {m.plateau.summary}") if m.plateau else "-"
        parts.append(f"<tr><td>{escape(m.display)}</td><td>{escape(_pct(m.now))}</td><td>{escape(_pct(m.before))}"
                     f"</td><td>{change}</td><td>{target}</td><td>{flat}</td></tr>")  # fmt: skip
    parts.append("</table>")
    for m in pack.metrics:
        if m.days:
            parts.append(
                f"<h3>{escape(m.display)}: {escape(m.label)} per day, % (the band: its 95 % interval)</h3>"
                f'<div class="chart" data-metric="{escape(m.metric)}">{_chart(m)}</div>'
            )
    parts.append("<h2>Changes rolled out</h2>")
    if pack.changes:
        parts.append("<table><tr><th>change</th><th>state</th><th>rolled out</th><th>verdicts</th></tr>" + "".join(
            f"<tr><td>{escape(c.title)} ({escape(c.item_id)})</td><td>{escape(c.state)}</td>"
            f"<td>{', '.join(_day(t) for t in c.rolled_out)}</td><td>{escape('; '.join(c.verdicts) or 'none yet')}"
            "</td></tr>" for c in pack.changes) + "</table>")  # fmt: skip
    else:
        parts.append("<p>None in this scope over this period or the one before.</p>")
    parts.append("<h2>Experiments</h2>")
    if pack.experiments:
        parts.append("<table><tr><th>experiment</th><th>metrics</th><th>arms</th><th>state</th><th>decision</th></tr>"
                     + "".join(
            f"<tr><td>{escape(e.title)}: {escape(e.hypothesis)}</td><td>{escape(', '.join(e.metrics))}</td>"
            f"<td>{escape(', '.join(a.name for a in e.arms))} by {escape(e.unit)}</td>"
            f"<td>{state_of(e, pack.generated_ms)}</td><td>{escape(e.decision or 'running')}</td></tr>"
            for e in pack.experiments) + "</table>")  # fmt: skip
    else:
        parts.append("<p>None ran over this period.</p>")
    parts.append("<h2>Audits</h2>")
    if pack.audits:
        parts.append("<table><tr><th>audit</th><th>period</th><th>verdict</th><th>finding</th></tr>" + "".join(
            f"<tr><td>{escape(r.audit)}</td><td>{_day(r.period_start_ms)} to {_day(r.period_end_ms - 86_400_000)}</td>"
            f"<td class=\"{'drift' if r.verdict == 'drift' else ''}\">{escape(r.verdict)}</td><td>{escape(r.summary)}"
            "</td></tr>" for r in pack.audits) + "</table>")  # fmt: skip
    else:
        parts.append("<p>No audit period of this scope closed in this period.</p>")
    parts.append("</body></html>")
    return "".join(parts)

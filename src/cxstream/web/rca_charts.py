"""The improvement loop's charts, drawn like every other chart of cxstream (:mod:`cxstream.web.charts`):

* :func:`pareto_chart`: a Pareto, the largest first, each bar with its count, share and the share's interval
  drawn as a whisker, the cumulative share as a line on its own axis with the 80 % mark;
* :func:`tree_chart`: a fault tree, top event above, gates (AND, OR) and basic events below, each basic event
  with its probability, where it comes from (observed with n, or an estimate) and its interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from cxstream.web.charts import DIM, GRID, LEVEL_COLOURS, SERIES_COLOURS, TEXT, svg


@dataclass(frozen=True)
class ParetoBar:
    label: str
    count: int
    share: float  # of the total, 0-1
    low: float
    high: float
    cumulative: float
    moved: str | None = None  # up or down when the test says the share moved


def pareto_chart(title: str, bars: Sequence[ParetoBar], total: int, *, width: int = 900, font: int = 14,
                 top_n: int = 8) -> str:  # fmt: skip
    shown = list(bars)[:top_n]
    left, right, top, bottom = font * 15, font * 7, font * 3.4, font * 2.2
    row = font * 2.1
    height = int(top + row * max(1, len(shown)) + bottom)
    plot = width - left - right

    def x(share: float) -> float:
        return left + max(0.0, min(1.0, share)) * plot

    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)} (n={total})</text>"]  # fmt: skip
    bottom_y = top + row * max(1, len(shown))
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top:.1f}" y2="{bottom_y:.1f}" stroke="{GRID}"/>'
                     f'<text x="{x(tick):.1f}" y="{bottom_y + font * 1.2:.1f}" text-anchor="middle" '
                     f'font-size="{font}" fill="{DIM}">{100 * tick:.0f}%</text>')  # fmt: skip
    mark = LEVEL_COLOURS["target"]
    parts.append(f'<line class="reference" x1="{x(0.8):.1f}" x2="{x(0.8):.1f}" y1="{top - 4:.1f}" y2="{bottom_y:.1f}" '
                 f'stroke="{mark}" stroke-dasharray="6 4"/><text x="{x(0.8):.1f}" y="{top - 8:.1f}" '
                 f'text-anchor="middle" font-size="{font}" fill="{mark}">80 % of all</text>')  # fmt: skip
    if not shown:
        parts.append(f'<text x="{left}" y="{top + font * 1.2:.1f}" font-size="{font}" fill="{DIM}">none</text>')
    line = []
    for i, b in enumerate(shown):
        y = top + i * row
        colour = LEVEL_COLOURS["critical"] if b.moved == "up" else SERIES_COLOURS[0]
        moved = {"up": " (up)", "down": " (down)"}.get(b.moved or "", "")
        parts.append(
            f'<text x="0" y="{y + font * 1.2:.1f}" font-size="{font}" fill="{TEXT}">{escape(_clip(b.label, 26))}</text>'
            f'<rect class="bar" data-label="{escape(b.label)}" x="{left}" y="{y + font * 0.3:.1f}" '
            f'width="{x(b.share) - left:.1f}" height="{font * 1.3:.1f}" fill="{colour}">'
            f"<title>{escape(b.label)}: {b.count} of {total}, {100 * b.share:.1f}% (95 % CI {100 * b.low:.1f} to "
            f"{100 * b.high:.1f}%){moved}</title></rect>"
            f'<line class="interval" x1="{x(b.low):.1f}" x2="{x(b.high):.1f}" y1="{y + font * 0.95:.1f}" '
            f'y2="{y + font * 0.95:.1f}" stroke="{TEXT}" stroke-width="2"/>'
            f'<text x="{x(max(b.high, b.share)) + 6:.1f}" y="{y + font * 1.2:.1f}" font-size="{font}" fill="{DIM}">'
            f"{b.count} ({100 * b.share:.0f}%){moved}</text>"
        )  # fmt: skip
        line.append((x(b.cumulative), y + font * 0.95))
    if len(line) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{a:.1f},{c:.1f}" for i, (a, c) in enumerate(line))
        parts.append(f'<path class="cumulative" d="{path}" fill="none" stroke="{SERIES_COLOURS[1]}" stroke-width="2" '
                     'stroke-dasharray="2 3"/>')  # fmt: skip
    for a, c in line:
        parts.append(f'<circle class="cumulative" cx="{a:.1f}" cy="{c:.1f}" r="{font * 0.25:.1f}" '
                     f'fill="{SERIES_COLOURS[1]}"/>')  # fmt: skip
    parts.append(f'<text x="{x(1.0):.1f}" y="{top - 8:.1f}" text-anchor="middle" font-size="{font}" '
                 f'fill="{SERIES_COLOURS[1]}">cumulative</text>')  # fmt: skip
    return svg(width, height, title, parts)


@dataclass(frozen=True)
class TreeNode:
    name: str
    label: str
    kind: str  # AND, OR or EVENT
    inputs: tuple[str, ...] = ()
    detail: str = ""  # basic events: probability, source, n, interval
    highlight: bool = False  # in the most likely cut set


def tree_chart(title: str, top: str, nodes: Sequence[TreeNode], *, width: int = 1100, font: int = 13) -> str:
    """The tree drawn level by level (a node at its deepest level, so a shared event is drawn once)."""
    by_name = {n.name: n for n in nodes}
    depth: dict[str, int] = {}

    def place(name: str, level: int) -> None:
        if depth.get(name, -1) >= level:
            return
        depth[name] = level
        for child in by_name[name].inputs:
            place(child, level + 1)

    place(top, 0)
    levels: dict[int, list[str]] = {}
    for name in sorted(depth, key=lambda n: (depth[n], n)):
        levels.setdefault(depth[name], []).append(name)
    box_w, box_h, gap_y = font * 13, font * 4.2, font * 3
    head = font * 2.4
    height = int(head + len(levels) * (box_h + gap_y))
    centre: dict[str, tuple[float, float]] = {}
    for level, names in levels.items():
        step = width / len(names)
        for i, name in enumerate(names):
            centre[name] = (step * (i + 0.5), head + level * (box_h + gap_y) + box_h / 2)
    parts = [f'<text class="chart-title" x="0" y="{font * 1.3:.1f}" font-size="{font}" fill="{TEXT}">'
             f"{escape(title)}</text>"]  # fmt: skip
    for node in nodes:
        if node.name not in centre:
            continue
        cx, cy = centre[node.name]
        for child in node.inputs:
            kx, ky = centre[child]
            parts.append(f'<line x1="{cx:.1f}" y1="{cy + box_h / 2:.1f}" x2="{kx:.1f}" y2="{ky - box_h / 2:.1f}" '
                         f'stroke="{GRID}" stroke-width="1.5"/>')  # fmt: skip
    for node in nodes:
        if node.name not in centre:
            continue
        cx, cy = centre[node.name]
        colour = LEVEL_COLOURS["critical"] if node.highlight else (SERIES_COLOURS[2] if node.kind != "EVENT"
                                                                  else SERIES_COLOURS[0])  # fmt: skip
        shape = "gate" if node.kind != "EVENT" else "event"
        parts.append(
            f'<g class="{shape}" data-node="{escape(node.name)}"><rect x="{cx - box_w / 2:.1f}" '
            f'y="{cy - box_h / 2:.1f}" width="{box_w:.1f}" height="{box_h:.1f}" '
            f'rx="{6 if node.kind == "EVENT" else 2}" fill="none" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{cx:.1f}" y="{cy - box_h / 2 + font * 1.2:.1f}" text-anchor="middle" font-size="{font}" '
            f'fill="{colour}">{escape(node.kind if node.kind != "EVENT" else "basic event")}</text>'
            + "".join(
                f'<text x="{cx:.1f}" y="{cy - box_h / 2 + font * (2.3 + 1.1 * k):.1f}" text-anchor="middle" '
                f'font-size="{font * 0.9:.1f}" fill="{TEXT if k == 0 else DIM}">{escape(_clip(text, 30))}</text>'
                for k, text in enumerate(t for t in (node.label, node.detail) if t)
            )
            + f"<title>{escape(node.label)}{': ' + escape(node.detail) if node.detail else ''}</title></g>"
        )  # fmt: skip
    return svg(width, height, title, parts)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"

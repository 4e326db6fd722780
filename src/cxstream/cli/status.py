"""``cxstream status``: one worker's lag, recovery state, tables and the last breach, from its ``/status``."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from cxstream.settings import Settings

EXIT_READY, EXIT_NOT_READY, EXIT_UNREACHABLE = 0, 1, 2


def fetch(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:  # 503 while not ready still carries the JSON
        return json.loads(exc.read())  # type: ignore[no-any-return]


def render(state: dict[str, Any], show_all: bool) -> list[str]:
    checks = state["checks"]
    lines = [
        f"worker {state['app_id']}: {'ready' if state['ready'] else 'NOT READY'} ("
        + "; ".join(f"{name}: {c['detail']}" for name, c in checks.items())
        + ")"
    ]
    recovery = state["recovery"]
    lines.append(
        f"recovery: {'completed' if recovery['completed'] else 'in progress'}; changelog records to apply: "
        f"{recovery['active_remaining']} active, {recovery['standby_remaining']} standby"
    )
    lag = [row for row in state["consumer_lag"] if row["lag"] is not None]
    total = sum(row["lag"] for row in lag)
    worst = max(lag, key=lambda row: row["lag"], default=None)
    summary = f"consumer lag: {total} records over {state['assigned_partitions']} assigned source partitions"
    if state.get("changelog_partitions"):
        summary += f" (and {state['changelog_partitions']} changelog partitions, read only to rebuild tables)"
    if worst is not None and worst["lag"]:
        summary += f" (most: {worst['lag']} on {worst['topic']}/{worst['partition']})"
    lines.append(summary)
    shown = [row for row in state["consumer_lag"] if show_all or row["lag"]]
    if shown:
        lines.append(f"  {'topic/partition':40} {'highwater':>10} {'committed':>10} {'lag':>8}")
        for row in shown:
            name = f"{row['topic']}/{row['partition']}"
            lines.append(f"  {name:40} {row['highwater']!s:>10} {row['committed']!s:>10} {row['lag']!s:>8}")
    tables = state["tables"]
    lines.append("tables: " + (", ".join(f"{name} {keys} keys" for name, keys in tables.items()) or "none"))
    last = state.get("last_breach")
    if "last_breach" not in state:
        lines.append("last breach: alerting is off in this topology")
    elif last is None and state.get("routing_here") is False:
        lines.append("last breach: the routing side runs on another worker (it holds the alerting control partition)")
    elif last is None:
        lines.append("last breach: none seen yet")
    else:
        at = datetime.fromtimestamp(last["at_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"last breach: {last['breach_id']} {last['status']} {last['severity']} {last['rule']} at {at}")
    return lines


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:

    url = args.url or f"{settings.local_url}/status"
    try:
        state = fetch(url, args.timeout)
    except (OSError, ValueError) as exc:
        print(f"cxstream: no worker answers at {url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if args.json:
        print(json.dumps(state, indent=2, sort_keys=True))
    else:
        print("\n".join(render(state, args.all)))
    return EXIT_READY if state["ready"] else EXIT_NOT_READY


def add_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="a worker's readiness, consumer lag, recovery, tables and last breach")
    p.add_argument("--url", default=None, help="the worker's /status URL (default: CXSTREAM_WEB_HOST/PORT)")
    p.add_argument("--all", action="store_true", help="every assigned partition, not only those behind")
    p.add_argument("--json", action="store_true", help="the raw JSON")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(handler=cmd_status)

"""``cxstream routes`` and ``silence``: the escalation routing tree, and silences on ``cx.silences``."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from cxstream.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    at_text,
    author,
    cluster,
    context,
    fail,
)
from cxstream.domain.catalog import Topics
from cxstream.settings import Settings

SILENCES_TOPIC = Topics.SILENCES


def _duration_text(ms: int) -> str:
    from cxstream.domain.durations import format_duration_ms

    return format_duration_ms(ms)


def _route_line(route: Any) -> str:
    matchers = ", ".join(str(m) for m in route.matchers) or "(everything)"
    kinds = (("muted", route.mute_intervals), ("active", route.active_intervals))
    times = "".join(f" {kind}={','.join(names)}" for kind, names in kinds if names)
    return (
        f"{matchers} -> {route.receiver}{' (continue)' if route.continue_ else ''}  "
        f"group_by={list(route.group_by)} wait={_duration_text(route.group_wait_ms)} "
        f"interval={_duration_text(route.group_interval_ms)} repeat={_duration_text(route.repeat_interval_ms)}{times}"
    )


def test_labels(items: list[str]) -> dict[str, str]:
    """``routes test`` labels: ``name=value`` in the matcher grammar (``owner="team A"`` is unquoted); a
    regex or negation is a matcher, not a label, and refused; a closed-set label (severity, kind) must hold
    one of its values. Raises ValueError saying what was expected and what was found."""
    from cxstream.domain.alerting.matchers import MatchOp, parse_matchers
    from cxstream.domain.alerting.routing import check_known_values

    labels: dict[str, str] = {}
    for item in items:
        try:
            found = parse_matchers(item)
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a label such as severity=CRITICAL ({exc})") from None
        for m in found:
            if m.op is not MatchOp.EQUAL:
                raise ValueError(f"{item!r}: routes test takes label values (name=value); {m.op.value} is for matchers")
        check_known_values(found)
        labels.update((m.label, m.value) for m in found)
    return labels


def cmd_routes(settings: Settings, args: argparse.Namespace) -> int:
    """``routes show``: the tree with inherited settings; ``routes test k=v ...``: where such a breach goes
    (like ``amtool config routes test``: ``--tree`` marks the path in the tree, ``--verify-receivers`` exits 1
    unless the receivers are exactly those)."""
    from cxstream.domain.alerting.routing import Route, untested_values
    from cxstream.domain.topology import ESCALATION_PREFIX

    ctx = context(settings)
    routing = ctx.topology.alerting.routing
    if routing is None:
        return fail("no alerting.routing section in the topology", EXIT_CONFIG)
    root, _ = routing.build()
    if args.action == "show":

        def show(route: Route, depth: int) -> None:
            print(f"{'  ' * depth}{_route_line(route)}")
            for child in route.routes:
                show(child, depth + 1)

        show(root, 0)
        return EXIT_OK
    try:
        labels = test_labels(args.labels)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    routes = root.match(labels)
    default = routes == [root] and bool(root.routes)
    if args.tree:
        on_path = {r.path for r in routes} | {".".join(r.path.split(".")[:end]) for r in routes
                                              for end in range(1, len(r.path.split(".")))}  # fmt: skip

        def marked(route: Route, depth: int) -> None:
            mark = "*" if route.path in {r.path for r in routes} else ("|" if route.path in on_path else " ")
            print(f"{mark} {'  ' * depth}{_route_line(route)}")
            for child in route.routes:
                marked(child, depth + 1)

        marked(root, 0)
        print()
    for route in routes:
        print(
            f"{route.receiver:20} {ESCALATION_PREFIX}{route.receiver:20} route {route.path}"
            f"{' (default route)' if default else ''}  group {route.group_key(labels)}  "
            f"wait {_duration_text(route.group_wait_ms)}, interval {_duration_text(route.group_interval_ms)}, "
            f"repeat {_duration_text(route.repeat_interval_ms)}"
        )
    for name, tests in untested_values(root, labels).items():
        shown = ", ".join(sorted({str(m) for m in tests}))
        print(f"note: no route tests for {name}={labels[name]!r}; the tree tests {shown}")
    if args.verify_receivers is not None:
        want = [r.strip() for r in args.verify_receivers.split(",") if r.strip()]
        got = [r.receiver for r in routes]
        if got != want:
            print(f"WARNING: expected receivers {want}, got {got}")
            return EXIT_FAILED
    return EXIT_OK


def _when(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cmd_silence(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.alerting.silences import (
        SilenceState,
        expired,
        latest,
        new_silence,
        silence_from_record,
        silence_record,
        state_of,
    )
    from cxstream.domain.base import from_ms
    from cxstream.domain.durations import parse_duration_ms
    from cxstream.kafka.tools import read_decoded, send_records

    reached = cluster(settings, "silence")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    codec = ctx.codec(SILENCES_TOPIC)
    now = datetime.now(UTC)
    if args.action == "add":
        try:
            starts = _when(args.start, now)
            ends = starts + timedelta(milliseconds=parse_duration_ms(args.duration))
            by = author(args.author)
            silence = new_silence(args.matchers, starts, ends, by, args.comment or "")
        except ValueError as exc:
            return fail(str(exc), EXIT_CONFIG)
        record = silence_record(silence, now, by)
        asyncio.run(send_records(options, SILENCES_TOPIC, [(silence.id.encode(), codec.encode(record))]))
        print(f"{silence.id}  {', '.join(str(m) for m in silence.matchers)}  until {at_text(ends)}")
        return EXIT_OK
    records, bad = asyncio.run(read_decoded(options, codec, SILENCES_TOPIC))
    current = latest(records)
    if args.action == "expire":
        found = current.get(args.id)
        if found is None:
            return fail(f"no silence {args.id!r}", EXIT_FAILED)
        if state_of(silence_from_record(found), now) is SilenceState.EXPIRED:
            print(f"{args.id} had already ended at {at_text(from_ms(silence_from_record(found).ends_ms))}")
            return EXIT_OK
        ended = expired(found, now, author(args.author))
        asyncio.run(send_records(options, SILENCES_TOPIC, [(args.id.encode(), codec.encode(ended))]))
        print(f"{args.id} expired")
        return EXIT_OK
    silences = [silence_from_record(r) for r in current.values()]
    shown = [s for s in silences if args.all or state_of(s, now) is not SilenceState.EXPIRED]
    if not shown:
        print("no silences" if not current else "no active or pending silences (--all shows expired ones)")
    else:
        print(f"{'id':16} {'state':8} {'starts':20} {'ends':20} {'by':14} matchers / comment")
        for s in sorted(shown, key=lambda s: s.ends_ms):
            print(
                f"{s.id:16} {state_of(s, now).value:8} {at_text(from_ms(s.starts_ms)):20} "
                f"{at_text(from_ms(s.ends_ms)):20} "
                f"{s.created_by[:14]:14} {', '.join(str(m) for m in s.matchers)}  # {s.comment}"
            )
    if bad:
        print(f"{bad} messages on {SILENCES_TOPIC} did not decode as Silence records")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("silence", help="mute alerts matching labels for a while: add, list or expire silences")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="add a silence, e.g. silence add region=emea rule=delivery.delay.high")
    a.add_argument("matchers", nargs="+", help="label matchers: name=value, name!=value, name=~regex, name!~regex")
    a.add_argument("--duration", default="1h", help="how long (default 1h), e.g. 30m, 2h, 1d")
    a.add_argument("--start", default=None, help="ISO time to start (default now)")
    a.add_argument("--author", default=None, help="who adds it (default the login name)")
    a.add_argument("--comment", required=True, help="why: required, e.g. the incident id")
    a = actions.add_parser("list", help="active and pending silences")
    a.add_argument("--all", action="store_true", help="also the expired ones")
    a = actions.add_parser("expire", help="end a silence now")
    a.add_argument("id", help="silence id (sil-...)")
    a.add_argument("--author", default=None, help="who ends it (default the login name)")
    p.set_defaults(handler=cmd_silence)

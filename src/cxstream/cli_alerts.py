"""``cxstream silence add|list|expire``: silences written to ``cx.silences`` on the cluster the workers use."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from datetime import UTC, datetime, timedelta
from typing import Any

from cxstream.domain.catalog import Topics
from cxstream.settings import Settings

SILENCES_TOPIC = Topics.SILENCES
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _fail(message: str, code: int) -> int:
    import sys

    print(f"cxstream: {message}", file=sys.stderr)
    return code


def _cluster(settings: Settings) -> tuple[Any, dict[str, Any]] | int:
    from cxstream.app import load_context
    from cxstream.kafka.connection import aiokafka_options

    ctx = load_context(settings)
    if settings.embedded:
        return _fail("CXSTREAM_KAFKA_BOOTSTRAP is not set: point it at the cluster the workers use", EXIT_CONFIG)
    return ctx, aiokafka_options(settings, settings.kafka_bootstrap)


def _when(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _author(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise ValueError("say who you are with --author") from None


def _text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def cmd_silence(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.alerting.silences import expired, latest, new_silence, silence_record, state_of
    from cxstream.domain.durations import parse_duration_ms
    from cxstream.kafka.tools import read_decoded, send_records

    cluster = _cluster(settings)
    if isinstance(cluster, int):
        return cluster
    ctx, options = cluster
    codec = ctx.codec(SILENCES_TOPIC)
    now = datetime.now(UTC)
    if args.action == "add":
        try:
            starts = _when(args.start, now)
            ends = starts + timedelta(milliseconds=parse_duration_ms(args.duration))
            author = _author(args.author)
            silence = new_silence(args.matchers, starts, ends, author, args.comment or "")
        except ValueError as exc:
            return _fail(str(exc), EXIT_CONFIG)
        record = silence_record(silence, now, author)
        asyncio.run(send_records(options, SILENCES_TOPIC, [(silence.id.encode(), codec.encode(record))]))
        print(f"{silence.id}  {', '.join(record['matchers'])}  until {_text(ends)}")
        return EXIT_OK
    records, bad = asyncio.run(read_decoded(options, codec, SILENCES_TOPIC))
    current = latest(records)
    if args.action == "expire":
        found = current.get(args.id)
        if found is None:
            return _fail(f"no silence {args.id!r}", EXIT_FAILED)
        if state_of(found, now).value == "expired":
            print(f"{args.id} had already ended at {_text(found['ends_at'])}")
            return EXIT_OK
        ended = expired(found, now, _author(args.author))
        asyncio.run(send_records(options, SILENCES_TOPIC, [(args.id.encode(), codec.encode(ended))]))
        print(f"{args.id} expired")
        return EXIT_OK
    shown = [r for r in current.values() if args.all or state_of(r, now).value != "expired"]
    if not shown:
        print("no silences" if not current else "no active or pending silences (--all shows expired ones)")
    else:
        print(f"{'id':16} {'state':8} {'starts':20} {'ends':20} {'by':14} matchers / comment")
        for r in sorted(shown, key=lambda r: r["ends_at"]):
            print(
                f"{r['silence_id']:16} {state_of(r, now).value:8} {_text(r['starts_at']):20} {_text(r['ends_at']):20} "
                f"{r['created_by'][:14]:14} {', '.join(r['matchers'])}  # {r['comment']}"
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

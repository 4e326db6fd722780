"""What every command shares: exit codes, error output, the loaded topology and the cluster check.

Exit status: 0 fine, 1 the cluster or data disagrees, 2 bad configuration."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from cxstream.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def fail(message: str, code: int) -> int:
    print(f"cxstream: {message}", file=sys.stderr)
    return code


def context(settings: Settings) -> Any:
    from cxstream.app import load_context

    return load_context(settings)


def require_cluster(settings: Settings, what: str) -> int | None:
    """None when a cluster is configured, else the exit code after saying so (these commands need the
    cluster the workers use; the embedded broker lives only as long as its ``cxstream run``)."""
    if settings.embedded:
        return fail(f"CXSTREAM_KAFKA_BOOTSTRAP is not set: {what} needs the cluster the workers use", EXIT_CONFIG)
    return None


def cluster(settings: Settings, what: str) -> tuple[Any, dict[str, Any]] | int:
    """The loaded context and the Kafka client options of the configured cluster, or the exit code."""
    from cxstream.kafka.connection import aiokafka_options

    ctx = context(settings)
    if (code := require_cluster(settings, what)) is not None:
        return code
    return ctx, aiokafka_options(settings, settings.kafka_bootstrap)


def author(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise ValueError("say who you are with --author") from None


def at_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

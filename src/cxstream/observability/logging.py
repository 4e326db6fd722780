"""structlog configured once: JSON lines in production, a readable console in development.

Standard-library loggers (Faust, aiokafka, mode) go through the same renderer, so one process writes
one format. Personal data never belongs in an event: log ids, hashed when they identify a customer.
"""

from __future__ import annotations

import hashlib
import logging
import logging.config
from collections.abc import MutableMapping
from typing import Any

import structlog

from cxstream.settings import Settings

#: Fields that identify a person: logged as a short hash (the same id always gives the same hash, so lines can
#: still be followed across a process; the id itself cannot be read back).
HASHED = frozenset({"customer_id", "account_id", "email", "phone", "subject"})
#: Free text customers wrote: never logged, only its length.
DROPPED = frozenset({"verbatim", "comment", "text", "raw_payload", "original_value"})


def pseudonym(value: object) -> str:
    return "h:" + hashlib.sha256(str(value).encode()).hexdigest()[:12]


def redact_personal_data(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor, the last guard before a line is written: customer ids hashed, free text out."""
    for key in HASHED & event.keys():
        if event[key] is not None:
            event[key] = pseudonym(event[key])
    for key in DROPPED & event.keys():
        value = event.pop(key)
        event[f"{key}_chars"] = len(value) if isinstance(value, str | bytes) else None
    return event


#: Keys the logger writes itself: a caller's field of that name would be overwritten (an escalation's ladder
#: ``level`` read "info"), so it is kept under ``<key>_field`` instead. Name such fields for what they are.
RESERVED = frozenset({"level", "logger", "timestamp"})


def keep_reserved_keys(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor, before the logger adds its own fields: a caller's ``level`` is not lost."""
    for key in RESERVED & event.keys():
        event[f"{key}_field"] = event.pop(key)
    return event


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    keep_reserved_keys,
    redact_personal_data,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_dict_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` that renders every stdlib record through structlog."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if settings.json_logs else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": _SHARED,
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "structlog",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": settings.log_level},
        "loggers": {
            # chatty at INFO; their warnings and errors still come through
            "aiokafka": {"level": "WARNING"},
            "faust.transport.drivers.aiokafka": {"level": "WARNING"},
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_dict_config(settings))
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)

"""How bad an alert is: one scale for breaches, hot alerts, escalations and cases (the Avro ``Severity``)."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        """Higher is worse: INFO 0, WARNING 1, CRITICAL 2."""
        return _RANK[self]

    @classmethod
    def of(cls, text: object, default: Severity | None = None) -> Severity:
        """The severity named by ``text`` (a label value, a record field); ``default`` when it is empty."""
        if (text is None or text == "") and default is not None:
            return default
        return cls(str(text))


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def worst(severities: list[Severity]) -> Severity:
    return max(severities, key=lambda s: s.rank)

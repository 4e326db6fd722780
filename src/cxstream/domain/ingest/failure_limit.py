"""A bound on how much an agent may dead-letter because of its own failures (arroyo's ``DlqLimit`` idea).

A record that fails validation is bad input: it goes to ``cx.dlq`` with its reasons, and that is the product
working. A record whose handling raises is different: one is an odd record, but a run of them, or a large
share of a stream, is a bug or a broken dependency, and dead-lettering on would quietly move a whole topic
into ``cx.dlq``. The limit says when to stop instead: after ``max_consecutive`` failures in a row, or when more
than ``max_ratio`` of the last ``window`` records failed. The agent then stops before the record that tripped
it, so that record and every later one stay on their topic, processed once the cause is fixed.

Pure: the agent says after every record whether its handling raised.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pydantic import Field

from cxstream.domain.base import Strict


class FailureLimitSpec(Strict):
    max_consecutive: int = Field(100, ge=1, description="handling failures in a row that stop the agent")
    max_ratio: float = Field(0.5, gt=0, le=1, description="share of failures over the window that stops it")
    window: int = Field(1000, ge=10, description="records the ratio is taken over")


@dataclass(frozen=True)
class Tripped:
    """Why an agent stopped: a human sentence, and the counts it rests on."""

    reason: str
    consecutive: int
    failed: int
    seen: int

    def to_json(self) -> dict[str, str | int]:
        return {"reason": self.reason, "consecutive": self.consecutive, "failed": self.failed, "seen": self.seen}


class FailureLimit:
    def __init__(self, spec: FailureLimitSpec) -> None:
        self.spec = spec
        self._recent: deque[bool] = deque(maxlen=spec.window)  # True: the record's handling failed
        self._failed = 0  # failures among ``_recent``
        self.consecutive = 0
        self.tripped: Tripped | None = None

    def _push(self, failed: bool) -> None:
        if len(self._recent) == self._recent.maxlen and self._recent[0]:
            self._failed -= 1
        self._recent.append(failed)
        self._failed += int(failed)

    def succeeded(self) -> None:
        self._push(False)
        self.consecutive = 0

    def failed(self, error: str) -> Tripped | None:
        """One more failure; returns why the agent must stop when this one reaches the limit (and from then on
        :attr:`tripped` stays set)."""
        if self.tripped is not None:
            return self.tripped
        self._push(True)
        self.consecutive += 1
        spec, seen = self.spec, len(self._recent)
        if self.consecutive >= spec.max_consecutive:
            reason = f"{self.consecutive} records in a row failed (limit {spec.max_consecutive}); last: {error}"
        elif seen == spec.window and self._failed / seen > spec.max_ratio:
            reason = (
                f"{self._failed} of the last {seen} records failed ({self._failed / seen:.0%}, limit "
                f"{spec.max_ratio:.0%}); last: {error}"
            )
        else:
            return None
        self.tripped = Tripped(reason, self.consecutive, self._failed, seen)
        return self.tripped

"""An estimate as every JSON answer shows it: value, n, interval, and the sentence the page prints."""

from __future__ import annotations

from typing import Any

from cxstream.domain.metrics.stats import Estimate


def estimate_json(estimate: Estimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {
        "value": estimate.value,
        "n": estimate.n,
        "low": estimate.low,
        "high": estimate.high,
        "confidence": estimate.confidence,
        "min_n": estimate.min_n,
        "unit": estimate.unit.strip(),
        "insufficient": estimate.insufficient,
        "text": estimate.describe(),
    }

"""Timing statistics and the result record every benchmark returns."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample at least `fraction` of samples reach.

    With 1,000 samples p99 is the 10th slowest: a real measured run, never an interpolation.
    """
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """Milliseconds, rounded to the microsecond."""
    ms = [s * 1000 for s in seconds]
    return {
        "runs": len(ms),
        "min_ms": round(min(ms), 3),
        "median_ms": round(statistics.median(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "p90_ms": round(percentile(ms, 0.90), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "max_ms": round(max(ms), 3),
    }


@dataclass
class Result:
    name: str
    description: str
    target: str  # in words, e.g. "p99_ms < 5"
    metric: str  # the key in `measured` the target is judged on
    limit: float
    higher_is_better: bool
    measured: dict[str, Any]
    setup: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return self.measured[self.metric]

    @property
    def passed(self) -> bool:
        if self.higher_is_better:
            return self.value >= self.limit
        return self.value < self.limit

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "value": self.value, "passed": self.passed}

"""Summary statistics over raw samples: one class, one cached property per figure.

Quartiles use numpy's default linear interpolation (Hyndman & Fan type 7), the
same definition as `statistics.quantiles(..., method="inclusive")`.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Sequence

import numpy as np

# Above this coefficient of variation a metric is flagged as unstable.
HIGH_CV = 0.10
# A row is settled when its median is known within this fraction (95% confidence), even if
# its trials are noisy: two runs of settled rows then agree within about +-7% on medians
# alone, which is what a re-run is judged on (bench.analysis.repro).
MEDIAN_CI_TARGET = 0.05
# A model point further than this from its fit (relative residual) flags the fit as a misfit.
MISFIT = 0.25


class Stats:
    def __init__(self, samples: Sequence[float]):
        values = [float(v) for v in samples if v is not None]
        if not values:
            raise ValueError("no samples")
        self._values = np.asarray(values, dtype=float)

    @cached_property
    def n(self) -> int:
        return int(self._values.size)

    @cached_property
    def median(self) -> float:
        return float(np.median(self._values))

    @cached_property
    def q1(self) -> float:
        return float(np.percentile(self._values, 25))

    @cached_property
    def q3(self) -> float:
        return float(np.percentile(self._values, 75))

    @cached_property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @cached_property
    def min(self) -> float:
        return float(self._values.min())

    @cached_property
    def max(self) -> float:
        return float(self._values.max())

    @cached_property
    def mean(self) -> float:
        return float(self._values.mean())

    @cached_property
    def stdev(self) -> float:
        """Sample standard deviation (n-1); 0 for a single sample."""
        if self.n < 2:
            return 0.0
        return float(self._values.std(ddof=1))

    @cached_property
    def cv(self) -> float:
        return self.stdev / self.mean if self.mean else math.nan

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "median": self.median,
            "q1": self.q1,
            "q3": self.q3,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "stdev": self.stdev,
            "cv": self.cv,
        }


def median_ci_rel(values: Sequence[float], confidence: float = 0.95) -> float:
    """How well the median is known: the larger distance from the median to a bound of its
    distribution-free confidence interval (order statistics, scipy's quantile_test), as a
    fraction of the median. inf when too few samples bound it (under 6 at 95%)."""
    from scipy.stats import quantile_test  # scipy is slow to import: only when asked

    values = [float(v) for v in values]
    if len(values) < 2:
        return math.inf
    ci = quantile_test(values, p=0.5).confidence_interval(confidence)
    median = float(np.median(values))
    if not (math.isfinite(ci.low) and math.isfinite(ci.high)) or median <= 0:
        return math.inf
    return max(median - float(ci.low), float(ci.high) - median) / median


def percentile(values: Sequence[float], pct: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), pct))


def summarize(samples: dict[str, list]) -> dict[str, dict]:
    """Stats for every numeric sample series that has at least one value."""
    out = {}
    for metric, series in samples.items():
        numeric = [v for v in series if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numeric and len(numeric) == len(series):
            out[metric] = Stats(numeric).as_dict()
    return out

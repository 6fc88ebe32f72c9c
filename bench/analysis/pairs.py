"""Per-round pairs, the base of every claim's interval (bench.analysis.facts): two rows' trials
that ran in the same interleaved round saw the same state of the machine, so drift between
rounds cancels out of each pair's ratio. A ratio's value is the geometric mean of its pairs,
and its 95% interval the t-interval of the mean log-ratio."""

from __future__ import annotations

import math
import statistics
from typing import Mapping, Sequence

import numpy as np

from bench.results import Results, Run

CONFIDENCE = 0.95


def median_of(run: Run | None, metric: str = "response_s") -> float | None:
    if run is None:
        return None
    return (run.stats.get(metric) or {}).get("median")


def medians_by_round(rounds: Sequence, values: Sequence) -> dict[int, float]:
    """Each round's median of the values played in it (a round may play several); None or 0 values
    (a failed trial, a rate that could not be measured) are left out."""
    grouped: dict[int, list[float]] = {}
    for rnd, value in zip(rounds, values):
        if value:
            grouped.setdefault(int(rnd), []).append(float(value))
    return {rnd: statistics.median(vs) for rnd, vs in grouped.items()}


def per_round(run: Run) -> dict[int, float]:
    """A run's per-lookup time in each round it played (the median, where a round had several)."""
    queries = float(run.params.get("queries") or 1)
    times = [t / queries if t else None for t in run.samples.get("response_s") or ()]
    return medians_by_round(run.extra.get("trial_rounds") or (), times)


def paired_ratios(numerator: Mapping[int, float], denominator: Mapping[int, float]) -> list[float]:
    """numerator / denominator for every round both played: the same state of the machine."""
    return [numerator[k] / denominator[k] for k in sorted(numerator) if k in denominator and denominator[k] > 0]


def log_t_interval(ratios: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, tuple[float, float] | None]:
    """The geometric mean of the ratios and the t-interval of their mean log (None under 2)."""
    from scipy.stats import t as student_t

    logs = np.log(np.asarray(ratios, dtype=float))
    centre = float(logs.mean())
    if logs.size < 2:
        return math.exp(centre), None
    half = float(student_t.ppf(0.5 + confidence / 2, logs.size - 1) * logs.std(ddof=1) / math.sqrt(logs.size))
    return math.exp(centre), (math.exp(centre - half), math.exp(centre + half))


def valid_runs(res: Results, mode: str) -> list[Run]:
    return [r for r in res.runs if r.mode == mode and r.correct and median_of(r)]

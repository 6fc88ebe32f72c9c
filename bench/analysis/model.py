"""A per-task overhead model fitted to the batch-size sweep.

    T(B) = a + max(k, P) * c / P + N * w / min(P, k),    k = ceil(N / B) tasks

(with k <= P tasks every task runs on its own CPU, so the critical path still pays c once)

  a  fixed cost per run (s)            c  overhead per task (s of worker time)
  w  work per lookup (s)               P  CPUs in the cluster

w is taken from the sequential run (the same Python loop, no overhead), so the
sweep only has to pin down a and c; both are fitted by non-negative least
squares on the per-size medians. Without a sequential run, w is fitted too.

The fit minimises *relative* error (each point weighted by 1/T): the sweep spans
three orders of magnitude, and an absolute fit lets the slow small-B points decide
everything while missing the fast ones (where the best B is) by tens of percent with
R-squared still 0.999. Each point's relative residual is reported, and a fit whose
worst point is off by more than MISFIT is flagged.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import nnls

from bench import mode_table
from bench.results import Results
from bench.stats import MISFIT

WITHIN = 0.05  # "near the best" means within 5% of its time
FORMULA = "T(B) = a + max(ceil(N/B), P)*c/P + N*w/min(P, ceil(N/B))"


def relative_fit_quality(measured: np.ndarray, predicted: np.ndarray) -> dict:
    """Fit quality on the scale the fit was made on: relative residuals (pred/meas - 1)."""
    residuals = predicted / measured - 1.0
    worst = int(np.argmax(np.abs(residuals)))
    return {
        "relative_residuals": [float(r) for r in residuals],
        "rms_relative_error": float(np.sqrt(np.mean(residuals ** 2))),
        "max_relative_residual": float(residuals[worst]),
        "max_relative_residual_index": worst,
        "misfit": bool(abs(residuals[worst]) > MISFIT),
    }


def _median(run, metric="response_s"):
    return (run.stats.get(metric) or {}).get("median")


def predict(a: float, c: float, w: float, n: int, p: int, b: float) -> float:
    k = math.ceil(n / b)
    return a + max(k, p) * c / p + n * w / min(p, k)


def fit_points(sizes: np.ndarray, times: np.ndarray, n: int, p: int, w: float | None) -> tuple[float, float, float]:
    """(a, c, w) by non-negative least squares on relative error; w fitted too when not given."""
    tasks = np.ceil(n / sizes)
    weights = 1.0 / times  # relative error: see the module docstring
    if w is not None:
        design = np.column_stack([np.ones_like(tasks), np.maximum(tasks, p) / p])
        (a, c), _ = nnls(design * weights[:, None], (times - n * w / np.minimum(p, tasks)) * weights)
        return float(a), float(c), float(w)
    design = np.column_stack([np.ones_like(tasks), np.maximum(tasks, p) / p, n / np.minimum(p, tasks)])
    (a, c, w), _ = nnls(design * weights[:, None], times * weights)
    return float(a), float(c), float(w)


def fit(results: Results) -> dict | None:
    """Fit the model to a results file's sweep, or None if there is no usable sweep."""
    sweep = [r for r in results.runs if r.mode == "ray-batched" and r.correct and _median(r)]
    if len(sweep) < 3:
        return None
    n = int(sweep[0].params["queries"])
    p = int(results.cluster.get("cluster_cpus") or 1)
    sizes = np.array([float(r.params["batch_size"]) for r in sweep])
    times = np.array([_median(r) for r in sweep])
    sequential = [r for r in results.runs if r.mode == "sequential" and r.correct and _median(r)]
    w = _median(sequential[0]) / int(sequential[0].params["queries"]) if sequential else None
    a, c, w = fit_points(sizes, times, n, p, w)
    w_source = "sequential run" if sequential else "fitted"
    predicted = np.array([predict(a, c, w, n, p, b) for b in sizes])
    total = float(np.sum((times - times.mean()) ** 2))
    r_squared = 1.0 - float(np.sum((times - predicted) ** 2)) / total if total > 0 else 1.0
    quality = relative_fit_quality(times, predicted)

    best_index = int(np.argmin(times))
    best_time = float(times[best_index])
    near_best = sorted(b for b, t in zip(sizes, times) if t <= best_time * (1 + WITHIN))
    grid = np.unique(np.round(np.geomspace(1, n, 60)))
    curve = [(float(b), predict(a, c, w, n, p, b)) for b in grid]
    model_best = min(t for _, t in curve)
    model_near = min(b for b, t in curve if t <= model_best * (1 + WITHIN))
    # Ray beats a sequential loop once a task's work W satisfies W/P + c/P < W.
    break_even_s = c / (p - 1) if p > 1 else math.inf
    return {
        "formula": FORMULA,
        "fitted_on": "relative error (weights 1/T)",
        "queries": n,
        "cpus": p,
        "fixed_cost_s": float(a),
        "per_task_overhead_s": float(c),
        "per_lookup_work_s": float(w),
        "per_lookup_work_source": w_source,
        "r_squared": r_squared,  # on the linear scale; flatters the fit, kept for reference
        **{k: v for k, v in quality.items() if k != "relative_residuals"},
        "worst_point_batch_size": float(sizes[quality["max_relative_residual_index"]]),
        "points": [{"batch_size": float(b), "measured_s": float(t), "predicted_s": float(q),
                    "relative_residual": float(r)}
                   for b, t, q, r in zip(sizes, times, predicted, quality["relative_residuals"])],
        "curve": curve,
        "best_batch_size": float(sizes[best_index]),
        "best_time_s": best_time,
        "smallest_batch_within_5pct": float(near_best[0]),
        "model_smallest_batch_within_5pct": float(model_near),
        "break_even_work_per_task_s": break_even_s,
        "break_even_lookups_per_task": break_even_s / w if w > 0 and math.isfinite(break_even_s) else None,
    }


def paired_round_ratios(run, other) -> list[float]:
    """run's trial time over other's, for every round in which both ran a trial: both
    saw the same state of the machine, so slow drift cancels out of each ratio."""
    def by_round(r):
        rounds = r.extra.get("trial_rounds") or ()
        times = r.samples.get("response_s") or ()
        return {rnd: t for rnd, t in zip(rounds, times) if t}

    mine, theirs = by_round(run), by_round(other)
    return [mine[k] / theirs[k] for k in sorted(mine) if k in theirs]


def auto_ratio(results: Results) -> dict | None:
    """ray-auto's time against the best swept batch size (1.0 = as good).

    The ratio is the median of per-round ratios (auto's trial over the best size's trial
    in the same interleaved round), with a bootstrap 95% interval; files without rounds
    fall back to the ratio of medians."""
    auto = [r for r in results.runs if r.mode == "ray-auto" and r.correct and _median(r)]
    sweep = [r for r in results.runs if r.mode == "ray-batched" and r.correct and _median(r)]
    if not auto or not sweep:
        return None
    best = min(sweep, key=_median)
    probe_s = (auto[0].params.get("probe") or {}).get("probe_s") or 0.0
    paired = paired_round_ratios(auto[0], best)
    ratio = float(np.median(paired)) if paired else _median(auto[0]) / _median(best)
    return {
        "auto_batch_size": auto[0].params.get("batch_size"),
        "auto_median_s": _median(auto[0]),
        "best_batch_size": best.params.get("batch_size"),
        "best_median_s": _median(best),
        "ratio": ratio,
        "ratio_method": "median of same-round ratios" if paired else "ratio of medians",
        "paired_rounds": len(paired),
        "ratio_ci95": bootstrap_median_ci(paired) if len(paired) >= 3 else None,
        "probe_s": probe_s,
        # the probe is paid once per run: what a one-shot job would see
        "ratio_with_probe": (_median(auto[0]) + probe_s) / _median(best),
    }


def bootstrap_median_ci(values, resamples: int = 2000, seed: int = 0) -> list[float]:
    """Percentile bootstrap 95% interval of the median (seeded: the same file, the same figure)."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(data, size=(resamples, data.size), replace=True), axis=1)
    return [float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))]


def naive_fit(points: list[tuple[int, float]]) -> dict | None:
    """time = intercept + slope x tasks through the naive runs' medians, fitted on relative
    error (weights 1/time), so the 1k-task point counts as much as the 100k one."""
    if len(points) < 2 or len({p[0] for p in points}) < 2:
        return None
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    weights = 1.0 / y
    (intercept, slope), *_ = np.linalg.lstsq(np.column_stack([np.ones_like(x), x]) * weights[:, None],
                                             y * weights, rcond=None)
    if slope <= 0:
        return None
    quality = relative_fit_quality(y, intercept + slope * x)
    return {"slope_s": float(slope), "intercept_s": float(intercept), "rate": 1 / float(slope),
            "fitted_on": "relative error (weights 1/T)", **quality}


def harness_overhead(results: Results) -> dict | None:
    """ray-naive tasks/s over the calibration no-op rate: how much the harness itself costs."""
    calibration = (results.cluster.get("calibration") or {}).get("stats", {}).get("tasks_per_s", {}).get("median")
    naive = [r for r in results.runs if r.mode == "ray-naive" and r.correct and _median(r, "tasks_per_s")]
    if not calibration or not naive:
        return None
    largest = max(naive, key=lambda r: r.params["tasks"])
    rate = _median(largest, "tasks_per_s")
    with_args = ((results.cluster.get("calibration") or {}).get("with_naive_args") or {}).get("stats", {}) \
        .get("tasks_per_s", {}).get("median")
    return {"naive_tasks": largest.params["tasks"], "naive_tasks_per_s": rate,
            "calibration_tasks_per_s": calibration, "ratio": rate / calibration,
            # no-op tasks with naive's arguments: what is left is the harness plus the lookup itself
            "calibration_with_args_tasks_per_s": with_args,
            "ratio_vs_same_arguments": rate / with_args if with_args else None}


def drift(results: Results) -> dict | None:
    """Does a configuration get slower (or faster) the later its trial runs in the suite?

    Per run, the Theil-Sen slope of log(time) against the round number (robust to an
    outlier trial), as a relative change per round; across runs, the median slope and a
    Wilcoxon signed-rank p for "no drift". Interleaved rounds cancel drift out of the
    comparisons; this says whether there was any to cancel."""
    from scipy.stats import theilslopes, wilcoxon

    per_run = []
    for run in results.runs:
        rounds = list(run.extra.get("trial_rounds") or ())
        times = list(run.samples.get("response_s") or ())
        if len(rounds) < 3 or len(rounds) != len(times) or len(set(rounds)) < 3 or min(times) <= 0:
            continue
        slope = theilslopes(np.log(times), rounds)[0]
        per_run.append({"label": run.label, "relative_change_per_round": float(np.expm1(slope)),
                        "first_round_s": float(times[0]), "last_round_s": float(times[-1]),
                        "rounds": len(rounds)})
    if len(per_run) < 3:
        return None
    slopes = [r["relative_change_per_round"] for r in per_run]
    nonzero = [v for v in slopes if v != 0]
    p_value = float(wilcoxon(nonzero).pvalue) if len(nonzero) >= 3 else None
    return {"median_relative_change_per_round": float(np.median(slopes)), "p_value": p_value,
            "method": "Theil-Sen slope of log(time) vs round per run; Wilcoxon signed-rank across runs",
            "runs": per_run}


def analyse(results: Results) -> dict:
    return {"model": fit(results), "auto": auto_ratio(results), "harness": harness_overhead(results),
            "drift": drift(results)}


def _representative(results: Results, mode: str):
    """The run that stands for a mode: best batch size, or the largest naive point."""
    runs = [r for r in results.runs if r.mode == mode and r.correct and _median(r)]
    if not runs:
        return None
    if mode == "ray-naive":
        return max(runs, key=lambda r: r.params["tasks"])
    return min(runs, key=_median)


def scaling(results_list: list[Results], modes: tuple[str, ...] | None = None) -> dict:
    """Speed-up and parallel efficiency against total CPUs, over runs of one workload.

    Speed-up is relative to the smallest cluster in the set (S = T(P0)/T(P)),
    ideal is P/P0, efficiency is S divided by ideal. Each point also carries the
    speed-up against the sequential loop measured in the same results file. The modes default
    to those bench.mode_table marks parallel.
    """
    if modes is None:
        modes = tuple(name for name, spec in mode_table.TABLE.items() if spec.parallel)
    by_cpus = sorted(results_list, key=lambda r: r.cluster.get("cluster_cpus") or 0)
    out = {}
    for mode in modes:
        points = []
        for res in by_cpus:
            run = _representative(res, mode)
            if run is None:
                continue
            seq = _representative(res, "sequential")
            points.append({
                "cpus": int(res.cluster.get("cluster_cpus") or 0),
                "nodes": (res.cluster.get("nodes_start") or {}).get("alive_with_cpus"),
                "label": run.label,
                "median_s": _median(run),
                "vs_sequential": _median(seq) / _median(run) if seq else None,
            })
        if not points:
            continue
        base = points[0]
        for point in points:
            ideal = point["cpus"] / base["cpus"] if base["cpus"] else None
            point["speedup"] = base["median_s"] / point["median_s"]
            point["ideal"] = ideal
            point["efficiency"] = point["speedup"] / ideal if ideal else None
        out[mode] = points
    return out

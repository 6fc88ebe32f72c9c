"""A per-task overhead model fitted to the batch-size sweep.

    T(B) = a + max(k, P) * c / P + N * w / min(P, k),    k = ceil(N / B) tasks

(with k <= P tasks every task runs on its own CPU, so the critical path still pays c once)

  a  fixed cost per run (s)            c  overhead per task (s of worker time)
  w  work per lookup (s)               P  CPUs in the cluster

w is taken from the sequential run (the same Python loop, no overhead), so the
sweep only has to pin down a and c; both are fitted by non-negative least
squares on the per-size medians. Without a sequential run, w is fitted too.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import nnls

from bench.results import Results

WITHIN = 0.05  # "near the best" means within 5% of its time


def _median(run, metric="response_s"):
    return (run.stats.get(metric) or {}).get("median")


def predict(a: float, c: float, w: float, n: int, p: int, b: float) -> float:
    k = math.ceil(n / b)
    return a + max(k, p) * c / p + n * w / min(p, k)


def fit(results: Results) -> dict | None:
    """Fit the model to a results file's sweep, or None if there is no usable sweep."""
    sweep = [r for r in results.runs if r.mode == "ray-batched" and r.correct and _median(r)]
    if len(sweep) < 3:
        return None
    n = int(sweep[0].params["queries"])
    p = int(results.cluster.get("cluster_cpus") or 1)
    sizes = np.array([float(r.params["batch_size"]) for r in sweep])
    times = np.array([_median(r) for r in sweep])
    tasks = np.ceil(n / sizes)
    sequential = [r for r in results.runs if r.mode == "sequential" and r.correct and _median(r)]
    if sequential:
        w = _median(sequential[0]) / int(sequential[0].params["queries"])
        design = np.column_stack([np.ones_like(tasks), np.maximum(tasks, p) / p])
        (a, c), _ = nnls(design, times - n * w / np.minimum(p, tasks))
        w_source = "sequential run"
    else:
        design = np.column_stack([np.ones_like(tasks), np.maximum(tasks, p) / p, n / np.minimum(p, tasks)])
        (a, c, w), _ = nnls(design, times)
        w_source = "fitted"
    predicted = np.array([predict(a, c, w, n, p, b) for b in sizes])
    total = float(np.sum((times - times.mean()) ** 2))
    r_squared = 1.0 - float(np.sum((times - predicted) ** 2)) / total if total > 0 else 1.0

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
        "formula": "T(B) = a + max(ceil(N/B), P)*c/P + N*w/min(P, ceil(N/B))",
        "queries": n,
        "cpus": p,
        "fixed_cost_s": float(a),
        "per_task_overhead_s": float(c),
        "per_lookup_work_s": float(w),
        "per_lookup_work_source": w_source,
        "r_squared": r_squared,
        "points": [{"batch_size": float(b), "measured_s": float(t), "predicted_s": float(q)}
                   for b, t, q in zip(sizes, times, predicted)],
        "curve": curve,
        "best_batch_size": float(sizes[best_index]),
        "best_time_s": best_time,
        "smallest_batch_within_5pct": float(near_best[0]),
        "model_smallest_batch_within_5pct": float(model_near),
        "break_even_work_per_task_s": break_even_s,
        "break_even_lookups_per_task": break_even_s / w if w > 0 and math.isfinite(break_even_s) else None,
    }


def auto_ratio(results: Results) -> dict | None:
    """ray-auto's median time against the best swept batch size (1.0 = as good)."""
    auto = [r for r in results.runs if r.mode == "ray-auto" and r.correct and _median(r)]
    sweep = [r for r in results.runs if r.mode == "ray-batched" and r.correct and _median(r)]
    if not auto or not sweep:
        return None
    best = min(sweep, key=_median)
    probe_s = (auto[0].params.get("probe") or {}).get("probe_s") or 0.0
    return {
        "auto_batch_size": auto[0].params.get("batch_size"),
        "auto_median_s": _median(auto[0]),
        "best_batch_size": best.params.get("batch_size"),
        "best_median_s": _median(best),
        "ratio": _median(auto[0]) / _median(best),
        "probe_s": probe_s,
        # the probe is paid once per run: what a one-shot job would see
        "ratio_with_probe": (_median(auto[0]) + probe_s) / _median(best),
    }


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


def analyse(results: Results) -> dict:
    return {"model": fit(results), "auto": auto_ratio(results), "harness": harness_overhead(results)}


def _representative(results: Results, mode: str):
    """The run that stands for a mode: best batch size, or the largest naive point."""
    runs = [r for r in results.runs if r.mode == mode and r.correct and _median(r)]
    if not runs:
        return None
    if mode == "ray-naive":
        return max(runs, key=lambda r: r.params["tasks"])
    return min(runs, key=_median)


def scaling(results_list: list[Results], modes=("ray-batched", "ray-auto", "ray-naive", "multiprocessing")) -> dict:
    """Speed-up and parallel efficiency against total CPUs, over runs of one workload.

    Speed-up is relative to the smallest cluster in the set (S = T(P0)/T(P)),
    ideal is P/P0, efficiency is S divided by ideal. Each point also carries the
    speed-up against the sequential loop measured in the same results file.
    """
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

"""`bench advise`: a batch size for the user's own function, from a results file's overhead model.

The file's sweep pins down the cluster's fixed cost a and per-task overhead c (bench.analysis.model);
the user's work per item w replaces the harness's lookup, and the same model

    T(B) = a + max(k, P)*c/P + N*w/min(P, k),    k = ceil(N/B)

is minimised over B. Its interval comes from refitting a and c on bootstrap resamples of
each batch size's stored trial times. No cluster is needed and Ray is never imported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from bench.analysis import model
from bench.analysis.conditions import PlacementCost, placement_cost
from bench.analysis.facts import compute as compute_facts
from bench.analysis.wording import claim_name, fact_text
from bench.errors import UsageError
from bench.format import fmt_int, fmt_time
from bench.options import recorded_placement
from bench.results import Results, load

RESAMPLES = 400
RAY_INLINE_DEFAULT_BYTES = 100 * 1024  # Ray's max_direct_call_object_size (bench.engine.modes.inline_object_bytes)
INLINE_MARGIN_BYTES = 1024  # the serialised array's header (bench.engine.modes.RayAuto.INLINE_MARGIN_BYTES)
HARNESS_ITEM_BYTES = 8  # one int64 query in, one int64 answer out per lookup
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
_DURATION = re.compile(r"^\s*([0-9_.]+(?:[eE][+-]?[0-9]+)?)\s*(ns|us|µs|ms|s)\s*$")


@dataclass(frozen=True)
class Advice:
    items: int
    work_per_item_s: float
    cpus: int
    batch_size: int
    tasks: int
    predicted_s: float
    predicted_low_s: float  # 2.5th percentile over bootstrap refits
    predicted_high_s: float  # 97.5th
    resamples: int
    sequential_s: float  # items * work: the same function in a plain loop
    break_even_work_per_item_s: float  # below it, for this many items, the loop wins (inf: never)
    break_even_items: int | None  # with this work, the fewest items for which Ray wins (None: never)
    fixed_cost_s: float
    per_task_overhead_s: float
    harness_work_per_item_s: float
    harness_work_fitted: bool  # True when no sequential run pinned w down
    fit_items: int  # the sweep's N: predictions for other N are extrapolations
    fit_sizes: int
    rms_relative_error: float
    max_relative_residual: float
    worst_point_batch_size: float
    misfit: bool
    inline_limit_bytes: int
    inline_limit_recorded: bool
    max_items_inline: int  # at HARNESS_ITEM_BYTES per item
    inline_batch_size: int  # best B that stays inline (== batch_size when it already does)
    inline_predicted_s: float
    results_cross_nodes: bool = False  # the file's probe saw tasks leave the driver's node: B stays inline
    # Where the file's Ray tasks went (--placement), and what Ray's default placement cost per task
    # against node affinity in the same rounds (bench.analysis.conditions.placement_cost); None when
    # the file did not measure both
    placement: str | None = None
    placement_cost: PlacementCost | None = None


def parse_duration(text) -> float:
    """'50us', '0.2ms', '1e-5s', '3s' -> seconds; a bare number is refused (which unit?)."""
    if isinstance(text, bool) or isinstance(text, (int, float)):
        raise UsageError(f"--work-per-item {text!r} has no unit: write e.g. 50us, 0.2ms, 1e-5s or 3s")
    match = _DURATION.match(str(text))
    if not match:
        raise UsageError(f"--work-per-item {text!r} is not a duration: write e.g. 50us, 0.2ms, 1e-5s or 3s")
    try:
        value = float(match.group(1)) * UNITS[match.group(2)]
    except ValueError:
        raise UsageError(f"--work-per-item {text!r} is not a duration: write e.g. 50us, 0.2ms, 1e-5s or 3s") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--work-per-item must be a positive duration, got {text!r}")
    return value


def parse_count(text) -> int:
    """'1e6', '1_000_000', 20000 (Fire may already have made it a number) -> a whole number >= 1."""
    if isinstance(text, bool):
        raise UsageError(f"--items must be a whole number of items, got {text!r}")
    try:
        value = float(str(text).strip()) if not isinstance(text, (int, float)) else text
    except ValueError:
        raise UsageError(f"--items {text!r} is not a count: write e.g. 1e6, 1_000_000 or 20000") from None
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise UsageError(f"--items must be a whole number >= 1, got {text!r}")
    return int(value)


def _resampled(results: Results, rng) -> Results:
    """The file with every run's median replaced by the median of a resample of its trials."""
    runs = []
    for run in results.runs:
        samples = [t for t in (run.samples.get("response_s") or ()) if t]
        if run.mode in ("ray-batched", "sequential") and samples:
            median = float(np.median(rng.choice(samples, size=len(samples), replace=True)))
            run = replace(run, stats=MappingProxyType({**run.stats, "response_s": {"median": median}}))
        runs.append(run)
    return results.with_runs(tuple(runs))


def _times(a: float, c: float, w: float, n: int, p: int, sizes: np.ndarray) -> np.ndarray:
    """model.predict over an array of batch sizes."""
    k = np.ceil(n / sizes)
    return a + np.maximum(k, p) * c / p + n * w / np.minimum(p, k)


def candidate_sizes(n: int, p: int) -> np.ndarray:
    """Every B giving 1..64P tasks (where the optimum lies) plus a log grid up to N, largest first."""
    tasks = np.unique(np.concatenate([np.arange(1, min(n, 64 * p) + 1), np.round(np.geomspace(1, n, 200))]))
    return np.unique(np.ceil(n / tasks))[::-1]  # descending: ties go to fewer, larger tasks


def _best(a, c, w, n, p, sizes) -> tuple[int, float]:
    times = _times(a, c, w, n, p, sizes)
    i = int(np.argmin(times))
    return int(sizes[i]), float(times[i])


def break_even_items(a: float, c: float, w: float, p: int) -> int | None:
    """Fewest items for which the best B beats items*w, or None when Ray never wins (P=1)."""
    if p <= 1:
        return None  # one CPU: Ray only adds a + c to the loop

    def wins(m: int) -> bool:
        return _best(a, c, w, m, p, candidate_sizes(m, p))[1] < m * w

    # Estimate from one task per CPU, N*w*(1 - 1/P) > a + c; then step to the exact integer
    # (tasks cannot always be exactly P, and the boundary is a float tie).
    m = max(1, math.floor((a + c) / (w * (1 - 1 / p))))
    for _ in range(10_000):
        if m > 1 and wins(m - 1):
            m -= 1
        elif not wins(m):
            m += 1
        else:
            break
    return m


def _inline_limit(results: Results) -> tuple[int, bool, bool]:
    """(limit in bytes, recorded in the file?, do tasks leave the driver's node?) from ray-auto's probe."""
    for run in results.runs:
        probe = run.params.get("probe") or {}
        if probe.get("inline_object_bytes"):
            return int(probe["inline_object_bytes"]), True, bool(probe.get("tasks_leave_driver_node"))
    return RAY_INLINE_DEFAULT_BYTES, False, False


def advise(results: Results, work_per_item_s: float, items: int) -> Advice:
    fitted = model.fit(results)
    if fitted is None:
        raise UsageError("no usable overhead model: the file needs at least 3 correct ray-batched runs")
    a, c, p = fitted["fixed_cost_s"], fitted["per_task_overhead_s"], int(fitted["cpus"])
    w, n = work_per_item_s, items
    sizes = candidate_sizes(n, p)
    batch, predicted = _best(a, c, w, n, p, sizes)
    limit, recorded, cross_nodes = _inline_limit(results)
    max_inline = max(1, (limit - INLINE_MARGIN_BYTES) // HARNESS_ITEM_BYTES)
    inline_batch, inline_s = _best(a, c, w, n, p, sizes[sizes <= max_inline]) if batch > max_inline \
        else (batch, predicted)
    if cross_nodes:  # results over the limit cross nodes through the object store: the model does not see that cost
        batch, predicted = inline_batch, inline_s
    # Sampling uncertainty: refit a and c on resampled trials, predict at the chosen B.
    rng = np.random.default_rng(0)
    boots = [f for f in (model.fit(_resampled(results, rng)) for _ in range(RESAMPLES)) if f]
    spread = [model.predict(f["fixed_cost_s"], f["per_task_overhead_s"], w, n, p, batch) for f in boots]
    # (clamped to contain the point prediction: a skewed resample can leave it just outside)
    low, high = (np.percentile(spread, [2.5, 97.5]) if spread else (predicted, predicted))
    waves = min(p, n)  # tasks running at once in the best case
    return Advice(
        items=n, work_per_item_s=w, cpus=p, batch_size=batch, tasks=math.ceil(n / batch),
        predicted_s=predicted, predicted_low_s=float(min(low, predicted)), predicted_high_s=float(max(high, predicted)),
        resamples=len(spread), sequential_s=n * w,
        # Best case, min(P, N) tasks at once: N*w*(1 - 1/min(P, N)) > a + c.
        break_even_work_per_item_s=(a + c) / (n * (1 - 1 / waves)) if waves > 1 else math.inf,
        break_even_items=break_even_items(a, c, w, p),
        fixed_cost_s=a, per_task_overhead_s=c, harness_work_per_item_s=fitted["per_lookup_work_s"],
        harness_work_fitted=fitted["per_lookup_work_source"] == "fitted",
        fit_items=int(fitted["queries"]), fit_sizes=len(fitted["points"]),
        rms_relative_error=fitted["rms_relative_error"], max_relative_residual=fitted["max_relative_residual"],
        worst_point_batch_size=fitted["worst_point_batch_size"], misfit=fitted["misfit"],
        inline_limit_bytes=limit, inline_limit_recorded=recorded, max_items_inline=max_inline,
        inline_batch_size=inline_batch, inline_predicted_s=inline_s, results_cross_nodes=cross_nodes,
        placement=recorded_placement(results.config), placement_cost=placement_cost(results),
    )


def _pct(x: float) -> str:
    return f"{x * 100:+.2g}%"  # two significant figures: fixed costs can be 0.01% of a long run


def advice_lines(adv: Advice) -> list[str]:
    w = fmt_time(adv.work_per_item_s)
    one_wave = " (one per CPU)" if adv.tasks == adv.cpus else ""
    faster = adv.sequential_s / adv.predicted_s
    lines = [
        f"recommended batch size: B = {fmt_int(adv.batch_size)} items per task, {fmt_int(adv.tasks)} tasks{one_wave}"
        f", for {fmt_int(adv.items)} items of {w}",
        f"predicted time: {fmt_time(adv.predicted_s)} (95% interval {_pct(adv.predicted_low_s / adv.predicted_s - 1)}"
        f" to {_pct(adv.predicted_high_s / adv.predicted_s - 1)}); sequential Python: {fmt_time(adv.sequential_s)} "
        f"({faster:.2f}x {'faster' if faster >= 1 else 'slower'} with Ray)",
    ]
    if math.isfinite(adv.break_even_work_per_item_s):
        lines.append(f"break-even: for {fmt_int(adv.items)} items, a sequential loop beats Ray below "
                     f"{fmt_time(adv.break_even_work_per_item_s)} of work per item")
    if adv.break_even_items is None:
        lines.append("break-even: none: on 1 CPU Ray only adds its overheads to the loop, at any work or count")
    else:
        lines.append(f"break-even: with {w} per item, Ray beats the loop from {fmt_int(adv.break_even_items)} items")
    return lines + ["assumptions:"] + ["  " + line for line in _assumption_lines(adv) + _placement_lines(adv)]


def _placement_lines(adv: Advice) -> list[str]:
    """c was measured under the file's --placement; under the other one a task may cost more.
    A driver on a node without CPUs (Ray's advice for a large cluster's head) pays, under Ray's
    default placement, a spillback hop per lease: the file's no-op tasks measured what it costs."""
    cost = adv.placement_cost
    if cost is None:
        if adv.placement is None:
            return ["placement: the file records none for its Ray tasks, nor a same-round measure of either"]
        where = "--placement default (Ray's own scheduler)" if adv.placement == "default" else \
            f"--placement {adv.placement}"
        return [f"placement: c was measured with {where}; the file has no same-round measure of the other placement"]
    interval = f", 95% CI {cost.ci[0]:.2f}–{cost.ci[1]:.2f}×" if cost.ci else ""
    figures = f"{cost.default_over_affinity:.2f}× per no-op task{interval}, {cost.pairs} rounds"
    head = f"placement: c was measured with --placement {cost.placement}; "
    if not cost.measurable:
        return [head + f"Ray's default placement made no measurable difference here ({figures}), so the advice "
                "holds under either"]
    c_default = adv.per_task_overhead_s + (cost.extra_s if cost.placement == "affinity" else 0.0)
    extra_run = cost.extra_s * adv.tasks
    hop = (" (a driver on a node without CPUs: one spillback hop per lease)" if cost.driver_node_cpus == 0 else "")
    return [head + f"under Ray's default placement{hop} a task cost {fmt_time(abs(cost.extra_s))} "
            f"{'more' if cost.extra_s > 0 else 'less'} ({figures}): c = {fmt_time(c_default)} there, and "
            f"{fmt_int(adv.tasks)} tasks take about {fmt_time(abs(extra_run))} {'more' if extra_run > 0 else 'less'}"
            " unless tasks are placed on CPU nodes (--placement affinity: soft node affinity, round robin)"]


def _assumption_lines(adv: Advice) -> list[str]:
    fit_flag = "MISFIT: worse than 25% at some point, treat the figures as rough" if adv.misfit else "no misfit flag"
    harness = "fitted (no sequential run)" if adv.harness_work_fitted else "from the sequential run"
    inline = (f"B = {fmt_int(adv.batch_size)} stays inline" if adv.inline_batch_size == adv.batch_size else
              f"B = {fmt_int(adv.batch_size)} exceeds it; the best B within it is {fmt_int(adv.inline_batch_size)} "
              f"({fmt_int(math.ceil(adv.items / adv.inline_batch_size))} tasks, "
              f"predicted {fmt_time(adv.inline_predicted_s)})")
    if adv.results_cross_nodes:
        inline += ("; tasks left the driver's node in this file (ray-auto's probe), so the recommendation stays "
                   "inline: larger results cross nodes through the object store, a cost the model does not see")
    source = "recorded in the file" if adv.inline_limit_recorded else "Ray's default; not recorded in this file"
    return [
        f"model: {model.FORMULA}, a = {fmt_time(adv.fixed_cost_s)} per run, c = {fmt_time(adv.per_task_overhead_s)}"
        f" per task, fitted (relative error) to {adv.fit_sizes} batch sizes at N = {fmt_int(adv.fit_items)}: "
        f"rms relative error {adv.rms_relative_error:.1%}, worst {adv.max_relative_residual:+.1%} at "
        f"B = {fmt_int(adv.worst_point_batch_size)}, {fit_flag}",
        f"interval: bootstrap, a and c refitted on {adv.resamples} resamples of each batch size's trial times;"
        f" sampling noise only: model misfit and extrapolation from N = {fmt_int(adv.fit_items)} are not in it",
        f"CPUs: {adv.cpus} (the file's cluster), one per task; a task is scheduled as soon as a CPU is free",
        f"items are independent and each costs {fmt_time(adv.work_per_item_s)} (replacing the harness's "
        f"{fmt_time(adv.harness_work_per_item_s)} lookup, {harness}); moving items and results costs nothing extra",
        f"inline limit: arguments and results up to {fmt_int(adv.inline_limit_bytes)} bytes ({source}) travel in "
        f"the task's RPC; larger ones go through the object store (on another node, a transfer: ~1 s stalls were"
        f" seen on the compose cluster). At {HARNESS_ITEM_BYTES} bytes per item, B <= "
        f"{fmt_int(adv.max_items_inline)}: {inline}",
    ]


def _measured_at(points: list, b: float, predicted_b: float) -> tuple[float, str]:
    """The sweep's time at B: measured there, or the model's prediction at B scaled by the
    measured/predicted ratio of its neighbours (interpolated in log B): T(B) bends sharply
    near one task per CPU, so straight interpolation of the times between sizes misleads."""
    sizes = np.array([pt["batch_size"] for pt in points])
    order = np.argsort(sizes)
    sizes = sizes[order]
    ratios = np.array([pt["measured_s"] / pt["predicted_s"] for pt in points])[order]
    if b in sizes:
        return float(points[int(order[list(sizes).index(b)])]["measured_s"]), "measured"
    ratio = float(np.exp(np.interp(math.log(b), np.log(sizes), np.log(ratios))))  # clamps outside the sweep
    where = "between measured sizes" if sizes[0] < b < sizes[-1] else "outside the sweep: nearest size's ratio"
    return predicted_b * ratio, f"model at B scaled by measured/predicted ({where})"


def validate_against_suite(results: Results) -> dict:
    """The issue's check: advise for the lookup workload itself (w from the sequential run, N its
    queries) and compare the sweep's time at the advised B with the best measured B's time."""
    fitted = model.fit(results)
    sequential = [r for r in results.runs if r.mode == "sequential" and r.correct and model._median(r)]
    if fitted is None or not sequential:
        raise UsageError("validation needs a model (3+ correct ray-batched runs) and a sequential run")
    w = model._median(sequential[0]) / int(sequential[0].params["queries"])
    advice = advise(results, w, int(fitted["queries"]))
    sizes = [pt["batch_size"] for pt in fitted["points"]]
    nearest = min(fitted["points"], key=lambda pt: abs(math.log(pt["batch_size"] / advice.batch_size)))
    at_advised, method = _measured_at(fitted["points"], float(advice.batch_size), advice.predicted_s)
    return {"work_per_item_s": w, "items": advice.items, "recommended_batch_size": advice.batch_size,
            "predicted_s": advice.predicted_s, "measured_batch_sizes": sorted(sizes),
            "nearest_measured_batch_size": nearest["batch_size"], "nearest_measured_s": nearest["measured_s"],
            "best_measured_batch_size": fitted["best_batch_size"], "best_measured_s": fitted["best_time_s"],
            "measured_at_recommended_s": at_advised, "method": method,
            "ratio": at_advised / fitted["best_time_s"], "within_10pct": at_advised <= fitted["best_time_s"] * 1.10,
            "nearest_ratio": nearest["measured_s"] / fitted["best_time_s"]}


def advise_command(path, work_per_item, items) -> None:
    """Parse the CLI's arguments, load the file, print the advice (no cluster, no Ray)."""
    work, count = parse_duration(work_per_item), parse_count(items)
    results = load(path)
    try:
        advice = advise(results, work, count)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
    print("\n".join(advice_lines(advice) + measured_lines(results)))


def measured_lines(results: Results) -> list[str]:
    """What the file itself measured, as its claims state it (bench.analysis.facts), for the advice's scale."""
    facts = compute_facts(results)
    shown = [f for f in facts.facts if f.key in ("per_task_overhead", "break_even", "best_b_region")]
    return (["measured in this file (its claims):"] + [f"  {claim_name(f.key, facts.items)}: {fact_text(f)}" for f in shown]
            if shown else [])

"""The claims a results file makes, computed once from its raw samples (issue 22).

The terminal summary, the HTML page, `bench repro`, `bench compare` and `bench advise`
render these facts; none of them derives a verdict of its own. A fact holds figures only:
the words are chosen where it is shown.

Every ratio comes from per-round pairs: two rows' trials that ran in the same interleaved
round saw the same state of the machine, so drift between rounds cancels out of each pair's
ratio. A ratio's value is the geometric mean of its pairs, and its 95% interval the
t-interval of the mean log-ratio (with 2 pairs that interval is honestly wide). Files
without rounds fall back to the ratio of medians, with no interval.

Each claim's tolerance (how far a re-run's value may move and still "hold") is stated here,
before any data, from what the claim measures:
- TOL_HOST: both sides are Python work on the same host (the CPU cancels): ±10%.
- TOL_CROSS_NODE: batched or ray-auto tasks that cross nodes on a cluster: ±15%
  (bench.analysis.repro's cluster band, issue 10).
- TOL_PER_TASK: one side is Ray's per-task cost, which moves 10-20% between driver
  sessions on this machine class while the CPU holds (docs/measurements.md): ±20%.
- TOL_MACHINE_PYTHON: w, Python work per lookup, is one figure: nothing cancels the machine
  out of it, and a pure-Python loop here spans max/min 1.14-1.17 between runs (2026-11-30): ±15%.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from bench.analysis.conditions import Fingerprint, PlacementCost, Warning_, fingerprint, placement_cost, warnings_of
from bench.analysis.model import fit_points
from bench.analysis.pairs import log_t_interval, median_of, medians_by_round, paired_ratios, per_round, valid_runs
from bench.results import Results, Run, item_words

TOL_HOST = 0.10
TOL_CROSS_NODE = 0.15
TOL_PER_TASK = 0.20
TOL_MACHINE_PYTHON = 0.15
TARGET_EFFICIENCY = 0.9  # the parallel efficiency a work-bound batched run should reach
REGION_WITHIN = 0.10  # the best-B region: every B within 10% of the fastest, same-round ratio
BOOTSTRAP_RESAMPLES = 400  # the model's c, w and break-even: rounds resampled, sweep refitted
HEAVY_ARRAY = 1000  # arrays this large make a lookup's work dominate (bench.engine.suites' heavy)

# The order facts are shown in, and what each is about.
ORDER = ("best_b_region", "batched_vs_naive", "batched_vs_sequential", "batched_vs_multiprocessing",
         "batched_vs_numpy", "auto_vs_best", "per_task_overhead", "per_item_work", "break_even",
         "naive_fidelity", "parallel_efficiency")


@dataclass(frozen=True)
class Fact:
    """One claim: a figure, its unit, its 95% interval and what it was computed from."""

    key: str
    value: float | None
    unit: str  # "x" (a time ratio: other/this), "s", "items/task", "share", "B"
    ci: tuple[float, float] | None
    runs: tuple[str, ...]  # the labels compared (numerator first)
    pairs: int  # same-round pairs (or bootstrap rounds) behind the interval
    machine_dependent: bool  # its value follows the machine's speed or size
    tolerance: float
    method: str = "same-round pairs"
    members: tuple[float, ...] = ()  # best_b_region: the batch sizes in it
    detail: Mapping[str, float] = field(default_factory=dict)  # extra figures a renderer may quote


@dataclass(frozen=True)
class Facts:
    suite: str | None
    work_bound: bool
    items: str
    facts: tuple[Fact, ...]
    warnings: tuple[Warning_, ...]
    fingerprint: Fingerprint
    best_label: str | None = None
    best_batch_size: float | None = None
    placement: PlacementCost | None = None

    def get(self, key: str) -> Fact | None:
        return next((f for f in self.facts if f.key == key), None)


# --- a ratio from per-round pairs (bench.analysis.pairs) --------------------------------------


def ratio_fact(key: str, slower: Run, faster: Run, tolerance: float, machine_dependent: bool) -> Fact | None:
    """How many times `faster` beats `slower` per lookup, from their same-round pairs."""
    pairs = paired_ratios(per_round(slower), per_round(faster))
    if pairs:
        value, ci = log_t_interval(pairs)
        method = "same-round pairs"
    else:
        s, f = median_of(slower), median_of(faster)
        if not (s and f):
            return None
        value = (s / float(slower.params.get("queries") or 1)) / (f / float(faster.params.get("queries") or 1))
        ci, method = None, "ratio of medians (no rounds recorded)"
    return Fact(key, value, "x", ci, (slower.label, faster.label), len(pairs), machine_dependent, tolerance, method)


# --- the runs the claims are about ---------------------------------------------------------


def best_batched(res: Results) -> Run | None:
    sweep = valid_runs(res, "ray-batched")
    return min(sweep, key=lambda r: median_of(r) / float(r.params.get("queries") or 1)) if sweep else None


def largest_naive(res: Results) -> Run | None:
    return max(valid_runs(res, "ray-naive"), key=lambda r: r.params.get("tasks") or 0, default=None)


def on_cluster(res: Results) -> bool:
    return res.cluster.get("mode") == "existing" or bool(res.config.get("address"))


def is_work_bound(res: Results) -> bool:
    size = dict(res.workload).get("array_size")
    return res.suite == "heavy" or (isinstance(size, (int, float)) and size >= HEAVY_ARRAY)


def _region(res: Results, best: Run) -> Fact:
    """Every B whose same-round time is within REGION_WITHIN of the fastest B's."""
    best_rounds = per_round(best)
    members, detail = [], {}
    for run in valid_runs(res, "ray-batched"):
        pairs = paired_ratios(per_round(run), best_rounds)
        ratio = log_t_interval(pairs)[0] if pairs else median_of(run) / median_of(best)
        detail[str(run.params.get("batch_size"))] = ratio
        if ratio <= 1 + REGION_WITHIN + 1e-12:
            members.append(float(run.params.get("batch_size")))
    return Fact("best_b_region", float(best.params.get("batch_size")), "B", None, (best.label,),
                len(best_rounds), False, REGION_WITHIN, "same-round ratio to the fastest B",
                tuple(sorted(members)), detail)


# --- the model's c, w and break-even, with intervals from resampled rounds -------------------


def _sweep_rounds(res: Results) -> tuple[list[Run], dict[str, dict[int, list[float]]]]:
    sweep = valid_runs(res, "ray-batched")
    by_run = {}
    for run in sweep + valid_runs(res, "sequential")[:1]:
        rounds = run.extra.get("trial_rounds") or ()
        by_run[run.label] = {}
        for rnd, t in zip(rounds, run.samples.get("response_s") or ()):
            if t:
                by_run[run.label].setdefault(int(rnd), []).append(float(t))
    return sweep, by_run


def model_facts(res: Results) -> list[Fact]:
    """c, w and the break-even from the recorded fit; intervals from refits over resampled rounds."""
    model = (res.analysis or {}).get("model")
    if not model or model.get("per_task_overhead_s") is None:
        return []
    n, p = int(model["queries"]), int(model["cpus"])
    sweep, by_run = _sweep_rounds(res)
    seq = valid_runs(res, "sequential")[:1]
    rounds = sorted({r for run in by_run.values() for r in run})
    samples: dict[str, list[float]] = {"c": [], "w": [], "be": []}
    if len(rounds) >= 3 and len(sweep) >= 3:
        rng = np.random.default_rng(0)  # seeded: the same file gives the same interval
        for _ in range(BOOTSTRAP_RESAMPLES):
            chosen = rng.choice(rounds, size=len(rounds), replace=True)
            sizes, times = [], []
            for run in sweep:
                picked = [t for r in chosen for t in by_run[run.label].get(int(r), ())]
                if picked:
                    sizes.append(float(run.params["batch_size"]))
                    times.append(float(np.median(picked)))
            w = None
            if seq:
                picked = [t for r in chosen for t in by_run[seq[0].label].get(int(r), ())]
                if not picked:
                    continue
                w = float(np.median(picked)) / float(seq[0].params["queries"])
            if len(sizes) < 3:
                continue
            _, c, w_fit = fit_points(np.array(sizes), np.array(times), n, p, w)
            samples["c"].append(c)
            samples["w"].append(w_fit)
            if p > 1 and w_fit > 0:
                samples["be"].append(c / (p - 1) / w_fit)

    def interval(values):
        if len(values) < BOOTSTRAP_RESAMPLES // 2:
            return None
        return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))

    resampled = len(rounds) if samples["c"] else 0
    method = "bootstrap over rounds, sweep refitted"
    labels = tuple(r.label for r in sweep)
    facts = [Fact("per_task_overhead", float(model["per_task_overhead_s"]), "s", interval(samples["c"]), labels,
                  resampled, True, TOL_PER_TASK, method),
             Fact("per_item_work", float(model["per_lookup_work_s"]), "s", interval(samples["w"]), labels,
                  resampled, True, TOL_MACHINE_PYTHON, method)]
    if model.get("break_even_lookups_per_task"):
        facts.append(Fact("break_even", float(model["break_even_lookups_per_task"]), "items/task",
                          interval(samples["be"]), labels, resampled, True, TOL_PER_TASK, method,
                          detail={"work_s": float(model.get("break_even_work_per_task_s") or 0.0)}))
    return facts


# --- fidelity and efficiency ------------------------------------------------------------------


def calibration_rounds(res: Results) -> dict[int, float]:
    """Seconds per no-op task in each interleaved calibration batch, by the round it followed."""
    calibration = res.cluster.get("calibration") or {}
    rates = (calibration.get("samples") or {}).get("tasks_per_s") or ()
    return medians_by_round(calibration.get("trial_rounds") or (), [1.0 / float(r) if r else None for r in rates])


def fidelity_fact(res: Results) -> Fact | None:
    """A naive task's cost over a no-op task's, same rounds: what the lookup and harness add."""
    calibration = calibration_rounds(res)
    naive = sorted(valid_runs(res, "ray-naive"), key=lambda r: r.params.get("tasks") or 0, reverse=True)
    if not naive or not calibration:
        return None
    # the largest naive row with 3+ pairs (the 100k row plays 1 or 2 rounds), else the largest
    def pairs_of(run):
        per_task = {k: v * float(run.params.get("queries") or 1) / float(run.params.get("tasks") or 1)
                    for k, v in per_round(run).items()}
        return paired_ratios(per_task, calibration)
    chosen = next((r for r in naive if len(pairs_of(r)) >= 3), naive[0])
    pairs = pairs_of(chosen)
    if not pairs:
        return None
    value, ci = log_t_interval(pairs)
    return Fact("naive_fidelity", value, "x", ci, (chosen.label, "calibration"), len(pairs), False,
                TOL_PER_TASK)


def physical_cores(res: Results) -> tuple[int | None, bool]:
    """The host's physical cores, and whether they were recorded (older files: logical only)."""
    meta = res.metadata
    if meta.get("physical_cores"):
        return int(meta["physical_cores"]), True
    return (int(meta["cpu_count"]) if meta.get("cpu_count") else None), False


def efficiency_fact(res: Results, best: Run, seq: Run) -> Fact | None:
    """Speed-up over sequential per CPU that can actually run in parallel: the cluster's CPUs,
    capped by the host's physical cores (3 Ray CPUs on a 2-core host are 2 cores of work)."""
    speedup = ratio_fact("speedup", seq, best, TOL_CROSS_NODE, True)
    cpus = res.cluster.get("cluster_cpus") or (res.cluster.get("nodes_start") or {}).get("cpus")
    cores, recorded = physical_cores(res)
    if speedup is None or not (cpus or cores):
        return None
    usable = min(c for c in (cpus, cores) if c)
    ci = (speedup.ci[0] / usable, speedup.ci[1] / usable) if speedup.ci else None
    return Fact("parallel_efficiency", speedup.value / usable, "share", ci, speedup.runs, speedup.pairs, True,
                TOL_CROSS_NODE if on_cluster(res) else TOL_HOST, speedup.method,
                detail={"speedup": speedup.value, "usable_cpus": float(usable), "ray_cpus": float(cpus or 0),
                        "physical_cores": float(cores or 0), "physical_recorded": float(recorded)})


# --- all of it ----------------------------------------------------------------------------------


def compute(res: Results) -> Facts:
    """Every claim of one results file, from its recorded samples and rounds. Pure."""
    items, _ = item_words(dict(res.workload))
    best = best_batched(res)
    tol_batched = TOL_CROSS_NODE if on_cluster(res) else TOL_HOST
    facts: list[Fact] = []
    seq = next(iter(valid_runs(res, "sequential")), None)
    if best is not None:
        facts.append(_region(res, best))
        naive = largest_naive(res)
        for key, other, tol, machine in (
                ("batched_vs_naive", naive, TOL_PER_TASK, True),
                ("batched_vs_sequential", seq, tol_batched, True),
                ("batched_vs_multiprocessing", next(iter(valid_runs(res, "multiprocessing")), None), tol_batched, True),
                ("batched_vs_numpy", next(iter(valid_runs(res, "numpy")), None), tol_batched, True)):
            fact = ratio_fact(key, other, best, tol, machine) if other is not None else None
            if fact:
                facts.append(fact)
        auto = next(iter(valid_runs(res, "ray-auto")), None)
        if auto is not None:  # ray-auto's time over the best B's (1 = as good): best / auto per lookup
            fact = ratio_fact("auto_vs_best", auto, best, tol_batched, False)
            if fact:
                facts.append(fact)
    facts += model_facts(res)
    fidelity = fidelity_fact(res)
    if fidelity:
        facts.append(fidelity)
    if is_work_bound(res) and best is not None and seq is not None:
        efficiency = efficiency_fact(res, best, seq)
        if efficiency:
            facts.append(efficiency)
    facts.sort(key=lambda f: ORDER.index(f.key))
    return Facts(res.suite, is_work_bound(res), items, tuple(facts), tuple(warnings_of(res)), fingerprint(res),
                 best.label if best else None, float(best.params.get("batch_size")) if best else None,
                 placement_cost(res))

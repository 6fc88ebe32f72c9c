"""The overhead model recovers known parameters and picks sensible batch sizes."""

import math

import pytest

from bench.analysis.model import analyse, fit, predict
from bench.engine.ray_modes import choose_batch_size
from bench.results import Results, Run


def _run(mode, label, queries, median, batch_size=None, tasks=None):
    params = {"queries": queries, "tasks": tasks or 1}
    if batch_size:
        params["batch_size"] = batch_size
    return Run.from_dict({"mode": mode, "label": label, "params": params,
                          "samples": {"response_s": [median] * 3},
                          "stats": {"response_s": {"median": median}, "tasks_per_s": {"median": (tasks or 1) / median}},
                          "correct": True})


def synthetic(a=0.02, c=400e-6, w=2e-6, n=100_000, p=4, sizes=(10, 100, 1000, 10000, 25000)):
    runs = [_run("sequential", "sequential", n, n * w)]
    runs += [_run("ray-batched", f"B={b}", n, predict(a, c, w, n, p, b), b, math.ceil(n / b)) for b in sizes]
    return Results(metadata={}, workload={"queries": n}, runs=tuple(runs),
                   cluster={"cluster_cpus": p, "calibration": {"stats": {"tasks_per_s": {"median": 2000.0}}}})


def test_fit_recovers_known_parameters():
    model = fit(synthetic())
    assert model["fixed_cost_s"] == pytest.approx(0.02, rel=1e-6)
    assert model["per_task_overhead_s"] == pytest.approx(400e-6, rel=1e-6)
    assert model["per_lookup_work_s"] == pytest.approx(2e-6, rel=1e-9)
    assert model["r_squared"] == pytest.approx(1.0)
    assert model["best_batch_size"] == 25000  # one task per CPU
    # break-even: W/P + c/P < W  =>  W > c/(P-1)
    assert model["break_even_work_per_task_s"] == pytest.approx(400e-6 / 3)
    assert model["break_even_lookups_per_task"] == pytest.approx(400e-6 / 3 / 2e-6)
    # T(10000) = 0.02 + 10*c/4 + N*w/4 = 0.0710 is within 5% of T(25000) = 0.0704; T(1000) is not
    assert model["smallest_batch_within_5pct"] == 10000
    grid_best = min(predict(0.02, 400e-6, 2e-6, 100_000, 4, b) for b, _ in model["curve"])
    expected = min(b for b, t in model["curve"] if t <= grid_best * 1.05)
    assert model["model_smallest_batch_within_5pct"] == expected
    assert predict(0.02, 400e-6, 2e-6, 100_000, 4, expected) <= grid_best * 1.05


def test_fit_without_sequential_fits_work_too():
    res = synthetic()
    res = Results(metadata={}, workload={}, cluster=res.cluster, runs=res.runs[1:])
    model = fit(res)
    assert model["per_lookup_work_source"] == "fitted"
    assert model["per_task_overhead_s"] == pytest.approx(400e-6, rel=1e-3)


def test_no_sweep_no_model():
    res = synthetic(sizes=(10, 100))
    assert fit(res) is None


def test_auto_ratio_and_harness_overhead():
    res = synthetic()
    auto = _run("ray-auto", "ray-auto", 100_000, 0.09, 5000, 20)
    naive = _run("ray-naive", "naive", 10_000, 10_000 / 1800, tasks=10_000)
    res = Results(metadata={}, workload={}, cluster=res.cluster, runs=res.runs + (auto, naive))
    analysis = analyse(res)
    best = min(r.stats["response_s"]["median"] for r in res.runs if r.mode == "ray-batched")
    assert analysis["auto"]["ratio"] == pytest.approx(0.09 / best)
    assert analysis["harness"]["ratio"] == pytest.approx(1800 / 2000)


@pytest.mark.parametrize("queries, cpus, c, w", [
    (100_000, 4, 400e-6, 2e-6),
    (100_000, 4, 1.0, 1e-6),
    (1000, 3, 1e-9, 1.0),
    (1000, 2, 1e-9, 1.0),
    (10, 4, 1e-9, 1.0),
    (12_345, 7, 3e-4, 2e-6),
    (1_000_000, 4, 1e-3, 1e-4),
    (1_000_000, 4, 0.1, 1e-4),
    (5_000_000, 16, 2e-3, 3e-6),
])
def test_choose_batch_size_properties(queries, cpus, c, w):
    target, max_task_s = 0.05, 1.0
    size = choose_batch_size(queries, cpus, c, w, target, max_task_s)
    tasks = math.ceil(queries / size)
    per_cpu = math.ceil(queries / cpus)
    assert 1 <= size <= max(1, per_cpu)
    # whole waves: every CPU gets the same number of tasks (or one task per CPU at most)
    assert tasks % cpus == 0 or size == per_cpu or queries <= cpus
    # overhead share c/(B*w) under the target unless capped at one task per CPU
    assert c / (size * w) <= target or size == per_cpu or queries <= cpus
    # more than one wave only when one task per CPU would run longer than max_task_s
    assert size == per_cpu or queries <= cpus or per_cpu * w > max_task_s


def test_choose_batch_size_examples():
    # short uniform work: one wave, one task per CPU
    assert choose_batch_size(100_000, 4, 400e-6, 2e-6, 0.05, 1.0) == 25_000
    # huge overhead: one task per CPU
    assert choose_batch_size(100_000, 4, 1.0, 1e-6, 0.05, 1.0) == 25_000
    # long work (25 s per CPU): 1 s tasks, 100 tasks = 25 waves of 4
    assert choose_batch_size(1_000_000, 4, 1e-3, 1e-4, 0.05, 1.0) == 10_000
    # long work, but c = 0.1 s needs B >= 20,000 for a 5% share: 50 tasks grown to 48 (12 waves)
    assert choose_batch_size(1_000_000, 4, 0.1, 1e-4, 0.05, 1.0) == 20_834
    # fewer lookups than CPUs: one lookup per task
    assert choose_batch_size(3, 4, 1e-9, 1.0, 0.05, 1.0) == 1


@pytest.mark.parametrize("queries, cpus, c, w, cap", [
    (100_000, 3, 6.5e-3, 2.8e-6, 12_672),  # the compose cluster: one task per CPU would be 33,334
    (100_000, 2, 1.3e-3, 1.2e-6, 12_672),
    (1_000_000, 16, 1e-3, 1e-4, 12_672),   # long tasks: the 1 s duration cap (10,000) is already under it
    (100_000, 6, 1e-4, 8e-5, 12_672),      # 1 s tasks under the cap, but growing to whole waves passes it
    (100, 7, 1e-4, 1e-6, 10),
    (50, 4, 1e-3, 1e-6, 7),
    (10, 3, 1e-3, 1e-6, 1),
])
def test_inline_payload_cap_is_never_exceeded(queries, cpus, c, w, cap):
    size = choose_batch_size(queries, cpus, c, w, 0.05, 1.0, cap)
    uncapped = choose_batch_size(queries, cpus, c, w, 0.05, 1.0)
    assert 1 <= size <= cap
    assert size >= min(cap, uncapped) // 2, "never collapses towards one-lookup tasks"
    if uncapped <= cap:
        assert size == uncapped  # the cap only ever bites when it must
    if math.ceil(queries / size) % cpus:
        # a ragged last wave only when no size from half the cap up to it gives whole waves
        assert not any(math.ceil(queries / b) % cpus == 0 for b in range(max(1, size // 2), cap + 1))


def test_inline_payload_cap_example():
    # 100k lookups on 3 one-CPU nodes: 33,334 per task would leave the inline limit; 8 tasks
    # fit under 12,672 lookups, made 9 (whole waves of 3) of 11,112 lookups each.
    assert choose_batch_size(100_000, 3, 6.5e-3, 2.8e-6, 0.05, 1.0, 12_672) == 11_112
    # 1 s tasks (12,500 lookups) fit the cap but make 8 tasks on 6 CPUs; growing to whole
    # waves would pass the cap, so 12 even tasks instead.
    assert choose_batch_size(100_000, 6, 1e-4, 8e-5, 0.05, 1.0, 12_672) == 8_334
    # no whole-wave split within half the size: the last wave stays ragged rather than tiny tasks
    assert choose_batch_size(100, 7, 1e-4, 1e-6, 0.05, 1.0, 10) == 10


def _sweep_from_curve(curve, n=100_000, p=4, sizes=(10, 100, 1000, 10000, 25000), noise=0.03, seed=1):
    """A sweep whose times come from `curve(b)` with multiplicative noise, plus a sequential run."""
    import numpy as np

    rng = np.random.default_rng(seed)
    runs = [_run("sequential", "sequential", n, n * 2e-6)]
    for b in sizes:
        t = curve(b) * (1 + noise * rng.standard_normal())
        runs.append(_run("ray-batched", f"B={b}", n, t, b, math.ceil(n / b)))
    return Results(metadata={}, workload={"queries": n}, runs=tuple(runs), cluster={"cluster_cpus": p})


def test_fit_is_relative_so_fast_points_count():
    """An absolute fit lets the 10-lookup point (seconds) decide; the relative fit keeps the
    fast points, where the best B is, within a few percent of the noiseless truth."""
    res = _sweep_from_curve(lambda b: predict(0.02, 400e-6, 2e-6, 100_000, 4, b), noise=0.02)
    model = fit(res)
    assert model["fitted_on"].startswith("relative")
    assert abs(model["max_relative_residual"]) < 0.10
    assert not model["misfit"]
    assert all(abs(p["relative_residual"]) < 0.10 for p in model["points"])


def test_fit_reports_a_misfit_on_another_curve():
    """Times from a curve the model cannot express (a U shape with a steep rise at large B,
    as a stall would make): R² on the linear scale still looks fine, the relative residuals
    do not, and the fit says so."""
    def stalling(b):
        return 1e-4 * 100_000 / b + 0.05 + (1.0 if b >= 10000 else 0.0)

    model = fit(_sweep_from_curve(stalling, noise=0.02))
    assert model["misfit"] is True
    assert abs(model["max_relative_residual"]) > 0.25
    assert model["worst_point_batch_size"] in {p["batch_size"] for p in model["points"]}
    assert model["rms_relative_error"] > 0.1


def test_naive_fit_weights_every_point_alike():
    """A 1k-task point far above the line the other points lie on is a visible misfit
    (an absolute fit would pass within 2% of the 100k point and call it R² = 1.000)."""
    from bench.analysis.model import naive_fit

    exact = naive_fit([(1000, 1.0), (10_000, 10.0), (100_000, 100.0)])
    assert exact["rate"] == pytest.approx(1000, rel=1e-6)
    assert abs(exact["max_relative_residual"]) < 1e-6
    skewed = naive_fit([(1000, 6.0), (10_000, 10.0), (50_000, 50.0), (100_000, 100.0)])
    assert abs(skewed["max_relative_residual"]) > 0.25
    assert skewed["misfit"] is True
    assert skewed["rms_relative_error"] > 0.1


def _rounds_run(mode, times, rounds, batch_size=None):
    run = _run(mode, mode if not batch_size else f"B={batch_size}", 100_000, sorted(times)[len(times) // 2],
               batch_size, 10)
    data = run.to_dict()
    data["samples"] = {"response_s": list(times)}
    data["trial_rounds"] = list(rounds)
    return Run.from_dict(data)


def test_auto_ratio_pairs_trials_of_the_same_round():
    """Drift that slows every configuration in later rounds cancels out of same-round ratios."""
    from bench.analysis.model import auto_ratio, paired_round_ratios

    drift = [1.0, 1.2, 1.4, 1.6, 1.8]
    best = _rounds_run("ray-batched", [0.1 * d for d in drift], range(1, 6), 25000)
    other = _rounds_run("ray-batched", [0.2 * d for d in drift], range(1, 6), 1000)
    auto = _rounds_run("ray-auto", [0.105 * d for d in drift], range(1, 6), 25000)
    assert paired_round_ratios(auto, best) == pytest.approx([1.05] * 5)
    res = Results(metadata={}, workload={}, cluster={"cluster_cpus": 4}, runs=(best, other, auto))
    ratio = auto_ratio(res)
    assert ratio["ratio"] == pytest.approx(1.05)
    assert ratio["ratio_method"] == "median of same-round ratios"
    assert ratio["paired_rounds"] == 5
    low, high = ratio["ratio_ci95"]
    assert low <= 1.05 <= high
    # rounds that only one of the two ran are not paired
    partial = _rounds_run("ray-auto", [0.105, 0.126], [1, 7])
    assert paired_round_ratios(partial, best) == pytest.approx([1.05])


def test_drift_is_measured_per_round_and_across_runs():
    from bench.analysis.model import drift

    rising = [_rounds_run("ray-batched", [t * 1.1 ** k for k in range(5)], range(1, 6), b)
              for b, t in ((10, 1.0), (100, 0.2), (1000, 0.1), (10000, 0.05))]
    found = drift(Results(metadata={}, workload={}, cluster={}, runs=tuple(rising)))
    assert found["median_relative_change_per_round"] == pytest.approx(0.10, rel=1e-6)
    assert all(r["relative_change_per_round"] == pytest.approx(0.10, rel=1e-6) for r in found["runs"])
    assert found["p_value"] < 0.2  # 4 runs all rising: as small as a 4-run signed-rank test gets
    flat = [_rounds_run("ray-batched", [t, t * 1.01, t * 0.99, t], range(1, 5), b)
            for b, t in ((10, 1.0), (100, 0.2), (1000, 0.1))]
    assert abs(drift(Results(metadata={}, workload={}, cluster={}, runs=tuple(flat)))["median_relative_change_per_round"]) < 0.01
    assert drift(Results(metadata={}, workload={}, cluster={}, runs=tuple(flat[:2]))) is None

"""The overhead model recovers known parameters and picks sensible batch sizes."""

import math

import pytest

from bench.model import analyse, fit, predict
from bench.modes import choose_batch_size
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
    assert 1 <= model["model_smallest_batch_within_5pct"] <= 25000


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


@pytest.mark.parametrize("queries, cpus, c, w, expected", [
    (100_000, 4, 400e-6, 2e-6, 4000),     # 20*c/w = 4000 -> 25 tasks -> 24 (6 waves of 4) -> ceil(100000/24)
    (100_000, 4, 1.0, 1e-6, 25_000),      # huge overhead: one task per CPU
    (10, 4, 1e-9, 1.0, 2),                # tiny workload, big work: at least 1 lookup per task
])
def test_choose_batch_size(queries, cpus, c, w, expected):
    size = choose_batch_size(queries, cpus, c, w, 0.05)
    tasks = math.ceil(queries / size)
    assert size <= math.ceil(queries / cpus) or tasks <= cpus
    if expected == 4000:
        assert tasks % cpus == 0 and size == math.ceil(100_000 / 24)
    else:
        assert size == expected


def _sized(cpus, batched_s, naive_s, seq_s=1.0):
    runs = (
        _run("sequential", "sequential", 1000, seq_s),
        _run("ray-batched", "B=10", 1000, batched_s * 3, 10, 100),
        _run("ray-batched", "B=250", 1000, batched_s, 250, 4),
        _run("ray-naive", "naive 100", 100, naive_s / 5, tasks=100),
        _run("ray-naive", "naive 1000", 1000, naive_s, tasks=1000),
    )
    return Results(metadata={}, workload={}, runs=runs,
                   cluster={"cluster_cpus": cpus, "nodes_start": {"alive_with_cpus": cpus}})


def test_scaling_speedup_and_efficiency():
    from bench.model import scaling

    out = scaling([_sized(4, 0.30, 10.0), _sized(1, 1.0, 10.0), _sized(2, 0.52, 10.0)])
    batched = out["ray-batched"]
    assert [p["cpus"] for p in batched] == [1, 2, 4]
    assert [p["label"] for p in batched] == ["B=250"] * 3  # the best batch size stands for the mode
    assert batched[2]["speedup"] == pytest.approx(1.0 / 0.30)
    assert batched[2]["ideal"] == 4
    assert batched[2]["efficiency"] == pytest.approx(1.0 / 0.30 / 4)
    assert batched[1]["vs_sequential"] == pytest.approx(1.0 / 0.52)
    naive = out["ray-naive"]
    assert [p["label"] for p in naive] == ["naive 1000"] * 3  # the largest naive point
    assert naive[2]["speedup"] == pytest.approx(1.0)

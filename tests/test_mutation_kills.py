"""Tests written to kill mutants that `make mutation` (mutmut) found surviving (issue 12).

Each test asserts behaviour that the code promises (docstrings, README, the report's
meaning), not a measured figure. Equivalent survivors are listed in tests/MUTANTS.md.
"""

import concurrent.futures
import math
import time

import numpy as np
import pytest

from bench import mode_table
from bench.engine import modes, ray_modes
from bench.engine.workload import Workload
from bench.results import Results, Run


# ---- bench.engine.modes: the parts that assemble answers and latencies without Ray ----------

def test_tracking_stride_spreads_at_most_the_tracked_count():
    cap = modes.LATENCY_TRACKED_TASKS
    assert modes.tracking_stride(0) == 1 and modes.tracking_stride(1) == 1
    assert modes.tracking_stride(cap) == 1
    assert modes.tracking_stride(cap + 1) == 2
    assert modes.tracking_stride(10 * cap) == 10
    for tasks in (1, cap - 1, cap, cap + 1, 3 * cap + 7, 100_000):
        tracked = len(range(0, tasks, modes.tracking_stride(tasks)))
        assert tracked <= cap


def test_latency_tracker_wants_every_stride_th_task_and_collects_in_order():
    done_counts = []
    tracker = modes.LatencyTracker(4 * modes.LATENCY_TRACKED_TASKS, on_done=done_counts.append)
    assert tracker.stride == 4
    assert [i for i in range(13) if tracker.wants(i)] == [0, 4, 8, 12]
    futures = [concurrent.futures.Future() for _ in range(3)]
    start = time.perf_counter()
    for f in futures:
        tracker.track(f, start)
    assert tracker.collect(timeout_s=0.0) == []  # nothing finished yet
    time.sleep(0.01)
    for f in reversed(futures):
        f.set_result(None)
    lat = tracker.collect(timeout_s=1.0)
    assert len(lat) == 3 and all(0.01 <= v < 5 for v in lat)
    # slot i holds future i's latency: the last one finished first, so it is the smallest
    assert lat[2] <= lat[1] <= lat[0]
    assert done_counts == [4, 4, 4]  # progress is told `stride` tasks per tracked task


def test_latency_tracker_without_progress_hook_and_waits_for_late_callbacks():
    tracker = modes.LatencyTracker(10)
    assert tracker.stride == 1 and tracker.wants(0) and tracker.wants(7)
    f = concurrent.futures.Future()
    tracker.track(f, time.perf_counter())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: (time.sleep(0.05), f.set_result(1)))
        lat = tracker.collect(timeout_s=5.0)  # waits for the callback instead of dropping it
    assert len(lat) == 1 and lat[0] >= 0.04
    # a callback that never comes: collect gives up after its timeout, without the missing value
    t2 = modes.LatencyTracker(10)
    t2.track(concurrent.futures.Future(), time.perf_counter())
    t0 = time.monotonic()
    assert t2.collect(timeout_s=0.05) == []
    assert 0.04 <= time.monotonic() - t0 < 2.0


def test_sequential_and_numpy_trials_answer_the_prefix_like_the_reference():
    w = Workload(500, array_size=50, value_range=80, seed=4)
    for cls in (modes.Sequential, modes.Numpy):
        mode = cls(w)
        assert mode.tasks_for(123) == 1 and mode.params == {} and mode.workload is w
        out = mode.trial(123)
        assert out.answers.dtype == np.int64 and np.array_equal(out.answers, w.reference[:123])
        assert out.tasks == 1 and out.response_s > 0 and out.task_latencies_s == [out.response_s]
        assert out.submit_s is None
        assert out.response_s < 60  # a duration, not a perf_counter reading plus one


def test_numpy_first_index_chunks_and_edge_cases(monkeypatch):
    array = np.array([5, 3, 5, 9], dtype=np.int64)
    queries = np.array([5, 9, 4, 3, 5, 0, 9], dtype=np.int64)
    expected = np.array([0, 3, -1, 1, 0, -1, 3])
    for cells in (1, 4, 5, 8, 12, 10**6):  # one row per chunk, ragged chunks, one chunk
        monkeypatch.setattr(modes, "NUMPY_CHUNK_CELLS", cells)
        out = modes.numpy_first_index(array, queries)
        assert out.dtype == np.int64 and np.array_equal(out, expected), cells
    assert modes.numpy_first_index(array, np.array([], dtype=np.int64)).size == 0


def test_multiprocessing_chunks_cover_all_queries():
    w = Workload(10, array_size=5, seed=1)
    mode = modes.Multiprocessing(w, processes=2)
    assert mode.workload is w and modes.Multiprocessing(w, 3, tag=1).params == {"processes": 3, "tag": 1}
    assert mode.processes == 2 and mode.pool is None and mode.params == {"processes": 2}
    # 4 chunks per process: 8 tasks when there are enough queries
    assert mode.chunk_for(80) == 10 and mode.tasks_for(80) == 8
    assert mode.chunk_for(81) == 11 and mode.tasks_for(81) == 8
    assert mode.chunk_for(3) == 1 and mode.tasks_for(3) == 3  # never more tasks than queries


def test_ray_modes_are_built_and_sized_without_ray():
    w = Workload(1000, array_size=10, seed=1)
    naive = ray_modes.RayNaive(w, window=64, extra=1)
    assert naive.window == 64 and naive.params == {"placement": "affinity", "window": 64, "extra": 1} and naive.tasks_for(321) == 321
    assert ray_modes.RayNaive(w).window is None and ray_modes.RayNaive(w).params == {"placement": "affinity", "window": None}
    batched = ray_modes.RayBatched(w, batch_size=100)
    assert batched.batch_size == 100 and batched.array_ref is None and batched.params == {"placement": "affinity", "batch_size": 100}
    assert batched.tasks_for(1000) == 10 and batched.tasks_for(1001) == 11 and batched.tasks_for(1) == 1
    assert naive.workload is w and batched.workload is w
    auto = ray_modes.RayAuto(w, cluster_cpus=0)
    assert auto.workload is w and ray_modes.RayAuto(w, 2, x=1).params == {"placement": "affinity", "batch_size": 1, "cluster_cpus": 2, "x": 1}
    assert auto.cluster_cpus == 1 and auto.batch_size == 1 and auto.probe == {}
    assert auto.params == {"placement": "affinity", "batch_size": 1, "cluster_cpus": 0}
    assert ray_modes.RayBatched(w, 10, placement="default").placement == "default" and naive.placement == "affinity"
    assert ray_modes.RayAuto(w, cluster_cpus=6).cluster_cpus == 6
    for cls in (ray_modes.RayNaive, ray_modes.RayBatched, ray_modes.RayAuto):
        assert cls.uses_ray and mode_table.spec_of(cls.name).strategy_class() is cls
    assert not modes.Sequential.uses_ray and not modes.Numpy.uses_ray


def test_inline_object_bytes_reads_rays_variable(monkeypatch):
    monkeypatch.delenv("RAY_max_direct_call_object_size", raising=False)
    assert ray_modes.inline_object_bytes() == 100 * 1024
    monkeypatch.setenv("RAY_max_direct_call_object_size", "2048")
    assert ray_modes.inline_object_bytes() == 2048
    monkeypatch.setenv("RAY_max_direct_call_object_size", "lots")
    assert ray_modes.inline_object_bytes() == 100 * 1024


# ---- bench.results: the immutable updates -------------------------------------------

def _results():
    return Results.from_dict({
        "schema_version": 1, "metadata": {"host": "h"}, "workload": {"queries": 1},
        "cluster": {"mode": "local", "nodes": [{"id": "a"}]}, "runs": [],
    })


def test_with_run_appends_and_with_cluster_merges_without_touching_the_original():
    res = _results()
    run = Run.from_dict({"mode": "numpy", "params": {}, "samples": {}, "stats": {}, "correct": True})
    one = res.with_run(run)
    two = one.with_run(run)
    assert res.runs == () and one.runs == (run,) and two.runs == (run, run)
    merged = res.with_cluster(cluster_cpus=4, mode="remote")
    assert merged.to_dict()["cluster"] == {"mode": "remote", "nodes": [{"id": "a"}], "cluster_cpus": 4}
    assert res.to_dict()["cluster"] == {"mode": "local", "nodes": [{"id": "a"}]}
    with pytest.raises(TypeError):
        merged.cluster["mode"] = "x"  # still frozen


# ---- bench.analysis.model: bootstrap interval, representative runs, scaling -------------------

def _mrun(mode, median, label=None, correct=True, **params):
    """A run whose response-time median is `median` (None: no samples)."""
    stats = {"response_s": {"median": median}} if median is not None else {}
    samples = {"response_s": [median] * 3} if median is not None else {}
    return Run.from_dict({"mode": mode, "label": label or mode, "params": params, "samples": samples,
                          "stats": stats, "correct": correct})


def _mres(runs, cpus=None, **cluster):
    if cpus is not None:
        cluster["cluster_cpus"] = cpus
    return Results(metadata={}, workload={}, cluster=cluster, runs=tuple(runs))


def test_bootstrap_median_ci_is_the_seeded_percentile_interval():
    from bench.analysis.model import bootstrap_median_ci

    values = list(1 + 0.3 * np.random.default_rng(3).standard_normal(40))  # many distinct medians
    low, high = bootstrap_median_ci(values)
    # the documented defaults (2000 resamples, seed 0): the same file gives the same figure
    assert [low, high] == bootstrap_median_ci(values, resamples=2000, seed=0) == bootstrap_median_ci(values)
    assert bootstrap_median_ci(values, seed=1) != [low, high]
    assert bootstrap_median_ci(values, resamples=2001) != [low, high]  # (these data: every setting shows)
    # a 95% interval: the 2.5th and 97.5th percentiles of the bootstrap medians
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(np.array(values), size=(2000, len(values))), axis=1)
    assert low == pytest.approx(np.percentile(medians, 2.5), abs=0)
    assert high == pytest.approx(np.percentile(medians, 97.5), abs=0)
    assert min(values) <= low < np.median(values) < high <= max(values)


def test_representative_is_the_fastest_correct_run_or_the_largest_naive_one():
    from bench.analysis import model

    res = _mres([
        _mrun("ray-batched", 0.05, "B=10", batch_size=10),
        _mrun("ray-batched", 0.01, "B=bad", correct=False, batch_size=20),  # faster but wrong
        _mrun("ray-batched", None, "B=none", batch_size=30),                # no samples
        _mrun("ray-batched", 0.03, "B=100", batch_size=100),
        _mrun("numpy", 0.001),                                                # another mode, faster
        _mrun("ray-naive", 0.5, "naive-1k", tasks=1000),
        _mrun("ray-naive", 2.0, "naive-10k", tasks=10_000),
        _mrun("ray-naive", 0.1, "naive-100", tasks=100),
        _mrun("ray-naive", 9.0, "naive-bad", correct=False, tasks=100_000),
    ])
    assert model._representative(res, "ray-batched").label == "B=100"
    # naive stands for itself at its largest task count, however slow (not the fastest)
    assert model._representative(res, "ray-naive").label == "naive-10k"
    assert model._representative(res, "numpy").label == "numpy"
    assert model._representative(res, "sequential") is None
    only_wrong = _mres([_mrun("ray-batched", 0.01, correct=False, batch_size=1), _mrun("numpy", 0.002)])
    assert model._representative(only_wrong, "ray-batched") is None


def test_scaling_orders_by_cpus_skips_missing_modes_and_compares_with_sequential():
    from bench.analysis.model import scaling

    def res(cpus, batched, seq=None, mp=None):
        runs = [_mrun("ray-batched", batched, f"B@{cpus}", batch_size=100)]
        if seq is not None:
            runs.append(_mrun("sequential", seq))
        if mp is not None:
            runs.append(_mrun("multiprocessing", mp, processes=cpus))
        return _mres(runs, cpus=cpus, nodes_start={"alive_with_cpus": cpus // 2})

    # given out of order: scaling sorts by CPUs, the smallest cluster is the base
    out = scaling([res(8, 0.25, seq=2.0, mp=0.5), res(2, 1.0, seq=2.0), res(4, 0.5, seq=2.0, mp=1.0)])
    batched = out["ray-batched"]
    assert [p["cpus"] for p in batched] == [2, 4, 8]
    assert [p["nodes"] for p in batched] == [1, 2, 4]
    assert [p["label"] for p in batched] == ["B@2", "B@4", "B@8"]
    assert [p["speedup"] for p in batched] == pytest.approx([1.0, 2.0, 4.0])
    assert [p["ideal"] for p in batched] == pytest.approx([1.0, 2.0, 4.0])
    assert [p["efficiency"] for p in batched] == pytest.approx([1.0, 1.0, 1.0])
    assert [p["vs_sequential"] for p in batched] == pytest.approx([2.0, 4.0, 8.0])
    # the 2-CPU file has no multiprocessing run: skipped, the later files still count
    mp = out["multiprocessing"]
    assert [p["cpus"] for p in mp] == [4, 8] and [p["speedup"] for p in mp] == pytest.approx([1.0, 2.0])
    assert [p["ideal"] for p in mp] == pytest.approx([1.0, 2.0])
    assert "ray-naive" not in out and "ray-auto" not in out
    # no sequential run in the file: no comparison with it
    assert scaling([res(2, 1.0)])["ray-batched"][0]["vs_sequential"] is None
    # a file that does not say its CPU count sorts first (as 0 CPUs): no ideal, no efficiency
    unknown = _mres([_mrun("ray-batched", 1.0, "B@?", batch_size=100)])
    points = scaling([res(1, 0.5), unknown])["ray-batched"]
    assert [p["label"] for p in points] == ["B@?", "B@1"]
    assert points[1]["ideal"] is None and points[1]["efficiency"] is None
    assert points[1]["speedup"] == pytest.approx(2.0)


# ---- bench.analysis.compare: what `bench compare` prints and raises --------------------------

def _fixture_file(tmp_path, name, edit):
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).parent / "fixtures" / "compare-base.json").read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_compare_files_names_both_paths_when_the_workloads_differ(tmp_path):
    import io

    from bench.analysis import compare
    from bench.errors import UsageError

    a = _fixture_file(tmp_path, "a.json", lambda d: None)
    b = _fixture_file(tmp_path, "b.json", lambda d: d["workload"].update(seed=7))
    with pytest.raises(UsageError, match=rf"^cannot compare {a} and {b}: the workloads differ \(seed 42 vs 7\)$"):
        compare.compare_files(a, b, out=io.StringIO())


def test_compare_files_lists_every_unmatched_run_on_each_side(tmp_path):
    import io

    from bench.analysis import compare

    def drop(labels):
        return lambda d: d.update(runs=[r for r in d["runs"] if r["label"] not in labels])

    a = _fixture_file(tmp_path, "a.json", drop({"numpy", "sequential"}))
    b = _fixture_file(tmp_path, "b.json", drop({"ray-auto", "multiprocessing P=2"}))
    out = io.StringIO()
    compare.compare_files(a, b, out=out)
    lines = out.getvalue().splitlines()
    assert "only in A: multiprocessing P=2, ray-auto" in lines
    assert "only in B: sequential, numpy" in lines


def test_compare_files_note_says_how_many_trials_a_rank_test_needs(tmp_path):
    import io

    from bench.analysis import compare

    def keep(n):
        return lambda d: [r["samples"].update(response_s=r["samples"]["response_s"][:n]) for r in d["runs"]]

    a3, b3 = _fixture_file(tmp_path, "a3.json", keep(3)), _fixture_file(tmp_path, "b3.json", keep(3))
    out = io.StringIO()
    compare.compare_files(a3, b3, out=out)
    assert "note: with 3 trial(s) a side a rank test cannot reach p < 0.05; rerun both with --trials 4 or more" \
        in out.getvalue()
    # at alpha = the smallest p of 4 vs 4 trials, 4 cannot go below it: 5 are needed
    out = io.StringIO()
    compare.compare_files(a3, b3, alpha=compare.min_attainable_p(4, 4), out=out)
    assert "--trials 5 or more" in out.getvalue()
    # a lax alpha: 2 trials a side can reach it, 1 cannot
    a1, b1 = _fixture_file(tmp_path, "a1.json", keep(1)), _fixture_file(tmp_path, "b1.json", keep(1))
    out = io.StringIO()
    compare.compare_files(a1, b1, alpha=0.4, out=out)
    assert "with 1 trial(s) a side a rank test cannot reach p < 0.4; rerun both with --trials 2 or more" \
        in out.getvalue()
    # the fewest trials of any untestable row is the one named
    mixed = _fixture_file(tmp_path, "mixed.json", lambda d: d["runs"][0]["samples"].update(
        response_s=d["runs"][0]["samples"]["response_s"][:2]))
    out = io.StringIO()
    compare.compare_files(a3, mixed, out=out)
    assert "note: with 2 trial(s) a side" in out.getvalue()


def test_compare_files_names_every_regressed_run(tmp_path):
    from bench.analysis import compare
    from bench.errors import RuntimeFailure

    slowed = ("numpy", "ray-auto")

    def slow_down(d):
        for r in d["runs"]:
            if r["label"] in slowed:
                r["samples"]["response_s"] = [2 * v for v in r["samples"]["response_s"]]

    a = _fixture_file(tmp_path, "a.json", lambda d: None)
    b = _fixture_file(tmp_path, "b.json", slow_down)
    with pytest.raises(RuntimeFailure, match=r"^2 run\(s\) regressed beyond 10%: numpy \(\+\d+\.\d%\), ray-auto \(\+\d+\.\d%\)$"):
        compare.compare_files(a, b, fail_above=0.1, out=__import__("io").StringIO())


# ---- bench.analysis.model: the sweep fit -------------------------------------------------------

def _sweep(times_by_size, n=100_000, cpus=4, seq=None, extra=()):
    runs = [_mrun("sequential", seq, queries=n)] if seq is not None else []
    runs += [_mrun("ray-batched", t, f"B={b}", queries=n, batch_size=b) for b, t in times_by_size.items()]
    return _mres(runs + list(extra), cpus=cpus)


def test_fit_reports_every_figure_of_an_exact_sweep():
    from bench.analysis import model

    a, c, w, n, p = 0.02, 400e-6, 2e-6, 100_000, 4
    sizes = (10, 100, 1000, 10_000, 25_000)
    times = {b: model.predict(a, c, w, n, p, b) for b in sizes}
    noise = [_mrun("ray-batched", 1e-6, "B=wrong", correct=False, queries=n, batch_size=50),  # wrong answers
             _mrun("ray-batched", None, "B=empty", queries=n, batch_size=70),                 # no samples
             _mrun("sequential", 99.0, "seq-wrong", correct=False, queries=n)]
    fitted = model.fit(_sweep(times, n, p, seq=n * w, extra=noise))
    assert fitted["formula"] == model.FORMULA and fitted["fitted_on"] == "relative error (weights 1/T)"
    assert fitted["queries"] == n and fitted["cpus"] == p
    assert fitted["per_lookup_work_source"] == "sequential run"
    assert fitted["per_lookup_work_s"] == pytest.approx(w, rel=1e-12)
    assert fitted["fixed_cost_s"] == pytest.approx(a, rel=1e-6)
    assert fitted["per_task_overhead_s"] == pytest.approx(c, rel=1e-6)
    assert fitted["r_squared"] == pytest.approx(1.0)
    assert fitted["rms_relative_error"] == pytest.approx(0, abs=1e-9) and fitted["misfit"] is False
    assert abs(fitted["max_relative_residual"]) < 1e-9
    assert fitted["max_relative_residual_index"] in range(len(sizes))
    assert fitted["worst_point_batch_size"] == sizes[fitted["max_relative_residual_index"]]
    assert [pt["batch_size"] for pt in fitted["points"]] == list(sizes)
    assert [pt["measured_s"] for pt in fitted["points"]] == [times[b] for b in sizes]
    assert [pt["predicted_s"] for pt in fitted["points"]] == pytest.approx([times[b] for b in sizes], rel=1e-6)
    assert all(abs(pt["relative_residual"]) < 1e-6 for pt in fitted["points"])
    curve = fitted["curve"]
    assert curve[0][0] == 1.0 and curve[-1][0] == float(n) and 30 <= len(curve) <= 60
    assert all(b1 < b2 for (b1, _), (b2, _) in zip(curve, curve[1:]))
    assert all(t == pytest.approx(model.predict(a, c, w, n, p, b), rel=1e-6) for b, t in curve)
    assert fitted["best_batch_size"] == 25_000 and fitted["best_time_s"] == times[25_000]
    assert fitted["break_even_work_per_task_s"] == pytest.approx(c / (p - 1), rel=1e-6)
    assert fitted["break_even_lookups_per_task"] == pytest.approx(c / (p - 1) / w, rel=1e-6)
    assert set(fitted) == {
        "formula", "fitted_on", "queries", "cpus", "fixed_cost_s", "per_task_overhead_s", "per_lookup_work_s",
        "per_lookup_work_source", "r_squared", "rms_relative_error", "max_relative_residual",
        "max_relative_residual_index", "misfit", "worst_point_batch_size", "points", "curve", "best_batch_size",
        "best_time_s", "smallest_batch_within_5pct", "model_smallest_batch_within_5pct",
        "break_even_work_per_task_s", "break_even_lookups_per_task"}


def test_fit_needs_three_sizes_and_defaults_to_one_cpu():
    from bench.analysis import model

    times = {b: model.predict(0.01, 1e-3, 1e-6, 10_000, 1, b) for b in (10, 100, 1000)}
    fitted = model.fit(_sweep(times, 10_000, cpus=None, seq=10_000 * 1e-6))
    assert fitted is not None and fitted["cpus"] == 1  # no cluster_cpus in the file: one CPU
    assert fitted["per_task_overhead_s"] == pytest.approx(1e-3, rel=1e-6)
    # one CPU: Ray never beats the loop, whatever the work per task
    assert fitted["break_even_work_per_task_s"] == math.inf and fitted["break_even_lookups_per_task"] is None
    two = dict(list(times.items())[:2])
    wrong = _mrun("ray-batched", 1.0, "B=5", correct=False, queries=10_000, batch_size=5)
    assert model.fit(_sweep(two, 10_000, cpus=2, extra=[wrong])) is None  # 2 good sizes and a wrong one


def test_fit_of_a_flat_sweep_and_the_five_percent_rule():
    from bench.analysis import model

    flat = model.fit(_sweep({100: 0.5, 1000: 0.5, 10_000: 0.5}, 10_000, cpus=2))
    assert flat["r_squared"] == 1.0  # nothing to explain: not a division by zero
    assert flat["smallest_batch_within_5pct"] == 100 and flat["best_batch_size"] == 100
    # a point exactly 5% over the best is near it; one just over 5% is not
    edge = model.fit(_sweep({100: 2.0, 1000: 1.0 * (1 + model.WITHIN), 10_000: 1.0}, 10_000, cpus=2))
    assert edge["smallest_batch_within_5pct"] == 1000 and edge["best_batch_size"] == 10_000
    over = model.fit(_sweep({100: 2.0, 1000: 1.051, 10_000: 1.0}, 10_000, cpus=2))
    assert over["smallest_batch_within_5pct"] == 10_000
    assert model.WITHIN == 0.05 and model.MISFIT == 0.25


# ---- bench.analysis.model: fit quality, same-round ratios, auto, harness, naive fit, drift ------

def test_relative_fit_quality_is_signed_relative_and_flags_beyond_misfit_only():
    from bench.analysis.model import relative_fit_quality

    q = relative_fit_quality(np.array([1.0, 2.0, 4.0]), np.array([1.1, 2.0, 3.0]))
    assert q["relative_residuals"] == pytest.approx([0.1, 0.0, -0.25])
    assert q["max_relative_residual"] == -0.25 and q["max_relative_residual_index"] == 2  # signed, largest |r|
    assert q["rms_relative_error"] == pytest.approx(math.sqrt((0.01 + 0.0625) / 3))
    assert q["misfit"] is False  # exactly MISFIT off is not beyond it
    worse = relative_fit_quality(np.array([1.0, 2.0, 4.0]), np.array([1.3, 2.0, 4.0]))
    assert worse["misfit"] is True and worse["max_relative_residual_index"] == 0
    assert worse["max_relative_residual"] == pytest.approx(0.3)


def _trials(mode, times, rounds, label=None, correct=True, **params):
    times = list(times)
    median = float(np.median([t for t in times if t])) if any(times) else None
    data = {"mode": mode, "label": label or mode, "params": params, "samples": {"response_s": times},
            "stats": {"response_s": {"median": median}} if median else {}, "correct": correct}
    if rounds is not None:
        data["trial_rounds"] = list(rounds)
    return Run.from_dict(data)


def test_paired_round_ratios_skip_unpaired_and_empty_trials_in_round_order():
    from bench.analysis.model import paired_round_ratios

    run = _trials("ray-auto", [3.0, 2.0, None, 4.0, 0.0], [3, 1, 2, 5, 4])
    other = _trials("ray-batched", [1.0, 1.0, 1.0, 1.0, 2.0], [1, 2, 3, 4, 6])
    # rounds 1 and 3 are in both (2 has no time in run, 4 a zero, 5 and 6 are one-sided); sorted by round
    assert paired_round_ratios(run, other) == [2.0, 3.0]
    assert paired_round_ratios(_trials("ray-auto", [1.0, 2.0], None), other) == []


def test_auto_ratio_against_the_best_size_with_the_probe_and_fallbacks():
    from bench.analysis.model import auto_ratio

    best = _trials("ray-batched", [0.10, 0.11, 0.12], [1, 2, 3], "B=1000", batch_size=1000)
    slow = _trials("ray-batched", [0.30, 0.31, 0.32], [1, 2, 3], "B=10", batch_size=10)
    wrong_fast = _trials("ray-batched", [0.01] * 3, [1, 2, 3], "B=7", correct=False, batch_size=7)
    auto = _trials("ray-auto", [0.12, 0.11, 0.18], [1, 2, 3], batch_size=900, probe={"probe_s": 0.05})
    wrong_auto = _trials("ray-auto", [5.0] * 3, [1, 2, 3], "auto-wrong", correct=False, batch_size=1)
    out = auto_ratio(_mres([wrong_auto, slow, wrong_fast, best, auto]))
    assert out["auto_batch_size"] == 900 and out["best_batch_size"] == 1000
    assert out["auto_median_s"] == 0.12 and out["best_median_s"] == 0.11
    assert out["ratio"] == pytest.approx(1.2) and out["paired_rounds"] == 3  # median of 1.2, 1.0, 1.5
    assert out["ratio_method"] == "median of same-round ratios"
    low, high = out["ratio_ci95"]
    assert 1.0 <= low <= 1.2 <= high <= 1.5
    assert out["probe_s"] == 0.05 and out["ratio_with_probe"] == pytest.approx((0.12 + 0.05) / 0.11)
    # without rounds: the ratio of medians; fewer than 3 pairs: no interval; no probe recorded: 0
    plain_auto = _trials("ray-auto", [0.12, 0.11, 0.18], None, batch_size=900)
    plain = auto_ratio(_mres([best, plain_auto]))
    assert plain["ratio"] == pytest.approx(0.12 / 0.11) and plain["ratio_method"] == "ratio of medians"
    assert plain["paired_rounds"] == 0 and plain["ratio_ci95"] is None and plain["probe_s"] == 0.0
    assert plain["ratio_with_probe"] == pytest.approx(0.12 / 0.11)
    two = auto_ratio(_mres([best, _trials("ray-auto", [0.12, 0.11], [1, 2], batch_size=900)]))
    assert two["paired_rounds"] == 2 and two["ratio_ci95"] is None
    assert auto_ratio(_mres([best, slow])) is None and auto_ratio(_mres([auto])) is None
    assert auto_ratio(_mres([wrong_auto, best])) is None


def test_harness_overhead_uses_the_largest_naive_run_and_the_same_argument_calibration():
    from bench.analysis.model import harness_overhead

    naive = [_mrun("ray-naive", 1.0, "n1k", tasks=1000), _mrun("ray-naive", 1.0, "n10k", tasks=10_000),
             _mrun("ray-naive", 1.0, "n100k-wrong", correct=False, tasks=100_000)]
    naive = [Run.from_dict({**r.to_dict(), "stats": {"tasks_per_s": {"median": rate}}})
             for r, rate in zip(naive, (900.0, 1500.0, 10.0))]
    cal = {"stats": {"tasks_per_s": {"median": 2000.0}}, "with_naive_args": {"stats": {"tasks_per_s": {"median": 1600.0}}}}
    out = harness_overhead(_mres(naive, calibration=cal))
    assert out == {"naive_tasks": 10_000, "naive_tasks_per_s": 1500.0, "calibration_tasks_per_s": 2000.0,
                   "ratio": 0.75, "calibration_with_args_tasks_per_s": 1600.0,
                   "ratio_vs_same_arguments": pytest.approx(1500 / 1600)}
    bare = harness_overhead(_mres(naive, calibration={"stats": {"tasks_per_s": {"median": 2000.0}}}))
    assert bare["calibration_with_args_tasks_per_s"] is None and bare["ratio_vs_same_arguments"] is None
    assert harness_overhead(_mres(naive)) is None
    assert harness_overhead(_mres([_mrun("numpy", 1.0)], calibration=cal)) is None


def test_naive_fit_line_and_its_refusals():
    from bench.analysis.model import naive_fit

    line = naive_fit([(1000, 0.5 + 1000 * 1e-3), (10_000, 0.5 + 10_000 * 1e-3), (5000, 0.5 + 5000 * 1e-3)])
    assert line["slope_s"] == pytest.approx(1e-3) and line["intercept_s"] == pytest.approx(0.5)
    assert line["rate"] == pytest.approx(1000) and line["fitted_on"] == "relative error (weights 1/T)"
    assert line["misfit"] is False and line["relative_residuals"] == pytest.approx([0, 0, 0], abs=1e-9)
    assert naive_fit([(1000, 1.0)]) is None                       # one point
    assert naive_fit([(1000, 1.0), (1000, 2.0)]) is None          # one task count
    assert naive_fit([(1000, 2.0), (2000, 1.0)]) is None          # faster with more tasks: no rate
    assert naive_fit([(1000, 1.0), (2000, 2.0)])["rate"] == pytest.approx(1000)  # two points suffice


def test_drift_skips_runs_it_cannot_measure_and_reports_each_run():
    from bench.analysis.model import analyse, drift

    good = [_trials("ray-batched", [t * 1.1 ** k for k in range(4)], range(1, 5), f"B={b}", batch_size=b,
                    queries=10_000)
            for b, t in ((10, 1.0), (100, 0.5), (1000, 0.25))]
    unusable = [_trials("numpy", [1.0, 1.0], [1, 2], "two rounds"),
                _trials("numpy", [1.0, 1.0, 1.0], [1, 2, 3, 4], "lengths differ"),
                _trials("numpy", [1.0, 2.0, 3.0], [1, 1, 2], "two distinct rounds"),
                _trials("numpy", [1.0, 0.0, 3.0], [1, 2, 3], "a zero time"),
                _trials("numpy", [1.0, 2.0, 3.0], None, "no rounds")]
    found = drift(_mres(good + unusable))
    assert [r["label"] for r in found["runs"]] == ["B=10", "B=100", "B=1000"]
    first = found["runs"][0]
    assert first["first_round_s"] == 1.0 and first["last_round_s"] == pytest.approx(1.331) and first["rounds"] == 4
    assert found["method"].startswith("Theil-Sen slope of log(time) vs round")
    assert found["p_value"] is not None and 0 < found["p_value"] <= 0.25
    # fewer than 3 non-zero slopes: no signed-rank p, the median slope still
    flat = [_trials("numpy", [1.0, 1.0, 1.0], [1, 2, 3], f"flat{i}") for i in range(3)]
    quiet = drift(_mres(flat))
    assert quiet["p_value"] is None and quiet["median_relative_change_per_round"] == 0.0
    assert drift(_mres(good[:2] + unusable)) is None
    both = analyse(_mres(good))
    assert set(both) == {"model", "auto", "harness", "drift"} and both["drift"] == drift(_mres(good))


# ---- bench.results: validation messages, defaults, writing --------------------------

def _valid():
    return {"schema_version": 1, "metadata": {}, "cluster": {}, "workload": {}, "runs": []}


@pytest.mark.parametrize("edit, message", [
    (lambda d: [1], "results: not a results file (top level is not a JSON object)"),
    (lambda d: {k: v for k, v in d.items() if k != "schema_version"}, "results: not a results file (no schema_version)"),
    (lambda d: {**d, "schema_version": "1"}, "results: unsupported schema_version '1' (this bench reads 1, 2)"),
    (lambda d: {"schema_version": 1, "metadata": {}}, "results: not a results file (missing cluster, runs, workload)"),
    (lambda d: {**d, "cluster": []}, "results: not a results file (cluster is not an object)"),
    (lambda d: {**d, "workload": None}, "results: not a results file (workload is not an object)"),
    (lambda d: {**d, "runs": {}}, "results: not a results file (runs is not a list)"),
    (lambda d: {**d, "runs": [{"mode": "numpy", "params": {}, "samples": {}, "stats": {}, "correct": True}, {"mode": "x"}]},
     "results: run 1 is missing params, samples, stats, correct"),
    (lambda d: {**d, "runs": ["numpy"]}, "results: run 0 is missing mode, params, samples, stats, correct"),
    (lambda d: {**d, "runs": [{"mode": "x", "params": [], "samples": {}, "stats": 3, "correct": True}]},
     "results: run 0 has a malformed params, stats (not an object)"),
])
def test_from_dict_says_exactly_what_is_wrong(edit, message):
    from bench.errors import UsageError

    with pytest.raises(UsageError) as exc:
        Results.from_dict(edit(_valid()))
    assert str(exc.value) == message


def test_from_dict_defaults_and_round_trip_of_every_field():
    res = Results.from_dict(_valid(), source="f.json")
    assert (res.status, res.incomplete_reason, res.suite, res.schema_version) == ("complete", None, None, 1)
    assert dict(res.analysis) == {} and dict(res.config) == {}
    full = {**_valid(), "status": "incomplete", "incomplete_reason": "stopped", "suite": "quick",
            "config": {"trials": 3}, "analysis": {"model": None, "v": [1, {"x": 2}]},
            "runs": [{"mode": "numpy", "label": "", "params": {"a": [1]}, "samples": {"response_s": [0.1]},
                      "stats": {}, "correct": 1, "trial_rounds": [1], "error": None}]}
    res = Results.from_dict(full)
    run = res.runs[0]
    assert run.label == "numpy" and run.correct is True and dict(run.extra) == {"trial_rounds": (1,), "error": None}
    assert run.to_dict() == {"mode": "numpy", "label": "numpy", "params": {"a": [1]}, "samples": {"response_s": [0.1]},
                             "stats": {}, "correct": True, "trial_rounds": [1], "error": None}
    out = res.to_dict()
    assert out == {"schema_version": 1, "status": "incomplete", "incomplete_reason": "stopped", "suite": "quick",
                   "config": {"trials": 3}, "workload": {}, "metadata": {}, "cluster": {},
                   "runs": [run.to_dict()], "analysis": {"model": None, "v": [1, {"x": 2}]}}
    assert Results.from_dict({**full, "analysis": None, "config": None}).to_dict()["analysis"] == {}


def test_updates_return_new_frozen_results_and_thaw_drops_non_finite_numbers():
    res = Results.from_dict(_valid())
    run = Run.from_dict({"mode": "numpy", "params": {}, "samples": {}, "stats": {"r": {"median": float("nan")}},
                         "correct": True, "x": float("inf")})
    assert run.to_dict()["stats"] == {"r": {"median": None}} and run.to_dict()["x"] is None
    two = res.with_runs([run, run])
    assert two.runs == (run, run) and isinstance(two.runs, tuple) and res.runs == ()
    cfg = res.with_config_extra(a=1).with_config_extra(b=2, a=3)
    assert cfg.to_dict()["config"] == {"a": 3, "b": 2} and res.to_dict()["config"] == {}
    st = res.with_status("incomplete", "head lost")
    assert (st.status, st.incomplete_reason) == ("incomplete", "head lost") and res.status == "complete"
    assert res.with_status("complete").incomplete_reason is None
    an = res.with_analysis({"model": {"a": [1, 2]}})
    assert an.to_dict()["analysis"] == {"model": {"a": [1, 2]}}
    with pytest.raises(TypeError):
        an.analysis["model"]["a"] = 1
    with pytest.raises(TypeError):
        cfg.config["a"] = 0


def test_check_output_path_refuses_before_any_work(tmp_path, monkeypatch):
    from bench import results
    from bench.errors import UsageError

    with pytest.raises(UsageError, match=rf"^{tmp_path} is a directory, not a file path$"):
        results.check_output_path(tmp_path, force=True)
    missing = tmp_path / "nope" / "r.json"
    with pytest.raises(UsageError, match=rf"^cannot write {missing}: directory {missing.parent} does not exist$"):
        results.check_output_path(missing, force=False)
    ok = tmp_path / "r.json"
    assert results.check_output_path(ok, force=False) == ok
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    monkeypatch.chdir(tmp_path)
    assert results.check_output_path("bare.json", force=False) == results.Path("bare.json")

    def denied(**kwargs):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(results.tempfile, "mkstemp", denied)
    with pytest.raises(UsageError, match=r"^cannot write .*r\.json: directory .* is not writable \(Permission denied\)$"):
        results.check_output_path(ok, force=False)


def test_write_atomic_writes_the_text_readable_by_all_and_cleans_up(tmp_path, monkeypatch):
    from bench import results

    path = tmp_path / "r.json"
    results.write_atomic(path, "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n" and (path.stat().st_mode & 0o777) == 0o644
    results.write_atomic(path, "second", overwrite=True)
    assert path.read_text() == "second" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
    results.write_atomic(tmp_path / "new.json", "x", overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "r.json"]
    monkeypatch.chdir(tmp_path)
    results.write_atomic("bare.json", "y", overwrite=False)  # a bare name: the current directory
    assert (tmp_path / "bare.json").read_text() == "y"


@pytest.mark.parametrize("code", ["EPERM", "EOPNOTSUPP", "ENOTSUP", "EMLINK", "EXDEV", "ENOSYS"])
def test_link_new_falls_back_to_rename_without_hard_links(tmp_path, monkeypatch, code):
    import errno as errno_mod

    from bench import results

    def refuse(*_):
        raise OSError(getattr(errno_mod, code), "no links here")

    monkeypatch.setattr(results.os, "link", refuse)
    results.write_atomic(tmp_path / "r.json", "one", overwrite=False)
    assert (tmp_path / "r.json").read_text() == "one" and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(FileExistsError):
        results.write_atomic(tmp_path / "r.json", "two", overwrite=False)
    assert (tmp_path / "r.json").read_text() == "one" and len(list(tmp_path.iterdir())) == 1


def test_link_new_raises_other_errors_and_save_turns_them_into_a_clear_failure(tmp_path, monkeypatch):
    from bench import results
    from bench.errors import RuntimeFailure

    def io_error(*_):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(results.os, "link", io_error)
    with pytest.raises(OSError) as exc:
        results.write_atomic(tmp_path / "r.json", "x", overwrite=False)
    assert exc.value.errno == 5 and list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeFailure, match=rf"^cannot write {tmp_path / 'r.json'}: Input/output error$"):
        results.save(Results.from_dict(_valid()), tmp_path / "r.json", overwrite=False)


def test_save_writes_indented_json_with_a_final_newline_and_next_free_name_counts_up(tmp_path):
    import json

    from bench import results

    res = Results.from_dict(_valid())
    path = results.save(res, tmp_path / "r.json")
    text = path.read_text()
    assert text == json.dumps(results.upgrade(res.to_dict()), indent=1) + "\n"
    assert json.loads(text)["schema_version"] == results.SCHEMA_VERSION
    assert results.next_free_name(tmp_path / "r.json") == tmp_path / "r-2.json"
    (tmp_path / "r-2.json").write_text("")
    (tmp_path / "r-3.json").write_text("")
    assert results.next_free_name(tmp_path / "r.json") == tmp_path / "r-4.json"
    assert results.next_free_name(tmp_path / "x.tar.json").name == "x.tar-2.json"


def test_load_says_why_a_file_cannot_be_read(tmp_path):
    from bench import results
    from bench.errors import UsageError

    with pytest.raises(UsageError, match=rf"^{tmp_path / 'no.json'}: no such results file$"):
        results.load(tmp_path / "no.json")
    with pytest.raises(UsageError, match=rf"^{tmp_path}: is a directory, not a results file$"):
        results.load(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(UsageError, match=rf"^{bad}: cannot read \(.*codec.*\)$"):
        results.load(bad)
    bad.write_text("  \n\t")
    with pytest.raises(UsageError, match=rf"^{bad}: empty file, not a results file$"):
        results.load(bad)
    bad.write_text('{\n"schema_version": 1,\n')
    with pytest.raises(UsageError, match=rf"^{bad}: not valid JSON \(truncated or corrupt\?\): Expecting .* at line 3$"):
        results.load(bad)
    bad.write_text("[]")
    with pytest.raises(UsageError, match=rf"^{bad}: not a results file \(top level"):
        results.load(bad)


# ---- bench.engine.modes.choose_batch_size: growing to whole waves, never past the cap ----------

def test_choose_batch_size_grows_to_whole_waves_but_never_past_the_cap():
    # 3 lookups of 1 s on 2 CPUs: 1 s tasks would be 3 tasks (a ragged second wave); one more
    # lookup per task makes 2 tasks, one wave
    assert ray_modes.choose_batch_size(3, 2, 1e-9, 1.0, 0.05, 1.0) == 2
    # the same with a cap of 1 lookup per task: the cap wins over whole waves
    assert ray_modes.choose_batch_size(3, 2, 1e-4, 1e-6, 0.05, 1.0, 1) == 1
    # as many lookups as CPUs: one lookup per task
    assert ray_modes.choose_batch_size(4, 4, 1e-4, 1e-6, 0.05, 1.0) == 1


def _relative_rms(predicted, measured):
    return math.sqrt(sum((p / m - 1) ** 2 for p, m in zip(predicted, measured)) / len(measured))


def test_fit_minimises_relative_error_and_reports_r_squared_on_the_linear_scale():
    """On a sweep the model cannot fit exactly, the fitted (a, c) are the least-squares
    optimum of the relative residuals (any nudge makes them worse), and R² is the usual
    1 - SS_res/SS_tot of the measured and predicted times."""
    from bench.analysis import model

    n, p, w = 100_000, 4, 2e-6
    sizes = (10, 100, 1000, 10_000, 25_000)
    times = {b: 1e-4 * n / b + 0.05 + (0.3 if b >= 10_000 else 0.0) for b in sizes}  # a stall at large B
    fitted = model.fit(_sweep(times, n, p, seq=n * w))
    a, c = fitted["fixed_cost_s"], fitted["per_task_overhead_s"]
    assert a > 0 and c > 0

    def rms(a_, c_):
        return _relative_rms([model.predict(a_, c_, w, n, p, b) for b in sizes], [times[b] for b in sizes])

    best = rms(a, c)
    assert best == pytest.approx(fitted["rms_relative_error"], rel=1e-9)
    for da, dc in ((1.02, 1), (0.98, 1), (1, 1.02), (1, 0.98), (1.02, 0.98), (0.98, 1.02)):
        assert rms(a * da, c * dc) > best
    measured = np.array([pt["measured_s"] for pt in fitted["points"]])
    predicted = np.array([pt["predicted_s"] for pt in fitted["points"]])
    ss_res = float(np.sum((measured - predicted) ** 2))
    ss_tot = float(np.sum((measured - measured.mean()) ** 2))
    assert ss_tot < 1  # (small times: a "total > 1" slip would show)
    assert fitted["r_squared"] == pytest.approx(1 - ss_res / ss_tot, rel=1e-12)
    assert 0 < fitted["r_squared"] < 1
    # the drawn curve: 60 log-spaced sizes from 1 to N, rounded to whole lookups, without repeats
    assert [b for b, _ in fitted["curve"]] == list(np.unique(np.round(np.geomspace(1, n, 60))))


def test_fit_without_a_sequential_run_recovers_all_three_parameters():
    from bench.analysis import model

    a, c, w, n, p = 0.02, 400e-6, 2e-6, 100_000, 4
    times = {b: model.predict(a, c, w, n, p, b) for b in (10, 100, 1000, 2000, 10_000, 25_000, 50_000, 100_000)}
    fitted = model.fit(_sweep(times, n, p))
    assert fitted["per_lookup_work_source"] == "fitted"
    assert fitted["fixed_cost_s"] == pytest.approx(a, rel=1e-6)
    assert fitted["per_task_overhead_s"] == pytest.approx(c, rel=1e-6)
    assert fitted["per_lookup_work_s"] == pytest.approx(w, rel=1e-6)


def test_break_even_on_one_two_and_flat_clusters():
    from bench.analysis import model

    exact = {b: model.predict(0.01, 1e-3, 1e-6, 10_000, 2, b) for b in (10, 100, 1000, 5000)}
    two = model.fit(_sweep(exact, 10_000, cpus=2, seq=10_000 * 1e-6))
    assert two["break_even_work_per_task_s"] == pytest.approx(1e-3)  # c / (P - 1) with P = 2
    assert two["break_even_lookups_per_task"] == pytest.approx(1e-3 / 1e-6)
    flat = {100: 0.5, 1000: 0.5, 10_000: 0.5}  # no overhead visible at all: c = 0
    one = model.fit(_sweep(flat, 10_000, cpus=None))
    assert one["per_task_overhead_s"] == 0.0 and one["break_even_work_per_task_s"] == math.inf
    flat2 = model.fit(_sweep(flat, 10_000, cpus=2))
    assert flat2["per_lookup_work_s"] == 0.0  # no work fitted: no lookups-per-task figure
    assert flat2["break_even_work_per_task_s"] == 0.0 and flat2["break_even_lookups_per_task"] is None


def test_naive_fit_minimises_relative_error_and_refuses_a_flat_line():
    from bench.analysis.model import naive_fit

    points = [(1000, 1.5), (10_000, 10.0), (50_000, 52.0), (100_000, 98.0)]
    line = naive_fit(points)

    def rms(intercept, slope):
        return _relative_rms([intercept + slope * x for x, _ in points], [y for _, y in points])

    best = rms(line["intercept_s"], line["slope_s"])
    assert best == pytest.approx(line["rms_relative_error"], rel=1e-9)
    for di, ds in ((1.05, 1), (0.95, 1), (1, 1.01), (1, 0.99)):
        assert rms(line["intercept_s"] * di, line["slope_s"] * ds) > best
    assert naive_fit([(1000, 1.0), (2000, 1.0), (4000, 1.0)]) is None  # no slope: no rate


def test_drift_uses_the_round_numbers_and_reads_past_unusable_runs():
    from bench.analysis.model import drift

    # each run ran in every other round (interleaved with others): 10% per 2 rounds
    spaced = [_trials("ray-batched", [t * 1.1 ** k for k in range(4)], [1, 3, 5, 7], f"B={b}", batch_size=b)
              for b, t in ((10, 1.0), (100, 0.5), (1000, 0.25))]
    found = drift(_mres([_trials("numpy", [1.0, 1.0], [1, 2], "first, unusable")] + spaced))
    assert [r["label"] for r in found["runs"]] == ["B=10", "B=100", "B=1000"]
    assert found["median_relative_change_per_round"] == pytest.approx(1.1 ** 0.5 - 1, rel=1e-9)


# ---- bench.analysis.compare: matching, the pair's row, the interval, the header ------------------

def _crun(mode, label, samples=(1.0, 1.1, 0.9), correct=True, **params):
    return Run.from_dict({"mode": mode, "label": label, "params": params, "samples": {"response_s": list(samples)},
                          "stats": {}, "correct": correct})


def test_match_runs_pairs_each_run_once_and_the_per_cpu_sizes_across_cluster_sizes():
    from bench.analysis import compare

    a = _mres([_crun("numpy", "numpy"), _crun("numpy", "numpy again"),
               _crun("multiprocessing", "mp odd", per_cpu=True),
               _crun("ray-batched", "B=10", batch_size=10),
               _crun("ray-batched", "B=1,000 (1 task per CPU)", batch_size=1000, per_cpu=True)])
    b = _mres([_crun("numpy", "numpy"),
               _crun("ray-batched", "B=20", batch_size=20),
               _crun("ray-batched", "B=2,000 (1 task per CPU)", batch_size=2000, per_cpu=True)])
    pairs, only_a, only_b = compare.match_runs(a, b)
    assert [(x.label, y.label) for x, y in pairs] == [
        ("numpy", "numpy"), ("B=1,000 (1 task per CPU)", "B=2,000 (1 task per CPU)")]
    # the second numpy run finds B's numpy taken; a per_cpu flag on another mode pairs nothing
    assert [r.label for r in only_a] == ["numpy again", "mp odd", "B=10"]
    assert [r.label for r in only_b] == ["B=20"]


def test_min_attainable_p_of_one_trial_against_several():
    from bench.analysis import compare

    assert compare.min_attainable_p(1, 3) == 0.5 and compare.min_attainable_p(3, 1) == 0.5
    assert compare.min_attainable_p(1, 1) == 1.0 and compare.min_attainable_p(2, 2) == pytest.approx(1 / 3)
    # so many trials that the binomial coefficient exceeds a float: no OverflowError
    assert compare.min_attainable_p(600, 600) == 0.0 and 0 < compare.min_attainable_p(500, 500) < 1e-290


def test_bootstrap_ratio_ci_resamples_each_side_on_its_own():
    from bench.analysis import compare

    a = [0.5, 1.0, 1.5, 2.0, 1.0, 0.8, 1.2, 0.7]
    b = [2.0, 2.1, 1.9, 2.05, 1.95, 2.2, 1.8, 2.0]
    lo, hi = compare.bootstrap_ratio_ci(a, b)
    assert (lo, hi) == compare.bootstrap_ratio_ci(a, b, seed=0, resamples=compare.BOOTSTRAP_RESAMPLES)
    assert compare.bootstrap_ratio_ci(a, b, seed=1) != (lo, hi)
    # the definition: 2.5th and 97.5th percentiles of median(b*)/median(a*) over resamples of each side
    rng = np.random.default_rng(0)
    ma = np.median(rng.choice(np.array(a), size=(5000, len(a))), axis=1)
    mb = np.median(rng.choice(np.array(b), size=(5000, len(b))), axis=1)
    assert lo == pytest.approx(np.percentile(mb / ma, 2.5), abs=0)
    assert hi == pytest.approx(np.percentile(mb / ma, 97.5), abs=0)
    lo80, hi80 = compare.bootstrap_ratio_ci(a, b, level=0.8)
    assert lo80 == pytest.approx(np.percentile(mb / ma, 10), abs=0)
    assert hi80 == pytest.approx(np.percentile(mb / ma, 90), abs=0)
    # a noisy side widens the interval even when the other side never varies
    steady = [2.0] * 8
    lo_a, hi_a = compare.bootstrap_ratio_ci(a, steady)
    lo_b, hi_b = compare.bootstrap_ratio_ci(steady, a)
    assert lo_a < hi_a and lo_b < hi_b


def test_compare_pair_row_carries_the_medians_and_the_strict_alpha():
    from bench.analysis import compare

    fast, slow = [1.0, 1.01, 0.99, 1.02, 0.98], [2.0, 2.01, 1.99, 2.02, 1.98]
    row = compare.compare_pair(_crun("numpy", "a", fast), _crun("numpy", "b", slow))
    assert row.median_a == 1.0 and row.median_b == 2.0 and row.ratio == 2.0
    empty_b = compare.compare_pair(_crun("numpy", "a", fast), _crun("numpy", "b", []))
    assert empty_b.median_b is None and empty_b.ratio is None and empty_b.verdict == "no samples"
    assert empty_b.p_value is None and empty_b.n_b == 0
    # p exactly at alpha is not below it
    lo_side, hi_side = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5], [1.25, 1.35, 1.45, 1.55, 1.65, 1.75]
    p = compare.mann_whitney_p(lo_side, hi_side)
    assert compare.min_attainable_p(6, 6) < p < 1
    at = compare.compare_pair(_crun("numpy", "a", lo_side), _crun("numpy", "b", hi_side), alpha=p)
    assert at.p_value == p and at.significant is False and at.verdict == "no real difference"
    # 4 vs 4 trials at alpha = their smallest possible p: a rank test still cannot get below it
    four = compare.compare_pair(_crun("numpy", "a", fast[:4]), _crun("numpy", "b", slow[:4]),
                                alpha=compare.min_attainable_p(4, 4))
    assert four.testable is False and four.verdict == "too few trials to tell (4 vs 4)"
    wrong = compare.compare_pair(_crun("numpy", "a", fast), _crun("numpy", "b", slow, correct=False))
    assert wrong.significant is False
    # equal medians, B's trials lower all the same: real, and B is the faster
    a_side = [1.0] * 6 + [5.0] * 5
    b_side = [0.1] * 5 + [1.0] * 6
    tie = compare.compare_pair(_crun("numpy", "a", a_side), _crun("numpy", "b", b_side))
    assert tie.ratio == 1.0 and tie.significant and tie.verdict == "real: B is faster (equal medians; rank shift)"


def test_fmt_time_scales_exactly():
    from bench.format import fmt_time

    assert fmt_time(0.0999499) == "99.9 ms"    # not 100: the factor is exactly 1e3
    assert fmt_time(9.994995e-5) == "99.9 µs"  # not 100: the factor is exactly 1e6


def test_describe_counts_alive_nodes_prefers_the_cluster_cpus_and_marks_unknown_start():
    from bench.analysis import compare

    res = Results(metadata={"host": "h", "cpu_count": 64}, workload={}, runs=(), suite="quick",
                  cluster={"nodes": [{"id": 1}, {"id": 2, "alive": True}, {"id": 3, "alive": False}],
                           "cluster_cpus": 6})
    assert compare._describe(res, "f.json") == "f.json (suite quick, 2 node(s), 6 CPUs, ?)"


def test_multiprocessing_trial_submit_time_is_part_of_the_response_time():
    w = Workload(400, array_size=20, value_range=60, seed=3)
    mode = modes.Multiprocessing(w, processes=2)
    try:
        mode.prepare()
        out = mode.trial(300)
    finally:
        mode.close()
    assert out.tasks == mode.tasks_for(300) and np.array_equal(out.answers, w.reference[:300])
    assert out.answers.dtype == np.int64
    assert 0 <= out.submit_s <= out.response_s < 60 and len(out.task_latencies_s) == out.tasks
    assert all(0 <= v <= out.response_s for v in out.task_latencies_s)  # per-task latencies are durations


# ---- bench.results: where the temporary files go, the errors they raise ----------------

def test_temporary_files_live_beside_the_target_with_its_name(tmp_path, monkeypatch):
    """Atomic rename needs the temp file on the target's filesystem: in its directory,
    named .<target>.*.tmp (and the writability probe .<target>.*.probe)."""
    from bench import results

    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the target's directory
    target_dir = tmp_path / "out"
    target_dir.mkdir()
    seen = []
    real_replace, real_unlink = results.os.replace, results.os.unlink
    monkeypatch.setattr(results.os, "replace", lambda src, dst: (seen.append(("replace", src)), real_replace(src, dst)))
    monkeypatch.setattr(results.os, "unlink", lambda p: (seen.append(("unlink", p)), real_unlink(p)))
    results.check_output_path(target_dir / "r.json", force=False)
    results.write_atomic(target_dir / "r.json", "x")
    (probe_kind, probe), (tmp_kind, tmp) = seen[0], seen[1]
    assert probe_kind == "unlink" and tmp_kind == "replace"
    probe, tmp = results.Path(probe), results.Path(tmp)
    assert probe.parent == target_dir and probe.name.startswith(".r.json.") and probe.name.endswith(".probe")
    assert tmp.parent == target_dir and tmp.name.startswith(".r.json.") and tmp.name.endswith(".tmp")
    assert sorted(p.name for p in target_dir.iterdir()) == ["r.json"] and list(elsewhere.iterdir()) == []


def test_no_hard_link_fallback_raises_a_file_exists_error_naming_the_file(tmp_path, monkeypatch):
    import errno

    from bench import results

    def no_links(*_):
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(results.os, "link", no_links)
    target = tmp_path / "r.json"
    target.write_text("first")
    with pytest.raises(FileExistsError) as exc:
        results.write_atomic(target, "second", overwrite=False)
    assert (exc.value.errno, exc.value.strerror, exc.value.filename) == (errno.EEXIST, "File exists", str(target))


def test_save_overwrites_by_default_and_never_writes_invalid_json(tmp_path):
    from bench import results

    res = Results.from_dict(_valid())
    path = tmp_path / "r.json"
    assert results.save(res, path) == path
    assert results.save(res.with_status("incomplete", "again"), path) == path  # default: overwrite
    assert results.load(path).status == "incomplete" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
    # a non-finite number that is not under a frozen mapping is refused, not written as NaN
    leaky = Results(metadata={"x": [float("nan")]}, workload={}, cluster={}, runs=())
    with pytest.raises(ValueError):
        results.save(leaky, tmp_path / "nan.json")
    assert not (tmp_path / "nan.json").exists()


def test_mann_whitney_p_tests_single_trials_and_short_cuts_only_identical_constant_sides():
    from bench.analysis import compare

    assert compare.mann_whitney_p([1.0], [2.0, 3.0, 4.0]) == pytest.approx(0.5)
    assert compare.mann_whitney_p([2.0, 3.0, 4.0], [1.0]) == pytest.approx(0.5)
    assert compare.mann_whitney_p([1.0, 1.0, 1.0], [2.0, 3.0, 4.0]) < 0.1  # constant A, different B: tested
    # the same two values on both sides, in other proportions: tested, not short-cut to 1
    assert compare.mann_whitney_p([1.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 2.0]) < 0.5


def test_workload_difference_lists_every_differing_key():
    from bench.analysis import compare

    a = Results(metadata={}, workload={"queries": 2000, "seed": 42, "array_size": 100}, cluster={}, runs=())
    b = Results(metadata={}, workload={"queries": 1000, "seed": 7, "array_size": 100}, cluster={}, runs=())
    assert compare.workload_difference(a, b) == "queries 2000 vs 1000, seed 42 vs 7"
    assert compare.workload_difference(a, a) is None


def test_multiprocessing_submit_time_adds_up_every_chunk(monkeypatch):
    """With a clock that ticks 1 s per reading in the driver thread, each submission is
    bracketed by two readings 1 s apart: the submit time is one second per chunk."""
    import threading

    w = Workload(400, array_size=20, value_range=60, seed=3)
    mode = modes.Multiprocessing(w, processes=2)
    now = [0.0]

    def ticking():
        if threading.current_thread() is threading.main_thread():
            now[0] += 1.0
        return now[0]

    try:
        mode.prepare()
        monkeypatch.setattr(modes.time, "perf_counter", ticking)
        out = mode.trial(300)
    finally:
        monkeypatch.undo()
        mode.close()
    assert out.tasks == mode.tasks_for(300) > 1
    assert out.submit_s == float(out.tasks)
    assert out.response_s == 2 * out.tasks + 1  # start, two readings per chunk, end

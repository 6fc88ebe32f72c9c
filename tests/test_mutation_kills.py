"""Tests written to kill mutants that `make mutation` (mutmut) found surviving (issue 12).

Each test asserts behaviour that the code promises (docstrings, README, the report's
meaning), not a measured figure. Equivalent survivors are listed in tests/MUTANTS.md.
"""

import concurrent.futures
import math
import time

import numpy as np
import pytest

from bench import modes
from bench.results import Results, Run
from bench.workload import Workload


# ---- bench.modes: the parts that assemble answers and latencies without Ray ----------

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
    naive = modes.RayNaive(w, window=64, extra=1)
    assert naive.window == 64 and naive.params == {"window": 64, "extra": 1} and naive.tasks_for(321) == 321
    assert modes.RayNaive(w).window is None and modes.RayNaive(w).params == {"window": None}
    batched = modes.RayBatched(w, batch_size=100)
    assert batched.batch_size == 100 and batched.array_ref is None and batched.params == {"batch_size": 100}
    assert batched.tasks_for(1000) == 10 and batched.tasks_for(1001) == 11 and batched.tasks_for(1) == 1
    assert naive.workload is w and batched.workload is w
    auto = modes.RayAuto(w, cluster_cpus=0)
    assert auto.workload is w and modes.RayAuto(w, 2, x=1).params == {"batch_size": 1, "cluster_cpus": 2, "x": 1}
    assert auto.cluster_cpus == 1 and auto.batch_size == 1 and auto.probe == {}
    assert auto.params == {"batch_size": 1, "cluster_cpus": 0}
    assert modes.RayAuto(w, cluster_cpus=6).cluster_cpus == 6
    for cls in (modes.RayNaive, modes.RayBatched, modes.RayAuto):
        assert cls.uses_ray and modes.MODES[cls.name] is cls
    assert not modes.Sequential.uses_ray and not modes.Numpy.uses_ray


def test_inline_object_bytes_reads_rays_variable(monkeypatch):
    monkeypatch.delenv("RAY_max_direct_call_object_size", raising=False)
    assert modes.inline_object_bytes() == 100 * 1024
    monkeypatch.setenv("RAY_max_direct_call_object_size", "2048")
    assert modes.inline_object_bytes() == 2048
    monkeypatch.setenv("RAY_max_direct_call_object_size", "lots")
    assert modes.inline_object_bytes() == 100 * 1024


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

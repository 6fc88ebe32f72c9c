"""The Ray modes really run their lookups as remote tasks, as many as they claim.

The modes' remote functions are swapped for instrumented ones that report each
execution to a counter actor and return the true answer plus a marker offset.
So the tests see (1) how many tasks really ran and how many lookups each got,
and (2) that a mode's answers are what those tasks returned, not something the
driver computed or copied (e.g. from workload.reference, which cannot be read here).
"""

import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from bench.engine import cluster, ray_modes
from conftest import REPO
from test_honesty import NoReference, brute_force

pytestmark = pytest.mark.ray

MARK = 1_000_000  # added to every remotely computed answer; no real answer is near it


@pytest.fixture(scope="module")
def embedded():
    """An embedded Ray for the module: what bench.engine.cluster.connect recorded about it."""
    info = cluster.connect(None, num_cpus=2)
    yield info
    cluster.shutdown()


def test_an_embedded_run_records_the_auth_mode_ray_runs_with(embedded):
    """Issue 25. Ray 2.60 turns token auth on for a new local cluster unless RAY_AUTH_MODE says
    otherwise (ray/_private/worker.py: enable_token_auth_by_default), and says so in the
    driver's RAY_AUTH_MODE: the record must agree with Ray, whichever it is."""
    assert embedded["mode"] == "embedded"
    assert embedded["auth_mode"] == os.environ.get("RAY_AUTH_MODE", "disabled").lower()


def test_an_embedded_run_without_token_auth_records_disabled():
    """Issue 25: an embedded Ray told RAY_AUTH_MODE=disabled records "disabled", never "token".
    In a fresh interpreter: Ray keeps its auth mode per process."""
    script = ("from bench.engine import cluster; info = cluster.connect(None, num_cpus=1); "
              "print(info['mode'], info['auth_mode']); cluster.shutdown()")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["embedded", "disabled"]


@pytest.fixture(scope="module")
def counted(embedded):
    import ray

    @ray.remote(num_cpus=0)
    class Counter:
        def __init__(self):
            self.calls = []

        def add(self, kind, lookups):
            self.calls.append((kind, lookups))

        def take(self):
            calls, self.calls = self.calls, []
            return calls

    counter = Counter.remote()

    @ray.remote
    def search(array, query):
        ray.get(counter.add.remote("search", 1))
        hits = [i for i, v in enumerate(array) if v == query]
        return (hits[0] if hits else -1) + MARK

    @ray.remote
    def search_batch(array, queries):
        ray.get(counter.add.remote("batch", len(queries)))
        return np.asarray([(np.flatnonzero(array == q)[:1].tolist() or [-1])[0] + MARK for q in queries],
                          dtype=np.int64)

    yield counter, (search, search_batch)


@pytest.fixture
def workload():
    # value_range >> array_size, so misses (-1) are answered remotely too
    return NoReference(1000, array_size=30, value_range=300, seed=4)


def _trial(mode, n, counter, monkeypatch, functions):
    import ray

    monkeypatch.setattr(ray_modes, "_ray_functions", lambda: functions)
    try:
        mode.prepare()
        ray.get(counter.take.remote())  # ray-auto's probe runs tasks too; count the trial only
        outcome = mode.trial(n)
        calls = ray.get(counter.take.remote())
    finally:
        mode.close()
    return outcome, calls


@pytest.mark.parametrize("n", [1, 250])
def test_naive_runs_one_remote_task_per_lookup(counted, workload, monkeypatch, n):
    counter, functions = counted
    outcome, calls = _trial(ray_modes.RayNaive(workload), n, counter, monkeypatch, functions)
    assert calls == [("search", 1)] * n
    assert outcome.tasks == n
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:n]) + MARK)


def test_windowed_naive_runs_one_remote_task_per_lookup(counted, workload, monkeypatch):
    counter, functions = counted
    outcome, calls = _trial(ray_modes.RayNaive(workload, window=40), 300, counter, monkeypatch, functions)
    assert calls == [("search", 1)] * 300
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:300]) + MARK)


@pytest.mark.parametrize("batch_size", [1, 7, 300, 1000])
def test_batched_runs_ceil_n_over_b_remote_tasks(counted, workload, monkeypatch, batch_size):
    counter, functions = counted
    n = 1000
    outcome, calls = _trial(ray_modes.RayBatched(workload, batch_size=batch_size), n, counter, monkeypatch, functions)
    assert len(calls) == math.ceil(n / batch_size) == outcome.tasks
    assert all(kind == "batch" and 1 <= size <= batch_size for kind, size in calls)
    assert sum(size for _, size in calls) == n  # every lookup answered remotely, once
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:n]) + MARK)


def test_auto_runs_ceil_n_over_its_chosen_b_remote_tasks(counted, workload, monkeypatch):
    counter, functions = counted
    n = 1000
    mode = ray_modes.RayAuto(workload, cluster_cpus=2)
    outcome, calls = _trial(mode, n, counter, monkeypatch, functions)
    assert 1 <= mode.batch_size <= n
    assert len(calls) == math.ceil(n / mode.batch_size) == outcome.tasks
    assert sum(size for _, size in calls) == n
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:n]) + MARK)


# -- timing windows on the real Ray (issue 25; the exact version is tests/test_timing_windows.py) --

class _Readings:
    """Every clock reading the code under test takes, when each submission began and when each
    ray.get returned: real perf_counter values, compared with each other, never with a limit."""

    def __init__(self):
        self.clock, self.submits, self.gets = [], [], []

    def perf_counter(self):
        value = time.perf_counter()
        self.clock.append(value)
        return value

    def spanned(self, measured_s: float) -> bool:
        """Whether two of the code's own readings, one no later than the first submission and one
        no earlier than the last get's return, are exactly `measured_s` apart."""
        starts = [s for s in self.clock if s <= self.submits[0]]
        ends = [e for e in self.clock if e >= self.gets[-1]]
        return any(abs((e - s) - measured_s) <= 1e-12 for s in starts for e in ends)


def _instrument(monkeypatch, module, functions):
    import types

    import ray

    readings = _Readings()
    monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=readings.perf_counter,
                                                              monotonic=time.monotonic, sleep=time.sleep))
    real_get = ray.get

    def get(*args, **kwargs):
        values = real_get(*args, **kwargs)
        readings.gets.append(time.perf_counter())
        return values

    monkeypatch.setattr(ray, "get", get)

    class Submitting:
        def __init__(self, function):
            self.function = function

        def remote(self, *args):
            readings.submits.append(time.perf_counter())
            return self.function.remote(*args)

        def options(self, **kw):  # --placement affinity: one handle per node, each still counted
            return Submitting(self.function.options(**kw))

    return readings, tuple(Submitting(f) for f in functions)


@pytest.mark.parametrize("case, n", [("naive", 250), ("naive window=40", 300), ("batched B=7", 1000),
                                     ("auto", 1000)])
def test_each_ray_mode_times_from_its_first_submission_until_its_last_answer_is_back(counted, workload, monkeypatch,
                                                                                      case, n):
    counter, functions = counted
    mode = {"naive": lambda: ray_modes.RayNaive(workload), "naive window=40": lambda: ray_modes.RayNaive(workload, window=40),
            "batched B=7": lambda: ray_modes.RayBatched(workload, batch_size=7),
            "auto": lambda: ray_modes.RayAuto(workload, cluster_cpus=2)}[case]()
    readings, wrapped = _instrument(monkeypatch, ray_modes, functions)
    outcome, _ = _trial(mode, n, counter, monkeypatch, wrapped)
    trial_gets = [t for t in readings.gets if t >= readings.submits[-outcome.tasks]]
    readings.submits[:] = readings.submits[-outcome.tasks:]  # the trial's own (ray-auto's probe submitted too)
    readings.gets[:] = trial_gets[:-1]  # the last get is _trial's count of the calls, after the trial
    assert readings.gets, "no answer came back through ray.get"
    assert readings.spanned(outcome.response_s)
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:n]) + MARK)


def test_a_calibration_batch_times_submission_plus_completion(counted, monkeypatch):
    from bench.engine import calibration

    noop, _ = calibration.noop_functions()
    readings, (submitting,) = _instrument(monkeypatch, calibration, (noop,))
    rate = calibration.one_batch(lambda: [submitting.remote() for _ in range(200)], 200)
    assert len(readings.gets) == 1 and len(readings.submits) == 200
    assert readings.spanned(200 / rate)

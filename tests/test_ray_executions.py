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

import numpy as np
import pytest

from bench import cluster, modes
from conftest import REPO
from test_honesty import NoReference, brute_force

pytestmark = pytest.mark.ray

MARK = 1_000_000  # added to every remotely computed answer; no real answer is near it


@pytest.fixture(scope="module")
def embedded():
    """An embedded Ray for the module: what bench.cluster.connect recorded about it."""
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
    script = ("from bench import cluster; info = cluster.connect(None, num_cpus=1); "
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

    monkeypatch.setattr(modes, "_ray_functions", lambda: functions)
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
    outcome, calls = _trial(modes.RayNaive(workload), n, counter, monkeypatch, functions)
    assert calls == [("search", 1)] * n
    assert outcome.tasks == n
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:n]) + MARK)


def test_windowed_naive_runs_one_remote_task_per_lookup(counted, workload, monkeypatch):
    counter, functions = counted
    outcome, calls = _trial(modes.RayNaive(workload, window=40), 300, counter, monkeypatch, functions)
    assert calls == [("search", 1)] * 300
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:300]) + MARK)


@pytest.mark.parametrize("batch_size", [1, 7, 300, 1000])
def test_batched_runs_ceil_n_over_b_remote_tasks(counted, workload, monkeypatch, batch_size):
    counter, functions = counted
    n = 1000
    outcome, calls = _trial(modes.RayBatched(workload, batch_size=batch_size), n, counter, monkeypatch, functions)
    assert len(calls) == math.ceil(n / batch_size) == outcome.tasks
    assert all(kind == "batch" and 1 <= size <= batch_size for kind, size in calls)
    assert sum(size for _, size in calls) == n  # every lookup answered remotely, once
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:n]) + MARK)


def test_auto_runs_ceil_n_over_its_chosen_b_remote_tasks(counted, workload, monkeypatch):
    counter, functions = counted
    n = 1000
    mode = modes.RayAuto(workload, cluster_cpus=2)
    outcome, calls = _trial(mode, n, counter, monkeypatch, functions)
    assert 1 <= mode.batch_size <= n
    assert len(calls) == math.ceil(n / mode.batch_size) == outcome.tasks
    assert sum(size for _, size in calls) == n
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:n]) + MARK)

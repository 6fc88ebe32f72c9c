"""Ray timing windows (issue 25): what each Ray mode and the calibration time is the whole of
what they claim to time, on a fake Ray with a clock the test controls (tests/fake_ray.py).

On the fake, time passes only inside Ray's calls (a submission, a wait, a get), so each
interval is known exactly and the log says when each answer came back to the driver. A
trial's response time must reach from before its first submission to the moment its last
answer is back; the calibration's rate must count submission and completion both. No
wall-clock threshold: a clock stopped before the last `get`, or started after the
submissions, gives a figure the log contradicts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fake_ray
from bench import calibration, modes
from bench.workload import Workload
from test_honesty import brute_force

N = 1000


def _workload():
    # value_range >> array_size: misses (-1) and hits both
    return Workload(N, array_size=30, value_range=300, seed=4)


# Every Ray mode (the windowed naive mode is a separate code path), ragged batches included:
# B=7 and B=300 do not divide N=1000, so the last task of each is shorter.
RAY_CASES = {
    "ray-naive": lambda w: modes.RayNaive(w),
    "ray-naive window=40": lambda w: modes.RayNaive(w, window=40),
    "ray-batched B=7": lambda w: modes.RayBatched(w, batch_size=7),
    "ray-batched B=300": lambda w: modes.RayBatched(w, batch_size=300),
    "ray-batched B=1000": lambda w: modes.RayBatched(w, batch_size=1000),
    "ray-auto": lambda w: modes.RayAuto(w, cluster_cpus=2),
}


def test_the_cases_cover_every_ray_mode():
    assert {case.split()[0] for case in RAY_CASES} == {name for name, cls in modes.MODES.items() if cls.uses_ray}


def _trial(clock, case, n=N):
    workload = _workload()
    mode = RAY_CASES[case](workload)
    mode.prepare()  # ray-auto's probe runs tasks too: the trial alone is looked at
    clock.log.clear()
    began = clock.now
    outcome = mode.trial(n)
    return workload, mode, outcome, began, clock.now


@pytest.mark.parametrize("case", sorted(RAY_CASES))
def test_the_response_time_runs_from_the_first_submission_until_the_last_answer_is_back(clocked_ray, case):
    clock, _ = clocked_ray
    workload, mode, outcome, began, returned = _trial(clock, case)
    submits, gets = clock.times("submit"), clock.times("get")
    assert gets, "no answer came back through ray.get"
    first_submission_began = submits[0] - fake_ray.SUBMIT_S
    last_answer_back = gets[-1]
    # the clock started no later than the first submission and stopped no earlier than the
    # last answer's return to the driver ...
    assert outcome.response_s >= last_answer_back - first_submission_began
    # ... and measured nothing outside the trial
    assert outcome.response_s <= returned - began
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:N]))


@pytest.mark.parametrize("case", sorted(RAY_CASES))
def test_the_submit_time_is_the_submissions_and_nothing_else(clocked_ray, case):
    clock, _ = clocked_ray
    _, mode, outcome, _, _ = _trial(clock, case)
    tasks = len(clock.times("submit"))
    assert tasks == outcome.tasks == mode.tasks_for(N)
    # each submission costs SUBMIT_S on the fake clock; waits and gets are not submissions
    assert outcome.submit_s == pytest.approx(tasks * fake_ray.SUBMIT_S)


@pytest.mark.parametrize("case", sorted(RAY_CASES))
def test_tracked_latencies_run_from_a_tasks_submission_until_its_result(clocked_ray, case):
    clock, ray = clocked_ray
    _, mode, outcome, began, _ = _trial(clock, case)
    tasks = outcome.tasks
    stride = modes.tracking_stride(tasks)
    submitted = clock.times("submit")
    # the first tracked task was submitted first; its result came with the first wait or get
    # after it (the fake completes a task's future when the driver learns it is ready)
    done = sorted(clock.times("wait") + clock.times("get"))
    expected_first = done[0] - (submitted[0] - fake_ray.SUBMIT_S)
    assert len(outcome.task_latencies_s) == math.ceil(tasks / stride)
    assert outcome.task_latencies_s[0] == pytest.approx(expected_first)
    assert all(0 < latency <= outcome.response_s for latency in outcome.task_latencies_s)
    if "window" not in case:  # one get for all: every tracked task's result came back with it
        assert outcome.task_latencies_s == pytest.approx(
            [done[-1] - (submitted[i] - fake_ray.SUBMIT_S) for i in range(0, tasks, stride)])


def test_a_ragged_sweep_runs_ceil_n_over_b_tasks_and_the_last_is_shorter(clocked_ray):
    """B=7 does not divide 1000: 143 tasks, 142 of 7 and the last of 6, every lookup once."""
    clock, ray = clocked_ray
    workload = _workload()
    mode = modes.RayBatched(workload, batch_size=7)
    mode.prepare()
    outcome = mode.trial(N)
    search_batch = next(f for f in ray.functions if f.fn.__name__ == "search_batch")
    sizes = [len(queries) for _, queries in search_batch.calls]
    assert mode.tasks_for(N) == outcome.tasks == len(sizes) == 143
    assert sizes == [7] * 142 + [6]
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:N]))


# -- the calibration -----------------------------------------------------------------------

def _rate(tasks: int) -> float:
    """What a batch of `tasks` no-op tasks takes on the fake: every submission, then one get."""
    return tasks / (tasks * fake_ray.SUBMIT_S + fake_ray.GET_S)


def test_a_calibration_batch_times_submission_plus_completion(clocked_ray):
    clock, _ = clocked_ray
    noop, _ = calibration.noop_functions()
    assert calibration.one_batch(lambda: [noop.remote() for _ in range(50)], 50) == pytest.approx(_rate(50))


def test_the_calibration_records_rates_over_submission_plus_completion(clocked_ray):
    clock, _ = clocked_ray
    cal = calibration.Calibration(trials=3, max_trials=3, naive_args=([5, 6, 7], 6), tasks=40)
    before = cal.record()
    assert before["samples"]["tasks_per_s"] == pytest.approx([_rate(40)] * 3)
    assert before["with_naive_args"]["samples"]["tasks_per_s"] == pytest.approx([_rate(40)] * 3)
    for index in range(1, 4):
        cal.after_round(index)
    record = cal.record()
    assert record["samples"]["tasks_per_s"] == pytest.approx([_rate(40)] * 3)
    assert record["with_naive_args"]["samples"]["tasks_per_s"] == pytest.approx([_rate(40)] * 3)
    # the with-args tasks really took naive's arguments
    with_args = [f for f in clocked_ray[1].functions if f.fn.__name__ == "noop_with_args"]
    assert with_args and all(args == ([5, 6, 7], 6) for f in with_args for args in f.calls)

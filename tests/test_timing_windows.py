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
from bench import mode_table
from bench.engine import calibration, modes, ray_modes
from bench.engine.workload import Workload
from test_honesty import brute_force

N = 1000


def _workload():
    # value_range >> array_size: misses (-1) and hits both; more items than a trial answers
    return Workload(N + 200, array_size=30, value_range=300, seed=4)


# Every Ray mode (the windowed naive mode is a separate code path), ragged batches included:
# B=7 and B=300 do not divide N=1000, so the last task of each is shorter.
RAY_CASES = {
    "ray-naive": lambda w: ray_modes.RayNaive(w),
    "ray-naive window=40": lambda w: ray_modes.RayNaive(w, window=40),
    "ray-batched B=7": lambda w: ray_modes.RayBatched(w, batch_size=7),
    "ray-batched B=300": lambda w: ray_modes.RayBatched(w, batch_size=300),
    "ray-batched B=1000": lambda w: ray_modes.RayBatched(w, batch_size=1000),
    "ray-auto": lambda w: ray_modes.RayAuto(w, cluster_cpus=2),
}


def test_the_cases_cover_every_ray_mode():
    assert {case.split()[0] for case in RAY_CASES} == set(mode_table.ray_names())


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
    mode = ray_modes.RayBatched(workload, batch_size=7)
    mode.prepare()
    outcome = mode.trial(N)
    mode.close()
    assert mode.array_ref is None
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


# -- what the Ray modes do besides timing (issue 25: mutation of the Ray modes) ----------------

@pytest.mark.parametrize("case", sorted(RAY_CASES))
def test_progress_is_told_every_task_done(clocked_ray, case):
    clock, _ = clocked_ray
    done = []
    workload = _workload()
    mode = RAY_CASES[case](workload)
    mode.prepare()
    mode.progress_hook = done.append
    outcome = mode.trial(N)
    stride = modes.tracking_stride(outcome.tasks)
    assert done and set(done) == {stride} and sum(done) == stride * math.ceil(outcome.tasks / stride)


def test_the_window_bounds_the_tasks_in_flight_and_drains_half(clocked_ray):
    clock, _ = clocked_ray
    workload = _workload()
    ray_modes.RayNaive(workload, window=40).trial(N)
    assert clock.most_in_flight == 40
    waits = [n for event, _, n in clock.log if event == "wait"]
    # at 40 in flight, wait for 20 of them (down to half the window), then the last 40 at the end
    assert waits == [20] * ((N - 40) // 20) + [40]


@pytest.mark.parametrize("window", [None, N, N + 1])
def test_no_window_below_the_task_count_is_no_window(clocked_ray, window):
    clock, _ = clocked_ray
    workload = _workload()
    outcome = ray_modes.RayNaive(workload, window=window).trial(N)
    assert not clock.times("wait") and len(clock.times("get")) == 1 and clock.most_in_flight == N
    assert np.array_equal(outcome.answers, brute_force(workload.array, workload.query_values[:N]))


def test_naive_answers_a_user_function_one_item_per_task(clocked_ray):
    """Answers of any type (here bytes): not forced into an integer array."""
    from bench.engine.workload import FunctionWorkload

    clock, _ = clocked_ray
    workload = FunctionWorkload("bench.examples.workloads:large_result", count=30)
    for window in (None, 8):
        outcome = ray_modes.RayNaive(workload, window=window).trial(25)
        assert list(outcome.answers) == list(workload.reference[:25])


@pytest.mark.parametrize("nodes, leave", [
    ([], False),
    ([{"Alive": True, "Resources": {"CPU": 4.0}, "NodeID": "other"}], True),
    ([{"Alive": True, "Resources": {"CPU": 0.5}, "NodeID": "other"}], True),  # any CPU at all
    ([{"Alive": False, "Resources": {"CPU": 4.0}, "NodeID": "other"}], False),  # dead
    ([{"Alive": True, "Resources": {"CPU": 0.0}, "NodeID": "other"}], False),  # no CPUs (a head with --num-cpus=0)
    ([{"Alive": True, "Resources": {}, "NodeID": "other"}], False),
    ([{"Alive": True, "NodeID": "other"}], False),
])
def test_tasks_leave_the_driver_node_when_another_alive_node_has_cpus(clocked_ray, nodes, leave):
    _, ray = clocked_ray
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "driver-node"}] + nodes
    assert ray_modes.tasks_leave_driver_node() is leave
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "driver-node"},
                     {"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "driver-node"}]
    assert ray_modes.tasks_leave_driver_node() is False  # the driver's own node, however listed


class FixedWork(Workload):
    """Lookups whose probed work is 1 µs per lookup, whatever the machine."""

    time_batch = staticmethod(lambda array, queries: 1e-6 * len(queries))


def _probe(clocked_ray, monkeypatch, cpus, other_node=False, inline=None):
    clock, ray = clocked_ray
    clock.submit_s, clock.get_s = 0.001, 0.01
    if other_node:
        ray.node_list = ray.node_list + [{"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "other"}]
    if inline is not None:
        monkeypatch.setenv("RAY_max_direct_call_object_size", str(inline))
    workload = FixedWork(3000, array_size=30, value_range=300, seed=4)
    mode = ray_modes.RayAuto(workload, cluster_cpus=cpus)
    before = clock.now
    mode.prepare()
    return clock, ray, workload, mode, clock.now - before


@pytest.mark.parametrize("cpus", [2, 16])
def test_the_auto_probe_times_the_work_and_a_burst_of_one_lookup_tasks(clocked_ray, monkeypatch, cpus):
    clock, ray, workload, mode, took = _probe(clocked_ray, monkeypatch, cpus)
    sample = workload.stored_items(0, workload.probe_items(ray_modes.RayAuto.PROBE_LOOKUPS))
    timed = next(f for f in ray.functions if f.fn is FixedWork.time_batch)
    search_batch = next(f for f in ray.functions if f.fn.__name__ == "search_batch")
    # the work: one warm-up call on 10 lookups, then max(3, cpus) on the whole sample
    assert [len(q) for _, q in timed.calls] == [10] + [len(sample)] * max(3, cpus)
    assert all(np.array_equal(q, sample[:len(q)]) for _, q in timed.calls)
    # the overhead: one task per CPU to warm up, then a burst, each task one lookup, i-th item
    burst = max(200, 20 * cpus)
    items = [q.tolist() for _, q in search_batch.calls]
    assert items == [[workload.query_values[i % 3000]] for i in range(cpus)] + \
                    [[workload.query_values[i % 3000]] for i in range(burst)]
    per_lookup = 1e-6
    wall = burst * clock.submit_s + clock.get_s  # submissions, then one get
    per_task = wall * cpus / burst - per_lookup
    assert mode.probe == {
        "probe_s": pytest.approx(took),
        "per_task_overhead_s": pytest.approx(per_task),
        "per_lookup_work_s": pytest.approx(per_lookup),
        "target_overhead": ray_modes.RayAuto.TARGET_OVERHEAD,
        "max_task_s": ray_modes.RayAuto.MAX_TASK_S,
        "tasks_leave_driver_node": False,
        "inline_object_bytes": ray_modes.inline_object_bytes(),
        "max_lookups_inline": None,
    }
    assert mode.batch_size == ray_modes.choose_batch_size(3000, cpus, per_task, per_lookup, ray_modes.RayAuto.TARGET_OVERHEAD,
                                                      ray_modes.RayAuto.MAX_TASK_S)
    assert mode.params["batch_size"] == mode.batch_size and mode.params["probe"] is mode.probe


def test_the_auto_probe_caps_a_task_to_what_travels_inline_when_tasks_leave_the_node(clocked_ray, monkeypatch):
    per_item = FixedWork(10).bytes_per_item
    inline = 1024 + 5 * per_item + 3  # room for 5 lookups and a little
    clock, ray, workload, mode, _ = _probe(clocked_ray, monkeypatch, 2, other_node=True, inline=inline)
    assert mode.probe["tasks_leave_driver_node"] is True and mode.probe["inline_object_bytes"] == inline
    assert mode.probe["max_lookups_inline"] == 5 and isinstance(mode.probe["max_lookups_inline"], int)
    assert mode.batch_size == ray_modes.choose_batch_size(3000, 2, mode.probe["per_task_overhead_s"], 1e-6,
                                                      ray_modes.RayAuto.TARGET_OVERHEAD, ray_modes.RayAuto.MAX_TASK_S, 5)
    assert mode.batch_size <= 5


@pytest.mark.parametrize("inline", [1024, 1024 + 8])
def test_no_inline_cap_without_room_for_a_lookup(clocked_ray, monkeypatch, inline):
    """At most the margin plus one lookup's bytes: no room, so no cap (the store is used anyway)."""
    clock, ray, workload, mode, _ = _probe(clocked_ray, monkeypatch, 2, other_node=True, inline=inline)
    assert FixedWork(10).bytes_per_item == 8
    assert mode.probe["max_lookups_inline"] is None


def test_no_inline_cap_on_one_node(clocked_ray, monkeypatch):
    clock, ray, workload, mode, _ = _probe(clocked_ray, monkeypatch, 2, other_node=False, inline=1024 + 80)
    assert mode.probe["tasks_leave_driver_node"] is False and mode.probe["max_lookups_inline"] is None


def test_batched_answers_a_user_function_with_its_own_batch_function(clocked_ray):
    from bench.engine.workload import FunctionWorkload

    workload = FunctionWorkload("bench.examples.workloads:large_result", count=30)
    mode = ray_modes.RayBatched(workload, batch_size=7)
    mode.prepare()
    outcome = mode.trial(25)
    assert outcome.tasks == 4 and list(outcome.answers) == list(workload.reference[:25])

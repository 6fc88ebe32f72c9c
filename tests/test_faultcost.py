"""The cost of an injected fault (bench.engine.faultcost) on synthetic task-event records."""
from __future__ import annotations

import json

import pytest

from bench.analysis.wording import fault_cost_line
from bench.engine import faultcost
from bench.engine.rounds import RunSpec

S = 1_000_000_000  # ns per second


def attempt(task: str, number: int, created_s: float, finished_s: float | None = None, failed: bool = False) -> dict:
    states = {"PENDING_ARGS_AVAIL": int(created_s * S), "PENDING_NODE_ASSIGNMENT": int(created_s * S) + 1000}
    if finished_s is not None:
        states["FINISHED"] = int(finished_s * S)
    if failed:
        states["FAILED"] = int((finished_s or created_s) * S)
    return {"task_id": task, "attempt": number, "states": states}


def trial(windows, response_s, lookups=1000, batch_size=100, tasks=10, correct=None) -> dict:
    return {"windows": windows, "response_s": response_s, "correct": correct or [True] * len(windows),
            "lookups": lookups, "batch_size": batch_size, "tasks": tasks}


# windows of three trials: 100-104, 110-114, 120-130 (the faulted one is slower)
WINDOWS = [(100.0, 104.0), (110.0, 114.0), (120.0, 130.0)]


def faulted_trial_records() -> list[dict]:
    """Ten tasks submitted in trial 3; t3 and t7 lost with the worker, t7 twice."""
    records = [attempt(f"t{i}", 0, 120.0 + i * 0.01, 121.0 + i) for i in range(10)]
    records += [attempt("t3", 1, 122.5, 125.5), attempt("t7", 1, 122.5, failed=True),
                attempt("t7", 2, 123.0, 128.0)]
    records += [attempt(f"old{i}", 0, 110.0 + i * 0.01, 111.0) for i in range(10)]  # trial 2: not counted
    records += [attempt("old3", 1, 112.0, 113.0)]
    return records


def test_trial_of_names_the_trial_or_where_the_fault_landed():
    assert faultcost.trial_of(111.0, WINDOWS) == (1, "in trial")
    index, landed = faultcost.trial_of(131.5, WINDOWS)
    assert index is None and landed.startswith("after the last trial") and "1.50 s" in landed
    index, landed = faultcost.trial_of(106.0, WINDOWS)
    assert index is None and landed.startswith("between trials #1 and #2")
    index, landed = faultcost.trial_of(99.0, WINDOWS)
    assert index is None and landed.startswith("before the first trial")
    assert faultcost.trial_of(1.0, [])[0] is None


def test_trial_tasks_keeps_only_the_tasks_submitted_in_the_window_in_order():
    tasks = faultcost.trial_tasks(faulted_trial_records(), 120.0, 130.0)
    assert len(tasks) == 10
    assert [max(t) for t in tasks] == [0, 0, 0, 1, 0, 0, 0, 2, 0, 0]
    assert set(tasks[7]) == {0, 1, 2}


def test_re_executed_lookups_count_every_retry_times_its_batch():
    tasks = faultcost.trial_tasks(faulted_trial_records(), 120.0, 130.0)
    found = faultcost.re_execution(tasks, lookups=1000, batch_size=100)
    assert found == {"tasks_retried": 2, "retries": 3, "lookups_re_executed": 300, "tasks_failed": 0}


def test_the_last_task_carries_the_remainder():
    assert faultcost.batch_sizes(950, 100, 10) == [100] * 9 + [50]
    records = [attempt(f"t{i}", 0, 120.0 + i * 0.01, 121.0) for i in range(10)] + [attempt("t9", 1, 122.0, 123.0)]
    tasks = faultcost.trial_tasks(records, 120.0, 130.0)
    assert faultcost.re_execution(tasks, lookups=950, batch_size=100)["lookups_re_executed"] == 50


def test_a_task_whose_retries_all_failed_is_counted_failed():
    records = [attempt("a", 0, 120.0, 121.0), attempt("b", 0, 120.1), attempt("b", 1, 121.0, failed=True)]
    tasks = faultcost.trial_tasks(records, 120.0, 130.0)
    assert faultcost.re_execution(tasks, 200, 100)["tasks_failed"] == 1


def test_recovery_runs_from_the_fault_to_the_last_retry_finished():
    tasks = faultcost.trial_tasks(faulted_trial_records(), 120.0, 130.0)
    assert faultcost.recovery_s(tasks, 122.0) == pytest.approx(6.0)
    clean = faultcost.trial_tasks([attempt("a", 0, 120.0, 121.0)], 120.0, 130.0)
    assert faultcost.recovery_s(clean, 122.0) is None


def test_slowdown_is_against_the_median_of_the_other_trials():
    found = faultcost.slowdown([4.0, 5.0, 6.0, 10.0], faulted=3)
    assert found["clean_median_s"] == 5.0 and found["clean_trials"] == 3
    assert found["slowdown"] == pytest.approx(2.0)
    assert faultcost.slowdown([10.0], faulted=0)["slowdown"] is None


def test_fault_cost_of_a_kill_inside_a_trial():
    losses = [{"event": "node_lost", "detected_unix": 125.0}, {"event": "node_lost", "detected_unix": 90.0}]
    cost = faultcost.fault_cost({"unix": 122.0, "target": "w3"}, trial(WINDOWS, [4.0, 4.0, 10.0]),
                                faulted_trial_records(), None, losses)
    assert cost["trial"] == 2 and cost["landed"] == "in trial" and cost["target"] == "w3"
    assert cost["lookups_re_executed"] == 300 and cost["tasks_retried"] == 2
    assert cost["recovery_s"] == pytest.approx(6.0)
    assert cost["detection_s"] == pytest.approx(3.0)
    assert cost["slowdown"] == pytest.approx(2.5) and cost["trial_correct"] is True
    assert cost["task_events"]["available"] and cost["task_events"]["tasks_seen"] == 10
    line = fault_cost_line("ray-batched B=100", cost)
    assert "300 lookups re-executed" in line and "2.50x" in line and "trial #3" in line
    json.dumps(cost)  # goes into the results file as it is


def test_a_kill_after_the_trial_ended_is_reported_not_costed():
    cost = faultcost.fault_cost({"unix": 131.0}, trial(WINDOWS, [4.0, 4.0, 10.0]), faulted_trial_records(), None, [])
    assert cost["trial"] is None and cost["landed"].startswith("after the last trial")
    assert cost["lookups_re_executed"] is None and cost["slowdown"] is None and cost["recovery_s"] is None
    assert not cost["task_events"]["available"]
    assert "not measured" in fault_cost_line("x", cost)


def test_without_task_events_only_the_times_are_given():
    cost = faultcost.fault_cost({"unix": 122.0}, trial(WINDOWS, [4.0, 4.0, 8.0]), None,
                                "GetTaskEvents failed: unavailable", [])
    assert cost["slowdown"] == pytest.approx(2.0)
    assert cost["lookups_re_executed"] is None and cost["recovery_s"] is None
    assert cost["task_events"] == {"available": False, "reason": "GetTaskEvents failed: unavailable"}
    assert "unavailable: GetTaskEvents failed" in fault_cost_line("x", cost)
    empty = faultcost.fault_cost({"unix": 122.0}, trial(WINDOWS, [4.0, 4.0, 8.0]), [], None, [])
    assert empty["lookups_re_executed"] is None and "no task events" in empty["task_events"]["reason"]


def test_a_wrong_answer_in_the_faulted_trial_is_recorded():
    cost = faultcost.fault_cost({"unix": 122.0}, trial(WINDOWS, [4.0, 4.0, 8.0], correct=[True, True, False]),
                                faulted_trial_records(), None, [])
    assert cost["trial_correct"] is False


def test_trial_markers_go_to_the_trial_log_only_when_asked(tmp_path, monkeypatch):
    spec = RunSpec("ray-batched", "ray-batched B=100", 1000, 3, {"batch_size": 100})
    monkeypatch.delenv(faultcost.TRIAL_LOG_ENV, raising=False)
    faultcost.announce("trial start", spec, 0)  # nothing to write to, nothing raised
    log = tmp_path / "trials.jsonl"
    monkeypatch.setenv(faultcost.TRIAL_LOG_ENV, str(log))
    faultcost.announce("trial start", spec, 2)
    faultcost.announce("trial end", spec, 2, begin=1.0, end=2.0)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(m["event"], m["batch_size"], m["trial"]) for m in lines] == [("trial start", 100, 2), ("trial end", 100, 2)]
    assert lines[1]["begin"] == 1.0 and lines[1]["end"] == 2.0
    monkeypatch.setenv(faultcost.TRIAL_LOG_ENV, str(tmp_path / "missing" / "x.jsonl"))
    faultcost.announce("trial start", spec, 0)  # an unwritable log never breaks a trial


# ---- the reader against a real (embedded) Ray: a worker that dies on a task's first attempt ----

@pytest.mark.ray
def test_the_reader_sees_the_retried_attempt_and_its_finish(embedded_ray, tmp_path):
    import time

    import ray

    def die_on_first_attempt(marker: str, index: int) -> int:
        """Kills its own worker process the first time it runs for index 0 (as a lost node would)."""
        import os

        if index == 0 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return index

    fn = ray.remote(die_on_first_attempt)  # defined here: pickled by value, no test module on the workers
    begin = time.time()
    assert ray.get([fn.remote(str(tmp_path / "died"), i) for i in range(4)]) == [0, 1, 2, 3]
    end = time.time()
    records, reason = faultcost.read_attempts("die_on_first_attempt", (begin, end), expected=4, limit=100)
    assert reason is None
    tasks = faultcost.trial_tasks(records, begin, end)
    assert len(tasks) == 4
    found = faultcost.re_execution(tasks, lookups=40, batch_size=10)
    assert found["tasks_retried"] == 1 and found["retries"] == 1 and found["lookups_re_executed"] == 10
    recovery = faultcost.recovery_s(tasks, begin)
    assert recovery is not None and 0 < recovery <= end - begin + 1.0

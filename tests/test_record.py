"""bench.engine.record in-process (issue 25: mutation of the record): the faults a chaos harness logged
during a run, and the detection delays that go with them."""

from __future__ import annotations

import json

import pytest

from bench.engine import record


def test_the_fault_log_holds_the_faults_in_the_window(tmp_path, monkeypatch):
    log = tmp_path / "faults.jsonl"
    lines = [json.dumps({"unix": 4.9, "kind": "kill"}), json.dumps({"unix": 5, "kind": "kill", "node": "wörker-1"}),
             "not json", json.dumps([1, 2]), json.dumps({"unix": 10.0, "kind": "kill"}),
             json.dumps({"kind": "no time"}), json.dumps({"unix": 10.1})]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("BENCH_FAULT_LOG", str(log))
    assert record.fault_log(5, 10) == [{"unix": 5, "kind": "kill", "node": "wörker-1"}, {"unix": 10.0, "kind": "kill"}]
    assert record.fault_log(0, 4.95) == [{"unix": 4.9, "kind": "kill"}, {"kind": "no time"}]  # no time: 0
    assert record.fault_log(0, 0.5) == [{"kind": "no time"}]


def test_no_fault_log_no_faults(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_FAULT_LOG", raising=False)
    assert record.fault_log(0, 1e12) == []
    monkeypatch.setenv("BENCH_FAULT_LOG", str(tmp_path / "missing.jsonl"))
    assert record.fault_log(0, 1e12) == []
    monkeypatch.setenv("BENCH_FAULT_LOG", "")
    assert record.fault_log(0, 1e12) == []


def _thaw(value):
    """The record as plain dicts and lists (a Run holds read-only views and tuples)."""
    if hasattr(value, "items"):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


def _recorded_row():
    from bench.engine import ray_modes
    from bench.engine.rounds import Row, RunSpec
    from bench.engine.workload import Workload

    workload = Workload(40, array_size=10, value_range=30, seed=1)
    row = Row(RunSpec("ray-batched", "ray-batched B=10", 40, 4, {"batch_size": 10, "per_cpu": False}),
              ray_modes.RayBatched(workload, batch_size=10))
    row.samples = {"response_s": [1.0, 1.0, 1.0, 5.0, 0.0005]}
    row.warmup = {"response_s": [2.0]}
    row.latencies = [[0.1, 0.2]]
    row.correct_trials = [True] * 6
    row.checksum = "abc"
    row.rounds = [1, 2, 3, 4, 5]
    row.windows = [(100.0, 101.0), (110.0, 111.0)]
    row.quiet = [(0.5, 0.1), (0.0, 0.2)]
    row.stop_reason = "max trials"
    row.nodes_start = {"alive": 2}
    row.started_unix = 90.0
    row.peak_rss = 1234
    return row, workload


def test_a_run_record_holds_every_measurement_of_its_row():
    row, workload = _recorded_row()
    resources = {
        "n1": {"interval_s": 2.0, "samples": [[99.0, 1], [102.0, 2], [103.0, 3], [103.5, 7], [110.0, 4], [112.0, 5], [115.0, 6]]},
        "n2": None,
    }
    faults = [{"unix": 100.5, "kind": "kill"}, {"unix": 120.0, "kind": "kill"}, {"unix": 130.0, "kind": "kill"}]
    events = [{"event": "node_lost", "detected_unix": 103.0}, {"event": "node_joined", "detected_unix": 104.0},
              {"event": "node_lost", "detected_unix": 125.0}]
    run = record.run_record(row, workload, {"alive": 1}, resources, {"n1": "host-1", "n2": "host-2"}, faults, events,
                            fault_cost=[{"fault": 1}])
    extra = _thaw(run.extra)
    assert run.mode == "ray-batched" and run.label == "ray-batched B=10" and run.correct is True
    assert _thaw(run.params) == {**workload.describe(), "placement": "affinity", "queries": 40, "trials": 5,
                                 "planned_trials": 4, "tasks": 4,
                                "batch_size": 10, "per_cpu": False}
    assert extra["warmup"] == {"response_s": [2.0]} and extra["task_latencies_s"] == [[0.1, 0.2]]
    assert extra["checksum"] == "abc" and extra["reference_checksum"] == workload.checksum_of(workload.reference[:40])
    assert extra["mismatches"] == 0 and extra["error"] is None and extra["stop_reason"] == "max trials"
    assert extra["median_ci_rel"] is None  # 5 trials: not bounded (inf), recorded as None
    assert extra["trial_rounds"] == [1, 2, 3, 4, 5]
    assert [list(w) for w in extra["trial_windows_unix"]] == [[100.0, 101.0], [110.0, 111.0]]
    assert extra["quiet_before_trial"] == {"waited_s": [0.5, 0.0], "busy_cores": [0.1, 0.2]}
    assert extra["nodes_start"] == {"alive": 2} and extra["nodes_end"] == {"alive": 1}
    assert extra["faults"] == faults and extra["node_events"] == events
    assert extra["loss_detection_s"] == [2.5, 5.0]  # each fault to the next loss; the third has none left
    assert extra["driver_peak_rss_bytes"] == 1234 and extra["started_unix"] == 90.0
    assert extra["measured_from_unix"] == 100.0 and extra["ended_unix"] == 111.0
    assert extra["fault_cost"] == [{"fault": 1}]
    # a node's samples cover (t - interval, t]: those overlapping a trial window are kept, edges included
    assert extra["resources"]["n1"] == {"hostname": "host-1", "interval_s": 2.0,
                                        "samples": [[102.0, 2], [103.0, 3], [110.0, 4], [112.0, 5]]}
    assert extra["resources"]["n2"] == {"hostname": "host-2", "lost": True, "samples": []}
    kinds = [w["kind"] for w in extra["warnings"]]
    assert kinds == ["unstable", "too-short", "outliers"]
    # figures recorded, words where shown (bench.analysis.wording)
    from bench.analysis.wording import run_warning_text

    assert extra["warnings"][0]["cv"] == run.stats["response_s"]["cv"] and extra["warnings"][0]["limit"] == 0.10
    assert run_warning_text(extra["warnings"][0]).startswith("response time CV is ")
    assert run_warning_text(extra["warnings"][1]) == ("a trial took under 1 ms: timer resolution and noise dominate; "
                                                      "raise --queries")
    assert [o["trial"] for o in extra["outliers"]] == [3, 4] and extra["outliers"][0]["round"] == 4
    assert extra["warnings"][2] == {"kind": "outliers", "trials": 2}
    assert run_warning_text(extra["warnings"][2], extra["outliers"]) == (
        "outlier trial(s) #4 (5 s, 5.00x the median), #5 (0.0005 s, 0.00x the median): kept in the median, named here")


def test_a_run_without_windows_or_a_cost_records_none_of_them():
    row, workload = _recorded_row()
    row.windows, row.error = [], "RuntimeError: boom"
    row.samples = {"response_s": [1.0] * 6}
    run = record.run_record(row, workload, None, {"n1": {"interval_s": 1.0, "samples": [[1.0, 1]]}}, {}, [], [])
    extra = _thaw(run.extra)
    assert run.correct is False and "fault_cost" not in extra
    assert extra["measured_from_unix"] is None and extra["ended_unix"] == 90.0
    assert extra["resources"] == {"n1": {"hostname": None, "interval_s": 1.0, "samples": []}}
    assert extra["median_ci_rel"] == 0.0 and extra["warnings"] == [] and extra["outliers"] == []


def test_detection_delays_pair_each_fault_with_the_next_loss_once():
    events = [{"event": "node_lost", "detected_unix": 12.0}, {"event": "node_joined", "detected_unix": 10.5},
              {"event": "node_lost", "detected_unix": 10.0}]
    faults = [{"unix": 11.0}, {"unix": 9.0}, {"unix": 10.0}]
    assert record._detection_delays(events, faults) == [1.0, 2.0]  # 9 -> 10, 10 -> 12 (10 is taken), 11: none
    assert record._detection_delays([{"event": "node_lost", "detected_unix": 5.0}], [{"unix": 5.0}]) == [0.0]


def test_a_finite_figure_is_kept_to_six_places_and_infinity_as_none():
    assert record._finite_or_none(0.123456789) == 0.123457
    assert record._finite_or_none(2.0) == 2.0
    assert record._finite_or_none(float("inf")) is None and record._finite_or_none(float("nan")) is None


def test_a_trial_sample_holds_each_figure_under_its_name():
    from bench.engine.modes import TrialOutcome

    latencies = [i / 1000 for i in range(101)]  # 0..100 ms: the p-th percentile is p ms exactly
    sample = record._trial_samples(TrialOutcome(answers=[], response_s=0.5, tasks=4, submit_s=0.2,
                                                task_latencies_s=latencies), lookups=100)
    assert sample == pytest.approx({"response_s": 0.5, "lookups_per_s": 200.0, "tasks": 4, "tasks_per_s": 8.0,
                                    "task_latency_p50_s": 0.050, "task_latency_p95_s": 0.095,
                                    "task_latency_p99_s": 0.099, "submit_s": 0.2, "submit_per_task_s": 0.05})


def test_warnings_start_beyond_their_limits_and_name_them():
    assert record._warnings({}, {}) == []  # a row with no trials: no figures, no warnings
    assert record._warnings({"response_s": {"cv": 0.10}}, {"response_s": [0.5]}) == []  # exactly the limit
    assert record._warnings({"response_s": {"cv": float("nan")}}, {"response_s": [0.5]}) == []
    assert record._warnings({"response_s": {"cv": 0.1001}}, {}) == [{"kind": "unstable", "cv": 0.1001, "limit": 0.10}]
    assert record._warnings({"response_s": {}}, {"response_s": [0.001, 0.5]}) == []  # exactly 1 ms: not too short
    assert record._warnings({"response_s": {}}, {"response_s": [0.5, 0.0009]}) == [
        {"kind": "too-short", "shortest_s": 0.0009, "limit_s": 0.001}]


BASE = [10.0, 11, 12, 13, 14, 15, 16, 17, 18]


@pytest.mark.parametrize("extra, kind", [(4.49, "fast"), (4.51, None), (23.51, "slow"), (23.49, None)])
def test_outliers_are_beyond_tukeys_fences_from_the_quartiles(extra, kind):
    """With one more value below 10 the quartiles are 11.25 and 15.75 (fences 4.5 and 22.5); above 18,
    12.25 and 16.75 (fences 5.5 and 23.5): a value just past a fence is named, one just inside is not."""
    found = record.outlier_trials(BASE + [extra])
    if kind is None:
        assert found == []
    else:
        median = 13.5 if extra < 10 else 14.5
        assert found == [{"trial": 9, "round": None, "response_s": extra, "vs_median": pytest.approx(extra / median),
                          "kind": kind}]


def test_four_trials_are_enough_to_name_an_outlier_and_a_zero_median_gives_no_ratio():
    assert [o["trial"] for o in record.outlier_trials([1.0, 1.0, 1.0, 10.0])] == [3]
    assert record.outlier_trials([1.0, 1.0, 10.0]) == []
    assert record.outlier_trials([0.0, 0.0, 0.0, 0.0, 5.0]) == [
        {"trial": 4, "round": None, "response_s": 5.0, "vs_median": None, "kind": "slow"}]


def test_resource_samples_are_cut_to_the_trial_windows_node_by_node():
    resources = {"lost": None, "n1": {"interval_s": 2.0, "samples": [[99.0, 1], [101.5, 2]]},
                 "no-interval": {"samples": [[99.5, 1], [100.0, 2], [101.5, 3]]}, "no-samples": {"interval_s": 1.0}}
    cut = record._within_windows(resources, [(100.0, 101.0)])
    assert cut == {"lost": None, "n1": {"interval_s": 2.0, "samples": [[101.5, 2]]},  # 99.5-101.5 overlaps
                   "no-interval": {"samples": [[100.0, 2]]},  # an instant each: 101.5 is after the window
                   "no-samples": {"interval_s": 1.0, "samples": []}}
    assert record._within_windows({"lost": None, "n1": {"samples": [[1.0, 1]]}}, []) == {
        "lost": None, "n1": {"samples": []}}


def test_a_row_that_never_ran_a_trial_is_not_correct_and_one_trial_can_be():
    row, workload = _recorded_row()
    row.samples, row.rounds, row.windows, row.correct_trials = {}, [], [], []
    run = record.run_record(row, workload, None, {}, {}, [], [])
    assert run.correct is False and _thaw(run.extra)["outliers"] == [] and _thaw(run.extra)["warnings"] == []
    row.samples, row.rounds, row.windows, row.correct_trials = {"response_s": [1.0]}, [1], [(1.0, 2.0)], [True]
    assert record.run_record(row, workload, None, {}, {}, [], []).correct is True

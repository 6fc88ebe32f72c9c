"""bench.engine.anatomy: phases from task-event timestamps (synthetic records), and one embedded run."""

import json
import subprocess
import sys

import pytest

from bench.engine import anatomy, task_events
from bench.engine.anatomy import PHASES, anatomy_lines, summarize_records, task_latency, task_phases

MS = 1_000_000  # ns


def record(states=None, start=0, end=1 * MS, got=20 * MS, **extra):
    if states is None:
        states = {"PENDING_ARGS_AVAIL": 0 * MS + 500_000, "PENDING_NODE_ASSIGNMENT": 2 * MS,
                  "SUBMITTED_TO_WORKER": 5 * MS, "RUNNING": 6 * MS, "FINISHED": 16 * MS}
    return {"task_id": "t", "states": states, "submit_start_ns": start, "submit_end_ns": end, "got_ns": got, **extra}


def test_phases_are_the_spans_between_the_state_timestamps_and_the_driver_times():
    phases = task_phases(record())
    expected = {"submission": 0.5e-3, "waiting_for_args": 1.5e-3, "scheduling_and_lease": 3e-3,
                "dispatch": 1e-3, "execution": 10e-3, "return_and_get": 4e-3}
    assert phases == pytest.approx(expected)
    assert task_latency(record()) == pytest.approx(20e-3)


def test_the_residual_is_the_latency_less_the_phases_and_the_remote_overlap_is_not_counted_twice():
    summary = summarize_records([record()])
    # PENDING_ARGS_AVAIL was stamped 0.5 ms inside .remote(): submission ends there, so the
    # phases tile the 20 ms exactly; the last 0.5 ms of .remote() is reported as the overlap.
    assert summary["residual"]["median_s"] == pytest.approx(0.0)
    assert summary["residual"]["median_rel"] == pytest.approx(0.0)
    # A task Ray registers only after .remote() returned leaves that gap in the residual.
    late = summarize_records([record(end=int(0.2 * MS))])
    assert late["residual"]["median_s"] == pytest.approx(0.3e-3)
    assert summary["residual"]["tasks_with_missing_phases"] == 0
    assert summary["measured_latency"]["median_s"] == pytest.approx(20e-3)
    assert summary["largest_phase"] == "execution"
    assert summary["submission_overlap"]["median_s"] == pytest.approx(0.5e-3)


def test_a_get_that_returns_before_the_finished_stamp_never_makes_a_negative_phase():
    # The owner puts the result in its memory store, wakes ray.get, then stamps FINISHED.
    early = record(got=15 * MS)  # FINISHED stamped at 16 ms, 1 ms after ray.get returned
    phases = task_phases(early)
    assert phases["return_and_get"] == 0.0
    assert phases["execution"] == pytest.approx(9e-3)  # RUNNING (6 ms) -> ray.get returned (15 ms)
    summary = summarize_records([early, record()])
    assert all(p["median_s"] >= 0 for p in summary["phases"].values())
    assert summary["residual"]["q1_s"] == pytest.approx(0.0) and summary["residual"]["q3_s"] == pytest.approx(0.0)
    assert summary["finish_overlap"] == {**summary["finish_overlap"], "tasks": 1}
    assert summary["finish_overlap"]["median_s"] == pytest.approx(1e-3)
    assert any("finish stamp lag" in line for line in anatomy_lines({"available": True, **summary}))
    assert "finish_overlap" not in summarize_records([record()])


def test_a_missing_state_makes_its_phases_missing_never_invented():
    states = record()["states"]
    del states["RUNNING"]
    phases = task_phases(record(states=states))
    assert phases["dispatch"] is None and phases["execution"] is None
    assert phases["scheduling_and_lease"] == pytest.approx(3e-3)
    summary = summarize_records([record(states=dict(states)), record(states=dict(states))])
    assert summary["phases"]["dispatch"] == {"missing": 2, "n": 0}
    assert summary["phases"]["execution"] == {"missing": 2, "n": 0}
    # The missing span (SUBMITTED_TO_WORKER -> FINISHED, 11 ms) lands in the residual.
    assert summary["residual"]["median_s"] == pytest.approx(11e-3)
    assert summary["residual"]["tasks_with_missing_phases"] == 2
    assert summary["largest_phase"] == "return_and_get"


def test_partly_missing_phases_are_counted_and_driver_times_missing_mean_no_latency():
    full = record()
    no_finish = record(states={k: v for k, v in record()["states"].items() if k != "FINISHED"})
    no_got = record(got=None)
    summary = summarize_records([full, no_finish, no_got])
    assert summary["phases"]["execution"]["missing"] == 1
    assert summary["phases"]["execution"]["n"] == 2
    assert summary["phases"]["return_and_get"]["missing"] == 2
    assert summary["measured_latency"]["n"] == 2  # the record without a get time has no latency
    assert summary["tasks"] == 3


def test_quartiles_per_phase_over_tasks():
    records = [record(end=k * MS // 10, got=20 * MS) for k in (1, 2, 3, 4, 5)]
    submission = summarize_records(records)["phases"]["submission"]
    assert submission["median_s"] == pytest.approx(0.3e-3)
    assert submission["q1_s"] == pytest.approx(0.2e-3) and submission["q3_s"] == pytest.approx(0.4e-3)
    assert submission["missing"] == 0


def test_intermediate_states_are_counted_not_made_phases():
    states = {**record()["states"], "PENDING_ARGS_FETCH": 5 * MS + 100, "GETTING_AND_PINNING_ARGS": 5 * MS + 200}
    summary = summarize_records([record(states=states), record()])
    assert summary["intermediate_states"] == {"PENDING_ARGS_FETCH": 1, "GETTING_AND_PINNING_ARGS": 1}
    assert set(summary["phases"]) == set(PHASES)


def test_a_task_is_complete_with_every_span_state_or_failed():
    states = record()["states"]
    assert task_events._complete(states)
    assert not task_events._complete({k: v for k, v in states.items() if k != "RUNNING"})
    assert task_events._complete({"PENDING_ARGS_AVAIL": 1, "FAILED": 2})


def test_events_merge_by_task_keeping_the_latest_attempt():
    from ray.core.generated import common_pb2, gcs_pb2

    def event(task_id, attempt, **states):
        ev = gcs_pb2.TaskEvents(task_id=task_id, attempt_number=attempt)
        for name, ns in states.items():
            ev.state_updates.state_ts_ns[common_pb2.TaskStatus.Value(name)] = ns
        return ev

    found = task_events.events_by_task([
        event(b"\x01", 0, PENDING_ARGS_AVAIL=1, FINISHED=9),
        event(b"\x01", 0, RUNNING=5),  # the worker's own flush, merged
        event(b"\x02", 1, PENDING_ARGS_AVAIL=20),
        event(b"\x02", 0, PENDING_ARGS_AVAIL=10, FAILED=15),  # an older attempt, dropped
    ])
    assert found["01"] == {"states": {"PENDING_ARGS_AVAIL": 1, "FINISHED": 9, "RUNNING": 5}, "attempt": 0}
    assert found["02"] == {"states": {"PENDING_ARGS_AVAIL": 20}, "attempt": 1}


def test_no_events_for_the_batch_is_unavailable_with_a_reason():
    result = anatomy._assemble([record(task_id="a")], {}, failed=0, name="anatomy-x")
    assert result["available"] is False
    assert "RAY_task_events_report_interval_ms=0" in result["reason"]
    assert anatomy_lines(result) == [f"task anatomy: unavailable: {result['reason']}"]


def test_result_is_json_and_lines_name_every_phase_and_the_residual():
    result = anatomy._assemble([record(task_id="a")], {"a": {"states": record()["states"], "attempt": 0}},
                               failed=0, name="anatomy-x")
    assert result["available"] is True and result["source"] == "gcs task events"
    json.dumps(result)
    text = "\n".join(anatomy_lines(result))
    for name in PHASES:
        assert name in text
    assert "residual" in text and "<- largest" in text
    missing = anatomy._assemble([record(task_id="a")], {"a": {"states": {"FINISHED": 16 * MS}, "attempt": 0}},
                                failed=0, name="anatomy-x")
    assert ["dispatch", "missing"] in [line.split() for line in anatomy_lines(missing)]


def test_importing_the_module_starts_no_ray():
    code = "import sys, bench.engine.anatomy; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.ray
@pytest.mark.parametrize("shape", ["noop", "lookup"])
def test_embedded_anatomy_phases_are_present_non_negative_and_sum_to_the_latency(embedded_ray, shape):
    result = anatomy.run_anatomy(shape=shape, n_tasks=50)
    print("\n".join(anatomy_lines(result)))
    assert result["available"] is True, result
    assert result["tasks"] == 50 and result["tasks_without_events"] == 0 and result["failed"] == 0
    for name in PHASES:
        phase = result["phases"][name]
        assert phase["missing"] == 0, (name, phase)
        assert phase["q1_s"] >= 0, (name, phase)
    assert abs(result["residual"]["median_rel"]) <= 0.15, result["residual"]
    # One clock, phases that tile: only a gap between .remote() returning and Ray's stamp is left.
    assert result["residual"]["q1_s"] >= -1e-6
    json.dumps(result)


@pytest.mark.ray
def test_embedded_anatomy_one_task_at_a_time_accounts_for_the_latency(embedded_ray):
    result = anatomy.run_anatomy(shape="noop", n_tasks=20, in_flight=1)
    print("\n".join(anatomy_lines(result)))
    assert result["available"] is True and result["in_flight"] == 1, result
    assert all(result["phases"][name]["missing"] == 0 for name in PHASES)
    # Alone, .remote() runs on well after Ray stamps the task (a larger overlap than in a
    # batch); with submission ending at that stamp the phases account for the latency.
    assert abs(result["residual"]["median_s"]) <= 0.05 * result["measured_latency"]["median_s"], result["residual"]


@pytest.mark.ray
def test_embedded_anatomy_reports_a_failed_query_as_unavailable(embedded_ray, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise RuntimeError("GCS said no\nmore detail")

    monkeypatch.setattr(task_events, "query_task_events", refuse)
    result = anatomy.run_anatomy(n_tasks=3, warmup=False)
    assert result == {"available": False, "reason": "GetTaskEvents failed: GCS said no", "source": "gcs task events"}


@pytest.mark.ray
def test_diagnose_splits_the_suites_own_task_shapes_one_per_batch_size(embedded_ray):
    import numpy as np

    array = np.arange(100, dtype=np.int64)
    queries = np.arange(2_000, dtype=np.int64) % 150  # hits and misses
    out = anatomy.diagnose(array, queries, [("ray-naive", 1), ("ray-batched", 1_000)], cpus=2, max_tasks=20,
                           placement="affinity", other_placement="default")
    assert out["available"] is True and out["in_flight"] == 2 and out["source"] == "gcs task events"
    # the first shape again under the other placement (issue 23), kept apart from the runs
    other = out["other_placement"]
    assert (other["mode"], other["batch_size"], other["tasks"], other["placement"]) == ("ray-naive", 1, 20, "default")
    assert other["available"] and all(other["phases"][name]["missing"] == 0 for name in PHASES)
    assert out["placement"] == "affinity" and "placement" not in out["runs"][0]
    naive, batched = out["runs"]
    assert (naive["mode"], naive["batch_size"], naive["tasks"]) == ("ray-naive", 1, 20)
    # 2,000 queries in batches of 1,000: two tasks, not max_tasks
    assert (batched["mode"], batched["batch_size"], batched["tasks"]) == ("ray-batched", 1_000, 2)
    for run in out["runs"]:
        assert run["failed"] == 0 and all(run["phases"][name]["missing"] == 0 for name in PHASES)
        assert abs(run["residual"]["median_rel"]) <= 0.15, run["residual"]

"""Every mode on a small workload against an embedded Ray with 2 CPUs."""

import json

import pytest

from bench.runner import run_benchmark
from bench.suites import ALL_MODES, build_config

pytestmark = pytest.mark.ray

TIMED_METRICS = ("response_s", "lookups_per_s", "tasks_per_s",
                 "task_latency_p50_s", "task_latency_p95_s", "task_latency_p99_s")
SUBMITTING_MODES = ("multiprocessing", "ray-naive", "ray-batched")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("integration") / "r.json"
    config = build_config(suite="quick", queries=3000, naive_tasks="300,1000", batch_sizes="10,100,1000",
                          trials=3, num_cpus=2, quiet=True)
    run_benchmark(config, out=out)
    return json.loads(out.read_text())


def test_every_mode_ran_and_answered_correctly(small_run):
    assert small_run["status"] == "complete"
    assert {r["mode"] for r in small_run["runs"]} == set(ALL_MODES)
    for run in small_run["runs"]:
        assert run["correct"] is True, run["label"]
        assert run["mismatches"] == 0
        assert run["checksum"] == run["reference_checksum"]
        assert run["error"] is None


def test_all_metric_fields_present_and_positive(small_run):
    for run in small_run["runs"]:
        metrics = TIMED_METRICS + (("submit_s", "submit_per_task_s") if run["mode"] in SUBMITTING_MODES else ())
        for metric in metrics:
            values = run["samples"][metric]
            assert len(values) == run["params"]["trials"] == 3, (run["label"], metric)
            assert all(v > 0 for v in values), (run["label"], metric)
            assert run["stats"][metric]["median"] > 0
        assert len(run["warmup"]["response_s"]) == 1, "warm-up is recorded apart from the measured trials"
        assert run["warmup"]["response_s"][0] not in run["samples"]["response_s"]
        assert run["driver_peak_rss_bytes"] > 0
        assert run["nodes_start"]["alive_with_cpus"] == run["nodes_end"]["alive_with_cpus"] == 1
        assert run["nodes_start"]["cpus"] == 2
        samples = [s for node in run["resources"].values() for s in node["samples"]]
        assert samples, f"no resource samples for {run['label']}"
        assert all(len(s) == 3 and s[2] > 0 for s in samples)
        # sampling covers the measured trials, not the warm-up before them
        assert all(run["measured_from_unix"] <= s[0] <= run["ended_unix"] for s in samples)


def test_task_counts_and_sweep(small_run):
    runs = small_run["runs"]
    naive = sorted(r["params"]["tasks"] for r in runs if r["mode"] == "ray-naive")
    assert naive == [300, 1000]
    batched = {r["params"]["batch_size"]: r["params"]["tasks"] for r in runs if r["mode"] == "ray-batched"}
    # the sweep plus one task per CPU: 3000 lookups / 2 CPUs
    assert batched == {10: 300, 100: 30, 1000: 3, 1500: 2}
    for run in runs:
        if run["mode"] == "ray-naive":
            assert run["samples"]["tasks"] == [run["params"]["tasks"]] * 3
    # one node: the tasks never leave it, so no inline-payload cap; one task per CPU
    auto = next(r for r in runs if r["mode"] == "ray-auto")
    assert auto["params"]["probe"]["tasks_leave_driver_node"] is False
    assert auto["params"]["probe"]["max_lookups_inline"] is None
    assert auto["params"]["batch_size"] == 1500


def test_calibration_and_cluster_are_recorded(small_run):
    cluster = small_run["cluster"]
    rates = cluster["calibration"]["samples"]["tasks_per_s"]
    assert len(rates) >= 3 and all(r > 0 for r in rates)
    with_args = cluster["calibration"]["with_naive_args"]["samples"]["tasks_per_s"]
    assert len(with_args) == len(rates) and all(r > 0 for r in with_args)
    harness = small_run["analysis"]["harness"]
    naive = next(r for r in small_run["runs"] if r["mode"] == "ray-naive" and r["params"]["tasks"] == 1000)
    calib = cluster["calibration"]["stats"]["tasks_per_s"]["median"]
    assert harness["naive_tasks"] == 1000
    assert harness["ratio"] == pytest.approx(naive["stats"]["tasks_per_s"]["median"] / calib)
    assert cluster["nodes_start"] == {"alive": 1, "alive_with_cpus": 1, "cpus": 2.0}
    node = cluster["nodes"][0]
    assert node["alive"] and node["object_store_memory_bytes"] > 0 and node["shm_bytes"] > 0
    meta = small_run["metadata"]
    for key in ("ray_version", "python_version", "numpy_version", "cpu_model", "cpu_count",
                "memory_bytes", "shm_bytes", "command_line", "started_utc"):
        assert meta[key], key

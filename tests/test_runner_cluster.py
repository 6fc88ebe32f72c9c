"""The suite runner's Ray path in-process (issue 25: mutation of bench.engine.runner): a suite of
Ray modes on the fake Ray (tests/fake_ray.py) against a fake cluster (bench.engine.cluster's
functions replaced), so what the runner records about the cluster, and in what order it joins,
watches and leaves it, is checked without starting Ray."""

from __future__ import annotations

import time
import types
from pathlib import Path

import pytest

from bench import results
from bench.analysis.wording import lease_single_node_text
from bench.engine import anatomy, cluster, placement, runner
from bench.engine.runner import SuiteRunner
from bench.engine.suites import build_config

NODES = [
    {"node_id": "head", "hostname": "head-host", "alive": True, "is_head": True, "cpus": 0.0,
     "object_store_memory_bytes": 100},
    {"node_id": "w1", "hostname": "w1-host", "alive": True, "is_head": False, "cpus": 2.0,
     "object_store_memory_bytes": 1000},
    {"node_id": "w2", "hostname": "w2-host", "alive": True, "is_head": False, "cpus": 1.0,
     "object_store_memory_bytes": 2000},
    {"node_id": "gone", "hostname": "gone-host", "alive": False, "is_head": False, "cpus": 4.0,
     "object_store_memory_bytes": 4000},
]
END_NODES = [dict(NODES[0]), dict(NODES[1]), {**NODES[2], "alive": False}]


class FakeCluster:
    """What bench.engine.cluster offers the runner, with a log of the calls in order."""

    def __init__(self, monkeypatch, top_k_fraction: float = 1.0):
        self.log: list[tuple] = []
        self.stops = 0  # node_snapshot answers END_NODES once the measured rounds' sampling stopped
        fake = self

        class Samplers:
            hostnames = {"head": "head-host", "w1": "w1-host", "w2": "w2-host"}

            @classmethod
            def launch(cls, nodes):
                fake.log.append(("samplers.launch", [n["node_id"] for n in nodes]))
                return cls()

            def facts(self):
                fake.log.append(("samplers.facts",))
                settings = {placement.TOP_K_FRACTION: top_k_fraction, placement.TOP_K_ABSOLUTE: 1}
                return {"w1": {"hostname": "not this one", "cores": 8, "ray_settings": settings},
                        "w2": {"ray_settings": settings}, "head": None}

            def start(self):
                fake.log.append(("samplers.start",))
                fake.rounds_started = time.time()  # the last start: the measured rounds' session

            def stop(self):
                fake.log.append(("samplers.stop",))
                fake.stops += 1
                return {"w1": {"interval_s": 0.5, "samples": [[0.0, 30.0], [1e12, 50.0]]}, "w2": None}

        class Watcher:
            def __init__(self):
                self.events = []

            def start(self):
                fake.log.append(("watcher.start",))
                self.events.append({"event": "node_lost", "node_id": "before-the-rounds", "detected_unix": 1.0})
                return self

            def poll(self):
                fake.log.append(("watcher.poll",))
                # a loss seen just as the rounds began: it belongs to their first trial
                self.events.append({"event": "node_lost", "node_id": "w2", "detected_unix": fake.rounds_started + 1e-6})

            def stop(self):
                fake.log.append(("watcher.stop",))
                return [{"event": "node_lost", "node_id": "w2", "detected_unix": 5.0}]

        class Watchdog:
            def __init__(self, address, on_lost):
                fake.log.append(("watchdog", address, on_lost.__name__))

            def start(self):
                fake.log.append(("watchdog.start",))
                return self

            def stop(self):
                fake.log.append(("watchdog.stop",))

        def connect(address, num_cpus=None, quiet=True, worker_paths=()):
            self.log.append(("connect", address, num_cpus, quiet, worker_paths))
            return {"mode": "existing", "ray_version": "fake", "auth_mode": "token"}

        def wait_for_nodes(expected, timeout_s, on_count=None):
            self.log.append(("wait_for_nodes", expected, timeout_s))
            on_count(1)
            on_count(2)
            return [dict(n) for n in NODES]

        def node_snapshot():
            self.log.append(("node_snapshot",))
            return END_NODES if self.stops >= 2 else NODES

        for name, value in {"connect": connect, "wait_for_nodes": wait_for_nodes, "node_snapshot": node_snapshot,
                            "gcs_address": lambda: "head:6379", "total_cpus": lambda: 3,
                            "shutdown": lambda: self.log.append(("shutdown",)),
                            "NodeSamplers": Samplers, "NodeWatcher": Watcher, "HeadWatchdog": Watchdog}.items():
            monkeypatch.setattr(cluster, name, value)

    def calls(self, name: str) -> list[tuple]:
        return [entry for entry in self.log if entry[0] == name]

    def index(self, name: str) -> int:
        return next(i for i, entry in enumerate(self.log) if entry[0] == name)


QUIET = {"waited_s": 0.0, "busy_cores": 0.1, "quiet_cores": 0.5, "settled": True}


@pytest.fixture(autouse=True)
def no_quiet_host_waits(monkeypatch):
    """No waiting for a quiet host (up to 10 s before the rounds, 2 s before each trial): checked elsewhere."""
    monkeypatch.setattr(runner, "settle", lambda *a, **k: dict(QUIET))
    monkeypatch.setattr(runner, "IDLE_WINDOW_S", 0.01)
    # the machine check's 1 s look at the host's busy cores (tests/test_preflight.py checks it)
    monkeypatch.setattr(runner, "system_check", lambda: {"warnings": [], "busy_cores": 0.1})


@pytest.fixture
def fake_cluster(clocked_ray, monkeypatch):
    _, ray = clocked_ray
    settles = []
    monkeypatch.setattr(runner, "settle", lambda *a, **k: settles.append((a, k)) or dict(QUIET))
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "w1"},
                     {"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "w2"},
                     {"Alive": True, "Resources": {}, "NodeID": "driver-node"}]
    anatomy_calls = []

    def diagnose_suite(specs, workload, phase, cpus, placement, other_placement):
        anatomy_calls.append({"modes": sorted({s.mode for s in specs}), "cpus": cpus, "placement": placement,
                              "other": other_placement, "queries": workload.describe()["queries"]})
        phase("anatomy: diagnosing")  # its progress lines go where the suite's go
        return {"shapes": "diagnosed"}

    monkeypatch.setattr(anatomy, "diagnose_suite", diagnose_suite)
    fake = FakeCluster(monkeypatch)
    fake.anatomy_calls, fake.settles = anatomy_calls, settles
    return fake


def _run(tmp_path, **overrides):
    params = dict(suite="quick", modes="ray-naive,ray-batched", batch_sizes="10", queries=40, trials=2,
                  budget=0, quiet=False, address="head:6379", expect_nodes=2, expect_timeout=7)
    params.update(overrides)
    out = tmp_path / "r.json"
    SuiteRunner(build_config(**params), out).run()
    return results.load(out)


def test_a_ray_suite_records_the_cluster_it_joined_and_watched(fake_cluster, tmp_path, capsys):
    res = _run(tmp_path, trials=3)  # the calibration's 3 in-round batches: one after each round
    info = res.cluster
    assert res.status == "complete" and all(run.correct for run in res.runs)
    assert info["mode"] == "existing" and info["auth_mode"] == "token" and info["address"] == "head:6379"
    assert info["expected_nodes"] == 2
    # the samplers' facts join each node, except their hostname (Ray's own stays)
    nodes = {n["node_id"]: n for n in info["nodes"]}
    assert nodes["w1"]["hostname"] == "w1-host" and nodes["w1"]["cores"] == 8
    assert nodes["w2"]["ray_settings"][placement.TOP_K_FRACTION] == 1.0 and "ray_settings" not in nodes["head"]
    assert info["nodes_start"] == {"alive": 3, "alive_with_cpus": 2, "cpus": 3.0}
    assert info["object_store_memory_bytes"] == 3100  # alive nodes only
    assert info["cluster_cpus"] == 3 and info["driver_cpus"] >= 1
    assert info["idle_load"]["window_s"] == 0.01 and set(info["idle_load"]["nodes"]) == {"w1"}
    assert info["idle_load"]["nodes"]["w1"] == {"hostname": "w1-host", "cpu_pct_of_core": 40.0}
    assert info["settle_before_calibration"]["settled"] is True and info["settle"]["settled"] is True
    assert info["lease_placement"]["cpu_nodes"] == 2 and "single_node" not in info["lease_placement"]
    calibration = info["calibration"]
    assert calibration["placement"] == "affinity" and calibration["stats"]["tasks_per_s"]["median"] > 0
    assert "other_placement" in calibration and "with_naive_args" in calibration
    # the end: the last snapshot, the watcher's events, the anatomy under both placements
    assert [n["alive"] for n in info["nodes_end"]] == [True, True, False]
    assert info["nodes_end_counts"] == {"alive": 2, "alive_with_cpus": 1, "cpus": 2.0}
    assert [dict(e) for e in info["node_events"]] == [{"event": "node_lost", "node_id": "w2", "detected_unix": 5.0}]
    assert info["anatomy"] == {"shapes": "diagnosed"}
    assert fake_cluster.anatomy_calls == [{"modes": ["ray-batched", "ray-naive"], "cpus": 3,
                                           "placement": "affinity", "other": "default", "queries": 40}]
    # each run's node counts: at its warm-up, and after the round of its last trial
    for run in res.runs:
        assert run.extra["nodes_start"] == {"alive": 3, "alive_with_cpus": 2, "cpus": 3.0}
        assert run.extra["nodes_end"] == {"alive": 3, "alive_with_cpus": 2, "cpus": 3.0}
    err = capsys.readouterr().err
    assert "bench: connecting to head:6379" in err
    assert "waiting for 2 node(s) with CPUs: 1 so far" in err and "waiting for 2 node(s) with CPUs: 2 so far" in err
    assert "4 node(s), 3 CPUs; measuring the idle load" in err and "bench: calibrating (no-op task rate)\n" in err
    assert "bench: anatomy: diagnosing\n" in err
    assert f"bench: warming up {len(res.runs)} configurations\n" in err
    # the calibration as the rounds left it: its interleaved trials, not only the blocks before them
    assert list(calibration["trial_rounds"]) == [1, 2, 3]
    for run in res.runs:  # each node's samples under its hostname from the samplers
        assert run.extra["resources"]["w1"]["hostname"] == "w1-host"
    # a quiet host before the calibration and after the warm-ups, up to SETTLE_MAX_S each
    assert [call for call in fake_cluster.settles if not call[1]] == [((runner.SETTLE_MAX_S,), {})] * 2
    first = min(w[0] for run in res.runs for w in run.extra["trial_windows_unix"])
    assert min(run.extra["started_unix"] for run in res.runs) <= res.config["measuring_since_unix"] <= first
    # the watcher's events from the rounds on go to the runs, the loss at their start to the first trial
    events = [(e["node_id"], run.extra["trial_rounds"][0]) for run in res.runs for e in run.extra["node_events"]]
    assert events == [("w2", 1)]
    assert "bench: warning: RAY_scheduler_top_k_fraction" not in err


def test_the_runner_joins_watches_and_leaves_the_cluster_in_order(fake_cluster, tmp_path):
    _run(tmp_path, expect_timeout=7, num_cpus=None)
    log, at = fake_cluster.log, fake_cluster.index
    assert log[0] == ("connect", "head:6379", None, False, ())
    assert fake_cluster.calls("watchdog") == [("watchdog", "head:6379", "_head_lost")]
    assert fake_cluster.calls("wait_for_nodes") == [("wait_for_nodes", 2, 7.0)]
    assert fake_cluster.calls("samplers.launch") == [("samplers.launch", ["head", "w1", "w2", "gone"])]
    assert at("connect") < at("watchdog.start") < at("wait_for_nodes") < at("watcher.start") < at("samplers.launch")
    # the idle load's sampling session, then one over the measured rounds, then the end
    starts = [i for i, e in enumerate(log) if e[0] == "samplers.start"]
    stops = [i for i, e in enumerate(log) if e[0] == "samplers.stop"]
    assert len(starts) == 2 and len(stops) == 2 and starts[0] < stops[0] < starts[1] < stops[1]
    assert stops[1] < at("watcher.poll") < at("watcher.stop") < at("watchdog.stop") < at("shutdown")
    assert len(fake_cluster.calls("shutdown")) == 1 and len(fake_cluster.calls("watchdog.stop")) == 1


def test_an_embedded_ray_gets_no_watchdog(fake_cluster, tmp_path, monkeypatch, capsys):
    connects = []
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: connects.append((a, k)) or {"mode": "embedded"})
    monkeypatch.setattr(SuiteRunner, "_worker_paths", lambda self: ("/users/module/root",))
    res = _run(tmp_path, address=None, expect_nodes=None, num_cpus=2)
    assert res.cluster["mode"] == "embedded" and res.cluster["expected_nodes"] is None
    assert fake_cluster.calls("watchdog") == [] and fake_cluster.calls("wait_for_nodes")[0][1] == 1
    assert connects == [((None, 2), {"quiet": False, "worker_paths": ("/users/module/root",)})]
    assert "bench: connecting to an embedded Ray\n" in capsys.readouterr().err


def test_an_existing_cluster_without_a_gcs_address_gets_no_watchdog(fake_cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "gcs_address", lambda: None)
    _run(tmp_path)
    assert fake_cluster.calls("watchdog") == []


def test_a_lease_policy_on_a_single_node_is_warned_of_under_rays_default_placement(clocked_ray, tmp_path, monkeypatch,
                                                                                     capsys):
    _, ray = clocked_ray
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "w1"}]
    monkeypatch.setattr(anatomy, "diagnose_suite", lambda *a, **k: None)
    FakeCluster(monkeypatch, top_k_fraction=0.2)
    res = _run(tmp_path, placement="default")
    assert res.cluster["lease_placement"]["single_node"]["value"] == 0.2
    assert "anatomy" not in res.cluster  # a diagnosis that gave nothing is not recorded
    warning = f"bench: warning: {lease_single_node_text(res.cluster['lease_placement']['single_node'])}\n"
    assert warning in capsys.readouterr().err
    (tmp_path / "affinity").mkdir()
    _run(tmp_path / "affinity", placement="affinity")
    assert warning not in capsys.readouterr().err  # affinity asks each node itself


def test_a_suite_without_ray_never_touches_the_cluster(tmp_path, monkeypatch):
    fake_cluster = FakeCluster(monkeypatch)
    res = _run(tmp_path, modes="sequential,numpy", address=None, expect_nodes=None)
    assert fake_cluster.log == [] and res.cluster["mode"] == "none"
    assert res.cluster["driver_cpus"] == res.cluster["cluster_cpus"]
    assert all(run.extra["nodes_start"] is None for run in res.runs)


def test_node_counts_that_cannot_be_read_are_none(fake_cluster, tmp_path, monkeypatch):
    config = build_config(suite="quick", modes="ray-naive", queries=40, trials=2, budget=0, quiet=True)
    suite = SuiteRunner(config, tmp_path / "r.json")

    def broken():
        raise RuntimeError("GCS gone")

    monkeypatch.setattr(cluster, "node_snapshot", broken)
    assert suite._node_counts() is None


def test_the_stress_suite_has_no_anatomy(fake_cluster, tmp_path):
    config = build_config(suite="stress", modes="ray-naive", queries=40, trials=2, budget=0, quiet=True)
    suite = SuiteRunner(config, tmp_path / "r.json")
    assert suite._anatomy([]) is None and fake_cluster.anatomy_calls == []


def test_a_lost_head_saves_the_runs_so_far_as_incomplete_and_exits(fake_cluster, tmp_path, monkeypatch, capsys):
    config = build_config(suite="quick", modes="sequential", queries=40, trials=2, budget=0, quiet=True)
    out = tmp_path / "r.json"
    suite = SuiteRunner(config, out)
    exits = []
    monkeypatch.setattr(runner.os, "_exit", lambda code: exits.append(code))
    suite.results = results.Results(metadata={}, workload={}, cluster={}, runs=(), status="incomplete",
                                    incomplete_reason="running", suite="quick", config={})
    suite._head_lost("the Ray head at head:6379 stopped answering")
    saved = results.load(out)
    assert exits == [1] and saved.status == "incomplete"
    assert saved.incomplete_reason == "the Ray head at head:6379 stopped answering"
    err = capsys.readouterr().err
    assert err == (f"bench: error: the Ray head at head:6379 stopped answering; 0 run(s) saved to {out} "
                   f"(incomplete)\n")
    assert not suite._save_lock.acquire(timeout=0.01)  # held until the exit: no other save after this one


def test_a_head_lost_after_the_suite_finished_is_not_a_failure(fake_cluster, tmp_path, monkeypatch, capsys):
    config = build_config(suite="quick", modes="sequential", queries=40, trials=2, budget=0, quiet=True)
    suite = SuiteRunner(config, tmp_path / "r.json")
    monkeypatch.setattr(runner.os, "_exit", lambda code: pytest.fail("exited"))
    suite.results = results.Results(metadata={}, workload={}, cluster={}, runs=(), status="complete", suite="quick",
                                    config={})
    suite._head_lost("gone")
    assert not (tmp_path / "r.json").exists() and capsys.readouterr().err == ""
    assert suite._save_lock.acquire(timeout=0.1)  # released


def test_a_head_lost_that_cannot_save_says_so(fake_cluster, tmp_path, monkeypatch, capsys):
    config = build_config(suite="quick", modes="sequential", queries=40, trials=2, budget=0, quiet=True)
    suite = SuiteRunner(config, tmp_path / "missing-dir" / "r.json")
    monkeypatch.setattr(runner.os, "_exit", lambda code: None)
    suite.results = types.SimpleNamespace(status="incomplete", runs=(),
                                          with_status=lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    suite._head_lost("gone")
    assert capsys.readouterr().err == "bench: error: gone; could not save results: disk full\n"


# --- failures and interruptions, in-process (the suites that crash a mode run in a subprocess elsewhere) ---


def test_a_failure_is_told_in_one_line_named_by_its_type():
    from bench.errors import one_line

    assert one_line(ValueError("no numpy today\nTraceback details")) == "ValueError: no numpy today"
    assert one_line(ValueError("  padded  ")) == "ValueError: padded"
    assert one_line(KeyError()) == "KeyError"  # no message, no dangling colon
    assert one_line(RuntimeError("\n")) == "RuntimeError"
    assert one_line(OSError("no space on /dev/X")) == "OSError: no space on /dev/X"  # only ": " is stripped


def _suite(tmp_path, **overrides):
    params = dict(suite="quick", modes="sequential,numpy", queries=400, trials=3, budget=0, quiet=False)
    params.update(overrides)
    return SuiteRunner(build_config(**params), tmp_path / "r.json")


def test_a_mode_that_fails_is_recorded_closed_and_told_and_the_suite_goes_on(tmp_path, monkeypatch, capsys):
    from bench.engine import modes

    closed = []

    def broken(self, n):
        raise ValueError("no numpy today\nTraceback details")

    monkeypatch.setattr(modes.Numpy, "trial", broken)
    monkeypatch.setattr(modes.Numpy, "close", lambda self: closed.append("numpy") or 1 / 0)  # a close that fails too
    res = _suite(tmp_path).run()
    failed = next(run for run in res.runs if run.mode == "numpy")
    assert failed.extra["error"] == "ValueError: no numpy today" and failed.extra["stop_reason"] == "error"
    assert failed.correct is False and list(failed.samples.get("response_s", [])) == []
    assert closed == ["numpy", "numpy"]  # closed when it failed, and again with every row at the end
    fine = next(run for run in res.runs if run.mode == "sequential")
    assert fine.correct and len(fine.samples["response_s"]) == 3 and res.status == "complete"
    assert "bench: numpy failed: ValueError: no numpy today\n" in capsys.readouterr().err


def test_a_trial_that_fails_after_its_warm_up_keeps_its_warm_up_and_stops_the_row(tmp_path, monkeypatch):
    from bench.engine import modes

    real = modes.Numpy.trial
    calls = []

    def second_fails(self, n):
        calls.append(n)
        if len(calls) == 2:
            raise MemoryError("out of memory")
        return real(self, n)

    monkeypatch.setattr(modes.Numpy, "trial", second_fails)
    res = _suite(tmp_path).run()
    failed = next(run for run in res.runs if run.mode == "numpy")
    assert failed.extra["error"] == "MemoryError: out of memory" and failed.extra["stop_reason"] == "error"
    assert len(failed.extra["warmup"]["response_s"]) == 1 and list(failed.samples.get("response_s", [])) == []
    assert len(calls) == 2  # no trial after the failed one


def _interrupt_in_round(monkeypatch, round_index: int, after_trials: int, exc: BaseException):
    """Raise exc in round `round_index`, once `after_trials` of its trials have run."""
    real = SuiteRunner._trial
    seen = []

    def trial(self, row, index):
        if index == round_index:
            seen.append(row.spec.label)
            if len(seen) > after_trials:
                raise exc
        return real(self, row, index)

    monkeypatch.setattr(SuiteRunner, "_trial", trial)
    return seen


@pytest.mark.parametrize("exc, reason", [(KeyboardInterrupt(), "interrupted"),
                                         (RuntimeError("the disk went away\nmore"), "RuntimeError: the disk went away")])
def test_an_interrupted_suite_saves_every_trial_it_ran_and_says_why(tmp_path, monkeypatch, exc, reason):
    seen = _interrupt_in_round(monkeypatch, round_index=2, after_trials=1, exc=exc)
    suite = _suite(tmp_path)
    with pytest.raises(type(exc)):
        suite.run()
    saved = results.load(tmp_path / "r.json")
    assert saved.status == "incomplete" and saved.incomplete_reason == reason
    trials = {run.label: len(run.samples["response_s"]) for run in saved.runs}
    # round 1 whole (checkpointed), and the one trial of round 2 that ran before the interruption
    assert trials == {seen[0]: 2, ({"sequential", "numpy"} - {seen[0]}).pop(): 1}
    assert [list(r) for r in saved.config["order"]] == [[label for label in r] for r in suite.order] and \
        len(suite.order) == 1
    assert len(saved.cluster["host_cpu"]["probe"]["probe_s"]) == 2  # the start and after round 1


def test_a_row_that_failed_before_the_interruption_is_saved_with_its_error(tmp_path, monkeypatch):
    from bench.engine import modes

    monkeypatch.setattr(modes.Numpy, "prepare", lambda self: (_ for _ in ()).throw(OSError("no shared memory")))
    _interrupt_in_round(monkeypatch, round_index=1, after_trials=0, exc=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        _suite(tmp_path).run()
    saved = results.load(tmp_path / "r.json")
    assert [(run.mode, run.extra["error"]) for run in saved.runs] == [("numpy", "OSError: no shared memory")]
    assert saved.incomplete_reason == "interrupted"


def test_a_suite_interrupted_before_its_first_write_leaves_no_file(tmp_path, monkeypatch):
    def no_connect(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(SuiteRunner, "_connect", no_connect)
    with pytest.raises(KeyboardInterrupt):
        _suite(tmp_path).run()
    assert not (tmp_path / "r.json").exists()


def test_a_users_workload_module_is_found_by_workers_from_its_root_and_the_current_directory(tmp_path, monkeypatch):
    import bench

    monkeypatch.chdir(tmp_path)
    suite = SuiteRunner(build_config(workload="bench.examples.workloads:cpu_bound", items=30, queries=30, trials=2,
                                     budget=0, quiet=True), tmp_path / "r.json")
    root = str(Path(bench.__file__).resolve().parent.parent)
    assert suite._worker_paths() == (root, str(tmp_path))
    monkeypatch.chdir(root)
    assert suite._worker_paths() == (root,)  # one entry when they are the same
    assert _suite(tmp_path)._worker_paths() == ()  # the seeded lookups need nothing on the workers' path


def test_a_suite_interrupted_while_planning_saves_the_file_as_it_was(tmp_path, monkeypatch):
    def no_plan(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "plan_runs", no_plan)
    with pytest.raises(KeyboardInterrupt):
        _suite(tmp_path).run()
    saved = results.load(tmp_path / "r.json")
    assert saved.status == "incomplete" and saved.incomplete_reason == "interrupted" and saved.runs == ()
    assert "host_cpu" not in saved.cluster  # no rounds began: nothing of them to record


def test_a_failure_after_the_suite_completed_keeps_the_runs_as_recorded(fake_cluster, tmp_path, monkeypatch):
    real_finish = SuiteRunner._finish

    def finish_then_fail(self, rows, observed):
        real_finish(self, rows, observed)
        raise RuntimeError("the terminal went away")

    monkeypatch.setattr(SuiteRunner, "_finish", finish_then_fail)
    with pytest.raises(RuntimeError):
        _run(tmp_path)
    saved = results.load(tmp_path / "r.json")
    assert saved.status == "incomplete" and saved.incomplete_reason == "RuntimeError: the terminal went away"
    for run in saved.runs:  # the records _finish made, with each node's resources, not the bare checkpoint's
        assert set(run.extra["resources"]) == {"w1", "w2"} and run.extra["resources"]["w2"]["lost"] is True


def test_each_faulted_run_gets_its_fault_cost_recorded_and_told(fake_cluster, tmp_path, monkeypatch, capsys):
    """A chaos harness's faults (BENCH_FAULT_LOG), one in the first trial of each Ray row: each run's cost is
    measured with its own faults and node events, recorded with it and told; a run whose measurement fails
    says so and keeps its results; a run with no fault gets no cost."""
    import json
    import time

    from bench.analysis.wording import fault_cost_line
    from bench.engine import faultcost

    log = tmp_path / "faults.jsonl"
    monkeypatch.setenv("BENCH_FAULT_LOG", str(log))
    faulted = []

    def announce(event, spec, trial, **times):
        if event == "trial start" and trial == 0 and spec.mode in ("ray-naive", "ray-auto"):  # first and last rows
            faulted.append(spec.label)
            with log.open("a") as out:
                out.write(json.dumps({"unix": time.time(), "kind": "kill", "label": spec.label}) + "\n")

    measured = []

    def measure(row, faults, events):
        measured.append((row.spec.label, [f["label"] for f in faults], events))
        if row.spec.mode == "ray-naive":
            raise RuntimeError("no task events\nsecond line")
        return [{"trial": 0, "landed": "in trial 1", "slowdown": 1.5, "task_events": {"available": False,
                                                                                         "reason": "test"}}]

    monkeypatch.setattr(faultcost, "announce", announce)
    monkeypatch.setattr(faultcost, "measure", measure)
    res = _run(tmp_path, modes="ray-naive,ray-batched,ray-auto")
    naive, batched = sorted(faulted, key=lambda label: "naive" not in label)  # batched: ray-auto's row
    assert batched == "ray-auto" and naive.startswith("ray-naive") and len(faulted) == 2
    assert sorted(label for label, _, _ in measured) == sorted(faulted)
    runs = {run.label: run for run in res.runs}
    assert all(faults == [label] and [dict(e) for e in runs[label].extra["node_events"]] == events
               for label, faults, events in measured)  # each run's own faults and node events
    batched_cost = [{"trial": 0, "landed": "in trial 1", "slowdown": 1.5,
                     "task_events": {"available": False, "reason": "test"}}]
    assert [dict(c, task_events=dict(c["task_events"])) for c in runs[batched].extra["fault_cost"]] == batched_cost
    assert [label for label, run in runs.items() if "fault_cost" in run.extra] == [batched]
    assert [f["label"] for f in runs[naive].extra["faults"]] == [naive]
    err = capsys.readouterr().err
    assert f"bench: fault cost of {naive}: unavailable: RuntimeError: no task events\n" in err
    assert f"bench: {fault_cost_line(batched, batched_cost[0])}\n" in err


def test_the_anatomy_gets_one_cpu_when_the_cluster_recorded_none(fake_cluster, tmp_path):
    suite = SuiteRunner(build_config(suite="quick", modes="ray-naive", queries=40, trials=2, budget=0, quiet=True),
                        tmp_path / "r.json")
    suite.results = results.Results(metadata={}, workload={}, cluster={"cluster_cpus": 0}, runs=())
    suite._anatomy([])
    suite.results = results.Results(metadata={}, workload={}, cluster={"cluster_cpus": 4}, runs=())
    suite._anatomy([])
    assert [call["cpus"] for call in fake_cluster.anatomy_calls] == [1, 4]


def test_each_trial_is_shown_by_round_and_label_and_its_tasks_move_the_progress(fake_cluster, tmp_path, monkeypatch):
    from bench.analysis import model
    from bench.engine.progress import SuiteProgress

    shown, done = [], []
    real_start = SuiteProgress.start_trial
    monkeypatch.setattr(SuiteProgress, "start_trial",
                        lambda self, label, predicted, tasks: shown.append((label, tasks)) or real_start(self, label,
                                                                                                        predicted, tasks))
    monkeypatch.setattr(SuiteProgress, "tasks_done", lambda self, count: done.append(count))
    res = _run(tmp_path, modes="ray-naive", trials=2)
    naive = res.runs[0]
    assert shown == [(f"round {r} · {naive.label}", 40) for r in (1, 2)]
    assert sum(done) >= 2 * 40  # every measured task told (the warm-up's too)
    # the analysis is the model's, from the runs as recorded
    assert res.analysis == model.analyse(res) and res.analysis


def test_each_trial_is_verified_for_its_own_lookups_and_recorded_with_its_markers(fake_cluster, clocked_ray, tmp_path,
                                                                                 monkeypatch):
    """A 2,000-lookup suite's 1,000-task naive row answers the first 1,000: each trial is checked against
    that prefix, its checksum and latencies kept, and a harness's trial log (BENCH_TRIAL_LOG) gets a start
    and an end marker per trial, the end with the trial's own window."""
    import json

    clock, _ = clocked_ray
    clock.submit_s = 0.0123456789123  # latencies with more than 9 decimals
    trial_log = tmp_path / "trials.jsonl"
    monkeypatch.setenv("BENCH_TRIAL_LOG", str(trial_log))
    res = _run(tmp_path, modes="ray-naive", queries=2000, trials=2)
    assert {run.params["queries"] for run in res.runs} == {1000, 2000} and all(run.correct for run in res.runs)
    markers = [json.loads(line) for line in trial_log.read_text().splitlines()]
    for run in res.runs:
        assert run.extra["checksum"] == run.extra["reference_checksum"]
        assert run.extra["driver_peak_rss_bytes"] > 0
        latencies = [v for trial in run.extra["task_latencies_s"] for v in trial]
        assert len(run.extra["task_latencies_s"]) == 2 and latencies
        assert all(v == round(v, 9) for v in latencies) and any(v != round(v, 8) for v in latencies)
        mine = [(m["event"], m["trial"]) for m in markers if m["label"] == run.label]
        assert mine == [("trial start", 0), ("trial end", 0), ("trial start", 1), ("trial end", 1)]
        ends = [m for m in markers if m["label"] == run.label and m["event"] == "trial end"]
        assert [[m["begin"], m["end"]] for m in ends] == [list(w) for w in run.extra["trial_windows_unix"]]


def _one_trial_row(suite, mode: str, tasks: int):
    from bench.engine.modes import TrialOutcome
    from bench.engine.rounds import Row, RunSpec

    class Stub:
        progress_hook = "unset"

        def trial(self, n):
            return TrialOutcome(answers=suite.workload.reference[:n], response_s=0.01, tasks=tasks)

        def tasks_for(self, n):
            return tasks

    return Row(RunSpec(mode, mode, 100, 1, {}), Stub())


@pytest.mark.parametrize("mode, tasks, marks_the_end", [("ray-naive", 1000, True), ("ray-naive", 999, False),
                                                        ("numpy", 5000, False)])
def test_only_a_many_task_ray_trial_makes_the_next_one_wait_for_its_task_events(tmp_path, mode, tasks, marks_the_end):
    suite = _suite(tmp_path, queries=100)
    row = _one_trial_row(suite, mode, tasks)
    suite._trial(row, 1)
    assert row.correct_trials == [True] and row.mode.progress_hook is None
    assert suite._last_ray_trial_end == (row.windows[0][1] if marks_the_end else 0.0)


def test_a_trial_waits_for_a_quiet_host_and_the_rest_of_a_second_after_the_last_many_task_trial(tmp_path, monkeypatch):
    import time

    calls = []
    monkeypatch.setattr(runner, "settle", lambda *a, **k: calls.append((a, k)) or dict(QUIET))
    suite = _suite(tmp_path)
    suite._last_ray_trial_end = time.time() - 0.25
    suite._quiet_host()
    (args, kwargs), = calls
    assert args == (runner.TRIAL_SETTLE_MAX_S,) and kwargs["window_s"] == runner.TRIAL_SETTLE_WINDOW_S
    assert 0.70 <= kwargs["min_wait_s"] <= 0.75  # TASK_EVENTS_FLUSH_S (1 s) less the time since it ended


def test_each_round_is_checkpointed_with_its_trials_and_its_order(tmp_path, monkeypatch):
    real_play = SuiteRunner._play_round
    seen = []

    def play(self, rows, index):
        if index == 2:
            saved = results.load(tmp_path / "r.json")
            seen.append(({run.label: len(run.samples["response_s"]) for run in saved.runs},
                         [list(r) for r in saved.config["order"]]))
        return real_play(self, rows, index)

    monkeypatch.setattr(SuiteRunner, "_play_round", play)
    suite = _suite(tmp_path)
    suite.run()
    (trials, order), = seen
    assert trials == {"sequential": 1, "numpy": 1} and order == [list(suite.order[0])]


class _Recording:
    """A mode that answers the reference for whatever it is asked, recording each n; `wrong`: every answer off by one."""

    def __init__(self, suite, tasks: int, wrong: bool = False):
        self.suite, self.tasks, self.wrong, self.asked = suite, tasks, wrong, []
        self.progress_hook = None

    def prepare(self):
        pass

    def tasks_for(self, n):
        return self.tasks

    def trial(self, n):
        from bench.engine.modes import TrialOutcome

        self.asked.append(n)
        reference = self.suite.workload.reference[:n]
        answers = reference + 1 if self.wrong else reference
        return TrialOutcome(answers=answers, response_s=0.25, tasks=self.tasks)


@pytest.mark.parametrize("lookups, tasks, warm_n", [
    (2000, 2000, 1000),   # naive: its first 1,000 tasks
    (1000, 1500, 666),    # 1,000 of 1,500 tasks carry two thirds of the lookups, rounded down
    (2, 2000, 1),         # never no lookups at all
    (2000, 3, 1000),      # a few big tasks: at least 1,000 lookups
    (8000, 4, 2000),      # a quarter of them
    (800, 3, 800),        # under 1,000 lookups: all of it
])
def test_a_warm_up_runs_a_quarter_of_the_lookups_at_least_1000_in_at_most_1000_tasks(tmp_path, lookups, tasks, warm_n):
    from bench.engine.rounds import Row, RunSpec

    suite = _suite(tmp_path, queries=2000)
    mode = _Recording(suite, tasks)
    row = Row(RunSpec("ray-batched", "stub", lookups, 3, {}), mode)
    suite._warm_up(row)
    assert mode.asked == [warm_n] and type(mode.asked[0]) is int
    assert row.correct_trials == [True] and row.mismatches == 0 and row.error is None
    assert row.warmup["response_s"] == [0.25] and row.estimate_s == pytest.approx(0.25 * lookups / warm_n)
    assert row.started_unix > 0 and row.peak_rss > 0


def test_a_wrong_warm_up_counts_its_mismatches(tmp_path):
    from bench.engine.rounds import Row, RunSpec

    suite = _suite(tmp_path, queries=2000)
    row = Row(RunSpec("numpy", "stub", 500, 3, {}), _Recording(suite, 1, wrong=True))
    suite._warm_up(row)
    assert row.correct_trials == [False] and row.mismatches == 500


def test_a_naive_rows_trial_is_predicted_from_the_calibrated_task_rate(tmp_path):
    from bench.engine.rounds import Row, RunSpec

    suite = _suite(tmp_path, queries=2000)
    naive = Row(RunSpec("ray-naive", "naive", 1000, 3, {}), _Recording(suite, 1000))
    batched = Row(RunSpec("ray-batched", "batched", 1000, 3, {}), _Recording(suite, 10))
    assert suite._estimate(naive, warm_s=1.0, warm_n=100) == 10.0  # no results yet: scaled from the warm-up
    assert suite._estimate(batched, warm_s=1.0, warm_n=1) == 1000.0 and suite._estimate(batched, 1.0, 0) == 1000.0
    rate = {"stats": {"tasks_per_s": {"median": 500.0}}}
    suite.results = results.Results(metadata={}, workload={}, cluster={"calibration": rate}, runs=())
    assert suite._estimate(naive, warm_s=0.1, warm_n=100) == 2.0  # 1,000 tasks at 500/s (the warm-up ran 1,000/s)
    assert suite._estimate(naive, warm_s=0.4, warm_n=100) == 4.0  # its warm-up ran slower (250/s): that rate
    assert suite._estimate(naive, warm_s=0.0, warm_n=100) == 2.0  # a warm-up too short to time: the calibration
    assert suite._estimate(batched, warm_s=1.0, warm_n=100) == 10.0
    with_args = {**rate, "with_naive_args": {"stats": {"tasks_per_s": {"median": 250.0}}}}
    suite.results = results.Results(metadata={}, workload={}, cluster={"calibration": with_args}, runs=())
    assert suite._estimate(naive, warm_s=0.1, warm_n=100) == 4.0  # naive's own arguments' rate first


def test_the_rounds_are_measured_with_the_suites_checkpoint_and_its_progress_extra_rounds(tmp_path, monkeypatch):
    seen = {}

    record = {"planned_rounds": 0, "planned_s": 8.0, "extra_share": 0.25, "extra_budget_s": 2.0, "extra_rounds": 0,
              "extra_s": 0.0}

    def measure_rounds(rows, config, play, checkpoint, plan):
        seen.update(rows=rows, play=play, plan=plan)
        checkpoint()
        return record

    monkeypatch.setattr(runner, "measure_rounds", measure_rounds)
    monkeypatch.setattr(runner.SuiteProgress, "extra_budget", lambda self, s, share: seen.update(budget=(s, share)))
    suite = _suite(tmp_path)
    res = suite.run()
    assert seen["rows"] == suite.rows and seen["play"] == suite._play_round and seen["plan"] == suite.progress.extra_round
    assert seen["budget"] == (2.0, 0.25) and res.cluster["rounds"] == record  # the terminal's and the file's


def test_the_calibration_is_made_for_the_suite_and_recorded_before_the_rounds(fake_cluster, tmp_path, monkeypatch):
    made = []
    real = runner.Calibration

    def calibration(*args, **kwargs):
        made.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "Calibration", calibration)
    real_play = SuiteRunner._play_round
    before = []

    def play(self, rows, index):
        if index == 1:
            before.append(results.load(tmp_path / "r.json").cluster.get("calibration"))
        return real_play(self, rows, index)

    monkeypatch.setattr(SuiteRunner, "_play_round", play)
    suite = SuiteRunner(build_config(suite="quick", modes="ray-naive,ray-batched", batch_sizes="10", queries=40,
                                     trials=2, budget=0, quiet=True, address="head:6379", expect_nodes=2),
                        tmp_path / "r.json")
    suite.run()
    (args, kwargs), = made
    preset = suite.config.suite
    assert args == (preset.calibration_trials,) and kwargs["max_trials"] == preset.calibration_max_trials
    assert kwargs["naive_args"] == (suite.workload.task_state, suite.workload.items(1)[0])
    assert kwargs["placement"] == "affinity" and kwargs["other_placement"] is True
    assert before[0]["placement"] == "affinity" and before[0]["stats"]["tasks_per_s"]["median"] > 0
    made.clear()
    SuiteRunner(build_config(suite="quick", modes="ray-batched", batch_sizes="10", queries=40, trials=2, budget=0,
                             quiet=True, address="head:6379", expect_nodes=2), tmp_path / "b.json").run()
    assert made[0][1]["naive_args"] is None  # no naive row: no calibration with its arguments
    # the heavy suite: neither the other placement's batches nor the task anatomy (the standard suite's lessons)
    made.clear()
    diagnosed = []
    monkeypatch.setattr(runner.anatomy, "diagnose_suite", lambda *a, **k: diagnosed.append(a) or {"available": False})
    heavy = SuiteRunner(build_config(suite="heavy", modes="ray-batched", batch_sizes="10", queries=40, trials=2,
                                     budget=0, quiet=True, address="head:6379", expect_nodes=2), tmp_path / "h.json").run()
    assert made[0][1]["other_placement"] is False and "other_placement" not in heavy.cluster["calibration"]
    assert diagnosed == [] and "anatomy" not in heavy.cluster
    SuiteRunner(build_config(suite="quick", modes="ray-batched", batch_sizes="10", queries=40, trials=2, budget=0,
                             quiet=True, address="head:6379", expect_nodes=2), tmp_path / "q.json").run()
    assert len(diagnosed) == 1  # the other suites still run it


def test_a_host_still_busy_after_the_warm_ups_is_warned_of_and_measured_anyway(tmp_path, monkeypatch, capsys):
    busy = {"waited_s": 10.0, "busy_cores": 1.5, "quiet_cores": 0.5, "settled": False}
    monkeypatch.setattr(runner, "settle", lambda *a, **k: dict(busy) if not k else dict(QUIET))
    res = _suite(tmp_path).run()
    err = capsys.readouterr().err
    assert ("bench: warning: the host stayed busy (1.50 cores) for 10 s after the warm-ups; measuring anyway\n"
            in err) and res.status == "complete" and res.cluster["settle"]["settled"] is False
    monkeypatch.setattr(runner, "settle", lambda *a, **k: dict(QUIET))
    (tmp_path / "again").mkdir()
    _suite(tmp_path / "again").run()
    assert "the host stayed busy" not in capsys.readouterr().err


def test_a_results_file_that_appeared_meanwhile_is_kept_and_the_suite_writes_beside_it(tmp_path, capsys):
    suite = _suite(tmp_path)
    (tmp_path / "r.json").write_text("another run's file\n")
    res = suite.run()
    assert (tmp_path / "r.json").read_text() == "another run's file\n"
    assert suite.out_path != tmp_path / "r.json" and suite.out_path.parent == tmp_path
    assert results.load(suite.out_path).status == "complete" and res.status == "complete"
    assert (f"bench: {tmp_path / 'r.json'} appeared while this suite ran; writing {suite.out_path} instead\n"
            in capsys.readouterr().err)


def test_the_first_write_says_the_suite_is_running_and_holds_what_is_known_before_the_rounds(tmp_path, monkeypatch):
    checks = {"warnings": [], "busy_cores": 0.1, "load_average": [0.1, 0.1, 0.1]}
    monkeypatch.setattr(runner, "system_check", lambda: checks)
    seen = []
    real_play = SuiteRunner._play_round

    def play(self, rows, index):
        if index == 1:
            seen.append(results.load(tmp_path / "r.json"))
        return real_play(self, rows, index)

    monkeypatch.setattr(SuiteRunner, "_play_round", play)
    suite = SuiteRunner(build_config(suite="quick", modes="sequential", queries=400, trials=2, budget=0, quiet=True),
                        tmp_path / "r.json", argv=["run", "--suite", "quick", "--trials", "2"])
    suite.run()
    first, = seen
    assert first.status == "incomplete" and first.incomplete_reason == "running" and first.suite == "quick"
    assert first.workload["reference_checksum"] == suite.workload.checksum
    assert first.cluster["system_check"]["busy_cores"] == 0.1 and list(first.cluster["system_check"]["load_average"]) == [0.1] * 3
    assert first.config["gc"] == "collected before each trial, disabled during it" and list(first.config["order"]) == []
    assert first.metadata["command_line"].endswith("-m bench run --suite quick --trials 2")


def test_the_machine_checks_warnings_are_told_before_the_suite(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "system_check", lambda: {"warnings": ["the CPU governor is powersave", "swap is on"]})
    _suite(tmp_path, modes="sequential").run()
    err = capsys.readouterr().err
    assert "bench: warning: the CPU governor is powersave\nbench: warning: swap is on\n" in err


def test_a_users_workload_is_told_that_numpy_has_no_floor_for_it(tmp_path, capsys):
    from bench.engine.workload import NUMPY_SKIPPED

    SuiteRunner(build_config(workload="bench.examples.workloads:cpu_bound", items=30, queries=30, trials=2, budget=0,
                             modes="sequential"), tmp_path / "r.json").run()
    assert f"bench: --workload bench.examples.workloads:cpu_bound: {NUMPY_SKIPPED}\n" in capsys.readouterr().err
    (tmp_path / "r2").mkdir()
    _suite(tmp_path / "r2", modes="sequential").run()
    assert NUMPY_SKIPPED not in capsys.readouterr().err


def test_force_overwrites_a_file_that_is_there(tmp_path):
    (tmp_path / "r.json").write_text("an older run\n")
    suite = SuiteRunner(build_config(suite="quick", modes="sequential", queries=400, trials=2, budget=0, quiet=True),
                        tmp_path / "r.json", force=True)
    suite.run()
    assert suite.out_path == tmp_path / "r.json" and results.load(tmp_path / "r.json").status == "complete"


def test_a_quiet_suite_says_nothing(tmp_path, capsys):
    res = _suite(tmp_path, quiet=True).run()
    assert res.status == "complete" and capsys.readouterr().err == ""


@pytest.mark.parametrize("mode, tasks, waits", [("ray-naive", 1000, True), ("ray-batched", 999, False),
                                               ("numpy", 5000, False)])
def test_the_prediction_adds_the_wait_after_many_task_ray_trials_and_the_calibrations_batches(
        tmp_path, monkeypatch, capsys, mode, tasks, waits):
    """The planned rounds took 1.39x the trials' prediction in a standard suite: the stated
    prediction, and the budget, count the quiet wait after each many-task Ray trial and the
    calibration's batches in the rounds (bench.engine.calibration.Calibration.rounds_cost_s)."""
    from bench.engine.rounds import Row, RunSpec

    suite = _suite(tmp_path, queries=2000)
    suite.results = results.Results(metadata={}, workload={}, cluster={}, runs=())
    row = Row(RunSpec(mode, mode, 1000, 3, {}), _Recording(suite, tasks))
    monkeypatch.setattr(SuiteRunner, "_warm_up", lambda self, r: setattr(r, "estimate_s", 10.0))
    asked, planned = [], []
    suite.calibration = types.SimpleNamespace(
        wanted=lambda: True, rounds_cost_s=lambda n, wait_after_s=0.0: asked.append((n, wait_after_s)) or 7.0,
        plan=planned.append)
    suite.rows = [row]
    suite._warm_up_all()
    assert row.wait_after_s == runner.TRIAL_SETTLE_WINDOW_S + (runner.TASK_EVENTS_FLUSH_S if waits else 0.0)
    assert asked == [(3, runner.TASK_EVENTS_FLUSH_S)]  # 3 rounds; a flush wait after each round's batches
    assert planned == [3]  # the calibration spreads its batches over the 3 planned rounds
    overhead = 3 * row.wait_after_s + 7.0
    assert suite.progress.total_s == 30.0  # the bar: the trials' seconds alone
    first = next(line for line in capsys.readouterr().err.splitlines() if "measuring:" in line)
    assert f"the trials 0:30, the quiet waits and calibration batches between them 0:{overhead:02.0f}" in first
    suite.calibration = types.SimpleNamespace(wanted=lambda: False, rounds_cost_s=lambda n: 1 / 0)
    suite._warm_up_all()  # a calibration with all its batches: the rounds add only the waits
    again = next(line for line in capsys.readouterr().err.splitlines() if "measuring:" in line)
    assert ("the quiet waits and calibration batches between them 0:03" if waits else "(the trials alone") in again
    from bench.engine.progress import _clock

    suite.progress.extra_round(1.0)  # the last line names the budgets that bound the extra rounds
    suite.progress.close()
    assert f"(budget: {_clock(suite.config.extra_budget_s)} for extra rounds" in capsys.readouterr().err.splitlines()[-1]

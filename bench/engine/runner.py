"""Runs a suite: connect, calibrate, then warm-up and measured trials per mode.

Every trial's answers are verified against the sequential reference. A mode
that fails or answers wrongly is recorded as such and the suite goes on; the
results file is rewritten atomically after every run, so an interrupted suite
still leaves every finished run on disk, marked incomplete.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
from pathlib import Path

from bench import results
from bench.analysis import model
from bench.analysis.wording import fault_cost_line, lease_single_node_text
from bench.engine import anatomy, cluster, faultcost, metadata, placement
from bench.engine.calibration import Calibration
from bench.engine.progress import SuiteProgress
from bench.engine.record import _trial_samples, fault_log, outlier_trials, run_record
from bench.engine.rounds import (Row, RunSpec, attribute_to_runs, extra_round_rows, measure_rounds, plan_runs, plan_trials,
                                 round_order)
from bench.engine.samplers import PeakRSS, available_cpus, host_cpu_record, host_mark, idle_load, settle, system_check
from bench.engine.suites import RunConfig
from bench.engine.workload import NUMPY_SKIPPED, from_config, verify_arrays as verify
from bench.errors import one_line
from bench.mode_table import spec_of
from bench.options import PLACEMENTS
from bench.results import SETTLE_BUSY_CORES, Results, Run
from bench.stats import MEDIAN_CI_TARGET

# Re-exported: the rounds and the record were split out of this module (bench.engine.rounds, bench.engine.record).
__all__ = ["SuiteRunner", "verify", "Row", "RunSpec", "attribute_to_runs", "extra_round_rows", "fault_log",
           "outlier_trials", "plan_runs", "round_order"]

IDLE_WINDOW_S = 2.0
SETTLE_MAX_S = 10.0  # at most this long for a quiet host before the first round
TRIAL_SETTLE_MAX_S, TRIAL_SETTLE_WINDOW_S = 2.0, 0.1  # and before each trial, in windows this long
TASK_EVENTS_FLUSH_S = 1.0  # Ray's task_events_report_interval_ms: every process flushes its task events this often
# Trials of this many tasks or more get that second's gap after them (a gap after every Ray trial
# spent a standard suite's extra-trial budget on waiting).
MANY_TASKS = 1_000


class SuiteRunner:
    """Prepares every run, then measures them in interleaved rounds (bench.engine.rounds): trial 1 of
    every configuration, then trial 2, each round in a seeded random order. Slow drift (a
    warming machine, a filling object store) and order effects then spread over every
    configuration instead of biasing the ones that ran late."""

    def __init__(self, config: RunConfig, out_path: Path, argv: list[str] | None = None, force: bool = False):
        self.config = config
        self.out_path = out_path
        # Until the first write this run owns no file: never clobber one that appeared
        # since the path was checked (another run started in the same second, say).
        self._owns_out = force
        self.argv = argv
        self.workload = from_config(config)  # the seeded lookups, or the user's --workload
        self.samplers: cluster.NodeSamplers | None = None
        self.results: Results | None = None
        self.watcher: cluster.NodeWatcher | None = None
        self.watchdog: cluster.HeadWatchdog | None = None
        self._save_lock = threading.Lock()
        self.order: list[list[str]] = []
        self._counts_after_round: dict[int, dict | None] = {}  # alive nodes after each round
        self._last_ray_trial_end = 0.0  # unix time the last Ray trial ended (0: none yet)
        self._cpu_marks: list[dict | None] = []  # the host's CPU times at the start and after each round
        self.calibration: Calibration | None = None
        self._rounds: dict = {}  # the rounds' record (bench.engine.rounds.measure_rounds)
        self.progress = SuiteProgress(quiet=config.quiet)

    # -- helpers -------------------------------------------------------------

    def _save(self) -> None:
        with self._save_lock:
            self._write(self.results)

    def _write(self, res: Results) -> None:
        written = results.save(res, self.out_path, overwrite=self._owns_out)
        if written != self.out_path:
            print(f"bench: {self.out_path} appeared while this suite ran; writing {written} instead",
                  file=sys.stderr, flush=True)
            self.out_path = written
        self._owns_out = True

    def _head_lost(self, reason: str) -> None:
        """Runs on the watchdog thread while the main thread may be stuck inside Ray."""
        acquired = self._save_lock.acquire(timeout=10)
        if self.results is not None and self.results.status == "complete":
            if acquired:
                self._save_lock.release()
            return  # the suite finished; a head going away afterwards is not our failure
        try:
            if self.results is not None:
                self._write(self.results.with_status("incomplete", reason))
                reason += f"; {len(self.results.runs)} run(s) saved to {self.out_path} (incomplete)"
        except Exception as exc:
            reason += f"; could not save results: {exc}"
        print(f"bench: error: {reason}", file=sys.stderr, flush=True)
        os._exit(1)  # the main thread may be blocked in ray.get for minutes

    def _node_counts(self) -> dict | None:
        with contextlib.suppress(Exception):  # a diagnostic: never the run's failure
            return cluster.count_alive(cluster.node_snapshot()) if self.config.needs_ray else None
        return None

    def _fail(self, row: Row, exc: BaseException) -> None:
        row.error = one_line(exc)
        row.stop_reason = "error"
        self.progress.phase(f"{row.spec.label} failed: {row.error}")
        self._close(row)

    @staticmethod
    def _close(row: Row) -> None:
        with contextlib.suppress(Exception):
            row.mode.close()

    # -- measure: warm-up and trials -------------------------------------------

    def _warm_up(self, row: Row) -> None:
        """Prepare the mode and run one untimed-for-the-verdict warm-up trial."""
        mode = row.mode
        row.started_unix = time.time()
        row.nodes_start = self._node_counts()
        try:
            with PeakRSS() as rss:
                mode.prepare()
                warm_n = row.warmup_lookups(self._cluster_cpus())
                outcome = mode.trial(warm_n)
            row.peak_rss = max(row.peak_rss, rss.peak)
            row.estimate_s = self._estimate(row, outcome.response_s, warm_n)
            for key, value in {**_trial_samples(outcome, warm_n), "lookups": warm_n}.items():
                row.warmup.setdefault(key, []).append(value)
            ok, bad = self.workload.verify(outcome.answers, warm_n)
            row.correct_trials.append(ok)
            row.mismatches += bad
        except Exception as exc:
            self._fail(row, exc)

    def _cluster_cpus(self) -> int:
        return int((self.results.cluster if self.results else {}).get("cluster_cpus") or 1)

    def _estimate(self, row: Row, warm_s: float, warm_n: int) -> float:
        """A trial's predicted length: naive Ray at the slower of the calibrated task rate (1.15x the
        100k trials' on 2026-12-06: first in a fresh session) and its warm-up's (one task a lookup),
        anything else scaled up from its warm-up (which ran a prefix of the lookups)."""
        calibration = (self.results.cluster.get("calibration") or {}) if self.results else {}
        rate = ((calibration.get("with_naive_args") or calibration).get("stats") or {}).get("tasks_per_s", {}).get("median")
        if row.spec.mode == "ray-naive" and rate:
            warm_rate = warm_n / warm_s if warm_s > 0 else rate
            return row.mode.tasks_for(row.spec.lookups) / min(rate, warm_rate)
        return warm_s * row.spec.lookups / max(1, warm_n)

    def _trial(self, row: Row, round_index: int) -> None:
        spec = row.spec
        self.progress.start_trial(f"round {round_index} · {spec.label}", row.predicted_s(), row.mode.tasks_for(spec.lookups))
        row.mode.progress_hook = self.progress.tasks_done
        # A trial starts on a quiet host: Ray's bookkeeping after a many-task trial (task events
        # to the GCS, reaping workers, freeing objects) otherwise runs into the next one.
        quiet = self._quiet_host()
        faultcost.announce("trial start", spec, row.measured)  # for a harness aiming a fault; untimed
        gc.collect()  # no collection of the previous trial's garbage inside this one
        gc.disable()
        try:
            with PeakRSS() as rss:
                begin = time.time()
                outcome = row.mode.trial(spec.lookups)
                end = time.time()
        except Exception as exc:
            self._fail(row, exc)
            return
        finally:
            gc.enable()
            row.mode.progress_hook = None
            self.progress.end_trial()
        row.peak_rss = max(row.peak_rss, rss.peak)
        ok, bad = self.workload.verify(outcome.answers, spec.lookups)
        row.correct_trials.append(ok)
        row.mismatches += bad
        row.checksum = self.workload.checksum_of(outcome.answers)
        for key, value in _trial_samples(outcome, spec.lookups).items():
            row.samples.setdefault(key, []).append(value)
        row.latencies.append([round(v, 9) for v in outcome.task_latencies_s])
        row.windows.append((begin, end))
        row.rounds.append(round_index)
        row.quiet.append((quiet["waited_s"], quiet["busy_cores"]))
        if spec_of(spec.mode).needs_ray and outcome.tasks >= MANY_TASKS:
            self._last_ray_trial_end = end
        faultcost.announce("trial end", spec, row.measured - 1, begin=begin, end=end)

    def _quiet_host(self) -> dict:
        """Wait for a quiet host; task events are flushed to the GCS once a second, so after a
        many-task Ray trial, that second first."""
        since = time.time() - self._last_ray_trial_end
        return settle(TRIAL_SETTLE_MAX_S, window_s=TRIAL_SETTLE_WINDOW_S, min_wait_s=TASK_EVENTS_FLUSH_S - since)

    def _play_round(self, rows: list[Row], round_index: int) -> None:
        order = round_order([r.spec.label for r in rows], self.config.seed, round_index)
        played = []
        for index in order:
            row = rows[index]
            self._trial(row, round_index)
            played.append(row.spec.label)
        self.order.append(played)
        self._counts_after_round[round_index] = self._node_counts()
        self._cpu_marks.append(host_mark())  # before the calibration's burst of tasks
        if self.calibration is not None and self.calibration.wanted():  # interleaved like every row
            self._quiet_host()
            self.calibration.after_round(round_index)
            self._last_ray_trial_end = time.time()

    def _cluster_so_far(self) -> dict:
        """What the rounds add to the cluster block: the host's CPU marks, the calibration."""
        return {"host_cpu": host_cpu_record(self._cpu_marks), **({"rounds": self._rounds} if self._rounds else {}),
                **({"calibration": self.calibration.record()} if self.calibration else {})}

    def _measure(self, rows: list[Row]) -> None:
        """The interleaved rounds (bench.engine.rounds.measure_rounds), checkpointed after each; the
        extra rounds' budget, which the planned rounds' length sets, goes to the terminal and the record."""
        self._rounds = measure_rounds(rows, self.config, play=self._play_round, checkpoint=lambda: self._checkpoint(rows),
                                      plan=self.progress.extra_round)
        self.progress.extra_budget(self._rounds["extra_budget_s"], self._rounds["extra_share"])

    # -- record -----------------------------------------------------------------

    def _record(self, row: Row, resources: dict, faults: list, node_events: list, cost: list | None = None) -> Run:
        # after the round of its last trial (one snapshot per round, none per trial)
        nodes_end = self._counts_after_round.get(max(row.rounds)) if row.rounds else self._node_counts()
        hostnames = self.samplers.hostnames if self.samplers else {}
        return run_record(row, self.workload, nodes_end, resources, hostnames, faults, node_events, cost)

    def _fault_costs(self, rows: list[Row], owned: dict) -> dict[int, list]:
        """What each injected fault cost its trial (bench.engine.faultcost; task events read from the GCS
        before the anatomy adds tasks). A diagnostic: its failure never costs the results."""
        costs = {}
        for row in rows:
            faults, events = owned.get(id(row), ([], []))
            if not faults:
                continue
            try:
                costs[id(row)] = faultcost.measure(row, faults, events)
            except Exception as exc:
                self.progress.phase(f"fault cost of {row.spec.label}: unavailable: {one_line(exc)}")
                continue
            for cost in costs[id(row)]:
                self.progress.phase(fault_cost_line(row.spec.label, cost))
        return costs

    def _checkpoint(self, rows: list[Row]) -> None:
        """Rewrite the results file with every trial so far, so an interruption loses nothing."""
        runs = tuple(self._record(r, {}, [], []) for r in rows if r.measured or r.error)
        # an interrupted file keeps the machine probe and calibration so far
        self.results = self.results.with_runs(runs).with_config_extra(order=self.order).with_cluster(**self._cluster_so_far())
        self._save()

    # -- the suite -----------------------------------------------------------

    def _connect(self) -> tuple[dict, int, int]:
        """Join or start Ray, wait for the nodes, launch samplers, measure the idle load
        and calibrate. Returns the cluster block, cluster CPUs and driver CPUs."""
        config = self.config
        info: dict = {"mode": "none", "address": config.address, "expected_nodes": config.expect_nodes}
        driver_cpus = available_cpus()
        cluster_cpus = driver_cpus
        if config.needs_ray:
            phase = self.progress.phase
            phase(f"connecting to {cluster.effective_address(config.address) or 'an embedded Ray'}")
            info.update(cluster.connect(config.address, config.num_cpus, quiet=config.quiet,
                                        worker_paths=self._worker_paths()))
            if info["mode"] == "existing" and cluster.gcs_address():
                self.watchdog = cluster.HeadWatchdog(cluster.gcs_address(), self._head_lost).start()
            expected = config.expect_nodes or 1
            nodes = cluster.wait_for_nodes(
                expected, config.expect_timeout_s,
                on_count=lambda have: phase(f"waiting for {expected} node(s) with CPUs: {have} so far"))
            self.watcher = cluster.NodeWatcher().start()
            self.samplers = cluster.NodeSamplers.launch(nodes)
            facts = self.samplers.facts()
            for node in nodes:
                node.update({k: v for k, v in (facts.get(node["node_id"]) or {}).items() if k != "hostname"})
            info["lease_placement"] = lease = placement.describe(nodes)
            if lease.get("single_node") and config.placement == "default":  # affinity asks the node itself
                phase(f"warning: {lease_single_node_text(lease['single_node'])}")
            cluster_cpus = cluster.total_cpus()
            phase(f"{len(nodes)} node(s), {cluster_cpus} CPUs; measuring the idle load")
            info.update(nodes=nodes, nodes_start=cluster.count_alive(nodes),
                        object_store_memory_bytes=sum(n["object_store_memory_bytes"] for n in nodes if n["alive"]),
                        idle_load=idle_load(self.samplers, IDLE_WINDOW_S))
            # The previous job's cleanup (its workers, objects and task events in the GCS) must
            # not run into the calibration: a re-run right after a suite saw its no-op task 1.2x slower.
            info["settle_before_calibration"] = settle(SETTLE_MAX_S)
            phase("calibrating (no-op task rate)")
            self.calibration = Calibration(
                config.suite.calibration_trials, max_trials=config.suite.calibration_max_trials,
                naive_args=(self.workload.task_state, self.workload.items(1)[0]) if "ray-naive" in config.modes else None,
                placement=config.placement, other_placement=config.suite.diagnostics)
            info["calibration"] = self.calibration.record()
        info["driver_cpus"] = driver_cpus
        info["cluster_cpus"] = cluster_cpus
        return info, cluster_cpus, driver_cpus

    def _worker_paths(self) -> tuple[str, ...]:
        """Where workers import a user's --workload module from: its sys.path entry, and the CWD."""
        if self.workload.kind != "function":
            return ()
        roots = (self.workload.module_root(), os.getcwd())
        return tuple(dict.fromkeys(r for r in roots if r))

    def run(self) -> Results:
        """Connect, then the loop: warm up every row, measure the rounds while observing the
        cluster, record. On any failure the runs so far are saved, marked incomplete."""
        self.rows: list[Row] = []
        try:
            self._start()
            self._warm_up_all()
            observed = self._observe(self.rows)
            return self._finish(self.rows, observed)
        except BaseException as exc:
            self._save_interrupted(exc)
            raise
        finally:
            self._tear_down()

    def _start(self) -> None:
        """Machine checks, connect (_connect), and the first write of the file: incomplete, running."""
        config = self.config
        meta = metadata.collect(self.argv)
        system = system_check()
        for warning in system["warnings"]:
            self.progress.phase(f"warning: {warning}")
        workload_info = {**self.workload.describe(), "reference_checksum": self.workload.checksum}
        if self.workload.kind == "function":
            self.progress.phase(f"--workload {config.workload}: {NUMPY_SKIPPED}")
        cluster_info, cluster_cpus, driver_cpus = self._connect()
        cluster_info["system_check"] = system
        self.results = Results(
            metadata=meta, workload=workload_info, cluster=cluster_info, runs=(),
            status="incomplete", incomplete_reason="running", suite=config.suite.name,
            config={**config.describe(), "order": [], "gc": "collected before each trial, disabled during it",
                    "median_ci_target": MEDIAN_CI_TARGET,
                    "quiet_before_trial": f"up to {TRIAL_SETTLE_MAX_S:g} s for a host under "
                                          f"{SETTLE_BUSY_CORES:g} busy cores ({TRIAL_SETTLE_WINDOW_S:g} s windows)"},
        )
        self._save()
        specs = plan_runs(config, cluster_cpus, driver_cpus)
        self.rows[:] = [Row(spec, spec_of(spec.mode).strategy_class()(self.workload, **spec.params)) for spec in specs]

    def _warm_up_all(self) -> None:
        rows = self.rows
        self.progress.phase(f"warming up {len(rows)} configurations")
        for row in rows:
            self._warm_up(row)
        for row in rows:  # every trial's quiet check takes a window; after a many-task Ray trial, Ray's flush
            many = spec_of(row.spec.mode).needs_ray and row.mode.tasks_for(row.spec.lookups) >= MANY_TASKS
            row.wait_after_s = TRIAL_SETTLE_WINDOW_S + (TASK_EVENTS_FLUSH_S if many else 0.0)
        calibration = self.calibration if self.calibration is not None and self.calibration.wanted() else None
        # each row's trials, from its cost, within the time budget, which the waits and the calibration's
        # batches (many-task: a flush wait after them too) count against
        predicted = plan_trials(rows, self.config, per_rounds_s=calibration and (
            lambda rounds: calibration.rounds_cost_s(rounds, wait_after_s=TASK_EVENTS_FLUSH_S)))
        if calibration:  # enough batches a round to reach its trials in the planned rounds
            calibration.plan(max((r.planned_trials for r in rows if r.active), default=0))
        trials_s = sum(r.predicted_s() * r.planned_trials for r in rows if r.active)  # what the bar counts
        self.progress.start_rounds(sum(r.planned_trials for r in rows if r.active), trials_s, predicted - trials_s,
                                   budget_s=self.config.time_budget_s, extra_budget_s=self.config.extra_budget_s)

    def _observe(self, rows: list[Row]) -> tuple[dict, list, list]:
        """Measure the rounds under one sampling session; then the resources, the node events
        since the rounds began and the injected faults, each attributed to its run."""
        quiet = settle(SETTLE_MAX_S)
        if not quiet["settled"] and quiet["busy_cores"] is not None:
            self.progress.phase(f"warning: the host stayed busy ({quiet['busy_cores']:.2f} cores) for "
                                f"{quiet['waited_s']:g} s after the warm-ups; measuring anyway")
        self.results = self.results.with_cluster(settle=quiet)
        events_before = len(self.watcher.events) if self.watcher else 0
        measured_from = time.time()
        # marks the start of the measured rounds for watchers (scripts/chaos.py)
        self.results = self.results.with_config_extra(measuring_since_unix=measured_from)
        self._save()
        if self.samplers:  # one sampling session over all measured rounds
            self.samplers.start()
        self._cpu_marks = [host_mark()]
        try:
            self._measure(rows)
        finally:
            self.progress.close()
        self.results = self.results.with_cluster(**self._cluster_so_far())
        resources = self.samplers.stop() if self.samplers else {}
        if self.watcher:
            self.watcher.poll()  # catch a loss that happened in the last interval
        node_events = self.watcher.events[events_before:] if self.watcher else []
        faults = fault_log(measured_from, time.time())
        return resources, faults, node_events

    def _finish(self, rows: list[Row], observed: tuple[dict, list, list]) -> Results:
        """Record every run, the cluster at the end, the analysis and verdict: complete."""
        resources, faults, node_events = observed
        owned = attribute_to_runs(rows, faults, node_events)
        costs = self._fault_costs(rows, owned)
        runs = tuple(self._record(r, resources, *owned.get(id(r), ([], [])), costs.get(id(r))) for r in rows)
        self.results = self.results.with_runs(runs).with_config_extra(order=self.order)
        if self.config.needs_ray:
            nodes_end = cluster.node_snapshot()
            self.results = self.results.with_cluster(
                nodes_end=nodes_end, nodes_end_counts=cluster.count_alive(nodes_end),
                node_events=self.watcher.stop() if self.watcher else [],
            )
            diagnosis = self._anatomy(rows)
            if diagnosis:
                self.results = self.results.with_cluster(anatomy=diagnosis)
        self.results = self.results.with_analysis(model.analyse(self.results))
        self.results = self.results.with_status("complete")
        self._save()
        return self.results

    def _anatomy(self, rows: list[Row]) -> dict | None:
        """After the timed rounds, a separate diagnostic (bench.engine.anatomy); never part of a timed trial."""
        if self.config.suite.name == "stress" or not self.config.suite.diagnostics:
            return None
        return anatomy.diagnose_suite([r.spec for r in rows], self.workload, self.progress.phase, cpus=self._cluster_cpus(),
                                      placement=self.config.placement,
                                      other_placement=next(p for p in PLACEMENTS if p != self.config.placement))

    def _save_interrupted(self, exc: BaseException) -> None:
        if self.results is None:
            return
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else one_line(exc)
        if self.rows and self.results.status != "complete":
            done = tuple(self._record(r, {}, [], []) for r in self.rows if r.measured or r.error)
            self.results = self.results.with_runs(done).with_config_extra(order=self.order).with_cluster(
                **self._cluster_so_far())
        self.results = self.results.with_status("incomplete", reason)
        self._save()

    def _tear_down(self) -> None:
        for row in self.rows:
            self._close(row)
        if self.watchdog:
            self.watchdog.stop()
        if self.watcher:
            self.watcher.stop()
        if self.config.needs_ray:
            cluster.shutdown()

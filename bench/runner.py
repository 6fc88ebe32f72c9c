"""Runs a suite: connect, calibrate, then warm-up and measured trials per mode.

Every trial's answers are verified against the sequential reference. A mode
that fails or answers wrongly is recorded as such and the suite goes on; the
results file is rewritten atomically after every run, so an interrupted suite
still leaves every finished run on disk, marked incomplete.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import cluster, metadata, model, results
from bench.modes import MODES, Mode, TrialOutcome
from bench.options import OPTIONS
from bench.progress import SuiteProgress
from bench.results import Results, Run
from bench.samplers import PeakRSS, available_cpus, host_busy_cores, system_check
from bench.stats import HIGH_CV, percentile, summarize
from bench.suites import RunConfig
from bench.summary import table_lines, verdict_lines
from bench.workload import Workload, answers_checksum

WARMUP_MAX_TASKS = 1000
SHORT_SAMPLE_S = 0.001  # below this a wall-clock sample is mostly timer noise
IDLE_WINDOW_S = 2.0


@dataclass(frozen=True)
class RunSpec:
    mode: str
    label: str
    lookups: int
    trials: int
    params: dict = field(default_factory=dict)


def plan_runs(config: RunConfig, cluster_cpus: int, driver_cpus: int) -> list[RunSpec]:
    specs: list[RunSpec] = []
    n = config.queries
    for mode in config.modes:
        if mode in ("sequential", "numpy"):
            specs.append(RunSpec(mode, mode, n, config.trials))
        elif mode == "multiprocessing":
            specs.append(RunSpec(mode, f"multiprocessing P={driver_cpus}", n, config.trials, {"processes": driver_cpus}))
        elif mode == "ray-naive":
            for tasks in config.naive_tasks:
                params = {"window": config.window} if config.window else {}
                specs.append(RunSpec(mode, f"ray-naive {tasks:,} tasks", tasks, config.trials_for_naive(tasks), params))
        elif mode == "ray-batched":
            per_cpu = math.ceil(n / max(1, cluster_cpus))
            sizes = sorted(set(config.batch_sizes) | {per_cpu})
            for size in sizes:
                tag = " (1 task per CPU)" if size == per_cpu else ""
                specs.append(
                    RunSpec(mode, f"ray-batched B={size:,}{tag}", n, config.trials,
                            {"batch_size": size, "per_cpu": size == per_cpu})
                )
        elif mode == "ray-auto":
            specs.append(RunSpec(mode, "ray-auto", n, config.trials, {"cluster_cpus": cluster_cpus}))
    return specs


def verify(answers: np.ndarray, reference: np.ndarray) -> tuple[bool, int]:
    if answers.shape != reference.shape:
        return False, int(reference.size)
    mismatches = int(np.count_nonzero(answers != reference))
    return mismatches == 0, mismatches


def _trial_samples(outcome: TrialOutcome, lookups: int) -> dict:
    latencies = outcome.task_latencies_s or [outcome.response_s]
    sample = {
        "response_s": outcome.response_s,
        "lookups_per_s": lookups / outcome.response_s,
        "tasks": outcome.tasks,
        "tasks_per_s": outcome.tasks / outcome.response_s,
        "task_latency_p50_s": percentile(latencies, 50),
        "task_latency_p95_s": percentile(latencies, 95),
        "task_latency_p99_s": percentile(latencies, 99),
    }
    if outcome.submit_s is not None:
        sample["submit_s"] = outcome.submit_s
        sample["submit_per_task_s"] = outcome.submit_s / outcome.tasks
    return sample


def fault_log(start_unix: float, end_unix: float) -> list[dict]:
    """Faults injected by a chaos harness (JSON lines in $BENCH_FAULT_LOG) during a run."""
    path = os.environ.get("BENCH_FAULT_LOG")
    if not path:
        return []
    events = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict) and start_unix <= float(event.get("unix", 0)) <= end_unix:
                    events.append(event)
    except OSError:
        return []
    return events


def _detection_delays(node_events: list[dict], faults: list[dict]) -> list[float]:
    """Seconds from each injected fault to the next node loss the driver saw."""
    delays = []
    losses = sorted(e["detected_unix"] for e in node_events if e["event"] == "node_lost")
    for fault in sorted(faults, key=lambda f: f["unix"]):
        later = [t for t in losses if t >= fault["unix"]]
        if later:
            delays.append(later[0] - fault["unix"])
            losses.remove(later[0])
    return delays


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")


def _warnings(stats: dict, samples: dict) -> list[dict]:
    found = []
    cv = stats.get("response_s", {}).get("cv")
    if cv is not None and not math.isnan(cv) and cv > HIGH_CV:
        found.append({"kind": "unstable", "message": f"response time CV is {cv:.1%} (> {HIGH_CV:.0%}): rerun on a quieter machine or add --trials"})
    if samples.get("response_s") and min(samples["response_s"]) < SHORT_SAMPLE_S:
        found.append({"kind": "too-short", "message": "a trial took under 1 ms: timer resolution and noise dominate; raise --queries"})
    return found


def outlier_trials(values: list[float], rounds: list[int] | None = None) -> list[dict]:
    """Trials outside Tukey's fences (1.5 IQR beyond the quartiles), named rather than
    hidden in the IQR; needs at least 4 trials to say anything."""
    if len(values) < 4:
        return []
    q1, q3 = np.percentile(values, [25, 75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    median = float(np.median(values))
    found = []
    for index, value in enumerate(values):
        if value < low or value > high:
            found.append({"trial": index, "round": rounds[index] if rounds else None, "response_s": value,
                          "vs_median": value / median if median else None,
                          "kind": "slow" if value > high else "fast"})
    return found


def _cv(values: list[float]) -> float:
    if len(values) < 2:
        return math.nan
    mean = float(np.mean(values))
    return float(np.std(values, ddof=1)) / mean if mean else math.nan


@dataclass
class Row:
    """One run while the rounds are in progress: its mode and everything measured so far."""

    spec: RunSpec
    mode: Mode
    samples: dict = field(default_factory=dict)
    warmup: dict = field(default_factory=dict)
    latencies: list = field(default_factory=list)
    windows: list = field(default_factory=list)  # (start, end) unix time of each measured trial
    rounds: list = field(default_factory=list)  # the round each measured trial ran in
    correct_trials: list = field(default_factory=list)
    mismatches: int = 0
    checksum: str | None = None
    error: str | None = None
    stop_reason: str | None = None
    nodes_start: dict | None = None
    started_unix: float = 0.0
    ended_unix: float | None = None
    peak_rss: int = 0
    estimate_s: float = 0.0  # predicted trial time before the row has a median of its own

    @property
    def measured(self) -> int:
        return len(self.samples.get("response_s", []))

    @property
    def active(self) -> bool:
        return self.error is None and self.stop_reason is None

    def cv(self) -> float:
        return _cv(self.samples.get("response_s", []))

    def median_s(self) -> float:
        times = self.samples.get("response_s") or [0.0]
        return float(np.median(times))

    def predicted_s(self) -> float:
        return self.median_s() if self.measured else self.estimate_s


def extra_round_rows(rows: list[Row], target_cv: float, max_trials: int, budget_left_s: float) -> list[Row]:
    """Rows that get one more trial: still above the CV target, under the trial cap, and
    whose next trial (its median so far) fits in what is left of the extra-trial budget.
    Cheapest first, so a small budget tightens as many rows as it can."""
    chosen, left = [], budget_left_s
    for row in sorted((r for r in rows if r.active), key=Row.median_s):
        cost = row.median_s()
        if row.cv() > target_cv and row.measured < max_trials and cost <= left:
            chosen.append(row)
            left -= cost
    return chosen


def round_order(labels: list[str], seed: int, round_index: int) -> list[int]:
    """A seeded random order of the rows for one round (recorded in the results), so
    no configuration always runs first or last in a round."""
    import random

    order = list(range(len(labels)))
    random.Random(f"{seed}:{round_index}").shuffle(order)
    return order


class SuiteRunner:
    """Prepares every run, then measures them in interleaved rounds: trial 1 of every
    configuration, then trial 2 of every configuration, each round in a seeded random
    order. Slow drift (a warming machine, a filling object store) and order effects
    then spread over every configuration instead of biasing the ones that ran late."""

    def __init__(self, config: RunConfig, out_path: Path, argv: list[str] | None = None, force: bool = False):
        self.config = config
        self.out_path = out_path
        # Until the first write this run owns no file: never clobber one that appeared
        # since the path was checked (another run started in the same second, say).
        self._owns_out = force
        self.argv = argv
        self.workload = Workload(config.queries, config.array_size, config.value_range, config.seed)
        self.samplers: cluster.NodeSamplers | None = None
        self.results: Results | None = None
        self.watcher: cluster.NodeWatcher | None = None
        self.watchdog: cluster.HeadWatchdog | None = None
        self._save_lock = threading.Lock()
        self.order: list[list[str]] = []
        self._counts_after_round: dict[int, dict | None] = {}  # alive nodes after each round
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
        if not self.config.needs_ray:
            return None
        try:
            return cluster.count_alive(cluster.node_snapshot())
        except Exception:
            return None

    def _fail(self, row: Row, exc: BaseException) -> None:
        row.error = _one_line(exc)
        row.stop_reason = "error"
        self.progress.phase(f"{row.spec.label} failed: {row.error}")
        self._close(row)

    @staticmethod
    def _close(row: Row) -> None:
        try:
            row.mode.close()
        except Exception:
            pass

    # -- measure: warm-up and trials -------------------------------------------

    def _warm_up(self, row: Row) -> None:
        """Prepare the mode and run one untimed-for-the-verdict warm-up trial."""
        spec, mode = row.spec, row.mode
        row.started_unix = time.time()
        row.nodes_start = self._node_counts()
        try:
            with PeakRSS() as rss:
                mode.prepare()
                tasks = max(1, mode.tasks_for(spec.lookups))
                warm_tasks = min(tasks, WARMUP_MAX_TASKS)
                warm_n = min(spec.lookups, max(1, warm_tasks * spec.lookups // tasks))
                outcome = mode.trial(warm_n)
            row.peak_rss = max(row.peak_rss, rss.peak)
            row.estimate_s = self._estimate(row, outcome.response_s, warm_n)
            for key, value in _trial_samples(outcome, warm_n).items():
                row.warmup.setdefault(key, []).append(value)
            ok, bad = verify(outcome.answers, self.workload.reference[:warm_n])
            row.correct_trials.append(ok)
            row.mismatches += bad
        except Exception as exc:
            self._fail(row, exc)

    def _estimate(self, row: Row, warm_s: float, warm_n: int) -> float:
        """A trial's predicted length: naive Ray at the calibrated task rate, anything else
        scaled up from its warm-up (which ran a prefix of the lookups)."""
        calibration = (self.results.cluster.get("calibration") or {}) if self.results else {}
        rate = ((calibration.get("with_naive_args") or calibration).get("stats") or {}).get("tasks_per_s", {}).get("median")
        if row.spec.mode == "ray-naive" and rate:
            return row.mode.tasks_for(row.spec.lookups) / rate
        return warm_s * row.spec.lookups / max(1, warm_n)

    def _trial(self, row: Row, round_index: int) -> None:
        spec = row.spec
        reference = self.workload.reference[: spec.lookups]
        self.progress.start_trial(f"round {round_index} · {spec.label}", row.predicted_s(), row.mode.tasks_for(spec.lookups))
        row.mode.progress_hook = self.progress.tasks_done
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
        ok, bad = verify(outcome.answers, reference)
        row.correct_trials.append(ok)
        row.mismatches += bad
        row.checksum = answers_checksum(outcome.answers)
        for key, value in _trial_samples(outcome, spec.lookups).items():
            row.samples.setdefault(key, []).append(value)
        row.latencies.append([round(v, 9) for v in outcome.task_latencies_s])
        row.windows.append((begin, end))
        row.rounds.append(round_index)

    def _play_round(self, rows: list[Row], round_index: int) -> None:
        order = round_order([r.spec.label for r in rows], self.config.seed, round_index)
        played = []
        for index in order:
            row = rows[index]
            self._trial(row, round_index)
            played.append(row.spec.label)
        self.order.append(played)

    def _measure(self, rows: list[Row]) -> None:
        config = self.config
        round_index = 0
        while True:  # the planned trials, every row each round
            due = [r for r in rows if r.active and r.measured < r.spec.trials]
            if not due:
                break
            round_index += 1
            self._play_round(due, round_index)
            self._counts_after_round[round_index] = self._node_counts()
            self._checkpoint(rows)
        for row in rows:
            if row.active and row.cv() <= config.target_cv:
                row.stop_reason = "stable"
        spent, budget = 0.0, config.extra_budget_s
        while True:  # extra rounds where the noise is, within the budget
            extra = extra_round_rows(rows, config.target_cv, config.max_trials, budget - spent)
            if not extra:
                break
            round_index += 1
            self.progress.plan(sum(r.predicted_s() for r in extra))
            started = time.perf_counter()
            self._play_round(extra, round_index)
            self._counts_after_round[round_index] = self._node_counts()
            spent += time.perf_counter() - started
            for row in extra:
                if row.active and row.cv() <= config.target_cv:
                    row.stop_reason = "stable after extra trials"
            self._checkpoint(rows)
        for row in rows:
            if row.active:
                row.stop_reason = ("max trials" if row.measured >= config.max_trials
                                   else "budget" if config.extra_budget_s > 0 else "planned trials")

    # -- record -----------------------------------------------------------------

    def _record(self, row: Row, resources: dict, faults: list, node_events: list) -> Run:
        spec = row.spec
        stats = summarize(row.samples)
        reference = self.workload.reference[: spec.lookups]
        correct = row.error is None and row.measured > 0 and all(row.correct_trials)
        params = {
            **self.workload.describe(),
            "queries": spec.lookups,
            "trials": row.measured,
            "planned_trials": spec.trials,
            "tasks": row.mode.tasks_for(spec.lookups),
            **spec.params,
            **row.mode.params,  # what the mode decided itself, e.g. ray-auto's batch size
        }
        responses = row.samples.get("response_s", [])
        outliers = outlier_trials(responses, row.rounds)
        warnings = _warnings(stats, row.samples)
        if outliers:
            named = ", ".join(f"#{o['trial'] + 1} ({o['response_s']:.3g} s, {o['vs_median']:.2f}x the median)"
                              for o in outliers)
            warnings.append({"kind": "outliers", "message": f"outlier trial(s) {named}: kept in the median, named here"})
        extra = {
            "warmup": row.warmup,
            "task_latencies_s": row.latencies,
            "checksum": row.checksum,
            "reference_checksum": answers_checksum(reference),
            "mismatches": row.mismatches,
            "error": row.error,
            "warnings": warnings,
            "outliers": outliers,
            "stop_reason": row.stop_reason,
            "trial_rounds": row.rounds,
            "trial_windows_unix": [list(w) for w in row.windows],
            "nodes_start": row.nodes_start,
            # after the round of its last trial (one snapshot per round, none per trial)
            "nodes_end": self._counts_after_round.get(max(row.rounds)) if row.rounds else self._node_counts(),
            "node_events": node_events,
            "faults": faults,
            "loss_detection_s": _detection_delays(node_events, faults),
            "driver_peak_rss_bytes": row.peak_rss,
            "started_unix": row.started_unix,
            "measured_from_unix": row.windows[0][0] if row.windows else None,
            "ended_unix": row.windows[-1][1] if row.windows else row.started_unix,
            "resources": self._label_resources(_within_windows(resources, row.windows)),
        }
        return Run.from_dict({"mode": spec.mode, "label": spec.label, "params": params,
                              "samples": row.samples, "stats": stats, "correct": correct, **extra})

    def _checkpoint(self, rows: list[Row]) -> None:
        """Rewrite the results file with every trial so far, so an interruption loses nothing."""
        runs = tuple(self._record(r, {}, [], []) for r in rows if r.measured or r.error)
        self.results = self.results.with_runs(runs).with_config_extra(order=self.order)
        self._save()

    def _label_resources(self, resources: dict) -> dict:
        labelled = {}
        for node_id, data in resources.items():
            if data is None:
                labelled[node_id] = {"hostname": self.samplers.hostnames.get(node_id), "lost": True, "samples": []}
            else:
                labelled[node_id] = {"hostname": self.samplers.hostnames.get(node_id), **data}
        return labelled

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
            info.update(cluster.connect(config.address, config.num_cpus, quiet=config.quiet))
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
            cluster_cpus = cluster.total_cpus()
            phase(f"{len(nodes)} node(s), {cluster_cpus} CPUs; measuring the idle load")
            info.update(nodes=nodes, nodes_start=cluster.count_alive(nodes),
                        object_store_memory_bytes=sum(n["object_store_memory_bytes"] for n in nodes if n["alive"]),
                        idle_load=self._idle_load())
            phase("calibrating (no-op task rate)")
            info["calibration"] = cluster.calibrate(
                config.suite.calibration_trials,
                naive_args=(self.workload.array_list, 0) if "ray-naive" in config.modes else None,
            )
        info["driver_cpus"] = driver_cpus
        info["cluster_cpus"] = cluster_cpus
        return info, cluster_cpus, driver_cpus

    def _idle_load(self, window_s: float = IDLE_WINDOW_S) -> dict:
        """Each node's own CPU use while nothing is submitted, and the whole host's: the
        noise every trial runs in (health checks, raylets, agents, samplers)."""
        self.samplers.start()
        host = host_busy_cores(window_s)
        per_node = self.samplers.stop()
        nodes = {}
        for node_id, data in per_node.items():
            cpu = [s[1] for s in (data or {}).get("samples", ())]
            if cpu:
                nodes[node_id] = {"hostname": self.samplers.hostnames.get(node_id),
                                  "cpu_pct_of_core": float(np.mean(cpu))}
        return {"window_s": window_s, "host_busy_cores": host, "nodes": nodes,
                "nodes_total_pct_of_core": sum(n["cpu_pct_of_core"] for n in nodes.values())}

    def run(self) -> Results:
        config = self.config
        meta = metadata.collect(self.argv)
        system = system_check()
        for warning in system["warnings"]:
            self.progress.phase(f"warning: {warning}")
        workload_info = {**self.workload.describe(), "reference_checksum": self.workload.checksum}
        rows: list[Row] = []
        try:
            cluster_info, cluster_cpus, driver_cpus = self._connect()
            cluster_info["system_check"] = system
            self.results = Results(
                metadata=meta, workload=workload_info, cluster=cluster_info, runs=(),
                status="incomplete", incomplete_reason="running", suite=config.suite.name,
                config={**config.describe(), "order": [], "gc": "collected before each trial, disabled during it"},
            )
            self._save()
            specs = plan_runs(config, cluster_cpus, driver_cpus)
            rows = [Row(spec, MODES[spec.mode](self.workload, **spec.params)) for spec in specs]
            self.progress.phase(f"warming up {len(rows)} configurations")
            for row in rows:
                self._warm_up(row)
            self.progress.phase(f"measuring: {sum(s.trials for s in specs)} trials in interleaved rounds")
            self.progress.plan(sum(r.predicted_s() * r.spec.trials for r in rows if r.active))
            events_before = len(self.watcher.events) if self.watcher else 0
            measured_from = time.time()
            # marks the start of the measured rounds for watchers (scripts/chaos.py)
            self.results = self.results.with_config_extra(measuring_since_unix=measured_from)
            self._save()
            if self.samplers:  # one sampling session over all measured rounds
                self.samplers.start()
            try:
                self._measure(rows)
            finally:
                self.progress.close()
            resources = self.samplers.stop() if self.samplers else {}
            if self.watcher:
                self.watcher.poll()  # catch a loss that happened in the last interval
            node_events = self.watcher.events[events_before:] if self.watcher else []
            faults = fault_log(measured_from, time.time())
            owned = attribute_to_runs(rows, faults, node_events)
            runs = tuple(self._record(r, resources, *owned.get(id(r), ([], []))) for r in rows)
            self.results = self.results.with_runs(runs).with_config_extra(order=self.order)
            if config.needs_ray:
                nodes_end = cluster.node_snapshot()
                self.results = self.results.with_cluster(
                    nodes_end=nodes_end, nodes_end_counts=cluster.count_alive(nodes_end),
                    node_events=self.watcher.stop() if self.watcher else [],
                )
            self.results = self.results.with_analysis(model.analyse(self.results))
            self.results = self.results.with_analysis(
                {**self.results.analysis, "verdict_text": verdict_lines(self.results)}).with_status("complete")
            self._save()
            return self.results
        except BaseException as exc:
            if self.results is not None:
                reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else _one_line(exc)
                if rows and self.results.status != "complete":
                    done = tuple(self._record(r, {}, [], []) for r in rows if r.measured or r.error)
                    self.results = self.results.with_runs(done).with_config_extra(order=self.order)
                self.results = self.results.with_status("incomplete", reason)
                self._save()
            raise
        finally:
            for row in rows:
                self._close(row)
            if self.watchdog:
                self.watchdog.stop()
            if self.watcher:
                self.watcher.stop()
            if config.needs_ray:
                cluster.shutdown()


def attribute_to_runs(rows: list[Row], faults: list[dict], node_events: list[dict]) -> dict[int, tuple[list, list]]:
    """Which run each injected fault and node event belongs to, now that runs interleave:
    the run whose trial was in flight at that moment, else the next trial's run (the first
    to run on the changed cluster). A node loss goes with the latest fault before it, so a
    kill and the loss it caused stay in one run. Keyed by id(row): (faults, node_events)."""
    windows = sorted((a, b, index) for index, row in enumerate(rows) for a, b in row.windows)
    out: dict[int, tuple[list, list]] = {}
    if not windows:
        return out

    def owner(unix: float) -> Row:
        for a, b, index in windows:
            if a <= unix <= b or unix < a:
                return rows[index]
        return rows[windows[-1][2]]

    for fault in faults:
        out.setdefault(id(owner(float(fault.get("unix", 0)))), ([], []))[0].append(fault)
    for event in node_events:
        when = float(event.get("detected_unix") or 0)
        earlier = [float(f.get("unix", 0)) for f in faults if float(f.get("unix", 0)) <= when]
        anchor = max(earlier) if earlier and event.get("event") == "node_lost" else when
        out.setdefault(id(owner(anchor)), ([], []))[1].append(event)
    return out


def _within_windows(resources: dict, windows: list) -> dict:
    """Each node's samples whose interval (a sample at t covers t - interval .. t) overlaps
    one of this run's trial windows: a trial shorter than the interval still gets the
    sample that covers it."""
    if not windows:
        return {node_id: (None if data is None else {**data, "samples": []}) for node_id, data in resources.items()}
    out = {}
    for node_id, data in resources.items():
        if data is None:
            out[node_id] = None
            continue
        interval = float(data.get("interval_s") or 0.0)
        kept = [s for s in data.get("samples", ()) if any(s[0] - interval <= b and s[0] >= a for a, b in windows)]
        out[node_id] = {**data, "samples": kept}
    return out


def default_out_path(suite: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path("results") / f"{suite}-{stamp}.json"


def run_benchmark(config: RunConfig, out: str | None = None, force: bool = False, argv: list[str] | None = None) -> tuple[Results, Path]:
    """Validate the output path, run the suite, write results; raise if any run is wrong."""
    from bench.errors import RuntimeFailure

    if out is None:
        target = default_out_path(config.suite.name)
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        target = Path(str(out))
    target = results.check_output_path(target, force)
    runner = SuiteRunner(config, target, argv, force=force)
    res = runner.run()
    target = runner.out_path
    for line in table_lines(res) + [""] + list((res.analysis or {}).get("verdict_text") or ()):
        print(line)
    print(f"results: {target}")
    bad = [run.label for run in res.runs if not run.correct]
    if bad:
        raise RuntimeFailure(f"{len(bad)} run(s) failed or gave wrong answers ({', '.join(bad)}); results kept in {target}")
    return res, target


def run_command(given: dict, argv: list[str] | None = None) -> tuple[Results, Path]:
    """`bench run`: the options as given on the command line (bench.options.OPTIONS), checked, then run."""
    from bench.options import with_defaults
    from bench.suites import build_config

    values = with_defaults(given, options=OPTIONS)
    out, force = values.pop("out"), values.pop("force")
    return run_benchmark(build_config(**values), out=out, force=force, argv=argv)

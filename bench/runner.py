"""Runs a suite: connect, calibrate, then warm-up and measured trials per mode.

Every trial's answers are verified against the sequential reference. A mode
that fails or answers wrongly is recorded as such and the suite goes on; the
results file is rewritten atomically after every run, so an interrupted suite
still leaves every finished run on disk, marked incomplete.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench import cluster, metadata, model, results
from bench.modes import MODES, Mode, TrialOutcome
from bench.results import Results, Run
from bench.samplers import PeakRSS, available_cpus
from bench.stats import HIGH_CV, percentile, summarize
from bench.suites import RunConfig
from bench.workload import Workload, answers_checksum

WARMUP_MAX_TASKS = 1000
SHORT_SAMPLE_S = 0.001  # below this a wall-clock sample is mostly timer noise


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


class SuiteRunner:
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
                reason += f"; {len(self.results.runs)} finished run(s) saved to {self.out_path} (incomplete)"
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

    def _execute(self, spec: RunSpec, progress: tqdm) -> Run:
        mode: Mode = MODES[spec.mode](self.workload, **spec.params)
        reference = self.workload.reference[: spec.lookups]
        samples: dict[str, list] = {}
        warmup: dict[str, list] = {}
        latencies: list[list[float]] = []
        correct_trials: list[bool] = []
        mismatches = 0
        error = None
        checksum = None
        nodes_start = self._node_counts()
        started_unix = time.time()
        events_before = len(self.watcher.events) if self.watcher else 0
        sampling_from_unix = None
        with PeakRSS() as driver_rss:
            try:
                mode.prepare()
                warm_tasks = min(mode.tasks_for(spec.lookups), WARMUP_MAX_TASKS)
                warm_n = min(spec.lookups, max(1, warm_tasks * spec.lookups // max(1, mode.tasks_for(spec.lookups))))
                outcome = mode.trial(warm_n)
                for key, value in _trial_samples(outcome, warm_n).items():
                    warmup.setdefault(key, []).append(value)
                warm_ok, warm_bad = verify(outcome.answers, self.workload.reference[:warm_n])
                correct_trials.append(warm_ok)
                mismatches += warm_bad
                if self.samplers:  # resource samples cover the measured trials only
                    self.samplers.start()
                    sampling_from_unix = time.time()
                for _ in range(spec.trials):
                    outcome = mode.trial(spec.lookups)
                    ok, bad = verify(outcome.answers, reference)
                    correct_trials.append(ok)
                    mismatches += bad
                    checksum = answers_checksum(outcome.answers)
                    for key, value in _trial_samples(outcome, spec.lookups).items():
                        samples.setdefault(key, []).append(value)
                    latencies.append([round(v, 9) for v in outcome.task_latencies_s])
                    progress.update(1)
            except Exception as exc:
                error = _one_line(exc)
                if not self.config.quiet:
                    tqdm.write(f"bench: {spec.label} failed: {error}", file=sys.stderr)
            finally:
                mode.close()
        resources = self.samplers.stop() if self.samplers and sampling_from_unix else {}
        if self.watcher:
            self.watcher.poll()  # catch a loss that happened in the last interval
        nodes_end = self._node_counts()
        node_events = self.watcher.events[events_before:] if self.watcher else []
        stats = summarize(samples)
        measured = len(samples.get("response_s", []))
        correct = error is None and measured == spec.trials and all(correct_trials)
        params = {
            **self.workload.describe(),
            "queries": spec.lookups,
            "trials": spec.trials,
            "tasks": mode.tasks_for(spec.lookups),
            **spec.params,
            **mode.params,  # what the mode decided itself, e.g. ray-auto's batch size
        }
        faults = fault_log(started_unix, time.time())
        extra = {
            "warmup": warmup,
            "task_latencies_s": latencies,
            "checksum": checksum,
            "reference_checksum": answers_checksum(reference),
            "mismatches": mismatches,
            "error": error,
            "warnings": _warnings(stats, samples),
            "nodes_start": nodes_start,
            "nodes_end": nodes_end,
            "node_events": node_events,
            "faults": faults,
            "loss_detection_s": _detection_delays(node_events, faults),
            "driver_peak_rss_bytes": driver_rss.peak,
            "started_unix": started_unix,
            "measured_from_unix": sampling_from_unix,
            "ended_unix": time.time(),
            "resources": self._label_resources(resources),
        }
        return Run.from_dict({"mode": spec.mode, "label": spec.label, "params": params,
                              "samples": samples, "stats": stats, "correct": correct, **extra})

    def _label_resources(self, resources: dict) -> dict:
        labelled = {}
        for node_id, data in resources.items():
            if data is None:
                labelled[node_id] = {"hostname": self.samplers.hostnames.get(node_id), "lost": True, "samples": []}
            else:
                labelled[node_id] = {"hostname": self.samplers.hostnames.get(node_id), **data}
        return labelled

    # -- the suite -----------------------------------------------------------

    def run(self) -> Results:
        config = self.config
        meta = metadata.collect(self.argv)
        workload_info = {**self.workload.describe(), "reference_checksum": self.workload.checksum}
        cluster_info: dict = {"mode": "none", "address": config.address, "expected_nodes": config.expect_nodes}
        driver_cpus = available_cpus()
        cluster_cpus = driver_cpus
        try:
            if config.needs_ray:
                cluster_info.update(cluster.connect(config.address, config.num_cpus, quiet=config.quiet))
                if config.address is not None and cluster.gcs_address():
                    self.watchdog = cluster.HeadWatchdog(cluster.gcs_address(), self._head_lost).start()
                expected = config.expect_nodes or 1
                nodes = cluster.wait_for_nodes(expected, config.expect_timeout_s)
                self.watcher = cluster.NodeWatcher().start()
                self.samplers = cluster.NodeSamplers.launch(nodes)
                facts = self.samplers.facts()
                for node in nodes:
                    node.update({k: v for k, v in (facts.get(node["node_id"]) or {}).items() if k != "hostname"})
                cluster_cpus = cluster.total_cpus()
                cluster_info.update(
                    nodes=nodes, nodes_start=cluster.count_alive(nodes),
                    object_store_memory_bytes=sum(n["object_store_memory_bytes"] for n in nodes if n["alive"]),
                    calibration=cluster.calibrate(
                        config.suite.calibration_trials,
                        naive_args=(self.workload.array_list, 0) if "ray-naive" in config.modes else None,
                    ),
                )
            cluster_info["driver_cpus"] = driver_cpus
            cluster_info["cluster_cpus"] = cluster_cpus
            self.results = Results(
                metadata=meta, workload=workload_info, cluster=cluster_info, runs=(),
                status="incomplete", incomplete_reason="running", suite=config.suite.name,
                config=config.describe(),
            )
            self._save()
            specs = plan_runs(config, cluster_cpus, driver_cpus)
            total = sum(s.trials for s in specs)
            with tqdm(total=total, desc="bench", unit="trial", disable=config.quiet, file=sys.stderr) as progress:
                for spec in specs:
                    progress.set_description(spec.label)
                    self.results = self.results.with_run(self._execute(spec, progress))
                    self._save()
            if config.needs_ray:
                nodes_end = cluster.node_snapshot()
                self.results = self.results.with_cluster(
                    nodes_end=nodes_end, nodes_end_counts=cluster.count_alive(nodes_end),
                    node_events=self.watcher.stop() if self.watcher else [],
                )
            self.results = self.results.with_analysis(model.analyse(self.results)).with_status("complete")
            self._save()
            return self.results
        except BaseException as exc:
            if self.results is not None:
                reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else _one_line(exc)
                self.results = self.results.with_status("incomplete", reason)
                self._save()
            raise
        finally:
            if self.watchdog:
                self.watchdog.stop()
            if self.watcher:
                self.watcher.stop()
            if config.needs_ray:
                cluster.shutdown()


def default_out_path(suite: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path("results") / f"{suite}-{stamp}.json"


def summary_lines(res: Results) -> list[str]:
    lines = [f"{'run':<42} {'median s':>10} {'IQR s':>10} {'lookups/s':>12} {'ok':>3}"]
    for run in res.runs:
        stat = run.stats.get("response_s") or {}
        rate = (run.stats.get("lookups_per_s") or {}).get("median")
        median = stat.get("median")
        iqr = (stat["q3"] - stat["q1"]) if stat else None
        lines.append(
            f"{run.label:<42} {median if median is not None else float('nan'):>10.4f} "
            f"{iqr if iqr is not None else float('nan'):>10.4f} {rate or 0:>12,.0f} {'✓' if run.correct else '✗':>3}"
        )
    calibration = res.cluster.get("calibration")
    if calibration:
        lines.append(f"calibration: {calibration['stats']['tasks_per_s']['median']:,.0f} no-op tasks/s")
    return lines


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
    for line in summary_lines(res):
        print(line)
    print(f"results: {target}")
    bad = [run.label for run in res.runs if not run.correct]
    if bad:
        raise RuntimeFailure(f"{len(bad)} run(s) failed or gave wrong answers ({', '.join(bad)}); results kept in {target}")
    return res, target

"""What a run's record holds: the samples of each trial, and the run as the results file keeps
it (Run) once its rounds are over: parameters, warnings and named outliers, the faults and node
events that fell in it, and each node's resource samples from its own trial windows."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from bench.engine.modes import TrialOutcome
from bench.engine.rounds import Row
from bench.engine.workload import WorkloadLike
from bench.results import Run
from bench.stats import HIGH_CV, percentile, summarize

SHORT_SAMPLE_S = 0.001  # below this a wall-clock sample is mostly timer noise


def _finite_or_none(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


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


def _warnings(stats: dict, samples: dict) -> list[dict]:
    found = []
    cv = stats.get("response_s", {}).get("cv")
    if cv is not None and not math.isnan(cv) and cv > HIGH_CV:
        found.append({"kind": "unstable", "cv": cv, "limit": HIGH_CV})  # figures only: worded by bench.analysis.wording
    if samples.get("response_s") and min(samples["response_s"]) < SHORT_SAMPLE_S:
        found.append({"kind": "too-short", "shortest_s": min(samples["response_s"]), "limit_s": SHORT_SAMPLE_S})
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


def label_resources(resources: dict, hostnames: dict) -> dict:
    labelled = {}
    for node_id, data in resources.items():
        if data is None:
            labelled[node_id] = {"hostname": hostnames.get(node_id), "lost": True, "samples": []}
        else:
            labelled[node_id] = {"hostname": hostnames.get(node_id), **data}
    return labelled


def _params(row: Row, workload: WorkloadLike) -> dict:
    spec = row.spec
    return {
        **workload.describe(),
        "queries": spec.lookups,
        "trials": row.measured,
        "planned_trials": row.planned_trials,
        "tasks": row.mode.tasks_for(spec.lookups),
        **spec.params,
        **row.mode.params,  # what the mode decided itself, e.g. ray-auto's batch size
    }


def _warnings_and_outliers(row: Row, stats: dict) -> tuple[list[dict], list[dict]]:
    outliers = outlier_trials(row.samples.get("response_s", []), row.rounds)
    warnings = _warnings(stats, row.samples)
    if outliers:  # the trials themselves are in the run's "outliers"
        warnings.append({"kind": "outliers", "trials": len(outliers)})
    return warnings, outliers


def run_record(row: Row, workload: WorkloadLike, nodes_end: dict | None, resources: dict, hostnames: dict,
               faults: list, node_events: list, fault_cost: list | None = None) -> Run:
    """The run as the results file keeps it. nodes_end: alive nodes after the round of its last
    trial; resources: every node's samples over the measured rounds (cut to its trial windows);
    fault_cost: what each injected fault cost its trial (bench.engine.faultcost), only where one hit."""
    spec = row.spec
    stats = summarize(row.samples)
    warnings, outliers = _warnings_and_outliers(row, stats)
    extra = {
        "warmup": row.warmup,
        "task_latencies_s": row.latencies,
        "checksum": row.checksum,
        "reference_checksum": workload.checksum_of(workload.reference[: spec.lookups]),
        "mismatches": row.mismatches,
        "error": row.error,
        "warnings": warnings,
        "outliers": outliers,
        "stop_reason": row.stop_reason,
        # the median's 95% confidence half-width over the median (None under 6 trials)
        "median_ci_rel": _finite_or_none(row.median_ci()),
        "trial_rounds": row.rounds,
        "trial_windows_unix": [list(w) for w in row.windows],
        # how long each trial waited for a quiet host, and the host's busy cores when it started
        "quiet_before_trial": {"waited_s": [w for w, _ in row.quiet], "busy_cores": [b for _, b in row.quiet]},
        "nodes_start": row.nodes_start,
        "nodes_end": nodes_end,
        "node_events": node_events,
        "faults": faults,
        "loss_detection_s": _detection_delays(node_events, faults),
        "driver_peak_rss_bytes": row.peak_rss,
        "started_unix": row.started_unix,
        "measured_from_unix": row.windows[0][0] if row.windows else None,
        "ended_unix": row.windows[-1][1] if row.windows else row.started_unix,
        "resources": label_resources(_within_windows(resources, row.windows), hostnames),
    }
    if fault_cost is not None:
        extra["fault_cost"] = fault_cost
    correct = row.error is None and row.measured > 0 and all(row.correct_trials)
    return Run.from_dict({"mode": spec.mode, "label": spec.label, "params": _params(row, workload),
                          "samples": row.samples, "stats": stats, "correct": correct, **extra})

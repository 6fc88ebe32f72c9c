"""The cost of a failure: what one injected fault cost the measured trial it hit.

For each fault the chaos harness logged ($BENCH_FAULT_LOG) in a run's time, from the run's own
trial windows and times plus Ray's task events (bench.engine.task_events):

  trial                the measured trial whose window holds the fault; None when it landed
                       between trials or after the last one (nothing was measured: said, not guessed)
  lookups_re_executed  the lookups of every task Ray ran again (attempt_number >= 1, each
                       retry counted), among the tasks that trial submitted
  recovery_s           fault -> the last retried attempt's FINISHED stamp (the owner's stamp, on
                       the driver's clock; the harness logs the kill on the host's, the same
                       kernel clock in compose)
  detection_s          fault -> the driver's node watcher saw the node lost (as loss_detection_s)
  slowdown             the faulted trial's time / the median of the run's other trials

Without task events the event figures are None and `task_events` says why, in one line.

BENCH_TRIAL_LOG (JSON lines, set by scripts/chaos.py sweep): the runner announces each measured
trial's start and end there, outside the timed window, so a harness can aim a kill at one
configuration's trial; the results file itself is only rewritten after each round.
"""

from __future__ import annotations

import json
import os
import time

from bench.engine import task_events
from bench.engine.ray_modes import remote_functions
from bench.engine.rounds import Row, RunSpec
from bench.mode_table import spec_of
from bench.stats import Stats

TRIAL_LOG_ENV = "BENCH_TRIAL_LOG"
EVENTS_WAIT_S = 20.0  # the driver flushes task events every second; retries' events come from it
POLL_S = 0.5
NS = 1e-9


# ---- pure computation (unit-tested on synthetic records) ----------------------------------

def trial_of(unix: float, windows: list) -> tuple[int | None, str]:
    """(index of the trial whose window holds unix, where it landed in words)."""
    for index, (start, end) in enumerate(windows):
        if start <= unix <= end:
            return index, "in trial"
    if not windows:
        return None, "no measured trial in this run"
    if unix < windows[0][0]:
        return None, f"before the first trial ({windows[0][0] - unix:.2f} s before it started)"
    later = [i for i, (start, _) in enumerate(windows) if start > unix]
    if not later:
        return None, (f"after the last trial: trial #{len(windows)} had ended {unix - windows[-1][1]:.2f} s "
                      "before the fault")
    i = later[0]
    return None, f"between trials #{i} and #{i + 1} ({unix - windows[i - 1][1]:.2f} s after #{i} ended)"


def _created_ns(attempts: dict) -> int | None:
    """When the task was submitted: its first attempt's PENDING_ARGS_AVAIL, else its earliest stamp."""
    first = attempts.get(min(attempts)) or {}
    if "PENDING_ARGS_AVAIL" in first:
        return first["PENDING_ARGS_AVAIL"]
    stamps = [ns for states in attempts.values() for ns in states.values()]
    return min(stamps) if stamps else None


def trial_tasks(records: list[dict], start_unix: float, end_unix: float) -> list[dict[int, dict]]:
    """The tasks submitted inside one trial window, in submission order: per task {attempt: states}.
    records: {"task_id", "attempt", "states": {STATE: ns}}, one per task attempt."""
    by_task: dict[str, dict[int, dict]] = {}
    for record in records:
        attempts = by_task.setdefault(record["task_id"], {})
        attempts[int(record["attempt"])] = {**attempts.get(int(record["attempt"]), {}), **record["states"]}
    inside = []
    for attempts in by_task.values():
        created = _created_ns(attempts)
        if created is not None and start_unix <= created * NS <= end_unix:
            inside.append((created, attempts))
    return [attempts for _, attempts in sorted(inside, key=lambda pair: pair[0])]


def batch_sizes(lookups: int, batch_size: int, tasks: int) -> list[int]:
    """Each task's lookups in submission order: B each, the last one the remainder (as ray-batched splits)."""
    sizes = [batch_size] * tasks
    if tasks:
        sizes[-1] = max(0, lookups - batch_size * (tasks - 1))
    return sizes


def re_execution(tasks: list[dict[int, dict]], lookups: int, batch_size: int) -> dict:
    """Tasks Ray ran again and the lookups they carried (a task retried twice counts twice)."""
    sizes = batch_sizes(lookups, batch_size, len(tasks))
    retried = [(max(t), size) for t, size in zip(tasks, sizes) if max(t) >= 1]
    failed = sum(1 for t in tasks if "FAILED" in t[max(t)] and "FINISHED" not in t[max(t)])
    return {"tasks_retried": len(retried), "retries": sum(n for n, _ in retried),
            "lookups_re_executed": sum(n * size for n, size in retried), "tasks_failed": failed}


def recovery_s(tasks: list[dict[int, dict]], fault_unix: float) -> float | None:
    """Fault -> the last retried attempt's FINISHED stamp; None when no retry finished."""
    finished = [states["FINISHED"] for t in tasks for attempt, states in t.items()
                if attempt >= 1 and "FINISHED" in states]
    return max(finished) * NS - fault_unix if finished else None


def slowdown(response_s: list[float], faulted: int) -> dict:
    """The faulted trial's time against the median of the same run's other trials."""
    clean = [t for i, t in enumerate(response_s) if i != faulted]
    median = Stats(clean).median if clean else None
    ratio = response_s[faulted] / median if median else None
    return {"faulted_response_s": response_s[faulted], "clean_median_s": median, "clean_trials": len(clean),
            "slowdown": ratio}


def detection_s(fault_unix: float, node_events: list[dict]) -> float | None:
    """Fault -> the first node loss the driver saw after it."""
    later = [float(e["detected_unix"]) for e in node_events
             if e.get("event") == "node_lost" and float(e.get("detected_unix") or 0) >= fault_unix]
    return min(later) - fault_unix if later else None


def fault_cost(fault: dict, trial: dict, records: list[dict] | None, events_reason: str | None,
               node_events: list[dict]) -> dict:
    """One fault's record. trial: windows, response_s, correct (per measured trial), lookups,
    batch_size, tasks (per trial). records: the run's task attempts (None: unavailable, events_reason)."""
    unix = float(fault.get("unix", 0))
    index, landed = trial_of(unix, trial["windows"])
    out = {"fault_unix": unix, "target": fault.get("target"), "trial": index, "landed": landed,
           "batch_size": trial["batch_size"], "tasks": trial["tasks"], "detection_s": detection_s(unix, node_events),
           "lookups_re_executed": None, "tasks_retried": None, "retries": None, "tasks_failed": None,
           "recovery_s": None, "faulted_response_s": None, "clean_median_s": None, "clean_trials": None,
           "slowdown": None, "trial_correct": None}
    if index is None:
        out["task_events"] = {"available": False, "reason": f"the fault landed {landed}: no trial to cost"}
        return out
    out.update(slowdown(list(trial["response_s"]), index), trial_correct=bool(trial["correct"][index]))
    if records is None:
        out["task_events"] = {"available": False, "reason": events_reason or "no task events"}
        return out
    start, end = trial["windows"][index]
    tasks = trial_tasks(records, start, end)
    seen = {"tasks_seen": len(tasks), "tasks_expected": trial["tasks"]}
    if not tasks:
        out["task_events"] = {"available": False, "reason": "no task events for this trial's tasks", **seen}
        return out
    out.update(re_execution(tasks, trial["lookups"], trial["batch_size"]), recovery_s=recovery_s(tasks, unix))
    out["task_events"] = {"available": True, "reason": None, "source": task_events.SOURCE, **seen}
    return out


# ---- trial markers for a harness -------------------------------------------------------------

def announce(event: str, spec: RunSpec, trial: int, **times: float) -> None:
    """Append one trial marker to $BENCH_TRIAL_LOG (nothing when unset). Never inside a timed window."""
    path = os.environ.get(TRIAL_LOG_ENV)
    if not path:
        return
    line = {"event": event, "label": spec.label, "mode": spec.mode, "batch_size": spec.params.get("batch_size"),
            "trial": trial, "unix": time.time(), **times}
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
    except OSError:
        pass  # a marker is a courtesy to the harness; the measurement never depends on it


# ---- reading the task events of a run (Ray connected) -----------------------------------------

def _task_name(row: Row) -> str | None:
    """The Ray task name of the row's tasks (Ray names a task after its function), or None."""
    counted = spec_of(row.spec.mode).fault_tasks  # the mode table's fault-cost rule
    if counted is None:
        return None
    single, batched = remote_functions(row.mode.workload)
    fn = single if counted == "single" else batched
    return getattr(getattr(fn, "_function", None), "__name__", None)


def _attempt_records(events: list) -> list[dict]:
    """GetTaskEvents replies as {"task_id", "attempt", "states"}: every attempt kept (not only the latest)."""
    from ray.core.generated import common_pb2

    return [{"task_id": e.task_id.hex(), "attempt": int(e.attempt_number),
             "states": {common_pb2.TaskStatus.Name(k): int(v) for k, v in e.state_updates.state_ts_ns.items()}}
            for e in events]


def _settled(records: list[dict], window: tuple, expected: int) -> bool:
    """Every task of the trial seen, each one's latest attempt in a terminal state."""
    tasks = trial_tasks(records, *window)
    return len(tasks) >= expected and all(any(s in t[max(t)] for s in task_events.TERMINAL_STATES) for t in tasks)


def read_attempts(name: str, window: tuple, expected: int, limit: int,
                  wait_s: float = EVENTS_WAIT_S) -> tuple[list[dict] | None, str | None]:
    """The task attempts named `name` in this job, once the trial in `window` has settled (or wait_s)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            records = _attempt_records(task_events.query_task_events(name, limit=limit))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            return None, f"GetTaskEvents failed: {first[:200]}"
        if _settled(records, window, expected) or time.monotonic() >= deadline:
            return records, None
        time.sleep(POLL_S)


def _trial_facts(row: Row) -> dict:
    tasks = row.mode.tasks_for(row.spec.lookups)
    size = 1 if spec_of(row.spec.mode).fault_tasks == "single" else getattr(row.mode, "batch_size", None)
    return {"windows": list(row.windows), "response_s": list(row.samples.get("response_s", [])),
            "correct": row.correct_trials[-row.measured:] if row.measured else [], "lookups": row.spec.lookups,
            "batch_size": size, "tasks": tasks}


def measure(row: Row, faults: list[dict], node_events: list[dict]) -> list[dict]:
    """The cost of each fault attributed to this run (Ray connected for the task events)."""
    trial = _trial_facts(row)
    name = _task_name(row)
    out = []
    for fault in sorted(faults, key=lambda f: float(f.get("unix", 0))):
        index, _ = trial_of(float(fault.get("unix", 0)), trial["windows"])
        records, reason = None, "not a Ray mode: no task events"
        if index is not None and name:
            limit = max(1000, trial["tasks"] * (row.measured + 2) * 3)
            records, reason = read_attempts(name, tuple(trial["windows"][index]), trial["tasks"], limit)
        out.append(fault_cost(fault, trial, records, reason, node_events))
    return out


__all__ = ["announce", "fault_cost", "measure", "re_execution", "recovery_s", "slowdown",
           "trial_of", "trial_tasks"]

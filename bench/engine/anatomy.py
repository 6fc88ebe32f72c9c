"""The anatomy of a task: where one Ray task's latency goes (a diagnostic, never a timed trial).

On an already-connected Ray (embedded or a cluster), `run_anatomy` submits a batch of tasks
of one shape, times each `.remote()` call and each `ray.get`, then reads the batch's task
events from the GCS (bench.engine.task_events) and splits each task's latency into phases
at its state-transition timestamps:

    submission            driver: time inside `.remote()` (measured here)
    waiting_for_args      PENDING_ARGS_AVAIL -> PENDING_NODE_ASSIGNMENT
    scheduling_and_lease  PENDING_NODE_ASSIGNMENT -> SUBMITTED_TO_WORKER (lease, spillback,
                          queueing for a leased worker)
    dispatch              SUBMITTED_TO_WORKER -> RUNNING (push to the worker, argument fetch)
    execution             RUNNING -> FINISHED (FINISHED is the owner's stamp, on the
                          worker's reply: the return trip is in here)
    return_and_get        FINISHED -> `ray.get` returns for that ref (measured here)

The owner puts a task's return objects in its memory store before it stamps FINISHED, so a
waiting `ray.get` can return a fraction of a millisecond before the stamp: execution then
ends when `ray.get` returned, return_and_get is zero, and the stamp's lag is reported as
`finish_overlap` (never a negative phase).

Other states (PENDING_ARGS_FETCH, PENDING_OBJ_STORE_MEM_AVAIL, GETTING_AND_PINNING_ARGS)
lie inside one of these spans; they are counted under `intermediate_states`, not made phases.
A phase whose timestamps are missing is reported missing. The phases' sum is checked
against the measured end-to-end latency (submit start -> get returns) per task: the
residual. `.remote()` usually stamps PENDING_ARGS_AVAIL before it returns: submission ends
at that stamp, and the rest of `.remote()` (concurrent with the next phase) is reported as
`submission_overlap` rather than counted twice; the residual is then any gap between
`.remote()` returning and Ray's stamp, plus missing phases. Timestamps are
wall-clock ns; RUNNING is the executing worker's stamp, the other states the owner's, so
on a cluster a clock skew moves time between dispatch and execution (it cancels in the sum).
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

from bench.engine.placement import RoundRobin
from bench.engine.task_events import EVENT_SPANS, SOURCE, events_disabled_reason, wait_for_events
from bench.engine.workload import lookup_array_batch
from bench.format import fmt_pct, fmt_time
from bench.options import RAY_DEFAULT
from bench.stats import Stats

PHASES = ("submission", "waiting_for_args", "scheduling_and_lease", "dispatch", "execution", "return_and_get")
INTERMEDIATE_STATES = ("PENDING_ARGS_FETCH", "PENDING_OBJ_STORE_MEM_AVAIL", "GETTING_AND_PINNING_ARGS")
NS = 1e-9


# ---- pure computation (unit-tested on synthetic records) ----------------------------------

def task_phases(record: dict) -> dict[str, float | None]:
    """One task's phases in seconds (None where a timestamp is missing).

    record: {"states": {STATE: ns}, "submit_start_ns", "submit_end_ns", "got_ns"} (the
    driver times may be None)."""
    states = record.get("states") or {}
    start, end, got = record.get("submit_start_ns"), record.get("submit_end_ns"), record.get("got_ns")
    # Submission ends when Ray registers the task (PENDING_ARGS_AVAIL) if .remote() is still
    # running then: the rest of .remote() overlaps waiting for arguments, and counting it in
    # both would make the phases sum to more than the latency (it is kept as submission_overlap).
    registered = states.get("PENDING_ARGS_AVAIL")
    phases: dict[str, float | None] = {
        "submission": _span(start, min(end, registered) if end is not None and registered is not None else end)}
    finished = states.get("FINISHED")
    if finished is not None and got is not None and got < finished:
        finished = got  # the result was already in the memory store when Ray stamped FINISHED
    spans = {**{phase: (states.get(first), states.get(last)) for phase, (first, last) in EVENT_SPANS.items()},
             "execution": (states.get("RUNNING"), finished), "return_and_get": (finished, got)}
    for phase, (first, last) in spans.items():
        phases[phase] = _span(first, last)
    return phases


def _span(start_ns: int | None, end_ns: int | None) -> float | None:
    if start_ns is None or end_ns is None:
        return None
    return (end_ns - start_ns) * NS


def task_latency(record: dict) -> float | None:
    """Measured end to end: submit start -> ray.get returned, in seconds."""
    return _span(record.get("submit_start_ns"), record.get("got_ns"))


def _quartiles(values: list[float]) -> dict:
    stats = Stats(values)
    return {"median_s": stats.median, "q1_s": stats.q1, "q3_s": stats.q3, "n": stats.n}


def summarize_records(records: list[dict]) -> dict:
    """Per-phase median/IQR, measured latency, residual (latency - sum of present phases)."""
    per_task = [task_phases(r) for r in records]
    phases = {}
    for name in PHASES:
        values = [p[name] for p in per_task if p[name] is not None]
        missing = len(per_task) - len(values)
        phases[name] = {**_quartiles(values), "missing": missing} if values else {"missing": missing, "n": 0}
    latencies, residuals, relative = [], [], []
    incomplete = 0
    for record, task in zip(records, per_task):
        latency = task_latency(record)
        if latency is None:
            continue
        present = [v for v in task.values() if v is not None]
        incomplete += len(present) < len(PHASES)
        residual = latency - sum(present)
        latencies.append(latency)
        residuals.append(residual)
        relative.append(residual / latency if latency > 0 else float("nan"))
    result = {"tasks": len(records), "phases": phases,
              "largest_phase": _largest(phases), "intermediate_states": _intermediate_counts(records)}
    if latencies:
        rel = [r for r in relative if r == r]
        result["measured_latency"] = _quartiles(latencies)
        result["residual"] = {**_quartiles(residuals),
                              "median_rel": Stats(rel).median if rel else None,
                              "median_abs_rel": Stats([abs(r) for r in rel]).median if rel else None,
                              "tasks_with_missing_phases": incomplete}
    overlap = [_span(r["states"]["PENDING_ARGS_AVAIL"], r.get("submit_end_ns")) for r in records
               if "PENDING_ARGS_AVAIL" in (r.get("states") or {}) and r.get("submit_end_ns") is not None]
    if overlap:  # .remote() still running after Ray stamped PENDING_ARGS_AVAIL (not in submission)
        result["submission_overlap"] = _quartiles(overlap)
    late = [_span(r["got_ns"], r["states"]["FINISHED"]) for r in records
            if "FINISHED" in (r.get("states") or {}) and r.get("got_ns") is not None
            and r["got_ns"] < r["states"]["FINISHED"]]
    if late:  # ray.get returned before Ray stamped FINISHED (not in any phase)
        result["finish_overlap"] = {**_quartiles(late), "tasks": len(late)}
    return result


def _largest(phases: dict) -> str | None:
    present = {name: p["median_s"] for name, p in phases.items() if "median_s" in p}
    return max(present, key=present.get) if present else None


def _intermediate_counts(records: list[dict]) -> dict[str, int]:
    counts = {}
    for state in INTERMEDIATE_STATES:
        seen = sum(1 for r in records if state in (r.get("states") or {}))
        if seen:
            counts[state] = seen
    return counts


def unavailable(reason: str, **extra) -> dict:
    return {"available": False, "reason": reason, "source": SOURCE, **extra}


# ---- default task shapes -------------------------------------------------------------------

def noop_task(*_args):
    """The no-op task: no work, returns None."""
    return None


def lookup_batch_task(array, queries):
    """ray-batched's own work (bench.engine.workload.lookup_array_batch: the seed's linear search per
    query): a stored array, a batch of queries, an int64 array back, so execution is the real cost."""
    return lookup_array_batch(array, queries)


def default_shape(kind: str = "noop", batch: int = 100, array_size: int = 10_000, seed: int = 0):
    """(remote function, args factory) for 'noop' or 'lookup' (array in the object store once,
    a fresh batch of `batch` queries per task, as ray-batched passes them)."""
    import numpy as np
    import ray

    if kind == "noop":
        return ray.remote(noop_task), lambda index: ()
    if kind != "lookup":
        raise ValueError(f"unknown task shape {kind!r}: 'noop' or 'lookup'")
    rng = np.random.default_rng(seed)
    array = rng.integers(0, array_size * 2, size=array_size)
    array_ref = ray.put(array)
    queries = rng.integers(0, array_size * 2, size=batch)
    return ray.remote(lookup_batch_task), lambda index: (array_ref, queries)


# ---- running a batch ---------------------------------------------------------------------------

def run_batch(fn, args_factory: Callable[[int], tuple], n_tasks: int, timeout_s: float,
              in_flight: int | None = None) -> tuple[list[dict], int]:
    """Submit n tasks (at most in_flight unfinished at once; None: all at once), timing each
    .remote(), and ray.get each as soon as it is ready, stamping when get returned.
    Returns (records without states, failures)."""
    import ray

    window = n_tasks if in_flight is None else max(1, int(in_flight))
    records: list[dict] = []
    pending, index_of, failed = [], {}, 0
    deadline = time.monotonic() + timeout_s
    while len(records) < n_tasks or pending:
        while len(records) < n_tasks and len(pending) < window:
            args = args_factory(len(records))
            start = time.time_ns()
            ref = fn.remote(*args)
            end = time.time_ns()
            index_of[ref] = len(records)
            pending.append(ref)
            records.append({"task_id": ref.task_id().hex(), "submit_start_ns": start, "submit_end_ns": end})
        ready, pending = ray.wait(pending, num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"{len(pending)} of {n_tasks} tasks not done after {timeout_s:g} s")
        if pending:
            more, pending = ray.wait(pending, num_returns=len(pending), timeout=0)
            ready += more
        for ref in ready:
            try:
                ray.get(ref)
            except Exception:
                failed += 1
            records[index_of.pop(ref)]["got_ns"] = time.time_ns()
    return records, failed


def run_anatomy(fn=None, args_factory: Callable[[int], tuple] | None = None, n_tasks: int = 50,
                in_flight: int | None = None, warmup: bool = True, timeout_s: float = 60.0,
                events_timeout_s: float = 30.0, shape: str = "noop") -> dict:
    """Submit n_tasks calls of `fn` (a ray.remote function; default: `shape`'s, 'noop' or
    'lookup') with args_factory(index), at most in_flight at once (None: the whole batch at
    once, as a batched mode does; 1: one task alone), and split their latency into phases.
    Ray must be connected. Never call it inside a timed trial."""
    if fn is None:
        fn, args_factory = default_shape(shape)
    reason = events_disabled_reason()
    if reason:
        return unavailable(reason)
    batch = submit_batch(fn, args_factory or (lambda index: ()), n_tasks, in_flight, warmup, timeout_s)
    return collect([batch], events_timeout_s)[0]


def submit_batch(fn, args_factory: Callable[[int], tuple], n_tasks: int, in_flight: int | None,
                 warmup: bool, timeout_s: float) -> dict:
    """One named batch of fn's tasks (after an untimed warm-up batch that starts the workers
    and imports the function, when warmup), for `collect`."""
    if warmup:
        run_batch(fn.options(name=f"anatomy-warmup-{uuid.uuid4().hex[:8]}"), args_factory, n_tasks, timeout_s,
                  in_flight)
    name = f"anatomy-{uuid.uuid4().hex[:12]}"
    records, failed = run_batch(fn.options(name=name), args_factory, n_tasks, timeout_s, in_flight)
    return {"name": name, "records": records, "failed": failed, "in_flight": in_flight}


def collect(batches: list[dict], events_timeout_s: float = 30.0) -> list[dict]:
    """Each batch's anatomy, from one wait for all their task events (each shape waiting for
    its own flush cost a second or more)."""
    try:
        found = wait_for_events({b["name"]: [r["task_id"] for r in b["records"]] for b in batches}, events_timeout_s)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        return [unavailable(f"GetTaskEvents failed: {first[:200]}") for _ in batches]
    results = [_assemble(b["records"], found, b["failed"], b["name"]) for b in batches]
    return [{**r, "in_flight": b["in_flight"]} if r["available"] else r for r, b in zip(results, batches)]


def diagnose(array, queries, plan: list[tuple[str, int]], cpus: int, max_tasks: int = 50,
             timeout_s: float = 120.0, placement: str = RAY_DEFAULT, other_placement: str | None = None) -> dict:
    """The anatomy of the suite's own task shapes: for each (mode, batch size) in plan, up to
    max_tasks tasks of B of the workload's queries against its array (in the object store
    once, as the modes pass it). At most one task per CPU is in flight, so the phases show
    what a task costs, not how long it queued for a CPU. The plan's first shape runs again
    under other_placement (when given): the phase that the other placement grows, such as the
    spillback hop's lease under Ray's default. Every shape runs, then one wait collects their
    task events; one warm-up batch per placement. For results.cluster['anatomy']."""
    import ray

    reason = events_disabled_reason()
    if reason:
        return unavailable(reason)
    started, in_flight = time.time(), max(1, int(cpus))
    fns = {where: RoundRobin(ray.remote(lookup_batch_task), where) for where in {placement, other_placement} if where}
    array_ref = ray.put(array)
    shapes = [(*shape, placement) for shape in plan] + ([(*plan[0], other_placement)] if other_placement and plan else [])

    def submit(batch: int, where: str, warmup: bool) -> dict:
        tasks = max(1, min(max_tasks, -(-len(queries) // batch)))
        return submit_batch(fns[where], lambda i: (array_ref, queries[i * batch:(i + 1) * batch]), tasks,
                            in_flight, warmup, timeout_s)

    first_of = {where: index for index, (_, _, where) in reversed(list(enumerate(shapes)))}  # warms its placement
    results = collect([submit(batch, where, first_of[where] == i) for i, (_, batch, where) in enumerate(shapes)])
    runs, other = [], None
    for (mode, batch, where), result in zip(shapes, results):
        attempts = [result]  # a second batch when events went missing (e.g. a worker exited unflushed)
        if _missing_tasks(result) and not events_disabled_reason():
            attempts += collect([submit(batch, where, False)])
        entry = {"mode": mode, "batch_size": batch, **min(attempts, key=_missing_tasks), "attempts": len(attempts)}
        runs, other = (runs + [entry], other) if where == placement else (runs, {**entry, "placement": where})
    available = [r for r in runs if r["available"]]
    return {"available": bool(available), "source": SOURCE, "runs": runs, "in_flight": in_flight, "placement": placement,
            **({"other_placement": other} if other else {}), "started_unix": started, "ended_unix": time.time(),
            "reason": None if available else (runs[0].get("reason") if runs else "no Ray mode to diagnose")}


def _missing_tasks(result: dict) -> int:
    """Tasks whose phases are not all known (every task when there is no anatomy at all)."""
    if not result.get("available"):
        return 1 << 30
    return int((result.get("residual") or {}).get("tasks_with_missing_phases") or 0) + \
        int(result.get("tasks_without_events") or 0)


def _assemble(records: list[dict], found: dict[str, dict], failed: int, name: str) -> dict:
    with_events = []
    for record in records:
        if record["task_id"] in found:
            with_events.append({**record, **found[record["task_id"]]})
    if not with_events:
        return unavailable(f"no task events for the batch '{name}' (task events off, e.g. "
                           f"RAY_task_events_report_interval_ms=0, or not yet flushed)", tasks=len(records))
    summary = summarize_records(with_events)
    return {"available": True, **summary, "source": SOURCE, "task_name": name,
            "submitted": len(records), "tasks_without_events": len(records) - len(with_events),
            "failed": failed, "retried": sum(1 for r in with_events if r.get("attempt", 0) > 0)}


# ---- terminal -------------------------------------------------------------------------------------

def anatomy_lines(result: dict) -> list[str]:
    """The anatomy for the terminal: one line per phase, then the check against the measurement."""
    if not result.get("available"):
        return [f"task anatomy: unavailable: {result.get('reason', 'unknown reason')}"]
    lines = [f"task anatomy ({result['tasks']} tasks, {result.get('source', SOURCE)}): median [IQR]"]
    largest = result.get("largest_phase")
    for name in PHASES:
        phase = result["phases"].get(name, {})
        if "median_s" not in phase:
            lines.append(f"  {name:<22} missing")
            continue
        note = f"  ({phase['missing']} tasks missing)" if phase.get("missing") else ""
        mark = "  <- largest" if name == largest else ""
        lines.append(f"  {name:<22} {fmt_time(phase['median_s']):>10} "
                     f"[{fmt_time(phase['q1_s'])} – {fmt_time(phase['q3_s'])}]{note}{mark}")
    measured, residual = result.get("measured_latency"), result.get("residual")
    if measured and residual:
        lines.append(f"  {'measured end to end':<22} {fmt_time(measured['median_s']):>10} "
                     f"[{fmt_time(measured['q1_s'])} – {fmt_time(measured['q3_s'])}]")
        lines.append(f"  {'residual (measured-sum)':<22} {fmt_time(residual['median_s']):>10} "
                     f"({fmt_pct(residual.get('median_rel'))} of the latency, median)")
    if result.get("submission_overlap"):
        lines.append(f"  {'submission overlap':<22} {fmt_time(result['submission_overlap']['median_s']):>10} "
                     f"(.remote() still running after Ray stamped PENDING_ARGS_AVAIL; not in submission)")
    if result.get("finish_overlap"):
        late = result["finish_overlap"]
        lines.append(f"  {'finish stamp lag':<22} {fmt_time(late['median_s']):>10} "
                     f"(ray.get returned before Ray stamped FINISHED, {late['tasks']} tasks; not in execution)")
    if result.get("intermediate_states"):
        seen = ", ".join(f"{k} ×{v}" for k, v in result["intermediate_states"].items())
        lines.append(f"  states inside the spans: {seen}")
    if result.get("tasks_without_events"):
        lines.append(f"  {result['tasks_without_events']} tasks had no task events (left out)")
    return lines


def diagnose_suite(specs, workload, phase, cpus: int, placement: str = RAY_DEFAULT,
                   other_placement: str | None = None) -> dict | None:
    """Where each task's time goes for the suite's task shapes: naive (B = 1) if it ran and
    each swept batch size. A diagnostic: its failure never costs the suite's results."""
    plan = [("ray-naive", 1)] if any(s.mode == "ray-naive" for s in specs) else []
    plan += [("ray-batched", size) for size in sorted({int(s.params["batch_size"]) for s in specs
                                                      if s.mode == "ray-batched"})]
    if not plan:
        return None
    if workload.kind != "lookups":
        return unavailable("the anatomy diagnoses the lookup tasks' shapes only")
    phase(f"task anatomy at {len(plan)} batch size(s) (Ray task events; not timed)")
    try:
        return diagnose(workload.array, workload.query_values, plan, cpus=cpus, placement=placement,
                        other_placement=other_placement)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        return unavailable(f"the diagnostic failed: {exc.__class__.__name__}: {first}".rstrip(": "))

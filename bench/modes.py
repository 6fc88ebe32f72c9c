"""Strategies (modes): the different ways of answering the same workload's items.

Each mode is prepared once per run (pool started, the workload's state put in the
object store), then answers a prefix of the workload's items once per trial. Modes
use only the workload protocol (bench.workload.WorkloadLike), so the seeded lookups
and a user's per-item function (--workload) run through the same code; numpy alone
is lookup-only (its vectorised search has no counterpart for a user function). The
runner times nothing itself that a mode can time more precisely, so a mode
returns its own response time, submission time and sampled per-task latencies.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import time
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from bench.placement import AFFINITY, inline_object_bytes, placed, tasks_leave_driver_node
from bench.workload import LookupWorkload, Workload, WorkloadLike, first_index, lookup_many

# Per-task latency is tracked on at most this many tasks per trial, evenly spread,
# so that tracking never becomes the overhead being measured.
LATENCY_TRACKED_TASKS = 200
NUMPY_CHUNK_CELLS = 4_000_000  # bounds the broadcast matrix to ~4 MB of bools


@dataclass
class TrialOutcome:
    answers: np.ndarray | list  # the workload's answer vector (lookups: int64 array; a function: a list)
    response_s: float
    tasks: int
    submit_s: float | None = None
    task_latencies_s: list[float] = field(default_factory=list)


def tracking_stride(tasks: int) -> int:
    return max(1, math.ceil(tasks / LATENCY_TRACKED_TASKS))


class LatencyTracker:
    """Records submission-to-result time for every `stride`-th task via future callbacks."""

    def __init__(self, tasks: int, on_done=None):
        self.stride = tracking_stride(tasks)
        self._latencies: list[float | None] = []
        self._on_done = on_done  # progress: told `stride` tasks are done per tracked task

    def wants(self, index: int) -> bool:
        return index % self.stride == 0

    def track(self, future: concurrent.futures.Future, submitted_at: float) -> None:
        slot = len(self._latencies)
        self._latencies.append(None)

        def done(_future, slot=slot, submitted_at=submitted_at):
            self._latencies[slot] = time.perf_counter() - submitted_at
            if self._on_done is not None:
                self._on_done(self.stride)

        future.add_done_callback(done)

    def collect(self, timeout_s: float = 5.0) -> list[float]:
        # Callbacks run on another thread and may trail the driver's get() slightly.
        deadline = time.monotonic() + timeout_s
        while any(v is None for v in self._latencies) and time.monotonic() < deadline:
            time.sleep(0.001)
        return [v for v in self._latencies if v is not None]


class Mode:
    name: str = ""
    uses_ray = False
    # Called with a count of finished tasks while a trial runs (progress display only).
    progress_hook = None

    def __init__(self, workload: WorkloadLike, **params):
        self.workload = workload
        self.params = params

    def prepare(self) -> None:
        """One-time set-up, not timed as part of any trial."""

    def trial(self, n: int) -> TrialOutcome:
        raise NotImplementedError

    def tasks_for(self, n: int) -> int:
        return 1

    def close(self) -> None:
        pass


class Sequential(Mode):
    """A plain Python loop in the driver: the seed's baseline and the reference."""

    name = "sequential"

    def trial(self, n: int) -> TrialOutcome:
        workload = self.workload
        state, items = workload.task_state, workload.items(n)
        start = time.perf_counter()
        answers = workload.run_batch(state, items)
        elapsed = time.perf_counter() - start
        return TrialOutcome(workload.answers([answers]), elapsed, tasks=1, task_latencies_s=[elapsed])


def numpy_first_index(array: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Vectorised linear search: the same comparisons, without the interpreter."""
    rows_per_chunk = max(1, NUMPY_CHUNK_CELLS // max(1, array.size))
    out = np.empty(queries.size, dtype=np.int64)
    for start in range(0, queries.size, rows_per_chunk):
        chunk = queries[start : start + rows_per_chunk]
        matches = chunk[:, None] == array[None, :]
        found = matches.any(axis=1)
        out[start : start + chunk.size] = np.where(found, matches.argmax(axis=1), -1)
    return out


class Numpy(Mode):
    """The floor: what the work costs with no per-task or interpreter overhead."""

    name = "numpy"

    def trial(self, n: int) -> TrialOutcome:
        queries = self.workload.query_values[:n]
        start = time.perf_counter()
        answers = numpy_first_index(self.workload.array, queries)
        elapsed = time.perf_counter() - start
        return TrialOutcome(answers, elapsed, tasks=1, task_latencies_s=[elapsed])


def _noop(_=None):
    return None


class Multiprocessing(Mode):
    """multiprocessing.Pool on the driver's node: what a user would pick instead of Ray."""

    name = "multiprocessing"
    CHUNKS_PER_PROCESS = 4

    def __init__(self, workload: WorkloadLike, processes: int, **params):
        super().__init__(workload, processes=processes, **params)
        self.processes = processes
        self.pool = None

    def prepare(self) -> None:
        # spawn, not fork: forking a process that holds Ray's threads is unsafe.
        context = multiprocessing.get_context("spawn")
        self.pool = context.Pool(self.processes)
        self.pool.map(_noop, range(self.processes * 2))

    def chunk_for(self, n: int) -> int:
        return math.ceil(n / min(n, self.processes * self.CHUNKS_PER_PROCESS))

    def tasks_for(self, n: int) -> int:
        return math.ceil(n / self.chunk_for(n))

    def trial(self, n: int) -> TrialOutcome:
        workload = self.workload
        state, items = workload.task_state, workload.items(n)
        chunk = self.chunk_for(n)
        latencies: list[float] = []
        submit = 0.0
        pending = []
        start = time.perf_counter()
        for offset in range(0, n, chunk):
            submitted_at = time.perf_counter()
            pending.append(
                self.pool.apply_async(
                    workload.run_batch,
                    (state, items[offset : offset + chunk]),
                    callback=lambda _r, t=submitted_at: latencies.append(time.perf_counter() - t),
                )
            )
            submit += time.perf_counter() - submitted_at
        parts = [p.get() for p in pending]
        elapsed = time.perf_counter() - start
        return TrialOutcome(workload.answers(parts), elapsed, tasks=len(pending), submit_s=submit, task_latencies_s=latencies)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


@cache
def _ray_functions():
    """Remote functions, created on first use so importing this module touches no Ray."""
    import ray

    @ray.remote
    def search(array, query):
        return first_index(array, query)

    @ray.remote
    def search_batch(array, queries):
        return np.asarray(lookup_many(array.tolist(), queries.tolist()), dtype=np.int64)

    return search, search_batch


@cache
def _workload_functions(run_one, run_stored_batch):
    """Remote functions for any other workload: its own module-level per-item and batch functions."""
    import ray

    return ray.remote(run_one), ray.remote(run_stored_batch)


def remote_functions(workload: WorkloadLike):
    """(one item, one stored batch) remote functions for a workload; the lookups keep their own."""
    if isinstance(workload, LookupWorkload):
        return _ray_functions()
    return _workload_functions(workload.run_one, workload.run_stored_batch)


class RayMode(Mode):
    """A mode whose tasks Ray places: on each CPU node in turn (affinity) or by Ray's default
    (bench.placement). The nodes are listed at prepare, outside every timed window: a node
    lost later has its tasks placed elsewhere (soft affinity); one that joins later gets
    tasks from the next row on."""

    uses_ray = True

    def __init__(self, workload: WorkloadLike, placement: str = AFFINITY, **params):
        super().__init__(workload, placement=placement, **params)
        self.placement = placement
        self.handles: list = []

    def place(self, remote_fn) -> list:
        self.handles = placed(remote_fn, self.placement)
        return self.handles


class RayNaive(RayMode):
    """One task per lookup with the array passed by value: the seed's naive mode."""

    name = "ray-naive"

    def __init__(self, workload: WorkloadLike, window: int | None = None, **params):
        super().__init__(workload, window=window, **params)
        self.window = window

    def prepare(self) -> None:
        self.place(remote_functions(self.workload)[0])

    def tasks_for(self, n: int) -> int:
        return n

    def trial(self, n: int) -> TrialOutcome:
        import ray

        handles = self.handles or self.place(remote_functions(self.workload)[0])
        spread = len(handles)
        array = self.workload.task_state
        queries = self.workload.items(n)
        tracker = LatencyTracker(n, self.progress_hook)
        answers = np.empty(n, dtype=np.int64) if isinstance(self.workload, LookupWorkload) else [None] * n
        window = self.window if self.window and self.window < n else None
        in_flight: dict = {}
        refs = []
        submit = 0.0
        start = time.perf_counter()
        for index, query in enumerate(queries):
            if window and len(in_flight) >= window:
                self._drain(in_flight, answers, keep=window // 2)
            submitted_at = time.perf_counter()
            ref = handles[index % spread].remote(array, query)
            submit += time.perf_counter() - submitted_at
            if window:
                in_flight[ref] = index
            else:
                refs.append(ref)
            if tracker.wants(index):
                tracker.track(ref.future(), submitted_at)
        if window:
            self._drain(in_flight, answers, keep=0)
        else:
            answers[:] = ray.get(refs)
        elapsed = time.perf_counter() - start
        return TrialOutcome(self.workload.answers([answers]), elapsed, tasks=n, submit_s=submit, task_latencies_s=tracker.collect())

    @staticmethod
    def _drain(in_flight: dict, answers, keep: int) -> None:
        """Wait until at most `keep` tasks are outstanding (bounds driver memory)."""
        import ray

        while len(in_flight) > keep:
            ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight) - keep)
            for ref, value in zip(ready, ray.get(ready)):
                answers[in_flight.pop(ref)] = value


class RayBatched(RayMode):
    """B lookups (items) per task, array (the workload's state) put once in the object store:
    the seed's fix, done properly."""

    name = "ray-batched"

    def __init__(self, workload: WorkloadLike, batch_size: int, **params):
        super().__init__(workload, batch_size=batch_size, **params)
        self.batch_size = batch_size
        self.array_ref = None

    def prepare(self) -> None:
        import ray

        self.array_ref = ray.put(self.workload.stored_state)
        self.place(remote_functions(self.workload)[1])

    def tasks_for(self, n: int) -> int:
        return math.ceil(n / self.batch_size)

    def trial(self, n: int) -> TrialOutcome:
        import ray

        handles = self.handles or self.place(remote_functions(self.workload)[1])
        spread = len(handles)
        workload = self.workload
        tasks = self.tasks_for(n)
        tracker = LatencyTracker(tasks, self.progress_hook)
        refs = []
        submit = 0.0
        start = time.perf_counter()
        for index, offset in enumerate(range(0, n, self.batch_size)):
            submitted_at = time.perf_counter()
            ref = handles[index % spread].remote(self.array_ref, workload.stored_items(offset, min(n, offset + self.batch_size)))
            submit += time.perf_counter() - submitted_at
            refs.append(ref)
            if tracker.wants(index):
                tracker.track(ref.future(), submitted_at)
        answers = workload.answers(ray.get(refs))
        elapsed = time.perf_counter() - start
        return TrialOutcome(answers, elapsed, tasks=tasks, submit_s=submit, task_latencies_s=tracker.collect())

    def close(self) -> None:
        self.array_ref = None


MODES = {cls.name: cls for cls in (Sequential, Numpy, Multiprocessing, RayNaive, RayBatched)}


class RayAuto(RayBatched):
    """Batch size chosen from a short probe of per-task overhead and per-lookup work.

    For uniform work the overhead model's optimum is one wave: one task per CPU.
    Measured sweeps agree, and show each extra wave costing more than the probed
    per-task overhead (dispatch and tail effects), so more, smaller tasks only pay
    when tasks would otherwise be long: then load balance and retry granularity
    matter. The probe measures w (inside one task) and c (from a burst of
    one-lookup tasks); see choose_batch_size for the rule.

    When tasks run on other nodes than the driver's, a task's queries and answers
    are kept small enough to travel inline in the task's RPCs: larger objects go
    through the object store and a cross-node transfer, which on the compose
    cluster stalled ~1 s in up to half the trials (B=12,000 never; B=13,000 did).
    """

    name = "ray-auto"
    TARGET_OVERHEAD = 0.05
    MAX_TASK_S = 1.0
    PROBE_LOOKUPS = 2000
    INLINE_MARGIN_BYTES = 1024  # the serialised array's header, with room to spare

    def __init__(self, workload: WorkloadLike, cluster_cpus: int, **params):
        super().__init__(workload, batch_size=1, cluster_cpus=cluster_cpus, **params)
        self.cluster_cpus = max(1, cluster_cpus)
        self.probe: dict = {}

    def prepare(self) -> None:
        import ray

        super().prepare()
        workload = self.workload
        handles, spread = self.handles, len(self.handles)
        timed = _timed_batch_function(workload.time_batch)
        cpus = self.cluster_cpus
        size = workload.size
        sample = workload.stored_items(0, workload.probe_items(self.PROBE_LOOKUPS))
        started = time.perf_counter()
        # w: pure work per lookup, timed inside a worker so no overhead is counted.
        ray.get(timed.remote(self.array_ref, sample[:10]))
        work_s = float(np.median(ray.get([timed.remote(self.array_ref, sample) for _ in range(max(3, cpus))])))
        per_lookup = work_s / len(sample)
        # c: wall time of a burst of one-lookup tasks, per task and per CPU, minus its work.
        burst = max(200, 20 * cpus)
        ray.get([handles[i % spread].remote(self.array_ref, workload.stored_items(i % size, i % size + 1))
                 for i in range(cpus)])
        t0 = time.perf_counter()
        ray.get([handles[i % spread].remote(self.array_ref, workload.stored_items(i % size, i % size + 1))
                 for i in range(burst)])
        wall = time.perf_counter() - t0
        per_task = max(wall * cpus / burst - per_lookup, 1e-7)
        remote = tasks_leave_driver_node()
        inline_bytes = inline_object_bytes()
        # Per lookup, a task carries one query in and one int64 answer out (a user's item and answer:
        # their pickled size).
        bytes_per_lookup = workload.bytes_per_item
        # No cap on one node, or where inlining is off (every object uses the store anyway).
        payload_cap = ((inline_bytes - self.INLINE_MARGIN_BYTES) // bytes_per_lookup
                       if remote and inline_bytes > self.INLINE_MARGIN_BYTES + bytes_per_lookup else None)
        self.batch_size = choose_batch_size(size, cpus, per_task, per_lookup,
                                            self.TARGET_OVERHEAD, self.MAX_TASK_S, payload_cap)
        self.probe = {
            "probe_s": time.perf_counter() - started,
            "per_task_overhead_s": per_task,
            "per_lookup_work_s": per_lookup,
            "target_overhead": self.TARGET_OVERHEAD,
            "max_task_s": self.MAX_TASK_S,
            "tasks_leave_driver_node": remote,
            "inline_object_bytes": inline_bytes,
            "max_lookups_inline": payload_cap,
        }
        self.params.update(batch_size=self.batch_size, probe=self.probe)


def choose_batch_size(queries: int, cpus: int, per_task_s: float, per_lookup_s: float,
                      target: float, max_task_s: float, max_lookups: int | None = None) -> int:
    """One task per CPU, unless its work would exceed max_task_s: then tasks of about
    max_task_s, but never so small that the overhead share c/(B*w) exceeds target.
    max_lookups (objects small enough to travel inline) is a hard cap over all of that.
    The size is then grown (never past the cap) until the task count fills whole waves
    (a multiple of the CPUs) or, failing that, shrunk (by at most half) to split the
    lookups evenly over the next whole number of waves; else the last wave is ragged."""
    if queries <= cpus:
        return 1  # fewer lookups than CPUs: one lookup per task is all the parallelism there is
    per_lookup_s = max(per_lookup_s, 1e-12)
    per_cpu = math.ceil(queries / cpus)
    limit = per_cpu if max_lookups is None else max(1, min(per_cpu, max_lookups))
    overhead_floor = math.ceil(per_task_s / (target * per_lookup_s))
    duration_cap = math.floor(max_task_s / per_lookup_s)
    size = max(1, min(limit, max(overhead_floor, duration_cap)))

    def whole_waves(b: int) -> bool:
        return math.ceil(queries / b) % cpus == 0

    grown = size
    while grown < limit and not whole_waves(grown):
        grown += 1
    if whole_waves(grown) or grown == per_cpu:
        return grown
    # More tasks instead: the next multiple of the CPUs, split evenly.
    tasks = math.ceil(math.ceil(queries / size) / cpus) * cpus
    shrunk = math.ceil(queries / tasks)
    return shrunk if shrunk >= max(1, size // 2) and whole_waves(shrunk) else size


@cache
def _timed_batch_function(time_batch):
    """A remote function returning the seconds of pure work on one stored batch (the workload's
    time_batch: for the lookups, the search without the array conversion)."""
    import ray

    return ray.remote(time_batch)


MODES[RayAuto.name] = RayAuto

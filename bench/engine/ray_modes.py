"""The Ray strategies: one task per lookup (naive, the seed's), batches of B lookups per task
(batched, the seed's fix), and a batch size chosen from a short probe (auto). Each places its
tasks as --placement says (bench.engine.placement) and times its own trial, as every mode does
(bench.engine.modes)."""

from __future__ import annotations

import math
import time
from functools import cache

import numpy as np

from bench.engine.modes import LatencyTracker, Mode, TrialOutcome
from bench.engine.placement import inline_object_bytes, placed, tasks_leave_driver_node
from bench.engine.workload import LookupWorkload, WorkloadLike, first_index, lookup_many
from bench.options import AFFINITY


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
    (bench.engine.placement). The nodes are listed at prepare, outside every timed window: a node
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


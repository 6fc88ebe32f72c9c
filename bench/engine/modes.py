"""Strategies (modes): the different ways of answering the same workload's items.

Each mode is prepared once per run (pool started, the workload's state put in the
object store), then answers a prefix of the workload's items once per trial. Modes
use only the workload protocol (bench.engine.workload.WorkloadLike), so the seeded lookups
and a user's per-item function (--workload) run through the same code; numpy alone
is lookup-only (its vectorised search has no counterpart for a user function). The
runner times nothing itself that a mode can time more precisely, so a mode
returns its own response time, submission time and sampled per-task latencies.

The modes without Ray are here; the Ray modes are in bench.engine.ray_modes. Which class runs
a mode, and everything else a mode is, is declared once in bench.mode_table.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import time
from dataclasses import dataclass, field

import numpy as np

from bench.engine.workload import WorkloadLike

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

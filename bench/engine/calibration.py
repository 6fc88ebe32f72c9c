"""The cluster's raw no-op task rate from this driver: the calibration.

Measured in two places. A short block before the rounds gives the rate the progress bar
predicts naive trials from. Then batches of each kind after every round, interleaved with the
trials like every row, are what the results record: in the compose pairs of 2026-12-01 the
block at the start of a driver session moved 0.87-1.17x between sessions (p < 0.001) while
the naive rows, measured in the rounds, reproduced within 4% (docs/measurements.md). A suite
planned at fewer rounds than `trials` (3 rounds of the standard suite on a slow 2-core VM)
plays several batches after each round, so that its figure, and the placement's same-round
pairs, still come from the rounds.

With `naive_args`, also the rate of no-op tasks that take ray-naive's arguments (the array
by value): the difference is what passing the array costs, so naive's rate over this one
isolates the harness and the lookup work. Every batch goes through the run's --placement
(bench.engine.placement), and one more batch per round through the other one, in the same rounds:
the difference is what Ray's default placement (a spillback hop from a 0-CPU driver node)
costs per task.
"""

from __future__ import annotations

import math
import time

import numpy as np

from bench.engine.placement import RoundRobin, driver_node_cpus
from bench.errors import one_line
from bench.options import PLACEMENTS, RAY_DEFAULT
from bench.stats import MEDIAN_CI_TARGET, Stats, median_ci_rel

CALIBRATION_TASKS = 1000  # per batch, like Ray's single-client async microbenchmark
# The block before the rounds only predicts naive trials (its median, with the warm-up's rate):
# 3 batches of each kind, not `trials`, saved 6 batches (5-8 s on 2 cores) a suite.
BEFORE_ROUNDS_BATCHES = 3
MIN_BOUNDED_BATCHES = 6  # the fewest samples whose median a 95% order-statistic interval bounds (bench.stats)
WITH_ARGS_METHOD = "the same, each task taking ray-naive's arguments (array by value, one query)"
OTHER_PLACEMENT_METHOD = "the same no-op tasks placed the other way (--placement {other}): what the placement costs"


def noop_functions():
    import ray

    @ray.remote
    def noop():
        return None

    @ray.remote
    def noop_with_args(array, query):
        return None

    return noop, noop_with_args


def one_batch(submit_all, tasks: int) -> float:
    """Tasks per second for one batch: submit all, then ray.get."""
    import ray

    start = time.perf_counter()
    ray.get(submit_all())
    return tasks / (time.perf_counter() - start)


def _known(rates: list[float], trials: int, max_trials: int) -> bool:
    return len(rates) >= max_trials or (len(rates) >= trials and median_ci_rel(rates) <= MEDIAN_CI_TARGET)


def _rates(submit_all, batches: int, tasks: int) -> list[float]:
    """The block before the rounds: a warm-up batch (it starts the worker processes), then
    `batches` timed ones. It predicts naive trials for the progress bar; the figure the
    results keep comes from the batches in the rounds once there are `trials` of them, so
    batching on here until its median is known within MEDIAN_CI_TARGET bought nothing (it cost
    25-37 s a suite on 2 cores). Only a suite interrupted before that keeps the block."""
    import ray

    ray.get(submit_all())
    return [one_batch(submit_all, tasks) for _ in range(batches)]


def _block(method: str, rates: list[float]) -> dict:
    return {"method": method, "samples": {"tasks_per_s": list(rates)}, "stats": {"tasks_per_s": Stats(rates).as_dict()}}


class Calibration:
    """The block before the rounds, then batches of each kind after each round (plan: as many
    a round as it takes to reach `trials` in the planned rounds) while fewer than `trials` or
    the median is not yet known within MEDIAN_CI_TARGET, up to max_trials."""

    def __init__(self, trials: int, max_trials: int | None = None, naive_args: tuple | None = None,
                 tasks: int = CALIBRATION_TASKS, placement: str = RAY_DEFAULT, other_placement: bool = False):
        self.trials, self.max_trials, self.tasks = trials, max(trials, max_trials or trials), tasks
        self.placement = placement
        self.other = next(p for p in PLACEMENTS if p != placement)
        noop, with_args = noop_functions()
        here = RoundRobin(noop, placement)
        self.submit = {"noop": lambda: [here.remote() for _ in range(tasks)]}
        if naive_args is not None:
            with_args_here = RoundRobin(with_args, placement, node_ids=here.node_ids)
            self.submit["with_naive_args"] = lambda: [with_args_here.remote(*naive_args) for _ in range(tasks)]
        self.driver_node_cpus = driver_node_cpus() if other_placement else None
        if other_placement:
            there = RoundRobin(noop, self.other)
            self.submit["other_placement"] = lambda: [there.remote() for _ in range(tasks)]
        self.before = {kind: _rates(submit, min(trials, BEFORE_ROUNDS_BATCHES), tasks)
                       for kind, submit in self.submit.items()}
        self.per_round = 1  # batches of each kind after a round (plan)
        self.in_rounds: dict[str, list[float]] = {kind: [] for kind in self.submit}
        self.batch_rounds: list[int] = []  # the round each in-round batch followed
        self.error: str | None = None

    def batches_per_round(self, rounds: int) -> int:
        """Batches of each kind after each of `rounds` planned rounds: enough to reach `trials`."""
        return max(1, math.ceil(self.trials / max(1, rounds)))

    def plan(self, rounds: int) -> None:
        self.per_round = self.batches_per_round(rounds)

    def batches_planned(self, rounds: int) -> tuple[int, int]:
        """How many batches of each kind `rounds` rounds are followed by, and how many rounds have
        any: while fewer than `trials` (several a round, after_round), and, up to max_trials, one
        a round until the median is known, which takes at least MIN_BOUNDED_BATCHES."""
        least = self.trials if self.max_trials <= self.trials else min(self.max_trials, max(self.trials, MIN_BOUNDED_BATCHES))
        per_round, batches, with_batches = self.batches_per_round(rounds), 0, 0
        for _ in range(rounds):
            if batches >= least:
                break
            batches += min(per_round, max(1, self.trials - batches), least - batches)
            with_batches += 1
        return batches, with_batches

    def rounds_cost_s(self, rounds: int, wait_after_s: float = 0.0) -> float:
        """Predicted seconds of the batches after `rounds` rounds (batches_planned), each at its
        kind's rate before the rounds, and wait_after_s after each round that has batches (the
        next trial's wait for Ray's bookkeeping)."""
        one_of_each = sum(self.tasks / max(1e-9, float(np.median(rates))) for rates in self.before.values() if rates)
        batches, with_batches = self.batches_planned(rounds)
        return batches * one_of_each + with_batches * wait_after_s

    def wanted(self) -> bool:
        return self.error is None and not _known(self.in_rounds["noop"], self.trials, self.max_trials)

    def after_round(self, round_index: int) -> None:
        """A batch of each kind while the in-round median is not yet known, and more, up to
        per_round, while fewer than `trials`. A failed batch (a node lost mid-suite) ends the
        in-round calibration; it never costs the suite."""
        for played in range(self.per_round):
            if not self.wanted() or (played and len(self.in_rounds["noop"]) >= self.trials):
                return
            kinds = [kind for kind in self.submit if kind != "other_placement"]
            if "other_placement" in self.submit:  # last, then first, by turns: it never always follows a batch
                kinds.insert(0 if len(self.batch_rounds) % 2 else len(kinds), "other_placement")
            try:
                rates = {kind: one_batch(self.submit[kind], self.tasks) for kind in kinds}
            except Exception as exc:
                self.error = one_line(exc)
                return
            for kind, rate in rates.items():
                self.in_rounds[kind].append(rate)
            self.batch_rounds.append(round_index)

    def _method(self, interleaved: bool) -> str:
        method = f"async no-op tasks, {self.tasks} per batch, submit all then ray.get; "
        if interleaved:
            after = "one batch" if self.per_round == 1 else f"up to {self.per_round} batches"
            return method + (f"{after} after each round, interleaved with the trials, while fewer than {self.trials} "
                             f"or the median is not known within {MEDIAN_CI_TARGET:.0%} (at most {self.max_trials})")
        return method + f"{len(self.before['noop'])} batches before the rounds"

    def _part(self, kind: str, method: str, interleaved: bool) -> dict:
        if not interleaved:  # too few rounds (or none yet) for the planned batches: the block stands
            part = _block(method, self.before[kind])
            if self.in_rounds[kind]:
                part["in_rounds_too_few"] = {"samples": {"tasks_per_s": list(self.in_rounds[kind])},
                                             "trial_rounds": list(self.batch_rounds)}
            return part
        return {**_block(method, self.in_rounds[kind]), "trial_rounds": list(self.batch_rounds),
                "before_rounds": _block("before the rounds (predicts naive trials)", self.before[kind])}

    def record(self) -> dict:
        """The results' calibration block: the in-round batches once there are as many as
        planned (the block before the rounds kept under before_rounds), else the block."""
        interleaved = len(self.in_rounds["noop"]) >= self.trials
        out = {**self._part("noop", self._method(interleaved), interleaved), "tasks_per_trial": self.tasks,
               "placement": self.placement}
        if self.error:
            out["in_rounds_error"] = self.error
        if "with_naive_args" in self.submit:
            out["with_naive_args"] = self._part("with_naive_args", WITH_ARGS_METHOD, interleaved)
        if "other_placement" in self.submit:
            out["other_placement"] = {**self._part("other_placement", OTHER_PLACEMENT_METHOD.format(other=self.other),
                                                   interleaved), "placement": self.other,
                                      "driver_node_cpus": self.driver_node_cpus}
        return out


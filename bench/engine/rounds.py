"""The interleaved rounds: what runs (plan_runs), each row's state while the rounds go on
(Row), the seeded order of each round, the extra rounds for noisy rows within the budget,
and which run an injected fault or a node event belongs to once runs interleave.

Round k plays trial k of every configuration, in a seeded random order (round_order), so
slow drift (a warming machine, a filling object store) and order effects spread over every
configuration instead of biasing the ones that ran late. A configuration with fewer planned
trials than the others plays in rounds spread over the whole plan (planned_rounds_of).
measure_rounds is that schedule; how one trial is played is the caller's
(bench.engine.runner.SuiteRunner).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bench.engine.modes import Mode
from bench.engine.suites import RunConfig
from bench.mode_table import spec_of
from bench.stats import MEDIAN_CI_TARGET, median_ci_rel


# A warm-up plays a quarter of its trial's lookups, at least 1,000 (a naive warm-up of a few
# hundred tasks is mostly the workers' cold start, and its rate predicts the row's trials)
WARMUP_MAX_TASKS, WARMUP_SHARE, WARMUP_MIN_LOOKUPS = 1000, 0.25, 1000


@dataclass(frozen=True)
class RunSpec:
    mode: str
    label: str
    lookups: int
    trials: int
    params: dict = field(default_factory=dict)


def _once(mode: str, config: RunConfig, cluster_cpus: int, driver_cpus: int) -> list[RunSpec]:
    params = {"placement": config.placement} if spec_of(mode).needs_ray else {}
    return [RunSpec(mode, mode, config.queries, config.trials, params)]


def _pool(mode: str, config: RunConfig, cluster_cpus: int, driver_cpus: int) -> list[RunSpec]:
    return [RunSpec(mode, f"{mode} P={driver_cpus}", config.queries, config.trials, {"processes": driver_cpus})]


def _per_task_count(mode: str, config: RunConfig, cluster_cpus: int, driver_cpus: int) -> list[RunSpec]:
    params = {"placement": config.placement, **({"window": config.window} if config.window else {})}
    return [RunSpec(mode, f"{mode} {tasks:,} tasks", tasks, config.trials_for_naive(tasks), params)
            for tasks in config.naive_tasks]


def _per_batch_size(mode: str, config: RunConfig, cluster_cpus: int, driver_cpus: int) -> list[RunSpec]:
    per_cpu = math.ceil(config.queries / max(1, cluster_cpus))
    return [RunSpec(mode, f"{mode} B={size:,}{' (1 task per CPU)' if size == per_cpu else ''}", config.queries,
                    config.trials, {"batch_size": size, "per_cpu": size == per_cpu, "placement": config.placement})
            for size in sorted(set(config.batch_sizes) | {per_cpu})]


def _cluster_sized(mode: str, config: RunConfig, cluster_cpus: int, driver_cpus: int) -> list[RunSpec]:
    return [RunSpec(mode, mode, config.queries, config.trials,
                    {"cluster_cpus": cluster_cpus, "placement": config.placement})]


# How each mode's runs are planned: bench.mode_table's `plan`, by name.
PLANS = {"once": _once, "pool": _pool, "per_task_count": _per_task_count, "per_batch_size": _per_batch_size,
         "cluster_sized": _cluster_sized}


def plan_runs(config: RunConfig, cluster_cpus: int, driver_cpus: int) -> list[RunSpec]:
    return [spec for mode in config.modes
            for spec in PLANS[spec_of(mode).plan](mode, config, cluster_cpus, driver_cpus)]


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
    quiet: list = field(default_factory=list)  # (waited s, host busy cores) before each measured trial
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
    # the quiet wait expected around each of its trials: the quiet check's window, and Ray's
    # bookkeeping after a many-task trial, which the next trial waits for (planning only)
    wait_after_s: float = 0.0
    planned: int | None = None  # its planned trials (plan_trials); None: the spec's

    @property
    def measured(self) -> int:
        return len(self.samples.get("response_s", []))

    @property
    def planned_trials(self) -> int:
        return self.spec.trials if self.planned is None else self.planned

    @property
    def active(self) -> bool:
        return self.error is None and self.stop_reason is None

    def cv(self) -> float:
        return _cv(self.samples.get("response_s", []))

    def median_s(self) -> float:
        times = self.samples.get("response_s") or [0.0]
        return float(np.median(times))

    def median_ci(self) -> float:
        """The median's 95% confidence half-width as a fraction of it (inf under 6 trials)."""
        return median_ci_rel(self.samples.get("response_s", []))

    def settled(self, target_cv: float) -> bool:
        """CV under the target, or, for a row whose trials are noisy by nature, its median
        known within MEDIAN_CI_TARGET: a CV target alone never settles a row with a 30% CV."""
        return self.cv() <= target_cv or self.median_ci() <= MEDIAN_CI_TARGET

    def predicted_s(self) -> float:
        return self.median_s() if self.measured else self.estimate_s

    def warmup_lookups(self, cpus: int) -> int:
        """The warm-up's lookups, a prefix of the trial's: a quarter of them and at least
        WARMUP_MIN_LOOKUPS (it starts the workers and predicts the trial; a whole trial cost the
        heavy suite's warm-ups 24 s), at most WARMUP_MAX_TASKS tasks, and for a Ray mode at least
        one task per CPU, so that every worker has imported the function before the rounds."""
        lookups = self.spec.lookups
        per_task = lookups / max(1, self.mode.tasks_for(lookups))
        floor = math.ceil(per_task * max(1, cpus)) if spec_of(self.spec.mode).needs_ray else 1
        share = max(int(lookups * WARMUP_SHARE), WARMUP_MIN_LOOKUPS, floor)
        return max(1, min(lookups, int(WARMUP_MAX_TASKS * per_task), share))

    def trial_cost_s(self) -> float:
        """What one more trial costs the suite's wall clock: the trial, and the quiet wait
        before it (a cheap trial after a many-task one waits a second for Ray's bookkeeping)."""
        waits = [waited for waited, _busy in self.quiet]
        return self.predicted_s() + (float(np.mean(waits)) if waits else 0.0)

    def precision_per_s(self) -> float:
        """How much one more trial narrows the median's interval, per second it costs: the
        half-width goes as CV / sqrt(n), so trial n + 1 takes CV * (1/sqrt(n) - 1/sqrt(n + 1))
        off it. The extra rounds spend the budget where this is largest."""
        n, cv = max(1, self.measured), self.cv()
        gain = (cv if math.isfinite(cv) else 1.0) * (1 / math.sqrt(n) - 1 / math.sqrt(n + 1))
        return gain / max(self.trial_cost_s(), 1e-9)


def plan_trials(rows: list[Row], config: RunConfig, per_rounds_s: Callable[[int], float] | None = None) -> float:
    """Each row's planned trials, from its predicted cost (the calibration and its warm-up),
    within the suite's time budget; returns their predicted seconds. A cheap row (a trial
    under the suite's cheap_trial_s) plays the suite's trials; a dear one its min_trials:
    its trials are the seconds of the suite, and its noise (a many-task row's CV is a few %)
    rarely needs more, which the extra rounds give it if it does. Then, while the plan's
    predicted time is over the time budget, the dearest rows come down to min_trials too.
    No row goes under min_trials (nor the 100k-task naive row under its own 2): the seed's
    headline rows stay whatever the budget. --trials, when given, is played as given.
    The seconds count each trial with the quiet wait after it (Row.wait_after_s) and
    per_rounds_s(rounds), what the rounds' own bookkeeping costs (the calibration's batches):
    the standard suite's planned rounds took 1.39x its trials' prediction without them."""
    suite = config.suite
    for row in rows:
        floor = min(row.spec.trials, suite.min_trials)
        cheap = config.trials_given or row.predicted_s() <= suite.cheap_trial_s
        row.planned = row.spec.trials if cheap else floor

    def predicted() -> float:
        active = [r for r in rows if r.active]
        rounds = max((r.planned_trials for r in active), default=0)
        return (sum((r.predicted_s() + r.wait_after_s) * r.planned_trials for r in active)
                + (per_rounds_s(rounds) if per_rounds_s and rounds else 0.0))

    if config.time_budget_s is not None and not config.trials_given:
        for row in sorted(rows, key=Row.predicted_s, reverse=True):
            if predicted() <= config.time_budget_s:
                break
            row.planned = min(row.planned_trials, suite.min_trials)
    return predicted()


# The extra rounds add at most this share of the planned rounds' wall time (and at most the
# suite's extra-trial budget): with a budget in seconds alone, a fast machine spent the whole
# 1:30 of it on rows the planned rounds had already measured (stop 36: 16 extra rounds after
# 3:23 of planned ones), so the suite's length no longer followed its machine's speed. 15%:
# 27 s after a standard suite's 3:03 of planned rounds (2026-12-06), about the extra trials a
# quarter bought, less the calibration batches that played in those rounds too.
EXTRA_ROUNDS_SHARE = 0.15


def extra_budget_s(config: RunConfig, planned_s: float) -> float:
    """The extra rounds' budget: EXTRA_ROUNDS_SHARE of the planned rounds' seconds, within the suite's own."""
    return max(0.0, min(config.extra_budget_s, EXTRA_ROUNDS_SHARE * planned_s))


# No extra trial for a row whose one trial would take more than this share of the suite's
# extra-trial budget: one more 85 s naive trial cannot settle a median of 2 trials, and the
# same seconds buy hundreds of trials of the cheap noisy rows.
MAX_EXTRA_TRIAL_SHARE = 0.25


def extra_round_rows(rows: list[Row], target_cv: float, max_trials: int | Callable[[float], int],
                     budget_left_s: float, max_trial_s: float = math.inf) -> list[Row]:
    """Rows that get one more trial: not settled (CV above the target and the median not yet
    known within MEDIAN_CI_TARGET), under the trial cap (a number,
    or a function of the row's median trial time), and whose next trial (its median so far,
    plus its quiet wait) fits in what is left of the budget, within max_trial_s and within a
    fair share of what is left. Most precision per second first (Row.precision_per_s), so a
    small budget goes where a second narrows a median most."""
    cap = max_trials if callable(max_trials) else (lambda _median_s: max_trials)
    wanting = [r for r in rows if r.active and not r.settled(target_cv) and r.measured < cap(r.median_s())
               and r.trial_cost_s() <= budget_left_s and r.median_s() <= max_trial_s]
    # A fair share: no row's trial may cost more than what is left split over the rows still
    # wanting (and affordable), so one slow row cannot spend, round after round, what a cheap
    # one needs.
    share = budget_left_s / max(1, len(wanting))
    chosen, left = [], budget_left_s
    for row in sorted(wanting, key=Row.precision_per_s, reverse=True):
        cost = row.trial_cost_s()
        if cost <= min(left, share):
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


def measure_rounds(rows: list[Row], config: RunConfig, play: Callable[[list[Row], int], None],
                   checkpoint: Callable[[], None], plan: Callable[[float], None]) -> dict:
    """The planned trials, every active row each round; then extra rounds for the rows whose
    CV is above the target, within the extra rounds' budget (extra_budget_s) and what the time
    budget leaves after the planned rounds; then each row's stop reason.
    play(rows, k) plays round k; its wall time, bookkeeping included (machine probe, node count,
    calibration batch), counts against both budgets, which bound the suite's time; checkpoint() follows
    every round; plan(s) announces the predicted seconds of an extra round. Returns the rounds'
    record: the planned rounds' seconds, the extra rounds' budget, their count and seconds."""
    started = time.perf_counter()
    round_index = _planned_rounds(rows, play, checkpoint)
    planned_rounds, planned_s = round_index, time.perf_counter() - started
    for row in rows:
        if row.active and row.settled(config.target_cv):
            row.stop_reason = "stable"
    spent, budget = 0.0, extra_budget_s(config, planned_s)

    def time_left() -> float:
        if config.time_budget_s is None:
            return math.inf
        return config.time_budget_s - (time.perf_counter() - started)

    while True:  # extra rounds where the noise is, within the budgets
        extra = extra_round_rows(rows, config.target_cv, config.trial_cap, min(budget - spent, time_left()),
                                 max_trial_s=MAX_EXTRA_TRIAL_SHARE * budget)
        if not extra:
            break
        round_index += 1
        plan(sum(r.predicted_s() for r in extra))
        round_started = time.perf_counter()
        play(extra, round_index)
        spent += time.perf_counter() - round_started
        for row in extra:
            if row.active and row.settled(config.target_cv):
                row.stop_reason = "stable after extra trials"
        checkpoint()
    for row in rows:
        if row.active:
            row.stop_reason = _unsettled_reason(row, config, time_left_s=time_left(), extra_left_s=budget - spent,
                                                budget_s=budget)
    return {"planned_rounds": planned_rounds, "planned_s": round(planned_s, 3), "extra_share": EXTRA_ROUNDS_SHARE,
            "extra_budget_s": round(budget, 3),
            "extra_rounds": round_index - planned_rounds, "extra_s": round(spent, 3)}


def _unsettled_reason(row: Row, config: RunConfig, time_left_s: float = math.inf,
                      extra_left_s: float = math.inf, budget_s: float | None = None) -> str:
    budget_s = config.extra_budget_s if budget_s is None else budget_s
    if row.measured >= config.trial_cap(row.median_s()):
        return "max trials"
    if budget_s <= 0:
        return "planned trials"
    if row.median_s() > MAX_EXTRA_TRIAL_SHARE * budget_s:
        return "trial too long for extra trials"
    if time_left_s < min(extra_left_s, row.trial_cost_s()):
        return "time budget"
    return "budget"


def planned_rounds_of(trials: int, rounds: int) -> list[int]:
    """The planned rounds (of `rounds`) a row with `trials` trials plays in: spread from the
    first round to the last, so a row with fewer trials than the others (the 100k-task naive
    row, 2 of 5) samples the same stretch of the suite, not only its first minutes: a slow
    spell of the machine early in a run would otherwise move that row alone."""
    if trials >= rounds:
        return list(range(1, trials + 1))
    if trials == 1:
        return [(rounds + 1) // 2]
    return [1 + math.floor(i * (rounds - 1) / (trials - 1) + 0.5) for i in range(trials)]


def _planned_rounds(rows: list[Row], play, checkpoint) -> int:
    planned = max((r.planned_trials for r in rows), default=0)
    schedule = {id(r): planned_rounds_of(r.planned_trials, planned) for r in rows}
    round_index = 0
    while True:
        pending = [r for r in rows if r.active and r.measured < r.planned_trials]
        if not pending:
            return round_index
        round_index += 1
        next_round = {id(r): schedule[id(r)][r.measured] for r in pending}
        due = [r for r in pending if next_round[id(r)] <= round_index]
        if not due:  # the rows planned for this round failed: the next planned come forward
            soonest = min(next_round.values())
            due = [r for r in pending if next_round[id(r)] == soonest]
        play(due, round_index)
        checkpoint()

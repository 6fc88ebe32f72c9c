"""Suite presets and the validated configuration of one benchmark invocation."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import options
from bench.engine.cluster import effective_address
from bench.engine.workload import load_items, resolve_function
from bench.errors import UsageError
from bench.mode_table import names as mode_names, ray_names

WORK_BOUND_MODES = ("sequential", "numpy", "multiprocessing", "ray-batched", "ray-auto")
DEFAULT_BATCH_SIZES = (10, 100, 1000, 10000)
# The seed draws queries from 0..1000 for a 100-element array: ~90% of lookups miss and
# scan it all. Scaling the range with the array keeps that hit rate, so a 100x larger
# array is 100x the work per lookup (a fixed range would stop most scans early).
VALUE_RANGE_PER_ELEMENT = 10


@dataclass(frozen=True)
class Suite:
    name: str
    queries: int
    trials: int
    naive_tasks: tuple[int, ...]
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    # The 100k-task naive point takes 1-4 minutes per trial on 2 cores and its CV is ~5%. One
    # trial is the seed's figure; a second seldom decided a verdict: 2 trials are too few for
    # bench repro's rank test (the least p is 0.33), and a claim's interval from 2 same-round
    # pairs has 1 degree of freedom (t = 12.7; docs/design.md). The 10k-task point pins the
    # same per-task rate with all the trials.
    large_naive_tasks: int = 100_000
    large_naive_trials: int = 1
    calibration_trials: int = 5
    # more calibration trials, up to this many, until its median is known (bench.engine.calibration)
    calibration_max_trials: int = 15
    modes: tuple[str, ...] = field(default_factory=mode_names)
    window: int | None = None
    array_size: int = 100
    # Extra rounds go to rows whose response-time CV is above target_cv, within this
    # many seconds of extra trials per suite and at most max_trials_factor x trials a row.
    target_cv: float = 0.05
    extra_budget_s: float = 60.0
    max_trials_factor: int = 3
    # A cheap row may go past that cap, up to cheap_max_trials or cheap_row_s of its own
    # trials: the median of a noisy 0.2 s row needs tens of trials to be known within a few
    # percent (its standard error goes as CV / sqrt(n)), and they cost seconds. A 20 ms row
    # with a 30% CV (a batched row on 2 cores) needs about 100 for +-5% (bench.engine.rounds).
    cheap_row_s: float = 20.0
    cheap_max_trials: int = 100
    # Trials are planned by precision per second (bench.engine.rounds.plan_trials): a row whose
    # trial takes over cheap_trial_s plays min_trials, the others `trials`; the time budget
    # bounds the measured rounds' wall time, planned and extra trials together (None: no bound).
    min_trials: int = 3
    cheap_trial_s: float = 2.0
    time_budget_s: float | None = None
    # The placement lesson (the other placement's calibration batches in every round) and the
    # task anatomy: the standard suite measures them; the heavy suite, on the same cluster
    # minutes later, is about the work (about 20 s of its run on a 2-core VM, 2026-12-06, estimated:
    # the anatomy took 11 s, the other placement's batches are about a third of the calibration's).
    diagnostics: bool = True
    description: str = ""


SUITES = {
    "quick": Suite(
        "quick", queries=20_000, trials=3, naive_tasks=(1_000, 5_000), calibration_trials=3,
        calibration_max_trials=3, extra_budget_s=10.0, time_budget_s=60.0,
        description="smoke-sized: every mode, 20k lookups, 1-2 min on 2 cores",
    ),
    "standard": Suite(
        # The seed's batches (100 and 1,000 lookups a task) and one task per CPU; B = 10 (10,000
        # tasks) measured the per-task cost the 10k-task naive row already does, at 27 s a trial on
        # the slow machine (the shared file: 138 of its 723 s of trials). The full suite keeps it.
        "standard", queries=100_000, trials=5, naive_tasks=(1_000, 10_000, 100_000), batch_sizes=(100, 1000, 10000),
        extra_budget_s=90.0, time_budget_s=300.0,
        description="the seed's scale: 100k lookups, naive at 1k/10k/100k tasks",
    ),
    "full": Suite(
        "full", queries=100_000, trials=10, naive_tasks=(1_000, 10_000, 100_000),
        batch_sizes=(10, 30, 100, 300, 1000, 3000, 10000, 30000), large_naive_trials=5,
        calibration_trials=10, calibration_max_trials=30, extra_budget_s=180.0, min_trials=10,  # all 10: its point
        description="more trials and a finer batch sweep",
    ),
    "heavy": Suite(
        # 15,000 lookups: trials of 1.3-3.8 s on 2 cores (20,000 took a third longer), and B = 1,000
        # is 15 tasks, 5 per worker (20 were 7, 7 and 6: the efficiency capped at 95% by the split)
        "heavy", queries=15_000, trials=5, naive_tasks=(), batch_sizes=(100, 1000), array_size=10_000,
        # min_trials 5: its claims (c, w, break-even, efficiency) rest on its batched rows' same-round
        # pairs, and 3 gave intervals too narrow to trust (docs/measurements.md, 2026-12-05 pair 6)
        modes=WORK_BOUND_MODES, extra_budget_s=30.0, min_trials=5, time_budget_s=100.0, diagnostics=False,
        description="work-bound regime: a 10k-element array (value range scaled with it), 100x the seed's work per lookup",
    ),
    "stress": Suite(
        "stress", queries=1_000_000, trials=1, naive_tasks=(1_000_000,), modes=("ray-naive",),
        large_naive_trials=1, calibration_trials=3, calibration_max_trials=3, window=100_000, extra_budget_s=0.0,
        description="1M naive tasks submitted in windows (ray.wait) to bound driver memory",
    ),
}


# The per-option checks live with the option table (bench.options); the old names stay.
_positive_int = options.positive_int
_fraction = options.fraction
_seconds = options.seconds
_int_list = options.int_list


def _mode_list(value) -> tuple[str, ...]:
    return options.mode_list("modes", value)


@dataclass(frozen=True)
class RunConfig:
    suite: Suite
    queries: int
    array_size: int
    value_range: int
    seed: int
    trials: int
    modes: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    naive_tasks: tuple[int, ...]
    address: str | None
    expect_nodes: int | None
    expect_timeout_s: float
    num_cpus: int | None
    window: int | None
    quiet: bool
    placement: str = "affinity"  # bench.engine.placement: where the Ray modes' tasks go
    trials_given: bool = False
    target_cv: float = 0.05
    extra_budget_s: float = 0.0
    time_budget_s: float | None = None  # the measured rounds' wall time, planned and extra trials
    workload: str | None = None  # MODULE:FUNCTION: a user's per-item function instead of the lookups
    items: int | None = None  # its item count (= queries); None for the lookups
    items_from: str | None = None  # MODULE:FUNCTION giving the items instead of range(items)

    @property
    def max_trials(self) -> int:
        return self.trials * self.suite.max_trials_factor

    def trial_cap(self, median_s: float) -> int:
        """The most trials a row whose trials take median_s may get (max_trials, or more
        for a cheap row: at most cheap_max_trials, within cheap_row_s of its trials)."""
        cheap = int(self.suite.cheap_row_s / median_s) if median_s > 0 else 0
        return max(self.max_trials, min(self.suite.cheap_max_trials, cheap))

    @property
    def needs_ray(self) -> bool:
        return any(m in ray_names() for m in self.modes)

    def describe(self) -> dict:
        """The validated parameters, recorded in results so a run can be repeated exactly:
        every option of bench.options.OPTIONS that is part of the same experiment."""
        return options.describe(self)

    def trials_for_naive(self, tasks: int) -> int:
        if tasks >= self.suite.large_naive_tasks and not self.trials_given:
            return min(self.trials, self.suite.large_naive_trials)
        return self.trials


def build_config(**given) -> RunConfig:
    """Validate every parameter up front, so bad input costs nothing and writes nothing.
    The keywords and their defaults are bench.options.OPTIONS (those with in_config)."""
    value = options.with_defaults(given)
    check = {opt.name: opt.check for opt in options.CONFIG_OPTIONS}
    function = check["workload"](value["workload"])
    preset = SUITES[check["suite"](_or(value["suite"], "quick" if function else "standard"))]
    seed = check["seed"](value["seed"])
    if function:
        queries, items, items_from = _user_items(function, value, check, preset)
        array_size = value_range = None
    else:
        for name in ("items", "items_from"):
            if value[name] is not None:
                raise UsageError(f"{options.BY_NAME[name].flag} applies only with --workload MODULE:FUNCTION")
        items = items_from = None
        queries = check["queries"](_or(value["queries"], preset.queries))
        array_size = check["array_size"](_or(value["array_size"], preset.array_size))
        value_range = check["value_range"](_or(value["value_range"], array_size * VALUE_RANGE_PER_ELEMENT))
    trials_given = value["trials"] is not None
    trials = check["trials"](_or(value["trials"], preset.trials))
    chosen_modes = preset.modes if value["modes"] is None else check["modes"](value["modes"])
    if function:
        chosen_modes = _without_numpy(chosen_modes)
    sizes = _sized("batch_sizes", value["batch_sizes"], queries,
                   lambda: tuple(b for b in preset.batch_sizes if b <= queries))
    tasks = _sized("naive_tasks", value["naive_tasks"], queries,
                   lambda: tuple(sorted({min(t, queries) for t in preset.naive_tasks})))
    address = check["address"](value["address"])
    expect_nodes = check["expect_nodes"](value["expect_nodes"])
    expect_timeout = check["expect_timeout"](value["expect_timeout"])
    num_cpus = check["num_cpus"](value["num_cpus"])
    _check_embedded_only(num_cpus, address, chosen_modes)
    return RunConfig(
        suite=preset, queries=queries, array_size=array_size, value_range=value_range, seed=seed,
        trials=trials, modes=chosen_modes, batch_sizes=sizes, naive_tasks=tasks, address=address,
        expect_nodes=expect_nodes, expect_timeout_s=expect_timeout, num_cpus=num_cpus,
        window=check["window"](_or(value["window"], preset.window)), quiet=check["quiet"](value["quiet"]),
        trials_given=trials_given, target_cv=check["target_cv"](_or(value["target_cv"], preset.target_cv)),
        extra_budget_s=check["budget"](_or(value["budget"], preset.extra_budget_s)),
        time_budget_s=check["time_budget"](_or(value["time_budget"], preset.time_budget_s)),
        workload=function, items=items, items_from=items_from, placement=check["placement"](value["placement"]),
    )


def _user_items(function: str, value: dict, check: dict, preset: Suite) -> tuple[int, int, str | None]:
    """--workload's items: (queries, items, items_from). The function (and --items-from's) is
    imported here, so a bad spec is exit 2 before anything starts. --queries is the item count
    too (a recorded config renders both); the lookups' array options do not apply."""
    for name in ("array_size", "value_range"):
        if value[name] is not None:
            raise UsageError(f"{options.BY_NAME[name].flag} applies to the lookups, not to --workload {function}")
    resolve_function(function)
    items_from = check["items_from"](value["items_from"])
    count = check["items"](value["items"])
    if items_from is not None:
        if count is not None:
            raise UsageError("give --items N (range(N)) or --items-from MODULE:FUNCTION, not both")
        count = len(load_items(items_from))
    queries = check["queries"](value["queries"]) if value["queries"] is not None else None
    if count is not None and queries is not None and queries != count:
        raise UsageError(f"--queries {queries} and --items {count} differ: with --workload give --items only")
    count = count or queries or preset.queries
    return count, count, items_from


def _without_numpy(modes: tuple[str, ...]) -> tuple[str, ...]:
    """numpy has no meaning for a user function: it is skipped (bench.engine.workload.NUMPY_SKIPPED)."""
    kept = tuple(m for m in modes if m != "numpy")
    if not kept:
        raise UsageError("numpy has no meaning for a user function (--workload): choose other --modes")
    return kept


build_config.__signature__ = options.signature(options.CONFIG_OPTIONS)


def _or(value, default):
    return default if value is None else value


def _sized(name: str, value, queries: int, default) -> tuple[int, ...]:
    """A list option whose items cannot exceed --queries (batch sizes, naive task counts)."""
    if value is None:
        return default()
    opt = options.BY_NAME[name]
    items = opt.check(value)
    too_big = [item for item in items if item > queries]
    if too_big:
        raise UsageError(f"{opt.flag} {too_big[0]} is larger than --queries {queries}")
    return items


def _check_embedded_only(num_cpus, address, modes) -> None:
    if num_cpus is None:
        return
    if address is not None:
        raise UsageError("--num-cpus applies only to the embedded Ray (no --address)")
    joins = effective_address(address) if any(m in ray_names() for m in modes) else address
    if joins is not None:  # ray job submit / RayJob: RAY_ADDRESS names the cluster
        raise UsageError("--num-cpus applies only to the embedded Ray, and RAY_ADDRESS is set "
                         "(this run joins that cluster): drop --num-cpus or unset RAY_ADDRESS")


__all__ = ["SUITES", "RunConfig", "build_config"]

"""Suite presets and the validated configuration of one benchmark invocation."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from bench.errors import UsageError

RAY_MODES = ("ray-naive", "ray-batched", "ray-auto")
ALL_MODES = ("sequential", "numpy", "multiprocessing", *RAY_MODES)
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
    # The 100k-task naive point takes 1-4 minutes per trial on 2 cores and its CV is
    # ~5%: 2 trials suffice (the 10k point pins the same rate with all the trials).
    large_naive_tasks: int = 100_000
    large_naive_trials: int = 2
    calibration_trials: int = 5
    modes: tuple[str, ...] = ALL_MODES
    window: int | None = None
    array_size: int = 100
    # Extra rounds go to rows whose response-time CV is above target_cv, within this
    # many seconds of extra trials per suite and at most max_trials_factor x trials a row.
    target_cv: float = 0.05
    extra_budget_s: float = 60.0
    max_trials_factor: int = 3
    description: str = ""


SUITES = {
    "quick": Suite(
        "quick", queries=20_000, trials=3, naive_tasks=(1_000, 5_000), calibration_trials=3,
        extra_budget_s=10.0,
        description="smoke-sized: every mode, 20k lookups, ~1 min on 2 cores",
    ),
    "standard": Suite(
        "standard", queries=100_000, trials=5, naive_tasks=(1_000, 10_000, 100_000),
        description="the seed's scale: 100k lookups, naive at 1k/10k/100k tasks",
    ),
    "full": Suite(
        "full", queries=100_000, trials=10, naive_tasks=(1_000, 10_000, 100_000),
        batch_sizes=(10, 30, 100, 300, 1000, 3000, 10000, 30000), large_naive_trials=5,
        calibration_trials=10, extra_budget_s=180.0, description="more trials and a finer batch sweep",
    ),
    "heavy": Suite(
        "heavy", queries=20_000, trials=5, naive_tasks=(), batch_sizes=(100, 1000), array_size=10_000,
        modes=WORK_BOUND_MODES, extra_budget_s=30.0,
        description="work-bound regime: a 10k-element array (value range scaled with it), 100x the seed's work per lookup",
    ),
    "stress": Suite(
        "stress", queries=1_000_000, trials=1, naive_tasks=(1_000_000,), modes=("ray-naive",),
        large_naive_trials=1, calibration_trials=3, window=100_000, extra_budget_s=0.0,
        description="1M naive tasks submitted in windows (ray.wait) to bound driver memory",
    ),
}


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, str) and value.strip().lstrip("+").isdigit():
            value = int(value)
        else:
            raise UsageError(f"--{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise UsageError(f"--{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _fraction(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not 0 < number < 1:
        raise UsageError(f"--{name} must be a fraction between 0 and 1 (e.g. 0.05), got {value!r}")
    return number


def _seconds(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not 0 <= number < math.inf:
        raise UsageError(f"--{name} must be a number of seconds >= 0, got {value!r}")
    return number


def _int_list(name: str, value) -> tuple[int, ...]:
    """Accepts 10,100 (Fire gives a tuple), '10,100', [10, 100] or a single int."""
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise UsageError(f"--{name} needs at least one value")
    return tuple(_positive_int(name, item) for item in items)


def _mode_list(value) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    modes = tuple(str(item).strip() for item in items if str(item).strip())
    unknown = [m for m in modes if m not in ALL_MODES]
    if unknown or not modes:
        raise UsageError(f"unknown mode {', '.join(unknown) or '(none)'}; choose from {', '.join(ALL_MODES)}")
    return tuple(dict.fromkeys(modes))


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
    trials_given: bool = False
    target_cv: float = 0.05
    extra_budget_s: float = 0.0

    @property
    def max_trials(self) -> int:
        return self.trials * self.suite.max_trials_factor

    @property
    def needs_ray(self) -> bool:
        return any(m in RAY_MODES for m in self.modes)

    def describe(self) -> dict:
        """The validated parameters, recorded in results so a run can be repeated exactly."""
        return {
            "suite": self.suite.name, "modes": list(self.modes), "queries": self.queries,
            "array_size": self.array_size, "value_range": self.value_range, "seed": self.seed,
            "trials": self.trials, "batch_sizes": list(self.batch_sizes), "naive_tasks": list(self.naive_tasks),
            "address": self.address, "expect_nodes": self.expect_nodes, "num_cpus": self.num_cpus,
            "window": self.window, "target_cv": self.target_cv, "extra_budget_s": self.extra_budget_s,
        }

    def trials_for_naive(self, tasks: int) -> int:
        if tasks >= self.suite.large_naive_tasks and not self.trials_given:
            return min(self.trials, self.suite.large_naive_trials)
        return self.trials


def build_config(
    suite="standard",
    modes=None,
    queries=None,
    array_size=None,
    value_range=None,
    seed=42,
    trials=None,
    batch_sizes=None,
    naive_tasks=None,
    address=None,
    expect_nodes=None,
    expect_timeout=120,
    num_cpus=None,
    window=None,
    quiet=False,
    target_cv=None,
    budget=None,
) -> RunConfig:
    """Validate every parameter up front, so bad input costs nothing and writes nothing."""
    if suite not in SUITES:
        raise UsageError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
    preset = SUITES[suite]
    queries = _positive_int("queries", preset.queries if queries is None else queries)
    array_size = _positive_int("array-size", preset.array_size if array_size is None else array_size)
    value_range = _positive_int(
        "value-range", array_size * VALUE_RANGE_PER_ELEMENT if value_range is None else value_range)
    seed = _positive_int("seed", seed, minimum=0)
    trials_given = trials is not None
    trials = _positive_int("trials", preset.trials if trials is None else trials)
    chosen_modes = preset.modes if modes is None else _mode_list(modes)

    if batch_sizes is None:
        sizes = tuple(b for b in preset.batch_sizes if b <= queries)
    else:
        sizes = _int_list("batch-sizes", batch_sizes)
        too_big = [b for b in sizes if b > queries]
        if too_big:
            raise UsageError(f"--batch-sizes {too_big[0]} is larger than --queries {queries}")
    if naive_tasks is None:
        tasks = tuple(sorted({min(t, queries) for t in preset.naive_tasks}))
    else:
        tasks = _int_list("naive-tasks", naive_tasks)
        too_many = [t for t in tasks if t > queries]
        if too_many:
            raise UsageError(f"--naive-tasks {too_many[0]} is larger than --queries {queries}")

    from bench.cluster import effective_address, parse_address

    address = parse_address(address)
    if expect_nodes is not None:
        expect_nodes = _positive_int("expect-nodes", expect_nodes)
    if isinstance(expect_timeout, bool) or not isinstance(expect_timeout, numbers.Real) or expect_timeout <= 0:
        raise UsageError(f"--expect-timeout must be a positive number of seconds, got {expect_timeout!r}")
    if num_cpus is not None:
        num_cpus = _positive_int("num-cpus", num_cpus)
        if address is not None:
            raise UsageError("--num-cpus applies only to the embedded Ray (no --address)")
    joins = effective_address(address) if any(m in RAY_MODES for m in chosen_modes) else address
    if num_cpus is not None and joins is not None:  # ray job submit / RayJob: RAY_ADDRESS names the cluster
        raise UsageError("--num-cpus applies only to the embedded Ray, and RAY_ADDRESS is set "
                         "(this run joins that cluster): drop --num-cpus or unset RAY_ADDRESS")
    window = preset.window if window is None else _positive_int("window", window)
    target_cv = _fraction("target-cv", preset.target_cv if target_cv is None else target_cv)
    budget = _seconds("budget", preset.extra_budget_s if budget is None else budget)
    return RunConfig(
        suite=preset, queries=queries, array_size=array_size, value_range=value_range, seed=seed,
        trials=trials, modes=chosen_modes, batch_sizes=sizes, naive_tasks=tasks, address=address,
        expect_nodes=expect_nodes, expect_timeout_s=float(expect_timeout), num_cpus=num_cpus,
        window=window, quiet=bool(quiet), trials_given=trials_given, target_cv=target_cv,
        extra_budget_s=budget,
    )


__all__ = ["SUITES", "ALL_MODES", "RAY_MODES", "RunConfig", "build_config"]

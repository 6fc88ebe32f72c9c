"""The one table of `bench run`'s options, and everything derived from it.

Each option is declared once, in OPTIONS: its name (the keyword of `bench run` and of
bench.engine.suites.build_config), its default, its help line, how its value is checked, whether it
is part of "the same experiment" (recorded in the results file's config by
RunConfig.describe, rendered back into a command by argv_from_config, re-applied by
`bench repro`), and how it is written back on a command line. From this table come:

  * build_config's keywords and defaults (bench.engine.suites),
  * the CLI's `run` signature, its --help text and its allowed flags (bench.cli),
  * RunConfig.describe, the config a results file records (bench.engine.suites),
  * the recorded-key -> option-name map `bench repro` re-applies (bench.analysis.repro),
  * argv_from_config, the `python -m bench run ...` that repeats a recorded config.

Checks that relate two options (batch sizes against queries, --num-cpus without an address)
stay in build_config; the per-option checks are the parsers below.
"""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from bench import mode_table
from bench.errors import UsageError

# --placement's choices (bench.engine.placement says what each does), and the Ray setting whose
# default makes a small cluster's leases land on one node.
AFFINITY, RAY_DEFAULT = "affinity", "default"
PLACEMENTS = (AFFINITY, RAY_DEFAULT)
TOP_K_FRACTION = "RAY_scheduler_top_k_fraction"

# The values --suite accepts (bench.engine.suites defines what each runs); --modes: bench.mode_table.
SUITE_NAMES = ("quick", "standard", "full", "heavy", "stress")

# --- per-option parsers: (name as the user spells it, value) -> the checked value ------------


def positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, str) and value.strip().lstrip("+").isdigit():
            value = int(value)
        else:
            raise UsageError(f"--{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise UsageError(f"--{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def non_negative_int(name: str, value) -> int:
    return positive_int(name, value, minimum=0)


def fraction(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not 0 < number < 1:
        raise UsageError(f"--{name} must be a fraction between 0 and 1 (e.g. 0.05), got {value!r}")
    return number


def seconds(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not 0 <= number < math.inf:
        raise UsageError(f"--{name} must be a number of seconds >= 0, got {value!r}")
    return number


def positive_seconds(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise UsageError(f"--{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def int_list(name: str, value) -> tuple[int, ...]:
    """Accepts 10,100 (Fire gives a tuple), '10,100', [10, 100] or a single int."""
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise UsageError(f"--{name} needs at least one value")
    return tuple(positive_int(name, item) for item in items)


def mode_list(name: str, value) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    modes = tuple(str(item).strip() for item in items if str(item).strip())
    unknown = [m for m in modes if m not in mode_table.names()]
    if unknown or not modes:
        raise UsageError(f"unknown mode {', '.join(unknown) or '(none)'}; choose from {', '.join(mode_table.names())}")
    return tuple(dict.fromkeys(modes))


def suite_name(name: str, value) -> str:
    if value not in SUITE_NAMES:
        raise UsageError(f"unknown suite {value!r}; choose from {', '.join(SUITE_NAMES)}")
    return value


def address(name: str, value):
    return parse_address(value)


def function_spec(name: str, value) -> str:
    """MODULE:FUNCTION, its syntax only (build_config imports it: bench.engine.workload.resolve_function)."""
    text = str(value).strip() if value is not None else ""
    module, sep, attr = text.partition(":")
    if isinstance(value, bool) or not sep or not module.strip() or not attr.strip() or ":" in attr:
        raise UsageError(f"--{name} must be MODULE:FUNCTION (e.g. bench.examples.workloads:cpu_bound), got {value!r}")
    return f"{module.strip()}:{attr.strip()}"


def placement_name(name: str, value) -> str:
    if value not in PLACEMENTS:
        raise UsageError(f"--{name} must be one of {', '.join(PLACEMENTS)}, got {value!r}")
    return value


def flag(name: str, value) -> bool:
    return bool(value)


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One option of `bench run`."""

    name: str  # the keyword of `bench run` and of build_config; the flag is --name-with-dashes
    default: Any  # None: the suite's (or a derived) default, named in help
    help: str
    parse: Callable[[str, Any], Any] | None = None  # the per-option check; None: taken as given
    experiment: bool = True  # part of the same experiment: recorded, rendered to argv, re-applied by repro
    record: str | None = None  # its key in the results' config (default: name) when experiment
    attr: str | None = None  # the RunConfig attribute holding the checked value (default: the record key)
    listed: bool = False  # rendered back as a comma list
    in_config: bool = True  # a build_config keyword (False: what `bench run` does with the file)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def spelled(self) -> str:
        """The name as the user writes it in messages (--array-size -> array-size)."""
        return self.flag[2:]

    @property
    def key(self) -> str | None:
        """The key in the results file's config; None when not recorded."""
        return (self.record or self.name) if self.experiment else None

    def check(self, value):
        """The checked value; None stays None where None is the default (the suite's)."""
        if self.parse is None or (value is None and self.default is None):
            return value
        return self.parse(self.spelled, value)

    def render(self, value) -> list[str]:
        """This option's part of a command line repeating value; [] when there is nothing to say."""
        if value is None or (isinstance(value, (list, tuple)) and not value):
            return []
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        return [self.flag, str(value)]


OPTIONS: tuple[Option, ...] = (
    Option("suite", None, "quick | standard (default; quick with --workload) | full | heavy (work-bound) | "
           "stress (1M naive tasks).", suite_name),
    Option("modes", None, "comma list of sequential,numpy,multiprocessing,ray-naive,ray-batched,ray-auto "
           "(default: the suite's).", mode_list, listed=True),
    Option("queries", None, "number of lookups (suite default: quick 20000, standard 100000).", positive_int),
    Option("array_size", None, "elements in the searched array (suite default: 100; heavy 10000).", positive_int),
    Option("value_range", None, "values are drawn from 0..value_range (default 10 x array size: 1000 for the "
           "seed's 100).", positive_int),
    Option("seed", 42, "workload seed (default 42).", non_negative_int),
    Option("workload", None, "MODULE:FUNCTION: benchmark your own per-item function instead of the lookups "
           "(answers must be picklable and comparable with ==; numpy is skipped; the module must be importable "
           "on every node: embedded Ray adds its directory to the workers' PYTHONPATH, a cluster needs e.g. "
           "ray job submit --working-dir).", function_spec),
    Option("items", None, "with --workload: the items are range(N) (default: the suite's --queries).",
           positive_int),
    Option("items_from", None, "with --workload: MODULE:FUNCTION returning the list of items instead.",
           function_spec),
    Option("trials", None, "measured trials per run (suite default: quick 3, standard 5, full 10; warm-up is extra; "
           "unless --trials is given, a standard run whose trial takes over 2 s plays 3, naive runs of 100k "
           "tasks or more 1 in standard, 5 in full; noisy runs get more).", positive_int),
    Option("batch_sizes", None, "comma list for the ray-batched sweep (standard 100,1000,10000; quick "
           "10,100,1000,10000; each + one task per CPU).", int_list, listed=True),
    Option("naive_tasks", None, "comma list of task counts for ray-naive (standard: 1000,10000,100000).",
           int_list, listed=True),
    Option("address", None, "omit for an embedded local Ray; 'auto' or HOST:PORT joins a cluster.", address),
    Option("expect_nodes", None, "wait until this many alive nodes with CPUs exist.", positive_int),
    Option("expect_timeout", 120, "seconds to wait for --expect-nodes (default 120).", positive_seconds,
           experiment=False, attr="expect_timeout_s"),
    Option("num_cpus", None, "CPUs for the embedded Ray (default: all).", positive_int),
    Option("placement", "affinity", "where Ray tasks go: affinity (default: each task to the next CPU node in turn, "
           "by soft node affinity: no spillback hop from a driver on a 0-CPU node) | default (Ray's own "
           "scheduler: such a driver's every lease is spilled back to a worker, one hop more).", placement_name),
    Option("window", None, "submit ray-naive tasks in windows of this many outstanding refs.", positive_int),
    Option("target_cv", None, "rows whose response-time CV is above this get extra trials (default 0.05).",
           fraction),
    Option("budget", None, "seconds of extra trials per suite for those rows (suite default; 0: none).", seconds,
           record="extra_budget_s"),
    Option("time_budget", None, "seconds for a suite's measured rounds, planned and extra trials together "
           "(suite default: standard 300, heavy 100, quick 60, full and stress none): over it, dear rows are "
           "planned at their fewest trials (3; the 100k-task naive row 2, always kept) and no extra round "
           "starts.", seconds, record="time_budget_s"),
    Option("out", None, "results path (default results/<suite>-<utc>.json); never overwritten without --force.",
           experiment=False, in_config=False),
    Option("force", False, "overwrite an existing --out file.", experiment=False, in_config=False),
    Option("quiet", False, "no progress bar.", flag, experiment=False),
)

BY_NAME: Mapping[str, Option] = {opt.name: opt for opt in OPTIONS}
CONFIG_OPTIONS = tuple(opt for opt in OPTIONS if opt.in_config)
EXPERIMENT_OPTIONS = tuple(opt for opt in OPTIONS if opt.experiment)
# results config key -> the option that sets it again (extra_budget_s -> budget)
OPTION_NAMES: Mapping[str, str] = {opt.key: opt.name for opt in EXPERIMENT_OPTIONS}
# Keys the runner adds to the recorded config: outcomes, not options to set again.
# "reconstructed_from" marks a config rebuilt from a v1 file's runs (bench.results.upgrade_v1_to_v2).
RECORDED_NOT_OPTIONS = frozenset({"order", "gc", "quiet_before_trial", "median_ci_target", "measuring_since_unix",
                                  "reconstructed_from"})


def signature(options=OPTIONS, self_param: bool = False, keyword_only: bool = False) -> inspect.Signature:
    """A Signature with one keyword per option and its default (for Fire and for introspection);
    keyword_only: flags only, as on the command line."""
    kind = inspect.Parameter.KEYWORD_ONLY if keyword_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] if self_param else []
    params += [inspect.Parameter(opt.name, kind, default=opt.default) for opt in options]
    return inspect.Signature(params)


def args_doc(options=OPTIONS) -> str:
    """The Google-style "Args:" block Fire shows in --help."""
    return "Args:\n" + "\n".join(f"  {opt.name}: {opt.help}" for opt in options)


def with_defaults(given: Mapping[str, Any], options=CONFIG_OPTIONS) -> dict:
    """Every option's value: given, else its default. An unknown keyword is a TypeError, as for a def."""
    names = {opt.name for opt in options}
    unknown = [key for key in given if key not in names]
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    return {opt.name: given.get(opt.name, opt.default) for opt in options}


def describe(config) -> dict:
    """The recorded config of a RunConfig: every experiment option, by its key, as JSON values."""
    out = {}
    for opt in EXPERIMENT_OPTIONS:
        value = getattr(config, opt.attr or opt.key)
        if opt.name == "suite":
            value = value.name
        out[opt.key] = list(value) if isinstance(value, tuple) else value
    return out


def recorded_placement(config: Mapping[str, Any]) -> str | None:
    """Where a recorded run's Ray tasks went: its --placement, or Ray's default for a file from
    before the option that ran a Ray mode (None when it ran none)."""
    modes = config.get("modes")
    if config.get("placement") is not None or modes is None:
        return config.get("placement")
    return "default" if set(modes) & set(mode_table.ray_names()) else None


def argv_from_config(config: Mapping[str, Any]) -> list[str]:
    """`python -m bench run` with every recorded experiment option as an explicit flag: exact,
    whatever the defaults become. config is a results file's config (Results.config), from a
    v2 file or a v1 file upgraded on load; keys that are not options are ignored."""
    argv = ["python", "-m", "bench", "run", "--suite", str(config.get("suite") or "standard")]
    for opt in EXPERIMENT_OPTIONS:
        if opt.name != "suite":
            argv += opt.render(recorded_placement(config) if opt.name == "placement" else config.get(opt.key))
    return argv


__all__ = ["OPTIONS", "Option", "argv_from_config", "describe", "signature", "with_defaults"]


def parse_address(address: str | None) -> str | None:
    """None (embedded), 'auto', or HOST:PORT. Anything else is a usage error."""
    if address is None or address == "":
        return None
    address = str(address)
    if address == "auto":
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--address must be 'auto' or HOST:PORT, got {address!r}")
    return address

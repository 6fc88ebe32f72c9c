"""`bench repro RESULTS.json`: run what a results file records again, on the cluster at hand,
then judge the new file row by row (bench.analysis.repro's verdicts)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Mapping

from bench import options as option_table
from bench import results as results_io
from bench.analysis.repro import (OPTION_NAMES, RECORDED_NOT_OPTIONS, Reproduction, _cpu_nodes, _on_cluster,
                                  _raise_unless_reproduced, check_tolerance, environment_differences, reproduction_table)
from bench.engine import metadata
from bench.engine.run import run_benchmark
from bench.engine.suites import SUITES, build_config
from bench.errors import RuntimeFailure, UsageError
from bench.options import RAY_DEFAULT, parse_address
from bench.report.repro_text import print_reproduction
from bench.report.summary import print_summary
from bench.results import Results, write_atomic


def _flag_given(command_line, name: str) -> bool | None:
    """Whether `--name` was on the recorded command line; None when that cannot be told."""
    import shlex

    if not command_line:
        return None
    try:
        tokens = shlex.split(str(command_line))
    except ValueError:
        return None
    if "run" not in tokens:
        return None  # e.g. a `bench repro` run: its options are in metadata.repro
    return any(t in (f"--{name}", f"--{name.replace('_', '-')}") or t.startswith(f"--{name}=") for t in tokens)


def _recorded_trials(config: Mapping, res: Results):
    """The --trials to pass: None when the original left it to the suite (100k-task naive runs
    then get fewer), the number when it was given or the suite's default has changed since."""
    trials = config.get("trials")
    earlier = (res.metadata.get("repro") or {}).get("options") or {}
    if "trials" in earlier:  # a re-run itself: repeat what it was given
        return earlier["trials"]
    preset = SUITES.get(config.get("suite"))
    if trials is None or preset is None or trials != preset.trials:
        return trials
    return trials if _flag_given(res.metadata.get("command_line"), "trials") else None


def rerun_options(res: Results, address=None, quiet: bool = False) -> tuple[dict, list[str]]:
    """build_config keyword arguments that repeat res's recorded run on the cluster at hand,
    and notes on what could not be repeated as recorded."""
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in res.config.items()}
    if not config or config.get("reconstructed_from"):
        raise UsageError("the results file records no run configuration (written before bench recorded one); "
                         "it cannot be re-run exactly: run the suite again and compare with 'bench repro A.json B.json'")
    accepted = {opt.name for opt in option_table.CONFIG_OPTIONS}
    options, notes = {}, []
    for key, value in config.items():
        name = OPTION_NAMES.get(key, key)
        if key in RECORDED_NOT_OPTIONS:
            continue
        if name not in accepted:
            notes.append(f"recorded parameter {key}={value!r} is not an option of this bench; not re-applied")
            continue
        if isinstance(value, list) and not value:
            value = None  # the suite's (empty) default: an empty list is not a valid option
        options[name] = value
    options["trials"] = _recorded_trials(config, res)
    if options.get("placement") is None:
        options.pop("placement", None)
        if option_table.recorded_placement(res.config) == RAY_DEFAULT:  # recorded before --placement existed
            options["placement"] = RAY_DEFAULT
            notes.append("the original predates --placement: its Ray tasks went where Ray's default placement sent "
                         "them, and so do this re-run's (--placement default)")
    preset = SUITES.get(config.get("suite"))
    if "time_budget_s" not in config and preset is not None and preset.time_budget_s is not None:
        fewer = (f", and a row whose trial takes over {preset.cheap_trial_s:g} s plays {preset.min_trials} of "
                 f"{preset.trials} trials" if preset.min_trials < preset.trials and options.get("trials") is None else "")
        notes.append(f"the original predates --time-budget: this re-run's measured rounds stop within the suite's "
                     f"{preset.time_budget_s:g} s{fewer}")
    embedded_before = not _on_cluster(res)
    if address is not None:
        options["address"] = parse_address(address)
    if options.get("address") is not None:
        options.pop("num_cpus", None)  # an embedded-only option
        if options.get("expect_nodes") is None and not embedded_before:
            options["expect_nodes"] = _cpu_nodes(res.cluster)
    elif not embedded_before:
        notes.append(f"the original ran on a cluster ({_cpu_nodes(res.cluster) or '?'} CPU node(s)); "
                     "this re-run is embedded (give --address to join a cluster)")
        options["expect_nodes"] = None
    options["quiet"] = quiet
    return options, notes


def default_out(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return path.with_name(f"{path.stem}-repro-{stamp}.json")


def _record(path: Path, rep: Reproduction, original: str, options: dict, notes: list[str]) -> None:
    """Add metadata.repro to the new file, editing its JSON as written (fields this code does not
    model survive), atomically."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metadata"]["repro"] = {"original": original, "options": options, **rep.to_dict(), "notes": notes}
    write_atomic(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def repro_run(path: str, out=None, tolerance=None, address=None, force: bool = False, quiet: bool = False,
              argv: list[str] | None = None, stream=None) -> Reproduction:
    """`bench repro RESULTS.json`: run the recorded suite again, write the new file, judge each row."""
    stream = stream or sys.stdout
    tolerance = check_tolerance(tolerance)
    source = Path(str(path))
    original = results_io.load(source)
    options, notes = rerun_options(original, address, quiet)
    config = build_config(**options)  # every check before any work
    target = results_io.check_output_path(Path(str(out)) if out else default_out(source), force)
    if original.status != "complete":
        notes.append(f"the original is incomplete ({original.incomplete_reason}): its missing runs cannot be compared")
    for line in notes + environment_differences(original.metadata, metadata.collect()):
        print(f"bench: warning: {line}", file=sys.stderr, flush=True)
    print(f"repro: re-running {source} ({original.suite} suite, seed {config.seed}) into {target}", file=stream, flush=True)
    failure = None
    try:
        _, target = run_benchmark(config, out=str(target), force=force, argv=argv, on_done=print_summary)
    except RuntimeFailure as exc:
        # Wrong answers: the file is written, and a wrong row is a verdict too. Anything else: no file to judge.
        if not target.is_file():
            raise
        failure = exc
    new = results_io.load(target)
    rep = reproduction_table(original, new, tolerance)
    _record(target, rep, str(source), {k: v for k, v in options.items() if k != "quiet"}, notes)
    print(file=stream)
    print_reproduction(rep, str(source), str(target), original, new, stream)
    if failure is not None:
        raise failure
    _raise_unless_reproduced(rep)
    return rep

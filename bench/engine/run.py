"""One `bench run`: the options checked into a RunConfig, the output path checked before anything
runs, the suite (bench.engine.runner.SuiteRunner), the file handed to the caller's reader (the
CLI's terminal summary), and a non-zero exit when any run failed or answered wrongly."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from bench import results
from bench.engine.runner import SuiteRunner
from bench.engine.suites import RunConfig, build_config
from bench.errors import RuntimeFailure
from bench.options import OPTIONS, with_defaults
from bench.results import Results


def default_out_path(suite: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path("results") / f"{suite}-{stamp}.json"


def run_benchmark(config: RunConfig, out: str | None = None, force: bool = False, argv: list[str] | None = None,
                  on_done: Callable[[Results, Path], None] | None = None) -> tuple[Results, Path]:
    """Validate the output path, run the suite, write results, hand them to on_done (the CLI's
    terminal summary: a reader, which the engine does not import); raise if any run is wrong."""
    if out is None:
        target = default_out_path(config.suite.name)
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        target = Path(str(out))
    target = results.check_output_path(target, force)
    runner = SuiteRunner(config, target, argv, force=force)
    res = runner.run()
    target = runner.out_path
    if on_done:
        on_done(res, target)
    bad = [run.label for run in res.runs if not run.correct]
    if bad:
        raise RuntimeFailure(f"{len(bad)} run(s) failed or gave wrong answers ({', '.join(bad)}); results kept in {target}")
    return res, target


def run_command(given: dict, argv: list[str] | None = None,
                on_done: Callable[[Results, Path], None] | None = None) -> tuple[Results, Path]:
    """`bench run`: the options as given on the command line (bench.options.OPTIONS), checked, then run."""
    values = with_defaults(given, options=OPTIONS)
    out, force = values.pop("out"), values.pop("force")
    return run_benchmark(build_config(**values), out=out, force=force, argv=argv, on_done=on_done)

"""Suites run one after another, then one report over their files: the appliance's
run-then-render sequence, written once. The bench container's automatic first run
(docker/entrypoint.sh) and `make report` (scripts/appliance.py) both call it as
`python -m bench suites SUITE... --name NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bench import options, results
from bench.engine.run import run_command
from bench.errors import BenchError, UsageError
from bench.report import write_report
from bench.report.summary import print_summary


def suite_files(suites: Sequence[str], name: str, results_dir: str | Path = "results") -> list[Path]:
    """Where each suite's results go: the first is NAME.json, each other NAME-SUITE.json (make
    report's NAME.json and NAME-heavy.json, which make repro finds as a pair)."""
    folder = Path(results_dir)
    return [folder / (f"{name}.json" if index == 0 else f"{name}-{suite}.json") for index, suite in enumerate(suites)]


def run_suites(suites: Sequence[str], name: str, report: str = "reports/index.html", results_dir: str = "results",
               address: str | None = None, expect_nodes: int | None = None, quiet: bool = False,
               argv: list[str] | None = None) -> list[Path]:
    """Each suite in turn (a failed one ends the sequence, its file kept), then the report over
    every file written, failed ones included: the page says what happened. Every suite name and
    output path is checked before anything runs. Raises the first failure after the report."""
    if not suites:
        raise UsageError("suites needs at least one suite name (e.g. suites standard heavy --name NAME)")
    checked = [options.suite_name("suite", suite) for suite in suites]
    if len(set(checked)) != len(checked):
        raise UsageError(f"each suite once, got {', '.join(checked)}")
    if not name or "/" in str(name):
        raise UsageError(f"--name must be a file name without a folder, got {name!r}")
    targets = [results.check_output_path(path, force=False) for path in suite_files(checked, name, results_dir)]
    written: list[Path] = []
    told: list[Path] = []  # the files whose verdict on_done printed
    failure: BenchError | None = None

    def tell(res, path) -> None:
        print_summary(res, path)
        told.append(Path(path))

    for suite, target in zip(checked, targets):
        given = {"suite": suite, "out": str(target), "quiet": quiet,
                 **({"address": address} if address is not None else {}),
                 **({"expect_nodes": expect_nodes} if expect_nodes is not None else {})}
        try:
            run_command(given, argv=argv, on_done=tell)
        except BenchError as exc:
            failure = exc
        if target.is_file():
            written.append(target)
        if failure is not None:
            break
    if written:  # a suite that ended printed its verdict: the report prints the others' (a failed suite's)
        write_report([str(path) for path in written], out=report, told=[str(path) for path in told])
    if failure is not None:
        raise failure
    return written

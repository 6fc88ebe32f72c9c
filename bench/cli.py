"""The thin Fire command line: each method validates nothing itself and calls a plain function."""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
import threading

from bench import options
from bench.errors import BenchError, UsageError


class BenchCLI:
    """Ray task-granularity benchmark (ray-bench, or python -m bench). Commands: run, env, export,
    report, compare, repro, advise. --version prints the version."""

    def run(self, *args, **kwargs):
        from bench.runner import run_command

        given = options.signature().bind(*args, **kwargs).arguments  # Fire passes them by position
        run_command(given, argv=sys.argv[1:])

    # The parameters, their defaults and their help come from the one option table.
    run.__signature__ = options.signature(self_param=True)
    run.__doc__ = "Run a benchmark suite and write one results JSON file.\n\n" + options.args_doc()

    def env(self):
        """Print, as JSON, the metadata a run would record about this machine."""
        from bench.metadata import collect

        print(json.dumps(collect(), indent=2))

    def export(self, results, format="csv", out=None, force=False):
        """Export the summary table of a results file.

        Args:
          results: a results JSON file.
          format: csv.
          out: output file (default: stdout).
          force: overwrite an existing --out file.
        """
        from bench.export import export_file

        export_file(results, format=format, out=out, force=force)

    def report(self, *results, out="reports/index.html"):
        """Render one self-contained HTML report from one or more results files (no Ray needed).

        The raw JSON and a CSV summary of each file are written beside the page and linked
        from it. An earlier report at --out is replaced (atomically; never a partial file).

        Args:
          results: one or more results JSON files; several are also compared side by side.
          out: the HTML file to write (default reports/index.html).
        """
        from bench.report import write_report

        write_report(list(results), out=out)

    def compare(self, a, b, fail_above=None, alpha=0.05):
        """Compare two results files run by run; say which differences are statistically real.

        Args:
          a: the baseline results JSON.
          b: the results JSON to judge against it.
          fail_above: exit 1 if any run of B is slower than A by more than this percentage.
          alpha: significance level of the Mann-Whitney U rank test (default 0.05).
        """
        from bench.compare import compare_files

        compare_files(a, b, fail_above=fail_above, alpha=alpha)

    def advise(self, results, work_per_item, items):
        """Recommend a batch size for your own per-item work on the cluster a results file measured (no Ray needed).

        Uses the file's fitted overhead model (per-run and per-task cost, CPUs) and the inline-object
        limit; prints the batch size, the predicted time with an interval, the break-even point and
        the assumptions.

        Args:
          results: a results JSON with a ray-batched sweep (its overhead model).
          work_per_item: the time one item takes in your function, with a unit: 50us, 0.2ms, 1e-5s.
          items: how many items: 1e6, 1_000_000, 20000.
        """
        from bench.advise import advise_command

        advise_command(results, work_per_item, items)

    def repro(self, results, other=None, out=None, tolerance=None, address=None, force=False, quiet=False):
        """Re-run what a results file records, then say row by row whether its figures reproduced.

        A row reproduces when new/original median response time is within ±tolerance; the
        Mann-Whitney p and a bootstrap CI are shown as evidence, not used to decide. Exit 1 if
        any row differs (or answers wrongly, or is missing), 2 on a bad file or option.

        Args:
          results: the original results JSON; its suite, parameters (config), seed and node count are re-run.
          other: a second results JSON: compare the two files only, run nothing.
          out: the new results path (default: beside the original, NAME-repro-<utc>.json).
          tolerance: one band for every row, as a fraction (default: 0.10; on a cluster 0.15 for ray-batched and ray-auto).
          address: the cluster to re-run on (default: the file's: embedded, or 'auto' in the appliance).
          force: overwrite an existing --out file.
          quiet: no progress bar.
        """
        from bench.repro_text import repro_files
        from bench.rerun import repro_run

        if other is not None:
            if out is not None or address is not None:
                raise UsageError("with two files repro only compares them: --out and --address do not apply")
            repro_files(results, other, tolerance=tolerance)
        else:
            repro_run(results, out=out, tolerance=tolerance, address=address, force=force, quiet=quiet,
                      argv=sys.argv[1:])


def _allowed_flags(method) -> set[str]:
    names = [p for p in inspect.signature(method).parameters if p != "self"]
    flags = set()
    for name in names:
        for spelled in (name, name.replace("_", "-")):
            flags.update({f"--{spelled}", f"--no{spelled}"})
    return flags | {"--help"}


def check_arguments(argv: list[str]) -> list[str]:
    """Reject unknown commands and options in one line, before Fire prints a page of usage."""
    argv = ["--help" if a == "-h" else a for a in argv]
    if not argv or argv[0].startswith("-"):
        return argv
    commands = {name for name, _ in inspect.getmembers(BenchCLI, inspect.isfunction) if not name.startswith("_")}
    command = argv[0]
    if command not in commands:
        raise UsageError(f"unknown command {command!r}; choose from {', '.join(sorted(commands))}")
    allowed = _allowed_flags(getattr(BenchCLI, command))
    for token in argv[1:]:
        if token == "--":
            break
        if token.startswith("--"):
            flag = token.split("=", 1)[0]
            if flag not in allowed:
                raise UsageError(f"unknown option {flag} for '{command}' (see: python -m bench {command} --help)")
    return argv


class Terminated(SystemExit):
    """SIGTERM (docker stop, kill): unwinds like Ctrl-C so the runner saves what finished."""

    def __init__(self):
        super().__init__(128 + signal.SIGTERM)

    def __str__(self) -> str:
        return "SIGTERM"


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    import fire

    argv = list(sys.argv[1:] if argv is None else argv)
    # Ray's C++ failure-signal handler also takes SIGTERM and aborts the driver 3 s later
    # (abseil's alarm), cutting short the save and shutdown below; =0 restores it.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    main_thread = threading.current_thread() is threading.main_thread()  # signal.signal needs it
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        argv = check_arguments(argv)
        if argv[:1] == ["--version"]:
            from bench import __version__

            print(f"ray-bench {__version__}")
            return
        if "--help" in argv:
            os.environ["PAGER"] = "cat"  # help goes straight to the terminal, never into less
        fire.Fire(BenchCLI, command=argv, name="bench")
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        # ray.init replaces our SIGTERM handler with its own, which calls sys.exit(15).
        if isinstance(exc, Terminated) or exc.code == signal.SIGTERM:
            print("bench: terminated", file=sys.stderr)
            sys.exit(128 + signal.SIGTERM)
        raise
    except Exception as exc:  # a bug or an unforeseen failure: still one line, never a traceback
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"bench: error: unexpected {exc.__class__.__name__}: {first}".rstrip(": "), file=sys.stderr)
        sys.exit(1)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)

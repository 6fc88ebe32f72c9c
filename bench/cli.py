"""The thin Fire command line: each method validates nothing itself and calls a plain function.

Fire dispatches; this module answers --help itself (on stdout, exit 0, never through a pager)
and checks the command line first (unknown or short flags, a flag without its value, a
missing or extra argument: one line, exit 2), so Fire's own help and error pages never show.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import sys
import textwrap
import threading

from bench import options
from bench.errors import BenchError, UsageError

UNITS = ("Units: fractions for every relative threshold (--tolerance 0.1, --target-cv 0.05, "
         "--fail-above 0.1 all mean 10%); seconds for times unless a unit is given (--work-per-item 50us).")
EXIT_CODES = ("Exit status: 0 done; 1 a wrong answer, a row that differs or regressed, or a runtime "
              "failure; 2 a bad argument, option or input file (nothing written).")


class BenchCLI:
    """Ray task-granularity benchmark: how task granularity (one lookup per task, or B per task)
    decides what Ray costs against a plain loop."""

    def run(self, *args, **kwargs):
        from bench.engine.run import run_command
        from bench.report.summary import print_summary

        given = options.signature().bind(*args, **kwargs).arguments
        run_command(given, argv=sys.argv[1:], on_done=print_summary)

    # The parameters, their defaults and their help come from the one option table; on the
    # command line they are flags only (keyword-only), never positions.
    run.__signature__ = options.signature(self_param=True, keyword_only=True)
    run.__doc__ = "Run a benchmark suite and write one results JSON file.\n\n" + options.args_doc()

    def suites(self, *suites, name, report="reports/index.html", results_dir="results", address=None,
               expect_nodes=None, quiet=False):
        """Run suites one after another, then render one report over their results files.

        What make report runs in the bench container (standard, then heavy), and the container's
        automatic first run. A failed suite ends the sequence; the report still shows every file
        written, and the exit status is the failure's.

        Args:
          suites: suite names in the order to run (quick, standard, full, heavy, stress).
          name: the first suite's results are RESULTS_DIR/NAME.json, each other's NAME-SUITE.json.
          report: the HTML report to write (default reports/index.html).
          results_dir: where the results files go (default results).
          address: the Ray cluster to join (as for run: HOST:PORT, or auto); default an embedded Ray.
          expect_nodes: wait for this many CPU nodes before each suite (as for run).
          quiet: no progress bar.
        """
        from bench.pipeline import run_suites

        run_suites(list(suites), name=str(name), report=report, results_dir=results_dir, address=address,
                   expect_nodes=expect_nodes, quiet=quiet, argv=sys.argv[1:])

    def env(self):
        """Print, as JSON, the metadata a run would record about this machine."""
        from bench.engine.metadata import collect

        print(json.dumps(collect(), indent=2))

    def export(self, results, *, format="csv", out=None, force=False):
        """Export the summary table of a results file.

        Args:
          results: a results JSON file.
          format: csv (the only format; default csv).
          out: output file (default: stdout).
          force: overwrite an existing --out file.
        """
        from bench.report.export import export_file

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

        if not results:
            raise UsageError("report needs at least one results file (usage: report RESULTS... [--out FILE])")
        write_report(list(results), out=out)

    def compare(self, a, b, *, fail_above=None, alpha=0.05):
        """Compare two results files run by run; say which differences are statistically real.

        Args:
          a: the baseline results JSON.
          b: the results JSON to judge against it.
          fail_above: exit 1 if any run of B is slower than A by more than this fraction (0.1: 10% slower).
          alpha: significance level of the Mann-Whitney U rank test (default 0.05).
        """
        from bench.analysis.compare import compare_files

        compare_files(a, b, fail_above=fail_above, alpha=alpha)

    def advise(self, results, *, work_per_item, items):
        """Recommend a batch size for your own per-item work on the cluster a results file measured (no Ray needed).

        Uses the file's fitted overhead model (per-run and per-task cost, CPUs) and the inline-object
        limit; prints the batch size, the predicted time with an interval, the break-even point and
        the assumptions.

        Args:
          results: a results JSON with a ray-batched sweep (its overhead model).
          work_per_item: the time one item takes in your function, with a unit: 50us, 0.2ms, 1e-5s.
          items: how many items: 1e6, 1_000_000, 20000.
        """
        from bench.analysis.advise import advise_command

        advise_command(results, work_per_item, items)

    def repro(self, results, other=None, *, out=None, tolerance=None, address=None, force=False, quiet=False):
        """Re-run what a results file records, then judge its claims, then its rows.

        Claims (ratios within each run, from same-round pairs) and rows (new/original median
        response time) are each reproduced (inside the band), differs (outside it and
        significant) or can't tell (outside it, not significant). A file from another machine is
        judged against the machine factors, printed first. Exit 0 every claim holds and no row
        differs; 1 a claim or row differs (or answers wrongly, or is missing); 2 a bad file or
        option; 3 nothing differs but a claim can't tell.

        Args:
          results: the original results JSON; its suite, parameters (config), seed and node count are re-run.
          other: a second results JSON: compare the two files only, run nothing.
          out: the new results path (default: beside the original, NAME-repro-<utc>.json).
          tolerance: one band for every row, as a fraction (default: 0.10; on a cluster 0.15 for ray-batched and ray-auto).
          address: the cluster to re-run on (default: the file's: embedded, or 'auto' in the appliance).
          force: overwrite an existing --out file.
          quiet: no progress bar.
        """
        from bench.report.repro_text import repro_files
        from bench.rerun import repro_run

        if other is not None:
            if out is not None or address is not None:
                raise UsageError("with two files repro only compares them: --out and --address do not apply")
            repro_files(results, other, tolerance=tolerance)
        else:
            repro_run(results, out=out, tolerance=tolerance, address=address, force=force, quiet=quiet,
                      argv=sys.argv[1:])


# --- the command line, checked and explained before Fire sees it -------------------------------


def prog() -> str:
    """The program as the user typed it: ray-bench (the installed script) or python -m bench."""
    return "ray-bench" if os.path.basename(sys.argv[0] or "") == "ray-bench" else "python -m bench"


def commands() -> dict:
    """name -> method, in the order they are declared."""
    return {name: fn for name, fn in vars(BenchCLI).items() if inspect.isfunction(fn) and not name.startswith("_")}


# What each option's value looks like in help: by the option table's parser for `run`, else by name.
METAVARS = {"positive_int": "N", "non_negative_int": "N", "fraction": "FRACTION", "seconds": "SECONDS",
            "positive_seconds": "SECONDS", "int_list": "N,N,...", "mode_list": "MODE,...", "suite_name": "SUITE",
            "function_spec": "MODULE:FUNCTION", "address": "ADDRESS", "out": "PATH", "fail_above": "FRACTION",
            "tolerance": "FRACTION", "alpha": "P", "work_per_item": "TIME", "items": "N", "format": "FORMAT"}


def _metavar(param: inspect.Parameter, command: str) -> str:
    option = options.BY_NAME.get(param.name) if command == "run" else None
    parser = getattr(option, "parse", None)
    return METAVARS.get(getattr(parser, "__name__", ""), METAVARS.get(param.name, param.name.upper()))


def _params(method) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(method).parameters.values() if p.name != "self"]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_bool(param: inspect.Parameter) -> bool:
    return isinstance(param.default, bool)


def _positional(param: inspect.Parameter) -> bool:
    return param.kind in (param.POSITIONAL_OR_KEYWORD, param.VAR_POSITIONAL)


def _docs(method) -> tuple[str, str, dict[str, str]]:
    """(summary, description, {parameter: help}) from a Google-style docstring."""
    doc = inspect.cleandoc(method.__doc__ or "")
    text, _, args = doc.partition("\nArgs:\n")
    summary, _, description = text.strip().partition("\n\n")
    helps: dict[str, str] = {}
    name = None
    for line in args.splitlines():
        match = re.match(r"\s{2}(\w+): ?(.*)", line)
        if match:
            name, helps[match.group(1)] = match.group(1), match.group(2).strip()
        elif name and line.strip():
            helps[name] += " " + line.strip()
    return " ".join(summary.split()), description.strip(), helps


def usage(command: str) -> str:
    """The one-line usage of a command."""
    parts = [prog(), command]
    for p in _params(commands()[command]):
        metavar = p.name.upper()
        if p.kind == p.VAR_POSITIONAL:
            parts.append(f"{metavar}...")
        elif _positional(p):
            parts.append(metavar if p.default is p.empty else f"[{metavar}]")
        elif p.default is p.empty:
            parts.append(f"{_flag(p.name)} {_metavar(p, command)}")
    if any(not _positional(p) and p.default is not p.empty for p in _params(commands()[command])):
        parts.append("[options]")
    return "usage: " + " ".join(parts)


def _item(label: str, text: str) -> list[str]:
    wrapped = textwrap.wrap(text, 96 - 24, break_on_hyphens=False) or [""]
    first = f"  {label:<20}  {wrapped[0]}" if len(label) <= 20 else f"  {label}\n{' ' * 24}{wrapped[0]}"
    return [first, *(" " * 24 + line for line in wrapped[1:])]


def command_help(command: str) -> str:
    summary, description, helps = _docs(commands()[command])
    lines = [usage(command), "", textwrap.fill(summary, 96)]
    if description:
        lines += ["", *[textwrap.fill(" ".join(par.split()), 96, break_on_hyphens=False) for par in description.split("\n\n")]]
    params = _params(commands()[command])
    positional = [p for p in params if _positional(p)]
    flags = [p for p in params if not _positional(p)]
    if positional:
        lines += ["", "arguments:"]
        for p in positional:
            lines += _item(p.name.upper(), helps.get(p.name, ""))
    lines += ["", "options:"]
    for p in flags:
        label = _flag(p.name) if _is_bool(p) else f"{_flag(p.name)} {_metavar(p, command)}"
        lines += _item(label, ("required: " if p.default is p.empty else "") + helps.get(p.name, ""))
    lines += _item("--help, -h", "show this help and exit")
    return "\n".join(lines)


def top_help() -> str:
    summary, description, _ = _docs(BenchCLI)
    lines = [f"usage: {prog()} COMMAND [ARGUMENTS] [options]", "", textwrap.fill(f"{summary} {description}", 96),
             "", "commands:"]
    for name, method in commands().items():
        lines += _item(name, _docs(method)[0])
    notes = (f"'{prog()} COMMAND --help' shows a command's arguments and options; '{prog()} --version' "
             "prints the version. Options are spelled with dashes (--expect-nodes); there are no short flags.",
             UNITS, EXIT_CODES)
    return "\n".join(lines + [""] + [textwrap.fill(note, 96) for note in notes])


def _option(command: str, params: dict, token: str) -> tuple[inspect.Parameter, bool]:
    """(the parameter a --flag token names, whether it is a boolean's --noNAME), or a one-line UsageError."""
    key = token[2:].split("=", 1)[0].replace("-", "_")
    param, negated = params.get(key), False
    if param is None and key.startswith("no") and "=" not in token and _is_bool(params.get(key[2:], _NONE)):
        param, negated = params[key[2:]], True
    if param is None or param.kind == param.VAR_POSITIONAL:
        raise UsageError(f"unknown option {token.split('=', 1)[0]} for '{command}' (see: {prog()} {command} --help)")
    return param, negated


_NONE = inspect.Parameter("none", inspect.Parameter.KEYWORD_ONLY)  # no default: not a boolean


def check_arguments(argv: list[str]) -> list[str]:
    """The command line Fire will run, checked; --help, and every mistake, are answered here.

    Returns the arguments for Fire (boolean flags written as --flag=True, so that a flag never
    swallows the argument after it). Raises UsageError (one line, exit 2) on an unknown command
    or option, a short flag, an option without its value, or a missing or extra argument.
    """
    if not argv or argv[0] in ("--help", "-h", "help"):
        raise ShowHelp(top_help())
    if argv[0] == "--version":
        return argv[:1]
    command, rest = argv[0], argv[1:]
    if command.startswith("-"):
        raise UsageError(f"unknown option {command}; usage: {prog()} COMMAND [ARGUMENTS] [options] (see: {prog()} --help)")
    if command not in commands():
        raise UsageError(f"unknown command {command!r}; choose from {', '.join(commands())}")
    if "--help" in rest or "-h" in rest:
        raise ShowHelp(command_help(command))
    params = {p.name: p for p in _params(commands()[command])}
    out, positionals, given, i = [command], [], set(), 0
    while i < len(rest):
        token = rest[i]
        if token == "--":
            raise UsageError(f"unexpected '--' ({usage(command)})")
        if re.match(r"-[a-zA-Z]", token):
            raise UsageError(f"unknown option {token.split('=', 1)[0]} for '{command}': short flags are not used; "
                             f"see: {prog()} {command} --help")
        if not token.startswith("--"):
            positionals.append(token)
            out.append(token)
            i += 1
            continue
        param, negated = _option(command, params, token)
        given.add(param.name)
        if _is_bool(param) and "=" not in token:
            out.append(f"{_flag(param.name)}={not negated}")
        elif "=" in token:
            out.append(token)
        elif i + 1 < len(rest) and not re.match(r"--|-[a-zA-Z]", rest[i + 1]):
            out += [token, rest[i + 1]]
            i += 1
        else:
            raise UsageError(f"option {_flag(param.name)} needs a value ({usage(command)})")
        i += 1
    _check_counts(command, list(params.values()), positionals, given)
    return out


def _check_counts(command: str, params: list, positionals: list, given: set) -> None:
    slots = [p for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    if not any(p.kind == p.VAR_POSITIONAL for p in params) and len(positionals) > len(slots):
        raise UsageError(f"unexpected argument {positionals[len(slots)]!r} ({usage(command)})")
    for index, p in enumerate(slots):
        if p.default is p.empty and index >= len(positionals) and p.name not in given:
            raise UsageError(f"missing argument {p.name.upper()} ({usage(command)})")
    for p in params:
        if p.kind == p.KEYWORD_ONLY and p.default is p.empty and p.name not in given:
            raise UsageError(f"missing option {_flag(p.name)} ({usage(command)})")
    if any(p.kind == p.VAR_POSITIONAL for p in params) and not positionals:
        raise UsageError(f"missing argument {[p for p in params if p.kind == p.VAR_POSITIONAL][0].name.upper()} "
                         f"({usage(command)})")


class ShowHelp(Exception):
    """--help was asked for: its text goes to stdout and the exit status is 0."""


class Terminated(SystemExit):
    """SIGTERM (docker stop, kill): unwinds like Ctrl-C so the runner saves what finished."""

    def __init__(self):
        super().__init__(128 + signal.SIGTERM)

    def __str__(self) -> str:
        return "SIGTERM"


def _on_sigterm(signum, frame):
    raise Terminated()


def _fire(argv: list[str]) -> None:
    import fire

    if argv[:1] == ["--version"]:
        from bench import __version__

        print(f"ray-bench {__version__}")
        return
    os.environ["PAGER"] = "cat"  # should Fire ever show a page of its own, it never waits in less
    fire.Fire(BenchCLI, command=argv, name=prog())


def _print_help(text: str) -> None:
    """Help on stdout; a reader that stops early (| head) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Ray's C++ failure-signal handler also takes SIGTERM and aborts the driver 3 s later
    # (abseil's alarm), cutting short the save and shutdown below; =0 restores it.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    main_thread = threading.current_thread() is threading.main_thread()  # signal.signal needs it
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        _fire(check_arguments(argv))
    except ShowHelp as shown:
        _print_help(str(shown))
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

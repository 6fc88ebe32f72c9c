"""Bad input matrix: one clear line, exit 2 (usage) or 1 (runtime), no traceback, no file touched."""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO, run_cli

VALID = {"schema_version": 1, "workload": {}, "metadata": {}, "cluster": {}, "runs": []}

CASES = [
    # (id, args, exit code, words the one line must contain)
    ("negative-queries", ["run", "--queries=-5"], 2, "--queries must be an integer >= 1"),
    ("zero-queries", ["run", "--queries", "0"], 2, "--queries must be an integer >= 1"),
    ("float-queries", ["run", "--queries", "1.5"], 2, "--queries must be an integer"),
    ("text-queries", ["run", "--queries", "lots"], 2, "--queries must be an integer"),
    ("zero-array-size", ["run", "--array-size", "0"], 2, "--array-size"),
    ("negative-value-range", ["run", "--value-range=-1"], 2, "--value-range"),
    ("zero-trials", ["run", "--trials", "0"], 2, "--trials"),
    ("zero-batch-size", ["run", "--batch-sizes", "0"], 2, "--batch-sizes"),
    ("batch-larger-than-queries", ["run", "--queries", "1000", "--batch-sizes", "10,5000"], 2,
     "--batch-sizes 5000 is larger than --queries 1000"),
    ("naive-larger-than-queries", ["run", "--queries", "1000", "--naive-tasks", "2000"], 2, "--naive-tasks 2000"),
    ("unknown-mode", ["run", "--modes", "ray-magic"], 2, "unknown mode ray-magic"),
    ("unknown-suite", ["run", "--suite", "huge"], 2, "unknown suite 'huge'"),
    ("malformed-address", ["run", "--address", "nowhere"], 2, "--address must be 'auto' or HOST:PORT"),
    ("unreachable-address", ["run", "--address", "127.0.0.1:9", "--quiet"], 1, "cannot reach a Ray head at 127.0.0.1:9"),
    ("negative-timeout", ["run", "--expect-timeout=-3"], 2, "--expect-timeout"),
    ("num-cpus-with-address", ["run", "--num-cpus", "2", "--address", "auto"], 2, "--num-cpus applies only"),
    ("unknown-option", ["run", "--turbo"], 2, "unknown option --turbo"),
    ("unknown-command", ["explode"], 2, "unknown command 'explode'"),
    ("missing-out-dir", ["run", "--out", "{tmp}/no/such/dir/r.json"], 2, "does not exist"),
    ("unwritable-out", ["run", "--out", "/proc/r.json"], 2, "not writable"),
    ("existing-out", ["run", "--out", "{tmp}/existing.json"], 2, "already exists (use --force"),
    ("out-is-directory", ["run", "--out", "{tmp}"], 2, "is a directory"),
    ("export-missing", ["export", "{tmp}/missing.json"], 2, "no such results file"),
    ("export-empty", ["export", "{tmp}/empty.json"], 2, "empty file"),
    ("export-truncated", ["export", "{tmp}/truncated.json"], 2, "not valid JSON"),
    ("export-not-json", ["export", "{tmp}/notjson.json"], 2, "not valid JSON"),
    ("export-wrong-version", ["export", "{tmp}/future.json"], 2, "unsupported schema_version 7"),
    ("export-not-results", ["export", "{tmp}/list.json"], 2, "not a results file"),
    ("export-bad-format", ["export", "{tmp}/existing.json", "--format", "xml"], 2, "unknown --format 'xml'"),
    ("report-missing", ["report", "{tmp}/missing.json", "--out", "{tmp}/r/index.html"], 2, "no such results file"),
    ("report-empty", ["report", "{tmp}/empty.json", "--out", "{tmp}/r/index.html"], 2, "empty file"),
    ("report-truncated", ["report", "{tmp}/truncated.json", "--out", "{tmp}/r/index.html"], 2, "not valid JSON"),
    ("report-not-json", ["report", "{tmp}/notjson.json", "--out", "{tmp}/r/index.html"], 2, "not valid JSON"),
    ("report-wrong-version", ["report", "{tmp}/future.json", "--out", "{tmp}/r/index.html"], 2,
     "unsupported schema_version 7"),
    ("compare-missing", ["compare", "{fixtures}/small.json", "{tmp}/missing.json"], 2, "no such results file"),
    ("compare-truncated", ["compare", "{tmp}/truncated.json", "{fixtures}/small.json"], 2, "not valid JSON"),
    ("compare-wrong-version", ["compare", "{fixtures}/small.json", "{tmp}/future.json"], 2,
     "unsupported schema_version 7"),
    ("compare-different-workloads", ["compare", "{fixtures}/small.json", "{fixtures}/heavy-1cpu.json"], 2,
     "workload"),
    ("expected-nodes-never-arrive", ["run", "--suite", "quick", "--modes", "ray-naive", "--num-cpus", "1",
                                     "--expect-nodes", "3", "--expect-timeout", "2", "--quiet", "--out", "{tmp}/r.json"],
     1, "expected 3 alive node(s) with CPUs, found 1 after 2 s"),
    ("make-up-zero-workers", ["make", "up", "WORKERS=0", "RAY_TOKEN_FILE={tmp}/tok"], 2,
     "WORKERS must be a whole number from 1 to 999, got '0'"),
    ("make-up-text-workers", ["make", "up", "WORKERS=three", "RAY_TOKEN_FILE={tmp}/tok"], 2,
     "WORKERS must be a whole number from 1 to 999, got 'three'"),
    ("compare-bad-threshold", ["compare", "{fixtures}/small.json", "{fixtures}/small.json", "--fail-above=-5"], 2,
     "--fail-above"),
    ("compare-percentage-threshold", ["compare", "{fixtures}/small.json", "{fixtures}/small.json", "--fail-above", "10"],
     2, "--fail-above must be a fraction"),
    # Fire's own 5-line error pages never show: the CLI answers each mistake in one line
    ("compare-missing-positional", ["compare", "{fixtures}/small.json"], 2, "missing argument B (usage: "),
    ("compare-extra-positional", ["compare", "{fixtures}/small.json", "{fixtures}/small.json", "x"], 2,
     "unexpected argument 'x'"),
    ("short-flag", ["compare", "{fixtures}/small.json", "{fixtures}/small.json", "-a", "0.1"], 2,
     "short flags are not used"),
    ("option-without-value", ["run", "--out"], 2, "option --out needs a value"),
    ("underscore-spelling-in-errors", ["run", "--expect_nodes"], 2, "option --expect-nodes needs a value"),
    ("advise-missing-option", ["advise", "{fixtures}/small.json", "--items", "5"], 2, "missing option --work-per-item"),
    ("report-no-file", ["report"], 2, "missing argument RESULTS"),
    ("fire-separator", ["run", "--", "--interactive"], 2, "unexpected '--'"),
]


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "existing.json").write_text(json.dumps(VALID))
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "truncated.json").write_text(json.dumps(VALID)[:30])
    (tmp_path / "notjson.json").write_text("mode,median\nnumpy,0.1\n")
    (tmp_path / "future.json").write_text(json.dumps({**VALID, "schema_version": 7}))
    (tmp_path / "list.json").write_text("[]")
    return tmp_path


def _snapshot(*folders):
    state = {}
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                stat = os.stat(path)
                state[path] = (stat.st_size, stat.st_mtime_ns)
    return state


# Cases that get as far as starting an embedded Ray: marked, so `make test-fast` starts none.
STARTS_RAY = {"expected-nodes-never-arrive"}
PARAMS = [pytest.param(*case, id=case[0], marks=pytest.mark.ray if case[0] in STARTS_RAY else ()) for case in CASES]


@pytest.mark.parametrize("case_id, args, code, words", PARAMS)
def test_bad_input_gets_one_line_and_no_files(inputs, case_id, args, code, words):
    fixtures = REPO / "tests" / "fixtures"
    args = [a.replace("{tmp}", str(inputs)).replace("{fixtures}", str(fixtures)) for a in args]
    watched = (inputs, REPO / "results", REPO / "reports", fixtures)
    before = _snapshot(*watched)
    if args[0] == "make":
        if shutil.which("make") is None:
            pytest.skip("make not installed")
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
        env["COMPOSE_PROJECT_NAME"] = "raybenchnever"
        proc = subprocess.run(["make", "--no-print-directory", *args[1:]], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        prefix = ""
    else:
        proc = run_cli(*args, timeout=180)
        prefix = "bench: error: "
    after = _snapshot(*watched)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(prefix) and words in lines[0], lines[0]
    assert before == after, "a failed command must not create or change files"


def test_help_works_on_every_command():
    """Every --help: stdout, exit 0, the real program name, dashes, no Fire noise; never a pager."""
    from bench.cli import commands

    for args in ([], ["--help"], ["-h"], *([c, "--help"] for c in commands())):
        proc = run_cli(*args, env={"PAGER": "false"})  # a pager, if used, would fail the command
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stderr == "", (args, proc.stderr)
        assert proc.stdout.startswith("usage: python -m bench"), (args, proc.stdout[:200])
        assert "INFO:" not in proc.stdout and "Optional[" not in proc.stdout
        assert not re.search(r"--[a-z]+_[a-z]", proc.stdout), "flags are spelled with dashes"
        assert not re.search(r"^\s+-[a-z],", proc.stdout, re.M), "no short flags"
    top = run_cli("--help").stdout
    assert all(f"\n  {c} " in top for c in commands()), "the top-level help lists every command"
    assert "usage: python -m bench compare A B [options]" in run_cli("compare", "--help").stdout


def test_help_names_the_program_as_it_was_started(monkeypatch, capsys):
    from bench import cli

    monkeypatch.setattr(cli.sys, "argv", ["/usr/local/bin/ray-bench", "--help"])
    cli.main(["compare", "--help"])
    assert capsys.readouterr().out.startswith("usage: ray-bench compare A B [options]")
    monkeypatch.setattr(cli.sys, "argv", ["/x/bench/__main__.py"])
    cli.main([])
    assert capsys.readouterr().out.startswith("usage: python -m bench COMMAND")

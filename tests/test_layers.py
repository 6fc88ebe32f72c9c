"""The package's shape, checked: layers with no import back up, no bench import hidden
inside a function, and no module or function past the size a reader can hold.

bench/ by layer (README "Layout"); a module may import its own layer and those it lists:
  core       bench/*.py: errors, number formatting, statistics, the option table, the results
             model and its schema, the shipped example workloads
  analysis   bench/analysis/: what a results file says (model, facts, claims, their words,
             compare, repro, advise); reads the results model, never the engine
  engine     bench/engine/: what measures (workload, cluster, samplers, modes, rounds,
             calibration, record, runner); it records the model's fit and words its progress
             lines with the analysis
  report     bench/report/: the readers (terminal summary, HTML page, charts, export, the
             repro verdict's text); results and facts in, never the engine
  commands   bench/cli.py, rerun.py, pipeline.py, __main__.py: run the engine, then the readers
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bench"

MAY_IMPORT = {
    "core": {"core"},
    "analysis": {"core", "analysis"},
    "engine": {"core", "analysis", "engine"},
    "report": {"core", "analysis", "report"},
    "commands": {"core", "analysis", "engine", "report", "commands"},
}
SUB_PACKAGES = {"analysis", "engine", "report"}
COMMANDS = {"cli", "rerun", "pipeline", "__main__"}
# The CLI imports a command's module when the command runs, so that --help and --version
# answer at once (the runner pulls in scipy, the report matplotlib): its only hidden imports.
LAZY_IMPORTS_ALLOWED = {"bench.cli"}
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def layer_of(module: str) -> str:
    """bench.engine.modes -> engine; bench.results -> core; bench.cli -> commands."""
    parts = module.split(".")[1:] or ["__init__"]
    if parts[0] in SUB_PACKAGES:
        return parts[0]
    return "commands" if parts[0] in COMMANDS else "core"


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ".".join(("bench", *parts))


def bench_imports(tree: ast.AST):
    """(bench module imported, line, at module level?) for each import."""
    top_level = {id(node) for node in ast.iter_child_nodes(tree)}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bench" or node.module in {f"bench.{p}" for p in SUB_PACKAGES}:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif node.module.startswith("bench."):
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("bench.")]
        for name in names:
            yield name, node.lineno, id(node) in top_level


def test_every_sub_package_is_a_layer():
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert found - {"examples"} == SUB_PACKAGES


def test_no_module_imports_a_layer_it_may_not():
    wrong = []
    for path, name in modules():
        for imported, line, _ in bench_imports(ast.parse(path.read_text())):
            if layer_of(imported) not in MAY_IMPORT[layer_of(name)]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} {layer_of(name)} -> {imported}")
    assert not wrong, "imports across the layers:\n" + "\n".join(wrong)


@pytest.mark.parametrize("reader", ["bench.report", "bench.analysis.repro", "bench.analysis.advise",
                                    "bench.analysis.compare", "bench.options", "bench.results"])
def test_a_reader_loads_no_engine_module(reader):
    """The graph's promise, checked where it matters: importing the report (or an analysis)
    loads nothing that measures, and the option table no longer pulls in psutil."""
    code = f"import sys, {reader}; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not [m for m in loaded if m.startswith("bench.engine")]
    assert "ray" not in loaded and "psutil" not in loaded


def test_bench_imports_are_at_module_level_where_the_graph_shows_them():
    hidden = []
    for path, name in modules():
        if name in LAZY_IMPORTS_ALLOWED:
            continue
        tree = ast.parse(path.read_text())
        body = tree.body
        guarded = {id(n) for stmt in body if isinstance(stmt, ast.If) for n in ast.walk(stmt)}  # TYPE_CHECKING
        for imported, line, at_top in bench_imports(tree):
            node_ids = [id(n) for n in ast.walk(tree) if getattr(n, "lineno", None) == line]
            if not at_top and not any(i in guarded for i in node_ids):
                hidden.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported} inside a function")
    assert not hidden, "\n".join(hidden)


def test_modules_and_functions_stay_small():
    too_long = []
    for path, _ in modules():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE.parent)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "\n".join(too_long)


@pytest.mark.parametrize("probe", ["upward", "hidden"])
def test_the_checks_catch_what_they_look_for(probe):
    source = ("from bench import cli\n" if probe == "upward" else "def f():\n    from bench import errors\n")
    found = list(bench_imports(ast.parse(source)))
    if probe == "upward":
        assert found == [("bench.cli", 1, True)] and "commands" not in MAY_IMPORT[layer_of("bench.engine.workload")]
    else:
        assert found == [("bench.errors", 2, False)]

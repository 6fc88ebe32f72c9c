"""The package's shape, checked: layers with no import back up, no bench import hidden
inside a function, and no module or function past the size a reader can hold.

The layers, lowest first (a module may import its own layer and the ones below):
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bench"

LAYERS = [
    # shared vocabulary: errors, number formatting, statistics, the progress bar
    {"errors", "format", "stats", "progress"},
    # the work and the machine: the workload (and shipped examples), cluster connection, samplers,
    # the calibration (no-op task rate), the task-anatomy diagnostic, Ray's lease placement
    {"workload", "examples", "cluster", "samplers", "metadata", "calibration", "anatomy", "placement"},
    # what a run is: the one option table and the suites built from it
    {"options", "suites"},
    # the strategies
    {"modes"},
    # the results model and the analysis of one file: its claims (facts) and their words, the
    # judgement of one file's claims against another's, and the machine factors between two files
    {"results", "model", "schema", "facts", "wording", "claims", "machines"},
    # running a suite: rounds, the run record, the cost of an injected fault, the runner, its terminal summary
    {"rounds", "record", "faultcost", "runner", "summary"},
    # reading results files: compare, re-run, export, advice, the HTML report and its charts
    {"compare", "repro", "repro_explain", "repro_text", "rerun", "export", "advise", "charts", "charts_cluster",
     "report"},
    # the command line
    {"cli", "__main__"},
]
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}
# The CLI imports a command's module when the command runs, so that --help and --version
# answer at once (the runner pulls in scipy, the report matplotlib): its only hidden imports.
LAZY_IMPORTS_ALLOWED = {"cli"}
MAX_MODULE_LINES = 470
MAX_FUNCTION_LINES = 60


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts[0] if parts[0] != "__init__" else "__init__"


def bench_imports(tree: ast.AST):
    """(top-level bench module imported, line, at module level?) for each import."""
    top_level = {id(node) for node in ast.iter_child_nodes(tree)}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bench":
                names = [alias.name for alias in node.names]
            elif node.module.startswith("bench."):
                names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("bench.")]
        for name in names:
            if name in LAYER_OF:
                yield name, node.lineno, id(node) in top_level


def test_every_module_has_a_layer():
    missing = {name for _, name in modules()} - set(LAYER_OF) - {"__init__"}
    assert not missing, f"add these modules to a layer in LAYERS: {sorted(missing)}"


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path, name in modules():
        if name not in LAYER_OF:
            continue
        for imported, line, _ in bench_imports(ast.parse(path.read_text())):
            if LAYER_OF[imported] > LAYER_OF[name]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} {name} -> {imported}")
    assert not upward, "imports back up the layers:\n" + "\n".join(upward)


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
        assert found == [("cli", 1, True)] and LAYER_OF["cli"] > LAYER_OF["workload"]
    else:
        assert found == [("errors", 2, False)]

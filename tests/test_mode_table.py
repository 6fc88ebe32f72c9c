"""The one mode table (bench/mode_table.py): every entry is whole, and a new mode is one entry
plus its class. The new mode here lives in this file alone: a real one would be an entry in
bench/mode_table.py and its class in bench/engine/, so three files with its test."""

from __future__ import annotations

import json
import time

import pytest

from bench import mode_table
from bench.analysis.compare import match_runs, run_key
from bench.analysis.repro import reproduction_table, tolerance_table
from bench.engine import modes, rounds
from bench.engine.run import run_benchmark
from bench.engine.suites import build_config
from bench.mode_table import ModeSpec
from bench.report import write_report
from bench.report.charts import OKABE_ITO, mode_colour
from bench.results import load


class DictIndex(modes.Mode):
    """Each value's first index from one pass over the array, then one dict lookup per query:
    what a user would write instead of the seed's linear search."""

    name = "dict-index"

    def trial(self, n: int) -> modes.TrialOutcome:
        workload = self.workload
        array, queries = workload.task_state, workload.items(n)
        start = time.perf_counter()
        first: dict = {}
        for index, value in enumerate(array):
            first.setdefault(value, index)
        answers = [first.get(query, -1) for query in queries]
        elapsed = time.perf_counter() - start
        return modes.TrialOutcome(workload.answers([answers]), elapsed, tasks=1, task_latencies_s=[elapsed])


NEW_MODE = ModeSpec("dict-index", DictIndex, needs_ray=False, plan="once", colour="yellow", cost="python")


@pytest.mark.parametrize("name", mode_table.names())
def test_every_entry_is_whole(name):
    spec = mode_table.TABLE[name]
    cls = spec.strategy_class()
    assert issubclass(cls, modes.Mode) and cls.name == name and cls.uses_ray == spec.needs_ray
    assert spec.plan in mode_table.PLANS and spec.cost in mode_table.COSTS and spec.colour in OKABE_ITO
    assert spec.fault_tasks in (None, "single", "batched") and (spec.fault_tasks is None) == (not spec.needs_ray)


def test_the_engine_has_a_plan_for_every_plan_the_table_names():
    assert set(rounds.PLANS) == set(mode_table.PLANS)


def test_the_ray_modes_are_the_tables_own():
    assert mode_table.ray_names() == ("ray-naive", "ray-batched", "ray-auto")
    assert mode_colour("ray-batched") == OKABE_ITO["blue"] and mode_colour("not-a-mode", 1) != OKABE_ITO["blue"]


def test_a_mode_added_to_the_table_runs_compares_reproduces_and_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(mode_table.TABLE, NEW_MODE.name, NEW_MODE)
    paths = []
    for name in ("a", "b"):
        config = build_config(suite="quick", modes="sequential,dict-index", queries=2000, trials=3, budget=0,
                              quiet=True)
        paths.append(run_benchmark(config, out=str(tmp_path / f"{name}.json"))[1])
    a, b = (load(p) for p in paths)

    # the suite planned it, ran it and checked its answers against the reference
    run = next(r for r in a.runs if r.mode == "dict-index")
    assert run.label == "dict-index" and run.correct and len(run.samples["response_s"]) >= 3
    assert "dict-index" in json.loads(paths[0].read_text())["config"]["modes"]

    # compare keys it by the table (no params: one run per file) and matches it across files
    assert run_key(run) == ("dict-index",)
    pairs, only_a, only_b = match_runs(a, b)
    assert {ra.mode for ra, _ in pairs} == {"sequential", "dict-index"} and not only_a and not only_b

    # repro judges its row under the default band
    assert tolerance_table(a, b)["dict-index"] == pytest.approx(0.10)
    rep = reproduction_table(a, b)
    row = next(r for r in rep.rows if r.mode == "dict-index")
    assert row.status in ("reproduced", "differs", "cant-tell") and row.tolerance == pytest.approx(0.10)

    # the report shows it, in the table's colour
    page = write_report([str(p) for p in paths], out=str(tmp_path / "report" / "index.html"), charts=True).read_text()
    assert "dict-index" in page and OKABE_ITO["yellow"].lower() in page.lower()


def test_a_mode_the_table_does_not_know_is_refused_in_one_line():
    with pytest.raises(Exception) as caught:
        build_config(suite="quick", modes="sequential,dict-index", quiet=True)
    assert "unknown mode dict-index" in str(caught.value)

"""--workload MODULE:FUNCTION: a user's per-item function benchmarked like the lookups."""

import html
import json
import re
import sys
import textwrap

import pytest

from bench import options
from bench.cli import main
from bench.engine import modes
from bench.engine.run import run_benchmark
from bench.engine.suites import build_config
from bench.engine.workload import FunctionWorkload, NUMPY_SKIPPED, from_config, resolve_function
from bench.errors import UsageError
from bench.examples import workloads as examples

USER_MODULE = "bench_user_workload_example"


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's module in a directory of its own (the CWD), as a user would have it."""
    (tmp_path / f"{USER_MODULE}.py").write_text(textwrap.dedent('''
        def square(i):
            return (i, i * i)

        def not_picklable(i):
            return lambda: i

        class Opaque:  # no __eq__: a copy is never equal to the original
            pass

        def incomparable(i):
            return Opaque()

        def boom(i):
            raise ValueError("bad item")

        VALUE = 3

        def items():
            return [5, 7, 11]
    '''))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, USER_MODULE, raising=False)
    yield USER_MODULE
    sys.modules.pop(USER_MODULE, None)


# -- specs: parsed here, imported by build_config, exit 2 in one line ---------------------


@pytest.mark.parametrize("spec", ["nocolon", ":f", "mod:", "a:b:c", ""])
def test_a_malformed_spec_is_a_usage_error(spec):
    with pytest.raises(UsageError, match="--workload must be MODULE:FUNCTION"):
        options.function_spec("workload", spec)
    with pytest.raises(UsageError, match="--workload must be MODULE:FUNCTION"):
        resolve_function(spec)


def test_a_spec_resolves_to_the_function():
    assert options.function_spec("workload", " bench.examples.workloads : cpu_bound ") == \
        "bench.examples.workloads:cpu_bound"
    assert resolve_function("bench.examples.workloads:cpu_bound") is examples.cpu_bound


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
    ("bench.examples.workloads:missing", "has no attribute 'missing'"),
    ("bench.examples.workloads:CPU_ROUNDS", "'CPU_ROUNDS' is not callable"),
])
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(UsageError, match=message):
        build_config(workload=spec)


@pytest.mark.parametrize("argv, message", [
    (["--workload", "no_such_module_xyz:f"], "cannot import module"),
    (["--workload", "bench.examples.workloads"], "must be MODULE:FUNCTION"),
    (["--workload", "bench.examples.workloads:nothing"], "has no attribute"),
    (["--items", "10"], "--items applies only with --workload"),
    (["--workload", "bench.examples.workloads:cpu_bound", "--modes", "numpy"], "numpy has no meaning"),
    (["--workload", "bench.examples.workloads:cpu_bound", "--array-size", "5"], "--array-size applies to the lookups"),
])
def test_bad_workload_options_exit_2_in_one_line_through_the_cli(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", *argv, "--out", str(tmp_path / "r.json")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: ") and message in err, err
    assert not (tmp_path / "r.json").exists()


def test_the_options_are_in_the_one_table():
    for name in ("workload", "items", "items_from"):
        assert options.BY_NAME[name].key == name  # recorded, rendered back, re-applied by repro


def test_build_config_for_a_function():
    config = build_config(workload="bench.examples.workloads:cpu_bound", items=300)
    assert config.suite.name == "quick"  # the quick sweep unless --suite is given
    assert config.queries == config.items == 300 and config.array_size is None
    assert "numpy" not in config.modes and set(config.modes) == {"sequential", "multiprocessing", "ray-naive",
                                                                  "ray-batched", "ray-auto"}
    recorded = config.describe()
    assert recorded["workload"] == "bench.examples.workloads:cpu_bound" and recorded["items"] == 300
    argv = options.argv_from_config(recorded)
    assert argv[argv.index("--workload") + 1] == "bench.examples.workloads:cpu_bound"
    flags = dict(zip(argv[4::2], argv[5::2]))
    again = build_config(**{options.BY_NAME[f[2:].replace("-", "_")].name: v for f, v in flags.items()})
    assert again.describe() == recorded
    # the lookups are unchanged by the new options
    assert build_config().suite.name == "standard" and "numpy" in build_config().modes
    with pytest.raises(UsageError, match="differ"):
        build_config(workload="bench.examples.workloads:cpu_bound", items=300, queries=400)


def test_items_from_a_function(user_module):
    config = build_config(workload=f"{user_module}:square", items_from=f"{user_module}:items", modes="sequential")
    assert config.queries == 3
    workload = from_config(config)
    assert workload.items(3) == [5, 7, 11] and list(workload.reference) == [(5, 25), (7, 49), (11, 121)]
    assert workload.describe()["items_from"] == f"{user_module}:items"
    with pytest.raises(UsageError, match="not both"):
        build_config(workload=f"{user_module}:square", items=3, items_from=f"{user_module}:items")


def test_the_sequential_mode_and_verification_of_a_function():
    workload = FunctionWorkload("bench.examples.workloads:cpu_bound", count=50)
    outcome = modes.Sequential(workload).trial(50)
    assert outcome.answers == [examples.cpu_bound(i) for i in range(50)]
    assert workload.verify(outcome.answers, 50) == (True, 0)
    wrong = list(outcome.answers)
    wrong[3] += 1
    assert workload.verify(wrong, 50) == (False, 1) and workload.verify(wrong[:10], 50) == (False, 50)
    assert workload.checksum_of(outcome.answers) == workload.checksum != workload.checksum_of(wrong)
    described = workload.describe()
    assert described["kind"] == "function" and described["items"] == 50
    assert described["skipped_modes"] == {"numpy": NUMPY_SKIPPED}


def test_examples_are_deterministic():
    assert [examples.cpu_bound(i) for i in range(5)] == [examples.cpu_bound(i) for i in range(5)]
    assert examples.large_result(7) == examples.large_result(7) != examples.large_result(8)
    assert len(examples.large_result(7)) == examples.LARGE_RESULT_BYTES


@pytest.mark.parametrize("function, message", [
    ("not_picklable", "its results must be picklable"),
    ("incomparable", "its results must be comparable with =="),
    ("boom", "raised on the sequential reference: ValueError: bad item"),
])
def test_unusable_results_are_one_clear_line(user_module, function, message, tmp_path, capsys):
    with pytest.raises(UsageError, match=message):
        FunctionWorkload(f"{user_module}:{function}", count=5).reference
    # through the CLI: exit 2, one line, before any Ray starts and with no file written
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as exited:
        main(["run", "--workload", f"{user_module}:{function}", "--items", "5", "--modes", "sequential",
              "--out", str(out), "--quiet"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


# -- the modes, with Ray -------------------------------------------------------------------


def _assert_checked(data, function, items, modes_run):
    assert data["status"] == "complete"
    assert data["workload"]["kind"] == "function" and data["workload"]["function"] == function
    assert data["workload"]["items"] == items and data["workload"]["skipped_modes"] == {"numpy": NUMPY_SKIPPED}
    assert data["config"]["workload"] == function
    assert {r["mode"] for r in data["runs"]} == set(modes_run)
    for run in data["runs"]:
        assert run["correct"] is True and run["error"] is None and run["mismatches"] == 0, run["label"]
        assert run["checksum"] == run["reference_checksum"], run["label"]


@pytest.mark.ray
def test_a_function_through_every_mode_with_embedded_ray(tmp_path):
    function = "bench.examples.workloads:large_result"
    config = build_config(workload=function, items=200, trials=1, naive_tasks="50", batch_sizes="10,100",
                          num_cpus=2, budget=0, quiet=True)
    out = tmp_path / "r.json"
    run_benchmark(config, out=out)
    data = json.loads(out.read_text())
    _assert_checked(data, function, 200, ("sequential", "multiprocessing", "ray-naive", "ray-batched", "ray-auto"))
    auto = next(r for r in data["runs"] if r["mode"] == "ray-auto")
    assert auto["params"]["batch_size"] >= 1 and auto["params"]["probe"]["per_lookup_work_s"] > 0


@pytest.mark.ray
def test_a_users_own_module_through_the_cli_entry(user_module, tmp_path, capsys):
    # the module lives only in the CWD: Ray's workers find it through the PYTHONPATH the run sets
    function = f"{user_module}:square"
    out = tmp_path / "r.json"
    main(["run", "--workload", function, "--items", "120", "--modes", "sequential,ray-naive,ray-batched",
          "--trials", "1", "--naive-tasks", "40", "--batch-sizes", "30", "--num-cpus", "2", "--budget", "0",
          "--out", str(out), "--quiet"])
    data = json.loads(out.read_text())
    _assert_checked(data, function, 120, ("sequential", "ray-naive", "ray-batched"))
    printed = capsys.readouterr().out
    assert f"results: {out}" in printed
    # a user's function is counted in items, never in the lookups it is not
    assert "items/s" in printed and "one task per item" in printed and "lookup" not in printed
    from bench.report import write_report
    page = write_report([str(out)], tmp_path / "index.html").read_text()
    assert "items per task)" in page  # the headline: "Batched Ray (B = 30 items per task) is ..."
    # nowhere else either: captions, axes, the table and the model's rows (the anatomy, which
    # diagnoses the lookup tasks only, says so in its one line)
    words = html.unescape(re.sub(r"<[^>]+>", " ", page)).replace("the anatomy diagnoses the lookup tasks' shapes only", "")
    assert "lookup" not in words, re.findall(r".{60}lookup.{40}", words)[:3]


def test_a_slow_function_gets_a_short_auto_probe(user_module):
    workload = FunctionWorkload(f"{user_module}:square", count=20)
    workload.reference
    workload.__dict__["reference_s"] = 20 * 0.01  # as if each item took 10 ms
    assert workload.probe_items(2000) == 10  # ~0.1 s of work per probe task, not 2000 items
    workload.__dict__["reference_s"] = 20 * 1e-6  # 1 µs items: the lookups' probe size, within the items
    assert workload.probe_items(2000) == 20 and workload.probe_items(5) == 5

import json

import pytest

from bench import results
from bench.errors import UsageError
from bench.results import Results, Run


def make_results() -> Results:
    run = Run.from_dict({
        "mode": "sequential", "label": "sequential", "params": {"queries": 10},
        "samples": {"response_s": [0.1, 0.2, 0.3]},
        "stats": {"response_s": {"median": 0.2}}, "correct": True,
        "error": None, "task_latencies_s": [[0.1], [0.2]],
    })
    return Results(metadata={"host": "h"}, workload={"queries": 10, "seed": 1},
                   cluster={"nodes": []}, runs=(run,), suite="quick")


def test_round_trip_preserves_everything(tmp_path):
    path = tmp_path / "r.json"
    original = make_results()
    results.save(original, path)
    loaded = results.load(path)
    assert loaded.to_dict() == original.to_dict()
    assert loaded.runs[0].extra["task_latencies_s"] == ((0.1,), (0.2,))
    assert json.loads(path.read_text())["schema_version"] == results.SCHEMA_VERSION


def test_results_are_immutable():
    res = make_results()
    with pytest.raises(Exception):
        res.runs[0].samples["response_s"] = ()
    with pytest.raises(Exception):
        res.status = "x"


def test_unknown_schema_version_is_rejected(tmp_path):
    path = tmp_path / "r.json"
    data = make_results().to_dict()
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="unsupported schema_version 99"):
        results.load(path)


@pytest.mark.parametrize("content, message", [
    ("", "empty file"),
    ('{"schema_version": 1, "runs": [', "not valid JSON"),
    ("[1, 2]", "not a results file"),
    ('{"schema_version": 1}', "missing"),
])
def test_bad_files_are_rejected_with_a_reason(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        results.load(path)


def test_existing_file_is_not_overwritten_without_force(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("keep me")
    with pytest.raises(UsageError, match="already exists"):
        results.check_output_path(path, force=False)
    assert results.check_output_path(path, force=True) == path
    assert path.read_text() == "keep me"


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    path.write_text("old")

    def boom(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results.os, "replace", boom)
    with pytest.raises(OSError):
        results.write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_first_write_never_clobbers_a_file_that_appeared_meanwhile(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("another run's results")
    with pytest.raises(FileExistsError):
        results.write_atomic(path, "mine", overwrite=False)
    written = results.save(make_results(), path, overwrite=False)
    assert written == tmp_path / "r-2.json"
    assert path.read_text() == "another run's results"
    assert results.load(written).to_dict() == make_results().to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r-2.json", "r.json"]


def test_no_clobber_without_hard_links_still_refuses(tmp_path, monkeypatch):
    def no_links(*_):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(results.os, "link", no_links)
    path = tmp_path / "r.json"
    results.write_atomic(path, "first", overwrite=False)
    with pytest.raises(FileExistsError):
        results.write_atomic(path, "second", overwrite=False)
    assert path.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_suite_started_in_the_same_second_as_another_keeps_both(tmp_path, capsys):
    """The path is checked before the suite starts; a file appearing at that name
    before the first write (a run started the same second) is left alone."""
    from bench.engine.runner import SuiteRunner
    from bench.engine.suites import build_config

    config = build_config(suite="quick", modes="sequential", queries=200, quiet=True)
    target = results.check_output_path(tmp_path / "quick-20261128T000000Z.json", force=False)
    target.write_text("the other run's results")
    runner = SuiteRunner(config, target)
    runner.run()
    assert target.read_text() == "the other run's results"
    assert runner.out_path == tmp_path / "quick-20261128T000000Z-2.json"
    assert results.load(runner.out_path).runs[0].correct
    assert "appeared while this suite ran" in capsys.readouterr().err


def test_losing_the_race_for_the_second_name_moves_to_the_third(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    path.write_text("first run")
    real_write = results.write_atomic

    def racing_write(target, text, overwrite=True):
        if target.name == "r-2.json":  # another run takes r-2.json just before this one
            target.write_text("second run")
            raise FileExistsError(target)
        return real_write(target, text, overwrite=overwrite)

    monkeypatch.setattr(results, "write_atomic", racing_write)
    assert results.save(make_results(), path, overwrite=False) == tmp_path / "r-3.json"
    assert path.read_text() == "first run" and (tmp_path / "r-2.json").read_text() == "second run"


# --- schema v2: v1 files are upgraded once, on load -----------------------------------------

FIXTURES = __import__("pathlib").Path(__file__).resolve().parent / "fixtures"


def _v1(tmp_path, data: dict):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps({**data, "schema_version": 1}))
    return path


def test_a_newer_schema_is_one_clear_line(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**make_results().to_dict(), "schema_version": results.SCHEMA_VERSION + 1}))
    with pytest.raises(UsageError) as exc:
        results.load(path)
    message = str(exc.value)
    assert "\n" not in message and "written by a newer bench" in message and "upgrade bench" in message


def test_v1_without_config_gets_one_reconstructed_from_its_runs(tmp_path):
    from bench.options import argv_from_config

    res = results.load(FIXTURES / "node-lost.json")
    assert res.schema_version == 2 and res.config["reconstructed_from"]
    assert res.config["expect_nodes"] == 2 and res.config["suite"] == "quick"
    assert list(res.config["batch_sizes"]) == [10, 100, 1000] and list(res.config["naive_tasks"]) == [200, 500]
    argv = argv_from_config(res.config)
    assert argv[argv.index("--trials") + 1] == "3" and argv[argv.index("--expect-nodes") + 1] == "2"
    embedded = results.load(FIXTURES / "small-1cpu.json").config  # an embedded Ray with fewer CPUs than the host
    assert embedded["num_cpus"] == 1 and embedded["address"] is None


def test_v1_recorded_config_is_kept_and_completed(tmp_path):
    raw = json.loads((FIXTURES / "heavy-1cpu.json").read_text())
    res = results.load(FIXTURES / "heavy-1cpu.json")
    assert {k: res.config[k] for k in raw["config"]} == {k: results._freeze(v) for k, v in raw["config"].items()}
    assert res.config["target_cv"] is None and res.config["extra_budget_s"] is None
    assert "reconstructed_from" not in res.config


def test_v1_model_gets_its_relative_fit_quality_from_its_points():
    model = results.load(FIXTURES / "small.json").analysis["model"]
    residuals = [p["predicted_s"] / p["measured_s"] - 1 for p in model["points"]]
    assert model["rms_relative_error"] == pytest.approx((sum(r * r for r in residuals) / len(residuals)) ** 0.5)
    worst = max(residuals, key=abs)
    assert model["max_relative_residual"] == pytest.approx(worst)
    assert model["worst_point_batch_size"] == model["points"][residuals.index(worst)]["batch_size"]
    assert model["misfit"] == (abs(worst) > 0.25)


def test_upgrade_does_not_touch_its_input_and_writes_v2(tmp_path):
    data = {**make_results().to_dict(), "schema_version": 1}
    del data["status"], data["config"], data["analysis"]
    before = json.dumps(data, sort_keys=True)
    upgraded = results.upgrade_v1_to_v2(data)
    assert json.dumps(data, sort_keys=True) == before
    assert upgraded["schema_version"] == 2 and upgraded["status"] == "complete" and upgraded["analysis"] == {}
    assert upgraded["config"]["trials"] is None and upgraded["config"]["modes"] == ["sequential"]
    res = results.load(_v1(tmp_path, data))
    written = json.loads(results.save(res, tmp_path / "again.json").read_text())
    assert written["schema_version"] == 2 and written["config"] == upgraded["config"]
    # an object still carrying v1 (Results.from_dict does not upgrade) is written as v2 too
    old = results.Results.from_dict(data)
    assert old.schema_version == 1
    assert json.loads(results.save(old, tmp_path / "old.json").read_text())["schema_version"] == 2

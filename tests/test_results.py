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
    from bench.runner import SuiteRunner
    from bench.suites import build_config

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

"""`bench suites` (bench/pipeline.py): the suites in turn, then one report over their files; the
sequence make report and the bench container's automatic run share. The suites themselves are
stood in for by copies of a committed results pair, so no Ray runs here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import pipeline
from bench.errors import RuntimeFailure, UsageError

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "intel-xeon-1217"
RECORDED = {"standard": EXAMPLES / "standard-20261203T193417Z.json",
            "heavy": EXAMPLES / "standard-20261203T193417Z-heavy.json"}


@pytest.fixture
def ran(monkeypatch):
    """run_command stood in for: each suite 'writes' its recorded file; a suite in `failing`
    writes it and then fails as a run with wrong answers does."""
    calls, failing = [], set()

    def run_command(given, argv=None, on_done=None):
        from bench import results

        calls.append(dict(given))
        shutil.copy(RECORDED[given["suite"]], given["out"])
        if given["suite"] in failing:
            raise RuntimeFailure(f"1 run(s) failed or gave wrong answers (x); results kept in {given['out']}")
        on_done(results.load(given["out"]), given["out"])  # as bench.engine.run does once a suite ended

    monkeypatch.setattr(pipeline, "run_command", run_command)
    return calls, failing


def test_suites_run_in_order_into_name_and_name_suite_then_one_report_over_both(tmp_path, ran, capsys):
    calls, _ = ran
    report = tmp_path / "reports" / "index.html"
    written = pipeline.run_suites(["standard", "heavy"], name="r", report=str(report), results_dir=str(tmp_path),
                                  address="auto", expect_nodes=3)
    # each suite printed its verdict as it ended (on_done); the report adds only where it is
    out = capsys.readouterr().out
    assert out.count("verdict (standard suite)") == out.count("verdict (heavy suite)") == 1
    assert out.index("verdict (standard suite)") < out.index("verdict (heavy suite)")
    assert out.endswith(f"results: {tmp_path / 'r-heavy.json'}\nreport: {report}\n")
    assert "verdict (standard suite)" in (report.parent / "summary.txt").read_text()
    assert written == [tmp_path / "r.json", tmp_path / "r-heavy.json"]
    assert [(c["suite"], Path(c["out"]).name, c["address"], c["expect_nodes"]) for c in calls] == [
        ("standard", "r.json", "auto", 3), ("heavy", "r-heavy.json", "auto", 3)]
    page = report.read_text()
    assert "r.json" in page and "r-heavy.json" in page  # one page over both files


def test_a_failed_suite_ends_the_sequence_and_its_file_is_still_reported(tmp_path, ran, capsys):
    calls, failing = ran
    failing.add("standard")
    report = tmp_path / "index.html"
    with pytest.raises(RuntimeFailure, match="wrong answers"):
        pipeline.run_suites(["standard", "heavy"], name="r", report=str(report), results_dir=str(tmp_path))
    assert [c["suite"] for c in calls] == ["standard"]  # heavy never ran
    assert report.is_file() and "r.json" in report.read_text()
    out = capsys.readouterr().out  # the failed suite printed nothing itself: the report gives its verdict
    assert out.count("verdict (standard suite)") == 1 and out.startswith("== r.json (standard)\n")
    assert out.endswith(f"report: {report}\n")


@pytest.mark.parametrize("suites, name, taken, says", [
    (["standard", "nope"], "r", None, "unknown suite 'nope'"),
    (["heavy", "heavy"], "r", None, "each suite once"),
    ([], "r", None, "at least one suite"),
    (["standard"], "sub/r", None, "without a folder"),
    (["standard", "heavy"], "r", "r-heavy.json", "r-heavy.json already exists"),
])
def test_bad_suites_names_or_a_taken_path_are_refused_before_anything_runs(tmp_path, ran, suites, name, taken, says):
    calls, _ = ran
    if taken:
        (tmp_path / taken).write_text("{}")
    with pytest.raises(UsageError, match=says):
        pipeline.run_suites(suites, name=name, report=str(tmp_path / "index.html"), results_dir=str(tmp_path))
    assert calls == [] and not (tmp_path / "index.html").exists()

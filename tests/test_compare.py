"""`bench compare`: ratios per run, a rank test for "is it real", --fail-above, workload checks.

compare-base / compare-same / compare-slower are synthetic (tests/fixtures/make_fixtures.py):
12 seeded samples per run around the real medians with 3% noise; in compare-slower only
ray-batched B=100 is 1.5x slower.
"""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

import pytest

from bench import compare
from bench.cli import main
from bench.errors import RuntimeFailure, UsageError
from bench.results import load

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "compare-base.json"
SAME = FIXTURES / "compare-same.json"
SLOWER = FIXTURES / "compare-slower.json"
SLOWED = "ray-batched B=100"


def _run(path, label):
    return next(r for r in json.loads(Path(path).read_text())["runs"] if r["label"] == label)


def test_known_difference_is_real_and_only_there():
    result = compare.compare_results(load(BASE), load(SLOWER))
    rows = {row.label: row for row in result.rows}
    assert len(rows) == len(load(BASE).runs) and not result.only_a and not result.only_b
    slowed = rows[SLOWED]
    a, b = _run(BASE, SLOWED)["samples"]["response_s"], _run(SLOWER, SLOWED)["samples"]["response_s"]
    assert slowed.ratio == pytest.approx(statistics.median(b) / statistics.median(a), rel=1e-12)
    assert slowed.significant and slowed.p_value < 0.001 and slowed.verdict == "real: B is slower"
    assert slowed.ci[0] > 1.3 and slowed.ci[1] < 1.7
    others = [row for label, row in rows.items() if label != SLOWED]
    assert all(not row.significant and row.verdict == "no real difference" for row in others)


def test_known_non_difference_is_not_real():
    result = compare.compare_results(load(BASE), load(SAME))
    assert all(not row.significant for row in result.rows)
    assert all(row.ci[0] < 1 < row.ci[1] or abs(row.ratio - 1) < 0.05 for row in result.rows)


def test_fail_above_exits_on_a_regression_only():
    out = io.StringIO()
    with pytest.raises(RuntimeFailure, match=r"1 run\(s\) regressed beyond 20%: ray-batched B=100 \(\+5\d\.\d%\)"):
        compare.compare_files(str(BASE), str(SLOWER), fail_above=20, out=out)
    assert SLOWED in out.getvalue()
    compare.compare_files(str(BASE), str(SAME), fail_above=20, out=out)
    assert "no regression beyond 20%" in out.getvalue()
    # above the threshold: a 52% slowdown does not fail a 60% gate
    compare.compare_files(str(BASE), str(SLOWER), fail_above=60, out=io.StringIO())


def test_different_workloads_are_refused(tmp_path):
    data = json.loads(BASE.read_text())
    data["workload"]["seed"] = 7
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="workloads differ.*seed 42 vs 7"):
        compare.compare_files(str(BASE), str(other), out=io.StringIO())


def test_too_few_trials_are_not_called_equal():
    # the real tiny runs have 3 trials each: a rank test cannot reach p < 0.05
    assert compare.min_attainable_p(3, 3) == pytest.approx(0.1)
    assert compare.min_attainable_p(4, 4) == pytest.approx(2 / 70)
    out = io.StringIO()
    result = compare.compare_files(str(FIXTURES / "small.json"), str(FIXTURES / "small-1cpu.json"), out=out)
    assert all(not row.testable and row.verdict.startswith("too few trials") for row in result.rows)
    assert "--trials 4 or more" in out.getvalue()
    # the per-CPU batch size differs between 2 and 1 CPUs: listed as unmatched, not silently dropped
    assert "only in B" in out.getvalue()


def test_wrong_answers_in_b_are_a_regression():
    result = compare.compare_results(load(FIXTURES / "small.json"), load(FIXTURES / "incorrect.json"))
    bad = [row for row in result.rows if not row.correct_b]
    assert len(bad) == 1 and bad[0].verdict == "not compared: wrong answers in B"
    assert compare.regressions(result, 1000) == [f"{bad[0].label_b} (wrong answers)"]


def test_cli_compare_exit_codes(capsys, tmp_path):
    main(["compare", str(BASE), str(SAME), "--fail-above", "10"])
    assert "no regression beyond 10%" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(BASE), str(SLOWER), "--fail-above", "10"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("bench: error: 1 run(s) regressed") and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(BASE), str(FIXTURES / "nope.json")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(BASE), str(SAME), "--fail-above", "-3"])
    assert exc.value.code == 2

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

from bench.analysis import compare
from bench.cli import main
from bench.errors import RuntimeFailure, UsageError
from bench.format import fmt_time
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
        compare.compare_files(str(BASE), str(SLOWER), fail_above=0.2, out=out)
    assert SLOWED in out.getvalue()
    compare.compare_files(str(BASE), str(SAME), fail_above=0.2, out=out)
    assert "no regression beyond 20%" in out.getvalue()
    # above the threshold: a 52% slowdown does not fail a 60% gate
    compare.compare_files(str(BASE), str(SLOWER), fail_above=0.6, out=io.StringIO())


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
    main(["compare", str(BASE), str(SAME), "--fail-above", "0.1"])
    assert "no regression beyond 10%" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(BASE), str(SLOWER), "--fail-above", "0.1"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("bench: error: 1 run(s) regressed") and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(BASE), str(FIXTURES / "nope.json")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(BASE), str(SAME), "--fail-above", "-3"])
    assert exc.value.code == 2


# ---- exact behaviour of the pieces (issue 12: mutants that survived the tests above) ----

def _row(label="m", label_b=None, ma=0.010, mb=0.012, p=0.01, ci=(1.1, 1.3), ok_a=True, ok_b=True,
         significant=True, testable=True, n=12, verdict="real: B is slower"):
    ratio = None if ma is None or mb is None else mb / ma
    return compare.Row(label, label_b or label, n, n, ma, mb, ratio, p, ci, ok_a, ok_b, verdict, significant, testable)


def test_format_table_columns_units_and_alignment():
    rows = [_row("ray-naive", ma=2.5, mb=2.0, p=0.0123, ci=(0.7, 0.9), verdict="real: B is faster"),
            _row("numpy", "numpy B", ma=None, mb=None, p=None, ci=None, verdict="no samples")]
    lines = compare.format_table(compare.Comparison(rows, [], []))
    assert lines[0].split() == ["run", "A", "median", "B", "median", "B/A", "change", "p", "(MWU)", "95%", "CI",
                                "of", "B/A", "verdict"]
    assert set(lines[1].replace(" ", "")) == {"-"} and len(lines) == 4
    widths = [len(w) for w in lines[1].split("  ")]
    assert widths[0] == len("numpy / numpy B")  # the widest cell of the first column
    first = lines[2].split()
    assert first[:1] == ["ray-naive"] and "2.5 s" in lines[2] and "2 s" in lines[2]
    assert "0.800×" in lines[2] and "-20.0%" in lines[2] and "0.0123" in lines[2]
    assert "[0.700, 0.900]" in lines[2] and lines[2].endswith("real: B is faster")
    # label and verdict are left-aligned; numbers right-aligned under their header
    assert lines[2].startswith("ray-naive ") and lines[3].startswith("numpy / numpy B")
    cells3 = lines[3].split()
    assert cells3[-2:] == ["no", "samples"] and cells3.count("-") == 6
    assert lines[0].index("verdict") == lines[2].index("real: B is faster")
    header_end = lines[0].index("A median") + len("A median")
    assert lines[2][:header_end].endswith("2.5 s")  # right-aligned to the header's end
    assert all(line == line.rstrip() for line in lines)


def test_fmt_time_picks_the_unit():
    # compare's table prints bench.format.fmt_time, with "-" for a missing median like its other columns
    assert fmt_time(None, missing="-") == "-"
    assert fmt_time(1.0) == "1 s"
    assert fmt_time(12.34) == "12.3 s"
    assert fmt_time(0.5) == "500 ms"
    assert fmt_time(1e-3) == "1 ms"
    assert fmt_time(0.000999) == "999 µs"
    assert fmt_time(2.5e-6) == "2.5 µs"


def test_regressions_threshold_and_noise_rule():
    c = compare.Comparison
    # exactly at the threshold is not beyond it
    assert compare.regressions(c([_row(ma=1.0, mb=1.2)], [], []), 20.0) == []
    assert compare.regressions(c([_row(ma=1.0, mb=1.21)], [], []), 20.0) == ["m (+21.0%)"]
    # a testable, non-significant slowdown is noise; an untestable one counts on its median
    assert compare.regressions(c([_row(ma=1.0, mb=1.5, significant=False)], [], []), 10) == []
    assert compare.regressions(c([_row(ma=1.0, mb=1.5, significant=False, testable=False)], [], []), 10) == ["m (+50.0%)"]
    # faster is never a regression; wrong in A (only) is not compared, wrong in B always is
    assert compare.regressions(c([_row(ma=1.0, mb=0.5)], [], []), 0) == []
    assert compare.regressions(c([_row(ma=1.0, mb=5.0, ok_a=False)], [], []), 0) == []
    assert compare.regressions(c([_row(ma=1.0, mb=1.0, ok_b=False, label_b="x")], [], []), 0) == ["x (wrong answers)"]
    assert compare.regressions(c([_row(ma=None, mb=None, significant=False, testable=False)], [], []), 0) == []


def test_change_pct_is_relative_to_a():
    assert _row(ma=2.0, mb=3.0).change_pct == pytest.approx(50.0)
    assert _row(ma=None, mb=None).change_pct is None


def test_bootstrap_ci_brackets_the_ratio_and_narrows_with_the_level():
    a = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]
    b = [2.0, 2.2, 1.8, 2.1, 1.9, 2.0]
    lo, hi = compare.bootstrap_ratio_ci(a, b)
    assert lo < 2.0 < hi and 1.5 < lo and hi < 2.6
    lo50, hi50 = compare.bootstrap_ratio_ci(a, b, level=0.5)
    assert lo <= lo50 <= hi50 <= hi and (hi50 - lo50) < (hi - lo)
    assert compare.bootstrap_ratio_ci(a, b) == compare.bootstrap_ratio_ci(a, b)  # seeded
    assert compare.bootstrap_ratio_ci([1.0], b) is None and compare.bootstrap_ratio_ci(a, [2.0]) is None
    assert compare.bootstrap_ratio_ci([1.0, 1.0], [3.0, 3.0]) == (3.0, 3.0)


def test_mann_whitney_edge_cases():
    assert compare.mann_whitney_p([], [1.0]) is None and compare.mann_whitney_p([1.0], []) is None
    assert compare.mann_whitney_p([2.0, 2.0], [2.0, 2.0, 2.0]) == 1.0
    assert compare.mann_whitney_p([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]) == pytest.approx(2 / 70)
    assert compare.min_attainable_p(0, 5) == 1.0 and compare.min_attainable_p(1, 1) == 1.0


def test_compare_pair_verdicts():
    from bench.results import Run

    def run(samples, correct=True, label="r"):
        return Run.from_dict({"mode": "numpy", "label": label, "params": {}, "samples": {"response_s": samples},
                              "stats": {}, "correct": correct})

    fast, slow = [1.0, 1.01, 0.99, 1.02, 0.98], [2.0, 2.01, 1.99, 2.02, 1.98]
    assert compare.compare_pair(run(fast), run(slow)).verdict == "real: B is slower"
    assert compare.compare_pair(run(slow), run(fast)).verdict == "real: B is faster"
    row = compare.compare_pair(run(fast), run(fast))
    assert row.verdict == "no real difference" and not row.significant and row.testable and row.p_value == 1.0
    row = compare.compare_pair(run(fast[:3]), run(slow[:3]))
    assert row.verdict == "too few trials to tell (3 vs 3)" and not row.testable
    row = compare.compare_pair(run(fast, correct=False), run(slow, correct=False))
    assert row.verdict == "not compared: wrong answers in A and B" and not row.significant
    assert compare.compare_pair(run(fast, correct=False), run(slow)).verdict == "not compared: wrong answers in A"
    row = compare.compare_pair(run([]), run(slow))
    assert row.verdict == "no samples" and row.ratio is None and row.median_a is None and row.n_a == 0
    assert compare.compare_pair(run([None, 1.0, 1.0]), run([1.0, None])).n_a == 2


def test_run_key_and_matching():
    from bench.results import Run

    def run(mode, label, **params):
        return Run.from_dict({"mode": mode, "label": label, "params": params, "samples": {}, "stats": {},
                              "correct": True})

    assert compare.run_key(run("ray-naive", "x", tasks=10, window=5)) == ("ray-naive", 10)
    assert compare.run_key(run("ray-batched", "x", batch_size=7, tasks=3)) == ("ray-batched", 7)
    for mode in ("sequential", "numpy", "multiprocessing", "ray-auto"):
        assert compare.run_key(run(mode, "anything", processes=4)) == (mode,)
    assert compare.run_key(run("future-mode", "lbl")) == ("future-mode", "lbl")


def test_compare_files_prints_both_sources_and_the_alpha(tmp_path):
    out = io.StringIO()
    compare.compare_files(str(BASE), str(SAME), alpha=0.01, out=out)
    text = out.getvalue().splitlines()
    assert text[0].startswith(f"A: {BASE} (suite ") and text[1].startswith(f"B: {SAME} (suite ")
    assert "p < 0.01." in text[2] and text[3] == ""
    assert text[4].startswith("run") and text[5].startswith("---")
    for bad in (0, 1, True, "0.05"):
        with pytest.raises(UsageError, match="--alpha"):
            compare.compare_files(str(BASE), str(SAME), alpha=bad, out=io.StringIO())
    for bad in (-0.1, True, "5", 1, 10):  # 10 (a percentage) is refused, not read as a 1000% gate
        with pytest.raises(UsageError, match="--fail-above must be a fraction"):
            compare.compare_files(str(BASE), str(SAME), fail_above=bad, out=io.StringIO())
    compare.compare_files(str(BASE), str(SAME), fail_above=0, out=io.StringIO())  # 0 is a valid gate


def test_describe_names_nodes_cpus_and_a_non_complete_status():
    res = load(FIXTURES / "small.json")
    alive = [n for n in res.cluster["nodes"] if n.get("alive", True)]
    line = compare._describe(res, "p.json")
    assert line.startswith("p.json (suite quick, ")
    assert f"{len(alive)} node(s), {res.cluster['cluster_cpus']:g} CPUs" in line
    assert line.endswith(f"{res.metadata['started_utc']})")
    incomplete = res.with_status("incomplete", "stopped").with_cluster(nodes=[], cluster_cpus=None)
    line = compare._describe(incomplete, "q.json")
    assert f"{res.metadata['host']}, {res.metadata['cpu_count']} CPUs" in line and line.endswith(", INCOMPLETE)")


def test_regressions_look_at_every_row():
    c = compare.Comparison
    rows = [_row("wrong-a", ma=1.0, mb=9.0, ok_a=False), _row("ok", ma=1.0, mb=1.0),
            _row("bad", ok_b=False), _row("none", ma=None, mb=None), _row("slow", ma=1.0, mb=2.0)]
    assert compare.regressions(c(rows, [], []), 10) == ["bad (wrong answers)", "slow (+100.0%)"]
    assert compare.regressions(c([_row(ma=1.0, mb=1.5)], [], []), 50.0) == []  # exactly at: not beyond


def test_compare_results_names_the_sources_keeps_unmatched_and_uses_alpha():
    a, b = load(FIXTURES / "small.json"), load(FIXTURES / "small-1cpu.json")
    other = Results_with_seed(b, 99)
    with pytest.raises(UsageError, match=r"^cannot compare A and B: "):
        compare.compare_results(a, other)
    with pytest.raises(UsageError, match=r"^cannot compare x\.json and y\.json: "):
        compare.compare_results(a, other, source_a="x.json", source_b="y.json")
    result = compare.compare_results(a, b)
    assert result.only_b and isinstance(result.only_a, list)
    assert compare.compare_results(b, a).only_a  # the same unmatched run, from the other side
    base, slower = load(BASE), load(SLOWER)
    strict = compare.compare_results(base, slower, alpha=1e-9)
    assert not any(row.significant for row in strict.rows)  # alpha reaches the rank test


def Results_with_seed(res, seed):
    data = res.to_dict()
    data["workload"]["seed"] = seed
    return type(res).from_dict(data)


def test_equal_medians_with_a_significant_rank_test_name_the_shift_not_the_median():
    from bench.analysis.compare import _direction

    a = [1.0] * 6 + [0.5] * 5
    b = [1.0] * 6 + [2.0] * 5
    assert statistics.median(a) == statistics.median(b) == 1.0
    assert _direction(a, b, 1.0) == "B is slower (equal medians; rank shift)"
    assert _direction(b, a, 1.0) == "B is faster (equal medians; rank shift)"
    assert _direction([1.0, 2.0], [1.0, 2.0], 1.0).startswith("the distributions differ")
    assert _direction([1.0], [2.0], 2.0) == "B is slower"


def test_an_alpha_no_trial_count_can_reach_gives_advice_instead_of_a_crash():
    from bench.analysis.compare import min_attainable_p, trials_for_alpha

    need = trials_for_alpha(0.05)
    assert min_attainable_p(need, need) < 0.05 <= min_attainable_p(need - 1, need - 1)
    assert trials_for_alpha(1e-300, limit=50) is None

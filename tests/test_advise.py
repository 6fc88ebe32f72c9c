"""bench advise: parsing, the recommendation against a known model, break-even, the inline limit,
and the issue's validation on the committed fixtures."""

import glob
import math
import os
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest

from bench.analysis.advise import (HARNESS_ITEM_BYTES, INLINE_MARGIN_BYTES, RAY_INLINE_DEFAULT_BYTES, advice_lines, advise,
                                   advise_command, break_even_items, candidate_sizes, parse_count, parse_duration,
                                   validate_against_suite)
from bench.analysis.model import fit, predict
from bench.errors import UsageError
from bench.results import Results, Run, load

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _run(mode, queries, samples, batch_size=None, probe=None):
    params = {"queries": queries, "tasks": math.ceil(queries / batch_size) if batch_size else 1}
    if batch_size:
        params["batch_size"] = batch_size
    if probe:
        params["probe"] = probe
    return Run.from_dict({"mode": mode, "label": f"{mode} B={batch_size}", "params": params,
                          "samples": {"response_s": list(samples)},
                          "stats": {"response_s": {"median": float(np.median(samples))}}, "correct": True})


def synthetic(a=0.02, c=400e-6, w=2e-6, n=100_000, p=4, sizes=(10, 100, 1000, 10_000, 25_000),
              noise=0.0, trials=5, seed=1, probe=None):
    """A results file whose trials come from the model itself (times (1 + noise) lognormal)."""
    rng = np.random.default_rng(seed)

    def trials_of(t):
        return t * np.exp(rng.normal(0, noise, trials)) if noise else [t] * trials

    runs = [_run("sequential", n, trials_of(n * w))]
    runs += [_run("ray-batched", n, trials_of(predict(a, c, w, n, p, b)), b) for b in sizes]
    if probe:
        runs.append(_run("ray-auto", n, trials_of(predict(a, c, w, n, p, n / p)), math.ceil(n / p), probe))
    return Results(metadata={}, workload={"queries": n}, cluster={"cluster_cpus": p}, runs=tuple(runs))


@pytest.mark.parametrize("text,seconds", [("50us", 50e-6), ("0.2ms", 0.2e-3), ("1e-5s", 1e-5), ("3s", 3.0),
                                          ("50 µs", 50e-6), ("100ns", 1e-7), (" 2.5ms ", 2.5e-3)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["50", 50, 0.5, "fast", "50 minutes", "-3s", "0s", "1e999s", "..s", "", True])
def test_parse_duration_refuses_with_one_line(bad):
    with pytest.raises(UsageError) as exc:
        parse_duration(bad)
    assert "--work-per-item" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("text,count", [("1e6", 1_000_000), ("1_000_000", 1_000_000), ("20000", 20_000),
                                        (20000, 20_000), (1e6, 1_000_000), (1_000_000, 1_000_000), (" 7 ", 7)])
def test_parse_count(text, count):
    assert parse_count(text) == count and isinstance(parse_count(text), int)


@pytest.mark.parametrize("bad", ["many", "1.5", 1.5, 0, "-10", "inf", "nan", True, "1e6us"])
def test_parse_count_refuses_with_one_line(bad):
    with pytest.raises(UsageError) as exc:
        parse_count(bad)
    assert "--items" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("w,n", [(50e-6, 1_000_000), (1e-6, 20_000), (2e-3, 3_000), (5e-6, 3)])
def test_advise_recovers_the_true_optimum_from_noisy_trials(w, n):
    a, c, p = 0.02, 400e-6, 4
    adv = advise(synthetic(a=a, c=c, noise=0.05), w, n)
    true_best = min(predict(a, c, w, n, p, b) for b in range(1, n + 1, max(1, n // 5000)))
    true_best = min(true_best, *(predict(a, c, w, n, p, math.ceil(n / k)) for k in range(1, 4 * p + 1)))
    assert predict(a, c, w, n, p, adv.batch_size) <= true_best * 1.03
    assert adv.tasks == math.ceil(n / adv.batch_size)
    assert adv.predicted_low_s <= adv.predicted_s <= adv.predicted_high_s
    assert adv.resamples > 0 and adv.predicted_high_s > adv.predicted_low_s  # noise gives a real interval


def test_recommendation_minimises_the_models_time_among_candidates():
    adv = advise(load(os.path.join(FIXTURES, "small.json")), 50e-6, 1_000_000)
    a, c, p, n = adv.fixed_cost_s, adv.per_task_overhead_s, adv.cpus, adv.items
    chosen = predict(a, c, 50e-6, n, p, adv.batch_size)
    assert chosen == pytest.approx(adv.predicted_s)
    others = list(candidate_sizes(n, p)) + [1, 7, 999, 12_345, n // 3, n]
    assert all(chosen <= predict(a, c, 50e-6, n, p, b) * (1 + 1e-12) for b in others)


def test_break_even_matches_the_model():
    a, c, w, n, p = 0.02, 400e-6, 2e-6, 100_000, 4
    adv = advise(synthetic(a=a, c=c, w=w, n=n, p=p), 10e-6, 50_000)
    assert adv.fixed_cost_s == pytest.approx(a, rel=1e-6) and adv.per_task_overhead_s == pytest.approx(c, rel=1e-6)
    a, c = adv.fixed_cost_s, adv.per_task_overhead_s  # the fitted figures: the boundary is a tie
    # Work per item: at the best B (one task per CPU) Ray and the loop tie.
    w_even = adv.break_even_work_per_item_s
    best_at = lambda work: min(predict(a, c, work, 50_000, p, b) for b in candidate_sizes(50_000, p))
    assert best_at(w_even * 1.01) < 50_000 * w_even * 1.01
    assert best_at(w_even * 0.99) > 50_000 * w_even * 0.99
    # Item count: the smallest N at which the best B wins, at 10 us per item.
    m = adv.break_even_items
    assert min(predict(a, c, 10e-6, m, p, b) for b in candidate_sizes(m, p)) < m * 10e-6
    assert min(predict(a, c, 10e-6, m - 1, p, b) for b in candidate_sizes(m - 1, p)) >= (m - 1) * 10e-6


def test_break_even_with_fewer_items_than_cpus_and_one_cpu():
    # Huge work per item: Ray wins from 2 items (one task each), below the CPU count.
    assert break_even_items(a=1e-3, c=1e-3, w=1.0, p=8) == 2
    assert break_even_items(a=1e-3, c=1e-3, w=1.0, p=1) is None
    adv = advise(synthetic(p=1, sizes=(10, 100, 1000)), 1e-3, 10_000)
    assert adv.break_even_items is None and math.isinf(adv.break_even_work_per_item_s)
    assert adv.tasks == 1  # one CPU: one task, nothing to overlap
    assert any("none" in line for line in advice_lines(adv) if line.startswith("break-even"))


def test_inline_limit_default_and_what_exceeds_it():
    adv = advise(synthetic(), 50e-6, 1_000_000)
    assert adv.inline_limit_bytes == RAY_INLINE_DEFAULT_BYTES and not adv.inline_limit_recorded
    assert adv.max_items_inline == (RAY_INLINE_DEFAULT_BYTES - INLINE_MARGIN_BYTES) // HARNESS_ITEM_BYTES
    assert adv.batch_size == 250_000 > adv.max_items_inline  # one task per CPU does not stay inline
    assert adv.inline_batch_size <= adv.max_items_inline
    assert adv.inline_predicted_s >= adv.predicted_s
    line = [line for line in advice_lines(adv) if "inline limit" in line][0]
    assert "object store" in line and "Ray's default" in line and "exceeds" in line


def test_inline_limit_recorded_by_ray_auto_is_used():
    adv = advise(synthetic(probe={"inline_object_bytes": 9216, "max_lookups_inline": 1024}), 20e-6, 2_000)
    assert adv.inline_limit_bytes == 9216 and adv.inline_limit_recorded
    assert adv.max_items_inline == (9216 - INLINE_MARGIN_BYTES) // HARNESS_ITEM_BYTES == 1024
    assert adv.batch_size == 500 and adv.inline_batch_size == 500  # stays inline: no alternative needed
    assert any("recorded in the file" in line and "stays inline" in line for line in advice_lines(adv))


def test_advice_lines_name_each_assumption():
    lines = advice_lines(advise(load(os.path.join(FIXTURES, "small.json")), 50e-6, 1_000_000))
    assert lines[0].startswith("recommended batch size: B = 500,000") and "2 tasks" in lines[0]
    assert lines[1].startswith("predicted time:") and "95% interval" in lines[1]
    assert sum(line.startswith("break-even:") for line in lines) == 2
    body = lines[lines.index("assumptions:") + 1:]
    for needle in ("model: T(B) =", "interval: bootstrap", "CPUs: 2", "independent", "inline limit"):
        assert sum(needle in line for line in body) == 1, needle


def test_no_usable_model_is_one_line(tmp_path, capsys):
    head_lost = os.path.join(FIXTURES, "head-lost.json")  # no ray-batched runs
    with pytest.raises(UsageError) as exc:
        advise_command(head_lost, "50us", "1e6")
    assert "head-lost.json" in str(exc.value) and "ray-batched" in str(exc.value)
    assert "\n" not in str(exc.value) and exc.value.exit_code == 2
    with pytest.raises(UsageError):
        advise_command(str(tmp_path / "missing.json"), "50us", "1e6")
    with pytest.raises(UsageError):  # arguments are checked before the file is read
        advise_command(str(tmp_path / "missing.json"), "50", "1e6")
    assert capsys.readouterr().out == ""


def test_advise_command_prints_the_lines(capsys):
    advise_command(os.path.join(FIXTURES, "heavy-2cpu.json"), "0.2ms", "20000")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("recommended batch size: B = 10,000 items per task, 2 tasks")
    assert "assumptions:" in out


def _fixtures_with_a_model():
    return [path for path in sorted(glob.glob(os.path.join(FIXTURES, "*.json"))) if fit(load(path))]


@pytest.mark.parametrize("path", _fixtures_with_a_model(), ids=os.path.basename)
def test_validation_against_the_suite_reports_the_ratio(path):
    results = load(path)
    report = validate_against_suite(results)
    model = fit(results)
    # Structure, not a measured pass mark: fixtures are recorded data.
    assert report["items"] == model["queries"]
    assert report["best_measured_s"] == min(pt["measured_s"] for pt in model["points"])
    assert report["ratio"] == pytest.approx(report["measured_at_recommended_s"] / report["best_measured_s"])
    assert report["ratio"] > 0 and isinstance(report["within_10pct"], bool)
    assert report["within_10pct"] == (report["ratio"] <= 1.10)
    assert report["nearest_measured_batch_size"] in report["measured_batch_sizes"]
    if report["recommended_batch_size"] in report["measured_batch_sizes"]:
        assert report["method"] == "measured"
    # The lookup workload's own w: the recommendation minimises the model's time.
    a, c, p, n, w = (model["fixed_cost_s"], model["per_task_overhead_s"], model["cpus"], report["items"],
                     report["work_per_item_s"])
    best = min(predict(a, c, w, n, p, b) for b in range(1, n + 1))
    assert predict(a, c, w, n, p, report["recommended_batch_size"]) == pytest.approx(best, rel=1e-12)


def test_validation_needs_a_sequential_run():
    results = synthetic()
    results = results.with_runs(tuple(r for r in results.runs if r.mode != "sequential"))
    with pytest.raises(UsageError):
        validate_against_suite(results)


def test_advise_never_imports_ray():
    code = ("import sys; from bench.analysis.advise import advise_command; "
            f"advise_command({os.path.join(FIXTURES, 'small.json')!r}, '50us', '1e6'); "
            "assert 'ray' not in sys.modules, 'ray imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_advise_through_the_cli(capsys):
    from bench.cli import main

    fixture = str(Path(__file__).parent / "fixtures" / "heavy-2cpu.json")
    main(["advise", fixture, "--work-per-item", "50us", "--items", "1e6"])
    out = capsys.readouterr().out
    assert out.startswith("recommended batch size: B = ") and "break-even" in out and "assumptions:" in out
    with pytest.raises(SystemExit) as exit_:
        main(["advise", fixture, "--work-per-item", "50", "--items", "1e6"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == ("bench: error: --work-per-item 50 has no unit: "
                                              "write e.g. 50us, 0.2ms, 1e-5s or 3s")


def test_where_tasks_leave_the_drivers_node_the_recommendation_stays_inline():
    # The compose cluster's case: one task per CPU would return results over the inline limit,
    # which then cross nodes through the object store (measured slower; the model cannot see it).
    local = advise(synthetic(probe={"inline_object_bytes": 102_400, "tasks_leave_driver_node": False}), 2e-6, 100_000)
    remote = advise(synthetic(probe={"inline_object_bytes": 102_400, "tasks_leave_driver_node": True}), 2e-6, 100_000)
    assert local.batch_size == 25_000 > local.max_items_inline and not local.results_cross_nodes
    assert remote.results_cross_nodes and remote.batch_size == remote.inline_batch_size <= remote.max_items_inline
    assert remote.predicted_s == remote.inline_predicted_s >= local.predicted_s
    line = [line for line in advice_lines(remote) if "inline limit" in line][0]
    assert "tasks left the driver's node" in line and "stays inline" in line


def _with_placement_cost(res, affinity_rates, default_rates, driver_node_cpus=0):
    """res with a calibration that timed the no-op task under both placements in the same rounds."""
    rounds = list(range(1, len(affinity_rates) + 1))
    calibration = {"placement": "affinity", "samples": {"tasks_per_s": list(affinity_rates)}, "trial_rounds": rounds,
                   "other_placement": {"placement": "default", "samples": {"tasks_per_s": list(default_rates)},
                                       "trial_rounds": rounds, "driver_node_cpus": driver_node_cpus}}
    return Results(metadata={}, workload=res.workload, cluster={**res.cluster, "calibration": calibration},
                   runs=res.runs, config={"placement": "affinity", "modes": ["ray-batched"]})


def test_advise_states_what_rays_default_placement_costs_per_task_when_the_file_measured_it():
    """Issue 23: the spillback hop (a driver on a node without CPUs, Ray's default placement),
    measured on the file's no-op tasks, is added to c for the advised run's tasks."""
    base = synthetic(c=400e-6)
    # affinity 2,000 no-op tasks/s, Ray's default 1,000/s: 0.5 ms more per task, every round alike
    res = _with_placement_cost(base, [2000, 2010, 1990, 2000, 2005], [1000, 1003, 998, 1001, 999])
    adv = advise(res, 50e-6, 1_000_000)
    assert adv.placement == "affinity" and adv.placement_cost.extra_s == pytest.approx(0.5e-3, rel=0.01)
    line = [line for line in advice_lines(adv) if "placement:" in line]
    assert len(line) == 1
    assert "with --placement affinity" in line[0] and "spillback hop" in line[0]
    assert f"{adv.tasks:,} tasks take about" in line[0]
    expected_c = adv.per_task_overhead_s + adv.placement_cost.extra_s
    from bench.format import fmt_time
    assert f"c = {fmt_time(expected_c)} there" in line[0]
    # the driver's node has CPUs: the difference is stated, the hop is not named
    with_cpus = advice_lines(advise(_with_placement_cost(base, [2000, 2010, 1990, 2000, 2005],
                                                         [1000, 1003, 998, 1001, 999], driver_node_cpus=2),
                                    50e-6, 1_000_000))
    assert not any("spillback" in line for line in with_cpus)


def test_advise_says_the_placement_made_no_difference_when_the_interval_spans_one():
    base = synthetic()
    res = _with_placement_cost(base, [2000, 1800, 2200, 1900, 2100], [1900, 2100, 1950, 2050, 2000])
    line = [line for line in advice_lines(advise(res, 50e-6, 1_000_000)) if "placement:" in line]
    assert len(line) == 1 and "no measurable difference" in line[0] and "holds under either" in line[0]


def test_advise_names_the_placement_of_a_file_without_the_same_round_measure():
    lines = advice_lines(advise(synthetic(), 50e-6, 1_000_000))
    assert [line for line in lines if "placement:" in line] == [
        "  placement: the file records none for its Ray tasks, nor a same-round measure of either"]
    old = load(os.path.join(os.path.dirname(__file__), "..", "docs", "examples", "amd-epyc-485",
                            "standard-20261202T175806Z.json"))  # from before --placement: Ray's default
    assert [line for line in advice_lines(advise(old, 50e-6, 1_000_000)) if "placement:" in line] == [
        "  placement: c was measured with --placement default (Ray's own scheduler); the file has no same-round "
        "measure of the other placement"]

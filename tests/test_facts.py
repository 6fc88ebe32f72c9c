"""The facts layer (bench.analysis.facts) and what reads it: one figure everywhere, intervals from
same-round pairs, claims judged before rows, rows judged both ways, and a file from another
machine judged against the machine factors (issue 22)."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from bench.analysis import claims, conditions, facts, machines, repro
from bench.analysis.model import fit
from bench.analysis.wording import speed_words
from bench.report import load_sources, render
from bench.report.summary import verdict_lines
from bench.results import Run, load

ROOT = Path(__file__).resolve().parent.parent
OTHER = ROOT / "docs" / "examples" / "amd-epyc-485"  # a shared pair from a slower machine (compose, 3 workers)
STANDARD = OTHER / "standard-20261202T175806Z.json"
HEAVY = OTHER / "standard-20261202T175806Z-heavy.json"
BASE = Path(__file__).parent / "fixtures" / "compare-base.json"


def _run(label, times, rounds, queries=1000, mode="ray-batched", **params):
    return Run(mode=mode, label=label, params={"queries": queries, **params},
               samples={"response_s": tuple(times)}, stats={"response_s": {"median": float(np.median(times))}},
               correct=True, extra={"trial_rounds": tuple(rounds)})


def test_a_claims_interval_comes_from_same_round_pairs():
    """Each round's machine state multiplies both rows alike: paired, the ratio is 2.00 with a
    narrow interval; unpaired (medians, or rounds mismatched) it would swing with the machine."""
    rng = np.random.default_rng(3)
    machine = rng.uniform(0.6, 1.4, size=12)  # the VM's speed in each round
    rounds = list(range(1, 13))
    fast = _run("fast", machine * 1.0, rounds)
    slow = _run("slow", machine * 2.0 * rng.uniform(0.99, 1.01, size=12), rounds)
    fact = facts.ratio_fact("x", slow, fast, 0.1, False)
    pairs = [s / f for s, f in zip(slow.samples["response_s"], fast.samples["response_s"])]
    assert fact.value == pytest.approx(math.exp(np.mean(np.log(pairs))))
    assert fact.pairs == 12 and fact.ci[0] > 1.98 and fact.ci[1] < 2.02
    # the same trials with the rounds shuffled in one row pair unlike states: a wide interval
    shuffled = _run("slow", slow.samples["response_s"], list(rng.permutation(rounds)))
    wide = facts.ratio_fact("x", shuffled, fast, 0.1, False)
    assert wide.ci[1] / wide.ci[0] > 1.2


def test_the_terminal_the_page_and_repro_state_the_same_figures():
    res = load(STANDARD)
    fx = facts.compute(res)
    naive, seq, auto = fx.get("batched_vs_naive"), fx.get("batched_vs_sequential"), fx.get("auto_vs_best")
    terminal = "\n".join(verdict_lines(res))
    page = render(load_sources([str(STANDARD)]), with_charts=False)
    headline = re.search(r'<p class="headline">(.*?)</p>', page).group(1)
    for fact in (naive, seq):
        said = speed_words(fact.value, fact.ci)
        assert said in terminal and said in headline, said
    assert f"{auto.value:.2f}× the time of the best swept B" in terminal
    assert f"{auto.value:.2f}× the time of the best swept size" in page
    rep = repro.reproduction_table(res, res)
    by_key = {c.key: c for c in rep.claims}
    assert by_key["batched_vs_naive"].original == naive.value and by_key["auto_vs_best"].original == auto.value
    assert all(c.status == claims.HOLDS for c in rep.claims)


def test_heavy_efficiency_counts_physical_cores_not_ray_cpus():
    res = load(HEAVY)  # 3 one-CPU workers on a 2-core host
    fact = facts.compute(res).get("parallel_efficiency")
    assert fact.detail["ray_cpus"] == 3 and fact.detail["usable_cpus"] == 2
    assert fact.value == pytest.approx(fact.detail["speedup"] / 2)


def _scaled(path: Path, tmp_path: Path, name: str, factors: dict[str, float]) -> Path:
    data = json.loads(path.read_text())
    for run in data["runs"]:
        f = factors.get(run["label"], 1.0)
        run["samples"]["response_s"] = [t * f for t in run["samples"]["response_s"]]
        run["stats"]["response_s"]["median"] = float(np.median(run["samples"]["response_s"]))
    out = tmp_path / name
    out.write_text(json.dumps(data))
    return out


@pytest.mark.parametrize("factor", [0.7, 1.3])
def test_a_row_is_judged_in_both_directions(tmp_path, factor):
    """Faster beyond the band differs as surely as slower (12 trials a side: significant)."""
    moved = _scaled(BASE, tmp_path, "moved.json", {"sequential": factor})
    rep = repro.reproduction_table(load(BASE), load(moved))
    row = next(r for r in rep.rows if r.label == "sequential")
    assert row.status == "differs" and row.ratio == pytest.approx(factor)
    assert not rep.reproduced


def test_a_row_outside_the_band_but_not_significant_cannot_tell(tmp_path):
    data = json.loads(BASE.read_text())
    run = next(r for r in data["runs"] if r["label"] == "sequential")
    times = run["samples"]["response_s"]
    # the same trials, 1.12x by median, but as noisy as the spread: no rank test can tell
    noisy = [t * f for t, f in zip(times, [0.6, 1.7, 0.7, 1.6, 1.12, 1.12, 0.8, 1.5, 1.12, 1.12, 0.9, 1.4])]
    run["samples"]["response_s"] = noisy
    out = tmp_path / "noisy.json"
    out.write_text(json.dumps(data))
    row = next(r for r in repro.reproduction_table(load(BASE), load(out)).rows if r.label == "sequential")
    assert abs(row.ratio - 1) > row.tolerance and row.p_value >= 0.05
    assert row.status == "cant-tell" and row.reason == "noise" and row.more_trials and row.more_trials > 0


def test_a_per_task_row_within_the_session_spread_cannot_tell(tmp_path):
    moved = _scaled(BASE, tmp_path, "session.json", {"ray-naive 500 tasks": 1.15})
    row = next(r for r in repro.reproduction_table(load(BASE), load(moved)).rows if r.label == "ray-naive 500 tasks")
    assert row.status == "cant-tell" and row.reason == "session"
    moved = _scaled(BASE, tmp_path, "beyond.json", {"ray-naive 500 tasks": 1.30})
    row = next(r for r in repro.reproduction_table(load(BASE), load(moved)).rows if r.label == "ray-naive 500 tasks")
    assert row.status == "differs"


def _other_machine(tmp_path: Path, python: float) -> Path:
    """The standard file as a machine whose Python runs `python` times as long, Ray's tasks as fast."""
    original = load(STANDARD)
    data = json.loads(STANDARD.read_text())
    data["metadata"]["cpu_model"] = "Some Other CPU"
    probe = data["cluster"]["host_cpu"]["probe"]
    probe["probe_s"] = [p * python if p else p for p in probe["probe_s"]]
    m = machines.MachineFactors(False, (), python, 1.0, python)
    model = original.analysis["model"]
    for run in data["runs"]:
        f = machines.row_factor(m, run["mode"], run["params"], model)
        run["samples"]["response_s"] = [t * f for t in run["samples"]["response_s"]]
        run["stats"]["response_s"]["median"] = float(np.median(run["samples"]["response_s"]))
    out = tmp_path / "other-machine.json"
    out.write_text(json.dumps(data))
    data["analysis"]["model"] = fit(load(out))  # as the runner fits it on the new machine
    out.write_text(json.dumps(data))
    return out


def test_a_file_from_another_machine_is_judged_against_the_machine_factors(tmp_path):
    other = load(_other_machine(tmp_path, python=2.0))
    rep = repro.reproduction_table(load(STANDARD), other)
    assert not rep.same_machine and rep.machines.python == pytest.approx(2.0)
    assert ("cpu_model", "AMD EPYC", "Some Other CPU") in rep.machines.differences
    seq = next(r for r in rep.rows if r.label == "sequential")
    assert seq.factor == pytest.approx(2.0) and seq.raw_ratio == pytest.approx(2.0) and seq.status == "reproduced"
    assert all(r.status == "reproduced" for r in rep.rows if r.counts)
    assert all(c.status == claims.HOLDS for c in rep.claims)
    # the same file judged as if from the same machine: sequential Python at 2x differs
    same = repro.reproduction_table(load(STANDARD), load(_scaled(STANDARD, tmp_path, "same.json",
                                                                  {"sequential": 2.0})))
    assert same.same_machine and next(r for r in same.rows if r.label == "sequential").status == "differs"


def test_cli_names_another_machine_and_its_factors(tmp_path, capsys):
    from bench.cli import main

    assert main(["repro", str(STANDARD), str(_other_machine(tmp_path, python=1.5))]) is None  # exit 0
    out = capsys.readouterr().out
    assert out.index("ANOTHER MACHINE") < out.index("claims (")
    assert "Python work 1.50× (the machine probe)" in out and "the factors explain" in out


def test_a_claim_holds_differs_or_cannot_tell():
    def fact(value, ci):
        return facts.Fact("batched_vs_sequential", value, "x", ci, ("a", "b"), 5, True, 0.10)

    assert claims.judge(fact(1.30, (1.2, 1.4)), fact(1.25, (1.15, 1.35))).status == claims.HOLDS
    assert claims.judge(fact(1.30, (1.28, 1.32)), fact(1.00, (0.98, 1.02))).status == claims.DIFFERS
    assert claims.judge(fact(1.30, (1.28, 1.32)), fact(1.70, (1.68, 1.72))).status == claims.DIFFERS  # both ways
    assert claims.judge(fact(1.30, (0.9, 1.9)), fact(1.00, (0.7, 1.4))).status == claims.CANT_TELL
    assert claims.judge(fact(1.30, None), fact(1.00, None)).reason == "no-interval"
    # across machines the expected value is the original's times the factor
    assert claims.judge(fact(1.30, (1.28, 1.32)), fact(1.95, (1.93, 1.97)), factor=1.5).status == claims.HOLDS
    region = facts.Fact("best_b_region", 10000, "B", None, (), 0, False, 0.1, members=(10000.0, 33334.0))
    tie = facts.Fact("best_b_region", 33334, "B", None, (), 0, False, 0.1, members=(33334.0,))
    apart = facts.Fact("best_b_region", 1000, "B", None, (), 0, False, 0.1, members=(1000.0,))
    assert claims.judge(region, tie).status == claims.HOLDS and claims.judge(region, apart).status == claims.DIFFERS


def test_an_absolute_figure_is_never_held_tighter_than_the_machine_drifts():
    # w and c are one figure each, not a ratio of two sides in the same round: the machine's
    # drift between two runs does not cancel out of them, so their band is at least it.
    computed = facts.compute(load(STANDARD))
    absolute = [f for f in computed.facts if f.unit == "s"]
    assert {f.key for f in absolute} == {"per_task_overhead", "per_item_work"}
    assert all(f.machine_dependent and f.tolerance >= facts.TOL_MACHINE_PYTHON for f in absolute)
    w = computed.get("per_item_work")
    moved = facts.Fact(w.key, w.value * 1.12, w.unit, tuple(x * 1.12 for x in w.ci), w.runs, w.pairs,
                       True, w.tolerance)
    assert claims.judge(w, moved).status == claims.HOLDS  # pair 2's w (1.106x) sat inside the drift


def test_no_prose_is_stored_and_warnings_are_typed():
    res = load(STANDARD)
    assert all(isinstance(w, conditions.Warning_) and w.kind for w in facts.compute(res).warnings)
    rep = repro.reproduction_table(res, res).to_dict()
    assert "summary" not in rep and "rule" not in rep and all("verdict" not in r for r in rep["rows"])


def test_an_existing_pair_is_rejudged_without_a_re_run(tmp_path, capsys):
    """Files written before the facts layer (schema v2, no facts stored) are judged from their samples."""
    from bench.cli import main

    copy_of = tmp_path / "copy.json"
    copy_of.write_text(STANDARD.read_text())
    assert main(["repro", str(STANDARD), "--other", str(copy_of)]) is None
    assert "claims: 10 of 10 hold" in capsys.readouterr().out


def _with_placements(res, here, there, placement="affinity", driver_node_cpus=0.0):
    rounds = list(range(1, len(here) + 1))
    calibration = {**(res.cluster.get("calibration") or {}), "placement": placement,
                   "samples": {"tasks_per_s": list(here)}, "trial_rounds": rounds,
                   "other_placement": {"placement": "default" if placement == "affinity" else "affinity",
                                       "samples": {"tasks_per_s": list(there)}, "trial_rounds": rounds,
                                       "driver_node_cpus": driver_node_cpus}}
    return res.with_cluster(calibration=calibration)


def test_the_placement_cost_comes_from_the_no_op_rates_of_the_same_rounds_and_is_shown_alike(tmp_path):
    """Ray's default placement against node affinity: per round, the default's time per no-op
    task over affinity's (here 2x whatever the machine did), worded once for terminal and page."""
    from bench.results import save
    from bench.analysis.wording import placement_text

    machine = np.array([1.0, 0.7, 1.3, 0.9, 1.1])
    res = _with_placements(load(STANDARD), 1000 * machine, 500 * machine)
    cost = facts.compute(res).placement
    assert cost.default_over_affinity == pytest.approx(2.0) and cost.pairs == 5
    assert cost.ci[0] == pytest.approx(2.0) and cost.ci[1] == pytest.approx(2.0)
    assert cost.extra_s == pytest.approx(1 / 500 - 1 / 1000)  # at the medians
    # the run placed by Ray's default: the same cost, read the other way round
    flipped = facts.compute(_with_placements(load(STANDARD), 500 * machine, 1000 * machine, "default")).placement
    assert flipped.default_over_affinity == pytest.approx(2.0) and flipped.extra_s == pytest.approx(cost.extra_s)
    said = placement_text(cost)
    assert "Ray's default costs 1 ms more per task (2.00×" in said and "spillback" in said
    assert said in "\n".join(verdict_lines(res))
    save(res, tmp_path / "p.json")
    page = html.unescape(render(load_sources([str(tmp_path / "p.json")]), with_charts=False))
    assert said.removeprefix("placement: ") in page
    # no difference beyond the noise: no hop claimed
    same = facts.compute(_with_placements(load(STANDARD), 1000 * machine, 1000 * machine * [1.02, 0.97, 1.01, 0.99, 1.0]))
    assert "no measurable difference" in placement_text(same.placement)
    # a driver on a node with CPUs (embedded Ray) has no hop to pay: none is named
    beside = placement_text(facts.compute(_with_placements(load(STANDARD), 1000 * machine, 500 * machine,
                                                           driver_node_cpus=2.0)).placement)
    assert "Ray's default took 1 ms more per task" in beside and "no spillback hop is in it" in beside
    assert facts.compute(load(STANDARD)).placement is None  # a file from before --placement


def test_the_placement_cost_needs_the_same_rounds_and_words_each_case(tmp_path):
    from bench.analysis.conditions import PlacementCost
    from bench.analysis.wording import placement_text

    res = load(STANDARD)
    blocks_only = _with_placements(res, [1000, 1100, 900], [500, 520, 480])
    calibration = dict(blocks_only.cluster["calibration"])
    calibration.pop("trial_rounds")  # only the blocks before the rounds: nothing paired
    assert conditions.placement_cost(blocks_only.with_cluster(calibration=calibration)) is None
    # pairs go by round number, not by position
    mixed = _with_placements(res, [1000, 2000, 1000], [500, 1000, 500])
    cal = dict(mixed.cluster["calibration"])
    cal["other_placement"] = {**cal["other_placement"], "trial_rounds": [1, 2, 3]}
    cal["trial_rounds"] = [1, 2, 3]
    paired = conditions.placement_cost(mixed.with_cluster(calibration=cal))
    assert paired.default_over_affinity == pytest.approx(2.0) and paired.ci == pytest.approx((2.0, 2.0))
    cal["other_placement"] = {**cal["other_placement"], "trial_rounds": [2, 1, 3]}
    unpaired = conditions.placement_cost(mixed.with_cluster(calibration=cal))  # round 1 against round 2's: wide
    assert unpaired.ci[1] / unpaired.ci[0] > 10
    # several batches a round (a suite of few rounds): each round's median pairs with the other's
    several = _with_placements(res, [1000, 1200, 2000, 2000, 900], [600, 500, 1000, 1000, 450])  # last-batch pairs: 2.4x
    cal = dict(several.cluster["calibration"])
    cal["trial_rounds"] = [1, 1, 2, 2, 3]
    cal["other_placement"] = {**cal["other_placement"], "trial_rounds": [1, 1, 2, 2, 3]}
    per_round = conditions.placement_cost(several.with_cluster(calibration=cal))
    assert per_round.pairs == 3 and per_round.default_over_affinity == pytest.approx(2.0)
    assert per_round.ci == pytest.approx((2.0, 2.0))

    def said(ratio, ci, extra, cpus):
        return placement_text(PlacementCost("affinity", 1000, 1000 / ratio, ratio, ci, extra, 5, cpus))

    assert "no measurable difference" in said(1.5, None, 5e-4, 0)  # no interval: nothing claimed
    assert "no measurable difference" in said(1.04, (1.02, 1.06), 4e-5, 0)  # under 5%
    assert "spillback hop" in said(1.5, (1.3, 1.7), 5e-4, 0)
    faster = said(0.6, (0.5, 0.7), -4e-4, 0)  # Ray's default measurably faster: no hop is named
    assert "Ray's default took 400 µs less per task" in faster and "hop" not in faster
    assert "no spillback hop is in it" in said(1.5, (1.3, 1.7), 5e-4, 2.0)
    unknown = said(1.5, (1.3, 1.7), 5e-4, None)  # the driver's node not recorded: neither claim
    assert "hop" not in unknown and "Ray's default took 500 µs more per task" in unknown


def _anatomy_run(batch, **medians):
    return {"mode": "ray-naive", "batch_size": batch, "available": True,
            "phases": {name: {"median_s": value} for name, value in medians.items()}}


def test_the_placement_line_names_the_anatomy_phase_that_grows_under_rays_default():
    """Issue 23: the anatomy runs the first shape under the other placement too; the line names
    the phase that grows most from affinity to Ray's default (the spillback: the lease)."""
    from bench.analysis.wording import placement_text

    machine = np.array([1.0, 0.7, 1.3, 0.9, 1.1])
    res = _with_placements(load(STANDARD), 1000 * machine, 500 * machine)
    here = _anatomy_run(1, submission=1e-4, scheduling_and_lease=2e-4, dispatch=3e-4, execution=1e-4)
    there = {**_anatomy_run(1, submission=1.1e-4, scheduling_and_lease=9e-4, dispatch=3.2e-4, execution=1e-4),
             "placement": "default"}
    res = res.with_cluster(anatomy={"available": True, "placement": "affinity", "runs": [here, _anatomy_run(100)],
                                    "other_placement": there})
    cost = facts.compute(res).placement
    assert (cost.grown_phase, cost.grown_batch) == ("scheduling_and_lease", 1)
    assert cost.grown_s == pytest.approx(7e-4)
    assert "grows most in scheduling and lease under Ray's default, +700 µs per task" in placement_text(cost)
    # the run placed by Ray's default: its own anatomy is the default's, the other one affinity's
    flipped = _with_placements(load(STANDARD), 500 * machine, 1000 * machine, "default").with_cluster(
        anatomy={"available": True, "placement": "default", "runs": [{**there, "placement": None}],
                 "other_placement": {**here, "placement": "affinity"}})
    assert facts.compute(flipped).placement.grown_s == pytest.approx(7e-4)
    # no run of the same shape, or the other one unavailable: no phase named
    for anatomy in ({"runs": [_anatomy_run(100)], "other_placement": there},
                    {"runs": [here], "other_placement": {**there, "available": False}}, {"runs": [here]}):
        cost = facts.compute(res.with_cluster(anatomy=anatomy)).placement
        assert cost.grown_phase is None and "anatomy" not in placement_text(cost)


# --- bench.analysis.claims.judge, branch by branch (issue 25: every figure a verdict carries) ----------

def _claim(value, ci, key="batched_vs_sequential", tolerance=0.10, members=()):
    return facts.Fact(key, value, "x", ci, ("a", "b"), 5, True, tolerance, members=members)


def _verdict(a, b, **fields):
    base = dict(key=a.key, unit="x", tolerance=a.tolerance, original=a.value, new=b.value, factor=1.0,
                original_ci=a.ci, new_ci=b.ci, original_members=a.members, new_members=b.members)
    return claims.ClaimVerdict(**{**base, **fields})


def test_a_claim_verdict_carries_every_figure_it_was_judged_on():
    a, b = _claim(1.30, (1.2, 1.4)), _claim(1.25, (1.15, 1.35))
    q = 1.25 / 1.30
    half = math.hypot((math.log(1.4) - math.log(1.2)) / 2, (math.log(1.35) - math.log(1.15)) / 2)
    assert claims.judge(a, b) == _verdict(a, b, status=claims.HOLDS, ratio=q,
                                          ci=(q * math.exp(-half), q * math.exp(half)))
    # differs: a narrow interval either side of 1; an interval wholly below 1 still counts
    a, b = _claim(1.30, (1.28, 1.32)), _claim(1.00, (0.98, 1.02))
    q = 1.00 / 1.30
    half = math.hypot((math.log(1.32) - math.log(1.28)) / 2, (math.log(1.02) - math.log(0.98)) / 2)
    assert claims.judge(a, b) == _verdict(a, b, status=claims.DIFFERS, ratio=q,
                                          ci=(q * math.exp(-half), q * math.exp(half)))
    a, b = _claim(0.50, (0.45, 0.55)), _claim(0.70, (0.66, 0.74))
    assert claims.judge(a, b).status == claims.DIFFERS and claims.judge(a, b).ci[0] > 1
    # can't tell, noise: the combined interval spans 1
    a, b = _claim(1.30, (0.9, 1.9)), _claim(1.00, (0.7, 1.4))
    q = 1.00 / 1.30
    half = math.hypot((math.log(1.9) - math.log(0.9)) / 2, (math.log(1.4) - math.log(0.7)) / 2)
    assert claims.judge(a, b) == _verdict(a, b, status=claims.CANT_TELL, ratio=q, reason="noise",
                                          ci=(q * math.exp(-half), q * math.exp(half)))
    # can't tell, no interval on one side (either side), the ratio still given
    for a, b in ((_claim(1.30, (1.28, 1.32)), _claim(1.00, None)), (_claim(1.30, None), _claim(1.00, (0.98, 1.02)))):
        assert claims.judge(a, b) == _verdict(a, b, status=claims.CANT_TELL, ratio=1.00 / 1.30, reason="no-interval")
    # an interval with a bound at or below 0 is no interval; one wholly below 1 is one
    for bad in ((0.0, 2.0), (-1.0, 2.0), (0.5, 0.0), (0.5, -1.0)):
        assert claims.judge(_claim(1.30, (1.28, 1.32)), _claim(1.00, bad)).reason == "no-interval"
    assert claims.judge(_claim(0.50, (0.49, 0.51)), _claim(0.70, (0.5, 0.9))).ci is not None


def test_a_claim_with_a_missing_side_or_figure_cannot_tell_and_says_so():
    a = _claim(1.30, (1.2, 1.4))
    for x, y in ((a, None), (None, a), (a, _claim(None, None)), (_claim(None, None), a),
                 (a, _claim(0.0, None)), (_claim(0.0, None), a), (_claim(-1.0, None), a), (a, _claim(-1.0, None))):
        verdict = claims.judge(x, y)
        assert (verdict.status, verdict.reason, verdict.ratio, verdict.ci) == (claims.CANT_TELL, "missing", None, None)
        assert verdict.original == (x.value if x else None) and verdict.new == (y.value if y else None)
        assert verdict.unit == "x" and verdict.key == a.key


def test_a_claim_on_the_tolerance_holds_and_one_past_it_does_not():
    on = claims.judge(_claim(1.0, (0.99, 1.01), tolerance=0.25), _claim(1.25, (1.24, 1.26), tolerance=0.25))
    assert on.status == claims.HOLDS
    past = claims.judge(_claim(1.0, (0.99, 1.01), tolerance=0.25), _claim(1.2501, (1.24, 1.26), tolerance=0.25))
    assert past.status == claims.DIFFERS


def test_judge_all_asks_the_factor_only_for_the_originals_claims_and_overall_needs_all_to_hold():
    fa = facts.Facts("standard", False, "lookups", (_claim(1.30, (1.2, 1.4)),), (), None, None, None, None)
    only_new = _claim(2.0, (1.9, 2.1), key="auto_vs_best")
    fb = facts.Facts("standard", False, "lookups", (_claim(1.30, (1.2, 1.4)), only_new), (), None, None, None, None)
    asked = []

    def factor_of(fact):
        asked.append(fact.key)  # a None here would fail: the factor belongs to an original's claim
        return 1.0

    verdicts = claims.judge_all(fa, fb, factor_of)
    assert asked == ["batched_vs_sequential"]
    assert [v.key for v in verdicts] == ["batched_vs_sequential", "auto_vs_best"]
    assert verdicts[1].factor == 1.0 and verdicts[1].reason == "missing"
    holds, cant = verdicts[0], verdicts[1]
    assert claims.overall([holds]) == claims.HOLDS
    assert claims.overall([holds, cant]) == claims.CANT_TELL
    assert claims.overall([]) == claims.CANT_TELL


def test_a_claims_edges_fall_on_the_kind_side():
    # exactly on the tolerance (with its float slack) still holds
    edge = 0.15
    assert claims.judge(_claim(1.0, (0.99, 1.01), tolerance=edge),
                        _claim(1.0 + (edge + 1e-12), (1.14, 1.16), tolerance=edge)).status == claims.HOLDS
    # an interval that touches 1 does not exclude it: can't tell, not differs (both ends)
    wide = (1.0, math.e ** 2)  # half-width exactly 1 on the log scale
    touching_low = claims.judge(_claim(1.0, wide), _claim(math.e, (1.0, 1.0)))
    assert touching_low.ci[0] == 1.0 and touching_low.status == claims.CANT_TELL
    touching_high = claims.judge(_claim(math.e, wide), _claim(1.0, (1.0, 1.0)))
    assert touching_high.ci[1] == 1.0 and touching_high.status == claims.CANT_TELL


def test_a_verdict_keeps_the_machine_factor_and_the_regions_members():
    across = claims.judge(_claim(1.30, (1.28, 1.32)), _claim(1.95, (1.93, 1.97)), factor=1.5)
    assert across.factor == 1.5 and across.expected == pytest.approx(1.95) and across.ratio == pytest.approx(1.0)
    region = facts.Fact("best_b_region", 10000, "B", None, (), 0, False, 0.1, members=(10000.0, 33334.0))
    tie = facts.Fact("best_b_region", 33334, "B", None, (), 0, False, 0.1, members=(33334.0,))
    verdict = claims.judge(region, tie)
    assert (verdict.original_members, verdict.new_members) == ((10000.0, 33334.0), (33334.0,))


def _loaded_original(tmp_path: Path, boot: str | None) -> tuple[Path, Path]:
    """The standard file twice on one machine: the original's probe 1.4x slow (other work beside its
    rounds, as in pair 7), every row the same; both files recording the kernel boot `boot`."""
    data = json.loads(STANDARD.read_text())
    data["metadata"]["boot_id_sha256"] = boot
    new = tmp_path / "new.json"
    new.write_text(json.dumps(data))
    probe = data["cluster"]["host_cpu"]["probe"]
    probe["probe_s"] = [p * 1.4 if p else p for p in probe["probe_s"]]
    original = tmp_path / "original.json"
    original.write_text(json.dumps(data))
    return original, new


def test_a_loaded_original_on_the_same_boot_is_judged_as_this_machine(tmp_path, capsys):
    from bench.cli import main

    original, new = _loaded_original(tmp_path, boot="0123456789abcdef")
    rep = repro.reproduction_table(load(original), load(new))
    assert rep.same_machine and rep.machines.same_boot and rep.machines.python == pytest.approx(1 / 1.4)
    assert next(r for r in rep.rows if r.label == "sequential").status == "reproduced"
    assert all(c.status == claims.HOLDS for c in rep.claims)
    assert main(["repro", str(original), str(new)]) is None  # exit 0
    out = capsys.readouterr().out
    assert "ANOTHER MACHINE" not in out
    assert "same machine (one kernel boot), though its probe took 0.71× the original's time" in out
    # without the boot recorded, the probe alone decides: another machine, and sequential differs
    original, new = _loaded_original(tmp_path, boot=None)
    rep = repro.reproduction_table(load(original), load(new))
    assert not rep.same_machine and next(r for r in rep.rows if r.label == "sequential").status == "differs"


def test_each_rounds_median_leaves_out_failed_trials_and_unmeasured_rates():
    """One grouping for every same-round pair (per_round, the placement cost, the fidelity): a
    round that played several values gives their median; a None or 0 (a failed trial, a rate
    that could not be measured) is left out, so a round of nothing but those has no pair."""
    from bench.analysis.pairs import medians_by_round

    assert medians_by_round([1, 1, 1, 2, 3, 3], [3.0, 1.0, 2.0, 5.0, None, 0]) == {1: 2.0, 2: 5.0}
    assert medians_by_round([4, 4], [1.0, 2.0]) == {4: 1.5}
    assert medians_by_round([], []) == {}

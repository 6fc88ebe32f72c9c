"""Gaps through which a benchmark could lie and the tests still pass (issue 25); each test here
fails with the break named in its docstring (tests/GAPS.md lists the break tried and the test).

The Ray timing windows are in tests/test_timing_windows.py; the embedded run's recorded auth
mode needs a real Ray and is in tests/test_ray_executions.py.
"""

from __future__ import annotations

import dataclasses

import json
import math

import numpy as np
import pytest

from bench import mode_table
from bench.analysis import model
from bench.engine import modes, ray_modes, runner
from bench.engine.record import run_record
from bench.engine.rounds import Row, RunSpec, plan_runs, round_order
from bench.engine.run import run_benchmark
from bench.engine.runner import SuiteRunner
from bench.engine.suites import build_config
from bench.engine.workload import Workload
from bench.errors import RuntimeFailure
from bench.results import Results, Run


# -- rounds are shuffled, not only recorded --------------------------------------------------

LABELS = [f"row {i}" for i in range(6)]


def _played_orders(tmp_path, seed: int, rounds: int = 8) -> list[list[str]]:
    """The order SuiteRunner._play_round really plays rows in, round after round."""
    config = build_config(suite="quick", modes="sequential", queries=50, seed=seed, quiet=True)
    runner = SuiteRunner(config, tmp_path / f"r{seed}.json")
    rows = [Row(RunSpec("sequential", label, 50, 3), mode=None) for label in LABELS]
    played: list[str] = []
    runner._trial = lambda row, round_index: played.append(row.spec.label)
    orders = []
    for k in range(1, rounds + 1):
        played.clear()
        runner._play_round(rows, k)
        orders.append(list(played))
        assert runner.order[-1] == orders[-1]  # recorded as played
    return orders


def test_each_round_plays_its_rows_in_its_own_seeded_shuffled_order(tmp_path):
    """Break: _play_round plays the rows in plan order (ignoring round_order) and records that."""
    orders = _played_orders(tmp_path, seed=42)
    for k, played in enumerate(orders, start=1):
        assert played == [LABELS[i] for i in round_order(LABELS, 42, k)]
    assert len({tuple(o) for o in orders}) > 1  # not one fixed order
    assert any(o != LABELS for o in orders)  # not the plan's order
    assert len({o[0] for o in orders}) > 1  # no row always first
    # another seed, another sequence of orders
    assert _played_orders(tmp_path, seed=7) != orders


def test_round_order_depends_on_the_seed_and_the_round():
    """Breaks: round_order seeded by the round alone, or by the seed alone."""
    labels = [f"row{i}" for i in range(8)]
    assert any(round_order(labels, 1, k) != round_order(labels, 2, k) for k in range(1, 6))
    assert len({tuple(round_order(labels, 1, k)) for k in range(1, 6)}) > 1
    assert all(sorted(round_order(labels, s, k)) == list(range(8)) for s in (1, 2) for k in range(1, 6))


# -- a row is correct only if every trial was ------------------------------------------------

def _row_with_trials(correct_trials: list[bool]) -> tuple[Row, Workload]:
    workload = Workload(40, array_size=10, value_range=30, seed=1)
    row = Row(RunSpec("numpy", "numpy", 40, len(correct_trials)), modes.Numpy(workload))
    row.samples = {"response_s": [0.01] * len(correct_trials)}
    row.correct_trials = list(correct_trials)
    row.mismatches = correct_trials.count(False)
    row.rounds = list(range(1, len(correct_trials) + 1))
    row.stop_reason = "planned trials"
    return row, workload


@pytest.mark.parametrize("trials, correct", [
    ([True, True, True], True),
    ([True, False, True], False),  # wrong in one trial of three
    ([False, True, True], False),  # the warm-up (the first entry) counts too
    ([True, True, False], False),
    ([False, False, False], False),
])
def test_a_run_is_correct_only_if_every_trial_was(trials, correct):
    """Break: run_record calls a run correct when any() of its trials was."""
    row, workload = _row_with_trials(trials)
    assert run_record(row, workload, None, {}, {}, [], []).correct is correct


class WrongInOneTrial(modes.Numpy):
    """Right in the warm-up and every measured trial but the second, where one answer is off."""

    calls = 0

    def trial(self, n):
        type(self).calls += 1
        outcome = super().trial(n)
        if type(self).calls == 3:  # warm-up, trial 1, then trial 2
            outcome.answers = outcome.answers.copy()
            outcome.answers[0] += 1
        return outcome


def test_a_suite_with_answers_wrong_in_only_one_trial_marks_the_run_wrong(tmp_path, monkeypatch):
    """Break: a run correct if any of its trials was (the suite then raises nothing)."""
    WrongInOneTrial.calls = 0
    monkeypatch.setitem(mode_table.TABLE, "numpy", dataclasses.replace(mode_table.TABLE["numpy"], strategy=WrongInOneTrial))
    # no wait for a quiet host (up to 10 s before the rounds, 2 s before each trial): not what is tested
    monkeypatch.setattr(runner, "settle", lambda *_a, **_k: {"waited_s": 0.0, "busy_cores": None,
                                                             "quiet_cores": 0.5, "settled": False})
    config = build_config(suite="quick", modes="numpy,sequential", queries=300, trials=3, budget=0, quiet=True)
    out = tmp_path / "r.json"
    with pytest.raises(RuntimeFailure, match="gave wrong answers"):
        run_benchmark(config, out=out)
    runs = {r["mode"]: r for r in json.loads(out.read_text())["runs"]}
    assert WrongInOneTrial.calls == 1 + 3
    assert runs["numpy"]["correct"] is False and runs["numpy"]["mismatches"] == 1
    assert runs["sequential"]["correct"] is True


# -- ragged batches: ceil(N/B) tasks, in the sweep and in the model ---------------------------

def test_a_sweep_with_a_ragged_n_plans_one_task_per_cpu_by_rounding_up(tmp_path):
    """Break: the one-task-per-CPU batch size floored (1001 lookups on 2 CPUs: B=500 is 3 tasks)."""
    config = build_config(suite="quick", modes="ray-batched", queries=1001, batch_sizes="7,100", quiet=True)
    specs = plan_runs(config, cluster_cpus=2, driver_cpus=2)
    sizes = {s.params["batch_size"]: s for s in specs}
    assert sorted(sizes) == [7, 100, 501]
    assert sizes[501].params["per_cpu"] and sizes[501].label == "ray-batched B=501 (1 task per CPU)"
    workload = Workload(1001, array_size=10, value_range=30, seed=1)
    for size, tasks in ((7, 143), (100, 11), (501, 2)):  # 1001 = 143*7 = 10*100 + 1 = 501 + 500
        assert ray_modes.RayBatched(workload, batch_size=size).tasks_for(1001) == tasks


def _by_hand(a, c, w, n, p, b):
    """The model written out with the task count rounded up by hand, independent of model.predict."""
    k = -(-n // b)
    return a + max(k, p) * c / p + n * w / min(p, k)


@pytest.mark.parametrize("n, p, b, k", [(10, 2, 3, 4), (10, 4, 3, 4), (100_000, 4, 30_000, 4), (1001, 2, 500, 3)])
def test_the_model_rounds_the_task_count_up(n, p, b, k):
    """Break: model.predict with k = floor(N/B) (or N // B)."""
    assert math.ceil(n / b) == k != n // b
    a, c, w = 0.5, 2.0, 0.25
    assert model.predict(a, c, w, n, p, b) == pytest.approx(a + max(k, p) * c / p + n * w / min(p, k))


def test_the_fit_recovers_known_parameters_from_a_ragged_sweep():
    """Break: model.fit's task counts floored. The times are made by hand (not by
    model.predict, which the fit shares), with sizes that do not divide N."""
    a, c, w, n, p = 0.02, 400e-6, 2e-6, 100_000, 4
    sizes = (7, 300, 3_000, 30_000, 45_000)
    assert all(n % b for b in sizes)

    def run(mode, label, median, batch_size=None):
        params = {"queries": n, **({"batch_size": batch_size} if batch_size else {})}
        return {"mode": mode, "label": label, "params": params, "samples": {"response_s": [median]},
                "stats": {"response_s": {"median": median}}, "correct": True}

    runs = [run("sequential", "sequential", n * w)]
    runs += [run("ray-batched", f"B={b}", _by_hand(a, c, w, n, p, b), b) for b in sizes]
    results = Results(metadata={}, workload={"queries": n}, runs=tuple(Run.from_dict(r) for r in runs),
                      cluster={"cluster_cpus": p})
    fitted = model.fit(results)
    assert fitted["fixed_cost_s"] == pytest.approx(a, rel=1e-6)
    assert fitted["per_task_overhead_s"] == pytest.approx(c, rel=1e-6)
    assert fitted["max_relative_residual"] == pytest.approx(0.0, abs=1e-9)
    assert [pt["predicted_s"] for pt in fitted["points"]] == pytest.approx([_by_hand(a, c, w, n, p, b) for b in sizes])


# -- the recorded auth mode --------------------------------------------------------------------

@pytest.mark.parametrize("enabled, expected", [(False, "disabled"), (True, "token")])
def test_the_auth_mode_is_what_ray_says(monkeypatch, enabled, expected):
    """Break: auth_mode() says "token" whatever Ray says. (An embedded run end to end, told
    RAY_AUTH_MODE=disabled or not, is tests/test_ray_executions.py, marker ray.)"""
    from ray._private.authentication import authentication_utils

    from bench.engine import cluster

    monkeypatch.setattr(authentication_utils, "is_token_auth_enabled", lambda: enabled)
    assert cluster.auth_mode() == expected


def test_the_auth_mode_is_unknown_when_ray_will_not_say(monkeypatch):
    from ray._private.authentication import authentication_utils

    from bench.engine import cluster

    def refuses():
        raise RuntimeError("no")

    monkeypatch.setattr(authentication_utils, "is_token_auth_enabled", refuses)
    assert cluster.auth_mode() == "unknown"


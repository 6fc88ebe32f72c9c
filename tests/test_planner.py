"""Trials planned by precision per second (issue 23): each row's trials from its cost and noise,
within a time budget that bounds the measured rounds' wall time; the headline rows stay."""

import pytest

from bench.engine import rounds
from bench.engine.rounds import Row, RunSpec, extra_round_rows, plan_trials
from bench.engine.suites import SUITES, build_config



@pytest.fixture
def budget_alone(monkeypatch):
    """The extra rounds bounded by --budget and --time-budget alone: the planned rounds' share
    (rounds.EXTRA_ROUNDS_SHARE, tested in test_runner_rounds) set out of the way."""
    from bench.engine import rounds

    monkeypatch.setattr(rounds, "EXTRA_ROUNDS_SHARE", 1e9)

def _row(label, trials, estimate_s, times=()):
    row = Row(RunSpec("sequential", label, 10, trials), mode=None)
    row.estimate_s = estimate_s
    row.samples["response_s"] = list(times)
    return row


def test_dear_rows_are_planned_at_their_fewest_trials_cheap_rows_at_the_suites():
    config = build_config(suite="standard", quiet=True, time_budget=10_000)
    suite = config.suite
    cheap = _row("B=1,000", 5, suite.cheap_trial_s)  # exactly at the edge: still cheap
    dear = _row("naive 10k", 5, suite.cheap_trial_s * 1.01)
    headline = _row("naive 100k", 2, 80.0)  # the 100k-task naive row: its own 2, never raised
    predicted = plan_trials([cheap, dear, headline], config)
    assert (cheap.planned_trials, dear.planned_trials, headline.planned_trials) == (5, suite.min_trials, 2)
    assert predicted == pytest.approx(5 * cheap.estimate_s + suite.min_trials * dear.estimate_s + 2 * 80.0)


def test_trials_given_are_played_as_given():
    config = build_config(suite="standard", quiet=True, trials=7, time_budget=1)
    dear = _row("naive 10k", 7, 50.0)
    plan_trials([dear], config)
    assert dear.planned_trials == 7


def test_over_the_time_budget_the_dearest_rows_come_down_first_and_no_row_below_its_floor():
    config = build_config(suite="standard", quiet=True, time_budget=25)  # cheap_trial_s 2, min_trials 3
    rows = [_row("a", 5, 1.9), _row("b", 5, 0.5), _row("c", 5, 0.1), _row("d", 2, 3.0)]
    # 5 x (1.9 + 0.5 + 0.1) + 2 x 3 = 18.5: within 25, as planned
    assert plan_trials(rows, config) == pytest.approx(18.5)
    assert [r.planned_trials for r in rows] == [5, 5, 5, 2]
    tight = build_config(suite="standard", quiet=True, time_budget=15)
    # over 15: a (the dearest over its floor) comes down to 3 (14.7 s), and that is enough
    assert plan_trials(rows, tight) == pytest.approx(3 * 1.9 + 5 * 0.5 + 5 * 0.1 + 2 * 3.0)
    assert [r.planned_trials for r in rows] == [3, 5, 5, 2]
    nothing = build_config(suite="standard", quiet=True, time_budget=0)
    plan_trials(rows, nothing)
    assert [r.planned_trials for r in rows] == [3, 3, 3, 2]  # the floors: the headline rows stay


def test_the_plan_counts_the_wait_after_each_trial_and_the_rounds_bookkeeping():
    """A trial after a many-task Ray trial waits for Ray's bookkeeping, and every round adds the
    calibration's batches: both are in the predicted seconds, and both count against the budget."""
    rows = [_row("naive 10k", 5, 1.9), _row("B=1,000", 5, 0.5)]
    rows[0].wait_after_s = 1.0
    rounds_seen = []

    def per_rounds(rounds):
        rounds_seen.append(rounds)
        return 2.0 * rounds

    roomy = build_config(suite="standard", quiet=True, time_budget=100)
    assert plan_trials(rows, roomy, per_rounds_s=per_rounds) == pytest.approx(5 * (1.9 + 1.0) + 5 * 0.5 + 2.0 * 5)
    assert [r.planned_trials for r in rows] == [5, 5] and rounds_seen[-1] == 5
    # 27 s: within 25 s only once the waits and batches are counted, so the dearest row comes down
    tight = build_config(suite="standard", quiet=True, time_budget=25)
    assert plan_trials(rows, tight, per_rounds_s=per_rounds) == pytest.approx(3 * (1.9 + 1.0) + 5 * 0.5 + 2.0 * 5)
    assert [r.planned_trials for r in rows] == [3, 5]
    assert plan_trials(rows, tight) == pytest.approx(5 * 2.9 + 5 * 0.5)  # no bookkeeping given: trials and waits


def test_the_full_suite_keeps_all_its_trials():
    config = build_config(suite="full", quiet=True)
    rows = [_row("naive 10k", 10, 8.0), _row("B=1,000", 10, 0.2)]
    plan_trials(rows, config)
    assert [r.planned_trials for r in rows] == [10, 10]


def test_the_heavy_suite_keeps_five_trials_a_row_whatever_its_cost():
    config = build_config(suite="heavy", quiet=True, time_budget=0)
    rows = [_row("sequential", 5, 4.0), _row("ray-batched B=100", 5, 2.6), _row("numpy", 5, 0.05)]
    plan_trials(rows, config)
    assert [r.planned_trials for r in rows] == [5, 5, 5]


def test_the_standard_suite_keeps_the_seeds_headline_rows_under_any_time_budget():
    from bench.engine.rounds import plan_runs

    config = build_config(suite="standard", quiet=True, time_budget=0)
    specs = plan_runs(config, cluster_cpus=3, driver_cpus=2)
    rows = [_row(s.label, s.trials, 1000.0) for s in specs]
    for row, spec in zip(rows, specs):
        row.spec = spec
    plan_trials(rows, config)
    by_label = {r.spec.label: r.planned_trials for r in rows}
    assert by_label["ray-naive 100,000 tasks"] == 1  # the seed's one run
    assert by_label["ray-naive 10,000 tasks"] == by_label["ray-naive 1,000 tasks"] == SUITES["standard"].min_trials
    for size in (100, 1000, 10000):  # the seed's batch sizes (100, 1,000) and B = 10,000
        assert by_label[f"ray-batched B={size:,}"] == SUITES["standard"].min_trials
    assert "ray-batched B=10" not in by_label  # the full suite's: its 10,000 tasks are the naive 10k row's cost


def test_extra_trials_go_where_a_second_narrows_a_median_most():
    # the same CV, 10x the cost: the cheap row first
    cheap, dear = _row("cheap", 3, 0, [0.1, 0.2, 0.15]), _row("dear", 3, 0, [1.0, 2.0, 1.5])
    assert extra_round_rows([dear, cheap], 0.05, 9, budget_left_s=100.0) == [cheap, dear]
    # a slightly noisy cheap row against a very noisy row 3x dearer: the noisy one first
    calm = _row("calm", 3, 0, [0.100, 0.104, 0.102])
    wild = _row("wild", 3, 0, [0.15, 0.45, 0.3])
    assert calm.precision_per_s() < wild.precision_per_s()
    assert extra_round_rows([calm, wild], 0.001, 9, budget_left_s=100.0) == [wild, calm]


def test_a_trials_cost_counts_the_quiet_wait_before_it():
    row = _row("cheap after a many-task trial", 3, 0, [0.1, 0.1, 0.1])
    row.quiet = [(1.0, 0.0), (1.0, 0.1), (0.1, 0.0)]
    assert row.trial_cost_s() == pytest.approx(0.1 + 0.7)
    row.samples["response_s"] = [0.1, 0.2, 0.15]  # noisy: wants more trials
    # 1 s left: the trial alone (0.15 s) fits, with its wait (0.85 s) too; 0.5 s left: not
    assert extra_round_rows([row], 0.05, 9, budget_left_s=1.0) == [row]
    assert extra_round_rows([row], 0.05, 9, budget_left_s=0.5) == []


def test_the_time_budget_bounds_the_measured_rounds_wall_time(monkeypatch, budget_alone):
    """Planned rounds and extra rounds together: no extra round starts once its cost no longer
    fits what the time budget leaves, whatever the extra-trial budget still allows."""
    clock = [0.0]
    monkeypatch.setattr(rounds.time, "perf_counter", lambda: clock[0])
    config = build_config(suite="quick", modes="sequential", queries=2000, trials=3, budget=1000, time_budget=20,
                          quiet=True)
    row, extra_started = _row("noisy", 3, 1.0), []

    def play(rows, index):
        if index > 3:
            extra_started.append(clock[0])
        for r in rows:  # 0.4 s or 1.2 s: the median never settles, so only a budget stops it
            r.samples["response_s"].append(0.4 + 0.8 * (index % 2))
            clock[0] += r.samples["response_s"][-1]
        clock[0] += 0.5  # the round's bookkeeping

    rounds.measure_rounds([row], config, play=play, checkpoint=lambda: None, plan=lambda s: None)
    assert row.stop_reason == "time budget" and extra_started
    assert clock[0] <= config.time_budget_s + 1.2 + 0.5  # at most one round over
    assert clock[0] + row.trial_cost_s() > config.time_budget_s  # and it stopped only when the next did not fit


def test_without_a_time_budget_the_extra_budget_alone_bounds_the_extras(monkeypatch, budget_alone):
    clock = [0.0]
    monkeypatch.setattr(rounds.time, "perf_counter", lambda: clock[0])
    config = build_config(suite="full", modes="sequential", queries=2000, trials=3, budget=6, quiet=True)
    assert config.time_budget_s is None
    row = _row("noisy", 3, 1.0)

    def play(rows, index):
        for r in rows:
            r.samples["response_s"].append(0.4 + 0.8 * (index % 2))
            clock[0] += r.samples["response_s"][-1]

    rounds.measure_rounds([row], config, play=play, checkpoint=lambda: None, plan=lambda s: None)
    assert row.stop_reason == "budget"


def test_the_runner_plans_by_cost_records_the_plan_and_states_it(tmp_path, capsys):
    """Through SuiteRunner: a row dearer than cheap_trial_s is recorded with min_trials planned,
    the time budget is recorded, and the rounds' first line states the prediction and the bound."""
    from bench import results
    from bench.engine.runner import SuiteRunner

    from dataclasses import replace

    config = build_config(suite="quick", modes="sequential,numpy", queries=20_000, budget=0, time_budget=30)
    # a suite whose floor is under its trials, and every row dearer than its cheap_trial_s
    config = replace(config, trials=5, suite=replace(SUITES["quick"], trials=5, min_trials=2, cheap_trial_s=1e-6))
    out = tmp_path / "r.json"
    SuiteRunner(config, out).run()
    res = results.load(out)
    assert res.config["time_budget_s"] == 30
    planned = {run.label: run.params["planned_trials"] for run in res.runs}
    assert planned == {"sequential": 2, "numpy": 2}  # both dearer than 1 microsecond
    assert all(len(run.samples["response_s"]) == 2 for run in res.runs)
    err = capsys.readouterr().err
    assert "measuring: 4 trials in interleaved rounds, predicted to take" in err
    assert "within the time budget, 0:30 in all" in err


def test_an_old_file_rerun_says_it_predates_the_time_budget():
    import json
    from pathlib import Path

    from bench.rerun import rerun_options
    from bench.results import Results

    path = Path(__file__).resolve().parent.parent / "docs" / "examples" / "intel-xeon-1217" / \
        "standard-20261203T193417Z.json"
    res = Results.from_dict(json.loads(path.read_text()))
    assert "time_budget_s" not in res.config
    options, notes = rerun_options(res)
    assert "time_budget" not in options
    assert ("the original predates --time-budget: this re-run's measured rounds stop within the suite's 300 s, "
            "and a row whose trial takes over 2 s plays 3 of 5 trials") in notes


# --- the planner at its edges (issue 25: the rounds' mutants after the planner was added) --------

def test_precision_per_second_is_the_intervals_narrowing_per_second_of_one_more_trial():
    import math

    row = _row("three", 3, 0, [0.1, 0.2, 0.15])
    expected = row.cv() * (1 / math.sqrt(3) - 1 / math.sqrt(4)) / 0.15
    assert row.precision_per_s() == pytest.approx(expected, rel=1e-12)
    one = _row("one trial", 1, 0, [0.5])  # no CV yet: counted as 100%, one trial so far
    assert one.precision_per_s() == pytest.approx((1 - 1 / math.sqrt(2)) / 0.5, rel=1e-12)
    free = _row("no cost", 3, 0, [0.0, 0.0, 0.0])  # a zero mean has no CV: 100%, over a floor of 1 ns
    assert free.precision_per_s() == pytest.approx((1 / math.sqrt(3) - 0.5) / 1e-9, rel=1e-9)


def test_a_plan_exactly_at_the_time_budget_is_kept():
    rows = [_row("a", 5, 0.9), _row("b", 5, 0.5), _row("c", 5, 0.1), _row("d", 2, 3.0)]
    exact = build_config(suite="standard", quiet=True, time_budget=13.5)
    assert plan_trials(rows, exact) == 13.5
    assert [r.planned_trials for r in rows] == [5, 5, 5, 2]


def test_a_ray_mode_planned_once_carries_its_placement():
    from bench.engine.rounds import _once

    config = build_config(suite="quick", quiet=True, placement="default")
    assert _once("ray-naive", config, 3, 2)[0].params == {"placement": "default"}
    assert _once("sequential", config, 3, 2)[0].params == {}


def _clocked(monkeypatch, config, trial_s):
    """measure_rounds on one row whose trials read t, t/2, 3t/2, t, ... (its median stays t,
    its CV about 35%: it never settles in these few trials), each taking t of a fake clock;
    returns the row and its number of extra rounds."""
    clock = [0.0]
    monkeypatch.setattr(rounds.time, "perf_counter", lambda: clock[0])
    row, extra = _row("noisy", 3, trial_s), []

    def play(due, index):
        if index > 3:
            extra.append(index)
        for r in due:
            r.samples["response_s"].append(trial_s * (1.0, 0.5, 1.5)[r.measured % 3])
            clock[0] += trial_s

    rounds.measure_rounds([row], config, play=play, checkpoint=lambda: None, plan=lambda s: None)
    return row, len(extra)


def test_the_extra_budget_is_spent_whole_from_the_first_second(monkeypatch, budget_alone):
    config = build_config(suite="quick", modes="sequential", queries=50, trials=3, budget=6, quiet=True)
    row, extra = _clocked(monkeypatch, config, 1.0)
    assert extra == 6 and row.stop_reason == "budget"  # six 1 s trials in 6 s, none over


def test_a_trial_over_a_quarter_of_the_extra_budget_gets_none(monkeypatch, budget_alone):
    config = build_config(suite="quick", modes="sequential", queries=50, trials=3, budget=8, quiet=True)
    row, extra = _clocked(monkeypatch, config, 2.1)
    assert extra == 0 and row.stop_reason == "trial too long for extra trials"


def test_the_stop_reason_names_the_budget_that_ran_out_first(monkeypatch, budget_alone):
    # 0.25 s trials, planned 0.75 s; extra budget 1.5 s, time budget 2.375 s: six extra rounds,
    # then no extra budget is left and 0.125 s of time: the extra budget ran out first
    config = build_config(suite="quick", modes="sequential", queries=50, trials=3, budget=1.5, time_budget=2.375,
                          quiet=True)
    row, extra = _clocked(monkeypatch, config, 0.25)
    assert extra == 6 and row.stop_reason == "budget"
    # the time budget first: 1.25 s in all leaves two extra rounds, with 60 s of extra budget
    config = build_config(suite="quick", modes="sequential", queries=50, trials=3, budget=60, time_budget=1.25,
                          quiet=True)
    row, extra = _clocked(monkeypatch, config, 0.25)
    assert extra == 2 and row.stop_reason == "time budget"


def test_no_rows_play_no_rounds():
    config = build_config(suite="quick", modes="sequential", queries=50, trials=3, quiet=True)
    played = []
    rounds.measure_rounds([], config, play=lambda due, index: played.append(index), checkpoint=lambda: None,
                          plan=lambda s: None)
    assert played == []


class _Batches:
    """A mode's task count only: `per_task` lookups a task."""

    def __init__(self, per_task):
        self.per_task = per_task

    def tasks_for(self, lookups):
        return -(-lookups // self.per_task)


@pytest.mark.parametrize("mode, lookups, per_task, cpus, expected", [
    ("sequential", 20_000, 20_000, 3, 5_000),  # one task: a quarter of the lookups
    ("ray-batched", 20_000, 100, 3, 5_000),  # the heavy suite's B = 100: a quarter
    ("ray-batched", 100_000, 10_000, 3, 30_000),  # 10 tasks: one per CPU, more than a quarter
    ("ray-batched", 20_000, 20_000, 3, 20_000),  # one task: all of it, never past the trial
    ("ray-naive", 100_000, 1, 3, 1_000),  # capped at 1,000 tasks
    ("ray-naive", 1_000, 1, 3, 1_000),  # at least 1,000 lookups: a few hundred tasks are mostly cold start
    ("sequential", 5_000, 5_000, 3, 1_250),
    ("sequential", 800, 800, 3, 800),  # under 1,000 lookups: all of them
])
def test_a_warm_up_plays_a_quarter_of_the_lookups_one_task_per_cpu_and_at_most_a_thousand_tasks(
        mode, lookups, per_task, cpus, expected):
    row = Row(RunSpec(mode, mode, lookups, 5), mode=_Batches(per_task))
    assert row.warmup_lookups(cpus) == expected

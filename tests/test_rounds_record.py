"""bench.engine.rounds in-process, at the edges (issue 25: mutation of the rounds): the CV, which run a
fault or a node event belongs to, and why a row stopped."""

from __future__ import annotations

import math

import pytest

from bench.engine.rounds import Row, RunSpec, _cv, _unsettled_reason, attribute_to_runs, extra_round_rows
from bench.engine.suites import build_config



@pytest.fixture
def budget_alone(monkeypatch):
    """The extra rounds bounded by --budget and --time-budget alone: the planned rounds' share
    (rounds.EXTRA_ROUNDS_SHARE, tested in test_runner_rounds) set out of the way."""
    from bench.engine import rounds

    monkeypatch.setattr(rounds, "EXTRA_ROUNDS_SHARE", 1e9)

def _row(label, times=(), windows=()):
    row = Row(RunSpec("sequential", label, 10, 3), mode=None)
    if times:
        row.samples["response_s"] = list(times)
    row.windows = list(windows)
    return row


def test_the_cv_of_two_trials_uses_the_sample_deviation():
    assert _cv([1.0, 3.0]) == pytest.approx(math.sqrt(2) / 2)  # std with ddof=1 over the mean 2
    assert math.isnan(_cv([1.0]))
    assert math.isnan(_cv([0.0, 0.0]))  # a zero mean has no CV (and no division by zero)
    assert math.isnan(_row("none").cv())  # no trials yet


# Four rows' trial windows, in time: A and B early (unix times under 2), C and D later.
def _rows():
    return (_row("A", windows=[(0.5, 0.8)]), _row("B", windows=[(0.9, 2.0)]), _row("C", windows=[(10, 20)]),
            _row("D", windows=[(30, 40)]))


def _owner(rows, owned, item, kind):
    holders = [r.spec.label for r in rows if item in owned.get(id(r), ([], []))[kind]]
    assert len(holders) == 1, holders
    return holders[0]


@pytest.mark.parametrize("unix, owner", [
    (10, "C"), (20, "C"),  # a window's own edges are in it
    (25, "D"),  # between trials: the next trial's run
    (50, "D"),  # after the last window: the last trial's run
    (0.85, "B"),
])
def test_a_fault_belongs_to_the_trial_in_flight_or_the_next(unix, owner):
    rows = _rows()
    fault = {"event": "kill", "unix": unix}
    owned = attribute_to_runs(list(rows), [fault], [])
    assert _owner(rows, owned, fault, 0) == owner


def test_the_last_window_is_the_latest_not_the_second():
    rows = _rows() + (_row("E", windows=[(45, 48)]),)
    fault = {"event": "kill", "unix": 50}
    assert _owner(rows, attribute_to_runs(list(rows), [fault], []), fault, 0) == "E"


def test_a_fault_or_event_without_a_time_counts_as_time_zero():
    rows = _rows()
    fault, event = {"event": "kill"}, {"event": "node_joined"}
    owned = attribute_to_runs(list(rows), [fault], [event])
    assert _owner(rows, owned, fault, 0) == "A" and _owner(rows, owned, event, 1) == "A"


def test_a_node_event_goes_by_its_detection_time():
    rows = _rows()
    event = {"event": "node_joined", "detected_unix": 35}
    assert _owner(rows, attribute_to_runs(list(rows), [], [event]), event, 1) == "D"


def test_a_node_loss_goes_with_the_latest_fault_at_or_before_it():
    rows = _rows()
    early, at = {"event": "kill", "unix": 15}, {"event": "kill", "unix": 35}
    lost = {"event": "node_lost", "detected_unix": 35}
    assert _owner(rows, attribute_to_runs(list(rows), [early, at], [lost]), lost, 1) == "D"
    later = {"event": "node_lost", "detected_unix": 42}  # after D's window: its fault, at 35, was in D
    assert _owner(rows, attribute_to_runs(list(rows), [early, at], [later]), later, 1) == "D"
    only_early = {"event": "node_lost", "detected_unix": 25}  # would be D's by its own time
    assert _owner(rows, attribute_to_runs(list(rows), [early], [only_early]), only_early, 1) == "C"
    untimed = {"event": "kill"}  # a fault without a time is at 0: a loss after it goes with it
    lost_early = {"event": "node_lost", "detected_unix": 1.0}
    assert _owner(rows, attribute_to_runs(list(rows), [untimed], [lost_early]), lost_early, 1) == "A"


def test_only_a_node_loss_follows_a_fault():
    rows = _rows()
    fault = {"event": "kill", "unix": 15}
    joined = {"event": "node_joined", "detected_unix": 25}
    assert _owner(rows, attribute_to_runs(list(rows), [fault], [joined]), joined, 1) == "D"


def _stopped(budget, times, measured=None):
    config = build_config(suite="quick", modes="sequential", queries=50, trials=3, budget=budget, quiet=True)
    row = _row("r", times)
    if measured is not None:
        row.samples["response_s"] = [times[0]] * measured
    return _unsettled_reason(row, config), config


def test_why_an_unsettled_row_stopped():
    reason, config = _stopped(60, [100.0, 200.0, 150.0])
    cap = config.trial_cap(150.0)
    assert _stopped(60, [150.0], measured=cap)[0] == "max trials"  # at the cap, not only past it
    assert _stopped(0, [1.0, 2.0])[0] == "planned trials"
    assert _stopped(1, [0.1, 0.2])[0] == "budget"  # a budget of 1 s is a budget
    assert _stopped(8, [2.0, 2.0, 2.0, 2.1])[0] == "budget"  # a trial of exactly a quarter of it is allowed
    assert _stopped(8, [2.1, 2.1, 2.1, 2.2])[0] == "trial too long for extra trials"
    assert reason == "trial too long for extra trials"


def test_settled_at_exactly_the_cv_target_or_exactly_the_median_target():
    row = _row("r", [1.0, 1.2, 1.1])
    assert row.settled(row.cv())  # at the CV target, not only under it
    at_target = _row("m", [19.0, 20.0, 20.0, 20.0, 20.0, 21.0])  # median 20 known within 1/20, the target
    assert at_target.cv() > 0.01 and at_target.settled(0.01)


def test_an_extra_trial_that_costs_exactly_what_is_left_is_taken():
    noisy = _row("noisy", [1.0, 0.5, 1.5])  # median 1.0
    assert extra_round_rows([noisy], 0.05, 9, budget_left_s=1.0) == [noisy]
    assert extra_round_rows([noisy], 0.05, 9, budget_left_s=1.0, max_trial_s=1.0) == [noisy]
    assert extra_round_rows([noisy], 0.05, 9, budget_left_s=1.5) == [noisy]  # one row wanting: all of it is its share


def test_a_trial_without_latencies_is_its_own_latency():
    from bench.engine.modes import TrialOutcome
    from bench.engine.record import _trial_samples

    sample = _trial_samples(TrialOutcome(answers=[], response_s=0.5, tasks=4), lookups=100)
    assert sample["task_latency_p50_s"] == sample["task_latency_p99_s"] == 0.5
    assert sample["tasks_per_s"] == 8.0 and sample["lookups_per_s"] == 200.0 and "submit_s" not in sample
    timed = _trial_samples(TrialOutcome(answers=[], response_s=0.5, tasks=4, submit_s=0.2,
                                        task_latencies_s=[0.1, 0.3]), lookups=100)
    assert timed["task_latency_p50_s"] == pytest.approx(0.2) and timed["submit_per_task_s"] == pytest.approx(0.05)


def test_a_fault_after_the_loss_is_not_its_cause():
    rows = _rows()
    before, after = {"event": "kill", "unix": 0.7}, {"event": "kill", "unix": 35}
    lost = {"event": "node_lost", "detected_unix": 15}
    assert _owner(rows, attribute_to_runs(list(rows), [before, after], [lost]), lost, 1) == "A"


def test_an_untimed_fault_is_before_a_loss_at_half_a_second():
    early, late = _row("P", windows=[(-1.0, 0.1)]), _row("Q", windows=[(0.2, 0.9)])
    lost = {"event": "node_lost", "detected_unix": 0.5}
    owned = attribute_to_runs([early, late], [{"event": "kill"}], [lost])
    assert _owner((early, late), owned, lost, 1) == "P"


@pytest.mark.parametrize("window", [None, 64])
def test_the_plan_has_one_row_per_configuration_named_and_parametrised(window):
    from bench.engine.rounds import plan_runs

    config = build_config(suite="quick", modes="sequential,numpy,multiprocessing,ray-naive,ray-batched,ray-auto",
                          queries=1001, naive_tasks="300,1001", batch_sizes="10,1000", window=window, quiet=True)
    specs = plan_runs(config, cluster_cpus=2, driver_cpus=3)
    trials = config.trials
    placed = {"placement": "affinity"}  # every Ray row records where its tasks went
    naive_params = {**placed, "window": window} if window else placed
    assert specs == [
        RunSpec("sequential", "sequential", 1001, trials),
        RunSpec("numpy", "numpy", 1001, trials),
        RunSpec("multiprocessing", "multiprocessing P=3", 1001, trials, {"processes": 3}),
        RunSpec("ray-naive", "ray-naive 300 tasks", 300, config.trials_for_naive(300), naive_params),
        RunSpec("ray-naive", "ray-naive 1,001 tasks", 1001, config.trials_for_naive(1001), naive_params),
        RunSpec("ray-batched", "ray-batched B=10", 1001, trials, {"batch_size": 10, "per_cpu": False, **placed}),
        RunSpec("ray-batched", "ray-batched B=501 (1 task per CPU)", 1001, trials, {"batch_size": 501, "per_cpu": True, **placed}),
        RunSpec("ray-batched", "ray-batched B=1,000", 1001, trials, {"batch_size": 1000, "per_cpu": False, **placed}),
        RunSpec("ray-auto", "ray-auto", 1001, trials, {"cluster_cpus": 2, **placed}),
    ]
    # --placement default: Ray's own scheduler for every Ray row
    assert {spec.params.get("placement") for spec in plan_runs(build_config(
        suite="quick", modes="ray-naive,ray-batched,ray-auto", queries=1001, placement="default", quiet=True),
        cluster_cpus=2, driver_cpus=1)} == {"default"}
    # with no CPUs known, one per CPU is one task for all
    assert plan_runs(build_config(suite="quick", modes="ray-batched", queries=1001, batch_sizes="10", quiet=True),
                     cluster_cpus=0, driver_cpus=1)[-1] == RunSpec("ray-batched", "ray-batched B=1,001 (1 task per CPU)",
                                                                  1001, trials, {"batch_size": 1001, "per_cpu": True,
                                                                                 "placement": "affinity"})


# --- the rounds' schedule and their stop reasons, at the edges (issue 25's open rounds survivors) ----

def test_a_row_without_trials_has_a_zero_median_and_predicts_from_its_estimate():
    row = _row("new")
    row.estimate_s = 2.5
    assert row.median_s() == 0.0 and row.measured == 0
    assert row.predicted_s() == 2.5  # no median yet: the calibration's or warm-up's estimate
    assert row.median_ci() == math.inf
    row.samples["response_s"] = [1.0]
    assert row.predicted_s() == 1.0  # one trial: its own time from now on
    row.samples["response_s"] = [1.0, 1.1, 0.9, 1.0, 1.05]
    assert row.median_ci() == math.inf  # under 6 trials the median's interval is unknown
    row.samples["response_s"].append(0.95)
    assert math.isfinite(row.median_ci())


@pytest.mark.parametrize("trials, rounds, expected", [
    (1, 1, [1]), (1, 2, [1]), (2, 2, [1, 2]), (3, 4, [1, 3, 4]), (4, 7, [1, 3, 5, 7]), (2, 3, [1, 3]),
    (6, 5, [1, 2, 3, 4, 5, 6]),
])
def test_planned_rounds_spread_from_the_first_to_the_last(trials, rounds, expected):
    from bench.engine.rounds import planned_rounds_of

    assert planned_rounds_of(trials, rounds) == expected


def _scripted(rows, config, times_by_label):
    """measure_rounds with each row's trial times scripted; returns (rounds played, plan calls, checkpoints)."""
    from bench.engine import rounds

    played, plans, checkpoints = [], [], []

    def play(due, index):
        played.append((index, sorted(r.spec.label for r in due)))
        for row in due:
            row.samples.setdefault("response_s", []).append(times_by_label[row.spec.label][row.measured])

    rounds.measure_rounds(rows, config, play=play, checkpoint=lambda: checkpoints.append(len(played)),
                          plan=plans.append)
    return played, plans, checkpoints


def test_each_row_stops_for_its_own_reason_and_every_round_is_checkpointed(budget_alone):
    config = build_config(suite="quick", modes="sequential", queries=50, trials=3, budget=100, quiet=True)
    cap = config.trial_cap(5.0)
    steady, settles, endless = _row("steady"), _row("settles"), _row("endless")
    times = {"steady": [1.0] * 3,
             "settles": [1.0, 2.0, 1.5] + [1.5] * 50,  # noisy at first, then its CV falls under 5%... eventually
             "endless": [5.0, 10.0] * 50}  # never settles: the cap stops it
    played, plans, checkpoints = _scripted([steady, settles, endless], config, times)
    assert steady.stop_reason == "stable" and steady.measured == 3  # settled after the planned rounds: no extras
    assert settles.stop_reason == "stable after extra trials" and settles.measured > 3
    assert endless.stop_reason == "max trials" and endless.measured == cap
    assert checkpoints == list(range(1, len(played) + 1))  # after every round, planned and extra
    extra_rounds = [labels for index, labels in played if index > 3]
    assert len(plans) == len(extra_rounds) and all("steady" not in labels for labels in extra_rounds)
    # each extra round announces its predicted seconds: its rows' medians so far (the first: 1.5 + 5.0)
    assert plans[0] == pytest.approx(1.5 + 5.0)
    assert [index for index, _ in played] == list(range(1, len(played) + 1))


def test_the_time_budget_is_named_when_it_and_not_the_extra_budget_stopped_a_row():
    config = build_config(suite="quick", modes="sequential", queries=50, trials=3, budget=60, time_budget=100,
                          quiet=True)
    row = _row("noisy", [1.0, 2.0, 1.5])  # median 1.5; its trial costs 1.5 s
    assert _unsettled_reason(row, config, time_left_s=1.0, extra_left_s=50.0) == "time budget"
    assert _unsettled_reason(row, config, time_left_s=1.0, extra_left_s=0.5) == "budget"  # the extra budget was less
    assert _unsettled_reason(row, config, time_left_s=2.0, extra_left_s=50.0) == "budget"  # the trial still fitted
    assert _unsettled_reason(row, config, time_left_s=1.5, extra_left_s=50.0) == "budget"  # exactly fits: not time

"""Trials run in interleaved rounds, in a seeded order that the results record and honour."""

from pathlib import Path

import pytest

from bench import results
from bench.engine.runner import Row, RunSpec, SuiteRunner, extra_round_rows, outlier_trials, round_order
from bench.engine.suites import build_config


def _run_suite(tmp_path: Path, **overrides):
    params = dict(suite="quick", modes="sequential,numpy,multiprocessing", queries=2000, trials=3, budget=0, quiet=True)
    params.update(overrides)
    config = build_config(**params)
    out = tmp_path / "r.json"
    SuiteRunner(config, out).run()
    return results.load(out)


def test_rounds_interleave_and_the_recorded_order_is_the_order_run(tmp_path):
    res = _run_suite(tmp_path)
    order = res.config["order"]
    labels = {run.label for run in res.runs}
    assert len(order) == 3 and all(set(r) == labels for r in order)  # every row once per round
    starts = sorted((w[0], run.label, k + 1) for run in res.runs
                    for k, w in enumerate(run.extra["trial_windows_unix"]))
    # the trials ran round by round, and within a round in the recorded order
    assert [(rnd, label) for _, label, rnd in starts] == [(i + 1, label) for i, r in enumerate(order) for label in r]
    for run in res.runs:
        assert list(run.extra["trial_rounds"]) == [1, 2, 3]
        assert len(run.samples["response_s"]) == 3
        assert run.extra["stop_reason"]
    assert res.status == "complete"


def test_round_order_is_seeded_and_varies_between_rounds():
    labels = [f"row{i}" for i in range(8)]
    assert round_order(labels, 42, 1) == round_order(labels, 42, 1)
    orders = {tuple(round_order(labels, 42, r)) for r in range(1, 6)}
    assert len(orders) > 1
    assert sorted(round_order(labels, 42, 3)) == list(range(8))


def _row(label, times, error=None, trials=3):
    row = Row(RunSpec("sequential", label, 10, trials), mode=None)
    row.samples["response_s"] = list(times)
    row.error = error
    return row


def test_extra_rounds_go_to_noisy_rows_within_the_budget():
    steady = _row("steady", [1.0, 1.0, 1.01])
    noisy_cheap = _row("noisy cheap", [0.1, 0.2, 0.15])
    noisy_dear = _row("noisy dear", [10.0, 20.0, 15.0])
    failed = _row("failed", [0.1, 0.3, 0.2], error="boom")
    rows = [steady, noisy_cheap, noisy_dear, failed]
    assert extra_round_rows(rows, 0.05, 9, budget_left_s=1.0) == [noisy_cheap]
    assert extra_round_rows(rows, 0.05, 9, budget_left_s=100.0) == [noisy_cheap, noisy_dear]
    assert extra_round_rows(rows, 0.05, 3, budget_left_s=100.0) == []  # at the trial cap
    assert extra_round_rows(rows, 0.05, 9, budget_left_s=0.0) == []
    # a trial dearer than max_trial_s (a share of the whole budget) gets none, however much is left
    assert extra_round_rows(rows, 0.05, 9, budget_left_s=100.0, max_trial_s=10.0) == [noisy_cheap]
    # a fair share: with 5 s left for two noisy rows, a 3 s trial is more than its half
    middling = _row("noisy middling", [2.0, 4.0, 3.0])
    assert extra_round_rows([noisy_cheap, middling], 0.05, 9, budget_left_s=10.0) == [noisy_cheap, middling]
    assert extra_round_rows([noisy_cheap, middling], 0.05, 9, budget_left_s=5.0) == [noisy_cheap]
    # a row too dear to run at all does not shrink the others' share
    assert extra_round_rows([noisy_cheap, middling, noisy_dear], 0.05, 9, budget_left_s=10.0,
                            max_trial_s=8.0) == [noisy_cheap, middling]
    # a cap by trial time: the cheap row may go on past 3 trials, the dear one may not
    by_cost = lambda median_s: 40 if median_s < 1 else 3  # noqa: E731
    assert extra_round_rows(rows, 0.05, by_cost, budget_left_s=100.0) == [noisy_cheap]


def test_a_noisy_row_whose_median_is_known_gets_no_more_trials():
    # 150 trials spread evenly over +-25% (a 14% CV): far above the CV target, yet the median is pinned down
    times = [0.1 * (1 + 0.25 * (2 * ((i * 0.6180339887) % 1) - 1)) for i in range(150)]
    known = _row("noisy, median known", times)
    assert known.cv() > 0.1 and known.median_ci() <= 0.05
    few = _row("noisy, 6 trials", times[:6])
    assert few.median_ci() > 0.05
    assert extra_round_rows([known, few], 0.05, 200, budget_left_s=100.0) == [few]
    assert known.settled(0.05) and not few.settled(0.05)


def test_cheap_rows_may_take_more_trials_than_dear_ones():
    from bench.engine.suites import build_config

    config = build_config(suite="standard", quiet=True)  # 5 trials, x3, cheap rows: 100 within 20 s
    assert config.max_trials == 15
    assert config.trial_cap(60.0) == 15  # a naive 100k trial: the ordinary cap
    assert config.trial_cap(2.0) == 15  # ten trials' worth is under the ordinary cap
    assert config.trial_cap(1.0) == 20
    assert config.trial_cap(0.5) == 40
    assert config.trial_cap(0.1) == 100  # never more than cheap_max_trials
    assert config.trial_cap(0.0) == 15


def test_extra_trials_are_recorded_with_why_each_row_stopped(tmp_path):
    # 20 s: on a loaded host each trial waits up to 2 s for quiet, and that wait is charged too;
    # 8 planned rounds: the extra rounds get a quarter of their time, which 3 rows then share
    res = _run_suite(tmp_path, target_cv=0.001, budget=20, trials=8)
    reasons = {run.label: run.extra["stop_reason"] for run in res.runs}
    assert all(reason in {"stable", "stable after extra trials", "max trials", "budget", "trial too long for extra trials",
                          "time budget"}
               for reason in reasons.values())
    extra = [run for run in res.runs if len(run.samples["response_s"]) > 8]
    assert extra, "with a 0.1% CV target some row must get extra trials"
    for run in extra:
        assert run.params["trials"] == len(run.samples["response_s"]) > run.params["planned_trials"]
        assert max(run.extra["trial_rounds"]) > 8


def test_outliers_are_named_not_hidden():
    found = outlier_trials([1.0, 1.02, 0.98, 1.01, 2.5, 0.99], rounds=[1, 2, 3, 4, 5, 6])
    assert [(o["trial"], o["round"], o["kind"]) for o in found] == [(4, 5, "slow")]
    assert found[0]["vs_median"] == pytest.approx(2.5 / 1.005)
    assert outlier_trials([1.0, 1.1, 0.9]) == []  # too few trials to call anything an outlier


def test_a_fault_belongs_to_the_run_whose_trial_was_in_flight():
    from bench.engine.runner import attribute_to_runs

    a, b = _row("a", [1.0, 1.0]), _row("b", [1.0, 1.0])
    a.windows, b.windows = [(0, 1), (2, 3)], [(1.1, 1.9), (3.1, 4)]
    kill = {"event": "kill", "unix": 1.5}
    lost = {"event": "node_lost", "detected_unix": 3.5}
    joined = {"event": "node_joined", "detected_unix": 2.05}
    between = {"event": "kill", "unix": 1.95}  # between trials: the next trial's run
    owned = attribute_to_runs([a, b], [kill, between], [lost, joined])
    assert owned[id(b)][0] == [kill]  # in flight in b's first trial
    assert owned[id(a)][0] == [between]
    assert lost in owned[id(a)][1]  # follows the latest fault before it (between, owned by a)
    assert joined in owned[id(a)][1]  # during a's second trial
    assert attribute_to_runs([a, b], [], []) == {}


def test_every_round_is_bracketed_by_a_machine_probe(tmp_path):
    from bench.engine import samplers

    assert 0 < samplers.machine_probe(10_000) < samplers.machine_probe(200_000)
    res = _run_suite(tmp_path)
    marks = res.cluster["host_cpu"]["probe"]["probe_s"]
    assert len(marks) == len(res.config["order"]) + 1 and all(m > 0 for m in marks)


def test_the_extra_trial_budget_bounds_wall_time_bookkeeping_included(monkeypatch):
    """The budget bounds how long the suite runs: a round's probe, node count and calibration
    batch count against it with its trials (uncharged, 64 extra rounds once added 78 s)."""
    from bench.engine import rounds

    clock = [0.0]
    monkeypatch.setattr(rounds.time, "perf_counter", lambda: clock[0])
    # 40 planned rounds (52 s): their share is more than the budget, which then bounds the extra rounds
    config = build_config(suite="quick", modes="sequential", queries=2000, trials=40, budget=6, quiet=True)
    row, extra_started = _row("noisy", [], trials=40), []
    assert rounds.EXTRA_ROUNDS_SHARE * 52.0 > config.extra_budget_s

    def play(rows, index):
        if index > 40:
            extra_started.append(clock[0])
        for r in rows:  # a trial of 0.4 s or 1.2 s: the median never settles, so only the budget stops it
            r.samples["response_s"].append(0.4 + 0.8 * (index % 2))
            clock[0] += r.samples["response_s"][-1]
        clock[0] += 0.5  # the bookkeeping after the round

    predicted = []
    record = rounds.measure_rounds([row], config, play=play, checkpoint=lambda: None, plan=predicted.append)
    assert record["extra_budget_s"] == config.extra_budget_s == 6
    assert row.stop_reason == "budget" and extra_started and len(predicted) == len(extra_started)
    # no extra round starts once its predicted trial no longer fits what the wall clock left
    spent_before_last = extra_started[-1] - extra_started[0]
    assert spent_before_last + predicted[-1] <= config.extra_budget_s
    assert clock[0] - extra_started[0] + row.median_s() > config.extra_budget_s  # and the next did not fit
    assert clock[0] - extra_started[0] <= config.extra_budget_s + 1.2 + 0.5  # at most one round over


def test_the_extra_rounds_add_at_most_a_share_of_the_planned_rounds_time(monkeypatch):
    """A fast machine's planned rounds are short: the extra rounds then get a share of them, not
    the whole --budget (stop 36 spent 1:31 of extra rounds after 3:23 of planned ones), so the
    suite's length follows its machine. The record says what bounded them."""
    from bench.engine import rounds

    clock, planned_ended = [0.0], []
    monkeypatch.setattr(rounds.time, "perf_counter", lambda: clock[0])
    config = build_config(suite="quick", modes="sequential", queries=2000, trials=10, budget=100, quiet=True)
    row, extra_started = _row("noisy", [], trials=10), []

    def play(rows, index):
        if index > 10:
            extra_started.append(clock[0])
        for r in rows:  # 0.1 s and 0.3 s trials: never settled, so only a budget stops the extra rounds
            r.samples["response_s"].append(0.1 + 0.2 * (index % 2))
            clock[0] += r.samples["response_s"][-1]
        clock[0] += 1.0  # the bookkeeping after the round
        if index == 10:
            planned_ended.append(clock[0])

    record = rounds.measure_rounds([row], config, play=play, checkpoint=lambda: None, plan=lambda s: None)
    assert record["planned_rounds"] == 10 and record["planned_s"] == pytest.approx(planned_ended[0]) == 12.0
    assert record["extra_budget_s"] == pytest.approx(rounds.EXTRA_ROUNDS_SHARE * 12.0)
    assert record["extra_budget_s"] < config.extra_budget_s
    assert row.stop_reason == "budget" and record["extra_rounds"] == len(extra_started) >= 2
    assert clock[0] - extra_started[0] == pytest.approx(record["extra_s"])
    assert record["extra_s"] <= record["extra_budget_s"] + 0.3 + 1.0  # at most one round over
    # a slow machine's long planned rounds get the suite's whole budget, no more
    assert rounds.extra_budget_s(config, 10_000.0) == config.extra_budget_s
    assert rounds.extra_budget_s(config, 0.0) == 0.0


def test_an_interrupted_file_keeps_the_machine_probe_of_the_rounds_it_ran(tmp_path, monkeypatch):
    real_play = SuiteRunner._play_round

    def play_then_interrupt(self, rows, index):
        if index == 3:
            raise KeyboardInterrupt
        return real_play(self, rows, index)

    monkeypatch.setattr(SuiteRunner, "_play_round", play_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _run_suite(tmp_path)
    res = results.load(tmp_path / "r.json")
    assert res.status == "incomplete"
    marks = res.cluster["host_cpu"]["probe"]["probe_s"]
    assert len(marks) == 3 and all(m > 0 for m in marks)  # the start, after round 1, after round 2


def test_a_rerun_reapplies_every_recorded_option_and_notes_nothing_it_wrote_itself(tmp_path):
    from bench.rerun import rerun_options

    res = _run_suite(tmp_path)
    options, notes = rerun_options(res)
    assert notes == []  # every key the runner records is an option or a known record-only key
    assert options["queries"] == 2000 and options["seed"] == res.config["seed"]


def test_a_row_with_fewer_trials_plays_in_rounds_spread_over_the_plan():
    """The 100k-task naive row has 2 trials where the others have 5: they run in rounds 1 and
    5, so its median samples the stretch of the suite the other rows do, not only its start.
    A failed row's planned rounds do not leave a round empty (the probe marks go per round)."""
    from bench.engine import rounds

    assert rounds.planned_rounds_of(2, 5) == [1, 5]
    assert rounds.planned_rounds_of(3, 5) == [1, 3, 5]
    assert rounds.planned_rounds_of(1, 5) == [3]
    assert rounds.planned_rounds_of(5, 5) == [1, 2, 3, 4, 5]
    assert rounds.planned_rounds_of(5, 10) == [1, 3, 6, 8, 10]
    config = build_config(suite="quick", modes="sequential", queries=2000, trials=5, budget=0, quiet=True)

    def make(label, trials, fail_at=None):
        row = Row(RunSpec("sequential", label, 10, trials), mode=None)
        row.samples["response_s"] = []
        row.fail_at = fail_at
        return row

    def run(rows):
        played = {}

        def play(due, index):
            for row in due:
                played.setdefault(row.spec.label, []).append(index)
                row.samples["response_s"].append(1.0)
                if row.fail_at == index:
                    row.error = "boom"

        rounds.measure_rounds(rows, config, play=play, checkpoint=lambda: None, plan=lambda s: None)
        return played

    assert run([make("five", 5), make("two", 2), make("three", 3), make("one", 1)]) == {
        "five": [1, 2, 3, 4, 5], "two": [1, 5], "three": [1, 3, 5], "one": [3]}
    # the only 5-trial row fails in round 1: the others' trials come forward, no empty round
    assert run([make("five", 5, fail_at=1), make("two", 2), make("three", 3)]) == {
        "five": [1], "two": [1, 3], "three": [1, 2, 3]}

"""bench.engine.calibration: the no-op task rate, a block before the rounds (it predicts naive
trials) and batches of each kind after each round, which are what the results record."""

from __future__ import annotations

import pytest

from bench.engine import calibration
from bench.report.notes import calibration_stopped


class FakeRemote:
    def __init__(self):
        self.calls = 0

    def remote(self, *args):
        self.calls += 1


@pytest.fixture
def fake_ray(monkeypatch):
    """Ray replaced by counters, and a clock under the test's control: batch k takes durations[k] s."""
    import ray

    noop, with_args = FakeRemote(), FakeRemote()
    monkeypatch.setattr(calibration, "noop_functions", lambda: (noop, with_args))
    monkeypatch.setattr(ray, "get", lambda refs: refs)
    state = {"durations": iter(()), "now": 0.0, "started": False}

    def perf_counter():
        if state["started"]:
            state["now"] += next(state["durations"])
        state["started"] = not state["started"]
        return state["now"]

    monkeypatch.setattr(calibration.time, "perf_counter", perf_counter)

    def durations(values):
        state["durations"] = iter(values)

    return {"noop": noop, "with_args": with_args, "durations": durations}


def test_the_results_record_the_batches_after_the_rounds_and_keep_the_block(fake_ray):
    fake_ray["durations"]([1.0] * 3 + [0.5] * 3 + [2.0, 4.0] * 3)  # block: 1 s and 0.5 s; rounds: 2 s and 4 s
    cal = calibration.Calibration(trials=3, max_trials=3, naive_args=("array", 7), tasks=100)
    assert cal.record()["samples"]["tasks_per_s"] == [100.0] * 3  # before any round: the block
    assert "before_rounds" not in cal.record() and "3 batches before the rounds" in cal.record()["method"]
    for index in range(1, 6):
        cal.after_round(index)
    record = cal.record()
    # one batch of each kind per round, three rounds (the cap), none after
    assert record["samples"]["tasks_per_s"] == [50.0] * 3
    assert record["trial_rounds"] == record["with_naive_args"]["trial_rounds"] == [1, 2, 3]
    assert record["with_naive_args"]["samples"]["tasks_per_s"] == [25.0] * 3
    assert record["stats"]["tasks_per_s"]["median"] == 50.0
    assert record["before_rounds"]["samples"]["tasks_per_s"] == [100.0] * 3
    assert record["with_naive_args"]["before_rounds"]["samples"]["tasks_per_s"] == [200.0] * 3
    assert "one batch after each round, interleaved with the trials" in record["method"]
    # warm-up batch + 3 timed, for each kind before the rounds; then 3 each in the rounds
    assert fake_ray["noop"].calls == fake_ray["with_args"].calls == (1 + 3 + 3) * 100


def test_rounds_add_batches_until_the_median_is_known(fake_ray):
    steady, noisy = [1.0] * 40, [1.0 + 0.4 * ((i * 0.618) % 1) for i in range(40)]
    fake_ray["durations"]([1.0] * 5 + steady)
    cal = calibration.Calibration(trials=5, max_trials=15, tasks=100)
    rounds = 0
    while cal.wanted():
        rounds += 1
        cal.after_round(rounds)
    assert rounds == 6  # 5 planned, then the sixth that bounds a 95% median interval
    fake_ray["durations"]([1.0] * 5 + noisy)
    cal = calibration.Calibration(trials=5, max_trials=15, tasks=100)
    for index in range(1, 31):
        cal.after_round(index)
    assert len(cal.record()["samples"]["tasks_per_s"]) == 15  # noisy: up to the cap, then no more
    assert "with_naive_args" not in cal.record()


def test_a_failed_batch_ends_the_in_round_calibration_without_failing_the_suite(fake_ray, monkeypatch):
    fake_ray["durations"]([1.0] * 3)
    cal = calibration.Calibration(trials=3, max_trials=9, tasks=100)

    def lost_node(submit_all, tasks):
        raise RuntimeError("ray.exceptions.NodeDiedError: the node running the task died\nmore")

    monkeypatch.setattr(calibration, "one_batch", lost_node)
    cal.after_round(1)
    assert not cal.wanted()
    record = cal.record()
    assert record["in_rounds_error"] == "RuntimeError: ray.exceptions.NodeDiedError: the node running the task died"
    assert record["samples"]["tasks_per_s"] == [100.0] * 3  # no batch in the rounds: the block stands


def test_fewer_rounds_than_planned_batches_leave_the_block_as_the_figure(fake_ray):
    """The stress suite: 3 batches planned, one round. One batch must not stand for the
    calibration (one sample has no spread, and would look exact)."""
    fake_ray["durations"]([1.0] * 3 + [2.0])
    cal = calibration.Calibration(trials=3, max_trials=3, tasks=100)
    cal.after_round(1)
    record = cal.record()
    assert record["samples"]["tasks_per_s"] == [100.0] * 3 and "before_rounds" not in record
    assert record["in_rounds_too_few"] == {"samples": {"tasks_per_s": [50.0]}, "trial_rounds": [1]}
    assert "3 batches before the rounds" in record["method"]


def test_a_stopped_calibration_is_told_with_the_figure_it_left(fake_ray, monkeypatch):
    """The summary and the report say when the batches after the rounds failed, and which
    figure the results then hold; nothing is said when they did not fail."""
    from bench.report.notes import stability_warnings
    from bench.report.summary import table_lines, verdict_lines
    from bench.results import Results

    def make_results():
        return Results(metadata={}, workload={"queries": 10, "seed": 1}, cluster={}, runs=(), suite="quick")

    fake_ray["durations"]([1.0] * 3 + [2.0] * 3)
    cal = calibration.Calibration(trials=3, max_trials=3, tasks=100)
    for index in range(1, 4):
        cal.after_round(index)  # the planned batches are in: they are the figure
    assert calibration_stopped(cal.record()) is None
    cal.max_trials = 9  # more wanted, and the next batch fails

    def lost_node(submit_all, tasks):
        raise RuntimeError("node died")

    monkeypatch.setattr(calibration, "one_batch", lost_node)
    cal.after_round(4)
    line = calibration_stopped(cal.record())
    assert line == ("the calibration's batches after the rounds stopped (RuntimeError: node died); "
                    "its figure is the batches after the rounds before it failed")
    assert calibration_stopped({"in_rounds_error": "RuntimeError: x", "samples": {}}).endswith(
        "its figure is the block before the rounds")
    res = make_results().with_cluster(calibration=cal.record())
    assert f"warning: {line}" in verdict_lines(res)
    assert [n.text for n in stability_warnings([], res) if n.kind == "calibration"] == [line]
    clean = make_results().with_cluster(calibration={**cal.record(), "in_rounds_error": None})
    assert not any("stopped" in text for text in table_lines(clean))


# -- what the record says, word for word (issue 25: mutation of bench.engine.calibration) -------------

def test_known_means_enough_batches_and_a_median_known_within_the_target():
    """At the planned count (not one more) and at exactly the target (not only under it)."""
    assert calibration._known([20.0] * 6, trials=6, max_trials=20)
    assert not calibration._known([20.0] * 5, trials=6, max_trials=20)
    at_target = [19.0, 20.0, 20.0, 20.0, 20.0, 21.0]  # median 20, interval [19, 21]: 1/20 = the target
    assert calibration.median_ci_rel(at_target) == calibration.MEDIAN_CI_TARGET
    assert calibration._known(at_target, trials=6, max_trials=20)
    assert calibration._known([1.0, 9.0], trials=6, max_trials=2)  # the cap, whatever the spread


@pytest.mark.parametrize("message, expected", [
    ("", "RuntimeError"),  # no message: no dangling colon
    ("lost node X\nmore", "RuntimeError: lost node X"),  # first line, kept to its last character
])
def test_a_failed_batch_is_named_by_its_first_line(fake_ray, monkeypatch, message, expected):
    fake_ray["durations"]([1.0] * 9)
    cal = calibration.Calibration(trials=3, max_trials=9, tasks=100)

    def failing(submit_all, tasks):
        raise RuntimeError(message)

    monkeypatch.setattr(calibration, "one_batch", failing)
    cal.after_round(1)
    assert cal.record()["in_rounds_error"] == expected


def test_the_record_names_its_method_task_count_and_the_with_args_method(fake_ray):
    fake_ray["durations"]([1.0] * 6)
    cal = calibration.Calibration(trials=3, max_trials=3, naive_args=("array", 7), tasks=100)
    record = cal.record()
    assert record["method"] == ("async no-op tasks, 100 per batch, submit all then ray.get; "
                                "3 batches before the rounds")
    assert record["tasks_per_trial"] == 100
    assert record["with_naive_args"]["method"] == calibration.WITH_ARGS_METHOD
    noisy = [1.0, 3.0, 1.5]  # a median far from known: the block still plays only the planned batches
    fake_ray["durations"](noisy)
    more = calibration.Calibration(trials=3, max_trials=9, tasks=100)
    assert more.record()["samples"]["tasks_per_s"] == [100.0, 100 / 3.0, 100 / 1.5]
    assert more.record()["method"].endswith("; 3 batches before the rounds")
    assert fake_ray["noop"].calls == (1 + 3) * 100 * 2  # this and the first: a warm-up and 3 batches each


def test_the_interleaved_record_keeps_the_block_under_its_own_name(fake_ray):
    fake_ray["durations"]([1.0] * 3 + [2.0] * 3)
    cal = calibration.Calibration(trials=3, max_trials=3, tasks=100)
    for index in range(1, 4):
        cal.after_round(index)
    assert cal.record()["before_rounds"]["method"] == "before the rounds (predicts naive trials)"


def test_the_rounds_batches_are_predicted_from_the_rates_before_them(fake_ray):
    """The batches of each kind after the rounds, at the block's median rate: as many a round as
    reach `trials` in the planned rounds, and on, up to max_trials, until 6 bound the median
    (fewer never do); so what the rounds' bookkeeping adds to the suite's predicted time."""
    fake_ray["durations"]([1.0, 2.0, 3.0] + [0.5, 0.5, 0.25])  # noop median 2 s; with args median 0.5 s
    cal = calibration.Calibration(trials=3, max_trials=9, naive_args=("array", 7), tasks=100)
    assert [cal.batches_per_round(n) for n in (0, 1, 2, 3, 7)] == [3, 3, 2, 1, 1]
    assert [cal.batches_planned(n) for n in (0, 1, 2, 4, 5, 6, 7, 20)] == [
        (0, 0), (3, 1), (3, 2), (4, 4), (5, 5), (6, 6), (6, 6), (6, 6)]
    assert cal.rounds_cost_s(2) == pytest.approx(3 * (2.0 + 0.5))  # 2 then 1: 3 reached, then one a round
    assert cal.rounds_cost_s(2, wait_after_s=1.0) == pytest.approx(3 * (2.0 + 0.5) + 2 * 1.0)  # a wait a round
    assert cal.rounds_cost_s(7) == pytest.approx(6 * (2.0 + 0.5))  # 6 bound a median: not one a round
    assert cal.rounds_cost_s(7, wait_after_s=1.0) == pytest.approx(6 * (2.0 + 0.5 + 1.0))  # a wait after each
    assert cal.rounds_cost_s(0) == 0.0
    fake_ray["durations"]([1.0] * 20)
    while cal.wanted():  # the prediction is what the rounds then play, at steady rates
        cal.after_round(len(cal.batch_rounds) + 1)
    assert len(cal.batch_rounds) == 6
    fake_ray["durations"]([1.0] * 3)
    capped = calibration.Calibration(trials=3, max_trials=4, tasks=100)
    assert capped.batches_planned(9) == (4, 4)  # the cap comes first
    fake_ray["durations"]([1.0] * 8)
    planned_only = calibration.Calibration(trials=8, max_trials=8, tasks=100)
    assert planned_only.batches_planned(9) == (8, 8)
    assert planned_only.batches_planned(3) == (8, 3)  # 3, 3 and 2
    assert len(planned_only.before["noop"]) == calibration.BEFORE_ROUNDS_BATCHES == 3  # the block: 3, not 8


def test_a_suite_of_fewer_rounds_than_trials_plays_several_batches_a_round(fake_ray):
    """The standard suite on a slow VM plans 3 rounds against 5 calibration trials: with one
    batch a round, the block before the rounds stood in the results and the placement had no
    same-round pairs. plan() spreads the 5 over the 3 rounds."""
    fake_ray["durations"]([1.0] * 3 + [0.25] * 3 + [2.0, 4.0] * 30)
    cal = calibration.Calibration(trials=5, max_trials=15, naive_args=("array", 7), tasks=100)
    assert len(cal.before["noop"]) == len(cal.before["with_naive_args"]) == 3
    cal.plan(3)
    assert cal.per_round == 2
    for index in range(1, 6):
        cal.after_round(index)
    record = cal.record()
    # 2, 2, then 1 to reach 5; then one a round until 6 bound the median (steady rates: known)
    assert record["trial_rounds"] == record["with_naive_args"]["trial_rounds"] == [1, 1, 2, 2, 3, 4]
    assert record["samples"]["tasks_per_s"] == [50.0] * 6 and "before_rounds" in record
    assert record["with_naive_args"]["samples"]["tasks_per_s"] == [25.0] * 6
    assert cal.batches_planned(3) == (5, 3)  # what the plan of 3 rounds counts on
    assert record["method"].endswith("up to 2 batches after each round, interleaved with the trials, while fewer "
                                     "than 5 or the median is not known within 5% (at most 15)")
    unplanned = calibration.Calibration(trials=5, max_trials=5, tasks=100)
    for index in range(1, 4):  # one a round, as before plan(): 3 of 5, so the block stands
        unplanned.after_round(index)
    assert unplanned.record()["in_rounds_too_few"]["trial_rounds"] == [1, 2, 3]
    assert unplanned.record()["method"].endswith("; 3 batches before the rounds")

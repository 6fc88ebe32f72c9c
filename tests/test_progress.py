"""The suite bar counts predicted seconds: tasks move it inside a trial, never past the trial."""

import io

from bench.engine.progress import SuiteProgress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_tasks_move_the_bar_within_a_trial_and_never_past_it():
    progress = SuiteProgress(stream=io.StringIO(), line_interval_s=0)
    progress.plan(100.0)  # a 90 s naive trial and a 10 s one
    progress.start_trial("naive", 90.0, tasks=1000)
    progress.tasks_done(500)
    assert progress.fraction() == 0.45
    progress.tasks_done(5000)  # more tasks than planned cannot push past the trial's share
    assert progress.fraction() == 0.9
    progress.end_trial()
    progress.start_trial("batched", 10.0, tasks=2)
    progress.end_trial()
    assert progress.fraction() == 1.0
    assert progress.eta_s() == 0.0


def test_without_a_terminal_it_prints_plain_lines_and_quiet_prints_nothing():
    stream = io.StringIO()
    progress = SuiteProgress(stream=stream, line_interval_s=0)
    progress.phase("calibrating")
    progress.plan(10.0)
    progress.start_trial("round 1 · sequential", 10.0, tasks=1)
    progress.close()
    text = stream.getvalue()
    assert "\r" not in text
    assert "bench: calibrating" in text and "round 1 · sequential" in text and "ETA" in text
    quiet = io.StringIO()
    silent = SuiteProgress(quiet=True, stream=quiet, line_interval_s=0)
    silent.phase("x")
    silent.plan(1.0)
    silent.start_trial("y", 1.0, tasks=1)
    assert quiet.getvalue() == ""


def test_on_a_terminal_the_bar_redraws_in_place():
    stream = FakeTTY()
    progress = SuiteProgress(stream=stream)
    progress.plan(10.0)
    progress.start_trial("round 1 · numpy", 5.0, tasks=1)
    progress.end_trial()
    progress.close()
    assert "\r" in stream.getvalue() and "round 1 · numpy" in stream.getvalue()


def test_early_eta_is_the_prediction_not_a_ratio_of_start_up_noise():
    progress = SuiteProgress(stream=io.StringIO(), line_interval_s=0)
    progress.plan(1000.0)
    progress.start_trial("first", 10.0, tasks=100)
    progress.tasks_done(1)  # 0.01% done after some start-up time
    assert progress.eta_s() == 1000.0 - 0.1


def test_the_rounds_state_their_predicted_time_first_and_the_actual_time_beside_it_last(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("bench.engine.progress.time.monotonic", lambda: now[0])
    stream = io.StringIO()
    progress = SuiteProgress(stream=stream, line_interval_s=3600)
    progress.start_rounds(12, 120.0)
    now[0] = 1130.0
    progress.extra_round(5.0)  # an extra round for a noisy row
    now[0] = 1150.0
    progress.close()
    progress.close()  # a second close says nothing more
    lines = [line for line in stream.getvalue().splitlines() if "ETA" not in line]
    assert lines[0] == ("bench: measuring: 12 trials in interleaved rounds, predicted to take 2:00 "
                        "(the trials alone, from the calibration and the warm-ups)")
    assert lines[-1] == ("bench: the measured rounds took 2:30: the planned rounds 2:10 (predicted: 2:00), "
                         "then 1 extra round for noisy rows 0:20")
    assert sum("measured rounds took" in line for line in lines) == 1
    assert progress.total_s == 125.0  # the bar plans the extra round's trials too
    plain = io.StringIO()
    no_extra = SuiteProgress(stream=plain, line_interval_s=3600)
    no_extra.start_rounds(3, 10.0)
    no_extra.close()
    assert plain.getvalue().splitlines()[-1].endswith("(predicted: 0:10)")


def test_the_extra_rounds_time_is_set_apart_from_the_planned_rounds_with_the_budgets_that_bound_it(monkeypatch):
    """A standard suite said "took 4:55 (predicted: 3:09, 3:33 with the extra rounds' trials)": 16 extra
    rounds had spent their 1:30 budget on 2 s of trials each plus their quiet waits and calibration
    batches, and the planned rounds had taken 3:23. The line now says which part took what."""
    now = [-8.0]
    monkeypatch.setattr("bench.engine.progress.time.monotonic", lambda: now[0])
    stream = io.StringIO()
    progress = SuiteProgress(stream=stream, line_interval_s=3600)
    progress.start_rounds(53, 154.0, 35.0, budget_s=300.0, extra_budget_s=90.0)
    now[0] = 0.0  # the runner first waits for a quiet host (up to 10 s): not the rounds' time
    progress.start_trial("round 1 · sequential", 0.1, 1)
    now[0] = 203.0
    for _ in range(16):
        progress.extra_round(2.0)
        progress.start_trial("round 6 · numpy", 0.1, 1)  # a later trial does not move the clock
        now[0] += 5.7
    progress.close()
    assert stream.getvalue().splitlines()[-1] == (
        "bench: the measured rounds took 4:54: the planned rounds 3:23 (predicted: 3:09), then 16 extra rounds "
        "for noisy rows 1:31 (budget: 1:30 for extra rounds; 5:00 in all)")
    # the runner hands over the budget the planned rounds set: a share of them, within --budget
    progress.start_rounds(53, 154.0, 35.0, budget_s=300.0, extra_budget_s=90.0)
    progress.start_trial("round 1 · sequential", 0.1, 1)
    now[0] += 203.0
    progress.extra_round(2.0)
    now[0] += 50.0
    progress.extra_budget(50.75, 0.25)
    progress.close()
    assert stream.getvalue().splitlines()[-1] == (
        "bench: the measured rounds took 4:13: the planned rounds 3:23 (predicted: 3:09), then 1 extra round "
        "for noisy rows 0:50 (budget: 0:51 for extra rounds, 25% of the planned rounds' time and at most 1:30; "
        "5:00 in all)")


def test_the_prediction_counts_the_waits_and_batches_between_trials_but_the_bar_only_the_trials(monkeypatch):
    """The standard suite's planned rounds took 1.39x its trials' prediction: the quiet waits and
    the calibration batches between trials are in the stated prediction and in the budget check,
    and the bar, which moves with the trials, plans only their seconds."""
    clock = iter([1000.0, 1000.0] + [1095.0] * 50)
    monkeypatch.setattr("bench.engine.progress.time.monotonic", lambda: next(clock))
    stream = io.StringIO()
    progress = SuiteProgress(stream=stream, line_interval_s=3600)
    progress.start_rounds(12, 60.0, budget_s=90.0, overhead_s=30.0)
    assert progress.total_s == 60.0
    progress.close()
    lines = [line for line in stream.getvalue().splitlines() if "ETA" not in line]
    assert lines[0] == ("bench: measuring: 12 trials in interleaved rounds, predicted to take 1:30 (the trials 1:00, "
                        "the quiet waits and calibration batches between them 0:30, from the calibration and the "
                        "warm-ups; extra rounds for noisy rows within the time budget, 1:30 in all)")
    assert lines[-1] == "bench: the measured rounds took 1:35 (predicted: 1:30)"
    over = io.StringIO()
    SuiteProgress(stream=over, line_interval_s=3600).start_rounds(12, 60.0, budget_s=80.0, overhead_s=30.0)
    assert "; over the time budget (1:20): no extra rounds)" in over.getvalue()  # 1:00 of trials fits, 1:30 does not


def test_a_trial_shown_before_anything_was_planned_or_done_has_no_eta_to_scale():
    """Nothing planned and nothing done (a first trial predicted at 0 s): the ETA is 0, not a division by zero."""
    stream = io.StringIO()
    progress = SuiteProgress(stream=stream, line_interval_s=0)
    progress.start_trial("round 1 · numpy", 0.0, tasks=1)
    assert progress.eta_s() == 0.0 and "round 1 · numpy" in stream.getvalue()

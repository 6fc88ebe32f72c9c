import math

import pytest

from bench.stats import Stats, median_ci_rel, summarize


def test_stats_match_hand_computed_values():
    # samples 1..5 plus an outlier: sorted [1, 2, 3, 4, 5, 15]
    s = Stats([5, 1, 4, 2, 3, 15])
    assert s.n == 6
    assert s.median == 3.5
    # type-7 quartiles: position (n-1)*p = 1.25 -> 2 + 0.25*(3-2); 3.75 -> 4 + 0.75*(5-4)
    assert s.q1 == pytest.approx(2.25)
    assert s.q3 == pytest.approx(4.75)
    assert s.iqr == pytest.approx(2.5)
    assert s.min == 1 and s.max == 15
    assert s.mean == pytest.approx(30 / 6)
    # sum of squared deviations from 5: 0+16+1+9+4+100 = 130; /(n-1)=26
    assert s.stdev == pytest.approx(math.sqrt(26))
    assert s.cv == pytest.approx(math.sqrt(26) / 5)


def test_single_sample_has_zero_spread():
    s = Stats([0.25])
    assert (s.median, s.q1, s.q3, s.stdev, s.cv) == (0.25, 0.25, 0.25, 0.0, 0.0)


def test_empty_samples_are_rejected():
    with pytest.raises(ValueError):
        Stats([])


def test_summarize_skips_non_numeric_series():
    out = summarize({"response_s": [1.0, 2.0, 3.0], "note": ["a", "b"]})
    assert set(out) == {"response_s"}
    assert out["response_s"]["median"] == 2.0
    assert set(out["response_s"]) == {"n", "median", "q1", "q3", "min", "max", "mean", "stdev", "cv"}


def test_none_samples_are_dropped_not_counted():
    s = Stats([None, 2.0, None, 4.0])
    assert s.n == 2 and s.mean == 3.0
    with pytest.raises(ValueError, match="no samples"):
        Stats([None, None])


def test_two_samples_use_the_sample_stdev():
    s = Stats([1.0, 3.0])
    assert s.stdev == pytest.approx(math.sqrt(2))  # n-1: ((1)^2+(1)^2)/1
    assert s.cv == pytest.approx(math.sqrt(2) / 2)


def test_cv_of_a_zero_mean_is_nan():
    assert math.isnan(Stats([-1.0, 1.0]).cv)


def test_as_dict_carries_each_figure_under_its_name():
    s = Stats([5, 1, 4, 2, 3, 15])
    d = s.as_dict()
    assert d == {"n": s.n, "median": s.median, "q1": s.q1, "q3": s.q3, "min": s.min, "max": s.max,
                 "mean": s.mean, "stdev": s.stdev, "cv": s.cv}
    assert isinstance(d["n"], int) and d["n"] == 6


def test_percentile_interpolates_linearly():
    from bench.stats import percentile

    assert percentile([1, 2, 3, 4, 5], 50) == 3.0
    assert percentile([10, 20], 25) == pytest.approx(12.5)
    assert percentile([4.0], 90) == 4.0


def test_summarize_keeps_only_all_numeric_non_empty_series():
    out = summarize({
        "ok_int": [1, 2, 3],
        "bools": [True, False],
        "mixed": [1.0, None],
        "with_text": [1.0, "x"],
        "empty": [],
    })
    assert set(out) == {"ok_int"}
    assert out["ok_int"]["n"] == 3 and out["ok_int"]["median"] == 2.0


def test_median_ci_needs_six_samples_and_narrows_with_more():
    assert median_ci_rel([1.0] * 5) == math.inf  # no 95% order-statistic interval under 6
    assert median_ci_rel([1.0] * 6) == 0.0
    spread = [1.0 + 0.3 * ((i * 37) % 11 - 5) / 5 for i in range(200)]  # +-30% around 1
    widths = [median_ci_rel(spread[:n]) for n in (10, 40, 200)]
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[2] < 0.1 < widths[0]


def test_median_ci_is_the_far_bound_of_the_order_statistic_interval():
    values = [float(v) for v in range(1, 11)]  # n = 10: the 95% interval is [x(2), x(9)] = [2, 9]
    assert median_ci_rel(values) == pytest.approx((9 - 5.5) / 5.5)


def test_calibration_block_plays_the_planned_batches_whatever_their_noise(monkeypatch):
    """bench.engine.calibration._rates, the block before the rounds: only a prediction for the
    progress bar, so the planned batches and no more, steady or noisy. The figure the results keep
    takes more batches in the rounds until its median is known (tests/test_calibration.py)."""
    import ray

    from bench.engine import calibration

    monkeypatch.setattr(ray, "get", lambda refs: refs)

    def timed(durations):
        clock = iter(t for d in durations for t in (0.0, d))
        monkeypatch.setattr(calibration.time, "perf_counter", lambda: next(clock))

    timed([1.0] * 30)
    assert calibration._rates(lambda: [], batches=5, tasks=100) == [100.0] * 5
    noisy = [1.0 + 0.4 * ((i * 0.618) % 1) for i in range(30)]
    timed(noisy)
    assert calibration._rates(lambda: [], batches=5, tasks=100) == [100 / d for d in noisy[:5]]

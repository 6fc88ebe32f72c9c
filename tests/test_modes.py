"""Verification: a mode that answers wrongly, or crashes, is flagged and the suite goes on."""

import dataclasses
import json

import numpy as np
import pytest

from bench import mode_table
from bench.engine import modes
from bench.engine.run import run_benchmark
from bench.engine.suites import build_config
from bench.engine.workload import Workload
from bench.errors import RuntimeFailure


class OffByOneNumpy(modes.Numpy):
    def trial(self, n):
        outcome = super().trial(n)
        outcome.answers = outcome.answers.copy()
        outcome.answers[-1] += 1
        return outcome


class CrashingNumpy(modes.Numpy):
    def trial(self, n):
        raise RuntimeError("simulated crash\nsecond line")


def _run(tmp_path, monkeypatch, broken):
    monkeypatch.setitem(mode_table.TABLE, "numpy", dataclasses.replace(mode_table.TABLE["numpy"], strategy=broken))
    config = build_config(suite="quick", modes="numpy,sequential", queries=500, quiet=True)
    out = tmp_path / "r.json"
    with pytest.raises(RuntimeFailure, match="gave wrong answers") as err:
        run_benchmark(config, out=out)
    data = json.loads(out.read_text())
    return err, data


def test_wrong_answers_are_caught_flagged_and_kept(tmp_path, monkeypatch):
    err, data = _run(tmp_path, monkeypatch, OffByOneNumpy)
    by_mode = {r["mode"]: r for r in data["runs"]}
    assert by_mode["numpy"]["correct"] is False
    assert by_mode["numpy"]["mismatches"] >= 1
    assert by_mode["numpy"]["checksum"] != by_mode["numpy"]["reference_checksum"]
    # the wrong run's samples are still recorded, not hidden
    # (extra trials for noisy rows may add to the suite's 3)
    assert len(by_mode["numpy"]["samples"]["response_s"]) == by_mode["numpy"]["params"]["trials"] >= 3
    assert by_mode["sequential"]["correct"] is True
    assert data["status"] == "complete"
    assert "numpy" in str(err.value)


def test_a_crashing_mode_does_not_stop_the_others(tmp_path, monkeypatch):
    _, data = _run(tmp_path, monkeypatch, CrashingNumpy)
    by_mode = {r["mode"]: r for r in data["runs"]}
    assert by_mode["numpy"]["correct"] is False
    assert by_mode["numpy"]["error"] == "RuntimeError: simulated crash"
    assert by_mode["sequential"]["correct"] is True


def _check_each_answer(array, queries, answers):
    """Brute-force definition of a correct answer, one lookup at a time."""
    array = np.asarray(array)
    for query, answer in zip(queries, answers):
        if answer == -1:
            assert query not in array, f"{query} is in the array but the answer is -1"
        else:
            assert 0 <= answer < array.size and array[answer] == query, (query, answer)
            assert query not in array[:answer], f"{query} occurs before index {answer}"


@pytest.mark.parametrize("value_range", [1000, 50_000])
def test_sequential_agrees_with_the_independent_numpy_search(value_range):
    # Sequential and Workload.reference share lookup_many; numpy_first_index does not.
    w = Workload(3000, array_size=100, value_range=value_range, seed=5)
    outcome = modes.Sequential(w).trial(3000)
    assert np.array_equal(outcome.answers, modes.numpy_first_index(w.array, w.query_values))
    _check_each_answer(w.array, w.query_values, outcome.answers)


def test_misses_are_really_absent_and_hits_are_first_matches():
    # value_range >> array_size: most queries miss, so -1 answers are exercised for real
    w = Workload(5000, array_size=50, value_range=20_000, seed=8)
    answers = modes.Sequential(w).trial(5000).answers
    misses = int((answers == -1).sum())
    assert misses > 4000 and misses < 5000, "the configuration must have misses and hits"
    _check_each_answer(w.array, w.query_values, answers)
    _check_each_answer(w.array, w.query_values, modes.Numpy(w).trial(5000).answers)
    _check_each_answer(w.array, w.query_values, w.reference)


def test_duplicates_answer_with_the_first_position():
    # value_range < array_size: every value repeats, so "first" is what is tested
    w = Workload(2000, array_size=200, value_range=20, seed=2)
    assert len(set(w.array_list)) < w.array_size
    for mode in (modes.Sequential(w), modes.Numpy(w)):
        _check_each_answer(w.array, w.query_values, mode.trial(2000).answers)

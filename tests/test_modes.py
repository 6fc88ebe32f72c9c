"""Verification: a mode that answers wrongly, or crashes, is flagged and the suite goes on."""

import json

import numpy as np
import pytest

from bench import modes
from bench.errors import RuntimeFailure
from bench.runner import run_benchmark
from bench.suites import build_config


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
    monkeypatch.setitem(modes.MODES, "numpy", broken)
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
    assert len(by_mode["numpy"]["samples"]["response_s"]) == 3
    assert by_mode["sequential"]["correct"] is True
    assert data["status"] == "complete"
    assert "numpy" in str(err.value)


def test_a_crashing_mode_does_not_stop_the_others(tmp_path, monkeypatch):
    _, data = _run(tmp_path, monkeypatch, CrashingNumpy)
    by_mode = {r["mode"]: r for r in data["runs"]}
    assert by_mode["numpy"]["correct"] is False
    assert by_mode["numpy"]["error"] == "RuntimeError: simulated crash"
    assert by_mode["sequential"]["correct"] is True


def test_sequential_mode_is_the_reference():
    from bench.workload import Workload

    w = Workload(2000, seed=5)
    outcome = modes.Sequential(w).trial(2000)
    assert np.array_equal(outcome.answers, w.reference)

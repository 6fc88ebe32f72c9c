"""A mode cannot pass by copying the reference: verification must see through it.

Every mode is handed the Workload, which also holds the reference answers. These
tests make sure (1) the runner really compares each mode's answers with the
reference, so a wrong reference fails every mode, and (2) no mode's answers are
the reference: they must come from running the search.
"""

import json

import numpy as np
import pytest

from bench import mode_table
from bench.engine import modes
from bench.engine.run import run_benchmark
from bench.engine.runner import verify
from bench.engine.suites import build_config
from bench.engine.workload import Workload
from bench.errors import RuntimeFailure
from bench.mode_table import names as mode_names


def brute_force(array, queries) -> np.ndarray:
    """Independent of lookup_many and numpy_first_index: every position of each query, first one."""
    out = []
    for query in np.asarray(queries):
        hits = np.flatnonzero(np.asarray(array) == query)
        out.append(int(hits[0]) if hits.size else -1)
    return np.asarray(out, dtype=np.int64)


class NoReference(Workload):
    """A workload whose reference cannot be read: a mode that peeks at it crashes."""

    @property
    def reference(self):
        raise AssertionError("a mode read workload.reference")

    @property
    def checksum(self):
        raise AssertionError("a mode read workload.checksum")


def test_verify_counts_mismatches_and_rejects_a_wrong_length():
    reference = np.array([3, -1, 0, 7], dtype=np.int64)
    assert verify(reference.copy(), reference) == (True, 0)
    assert verify(np.array([3, -1, 1, 6]), reference) == (False, 2)
    assert verify(reference[:3], reference) == (False, 4)


@pytest.mark.parametrize("name", ["sequential", "numpy"])
def test_driver_modes_answer_without_the_reference(name):
    # value_range >> array_size: most queries miss, some hit
    w = NoReference(3000, array_size=40, value_range=400, seed=9)
    outcome = mode_table.spec_of(name).strategy_class()(w).trial(3000)
    expected = brute_force(w.array, w.query_values)
    assert (expected == -1).any() and (expected >= 0).any()
    assert np.array_equal(outcome.answers, expected)


def test_multiprocessing_answers_without_the_reference():
    w = NoReference(2000, array_size=40, value_range=400, seed=9)
    mode = modes.Multiprocessing(w, processes=2)
    try:
        mode.prepare()
        outcome = mode.trial(1500)
    finally:
        mode.close()
    assert np.array_equal(outcome.answers, brute_force(w.array, w.query_values[:1500]))


@pytest.mark.ray
def test_a_wrong_reference_fails_every_mode(tmp_path, monkeypatch):
    """Corrupt the reference for the whole suite: every mode that really searches now disagrees.

    A mode that returned workload.reference (or anything derived from it) would agree with
    the corrupted reference and be marked correct, and this test would fail.
    """
    true_answers = {}

    def corrupted(self):
        key = (self.queries, self.array_size, self.value_range, self.seed)
        if key not in true_answers:
            # every answer shifted by one: wrong at every position, so every prefix mismatches
            true_answers[key] = brute_force(self.array, self.query_values) + 1
        return true_answers[key]

    monkeypatch.setattr(Workload, "reference", property(corrupted))
    config = build_config(suite="quick", modes=",".join(mode_names()), queries=600, naive_tasks="100",
                          batch_sizes="50", trials=2, num_cpus=2, quiet=True)
    out = tmp_path / "r.json"
    with pytest.raises(RuntimeFailure, match="gave wrong answers"):
        run_benchmark(config, out=out)
    data = json.loads(out.read_text())
    assert data["status"] == "complete"
    assert {r["mode"] for r in data["runs"]} == set(mode_names())
    for run in data["runs"]:
        # flagged for its answers, not for crashing; every measured trial ran
        assert run["error"] is None, (run["label"], run["error"])
        assert run["correct"] is False, run["label"]
        assert run["mismatches"] >= run["params"]["trials"] * run["params"]["queries"], run["label"]
        assert run["checksum"] != run["reference_checksum"], run["label"]
        assert len(run["samples"]["response_s"]) == run["params"]["trials"] >= 2, run["label"]

import numpy as np

from bench.modes import numpy_first_index
from bench.workload import Workload, first_index, lookup_many


def test_same_seed_same_workload_and_checksum():
    a, b = Workload(5000, 100, 1000, seed=7), Workload(5000, 100, 1000, seed=7)
    assert np.array_equal(a.array, b.array)
    assert np.array_equal(a.query_values, b.query_values)
    assert a.checksum == b.checksum


def test_different_seed_changes_the_checksum():
    assert Workload(5000, seed=1).checksum != Workload(5000, seed=2).checksum


def test_first_index_returns_first_match_or_minus_one():
    assert first_index([4, 7, 4], 4) == 0
    assert first_index([4, 7, 4], 7) == 1
    assert first_index([4, 7, 4], 5) == -1
    assert lookup_many([1, 2, 3], [3, 9, 1]) == [2, -1, 0]


def test_reference_has_hits_and_misses_and_respects_ranges():
    w = Workload(20_000, array_size=100, value_range=1000, seed=3)
    assert w.array.min() >= 0 and w.array.max() < 1000
    assert w.query_values.min() >= 0 and w.query_values.max() <= 1000
    assert (w.reference == -1).any() and (w.reference >= 0).any()
    # every hit really is the first position of that value, every miss is really absent
    for query, answer in zip(w.query_values, w.reference):
        positions = np.flatnonzero(w.array == query)
        assert answer == (positions[0] if positions.size else -1), (query, answer)


def test_numpy_floor_agrees_with_reference_even_when_chunked():
    w = Workload(3000, array_size=2000, value_range=500, seed=11)
    assert np.array_equal(numpy_first_index(w.array, w.query_values), w.reference)

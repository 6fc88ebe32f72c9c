import numpy as np

from bench.engine.modes import numpy_first_index
from bench.engine.workload import Workload, first_index, lookup_many


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


def test_answers_checksum_is_the_int64_bytes_whatever_the_container():
    # Results files store this checksum and compare it across runs and versions: it is the
    # first 16 hex digits of SHA-256 over the answers as little int64s, for any container.
    import hashlib

    from bench.engine.workload import answers_checksum

    expected = hashlib.sha256(np.array([3, -1, 0, 70000], dtype=np.int64).tobytes()).hexdigest()[:16]
    assert answers_checksum([3, -1, 0, 70000]) == expected
    assert answers_checksum((3, -1, 0, 70000)) == expected
    assert answers_checksum(np.array([3, -1, 0, 70000], dtype=np.int32)) == expected
    assert len(expected) == 16
    assert answers_checksum([3, -1, 0, 70001]) != expected


def test_describe_names_every_parameter_and_rebuilds_the_same_workload():
    w = Workload(1234, array_size=56, value_range=789, seed=5)
    assert w.describe() == {"queries": 1234, "array_size": 56, "value_range": 789, "seed": 5}
    assert Workload(**w.describe()) == w


def test_workload_sizes_and_read_only_arrays():
    w = Workload(321, array_size=17, value_range=50, seed=9)
    assert w.array.shape == (17,) and w.query_values.shape == (321,)
    assert w.array.dtype == np.int64 and w.query_values.dtype == np.int64
    assert w.array_list == w.array.tolist() and all(type(v) is int for v in w.array_list)
    for arr in (w.array, w.query_values, w.reference):
        assert not arr.flags.writeable
    assert w.reference.shape == (321,) and w.reference.dtype == np.int64
    # queries reach value_range itself (inclusive, like the seed): with 50 values, 321 draws hit it
    assert w.query_values.max() == 50 and w.array.max() < 50


def test_the_lookups_answer_the_workload_protocol_as_before():
    from bench.engine.workload import LookupWorkload, lookup_array_batch

    w = Workload(500, array_size=30, value_range=90, seed=6)
    assert Workload is LookupWorkload and w.kind == "lookups" and w.numpy_floor and w.size == 500
    assert w.items(7) == w.query_values[:7].tolist() and w.task_state == w.array_list
    assert np.array_equal(w.stored_items(3, 9), w.query_values[3:9]) and w.stored_state is w.array
    parts = [w.run_batch(w.task_state, w.items(200)), lookup_array_batch(w.stored_state, w.stored_items(200, 500))]
    answers = w.answers(parts)
    assert answers.dtype == np.int64 and np.array_equal(answers, w.reference)
    assert w.verify(answers, 500) == (True, 0) and w.verify(answers[:10], 500) == (False, 500)
    assert w.checksum_of(answers) == w.checksum and w.bytes_per_item == 8
    assert [w.run_one(w.task_state, q) for q in w.items(20)] == w.reference[:20].tolist()

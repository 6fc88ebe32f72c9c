"""The seeded lookup workload and its sequential reference.

A lookup is a linear search for one integer in a small array; it returns the
index of the first match, or -1 (the seed's `search`). Every mode answers the
same queries, so every mode is checked against the same reference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

NOT_FOUND = -1


def first_index(array: list, query: int) -> int:
    """The unit of work: the seed's Python linear search."""
    for position, value in enumerate(array):
        if value == query:
            return position
    return NOT_FOUND


def lookup_many(array: list, queries) -> list[int]:
    """Answer a batch of lookups with the same per-lookup work as `first_index`."""
    return [first_index(array, query) for query in queries]


def answers_checksum(answers) -> str:
    """A stable checksum of an answer vector, independent of its container type."""
    vector = np.asarray(answers, dtype=np.int64)
    return hashlib.sha256(vector.tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Workload:
    queries: int = 100_000
    array_size: int = 100
    value_range: int = 1_000
    seed: int = 42

    def describe(self) -> dict:
        return {
            "queries": self.queries,
            "array_size": self.array_size,
            "value_range": self.value_range,
            "seed": self.seed,
        }

    @cached_property
    def _generated(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        array = rng.integers(0, self.value_range, size=self.array_size, dtype=np.int64)
        # Queries span the whole range (inclusive, like the seed) so misses occur too.
        queries = rng.integers(0, self.value_range + 1, size=self.queries, dtype=np.int64)
        array.flags.writeable = False
        queries.flags.writeable = False
        return array, queries

    @property
    def array(self) -> np.ndarray:
        return self._generated[0]

    @property
    def query_values(self) -> np.ndarray:
        return self._generated[1]

    @cached_property
    def array_list(self) -> list[int]:
        """The array as plain Python ints, which is what the Python loop searches."""
        return self.array.tolist()

    @cached_property
    def reference(self) -> np.ndarray:
        """Sequential answers: the ground truth every mode is compared with."""
        answers = np.asarray(lookup_many(self.array_list, self.query_values.tolist()), dtype=np.int64)
        answers.flags.writeable = False
        return answers

    @cached_property
    def checksum(self) -> str:
        return answers_checksum(self.reference)

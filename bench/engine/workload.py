"""Workloads: the seeded lookups (the built-in) and a user's per-item function.

A lookup is a linear search for one integer in a small array; it returns the
index of the first match, or -1 (the seed's `search`). Every mode answers the
same queries, so every mode is checked against the same reference.

Both workloads answer the same small protocol (see WorkloadLike below), which is all the
modes use: the items, what every task needs besides its items (task_state by value,
stored_state for the object store), the per-item and per-batch functions (module-level,
so they pickle by reference), the sequential reference, its checksum and describe().
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
import sys
import time
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from bench.errors import UsageError, one_line

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


def lookup_array_batch(array: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """A batch of lookups as shipped through the object store: arrays in, an int64 array out."""
    return np.asarray(lookup_many(array.tolist(), queries.tolist()), dtype=np.int64)


def time_lookup_batch(array: np.ndarray, queries: np.ndarray) -> float:
    """Seconds of pure lookup work on a batch (conversion excluded): ray-auto's probe."""
    array_list, query_list = array.tolist(), queries.tolist()
    start = time.perf_counter()
    lookup_many(array_list, query_list)
    return time.perf_counter() - start


def answers_checksum(answers) -> str:
    """A stable checksum of an answer vector, independent of its container type."""
    vector = np.asarray(answers, dtype=np.int64)
    return hashlib.sha256(vector.tobytes()).hexdigest()[:16]


class WorkloadLike(Protocol):
    """What a mode needs from a workload. Items are answered in order; answers of a prefix
    of n items are compared with reference[:n]."""

    kind: str  # "lookups" | "function"
    numpy_floor: bool  # whether the numpy mode (a vectorised equivalent) applies

    @property
    def size(self) -> int: ...  # items in the whole workload
    def items(self, n: int) -> list: ...  # the first n items as Python objects
    def stored_items(self, start: int, stop: int) -> Sequence: ...  # items[start:stop] as a batch task gets them
    @property
    def task_state(self) -> Any: ...  # what every task needs besides its items, passed by value
    @property
    def stored_state(self) -> Any: ...  # the same, as put once in the object store (ray-batched, ray-auto)
    run_one: Callable[[Any, Any], Any]  # (task_state, item) -> answer
    run_batch: Callable[[Any, list], Sequence]  # (task_state, items) -> answers
    run_stored_batch: Callable[[Any, Sequence], Sequence]  # (stored_state, stored items) -> answers
    time_batch: Callable[[Any, Sequence], float]  # seconds of pure work on a stored batch
    @property
    def bytes_per_item(self) -> int: ...  # serialised bytes a task carries per item, in or out
    def probe_items(self, most: int) -> int: ...  # items in ray-auto's work probe (at most `most`)
    def answers(self, parts: list) -> Sequence: ...  # per-task answers, in order -> one answer vector
    @property
    def reference(self) -> Sequence: ...
    @property
    def checksum(self) -> str: ...
    def checksum_of(self, answers) -> str: ...
    def verify(self, answers, n: int) -> tuple[bool, int]: ...
    def describe(self) -> dict: ...


@dataclass(frozen=True)
class LookupWorkload:
    queries: int = 100_000
    array_size: int = 100
    value_range: int = 1_000
    seed: int = 42

    kind = "lookups"
    numpy_floor = True
    run_one = staticmethod(first_index)
    run_batch = staticmethod(lookup_many)
    run_stored_batch = staticmethod(lookup_array_batch)
    time_batch = staticmethod(time_lookup_batch)

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

    # -- the workload protocol -------------------------------------------------------

    @property
    def size(self) -> int:
        return self.queries

    def items(self, n: int) -> list[int]:
        return self.query_values[:n].tolist()

    def stored_items(self, start: int, stop: int) -> np.ndarray:
        return self.query_values[start:stop]

    @property
    def task_state(self) -> list[int]:
        return self.array_list

    @property
    def stored_state(self) -> np.ndarray:
        return self.array

    @property
    def bytes_per_item(self) -> int:
        # one query in and one int64 answer out
        return max(self.query_values.itemsize, np.dtype(np.int64).itemsize)

    @staticmethod
    def probe_items(most: int) -> int:
        return most

    @staticmethod
    def answers(parts: list) -> np.ndarray:
        if not parts:
            return np.empty(0, dtype=np.int64)
        if all(isinstance(part, np.ndarray) for part in parts):
            return np.concatenate(parts).astype(np.int64, copy=False)
        return np.fromiter((a for part in parts for a in part), dtype=np.int64)

    @staticmethod
    def checksum_of(answers) -> str:
        return answers_checksum(answers)

    def verify(self, answers, n: int) -> tuple[bool, int]:
        return verify_arrays(answers, self.reference[:n])


def verify_arrays(answers, reference: np.ndarray) -> tuple[bool, int]:
    """(all equal?, how many differ); a wrong length counts every expected answer as wrong."""
    answers = np.asarray(answers)
    if answers.shape != reference.shape:
        return False, int(reference.size)
    mismatches = int(np.count_nonzero(answers != reference))
    return mismatches == 0, mismatches


Workload = LookupWorkload  # the name the modes' and tests' lookups have always used


# -- a user's per-item function -----------------------------------------------------------

NUMPY_SKIPPED = "numpy has no meaning for a user function (no vectorised equivalent): not run"


def call_one(function: Callable, item):
    return function(item)


def call_many(function: Callable, items) -> list:
    return [function(item) for item in items]


def time_call_many(function: Callable, items) -> float:
    start = time.perf_counter()
    call_many(function, items)
    return time.perf_counter() - start


def _split_spec(flag: str, spec: str) -> tuple[str, str]:
    """MODULE:FUNCTION -> (module, function); bench.options.function_spec checks the syntax of
    the options first, with this message."""
    module, sep, attr = str(spec).strip().partition(":")
    if not sep or not module.strip() or not attr.strip() or ":" in attr:
        raise UsageError(f"{flag} must be MODULE:FUNCTION (e.g. bench.examples.workloads:cpu_bound), got {spec!r}")
    return module.strip(), attr.strip()


def _ensure_cwd_importable() -> None:
    # `python -m bench` puts the CWD on sys.path; the ray-bench script does not.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def resolve_function(spec: str, flag: str = "--workload") -> Callable:
    """The callable named by MODULE:FUNCTION (FUNCTION may be dotted: Class.method); a bad
    spec is a UsageError (exit 2) in one line."""
    module_name, attr = _split_spec(flag, spec)
    spec = f"{module_name}:{attr}"
    _ensure_cwd_importable()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"{flag} {spec}: cannot import module {module_name!r} ({exc})") from None
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise UsageError(f"{flag} {spec}: importing {module_name!r} failed: {exc.__class__.__name__}: {first}") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UsageError(f"{flag} {spec}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise UsageError(f"{flag} {spec}: {attr!r} is not callable ({type(target).__name__})")
    return target


def module_root(spec: str) -> str | None:
    """The sys.path entry the module of spec was imported from: what workers need on PYTHONPATH."""
    module_name = _split_spec("--workload", spec)[0]
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        return None
    root = Path(path).resolve().parent
    for _ in range(module_name.count(".") + (1 if Path(path).name == "__init__.py" else 0)):
        root = root.parent
    return str(root)


@cache
def load_items(spec: str) -> tuple:
    """--items-from MODULE:FUNCTION: the list it returns (called once per process)."""
    function = resolve_function(spec, flag="--items-from")
    try:
        items = tuple(function())
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise UsageError(f"--items-from {spec}: calling it failed: {exc.__class__.__name__}: {first}") from None
    if not items:
        raise UsageError(f"--items-from {spec} returned no items")
    try:
        pickle.dumps(items)
    except Exception as exc:
        raise UsageError(f"--items-from {spec}: the items must be picklable ({exc.__class__.__name__}: {exc})") from None
    return items


@dataclass(frozen=True)
class FunctionWorkload:
    """A user's per-item function over range(items), or over the list --items-from returns.
    Answers must be picklable and comparable with ==; the sequential loop is the reference."""

    function: str  # MODULE:FUNCTION
    count: int | None = None  # items are range(count) ...
    items_from: str | None = None  # ... or this MODULE:FUNCTION's list

    kind = "function"
    numpy_floor = False
    run_one = staticmethod(call_one)
    run_batch = staticmethod(call_many)
    run_stored_batch = staticmethod(call_many)
    time_batch = staticmethod(time_call_many)

    @cached_property
    def fn(self) -> Callable:
        return resolve_function(self.function)

    @cached_property
    def _items(self) -> tuple:
        if self.items_from is not None:
            return load_items(self.items_from)
        return tuple(range(self.count or 0))

    @property
    def size(self) -> int:
        return len(self._items)

    def items(self, n: int) -> list:
        return list(self._items[:n])

    def stored_items(self, start: int, stop: int) -> list:
        return list(self._items[start:stop])

    @property
    def task_state(self) -> Callable:
        return self.fn  # pickled by reference: workers import its module

    @property
    def stored_state(self) -> Callable:
        return self.fn

    @staticmethod
    def answers(parts: list) -> list:
        return [answer for part in parts for answer in part]

    @cached_property
    def reference(self) -> tuple:
        """The sequential answers, checked once: picklable, and equal (==) to their own round trip."""
        try:
            started = time.perf_counter()
            answers = tuple(call_many(self.fn, self._items))
            self.__dict__["reference_s"] = time.perf_counter() - started  # frozen: set as cached_property does
        except Exception as exc:
            raise UsageError(f"--workload {self.function} raised on the sequential reference: {one_line(exc)}") from None
        try:
            blob = pickle.dumps(answers)
        except Exception as exc:
            raise UsageError(f"--workload {self.function}: its results must be picklable "
                             f"({one_line(exc)})") from None
        for index, (mine, back) in enumerate(zip(answers, pickle.loads(blob))):
            try:
                same = mine == back
                same = bool(same) if isinstance(same, (bool, np.bool_)) else None
            except Exception:
                same = None
            if same is not True:
                raise UsageError(
                    f"--workload {self.function}: its results must be comparable with == (item {index}: a "
                    f"{type(mine).__name__} is not equal to its own pickled copy), so answers cannot be checked")
            if index >= 100:
                break  # a sample suffices: one type of result
        return answers

    @cached_property
    def checksum(self) -> str:
        return self.checksum_of(self.reference)

    @staticmethod
    def checksum_of(answers) -> str:
        return hashlib.sha256(pickle.dumps(list(answers), protocol=4)).hexdigest()[:16]

    def verify(self, answers, n: int) -> tuple[bool, int]:
        reference = self.reference[:n]
        answers = list(answers)
        if len(answers) != len(reference):
            return False, len(reference)
        mismatches = 0
        for mine, theirs in zip(answers, reference):
            try:
                same = bool(mine == theirs)
            except Exception:
                same = False
            mismatches += not same
        return mismatches == 0, mismatches

    PROBE_S = 0.1  # ray-auto's work probe: about this long per probe task, however slow an item is

    def probe_items(self, most: int) -> int:
        """A slow function gets a shorter probe than the lookups' `most` items (~PROBE_S of work)."""
        self.reference  # timed while it is computed
        per_item = self.__dict__.get("reference_s", 0.0) / max(1, self.size)
        return max(1, min(most, self.size, int(self.PROBE_S / per_item) if per_item else most))

    @cached_property
    def bytes_per_item(self) -> int:
        """The larger of an item's and an answer's pickled size, over a sample."""
        sample = range(min(self.size, 50))
        if not sample:
            return 8
        items = max(len(pickle.dumps(self._items[i])) for i in sample)
        answers = max(len(pickle.dumps(self.reference[i])) for i in sample)
        return max(8, items, answers)

    def describe(self) -> dict:
        out = {"kind": "function", "function": self.function, "items": self.size, "queries": self.size,
               "items_source": f"--items-from {self.items_from}" if self.items_from else f"range({self.size})",
               "skipped_modes": {"numpy": NUMPY_SKIPPED}}
        if self.items_from:
            out["items_from"] = self.items_from
        return out

    def module_root(self) -> str | None:
        self.fn  # imported first
        return module_root(self.function)


def from_config(config) -> WorkloadLike:
    """The workload a RunConfig names: a user's function (--workload) or the seeded lookups."""
    if getattr(config, "workload", None):
        return FunctionWorkload(config.workload, count=None if config.items_from else config.queries,
                                items_from=config.items_from)
    return LookupWorkload(config.queries, config.array_size, config.value_range, config.seed)

"""A stand-in for Ray with a clock the test controls (issue 25: Ray timing windows).

Time passes only inside the fake Ray's calls: a submission (`f.remote(...)`) costs SUBMIT_S,
a `ray.wait` WAIT_S and a `ray.get` GET_S, and the clock the code under test reads
(`time.perf_counter` in bench.engine.modes, bench.engine.ray_modes and bench.engine.calibration, swapped for `clock.perf_counter`)
does not move by itself. So every interval a mode or the calibration measures is known
exactly, and the log says when each answer came back to the driver (the moment a
`ray.get` returned it). A task's work runs in the driver at submission (its result is only
handed over by `get`); its ref's future (ref.future(), the latency tracker) completes when
`wait` reports it ready or `get` returns it, whichever comes first.

Install with `install(monkeypatch)` (the `clocked_ray` fixture of tests/conftest.py): `sys.modules["ray"]`
and the modules' clocks are replaced for one test, and the cached remote functions of
bench.engine.ray_modes are cleared before and after (clear_caches), so a test with the real Ray later in
the session gets real ones again.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import sys
import time
import types

SUBMIT_S = 1.0
WAIT_S = 10.0
GET_S = 100.0


class Clock:
    """Starts far from 0, so a difference taken the wrong way round (now + start) shows."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.log: list[tuple[str, float, int]] = []  # (event, time, how many refs)
        self.submit_s, self.wait_s, self.get_s = SUBMIT_S, WAIT_S, GET_S  # a test may change them
        self.in_flight = 0  # submitted, not yet returned by a get
        self.most_in_flight = 0

    def perf_counter(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def times(self, event: str) -> list[float]:
        return [t for e, t, _ in self.log if e == event]


class FakeRef:
    def __init__(self, value, clock: Clock):
        self.value = value
        self._future: concurrent.futures.Future | None = None
        self.clock = clock
        self.task = False  # a task's result (not ray.put)
        self.got = False

    def future(self) -> concurrent.futures.Future:
        if self._future is None:
            self._future = concurrent.futures.Future()
        return self._future

    def done(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(self.value)


class FakeRemoteFunction:
    def __init__(self, fn, clock: Clock):
        self.fn, self.clock = fn, clock
        self.calls: list[tuple] = []  # the arguments of every submitted task, resolved
        self.placements: list = []  # per task: the node its soft affinity named (None: Ray's default)

    def remote(self, *args, _node=None):
        args = tuple(a.value if isinstance(a, FakeRef) else a for a in args)
        self.calls.append(args)
        self.placements.append(_node)
        value = self.fn(*args)
        self.clock.advance(self.clock.submit_s)
        self.clock.log.append(("submit", self.clock.now, 1))
        self.clock.in_flight += 1
        self.clock.most_in_flight = max(self.clock.most_in_flight, self.clock.in_flight)
        ref = FakeRef(value, self.clock)
        ref.task = True
        return ref

    def options(self, scheduling_strategy=None, **_):
        return self if scheduling_strategy is None else PlacedRemoteFunction(self, scheduling_strategy)


class PlacedRemoteFunction:
    """A remote function with a scheduling strategy (.options): its tasks count as the base's."""

    def __init__(self, base: FakeRemoteFunction, strategy):
        self.base, self.strategy = base, strategy

    def remote(self, *args):
        return self.base.remote(*args, _node=(self.strategy.node_id, self.strategy.soft))


@dataclasses.dataclass(frozen=True)
class NodeAffinitySchedulingStrategy:
    node_id: str
    soft: bool


def fake_ray_module(clock: Clock) -> types.ModuleType:
    ray = types.ModuleType("ray")
    ray.functions = []  # every remote function made, in order

    def remote(*args, **kwargs):
        if args and callable(args[0]):
            made = FakeRemoteFunction(args[0], clock)
            ray.functions.append(made)
            return made
        return remote

    def put(value):
        return FakeRef(value, clock)

    def get(refs, timeout=None):
        clock.advance(clock.get_s)
        single = isinstance(refs, FakeRef)
        refs = [refs] if single else list(refs)
        for ref in refs:
            ref.done()
            if ref.task and not ref.got:
                ref.got = True
                clock.in_flight -= 1
        clock.log.append(("get", clock.now, len(refs)))
        values = [ref.value for ref in refs]
        return values[0] if single else values

    def wait(refs, num_returns=1, timeout=None):
        clock.advance(clock.wait_s)
        refs = list(refs)
        ready, rest = refs[:num_returns], refs[num_returns:]
        for ref in ready:
            ref.done()
        clock.log.append(("wait", clock.now, len(ready)))
        return ready, rest

    def get_runtime_context():
        return types.SimpleNamespace(get_node_id=lambda: "driver-node")

    def nodes():
        return ray.node_list

    ray.node_list = [{"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "driver-node"}]  # a test may change it
    ray.remote, ray.put, ray.get, ray.wait = remote, put, get, wait
    ray.get_runtime_context, ray.nodes = get_runtime_context, nodes
    ray.is_initialized = lambda: True
    return ray


def fake_time(clock: Clock) -> types.SimpleNamespace:
    """The `time` module as the code under test sees it: perf_counter is the fake clock; the
    rest (monotonic, sleep: the latency tracker's wait for its callbacks) is the real one."""
    return types.SimpleNamespace(perf_counter=clock.perf_counter, monotonic=time.monotonic, sleep=time.sleep,
                                 time=time.time)


def install(monkeypatch) -> tuple[Clock, types.ModuleType]:
    from bench.engine import calibration, modes, ray_modes

    clock = Clock()
    ray = fake_ray_module(clock)
    monkeypatch.setitem(sys.modules, "ray", ray)
    strategies = types.ModuleType("ray.util.scheduling_strategies")
    strategies.NodeAffinitySchedulingStrategy = NodeAffinitySchedulingStrategy
    monkeypatch.setitem(sys.modules, "ray.util", types.ModuleType("ray.util"))
    monkeypatch.setitem(sys.modules, "ray.util.scheduling_strategies", strategies)
    monkeypatch.setattr(modes, "time", fake_time(clock))
    monkeypatch.setattr(ray_modes, "time", fake_time(clock))
    monkeypatch.setattr(calibration, "time", fake_time(clock))
    clear_caches()
    return clock, ray


def clear_caches() -> None:
    """bench.engine.ray_modes caches its remote functions: made with the fake Ray, they must not outlive the test."""
    from bench.engine import ray_modes

    for cached in (ray_modes._ray_functions, ray_modes._workload_functions, ray_modes._timed_batch_function):
        cached.cache_clear()

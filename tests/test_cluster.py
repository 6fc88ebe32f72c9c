"""bench/engine/cluster.py in-process, on a fake Ray: no Ray starts, no socket opens, no clock runs.

The `ray` fixture puts a fake `ray` package (with the private modules cluster.py reads:
ray._private.services, .state, .authentication.authentication_utils, and
ray.util.scheduling_strategies) into sys.modules for one test, and swaps cluster.py's `time`
for a clock the test controls. The `sock` fixture swaps its `socket` for one that records every
connection attempt and refuses the addresses a test names. The real-Ray paths are
tests/test_real_clusters.py and tests/test_ray_executions.py (marker ray).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import types
from pathlib import Path

import pytest

from bench.engine import cluster
from bench.errors import RuntimeFailure, UsageError
from fake_ray import NodeAffinitySchedulingStrategy

SLICE = "RAY_get_check_signal_interval_milliseconds"
JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


# -- fakes ---------------------------------------------------------------------------------


class Clock:
    """cluster.py's `time`: stands still unless a sleep, a fake Ray call or the test moves it."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Ref:
    def __init__(self, call):
        self.call = call


class Actor:
    """An actor handle: `handle.method.remote()` gives a ref that ray.get evaluates."""

    def __init__(self, instance, strategy):
        self.instance, self.strategy, self.dead = instance, strategy, False

    def __getattr__(self, name):
        method = getattr(self.instance, name)

        def call():
            if self.dead:
                raise RuntimeError("The actor died unexpectedly before finishing this task.")
            return method()

        return types.SimpleNamespace(remote=lambda: Ref(call))


class ActorClass:
    def __init__(self, cls, options: dict):
        self.cls, self.remote_options = cls, options
        self.handles: list[Actor] = []

    def options(self, scheduling_strategy=None, **_):
        def remote():
            handle = Actor(self.cls(), scheduling_strategy)
            self.handles.append(handle)
            return handle

        return types.SimpleNamespace(remote=remote)


class FakeRay:
    """State of the fake Ray; every answer is a plain attribute a test sets (an exception is raised)."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.init_calls: list[dict] = []
        self.init_error: Exception | None = None
        self.init_s = 2.5  # how long ray.init takes on the clock
        self.initialized = True
        self.shutdowns = 0
        self.node_tables: list = [[]]  # successive ray.nodes() answers, the last one repeats
        self.nodes_calls = 0
        self.resources: dict = {}
        self.job_id = "03000000"
        self.jobs: list | Exception = []
        self.gcs: str | Exception = "10.0.0.5:6379"
        self.token_auth: bool | Exception = False
        self.found: str | None | Exception = "auto"  # canonicalize_bootstrap_address_or_die's answer
        self.canonicalized: list = []
        self.actor_classes: list[ActorClass] = []
        self.gets: list[float | None] = []  # the timeout of every ray.get
        self.get_s = 0.0  # how long each ray.get takes on the clock

    @staticmethod
    def _answer(value):
        if isinstance(value, Exception):
            raise value
        return value

    # ray
    def init(self, **kwargs):
        self.init_calls.append(kwargs)
        self.clock.now += self.init_s
        self._answer(self.init_error)

    def shutdown(self):
        self.shutdowns += 1

    def is_initialized(self):
        return self.initialized

    def nodes(self):
        self.nodes_calls += 1
        table = self.node_tables[0] if len(self.node_tables) == 1 else self.node_tables.pop(0)
        return self._answer(table)

    def cluster_resources(self):
        return self.resources

    def get_runtime_context(self):
        fake = self

        class Context:
            def get_job_id(self):
                return fake.job_id

            @property
            def gcs_address(self):
                return fake._answer(fake.gcs)

        return Context()

    def remote(self, *args, **kwargs):
        def decorate(cls):
            made = ActorClass(cls, kwargs)
            self.actor_classes.append(made)
            return made

        return decorate(args[0]) if args and callable(args[0]) else decorate

    def get(self, ref, timeout=None):
        self.gets.append(timeout)
        self.clock.now += self.get_s
        return ref.call()

    # private modules
    def canonicalize_bootstrap_address_or_die(self, addr, temp_dir=None):
        self.canonicalized.append(addr)
        return self._answer(self.found)

    def state_jobs(self):
        return self._answer(self.jobs)

    def is_token_auth_enabled(self):
        return self._answer(self.token_auth)

    def install(self, monkeypatch) -> None:
        def module(name, **attrs):
            made = types.ModuleType(name)
            made.__dict__.update(attrs)
            monkeypatch.setitem(sys.modules, name, made)
            return made

        ray = module("ray", init=self.init, shutdown=self.shutdown, is_initialized=self.is_initialized,
                     nodes=self.nodes, cluster_resources=self.cluster_resources,
                     get_runtime_context=self.get_runtime_context, remote=self.remote, get=self.get)
        private = ray._private = module("ray._private")
        private.services = module("ray._private.services",
                                  canonicalize_bootstrap_address_or_die=self.canonicalize_bootstrap_address_or_die)
        private.state = module("ray._private.state", jobs=self.state_jobs)
        private.authentication = module("ray._private.authentication")
        private.authentication.authentication_utils = module(
            "ray._private.authentication.authentication_utils", is_token_auth_enabled=self.is_token_auth_enabled)
        ray.util = module("ray.util")
        ray.util.scheduling_strategies = module("ray.util.scheduling_strategies",
                                                NodeAffinitySchedulingStrategy=NodeAffinitySchedulingStrategy)


class Socket:
    """cluster.py's `socket`: records each create_connection; refuses the addresses in `refuse`."""

    def __init__(self):
        self.connections: list[tuple] = []  # ((host, port), timeout)
        self.refuse: dict[tuple, OSError] = {}
        self.closed = 0

    def create_connection(self, address, timeout=None):
        self.connections.append((address, timeout))
        if address in self.refuse:
            raise self.refuse[address]
        sock = self

        class Connection:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                sock.closed += 1

        return Connection()


@pytest.fixture
def clock(monkeypatch):
    made = Clock()
    monkeypatch.setattr(cluster, "time", made)
    return made


@pytest.fixture
def ray(monkeypatch, clock):
    fake = FakeRay(clock)
    fake.install(monkeypatch)
    return fake


@pytest.fixture
def sock(monkeypatch):
    made = Socket()
    monkeypatch.setattr(cluster, "socket", made)
    return made


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """None of the variables cluster.py reads or sets; whatever it sets is removed after the test."""
    for name in ("RAY_ADDRESS", JOB_ENV, SLICE, "RAY_USAGE_STATS_ENABLED", "PYTHONPATH"):
        monkeypatch.setenv(name, "")  # recorded, so the test's own setdefault is undone too
        monkeypatch.delenv(name)


def node(node_id, alive=True, cpus: float | None = 2.0, host=None, head=False, reason=None, **resources):
    """One row of ray.nodes()."""
    res = dict(resources)
    if cpus is not None:
        res["CPU"] = cpus
    if head:
        res["node:__internal_head__"] = 1.0
    row = {"NodeID": node_id, "Alive": alive, "NodeManagerHostname": host, "NodeManagerAddress": f"ip-{node_id}",
           "Resources": res}
    if reason is not None:
        row["DeathReasonMessage"] = reason
    return row


def job_config(submission_id):
    return json.dumps({"metadata": {"job_submission_id": submission_id}, "runtime_env": {}})


# -- effective_address ---------------------------------------------------------------------


@pytest.mark.parametrize("given, env, expected", [
    (None, None, None),                           # embedded
    ("", None, None),
    ("auto", None, "auto"),
    ("head:6379", None, "head:6379"),
    (None, "10.0.0.5:6379", "10.0.0.5:6379"),     # ray job submit / RayJob
    ("", "10.0.0.5:6379", "10.0.0.5:6379"),
    ("auto", "10.0.0.5:6379", "10.0.0.5:6379"),   # ray.init("auto") reads RAY_ADDRESS too
    ("head:6379", "10.0.0.5:6379", "head:6379"),  # an explicit --address wins
    (None, "auto", "auto"),
    (None, "  10.0.0.5:6379 ", "10.0.0.5:6379"),  # stripped
    (None, "  ", None),                           # blank is unset
])
def test_effective_address_is_the_given_address_else_ray_address(monkeypatch, given, env, expected):
    if env is not None:
        monkeypatch.setenv("RAY_ADDRESS", env)
    assert cluster.effective_address(given) == expected


def test_a_url_in_ray_address_is_refused_with_what_to_do(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:8265")
    with pytest.raises(UsageError) as caught:
        cluster.effective_address(None)
    assert str(caught.value) == (
        "RAY_ADDRESS='http://127.0.0.1:8265' is a URL (dashboard or Ray Client); bench joins a cluster by its "
        "GCS address HOST:PORT or 'auto': unset RAY_ADDRESS or give --address")


def test_a_ray_address_that_is_no_host_port_is_refused_naming_ray_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "nowhere")
    with pytest.raises(UsageError) as caught:
        cluster.effective_address("auto")
    assert str(caught.value) == "RAY_ADDRESS must be 'auto' or HOST:PORT, got 'nowhere'"
    assert caught.value.__suppress_context__  # one line: not "during handling of ..."


def test_a_bad_address_given_is_refused_even_with_a_ray_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    with pytest.raises(UsageError, match="--address must be 'auto' or HOST:PORT, got 'head'"):
        cluster.effective_address("head")


# -- _job_submission_id ----------------------------------------------------------------------


def test_the_job_submission_id_is_read_from_rays_job_config(monkeypatch):
    monkeypatch.setenv(JOB_ENV, job_config("raysubmit_abc"))
    assert cluster._job_submission_id() == "raysubmit_abc"


@pytest.mark.parametrize("value", [None, "", "not json", json.dumps({"metadata": {}}), json.dumps({"other": 1})])
def test_no_job_submission_id_outside_a_job_or_with_an_unreadable_config(monkeypatch, value):
    if value is not None:
        monkeypatch.setenv(JOB_ENV, value)
    assert cluster._job_submission_id() is None


# -- _check_reachable -------------------------------------------------------------------------


def test_a_reachable_head_is_probed_once_for_five_seconds_and_closed(sock):
    assert cluster._check_reachable("fe80::1:6379") is None
    assert sock.connections == [(("fe80::1", 6379), 5.0)]  # the port after the last colon
    assert sock.closed == 1


def test_the_probe_timeout_is_the_one_given(sock):
    cluster._check_reachable("head:6379", timeout_s=0.25)
    assert sock.connections == [(("head", 6379), 0.25)]


def test_an_unreachable_head_fails_with_the_systems_reason(sock):
    sock.refuse[("head", 6379)] = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(RuntimeFailure) as caught:
        cluster._check_reachable("head:6379")
    assert str(caught.value) == "cannot reach a Ray head at head:6379: Connection refused"
    assert caught.value.__suppress_context__


def test_an_unreachable_head_without_a_reason_is_named_by_the_error_type(sock):
    sock.refuse[("head", 6379)] = TimeoutError("timed out")  # strerror None
    with pytest.raises(RuntimeFailure) as caught:
        cluster._check_reachable("head:6379", found_by=" (found)", hint="; try again")
    assert str(caught.value) == "cannot reach a Ray head at head:6379 (found): TimeoutError; try again"


# -- resolve_auto ----------------------------------------------------------------------------


def test_address_auto_resolves_as_ray_init_would(ray):
    ray.found = "10.0.0.7:6379"
    assert cluster.resolve_auto() == "10.0.0.7:6379"
    assert ray.canonicalized == ["auto"]


@pytest.mark.parametrize("found", [None, "", RuntimeError("private API changed")])
def test_address_auto_stays_auto_when_ray_gives_nothing_or_fails_otherwise(ray, found):
    ray.found = found
    assert cluster.resolve_auto() == "auto"


def test_address_auto_stays_auto_without_rays_private_api(ray, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray._private.services", None)  # ImportError
    assert cluster.resolve_auto() == "auto"


def test_address_auto_with_no_cluster_on_this_host_says_so_in_one_line(ray):
    ray.found = ConnectionError("Could not find any running Ray instance.\nPlease specify the address.")
    with pytest.raises(RuntimeFailure) as caught:
        cluster.resolve_auto()
    assert str(caught.value) == (
        "--address auto found no Ray cluster to join on this host: Could not find any running Ray instance. "
        "(start one with `ray start`, or give --address HOST:PORT)")
    assert caught.value.__suppress_context__


# -- _reachable_address ------------------------------------------------------------------------


def test_a_given_address_is_checked_and_joined_as_given(ray, sock):
    assert cluster._reachable_address("head:6379") == "head:6379"
    assert sock.connections == [(("head", 6379), 5.0)]
    assert ray.canonicalized == []


def test_an_unreachable_given_address_fails_without_the_auto_hint(ray, sock):
    sock.refuse[("head", 6379)] = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(RuntimeFailure) as caught:
        cluster._reachable_address("head:6379")
    assert str(caught.value) == "cannot reach a Ray head at head:6379: Connection refused"


def test_address_auto_joins_the_head_it_found_after_checking_it(ray, sock):
    ray.found = "10.0.0.7:6379"
    assert cluster._reachable_address("auto") == "10.0.0.7:6379"
    assert sock.connections == [(("10.0.0.7", 6379), 5.0)]


def test_address_auto_that_finds_nothing_leaves_it_to_ray_init(ray, sock):
    ray.found = None
    assert cluster._reachable_address("auto") == "auto"
    assert sock.connections == []


def test_address_auto_that_finds_an_unreachable_head_says_where_it_came_from(ray, sock):
    ray.found = "ray-head:6379"  # the compose appliance's container, seen from the host
    sock.refuse[("ray-head", 6379)] = socket_error = OSError(-2, "Name or service not known")
    assert socket_error.strerror
    with pytest.raises(RuntimeFailure) as caught:
        cluster._reachable_address("auto")
    assert str(caught.value) == (
        "cannot reach a Ray head at ray-head:6379, which --address auto found on this host (the last `ray start` "
        "here, or a Ray process it can see, such as a compose appliance's container): Name or service not known; "
        "for the appliance use make bench, else give --address HOST:PORT")
    assert sock.connections == [(("ray-head", 6379), 5.0)]


# -- driver_settings -------------------------------------------------------------------------


def test_the_driver_sets_a_20_ms_get_slice_by_default():
    import os

    assert cluster.driver_settings() == {SLICE: "20", "source": "bench default"}
    assert os.environ[SLICE] == "20"  # read by the core worker at ray.init


def test_a_get_slice_the_user_set_is_kept_and_recorded_as_theirs(monkeypatch):
    import os

    monkeypatch.setenv(SLICE, "1000")
    assert cluster.driver_settings() == {SLICE: "1000", "source": "user environment"}
    assert os.environ[SLICE] == "1000"


def test_an_empty_get_slice_the_user_set_is_still_theirs(monkeypatch):
    monkeypatch.setenv(SLICE, "")
    assert cluster.driver_settings() == {SLICE: "", "source": "user environment"}


# -- connect ---------------------------------------------------------------------------------


def package_root() -> str:
    return str(Path(cluster.__file__).resolve().parent.parent)


def test_connect_without_an_address_starts_an_embedded_ray_that_can_import_bench(ray, monkeypatch):
    import os

    monkeypatch.setenv("PYTHONPATH", "/site/extra")
    root = package_root()
    info = cluster.connect(None, num_cpus=2, worker_paths=("/work/mine", root, "", "/work/mine"))
    assert ray.init_calls == [{
        "logging_level": logging.ERROR, "log_to_driver": False, "configure_logging": True,
        "num_cpus": 2, "include_dashboard": False,
        "runtime_env": {"env_vars": {"PYTHONPATH": os.pathsep.join([root, "/work/mine", "/site/extra"])}},
    }]
    assert info == {"mode": "embedded", "address": None, "init_s": 2.5, "auth_mode": "disabled",
                    "driver_settings": {SLICE: "20", "source": "bench default"}, "earlier_jobs": 0}
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"


def test_connect_embedded_without_pythonpath_or_cpus_gives_the_package_root_alone(ray):
    cluster.connect(None)
    (kwargs,) = ray.init_calls
    assert kwargs["num_cpus"] is None
    assert kwargs["runtime_env"] == {"env_vars": {"PYTHONPATH": package_root()}}


def test_connect_not_quiet_logs_at_info_to_the_driver(ray):
    cluster.connect(None, quiet=False)
    (kwargs,) = ray.init_calls
    assert (kwargs["logging_level"], kwargs["log_to_driver"], kwargs["configure_logging"]) == (logging.INFO, True, True)


def test_connect_keeps_the_users_usage_stats_setting(ray, monkeypatch):
    import os

    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "1")
    cluster.connect(None)
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "1"


def test_connect_to_a_given_address_joins_it_after_checking_it(ray, sock):
    ray.token_auth = True
    ray.jobs = [{"JobID": "01000000"}, {"JobID": "03000000"}]
    info = cluster.connect("head:6379", worker_paths=("/work/mine",))
    assert ray.init_calls == [{"logging_level": logging.ERROR, "log_to_driver": False, "configure_logging": True,
                               "address": "head:6379"}]
    assert sock.connections == [(("head", 6379), 5.0)]
    assert info == {"mode": "existing", "address": "head:6379", "init_s": 2.5, "auth_mode": "token",
                    "driver_settings": {SLICE: "20", "source": "bench default"}, "earlier_jobs": 1,
                    "address_from": "--address"}


def test_connect_under_ray_job_submit_records_ray_address_and_the_submission_id(ray, sock, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    monkeypatch.setenv(JOB_ENV, job_config("raysubmit_abc"))
    info = cluster.connect(None)
    assert ray.init_calls[0]["address"] == "10.0.0.5:6379"
    assert (info["mode"], info["address"], info["address_from"], info["job_submission_id"]) == (
        "existing", "10.0.0.5:6379", "RAY_ADDRESS", "raysubmit_abc")


@pytest.mark.parametrize("given", ["", "auto"])
def test_connect_records_ray_address_when_no_address_was_given(ray, sock, monkeypatch, given):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    info = cluster.connect(given)
    assert (info["address"], info["address_from"]) == ("10.0.0.5:6379", "RAY_ADDRESS")
    assert "job_submission_id" not in info


def test_connect_with_address_auto_joins_what_it_resolved_and_records_auto(ray, sock):
    ray.found = "10.0.0.7:6379"
    info = cluster.connect("auto")
    assert ray.init_calls[0]["address"] == "10.0.0.7:6379"
    assert (info["mode"], info["address"], info["address_from"]) == ("existing", "auto", "--address")


def test_a_given_address_wins_over_ray_address_and_is_recorded_as_given(ray, sock, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    info = cluster.connect("head:6379")
    assert ray.init_calls[0]["address"] == "head:6379"
    assert (info["address"], info["address_from"]) == ("head:6379", "--address")


def test_connect_with_ray_address_auto_records_ray_address(ray, sock, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    info = cluster.connect(None)
    assert ray.init_calls[0]["address"] == "auto"
    assert (info["address"], info["address_from"]) == ("auto", "RAY_ADDRESS")


def test_connect_refuses_num_cpus_when_joining_a_cluster(ray, sock):
    with pytest.raises(UsageError) as caught:
        cluster.connect("head:6379", num_cpus=2)
    assert str(caught.value) == "--num-cpus applies only to the embedded Ray (no --address, no RAY_ADDRESS)"
    assert ray.init_calls == []


def test_connect_does_not_call_ray_init_when_the_head_is_unreachable(ray, sock):
    sock.refuse[("head", 6379)] = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(RuntimeFailure, match="cannot reach a Ray head at head:6379: Connection refused"):
        cluster.connect("head:6379")
    assert ray.init_calls == []


def test_connect_turns_a_connection_error_into_one_line(ray, sock):
    ray.init_error = ConnectionError("GCS did not answer\ntraceback details")
    with pytest.raises(RuntimeFailure) as caught:
        cluster.connect("head:6379")
    assert str(caught.value) == "cannot connect to Ray at head:6379: GCS did not answer"
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("address, error, message", [
    (None, RuntimeError("no session\nmore"), "cannot start or join Ray (embedded): no session"),
    (None, ValueError(""), "cannot start or join Ray (embedded): ValueError"),
    ("head:6379", AssertionError("bad state"), "cannot start or join Ray (head:6379): bad state"),
])
def test_connect_turns_any_other_ray_init_error_into_one_line(ray, sock, address, error, message):
    ray.init_error = error
    with pytest.raises(RuntimeFailure) as caught:
        cluster.connect(address)
    assert str(caught.value) == message
    assert caught.value.__suppress_context__


def test_connect_records_unknowns_when_rays_private_api_will_not_say(ray):
    ray.token_auth = RuntimeError("no")
    ray.jobs = RuntimeError("no GCS")
    info = cluster.connect(None)
    assert (info["auth_mode"], info["earlier_jobs"]) == ("unknown", None)


# -- earlier_jobs, auth_mode, shutdown, total_cpus, gcs_address -----------------------------


def test_earlier_jobs_counts_every_job_but_this_one(ray):
    ray.job_id = "03000000"
    ray.jobs = [{"JobID": "01000000"}, {"JobID": "03000000"}, {"JobID": "02000000"}, {}]
    assert cluster.earlier_jobs() == 3


def test_earlier_jobs_is_zero_on_a_fresh_cluster(ray):
    ray.jobs = [{"JobID": ray.job_id}]
    assert cluster.earlier_jobs() == 0


def test_earlier_jobs_is_unknown_when_ray_will_not_say(ray):
    ray.jobs = RuntimeError("no GCS")
    assert cluster.earlier_jobs() is None


@pytest.mark.parametrize("enabled, expected", [(False, "disabled"), (True, "token"), (RuntimeError("no"), "unknown")])
def test_auth_mode_is_what_ray_says(ray, enabled, expected):
    ray.token_auth = enabled
    assert cluster.auth_mode() == expected


def test_auth_mode_is_unknown_without_rays_private_api(ray, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray._private.authentication.authentication_utils", None)
    assert cluster.auth_mode() == "unknown"


@pytest.mark.parametrize("initialized, shutdowns", [(True, 1), (False, 0)])
def test_shutdown_ends_ray_only_when_it_runs(ray, initialized, shutdowns):
    ray.initialized = initialized
    assert cluster.shutdown() is None
    assert ray.shutdowns == shutdowns


@pytest.mark.parametrize("resources, expected", [({"CPU": 6.0, "memory": 1e9}, 6), ({"CPU": 2.5}, 2), ({}, 0)])
def test_total_cpus_is_the_clusters_whole_cpus(ray, resources, expected):
    ray.resources = resources
    assert cluster.total_cpus() == expected
    assert type(cluster.total_cpus()) is int


def test_gcs_address_is_the_drivers_runtime_context(ray):
    assert cluster.gcs_address() == "10.0.0.5:6379"


def test_gcs_address_is_none_when_ray_will_not_say(ray):
    ray.gcs = RuntimeError("Ray has not been started yet")
    assert cluster.gcs_address() is None


# -- node_snapshot, count_alive --------------------------------------------------------------


def test_a_node_snapshot_lists_every_node_head_first_then_by_hostname_and_id(ray):
    # a missing hostname or id sorts first: before "0..." and "A..." too
    ray.node_tables = [[
        node("w2", host="beta", cpus=4.0, memory=8e9, object_store_memory=2e9),
        node("w1", host="beta", alive=False, cpus=None),
        node("A0", host="0host", cpus=1.0, memory=1.5),
        {"NodeID": "bare"},  # nothing but an id: no resources, not alive
        node("h", host="zulu", head=True, cpus=0.0),
        {"NodeID": None, "Resources": None, "Alive": 1, "NodeManagerHostname": "0host"},
    ]]
    assert cluster.node_snapshot() == [
        {"node_id": "h", "hostname": "zulu", "ip": "ip-h", "alive": True, "is_head": True, "cpus": 0.0,
         "memory_bytes": 0, "object_store_memory_bytes": 0},
        {"node_id": "bare", "hostname": None, "ip": None, "alive": False, "is_head": False, "cpus": 0.0,
         "memory_bytes": 0, "object_store_memory_bytes": 0},
        {"node_id": None, "hostname": "0host", "ip": None, "alive": True, "is_head": False, "cpus": 0.0,
         "memory_bytes": 0, "object_store_memory_bytes": 0},
        {"node_id": "A0", "hostname": "0host", "ip": "ip-A0", "alive": True, "is_head": False, "cpus": 1.0,
         "memory_bytes": 1, "object_store_memory_bytes": 0},
        {"node_id": "w1", "hostname": "beta", "ip": "ip-w1", "alive": False, "is_head": False, "cpus": 0.0,
         "memory_bytes": 0, "object_store_memory_bytes": 0},
        {"node_id": "w2", "hostname": "beta", "ip": "ip-w2", "alive": True, "is_head": False, "cpus": 4.0,
         "memory_bytes": 8_000_000_000, "object_store_memory_bytes": 2_000_000_000},
    ]
    snapshot = cluster.node_snapshot()
    assert all(type(n["alive"]) is bool and type(n["cpus"]) is float and type(n["memory_bytes"]) is int
               and type(n["object_store_memory_bytes"]) is int for n in snapshot)


def test_an_empty_cluster_has_an_empty_snapshot(ray):
    assert cluster.node_snapshot() == []


def test_count_alive_counts_alive_nodes_those_with_cpus_and_their_cpus():
    nodes = [{"alive": True, "cpus": 4.0}, {"alive": True, "cpus": 0.0}, {"alive": False, "cpus": 8.0},
             {"alive": True, "cpus": 0.5}]
    assert cluster.count_alive(nodes) == {"alive": 3, "alive_with_cpus": 2, "cpus": 4.5}


def test_count_alive_of_no_nodes_is_zero():
    assert cluster.count_alive([]) == {"alive": 0, "alive_with_cpus": 0, "cpus": 0}


# -- wait_for_nodes --------------------------------------------------------------------------


def test_wait_for_nodes_returns_at_once_when_enough_are_alive(ray, clock):
    ray.node_tables = [[node("h", head=True, cpus=0.0), node("a", host="a"), node("b", host="b")]]
    seen = []
    nodes = cluster.wait_for_nodes(2, timeout_s=10, on_count=seen.append)
    assert [n["node_id"] for n in nodes] == ["h", "a", "b"]
    assert seen == [2] and clock.sleeps == []


def test_wait_for_nodes_polls_every_half_second_and_reports_each_new_count(ray, clock):
    a, b, c = node("a", host="a"), node("b", host="b"), node("c", host="c")
    ray.node_tables = [[], [a], [a], [a, node("b", alive=False)], [a, b], [a, b, node("c", cpus=0.0)], [a, b, c]]
    seen = []
    nodes = cluster.wait_for_nodes(3, timeout_s=60, on_count=seen.append)
    assert [n["node_id"] for n in nodes] == ["a", "b", "c"]
    assert seen == [0, 1, 2, 3]
    assert clock.sleeps == [0.5] * 6


def test_wait_for_nodes_without_a_progress_callback(ray, clock):
    ray.node_tables = [[], [node("a")]]
    assert [n["node_id"] for n in cluster.wait_for_nodes(1, timeout_s=60)] == ["a"]


def test_wait_for_nodes_gives_up_at_the_deadline_saying_how_many_it_found(ray, clock):
    ray.node_tables = [[node("a")]]
    seen = []
    with pytest.raises(RuntimeFailure) as caught:
        cluster.wait_for_nodes(2, timeout_s=1.5, on_count=seen.append)
    assert str(caught.value) == "expected 2 alive node(s) with CPUs, found 1 after 1.5 s"
    assert clock.sleeps == [0.5, 0.5, 0.5]  # polled at 0, 0.5, 1.0 and 1.5 s (the deadline): 4 polls
    assert ray.nodes_calls == 4
    assert seen == [1]


def test_wait_for_nodes_with_no_time_polls_once(ray, clock):
    with pytest.raises(RuntimeFailure, match="expected 1 alive node"):
        cluster.wait_for_nodes(1, timeout_s=0)
    assert ray.nodes_calls == 1 and clock.sleeps == []


# -- per-node samplers -----------------------------------------------------------------------


class Sampler:
    """bench.engine.samplers.ResourceSampler's part the actor uses."""

    made = 0

    def __init__(self):
        type(self).made += 1
        self.started = 0

    def start(self):
        self.started += 1

    def stop(self):
        return {"cpu": [12.5], "started": self.started}


@pytest.fixture
def samplers(ray, monkeypatch):
    monkeypatch.setattr(Sampler, "made", 0)
    monkeypatch.setattr(cluster, "ResourceSampler", Sampler)
    monkeypatch.setattr(cluster, "node_facts", lambda: {"cpu_model": "fake"})
    return ray


def test_the_sampler_actor_takes_no_cpu_and_is_not_restarted(samplers):
    actor_class = cluster._sampler_actor_class()
    assert actor_class.remote_options == {"num_cpus": 0, "max_restarts": 0}


def test_the_sampler_actor_samples_its_node_and_gives_its_facts(samplers):
    actor = cluster._sampler_actor_class().cls()
    assert Sampler.made == 1
    assert actor.facts() == {"cpu_model": "fake"}
    assert actor.start() is True
    assert actor.stop() == {"cpu": [12.5], "started": 1}


def test_samplers_are_pinned_one_to_each_alive_node(samplers):
    nodes = [{"node_id": "h", "hostname": "head", "alive": True}, {"node_id": "x", "hostname": "gone", "alive": False},
             {"node_id": "w", "hostname": "worker", "alive": True}]
    launched = cluster.NodeSamplers.launch(nodes)
    (actor_class,) = samplers.actor_classes
    assert [h.strategy for h in actor_class.handles] == [
        NodeAffinitySchedulingStrategy(node_id="h", soft=False), NodeAffinitySchedulingStrategy(node_id="w", soft=False)]
    assert launched.actors == {"h": actor_class.handles[0], "w": actor_class.handles[1]}
    assert launched.hostnames == {"h": "head", "w": "worker"}


def test_no_alive_nodes_no_samplers(samplers):
    launched = cluster.NodeSamplers.launch([{"node_id": "x", "hostname": "gone", "alive": False}])
    assert (launched.actors, launched.hostnames) == ({}, {})
    assert cluster.NodeSamplers().actors == {} and cluster.NodeSamplers().hostnames == {}


def launched_on(names):
    return cluster.NodeSamplers.launch([{"node_id": n, "hostname": n, "alive": True} for n in names])


def test_samplers_answer_per_node_and_a_dead_node_gives_none(samplers):
    launched = launched_on(["a", "b", "c"])
    launched.actors["b"].dead = True
    assert launched.facts() == {"a": {"cpu_model": "fake"}, "b": None, "c": {"cpu_model": "fake"}}
    assert launched.start() is None
    assert launched.stop() == {"a": {"cpu": [12.5], "started": 1}, "b": None, "c": {"cpu": [12.5], "started": 1}}


@pytest.mark.parametrize("method, default_s", [("facts", 60), ("start", 30), ("stop", 15)])
def test_each_sampler_call_waits_its_default_time(samplers, method, default_s):
    launched = launched_on(["a"])
    getattr(launched, method)()
    assert samplers.gets == [default_s]


def test_sampler_calls_share_one_deadline_and_each_waits_at_least_a_tenth_of_a_second(samplers):
    launched = launched_on(["a", "b", "c", "d"])
    samplers.get_s = 4.0  # each answer takes 4 s
    answers = launched.facts(timeout_s=10)
    assert samplers.gets == [10.0, 6.0, 2.0, 0.1]
    assert set(answers) == {"a", "b", "c", "d"}


# -- NodeWatcher -----------------------------------------------------------------------------


def test_the_node_watcher_records_nothing_while_the_cluster_stays_the_same(ray):
    ray.node_tables = [[node("a")]]
    watcher = cluster.NodeWatcher()
    watcher.poll()
    watcher.poll()
    assert watcher.events == []


def test_the_node_watcher_records_a_lost_node_with_its_last_cpus_and_rays_reason(ray, clock):
    ray.node_tables = [
        [node("a", host="ha", cpus=4.0)],
        [node("a", host="ha", cpus=4.0), node("b", host="hb", cpus=3.0)],
        [node("a", host="ha", alive=False, cpus=None, reason="killed by the chaos harness"),
         node("b", host="hb", alive=False, cpus=0.0, reason="")],
    ]
    watcher = cluster.NodeWatcher()
    watcher.poll()
    clock.now = 2000.0
    watcher.poll()
    clock.now = 3000.0
    watcher.poll()
    assert watcher.events == [
        {"event": "node_joined", "node_id": "b", "hostname": "hb", "cpus": 3.0, "detected_unix": 2000.0,
         "reason": None},
        {"event": "node_lost", "node_id": "a", "hostname": "ha", "cpus": 4.0, "detected_unix": 3000.0,
         "reason": "killed by the chaos harness"},
        {"event": "node_lost", "node_id": "b", "hostname": "hb", "cpus": 3.0, "detected_unix": 3000.0,
         "reason": None},
    ]


def test_the_node_watcher_records_a_node_that_comes_back_and_one_without_resources(ray, clock):
    ray.node_tables = [
        [node("a", alive=False, cpus=None)],
        [node("a", host="ha", cpus=2.0), {"NodeID": "n", "Alive": True, "Resources": None}],
        [node("a", host="ha", cpus=2.0), {"NodeID": "n", "Alive": False}],
    ]
    watcher = cluster.NodeWatcher()
    watcher.poll()
    assert watcher.events == []  # the first look: what is there is not news
    watcher.poll()
    watcher.poll()
    assert [(e["event"], e["node_id"], e["cpus"], e["hostname"]) for e in watcher.events] == [
        ("node_joined", "a", 2.0, "ha"), ("node_joined", "n", 0.0, None), ("node_lost", "n", 0.0, None)]


def test_a_node_first_seen_dead_is_no_event(ray):
    ray.node_tables = [[node("a")], [node("a"), node("z", alive=False)]]
    watcher = cluster.NodeWatcher()
    watcher.poll()
    watcher.poll()
    assert watcher.events == []


def test_the_node_watcher_skips_a_poll_when_ray_will_not_answer(ray):
    ray.node_tables = [[node("a")], RuntimeError("GCS unavailable"), [node("a", alive=False)]]
    watcher = cluster.NodeWatcher()
    watcher.poll()
    watcher.poll()
    assert watcher.events == []
    watcher.poll()
    assert [e["event"] for e in watcher.events] == ["node_lost"]


def test_the_first_look_at_a_multi_node_cluster_records_no_joins(ray):
    """Found by this file (2026-12-06): the first poll filled its table while it went, so every alive node
    after the first was recorded as joining, and those joins reached the results file's node_events."""
    ray.node_tables = [[node("a"), node("b"), node("c")], [node("a"), node("b"), node("c"), node("d")]]
    watcher = cluster.NodeWatcher()
    watcher.poll()
    assert watcher.events == []
    watcher.poll()
    assert [(e["event"], e["node_id"]) for e in watcher.events] == [("node_joined", "d")]


class Stop:
    """A stand-in for a watcher's stop Event: wait() answers from a script and moves the clock."""

    def __init__(self, clock: Clock, answers: list[bool]):
        self.clock, self.answers, self.waits = clock, list(answers), []
        self.set_calls = 0

    def wait(self, timeout=None):
        self.waits.append(timeout)
        self.clock.now += timeout or 0
        return self.answers.pop(0)

    def set(self):
        self.set_calls += 1


def test_the_node_watcher_polls_once_a_second_by_default_until_stopped(ray, clock):
    watcher = cluster.NodeWatcher()
    watcher._stop = Stop(clock, [False, False, True])
    watcher._loop()
    assert watcher._stop.waits == [1.0, 1.0, 1.0]
    assert ray.nodes_calls == 2


def new_threads(before: set, name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.name == name]


def test_the_node_watcher_polls_on_its_own_thread_and_stop_returns_the_events(ray):
    polled_twice = threading.Event()
    tables = [[node("a")], [node("a"), node("b")]]

    def nodes():
        ray.nodes_calls += 1
        if ray.nodes_calls >= 3:
            polled_twice.set()
        return tables[min(ray.nodes_calls, 2) - 1]

    sys.modules["ray"].nodes = nodes
    watcher = cluster.NodeWatcher(interval_s=0.001)
    before = set(threading.enumerate())
    assert watcher.start() is watcher
    assert ray.nodes_calls >= 1  # the first poll is made before start returns
    (thread,) = new_threads(before, "node-watcher")
    assert thread.daemon  # never holds the process at exit
    assert polled_twice.wait(timeout=10)
    events = watcher.stop()
    assert [(e["event"], e["node_id"]) for e in events] == [("node_joined", "b")]
    assert not thread.is_alive()
    events.clear()
    assert len(watcher.events) == 1  # stop gives a copy


def test_stopping_a_node_watcher_that_never_started_gives_its_events(ray):
    ray.node_tables = [[node("a")], [node("a", alive=False)]]
    watcher = cluster.NodeWatcher()
    watcher.poll()
    watcher.poll()
    assert [e["event"] for e in watcher.stop()] == ["node_lost"]


def test_stopping_the_node_watcher_waits_at_most_five_seconds_for_a_stuck_poll(ray):
    watcher = cluster.NodeWatcher()
    joins = []
    watcher._thread = types.SimpleNamespace(is_alive=lambda: True, join=lambda timeout=None: joins.append(timeout))
    assert watcher.stop() == []
    assert joins == [5]


# -- HeadWatchdog ----------------------------------------------------------------------------


def test_the_head_watchdog_probes_the_gcs_port_within_its_interval(sock):
    dog = cluster.HeadWatchdog("fe80::1:6379", on_lost=None, interval_s=0.5)
    assert dog._reachable() is True
    assert sock.connections == [(("fe80::1", 6379), 0.5)]
    assert sock.closed == 1
    sock.refuse[("fe80::1", 6379)] = ConnectionRefusedError(111, "Connection refused")
    assert dog._reachable() is False


def watchdog(clock, answers, stops, **kwargs):
    """A watchdog whose probes answer from `answers` and whose stop event from `stops`."""
    lost = []
    dog = cluster.HeadWatchdog("head:6379", lost.append, **kwargs)
    probes = list(answers)
    dog._reachable = lambda: probes.pop(0)
    dog._stop = Stop(clock, stops)
    return dog, lost


def test_the_head_is_lost_after_five_missed_probes_a_second_apart_by_default(clock):
    dog, lost = watchdog(clock, [False] * 5, [False] * 5)
    dog._loop()
    assert lost == ["lost the Ray head at head:6379 (unreachable for 4 s)"]  # first miss at 1 s, the fifth at 5 s
    assert dog._stop.waits == [1.0] * 5


def test_an_answered_probe_starts_the_count_again(clock):
    dog, lost = watchdog(clock, [False, False, True, False, False, False, True], [False] * 7,
                         interval_s=2.0, failures=3)
    dog._loop()
    assert lost == ["lost the Ray head at head:6379 (unreachable for 4 s)"]  # misses at 8, 10, 12 s
    assert len(dog._stop.waits) == 6  # it returned at the loss, not probing again


def test_the_head_watchdog_stops_when_told_without_declaring_a_loss(clock):
    dog, lost = watchdog(clock, [False, False], [False, False, True], failures=3)
    dog._loop()
    assert lost == []
    assert len(dog._stop.waits) == 3


def test_one_allowed_failure_is_a_loss_at_the_first_miss(clock):
    dog, lost = watchdog(clock, [True, False], [False, False], interval_s=0.25, failures=1)
    dog._loop()
    assert lost == ["lost the Ray head at head:6379 (unreachable for 0 s)"]


def test_the_head_watchdog_runs_on_its_own_thread_and_hands_the_loss_over(sock, clock):
    sock.refuse[("head", 6379)] = ConnectionRefusedError(111, "Connection refused")
    reported, release = threading.Event(), threading.Event()
    lost = []

    def on_lost(message):
        lost.append(message)
        reported.set()
        release.wait(timeout=10)

    dog = cluster.HeadWatchdog("head:6379", on_lost, interval_s=0.001, failures=2)
    before = set(threading.enumerate())
    assert dog.start() is dog
    assert reported.wait(timeout=10)
    (thread,) = new_threads(before, "head-watchdog")
    assert lost == ["lost the Ray head at head:6379 (unreachable for 0 s)"]  # the test's clock stood still
    release.set()
    thread.join(timeout=10)
    assert not thread.is_alive()  # it returned after handing over
    assert thread.daemon
    assert [c[0] for c in sock.connections] == [("head", 6379), ("head", 6379)]


def test_a_stopped_head_watchdog_ends_its_thread_without_a_loss(sock):
    lost = []
    dog = cluster.HeadWatchdog("head:6379", lost.append, interval_s=0.001, failures=1)
    before = set(threading.enumerate())
    dog.start()
    (thread,) = new_threads(before, "head-watchdog")
    assert dog.stop() is None
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert lost == []

"""Connecting to Ray, waiting for nodes, node snapshots, per-node samplers, watching the cluster."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.engine.samplers import ResourceSampler, node_facts
from bench.errors import RuntimeFailure, UsageError
from bench.options import parse_address

NODE_POLL_S = 0.5


RAY_ADDRESS_ENV = "RAY_ADDRESS"


def effective_address(address: str | None) -> str | None:
    """The cluster a run joins: --address if given, else RAY_ADDRESS, else None (embedded).

    `ray job submit` and KubeRay's RayJob start the driver with RAY_ADDRESS set to the
    cluster's GCS address, and ray.init() joins that cluster whenever its address is
    None or 'auto' (worker.py), so such a run is an existing cluster, never embedded.
    """
    address = parse_address(address)
    env = os.environ.get(RAY_ADDRESS_ENV, "").strip()
    if not env or address not in (None, "auto"):
        return address
    if "://" in env:
        raise UsageError(f"{RAY_ADDRESS_ENV}={env!r} is a URL (dashboard or Ray Client); bench joins a cluster "
                         f"by its GCS address HOST:PORT or 'auto': unset {RAY_ADDRESS_ENV} or give --address")
    try:
        return parse_address(env)
    except UsageError:
        raise UsageError(f"{RAY_ADDRESS_ENV} must be 'auto' or HOST:PORT, got {env!r}") from None


def _job_submission_id() -> str | None:
    """The `ray job submit` / RayJob submission id, when this driver is a job's entrypoint."""
    import json

    try:  # set by Ray's JobSupervisor for the entrypoint (dashboard/modules/job/job_supervisor.py)
        return json.loads(os.environ["RAY_JOB_CONFIG_JSON_ENV_VAR"])["metadata"]["job_submission_id"]
    except Exception:
        return None


def _check_reachable(address: str, timeout_s: float = 5.0, found_by: str = "", hint: str = "") -> None:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise RuntimeFailure(f"cannot reach a Ray head at {address}{found_by}: {reason}{hint}") from None


def resolve_auto() -> str:
    """The GCS address `--address auto` means here, found as ray.init would find it.

    ray.init("auto") also reads the command lines of Ray processes it can see. On a host
    running the compose appliance those are the containers' (gcs ray-head:6379), a name the
    host cannot resolve, and ray.init then retries for minutes in silence: resolving first
    turns that into one line."""
    try:  # private API, hence best-effort: ray.init gives its own message when this fails
        from ray._private.services import canonicalize_bootstrap_address_or_die

        return canonicalize_bootstrap_address_or_die("auto") or "auto"
    except ConnectionError as exc:
        raise RuntimeFailure(f"--address auto found no Ray cluster to join on this host: "
                             f"{str(exc).splitlines()[0]} (start one with `ray start`, or give --address HOST:PORT)") from None
    except Exception:
        return "auto"


def _reachable_address(address: str) -> str:
    """The GCS address to join, checked to answer first (one line instead of Ray's retries)."""
    if address != "auto":
        _check_reachable(address)
        return address
    joined = resolve_auto()
    if joined != "auto":
        _check_reachable(joined, found_by=(
            ", which --address auto found on this host (the last `ray start` here, or a Ray process "
            "it can see, such as a compose appliance's container)"),
            hint="; for the appliance use make bench, else give --address HOST:PORT")
    return joined


# ray.get of objects in the plasma store blocks in slices of this many ms, holding the
# process's plasma-client lock for the whole slice (plasma/client.cc PlasmaClient::Get).
# Another driver thread that needs the lock (the latency tracker's future callbacks
# reading their results) then waits out the slice: the ~1 s cross-node stall. Ray's
# default is 1000; a short slice bounds that wait (docs/measurements.md, the stall).
GET_SLICE_SETTING = "RAY_get_check_signal_interval_milliseconds"
GET_SLICE_MS = 20


def driver_settings() -> dict:
    """Ray settings this driver applies to itself (read by its core worker at ray.init);
    a value the user already set is kept, and recorded as theirs."""
    user_value = os.environ.get(GET_SLICE_SETTING)
    os.environ.setdefault(GET_SLICE_SETTING, str(GET_SLICE_MS))
    return {GET_SLICE_SETTING: os.environ[GET_SLICE_SETTING],
            "source": "user environment" if user_value is not None else "bench default"}


def connect(address: str | None, num_cpus: int | None = None, quiet: bool = True,
            worker_paths: tuple[str, ...] = ()) -> dict:
    """Start an embedded Ray (no address, no RAY_ADDRESS) or join an existing cluster.

    worker_paths (a --workload module's directory, the CWD) go on the embedded workers'
    PYTHONPATH. An existing cluster's workers import what their own nodes have: a user's
    module must be importable on every node there (installed, or shipped with
    `ray job submit --working-dir DIR`)."""
    import ray

    given = address
    address = effective_address(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    settings = driver_settings()
    kwargs = dict(
        logging_level=logging.ERROR if quiet else logging.INFO,
        log_to_driver=not quiet,
        configure_logging=True,
    )
    if address is None:
        # Workers must import `bench` even when it is not pip-installed.
        package_root = str(Path(__file__).resolve().parent.parent)
        paths = (package_root, *worker_paths, os.environ.get("PYTHONPATH"))
        pythonpath = os.pathsep.join(dict.fromkeys(p for p in paths if p))
        kwargs.update(
            num_cpus=num_cpus,
            include_dashboard=False,
            runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
        )
        mode = "embedded"
    else:
        kwargs["address"] = _reachable_address(address)
        mode = "existing"
        if num_cpus is not None:  # ray.init refuses it when joining; build_config reports it first
            raise UsageError("--num-cpus applies only to the embedded Ray (no --address, no RAY_ADDRESS)")
    started = time.perf_counter()
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise RuntimeFailure(f"cannot connect to Ray at {address}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # ray raises assorted types for a missing cluster
        first = (str(exc).splitlines() or [exc.__class__.__name__])[0]
        raise RuntimeFailure(f"cannot start or join Ray ({address or 'embedded'}): {first}") from None
    info = {"mode": mode, "address": address, "init_s": time.perf_counter() - started, "auth_mode": auth_mode(),
            "driver_settings": settings}
    info["earlier_jobs"] = earlier_jobs()
    if mode == "existing":
        # RAY_ADDRESS decides unless --address named a cluster itself (effective_address); 'auto' defers to it
        from_env = given in (None, "", "auto") and bool(os.environ.get(RAY_ADDRESS_ENV, "").strip())
        info["address_from"] = RAY_ADDRESS_ENV if from_env else "--address"
        if _job_submission_id():
            info["job_submission_id"] = _job_submission_id()
    return info


def earlier_jobs() -> int | None:
    """How many driver jobs the cluster ran before this one (0 for an embedded Ray). Recorded
    because a cluster's first session after a 100k-task run measured naive tasks 5-8% slower
    than a fresh cluster's did (docs/measurements.md, 2026-12-01): `bench repro` names it."""
    try:  # private API, hence best-effort
        import ray
        from ray._private import state

        current = ray.get_runtime_context().get_job_id()
        return sum(1 for job in state.jobs() if job.get("JobID") != current)
    except Exception:
        return None


def auth_mode() -> str:
    """'token' or 'disabled' as this driver's Ray sees it; 'unknown' if Ray won't say."""
    try:  # private API, hence best-effort
        from ray._private.authentication.authentication_utils import is_token_auth_enabled

        return "token" if is_token_auth_enabled() else "disabled"
    except Exception:
        return "unknown"


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def node_snapshot() -> list[dict]:
    """Every node Ray knows, alive or dead, with its resources."""
    import ray

    nodes = []
    for node in ray.nodes():
        resources = node.get("Resources", {}) or {}
        nodes.append(
            {
                "node_id": node.get("NodeID"),
                "hostname": node.get("NodeManagerHostname"),
                "ip": node.get("NodeManagerAddress"),
                "alive": bool(node.get("Alive")),
                "is_head": "node:__internal_head__" in resources,
                "cpus": float(resources.get("CPU", 0.0)),
                "memory_bytes": int(resources.get("memory", 0)),
                "object_store_memory_bytes": int(resources.get("object_store_memory", 0)),
            }
        )
    return sorted(nodes, key=lambda n: (not n["is_head"], n["hostname"] or "", n["node_id"] or ""))


def count_alive(nodes: list[dict]) -> dict:
    alive = [n for n in nodes if n["alive"]]
    return {
        "alive": len(alive),
        "alive_with_cpus": sum(1 for n in alive if n["cpus"] > 0),
        "cpus": sum(n["cpus"] for n in alive),
    }


def wait_for_nodes(expected: int, timeout_s: float, on_count=None) -> list[dict]:
    """Block until `expected` alive nodes with CPUs > 0 exist, or fail clearly.
    on_count(have) is called whenever the count changes (progress display)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        nodes = node_snapshot()
        have = count_alive(nodes)["alive_with_cpus"]
        if on_count is not None and have != last:
            on_count(have)
            last = have
        if have >= expected:
            return nodes
        if time.monotonic() >= deadline:
            raise RuntimeFailure(
                f"expected {expected} alive node(s) with CPUs, found {have} after {timeout_s:g} s"
            )
        time.sleep(NODE_POLL_S)


def total_cpus() -> int:
    import ray

    return int(ray.cluster_resources().get("CPU", 0))


# -- per-node samplers -------------------------------------------------------


def _sampler_actor_class():
    import ray

    @ray.remote(num_cpus=0, max_restarts=0)
    class NodeSampler:
        def __init__(self):
            self._sampler = ResourceSampler()

        def facts(self) -> dict:
            return node_facts()

        def start(self) -> bool:
            self._sampler.start()
            return True

        def stop(self) -> dict:
            return self._sampler.stop()

    return NodeSampler


@dataclass
class NodeSamplers:
    """One sampler actor pinned to each alive node."""

    actors: dict = field(default_factory=dict)  # node_id -> actor handle
    hostnames: dict = field(default_factory=dict)

    @classmethod
    def launch(cls, nodes: list[dict]) -> "NodeSamplers":
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        actor_class = _sampler_actor_class()
        samplers = cls()
        for node in nodes:
            if not node["alive"]:
                continue
            strategy = NodeAffinitySchedulingStrategy(node_id=node["node_id"], soft=False)
            samplers.actors[node["node_id"]] = actor_class.options(scheduling_strategy=strategy).remote()
            samplers.hostnames[node["node_id"]] = node["hostname"]
        return samplers

    def facts(self, timeout_s: float = 60) -> dict:
        return self._gather("facts", timeout_s)

    def start(self, timeout_s: float = 30) -> None:
        self._gather("start", timeout_s)

    def stop(self, timeout_s: float = 15) -> dict:
        return self._gather("stop", timeout_s)

    def _gather(self, method: str, timeout_s: float) -> dict:
        """Call every sampler; a node that died simply yields no answer."""
        import ray

        calls = {node_id: getattr(actor, method).remote() for node_id, actor in self.actors.items()}
        out = {}
        deadline = time.monotonic() + timeout_s
        for node_id, ref in calls.items():
            try:
                out[node_id] = ray.get(ref, timeout=max(0.1, deadline - time.monotonic()))
            except Exception:
                out[node_id] = None
        return out


# -- watching the cluster while a suite runs ---------------------------------


class NodeWatcher:
    """Polls Ray's node table and records when nodes are lost or join (driver clock)."""

    def __init__(self, interval_s: float = 1.0):
        self.interval_s = interval_s
        self.events: list[dict] = []
        self._known: dict[str, bool] = {}
        self._cpus: dict[str, float] = {}  # last CPUs seen alive: a dead node reports none
        self._lock = threading.Lock()  # polled by its own thread and, between runs, the runner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="node-watcher", daemon=True)

    def poll(self) -> None:
        with self._lock:
            self._poll()

    def _poll(self) -> None:
        import ray

        try:
            nodes = ray.nodes()
        except Exception:
            return  # the head watchdog owns "the cluster is gone"
        now = time.time()
        first_look = not self._known  # the nodes already there when watching began neither joined nor left
        for node in nodes:
            node_id, alive = node.get("NodeID"), bool(node.get("Alive"))
            if alive:
                self._cpus[node_id] = float((node.get("Resources") or {}).get("CPU", 0.0))
            before = self._known.get(node_id)
            if before is not None and before != alive or before is None and not first_look and alive:
                self.events.append({
                    "event": "node_lost" if not alive else "node_joined",
                    "node_id": node_id,
                    "hostname": node.get("NodeManagerHostname"),
                    "cpus": self._cpus.get(node_id, 0.0),
                    "detected_unix": now,
                    "reason": node.get("DeathReasonMessage") or None,
                })
            self._known[node_id] = alive

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def start(self) -> "NodeWatcher":
        self.poll()
        self._thread.start()
        return self

    def stop(self) -> list[dict]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        return list(self.events)


class HeadWatchdog:
    """Declares the head lost when its GCS port stops accepting connections.

    The driver's own Ray client would only give up after a minute or more (and
    then may kill the process outright), so a separate, cheap TCP probe decides
    first and hands over to `on_lost`, which saves what we have and exits.
    """

    def __init__(self, gcs_address: str, on_lost, interval_s: float = 1.0, failures: int = 5):
        self.gcs_address = gcs_address
        self.on_lost = on_lost
        self.interval_s = interval_s
        self.failures = failures
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="head-watchdog", daemon=True)

    def _reachable(self) -> bool:
        host, _, port = self.gcs_address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=self.interval_s):
                return True
        except OSError:
            return False

    def _loop(self) -> None:
        missed, first_miss = 0, None
        while not self._stop.wait(self.interval_s):
            if self._reachable():
                missed, first_miss = 0, None
                continue
            missed += 1
            first_miss = first_miss or time.time()
            if missed >= self.failures:
                self.on_lost(f"lost the Ray head at {self.gcs_address} (unreachable for {time.time() - first_miss:.0f} s)")
                return

    def start(self) -> "HeadWatchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def gcs_address() -> str | None:
    import ray

    try:
        return ray.get_runtime_context().gcs_address
    except Exception:
        return None

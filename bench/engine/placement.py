"""Where Ray sends a lease its raylet cannot grant itself, and whether that choice is a
single node on this cluster.

Ray's hybrid policy (src/ray/raylet/scheduling/policy/hybrid_scheduling_policy.cc) picks at
random among max(scheduler_top_k_absolute, int(nodes x scheduler_top_k_fraction)) of the
best-scored nodes, ties broken by node id. With Ray's defaults (1 and 0.2) any cluster of
under 10 nodes has one candidate: when no worker looks free in the asking raylet's view,
every pending lease goes to the same busy node and waits there while another node idles.
On the compose cluster the no-op task rate halved in 12 of 22 rounds, and a worker ran
no task, or started late, in 6 of 8 (docs/measurements.md, "The lease pile-up"). The appliance
sets the fraction to 1.0 on every node; elsewhere the suite records it and warns.
"""

from __future__ import annotations

import os

import numpy as np

from bench.options import AFFINITY, TOP_K_FRACTION

TOP_K_ABSOLUTE = "RAY_scheduler_top_k_absolute"
RAY_DEFAULTS = {TOP_K_FRACTION: 0.2, TOP_K_ABSOLUTE: 1}
APPLIANCE_FRACTION = 1.0


def node_settings(environ=os.environ) -> dict:
    """The two settings as this process sees them (None: unset, Ray's default applies).
    A worker inherits its raylet's environment, so a task reports its node's."""
    return {name: environ.get(name) for name in RAY_DEFAULTS}


def candidates(n_nodes: int, fraction: float, absolute: int) -> int:
    """How many best-scored nodes the policy draws from (its float32 arithmetic)."""
    return max(int(absolute), int(np.float32(n_nodes) * np.float32(fraction)))


def _value(settings: dict, name: str) -> float:
    raw = (settings or {}).get(name)
    try:
        return float(raw) if raw not in (None, "") else float(RAY_DEFAULTS[name])
    except ValueError:
        return float(RAY_DEFAULTS[name])  # Ray ignores what it cannot parse the same way


def describe(nodes: list[dict]) -> dict:
    """The lease placement per alive node (from its `ray_settings` fact) and one warning when
    some node would send every unplaced lease to a single other node."""
    alive = [n for n in nodes if n.get("alive")]
    cpu_nodes = sum(1 for n in alive if n.get("cpus", 0) > 0)
    per_node = []
    for node in alive:
        settings = node.get("ray_settings")
        fraction, absolute = _value(settings, TOP_K_FRACTION), int(_value(settings, TOP_K_ABSOLUTE))
        per_node.append({"node_id": node.get("node_id"), "hostname": node.get("hostname"),
                         "top_k_fraction": fraction, "top_k_absolute": absolute,
                         "known": settings is not None,
                         "candidates": candidates(len(alive), fraction, absolute)})
    known = [n for n in per_node if n["known"]]
    fewest = min((n["candidates"] for n in known), default=None)
    info = {"nodes": len(alive), "cpu_nodes": cpu_nodes, "per_node": per_node, "fewest_candidates": fewest,
            "policy": "max(scheduler_top_k_absolute, int(nodes x scheduler_top_k_fraction)) best nodes"}
    if fewest == 1 and cpu_nodes >= 2:
        single = next(n for n in known if n["candidates"] == 1)
        # figures only: bench.analysis.wording says what they mean
        info["single_node"] = {"setting": TOP_K_FRACTION, "value": single["top_k_fraction"], "nodes": len(alive),
                               "advised": APPLIANCE_FRACTION}
    return info


# --- where the Ray modes send their tasks (--placement) ---------------------------------------
# affinity: each task to the next CPU node in turn, by soft NodeAffinitySchedulingStrategy. The
# owner then asks that node's raylet for a lease directly. Under Ray's default, a driver on a
# 0-CPU node (the appliance's bench container, a 0-CPU head on a large cluster) asks its own
# raylet first, which spills every lease back to a worker: one hop more per lease, and the
# spread over the workers varies between driver sessions (a B = 10,000 trial at 121-122 or 188-201
# ms by session; docs/measurements.md, 2026-12-04). soft: a lost node's tasks go elsewhere.


def cpu_node_ids() -> list[str]:
    """The alive nodes with CPUs, each once per whole CPU, interleaved (by id): task i goes to
    entry i mod len, so a 2-CPU node gets twice a 1-CPU node's tasks and no node a wave more."""
    import ray

    cpus = {n["NodeID"]: max(1, int((n.get("Resources") or {}).get("CPU", 0)))
            for n in ray.nodes() if n.get("Alive") and (n.get("Resources") or {}).get("CPU", 0) > 0}
    ids = sorted(cpus)
    return [node for k in range(max(cpus.values(), default=0)) for node in ids if cpus[node] > k]


def driver_node_cpus() -> float | None:
    """CPUs of the driver's own Ray node (0: every task leaves it; under Ray's default, through
    a spillback hop), None when the node is not listed."""
    import ray

    here = ray.get_runtime_context().get_node_id()
    return next(((n.get("Resources") or {}).get("CPU", 0.0) for n in ray.nodes() if n.get("NodeID") == here), None)


def placed(remote_fn, placement: str, node_ids: list[str] | None = None, **options) -> list:
    """The handles a Ray mode submits through, task i through handles[i % len(handles)]: one
    per CPU (cpu_node_ids; soft node affinity) under affinity; [remote_fn] under Ray's default.
    options: further .options() of every handle (a task name)."""
    plain = remote_fn.options(**options) if options else remote_fn
    if placement != AFFINITY:
        return [plain]
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ids = cpu_node_ids() if node_ids is None else list(node_ids)
    handle = {node: remote_fn.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=True),
                                      **options) for node in dict.fromkeys(ids)}
    return [handle[node] for node in ids] or [plain]


class RoundRobin:
    """A remote function placed like the rows (placed) whose every .remote() goes through the
    next handle; .options() (a task name) keeps the placement. Nodes listed once, at creation."""

    def __init__(self, remote_fn, placement: str, options: dict | None = None, node_ids: list[str] | None = None):
        self.remote_fn, self.placement, self.opts = remote_fn, placement, dict(options or {})
        self.node_ids = cpu_node_ids() if node_ids is None and placement == AFFINITY else node_ids
        self.handles, self.submitted = placed(remote_fn, placement, self.node_ids, **self.opts), 0

    def options(self, **options) -> "RoundRobin":
        return RoundRobin(self.remote_fn, self.placement, {**self.opts, **options}, self.node_ids)

    def remote(self, *args):
        handle = self.handles[self.submitted % len(self.handles)]
        self.submitted += 1
        return handle.remote(*args)


def inline_object_bytes() -> int:
    """Ray's limit for objects passed inline in task RPCs (max_direct_call_object_size,
    100 KiB unless overridden by its environment variable); larger ones use the object store."""
    try:
        return int(os.environ.get("RAY_max_direct_call_object_size", 100 * 1024))
    except ValueError:
        return 100 * 1024


def tasks_leave_driver_node() -> bool:
    """True when some alive node with CPUs is not the driver's own node."""
    import ray

    here = ray.get_runtime_context().get_node_id()
    return any(node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0 and node.get("NodeID") != here
               for node in ray.nodes())

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

TOP_K_FRACTION = "RAY_scheduler_top_k_fraction"
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
        # figures only: bench.wording says what they mean
        info["single_node"] = {"setting": TOP_K_FRACTION, "value": single["top_k_fraction"], "nodes": len(alive),
                               "advised": APPLIANCE_FRACTION}
    return info

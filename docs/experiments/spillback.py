"""Is the compose cluster's scheduling-and-lease phase the spillback from the driver's 0-CPU node?

Run inside the bench container of a running cluster (docs/measurements.md, "Spillback"):

    docker compose exec -T bench python - [ROUNDS] < docs/experiments/spillback.py

No-op tasks from this driver, in interleaved rounds, placed two ways:
  default   Ray's own placement: the owner asks its local raylet (the bench node, 0 CPUs)
            for a lease, which redirects it to a worker's raylet (spillback): two hops;
  affinity  NodeAffinitySchedulingStrategy(soft=True) to each CPU node in turn: the owner
            asks that node's raylet directly.
Per round and placement: the anatomy of 50 tasks (one per CPU in flight, bench.engine.anatomy) and
the rate of 2,000 no-op tasks submitted at once (as the suite's calibration). Prints one JSON
line per round and placement, then the medians.
"""
import itertools
import json
import statistics
import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from bench.engine import anatomy

RATE_TASKS = 2_000


class RoundRobin:
    """A remote function whose every .remote() goes to the next CPU node (soft affinity)."""

    def __init__(self, fn, node_ids, **options):
        self.fn, self.node_ids, self.opts, self.nodes = fn, node_ids, options, itertools.cycle(node_ids)

    def options(self, **kw):
        return RoundRobin(self.fn, self.node_ids, **{**self.opts, **kw})

    def remote(self, *args):
        strategy = NodeAffinitySchedulingStrategy(next(self.nodes), soft=True)
        return self.fn.options(**self.opts, scheduling_strategy=strategy).remote(*args)


def rate(fn) -> float:
    start = time.perf_counter()
    ray.get([fn.remote() for _ in range(RATE_TASKS)])
    return RATE_TASKS / (time.perf_counter() - start)


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ray.init(address="auto", logging_level="ERROR")
    cpu_nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    cpus = int(sum(n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]))
    noop = ray.remote(anatomy.noop_task)
    placements = {"default": noop, "affinity": RoundRobin(noop, cpu_nodes)}
    seen = {name: {"rate": [], "scheduling_and_lease": [], "latency": []} for name in placements}
    for index in range(rounds):
        order = list(placements) if index % 2 == 0 else list(placements)[::-1]  # alternate who goes first
        for name in order:
            fn = placements[name]
            result = anatomy.run_anatomy(fn, n_tasks=50, in_flight=cpus)
            tasks_per_s = rate(fn)
            phases = {k: v.get("median_s") for k, v in (result.get("phases") or {}).items()}
            seen[name]["rate"].append(tasks_per_s)
            seen[name]["scheduling_and_lease"].append(phases.get("scheduling_and_lease"))
            seen[name]["latency"].append((result.get("measured_latency") or {}).get("median_s"))
            print(json.dumps({"round": index, "placement": name, "tasks_per_s": round(tasks_per_s, 1),
                              "phases_median_s": phases, "available": result.get("available"),
                              "largest": result.get("largest_phase")}), flush=True)
    for name, values in seen.items():
        med = {k: statistics.median(v for v in vs if v is not None) for k, vs in values.items()}
        print(f"{name:<9} no-op rate {med['rate']:,.0f}/s; scheduling and lease {med['scheduling_and_lease'] * 1e3:.2f} ms; "
              f"latency {med['latency'] * 1e3:.2f} ms (medians of {rounds} rounds, {len(cpu_nodes)} CPU nodes)")

"""Does every CPU node work for the whole of a naive trial, or do leases pile up on one node?

Run inside the bench container of a running cluster (docs/measurements.md, "The lease pile-up"):

    docker compose exec -T bench python - [ROUNDS] < docs/experiments/lease_spread.py

Compare a cluster started with Ray's default lease placement against the appliance's:

    RAY_SCHEDULER_TOP_K_FRACTION=0.2 make up     # Ray's default: 1 candidate node of 5
    RAY_SCHEDULER_TOP_K_FRACTION=1.0 make up     # the appliance's: any of the 5

Each round: 50 tasks with one per CPU in flight (as the task anatomy does), then 2,000
tasks submitted at once (as the calibration and naive rows do). Each task returns its
worker's pid, node and start time; per round and worker this prints the tasks it ran and
when it was first and last busy. A worker first busy long after 0 s was idle that long
while tasks waited.
"""
import collections
import os
import sys
import time

import ray

TASKS = 2_000


@ray.remote
def where():
    return os.getpid(), ray.get_runtime_context().get_node_id()[:6], time.time()


def one_per_cpu(n_tasks: int, in_flight: int) -> None:
    pending = []
    for _ in range(n_tasks):
        if len(pending) >= in_flight:
            _, pending = ray.wait(pending, num_returns=1)
        pending.append(where.remote())
    ray.get(pending)


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    ray.init(address="auto", logging_level="ERROR")
    cpus = int(ray.cluster_resources().get("CPU", 1))
    print(f"{os.environ.get('RAY_scheduler_top_k_fraction', '0.2 (Ray default)')} = RAY_scheduler_top_k_fraction "
          f"on this node; {cpus} CPUs")
    for index in range(rounds):
        one_per_cpu(50, cpus)
        start = time.time()
        seen = ray.get([where.remote() for _ in range(TASKS)])
        took = time.time() - start
        per_worker = collections.defaultdict(list)
        for pid, node, started in seen:
            per_worker[(node, pid)].append(started - start)
        busy = " | ".join(f"{node}/{pid}: {len(ts)} tasks, busy {min(ts):.2f}-{max(ts):.2f} s"
                          for (node, pid), ts in sorted(per_worker.items()))
        print(f"round {index}: {TASKS / took:,.0f} tasks/s over {took:.2f} s; {len(per_worker)} workers; {busy}",
              flush=True)

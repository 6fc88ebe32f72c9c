"""Latency of a task whose argument must be pulled from the driver's node: a 400 KB array
(over Ray's 100 KB inline limit, so it goes through plasma and the object manager), 40 calls
pinned to each CPU node in turn. Shows whether a pull waits for the object manager's timer
(RAY_object_manager_timer_freq_ms) or starts when the object's location arrives.

    docker cp docs/experiments/pull_latency.py "$(docker ps -qf name=bench)":/tmp/
    docker exec "$(docker ps -qf name=bench)" python /tmp/pull_latency.py
"""
import statistics
import time

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=1)
def size_of(array):
    return array.nbytes


def main():
    ray.init(address="auto", logging_level="ERROR")
    cpu_nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
    for node in cpu_nodes:
        pinned = size_of.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
        ray.get(pinned.remote(np.zeros(10)))  # a worker up on that node first
        times = []
        for i in range(40):
            argument = np.full(50_000, i, dtype=np.int64)  # a new object each call: 400 KB
            start = time.perf_counter()
            ray.get(pinned.remote(argument))
            times.append(time.perf_counter() - start)
        print(f"node {node[:8]}: median {statistics.median(times) * 1e3:.1f} ms, "
              f"max {max(times) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()

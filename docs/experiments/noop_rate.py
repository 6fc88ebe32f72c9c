"""The no-op task rate of one driver session, as the suite's calibration measures it (issue 23:
compose against embedded in one sitting).

    python docs/experiments/noop_rate.py embedded [BATCHES]                  # ray.init() here, all CPUs
    docker compose exec -T bench python - auto [BATCHES] < docs/experiments/noop_rate.py

Each batch submits 1,000 no-op tasks at once (each to the next CPU node in turn, the bench's
default --placement affinity) and waits for all; one untimed batch first. Prints one JSON line:
where, the CPUs Ray sees, each batch's tasks/s and their median, and the median busy CPU time per
task over the whole host (from /proc/stat, which a container reads unnamespaced), with its
kernel part: on 2 cores the rate moves 10-30% between sessions, the CPU a task costs much less.
docs/experiments/noop_ratio.sh alternates the two deployments.
"""
import json
import os
import statistics
import sys
import time

import ray

from bench.engine.placement import RoundRobin

TASKS = 1_000


def host_cpu_s() -> tuple[float, float]:
    """(busy, of which kernel) CPU seconds of the whole host since boot."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, (system + irq + softirq) / tick


def noop():
    return None


def main() -> None:
    where = sys.argv[1] if len(sys.argv) > 1 else "embedded"
    batches = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    ray.init(address=None if where == "embedded" else where, logging_level="ERROR", log_to_driver=False)
    task = RoundRobin(ray.remote(noop), "affinity")
    ray.get([task.remote() for _ in range(TASKS)])  # workers started, function exported
    rates, cpu_ms, kernel_ms = [], [], []
    for _ in range(batches):
        busy, kernel = host_cpu_s()
        started = time.perf_counter()
        ray.get([task.remote() for _ in range(TASKS)])
        rates.append(TASKS / (time.perf_counter() - started))
        busy_after, kernel_after = host_cpu_s()
        cpu_ms.append((busy_after - busy) / TASKS * 1e3)
        kernel_ms.append((kernel_after - kernel) / TASKS * 1e3)
    print(json.dumps({"where": where, "cpus": ray.cluster_resources().get("CPU"), "tasks_per_s": [round(r) for r in rates],
                      "median": round(statistics.median(rates)),
                      "host_cpu_ms_per_task": round(statistics.median(cpu_ms), 3),
                      "kernel_ms_per_task": round(statistics.median(kernel_ms), 3)}), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()

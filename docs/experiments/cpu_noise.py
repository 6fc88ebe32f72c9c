"""The machine's own noise floor: one fixed pure-Python loop (the seed's linear search, no Ray,
no numpy, no other process) timed again and again on an otherwise idle host.

    python3 docs/experiments/cpu_noise.py [REPS] [SECONDS_PER_REP]

If this loop's time varies by X% from rep to rep, no row of a suite on this machine can
reproduce tighter than about X% either: it is the CPU the suite gets, not the code it runs.
Prints the median, IQR, CV, min and max, and the host's CPU steal over the whole run.
"""
import random
import statistics
import sys
import time


def steal_ticks() -> int:
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[8]) if len(fields) > 8 else 0


def search(array, queries):
    found = 0
    for q in queries:
        for i, value in enumerate(array):
            if value == q:
                found += i
                break
    return found


if __name__ == "__main__":
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    target_s = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
    rng = random.Random(42)
    array = [rng.randrange(1000) for _ in range(100)]
    queries = [rng.randrange(1000) for _ in range(1000)]
    start = time.perf_counter()
    search(array, queries)
    per_call = time.perf_counter() - start
    calls = max(1, int(target_s / per_call))
    steal0, t0 = steal_ticks(), time.time()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            search(array, queries)
        times.append(time.perf_counter() - start)
    steal_s = (steal_ticks() - steal0) / 100.0
    q1, med, q3 = statistics.quantiles(times, n=4)
    cv = statistics.stdev(times) / statistics.mean(times)
    print(f"{reps} reps of {calls} searches: median {med * 1e3:.1f} ms, IQR {q1 * 1e3:.1f}-{q3 * 1e3:.1f} ms, "
          f"CV {cv:.1%}, min {min(times) * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms (max/min {max(times) / min(times):.2f}); "
          f"steal {steal_s:.2f} CPU-s over {time.time() - t0:.0f} s")

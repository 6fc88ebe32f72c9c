"""The bench's batched trial against a minimal plain-Ray script doing the same work (issue 23.6).

Both run in one driver session on one Ray, in interleaved rounds (order alternating), so the
ratio is free of machine drift and session effects. Variants isolate each suspect of the
harness: the latency tracker's futures, and the answer assembly.

    .venv/bin/python docs/experiments/batched_harness.py [--address auto] [--n 100000] [--b 10000]
"""
import argparse
import statistics
import time

import numpy as np
import ray

from bench.engine.ray_modes import RayBatched, _ray_functions
from bench.engine.workload import LookupWorkload


def minimal(search_batch, array_ref, queries, b):
    start = time.perf_counter()
    refs = [search_batch.remote(array_ref, queries[i:i + b]) for i in range(0, len(queries), b)]
    answers = np.concatenate(ray.get(refs))
    return time.perf_counter() - start, answers


def with_futures(search_batch, array_ref, queries, b):
    start = time.perf_counter()
    refs = [search_batch.remote(array_ref, queries[i:i + b]) for i in range(0, len(queries), b)]
    futures = [ref.future() for ref in refs]
    answers = np.concatenate(ray.get(refs))
    elapsed = time.perf_counter() - start
    for f in futures:
        f.result()
    return elapsed, answers


def with_affinity(search_batch, array_ref, queries, b, node_ids):
    """Round-robin soft node affinity over the CPU nodes: no spillback hop, a fixed spread."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    start = time.perf_counter()
    refs = [search_batch.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        node_ids[(i // b) % len(node_ids)], soft=True)).remote(array_ref, queries[i:i + b])
        for i in range(0, len(queries), b)]
    answers = np.concatenate(ray.get(refs))
    return time.perf_counter() - start, answers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default=None)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--b", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(num_cpus=args.cpus, include_dashboard=False)
    workload = LookupWorkload(queries=args.n)
    mode = RayBatched(workload, batch_size=args.b)
    mode.prepare()
    _, search_batch = _ray_functions()
    queries = workload.stored_items(0, args.n)
    node_ids = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0)
    variants = {
        "minimal": lambda: minimal(search_batch, mode.array_ref, queries, args.b),
        "futures": lambda: with_futures(search_batch, mode.array_ref, queries, args.b),
        "affinity": lambda: with_affinity(search_batch, mode.array_ref, queries, args.b, node_ids),
        "bench": lambda: (lambda o: (o.response_s, o.answers))(mode.trial(args.n)),
    }
    for fn in variants.values():  # warm every worker and path once
        fn()
    times = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            elapsed, answers = variants[name]()
            assert np.array_equal(np.asarray(answers), workload.reference[:args.n])
            times[name].append(elapsed)
    base = statistics.median(times["minimal"])
    for name in names:
        ratios = [t / m for t, m in zip(times[name], times["minimal"])]
        print(f"{name:8s} median {statistics.median(times[name]) * 1e3:7.1f} ms   "
              f"÷ minimal (same-round) {statistics.median(ratios):.3f}")
    print(f"n={args.n} B={args.b} rounds={args.rounds} minimal median {base * 1e3:.1f} ms")


if __name__ == "__main__":
    main()

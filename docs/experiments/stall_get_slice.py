"""Cross-node stall experiment: B=33,334 batches (3 tasks, answers > 100 KiB each) with and
without ref.future() callbacks, interleaved; the ray.get slice comes from the environment."""
import json, os, sys, time, resource
import numpy as np
import ray

trials = int(sys.argv[1]); label = sys.argv[2]
ray.init(address="auto", logging_level="ERROR")
from bench.engine.workload import lookup_many
rng = np.random.default_rng(42)
array = rng.integers(0, 1000, 100)
queries = rng.integers(0, 1000, 100_000)

@ray.remote
def search_batch(array, queries):
    return np.asarray(lookup_many(array.tolist(), queries.tolist()), dtype=np.int64)

aref = ray.put(array)
B = 33_334
def trial(futures: bool):
    refs = []; futs = []
    t0 = time.perf_counter()
    for off in range(0, queries.size, B):
        r = search_batch.remote(aref, queries[off:off + B])
        refs.append(r)
        if futures:
            futs.append(r.future())
    out = np.concatenate(ray.get(refs))
    dt = time.perf_counter() - t0
    for f in futs: f.result(timeout=10)
    return dt
for _ in range(3):
    trial(True); trial(False)
res = {"futures": [], "plain": []}
cpu0 = time.process_time()
for i in range(trials):
    for kind in (("futures", "plain") if i % 2 == 0 else ("plain", "futures")):
        res[kind].append(trial(kind == "futures"))
cpu = time.process_time() - cpu0
# driver CPU while blocked on one remote plasma object for 5 s
@ray.remote
def slow_big():
    time.sleep(5); return np.zeros(200_000)
ray.get(slow_big.remote())
c0 = time.process_time(); w0 = time.perf_counter(); ray.get(slow_big.remote()); blocked = (time.process_time() - c0, time.perf_counter() - w0)
out = {"label": label, "slice_ms": os.environ.get("RAY_get_check_signal_interval_milliseconds", "1000 (default)"),
       "driver_cpu_s_during_trials": cpu, "blocked_get_cpu_s_and_wall_s": blocked}
for k, v in res.items():
    v = np.array(v)
    out[k] = {"n": int(v.size), "median_s": float(np.median(v)), "max_s": float(v.max()), "stalls_over_0.7s": int((v > 0.7).sum()),
              "samples": [round(x, 4) for x in v]}
print(json.dumps(out))

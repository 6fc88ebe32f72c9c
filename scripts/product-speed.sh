#!/usr/bin/env bash
# The appliance's own speed, as a documented benchmark (not a timed test):
#   up -> all nodes alive, suite wall time, report render time, and the harness overhead
#   (ray-naive tasks/s divided by the calibration no-op rate; >= 0.9 means the harness
#   itself costs little). Starts from `make down`, so it replaces a running cluster.
# Usage: make speed [WORKERS=3] [SPEED_SUITE=quick]
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${WORKERS:-3}
suite=${SPEED_SUITE:-quick}
name=speed-$(date -u +%Y%m%dT%H%M%SZ)
results_dir=${RESULTS_DIR:-./results}
now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.1f\", $(now) - $1}"; }

make --no-print-directory down >/dev/null 2>&1 || true
t=$(now)
make --no-print-directory up WORKERS="$workers" >/dev/null
up_s=$(since "$t")

t=$(now)
make --no-print-directory bench SUITE="$suite" WORKERS="$workers" NAME="$name" >/dev/null
suite_s=$(since "$t")

render_s=$($COMPOSE exec -T bench python -c "
import time, subprocess, sys
t = time.perf_counter()
subprocess.run([sys.executable, '-m', 'bench', 'report', 'results/$name.json', '--out', 'reports/speed/index.html'], check=True, capture_output=True)
print(f'{time.perf_counter() - t:.2f}')")

python3 - "$results_dir/$name.json" "$up_s" "$suite_s" "$render_s" "$workers" "$suite" <<'PY'
import json, sys
path, up_s, suite_s, render_s, workers, suite = sys.argv[1:]
data = json.load(open(path))
harness = (data.get("analysis") or {}).get("harness") or {}
summary = {
    "workers": int(workers), "suite": suite,
    "up_to_all_alive_s": float(up_s), "suite_wall_s": float(suite_s), "report_render_s": float(render_s),
    "harness_ratio": harness.get("ratio"), "naive_tasks_per_s": harness.get("naive_tasks_per_s"),
    "calibration_tasks_per_s": harness.get("calibration_tasks_per_s"), "results": path,
}
out = path.replace(".json", ".speed.json")
with open(out, "w") as handle:
    json.dump(summary, handle, indent=1)
print(json.dumps(summary, indent=1))
PY

#!/usr/bin/env bash
# A quiet-machine measurement window (docs/measurements.md, 2026-11-30): make report, the
# idle load, make repro, 36 stall trials, the chaos sweep, then the embedded pair. Run alone,
# from the repository root; the log goes to /tmp/m/log.txt.
set -u
cd "$(dirname "$0")/../.."
mkdir -p /tmp/m
log=/tmp/m/log.txt
stamp() { echo "=== $(date -u +%FT%TZ) $*" | tee -a "$log"; }
stamp "start; uptime: $(uptime)"
t0=$(date +%s)
make report > /tmp/m/report.out 2>&1
echo "make report rc=$? took $(( $(date +%s) - t0 )) s" | tee -a "$log"; tail -n 45 /tmp/m/report.out >> "$log"
stamp "idle load of the cluster (90 s)"
python3 docs/experiments/idle_load.py raybench --window 90 --top 15 >> "$log" 2>&1
t0=$(date +%s)
stamp "make repro"
make repro > /tmp/m/repro.out 2>&1
echo "make repro rc=$? took $(( $(date +%s) - t0 )) s" | tee -a "$log"; tail -n 60 /tmp/m/repro.out >> "$log"
stamp "stall: 36 trials at B=10000,33334"
build/compose/docker-compose -p raybench exec -T bench python -m bench run --modes ray-batched --batch-sizes 10000,33334 --trials 36 --budget 0 --address auto --expect-nodes 3 --quiet --out results/stall-36.json > /tmp/m/stall.out 2>&1
echo "stall rc=$?" >> "$log"; tail -n 25 /tmp/m/stall.out >> "$log"
stamp "chaos sweep"
t0=$(date +%s)
make chaos-sweep CHAOS_NAME=sweep > /tmp/m/sweep.out 2>&1
echo "chaos sweep rc=$? took $(( $(date +%s) - t0 )) s" | tee -a "$log"; tail -n 25 /tmp/m/sweep.out >> "$log"
make down >> "$log" 2>&1
stamp "embedded standard, then repro"
t0=$(date +%s)
.venv/bin/python -m bench run --suite standard --quiet --out /tmp/m/emb-1.json > /tmp/m/emb1.out 2>&1
echo "embedded 1 rc=$? took $(( $(date +%s) - t0 )) s" | tee -a "$log"; tail -n 30 /tmp/m/emb1.out >> "$log"
t0=$(date +%s)
.venv/bin/python -m bench repro /tmp/m/emb-1.json --out /tmp/m/emb-2.json --quiet > /tmp/m/emb2.out 2>&1
echo "embedded repro rc=$? took $(( $(date +%s) - t0 )) s" | tee -a "$log"; tail -n 45 /tmp/m/emb2.out >> "$log"
stamp "done; uptime: $(uptime)"

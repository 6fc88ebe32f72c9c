#!/usr/bin/env bash
# The compose cluster's no-op task rate against the embedded Ray's, in one sitting (issue 23's
# ">= 0.8x"): with the appliance up (make up), alternate PAIRS times an embedded session on this
# host (.venv, all CPUs) and a session in the bench container (3 one-CPU workers); each session
# times 7 batches of 1,000 no-op tasks (docs/experiments/noop_rate.py). Nothing else should run.
#   bash docs/experiments/noop_ratio.sh [PAIRS]   (default 3); prints one JSON line per session
# WORKER_DRIVER=1 adds a third session per pair: the same driver in a worker container, on that
# worker's own 1-CPU raylet (issue 23's other option: a driver beside a worker's CPU).
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs="${1:-3}"
# the compose command as the Makefile picks it: v2 (plugin or build/compose), else v1
if docker compose version >/dev/null 2>&1; then compose="docker compose"
elif [ -x build/compose/docker-compose ]; then compose=build/compose/docker-compose
else compose=docker-compose; fi
compose="${COMPOSE:-$compose}"
for _ in $(seq "$pairs"); do
  .venv/bin/python docs/experiments/noop_rate.py embedded
  $compose exec -T bench python - auto < docs/experiments/noop_rate.py
  if [ "${WORKER_DRIVER:-0}" = 1 ]; then
    $compose exec -T --index 1 ray-worker python - auto < docs/experiments/noop_rate.py | sed 's/"where": "auto"/"where": "worker-1"/'
  fi
done

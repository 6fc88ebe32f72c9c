#!/usr/bin/env bash
# Liveness probe that never imports Ray: a `ray status` every few seconds in every
# container costs about a CPU-second each time and would disturb the measurements.
set -u
role=${1:-$(cat /tmp/bench-role 2>/dev/null || echo none)}
pgrep -x raylet >/dev/null || exit 1
# The raylet logs this line once it has registered with the GCS.
grep -q -m1 'Raylet of id.* started' /tmp/ray/session_latest/logs/raylet.out 2>/dev/null || exit 1
if [ "$role" = head ]; then
    pgrep -x gcs_server >/dev/null || exit 1
    # The GCS must accept connections before workers try to join.
    (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null || exit 1
fi
exit 0

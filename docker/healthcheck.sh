#!/usr/bin/env bash
# Liveness probe that never imports Ray: a `ray status` every few seconds in every
# container costs about a CPU-second each time and would disturb the measurements.
# Pure bash + /proc, so it also works on bases without procps (python:*-slim).
set -u
role=${1:-$(cat /tmp/bench-role 2>/dev/null || echo none)}

# Once a check has passed, later ones only ask whether that raylet still lives: bash
# builtins, no process started (the check runs every few seconds during every trial).
passed=/tmp/bench-health-raylet-pid
if [ "$role" != head ] && read -r pid <"$passed" 2>/dev/null && [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
    read -r comm <"/proc/$pid/comm" 2>/dev/null && [ "$comm" = raylet ] && exit 0
fi

found=
running() {
    local comm
    for d in /proc/[0-9]*; do
        read -r comm <"$d/comm" 2>/dev/null || continue
        [ "$comm" = "$1" ] && { found=${d#/proc/}; return 0; }
    done
    return 1
}

running raylet || exit 1
raylet=$found
# The raylet logs this line once it has registered with the GCS (in raylet.N.out when
# an earlier raylet of the same session left raylet.out behind).
log=$(ls -t /tmp/ray/session_latest/logs/raylet*.out 2>/dev/null | head -n1)
grep -q -m1 'Raylet of id.* started' "${log:-/nonexistent}" 2>/dev/null || exit 1
if [ "$role" = head ]; then
    running gcs_server || exit 1
    # The GCS must accept connections before workers try to join.
    (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null || exit 1
fi
echo "$raylet" >"$passed.new" 2>/dev/null && mv -f "$passed.new" "$passed" 2>/dev/null
exit 0

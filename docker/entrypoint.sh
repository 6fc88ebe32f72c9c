#!/usr/bin/env bash
# Container roles: init (one-shot, as root) | head | worker | driver (the bench
# container's own raylet, plus the automatic first run). Anything else is run as
# given, e.g. `docker run IMAGE python -m bench env`.
set -euo pipefail

die() { echo "entrypoint: $*" >&2; exit 1; }

check_token() {
    # Ray would otherwise start without auth or fail much later with a vague error.
    [ "${RAY_AUTH_MODE:-}" = token ] || return 0
    local p=${RAY_AUTH_TOKEN_PATH:-}
    [ -n "$p" ] || die "RAY_AUTH_MODE=token but RAY_AUTH_TOKEN_PATH is unset"
    [ -f "$p" ] || die "token file $p is missing or not a file (the compose file's init service makes it)"
    [ -r "$p" ] || die "token file $p is not readable by uid $(id -u) (chown it to that uid; the init service does)"
    [ -s "$p" ] || die "token file $p is empty (delete it, or the volume: docker compose down -v)"
}

positive_int() {
    case "$2" in ''|*[!0-9]*) die "$1 must be a whole number, got '$2'" ;; esac
}

# The init service: runs as root with only CHOWN and FOWNER (see docker-compose.yml).
init_deployment() {
    local p=${RAY_AUTH_TOKEN_PATH:?RAY_AUTH_TOKEN_PATH must be set}
    # The image's user is uid APP_UID (its name depends on the base: `ray` here and in rayproject/ray).
    local uid=${APP_UID:-1000} gid token d
    positive_int APP_UID "$uid"
    gid=$(id -g "$uid" 2>/dev/null) || die "no user with uid $uid in the image (APP_UID must match the image's build argument)"
    [ ! -e "$p" ] || [ -f "$p" ] || die "token path $p exists but is not a file"
    [ ! -f "$p" ] || [ -s "$p" ] || die "token file $p is empty; remove the volume (docker compose down -v)"
    if [ ! -f "$p" ]; then
        mkdir -p "$(dirname "$p")"
        # 32 random bytes as hex, no newline; written whole or not at all.
        token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
        [ ${#token} -eq 64 ] || die "could not read 32 random bytes"
        (umask 077 && printf '%s' "$token" >"$p.new")
        mv "$p.new" "$p"
        echo "init: generated a new token for this deployment"
    else
        echo "init: keeping this deployment's token"
    fi
    # Containers run as that uid, so a root-owned 0600 file would be unreadable there.
    chown "$uid:$gid" "$p"
    chmod 0600 "$p"
    # Bind-mounted output folders: hand a root-owned one (a fresh clone as root) to the
    # user; open another user's to all, as `make dirs` does, rather than take it over.
    for d in /app/results /app/reports; do
        [ -d "$d" ] || continue
        case "$(stat -c %u "$d")" in
            "$uid") ;;
            0) chown "$uid:$gid" "$d" ;;
            *) chmod a+rwx "$d" ;;
        esac
    done
}

# Workers and the driver wait for the head's GCS port instead of a health check on
# the head (cheaper while idle); `ray start` then joins at once.
# Says what it waits for (at once, then every 30 s), so that a node started outside the
# compose network without RAY_HEAD_ADDRESS does not wait in silence; the default name
# ray-head exists only inside that network, so it gives up on it after 60 s.
wait_for_head() {
    local host=${1%:*} port=${1##*:} limit=${HEAD_WAIT_S:-300} start=$SECONDS waited next_note=0
    until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
        waited=$((SECONDS - start))
        if [ -z "${RAY_HEAD_ADDRESS:-}" ] && [ "$waited" -ge $((limit < 60 ? limit : 60)) ] \
            && ! getent hosts "$host" >/dev/null 2>&1; then
            die "the head's name '$host' does not resolve: outside the compose network, set RAY_HEAD_ADDRESS=HOST:PORT (docker run -e RAY_HEAD_ADDRESS=HEAD:6379 ...)"
        fi
        [ "$waited" -lt "$limit" ] || die "the head at $1 did not answer within $limit s"
        if [ "$waited" -ge "$next_note" ]; then
            echo "entrypoint: waiting for the Ray head at $1 (RAY_HEAD_ADDRESS; $waited s of HEAD_WAIT_S=$limit)" >&2
            next_note=$((next_note + 30))
        fi
        sleep 0.5
    done
}

# Workers and the driver join with retries: Ray 2.60's `ray start` gives up after a
# hard-coded 30 s when the node has not registered, which happened on a busy 2-core machine
# when all nodes joined at once. A failed attempt's processes are stopped before the next.
join_cluster() {
    local attempt=1 max=${RAY_START_ATTEMPTS:-5}
    positive_int RAY_START_ATTEMPTS "$max"
    wait_for_head "$head_address"
    until ray start --address="$head_address" "$@"; do
        [ "$attempt" -lt "$max" ] || die "could not join the cluster at $head_address in $max attempts"
        echo "entrypoint: ray start failed (attempt $attempt of $max); retrying" >&2
        ray stop --force >/dev/null 2>&1 || true
        # The retry joins the same session; its raylet.out must not be the failed one's.
        rm -rf /tmp/ray/session_*
        sleep $((2 + RANDOM % 5))
        attempt=$((attempt + 1))
        wait_for_head "$head_address"
    done
}

raylet_pid() {
    local d comm
    for d in /proc/[0-9]*; do
        read -r comm <"$d/comm" 2>/dev/null || continue
        [ "$comm" = raylet ] && { echo "${d#/proc/}"; return 0; }
    done
    return 1
}

# What `ray start --block` did: keep the container up while the node lives, and end it
# (exit 1) when the raylet dies. `tail --pid` checks with kill(0) every 2 s and forks
# nothing (a `sleep` loop started a process every 2 s on every node, during every trial).
# In the background, so that the TERM trap runs at once.
watch_raylet() {
    local pid
    pid=$(raylet_pid) || die "no raylet process after ray start"
    tail --pid="$pid" -s 2 -f /dev/null &
    wait $! || true
    kill -0 "$pid" 2>/dev/null && die "the raylet watcher ended while the raylet (pid $pid) lives"
    die "the raylet (pid $pid) exited; this node is gone"
}

# With DASHBOARD=0, the head keeps only the services a benchmark uses. `ray start --head`
# always starts two more: a Ray Client server (port 10001, published nowhere; bench joins as a
# driver and refuses ray:// addresses) and, with --include-dashboard=false, a dashboard process
# that loads only the usage-stats module, and usage stats are off. Idle, they took 0.19% and
# 0.28% of a core during every trial (docs/measurements.md, "The head's two idle services").
# Nothing restarts or waits on them once `ray start` has returned.
stop_unused_head_services() {
    local d cmd
    for d in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
        case "$cmd" in
            *" -m ray.util.client.server "*|*"/ray/dashboard/dashboard.py "*)
                kill -TERM "${d#/proc/}" 2>/dev/null || true ;;
        esac
    done
}

# docker stop: leave the cluster cleanly, as `ray start --block` did on SIGTERM.
leave_cluster() {
    ray stop >/dev/null 2>&1 || true
    exit 0
}

# The driver's automatic first run (BENCH_AUTORUN=1, the compose default; make up sets 0).
# While it runs, /tmp/bench-autorun.running exists and `make bench` waits for it.
autorun() {
    local flag=/tmp/bench-autorun.running lib=/usr/local/lib/bench-docker suite=${SUITE:-standard}
    local nodes name rc=0
    touch "$flag"
    trap 'rm -f "$flag"' EXIT
    until /usr/local/bin/healthcheck.sh driver; do sleep 0.5; done
    if [ "${EXPECT_NODES:-0}" -gt 0 ]; then
        nodes=$(python "$lib/wait_nodes.py" "$EXPECT_NODES" --timeout "${BENCH_WAIT_S:-600}" --print-count) || return 1
    else
        nodes=$(python "$lib/wait_nodes.py" --stable "${BENCH_STABLE_S:-20}" --timeout "${BENCH_WAIT_S:-600}" --print-count) || return 1
    fi
    name=$suite-$(date -u +%Y%m%dT%H%M%SZ)
    echo "autorun: $nodes CPU node(s) joined; running the $suite suite into results/$name.json"
    # the suite, then its report: `bench suites`, the sequence make report runs too
    python -m bench suites "$suite" --name "$name" --address auto --expect-nodes "$nodes" \
        --report reports/index.html || rc=$?
    echo "autorun: finished (exit $rc): results/$name.json, reports/index.html;" \
         "this container stays up as the driver for more runs (make bench)"
    echo "$rc" >/tmp/bench-autorun.done
}

role=${1:-head}
[ $# -gt 0 ] && shift
# The log monitor forwards worker output to drivers; the benchmark's tasks print nothing.
case "${LOG_MONITOR:-0}" in
    0) log_monitor=false ;;
    1) log_monitor=true ;;
    *) die "LOG_MONITOR must be 0 or 1, got '$LOG_MONITOR'" ;;
esac
# The dashboard (web UI, state API, job submission) and its module processes are the
# head's largest idle load; DASHBOARD=1 turns them on (see .env.example).
case "${DASHBOARD:-0}" in
    0) dashboard=false ;;
    1) dashboard=true ;;
    *) die "DASHBOARD must be 0 or 1, got '$DASHBOARD'" ;;
esac
# The autoscaler monitor polls the GCS every second for a cluster that never autoscales; it
# also feeds `ray status`, so it runs only with the dashboard (DASHBOARD=1).
monitor_flag=--no-monitor
[ "$dashboard" = false ] || monitor_flag=
head_address=${RAY_HEAD_ADDRESS:-ray-head:6379}
# The object store, in bytes: the compose file's sizes unless set (a worker 1 GB, the head and a
# driver 500 MB), so `docker run ... driver` needs no setting. /dev/shm should be >= 1.1 x it
# (docker run --shm-size 600m); a smaller one still works: Ray keeps the store in /tmp, slower.
case "$role" in worker) default_store=1000000000 ;; *) default_store=500000000 ;; esac
store=${OBJECT_STORE_MEMORY:-$default_store}

if [ "$role" = init ]; then
    init_deployment
    exit 0
fi

case "$role" in
    head|worker|driver)
        check_token
        positive_int OBJECT_STORE_MEMORY "$store"
        echo "$role" >/tmp/bench-role
        ;;
esac

# `ray start` returns once the node is up; watch_raylet keeps the container alive with it.
case "$role" in
    head)
        positive_int HEAD_CPUS "${HEAD_CPUS:-0}"
        # No --block: its Python loop polled every Ray process each second; the raylet
        # watcher below is enough (the raylet exits when the GCS goes).
        ray start --head --port=6379 --num-cpus="${HEAD_CPUS:-0}" \
            --object-store-memory="$store" --include-log-monitor="$log_monitor" \
            --include-dashboard="$dashboard" --dashboard-host=0.0.0.0 --dashboard-port=8265 \
            --disable-usage-stats $monitor_flag "$@"
        [ "$dashboard" = true ] || stop_unused_head_services
        trap 'leave_cluster' TERM INT
        watch_raylet
        ;;
    worker)
        positive_int NUM_CPUS "${NUM_CPUS:-1}"
        join_cluster --num-cpus="${NUM_CPUS:-1}" --object-store-memory="$store" \
            --include-log-monitor="$log_monitor" --disable-usage-stats "$@"
        trap 'leave_cluster' TERM INT
        watch_raylet
        ;;
    driver)
        case "${BENCH_AUTORUN:-0}" in 0|1) ;; *) die "BENCH_AUTORUN must be 0 or 1, got '$BENCH_AUTORUN'" ;; esac
        positive_int EXPECT_NODES "${EXPECT_NODES:-0}"
        positive_int BENCH_STABLE_S "${BENCH_STABLE_S:-20}"
        # No CPUs: the driver's node must not take benchmark tasks.
        join_cluster --num-cpus=0 --object-store-memory="$store" \
            --include-log-monitor="$log_monitor" --disable-usage-stats "$@"
        auto_pid=
        if [ "${BENCH_AUTORUN:-0}" = 1 ]; then
            autorun &
            auto_pid=$!
        fi
        trap 'kill -TERM $auto_pid 2>/dev/null; leave_cluster' TERM INT
        watch_raylet
        ;;
    *)
        exec "$role" "$@"
        ;;
esac

#!/usr/bin/env bash
# Container roles: head | worker | driver (the bench container's own raylet).
# Anything else is run as given, e.g. `docker run IMAGE python -m bench env`.
set -euo pipefail

die() { echo "entrypoint: $*" >&2; exit 1; }

check_token() {
    # Ray would otherwise start without auth or fail much later with a vague error.
    [ "${RAY_AUTH_MODE:-}" = token ] || return 0
    local p=${RAY_AUTH_TOKEN_PATH:-}
    [ -n "$p" ] || die "RAY_AUTH_MODE=token but RAY_AUTH_TOKEN_PATH is unset"
    [ -f "$p" ] || die "token file $p is missing or not a file (run 'make token' on the host)"
    [ -r "$p" ] || die "token file $p is not readable by uid $(id -u) (chown it to that uid; 'make token' does)"
    [ -s "$p" ] || die "token file $p is empty (delete it and run 'make token')"
}

positive_int() {
    case "$2" in ''|*[!0-9]*) die "$1 must be a whole number, got '$2'" ;; esac
}

role=${1:-head}
[ $# -gt 0 ] && shift
head_address=${RAY_HEAD_ADDRESS:-ray-head:6379}
store=${OBJECT_STORE_MEMORY:-}

case "$role" in
    head|worker|driver)
        check_token
        [ -n "$store" ] || die "OBJECT_STORE_MEMORY (bytes) must be set: /dev/shm is sized from it"
        positive_int OBJECT_STORE_MEMORY "$store"
        echo "$role" >/tmp/bench-role
        ;;
esac

# --block keeps `ray start` in the foreground; without it the container would exit.
case "$role" in
    head)
        positive_int HEAD_CPUS "${HEAD_CPUS:-0}"
        exec ray start --head --port=6379 --num-cpus="${HEAD_CPUS:-0}" \
            --object-store-memory="$store" \
            --include-dashboard=true --dashboard-host=0.0.0.0 --dashboard-port=8265 \
            --disable-usage-stats --block "$@"
        ;;
    worker)
        positive_int NUM_CPUS "${NUM_CPUS:-1}"
        exec ray start --address="$head_address" --num-cpus="${NUM_CPUS:-1}" \
            --object-store-memory="$store" --disable-usage-stats --block "$@"
        ;;
    driver)
        # No CPUs: the driver's node must not take benchmark tasks.
        exec ray start --address="$head_address" --num-cpus=0 \
            --object-store-memory="$store" --disable-usage-stats --block "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac

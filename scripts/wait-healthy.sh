#!/usr/bin/env bash
# Wait until every container of a compose service reports healthy.
# `docker-compose up -d` (v1) returns before dependants are healthy, so `make up` waits here.
set -euo pipefail
project=${1:?usage: wait-healthy.sh PROJECT SERVICE [TIMEOUT_S]}
service=${2:?usage: wait-healthy.sh PROJECT SERVICE [TIMEOUT_S]}
timeout=${3:-180}
deadline=$(( $(date +%s) + timeout ))
while :; do
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=$service")
    [ -n "$ids" ] || { echo "error: no '$service' container in project '$project'" >&2; exit 1; }
    pending=0
    for id in $ids; do
        state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
        case "$state" in
            "running healthy") ;;
            running*) pending=1 ;;
            *) echo "error: $service container ${id:0:12} is '$state'; see 'make logs'" >&2; exit 1 ;;
        esac
    done
    [ "$pending" = 0 ] && exit 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "error: $service not healthy after ${timeout} s; see 'make logs'" >&2
        exit 1
    fi
    sleep 1
done

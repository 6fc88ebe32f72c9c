#!/usr/bin/env bash
# Build a local Debian bookworm base image with no container registry:
# debootstrap a minimal rootfs, then `docker import` it. Air-gapped hosts need this.
set -euo pipefail

tag=${1:-${OFFLINE_BASE:-ray-bench-base:bookworm}}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=${ROOTFS_DIR:-build/base-rootfs}

if docker image inspect "$tag" >/dev/null 2>&1 && [ -z "${FORCE:-}" ]; then
    echo "offline base: $tag already present (FORCE=1 rebuilds)"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "error: debootstrap must run as root; re-run with sudo" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "offline base: installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

rm -rf "$rootfs"
mkdir -p "$rootfs"
# Clean up the rootfs even when debootstrap fails half-way; it holds device nodes.
trap 'rm -rf "$rootfs"' EXIT
start=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,procps \
    bookworm "$rootfs" "$mirror" >build/debootstrap.log 2>&1 || {
    echo "error: debootstrap failed; last lines of build/debootstrap.log:" >&2
    tail -n 20 build/debootstrap.log >&2
    exit 1
}
# Package caches are useless in an image and cost ~40 MB.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
# An imported image has no config at all; give it the usual PATH and a shell.
tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap minbase bookworm from $mirror" - "$tag" >/dev/null
echo "offline base: built $tag in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Debian's chromium for the browser tests (headless screenshots of the report).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "error: chromium is missing; install it with: sudo apt-get install chromium" >&2
    exit 1
fi
echo "chromium: installing Debian's package"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-liberation >/dev/null
chromium --version

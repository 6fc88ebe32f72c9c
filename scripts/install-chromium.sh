#!/usr/bin/env bash
# A headless Chromium for the browser tests (screenshots of the report). Any binary that
# tests/test_browser.py finds will do: $CHROMIUM, or one of the names below on PATH.
# Only root installs one (Debian's package); anyone else is told in one line what to install.
set -euo pipefail
candidates=(chromium chromium-browser google-chrome google-chrome-stable)
if [ -n "${CHROMIUM:-}" ]; then
    if command -v "$CHROMIUM" >/dev/null 2>&1; then
        exit 0
    fi
    echo "error: CHROMIUM=$CHROMIUM is not an executable on PATH; point it at chromium, chrome or headless_shell" >&2
    exit 1
fi
for name in "${candidates[@]}"; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "error: no headless Chromium (${candidates[*]}) on PATH; install one (sudo apt-get install chromium), or set CHROMIUM=/path/to/chrome-or-headless_shell" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: no headless Chromium (${candidates[*]}) on PATH and no apt-get to install one; install Chromium or set CHROMIUM=/path/to/it" >&2
    exit 1
fi
echo "chromium: installing Debian's package"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-liberation >/dev/null
chromium --version

#!/usr/bin/env bash
# Fill docker/wheels with every wheel pinned in the hashed lock, for the image's
# platform (CPython 3.11, manylinux x86_64), so the image builds with --no-index.
set -euo pipefail

lock=${LOCK:-requirements/runtime.lock}
dest=${WHEELS_DIR:-docker/wheels}
stamp="$dest/.lock.sha256"
want=$(sha256sum "$lock" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "wheelhouse: up to date with $lock"
    exit 0
fi
# pip download needs only pip, so use a throwaway venv rather than the dev venv.
tool=build/pip-tool
if [ ! -x "$tool/bin/pip" ]; then
    python3 -m venv "$tool"
fi
mkdir -p "$dest"
rm -f "$stamp"
start=$(date +%s)
# Several platform tags because wheels on PyPI are tagged manylinux1..manylinux_2_28;
# bookworm's glibc 2.36 runs all of them. Hashes are checked by --require-hashes.
"$tool/bin/pip" download --quiet --disable-pip-version-check \
    --require-hashes --no-deps --only-binary=:all: \
    --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 \
    --platform manylinux1_x86_64 --platform linux_x86_64 \
    -r "$lock" -d "$dest"
echo "$want" >"$stamp"
echo "wheelhouse: $(ls "$dest"/*.whl | wc -l) wheels, $(du -sh "$dest" | cut -f1), $(( $(date +%s) - start )) s"

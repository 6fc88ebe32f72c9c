#!/bin/bash
# One reproduction pair from a fresh clone of this checkout, made beside it: make report,
# then make repro (their defaults), then make down; output and timings in ../NAME.log.
#   bash docs/experiments/repro_pair.sh NAME
set -u
name=$1
src=$(git rev-parse --show-toplevel)
cd "$src/.." && rm -rf "$name" && git clone -q "$src" "$name" && cd "$name" || exit 1
log=$(pwd).log
echo "clone $(git log --oneline -1) $(date -u +%FT%TZ)" > "$log"
s=$(date +%s); make report >> "$log" 2>&1; rc=$?; e=$(date +%s)
echo "PAIR make report rc=$rc took $((e-s)) s" >> "$log"
s=$(date +%s); make repro >> "$log" 2>&1; rc=$?; e=$(date +%s)
echo "PAIR make repro rc=$rc took $((e-s)) s" >> "$log"
make down >> "$log" 2>&1
echo "PAIR done $(date -u +%FT%TZ)" >> "$log"

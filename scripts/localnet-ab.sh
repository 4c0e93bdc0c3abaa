#!/usr/bin/env bash
# Alternating A/B runs of `localnet load` on fresh 4 + 4 localnets.
# Usage: scripts/localnet-ab.sh RATE DIR 'VCHAIN [localnet up flags]' ...
# Each argument after DIR is a binary with optional `localnet up` flags;
# each gets a fresh localnet in DIR (removed first), RATE tx/s offered for
# 15 s (the first 4 s left out), and one line of figures. List the
# candidates twice or more, alternating (A B A B): this machine's speed
# drifts by a third within minutes, so only neighbouring runs compare.
set -euo pipefail
rate=$1 dir=$2
shift 2
for cand in "$@"; do
  read -r bin flags <<<"$cand"
  "$bin" localnet down --dir "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  # shellcheck disable=SC2086
  "$bin" localnet up --validators 4 --proposers 4 --dir "$dir" $flags >/dev/null
  out=$("$bin" localnet load --dir "$dir" --rate "$rate" --duration 15s --warmup 4s 2>/dev/null)
  "$bin" localnet down --dir "$dir" >/dev/null
  echo "[$cand] $rate tx/s: $out"
done

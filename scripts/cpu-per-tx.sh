#!/usr/bin/env bash
# CPU per final transaction of a 4 + 4 localnet under a steady load.
# Usage: scripts/cpu-per-tx.sh VCHAIN DIR [localnet up flags, e.g. --no-contracts]
# It creates a localnet in DIR (removing what is there), offers 2,000 tx/s
# for 15 s, sums the node processes' user+system CPU from /proc/PID/stat
# before and after, prints the load's summary and the CPU milliseconds per
# final transaction, and stops the localnet.
set -euo pipefail
V=$1 D=$2
shift 2
rm -rf "$D"
"$V" localnet up --validators 4 --proposers 4 --dir "$D" "$@" >/dev/null
trap '"$V" localnet down --dir "$D" >/dev/null' EXIT
sleep 2
ticks() {
  local t=0 p a b
  for p in $(cat "$D"/*/pid); do
    read -r a b < <(cut -d' ' -f14,15 "/proc/$p/stat")
    t=$((t + a + b))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)
c0=$(ticks)
out=$("$V" localnet load --dir "$D" --rate 2000 --duration 15s --warmup 2s 2>/dev/null)
c1=$(ticks)
echo "$out"
final=$(echo "$out" | grep -o "final [0-9]*" | head -1 | cut -d' ' -f2)
awk -v c=$((c1 - c0)) -v hz="$hz" -v f="$final" 'BEGIN { printf "cpu_ms=%d final=%d ms_per_tx=%.3f\n", c*1000/hz, f, c*1000/hz/f }'

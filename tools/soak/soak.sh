#!/usr/bin/env bash
# soak.sh — the local stack under a long load: `orderflow local up` on free ports, then
# `orderflow load` in batches of SOAK_BATCH orders until SOAK_ORDERS, printing after each
# batch its rate and p50/p99 and the emulator's resident memory (RSS of moto's process).
# Used by `make soak` (mk/soak.mk); the figures go to bench/REPORT.md by hand.
#
#   tools/soak/soak.sh ORDERFLOW_BIN ORDERS BATCH CONCURRENCY [REPORT]
set -euo pipefail
bin=$1 orders=$2 batch=$3 conc=$4 report=${5:-/dev/stdout}
work=$(mktemp -d)
ready=$work/ready.json
"$bin" local up --http-port 0 --edge-port 0 --quiet --ready-file "$ready" >"$work/up.log" 2>&1 &
up=$!
cleanup() { kill "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# Wait for the ready file (the stack writes it once provisioned), bounded.
"$bin" local wait --ready-file "$ready" --timeout 3m >/dev/null 2>&1 || {
  for _ in $(seq 1 1800); do [ -s "$ready" ] && break; kill -0 "$up" 2>/dev/null || { cat "$work/up.log"; exit 1; }; sleep 0.1; done
}
[ -s "$ready" ] || { echo "soak: stack not ready"; cat "$work/up.log"; exit 1; }
api=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["httpUrl"])' "$ready")
edge=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["edgeUrl"])' "$ready")
emu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["emulatorUrl"])' "$ready")
emuport=${emu##*:}
# moto's process: the python3 listening on the emulator's port.
motopid=$(ss -ltnpH "sport = :$emuport" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$motopid/status"; }
hwm() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$motopid/status"; }
{
  echo "soak: $orders orders in batches of $batch, concurrency $conc; api $api, edge $edge, moto pid $motopid ($(rss) MB at start)"
  printf '%-8s %-10s %-10s %-10s %-10s %-10s %s\n' batch orders rate p50 p99 rss_MB hwm_MB
} | tee "$report"
done_n=0 i=0
while [ "$done_n" -lt "$orders" ]; do
  i=$((i+1))
  out=$("$bin" load --api "$api" --aws-endpoint "$edge" --orders "$batch" --concurrency "$conc" --seed "$i" 2>/dev/null || true)
  done_n=$((done_n+batch))
  rate=$(sed -n 's/.*(\([0-9.]*\) orders\/s).*/\1/p' <<<"$out")
  p50=$(sed -n 's/.*p50 \([^ ,]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/.*p99 \([^ ,]*\).*/\1/p' <<<"$out")
  printf '%-8s %-10s %-10s %-10s %-10s %-10s %s\n' "$i" "$done_n" "$rate" "$p50" "$p99" "$(rss)" "$(hwm)" | tee -a "$report"
  grep -E 'unexpected|errors' <<<"$out" | sed 's/^/    /' | tee -a "$report" || true
done

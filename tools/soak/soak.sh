#!/usr/bin/env bash
# soak.sh — the local stack under a long load: `orderflow local up` on free ports, then
# `orderflow load` in batches of BATCH orders until ORDERS, printing after each batch its
# rate, p50/p99 and the emulator's resident memory (moto's RSS and its peak). `make soak`
# runs it; the figures go to bench/REPORT.md ("Soak") with the command.
#
#   tools/soak/soak.sh ORDERFLOW_BIN ORDERS BATCH CONCURRENCY [REPORT]
set -euo pipefail
bin=$1 orders=$2 batch=$3 conc=$4 report=${5:-/dev/null}
work=$(mktemp -d)
ready=$work/ready.json
"$bin" local up --http-port 0 --edge-port 0 --quiet --ready-file "$ready" >"$work/up.log" 2>&1 &
up=$!
cleanup() { kill "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$bin" local wait --ready-file "$ready" --timeout 5m || { cat "$work/up.log"; exit 1; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$ready" "$1"; }
api=$(field httpUrl) edge=$(field edgeUrl) moto=$(field emulatorPid)
mb() { awk -v k="$1:" '$1 == k {printf "%.0f", $2/1024}' "/proc/$moto/status"; }
{
  echo "soak: $orders orders in batches of $batch, concurrency $conc; moto pid $moto ($(mb VmRSS) MB at start)"
  printf '%-6s %-7s %-9s %-9s %-9s %-8s %s\n' batch orders orders/s p50 p99 rss_MB peak_MB
} | tee "$report"
done_n=0 i=0
while [ "$done_n" -lt "$orders" ]; do
  i=$((i+1))
  out=$("$bin" load --api "$api" --aws-endpoint "$edge" --orders "$batch" --concurrency "$conc" --seed "$i" 2>/dev/null || true)
  done_n=$((done_n+batch))
  rate=$(sed -n 's/.*(\([0-9.]*\) orders\/s).*/\1/p' <<<"$out")
  p50=$(sed -n 's/.*p50 \([^ ,]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/.*p99 \([^ ,]*\).*/\1/p' <<<"$out")
  printf '%-6s %-7s %-9s %-9s %-9s %-8s %s\n' "$i" "$done_n" "$rate" "$p50" "$p99" "$(mb VmRSS)" "$(mb VmHWM)" | tee -a "$report"
  grep -E '^(unexpected|errors)' <<<"$out" | sed 's/^/       /' | tee -a "$report" || true
done

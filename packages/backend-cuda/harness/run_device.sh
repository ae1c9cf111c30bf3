#!/usr/bin/env bash
# Run on the GPU machine: correctness for every mod, then timing. Logs go to $OUT (or ./out).
# Usage: run_device.sh [BIN_DIR]   (BIN_DIR holds prebuilt binaries; otherwise builds with make)
set -u
OUT=${OUT:-$(pwd)/out}
mkdir -p "$OUT"
BIN=${1:-}
if [ -z "$BIN" ]; then BIN=$(pwd)/bin; make -j16 BIN="$BIN" > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }; fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
MODS=${MODS:-"noop causal swa softcap softcap_approx alibi document"}
for m in $MODS; do
  timeout 120 "$BIN/$m" check > "$OUT/check_$m.log" 2>&1; echo "rc=$?" >> "$OUT/check_$m.log"
done
for m in $MODS; do
  timeout 150 "$BIN/$m" time > "$OUT/time_$m.log" 2>&1; echo "rc=$?" >> "$OUT/time_$m.log"
done
cat "$OUT"/check_*.log | grep -E "FAIL|failures|rc=|error" > "$OUT/summary.txt"
cat "$OUT"/time_*.log | grep -E "TIME|rc=|error" >> "$OUT/summary.txt"
(cd "$OUT" && tar czf logs.tgz check_*.log time_*.log build.log 2>/dev/null; rm -f check_*.log time_*.log)
cat "$OUT/summary.txt"

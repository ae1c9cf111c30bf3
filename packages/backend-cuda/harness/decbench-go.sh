#!/bin/bash
# cuda-decode (session 14): the split-KV decoder's variants at B8 Hq32/Hkv8 L8192 and B1 L32768, D128 bf16.
# (the session-14 device bundle: decbench.gz = gzip of bin/decbench, hdec7.gz = gzip of bin/dec7/causal, both sm_90a, beside this script as go.sh)
# Run from the repo root: bash .s14-cuda-decode/go.sh   (≤ 120 s; every step under timeout)
set -u
B="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/s14-cuda-decode-out}"
mkdir -p "$OUT"
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
cap() { local left=$(( 114 - $(el) )); [ "$left" -lt "$1" ] && echo "$left" || echo "$1"; }   # min(cap, time left)
W=/tmp/s14dec; mkdir -p $W
gunzip -c "$B/decbench.gz" > $W/decbench && gunzip -c "$B/hdec7.gz" > $W/hdec7 && chmod +x $W/decbench $W/hdec7
BIN=$W/decbench
export PATH=/usr/local/cuda/bin:$PATH
{ timeout 10 nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw --format=csv,noheader; } > "$OUT/gpu.txt" 2>&1
echo "GPU $(cat "$OUT/gpu.txt")"
timeout 10 "$BIN" list > "$OUT/list.txt" 2>&1; cat "$OUT/list.txt"

echo "## decbench check at $(el) s"
timeout "$(cap 30)" "$BIN" check > "$OUT/check.txt" 2>&1; echo "check rc $?" >> "$OUT/check.txt"
grep -E "CHECK|rc" "$OUT/check.txt" | tail -25

echo "## harness decoder checks at variant 7 (masked, f16/f32, special values) at $(el) s"
timeout "$(cap 15)" $W/hdec7 > "$OUT/hdec7.txt" 2>&1; echo "hdec7 rc $?" >> "$OUT/hdec7.txt"
echo "hdec7: $(grep -c ' PASS$' "$OUT/hdec7.txt") PASS, $(grep -c ' FAIL$' "$OUT/hdec7.txt") FAIL"; grep -E ' FAIL$|^CHECK [a-z_]+: |rc ' "$OUT/hdec7.txt"

echo "## time at $(el) s"
timeout "$(cap 30)" "$BIN" time 4 > "$OUT/time.txt" 2>&1; echo "time rc $?" >> "$OUT/time.txt"

# the best decoder config at B8L8192 by per-launch GB/s (ring/stream are ceilings, not candidates)
BEST=$(grep '^TIME B8L8192' "$OUT/time.txt" | grep -v -E ' (ring|stream) ' | awk '{for(i=1;i<=NF;i++) if($i=="GB/s"){print $(i-1), $3; break}}' | sort -rn | head -1 | awk '{print $2}')
BEST=${BEST:-v15lb2all}
[ "$BEST" = v0 ] && BEST=v15lb2all
echo "BEST (per-launch, B8L8192): $BEST"

echo "## ncu at $(el) s"
if command -v ncu >/dev/null; then
  for cfg in v0 "$BEST"; do
    c=$(cap 20)
    [ "$c" -lt 6 ] && { echo "ncu $cfg skipped (time)"; continue; }
    timeout "$c" ncu --section SpeedOfLight --section MemoryWorkloadAnalysis -k regex:k_dec --launch-skip 4 --launch-count 1 \
      "$BIN" prof "$cfg" B8L8192 > "$OUT/ncu-$cfg.txt" 2>&1; echo "ncu rc $?" >> "$OUT/ncu-$cfg.txt"
    echo "ncu $cfg:"; grep -E "Duration|DRAM Throughput|Memory Throughput|Compute \(SM\) Throughput|Registers|L2 Hit Rate|Mem Busy|Max Bandwidth|ncu rc" "$OUT/ncu-$cfg.txt" | head -12
  done
else
  echo "no ncu"
fi

echo "## summary at $(el) s"
grep -E "^DEVICE|^SHAPE" "$OUT/list.txt"
grep -E "CHECK (all ok|FAILED)|check rc" "$OUT/check.txt"
echo "hdec7: $(grep -c ' PASS$' "$OUT/hdec7.txt") PASS, $(grep -c ' FAIL$' "$OUT/hdec7.txt") FAIL; $(grep -E '^CHECK [a-z_]+: |hdec7 rc' "$OUT/hdec7.txt" | tr '\n' ' ')"
grep -E "^TIME|time rc" "$OUT/time.txt"
echo "done at $(el) s"

#!/usr/bin/env bash
# On the GPU machine (after scripts/device/pack.sh here): the checks and timings the open issues
# ask for, most important first, each step capped so the whole run ends within BUDGET seconds
# (what is cut off is skipped, not lost); MODS narrows cuda-bench's mods. Logs and JSON under $OUT; a short summary on stdout.
#   STEPS (default all, in this order):
#     cuda-bench   flexattn-bench, CUDA vs PyTorch FlexAttention, the blog mods + softcap_approx, fwd
#                  (BENCH_PASS=both: fwd+bwd too; BENCH_SHAPES: default L8192 L4096)
#     wgpu-decode  flexattn-bench decode suite on WebGPU (f32)
#     cuda-paged   flexattn-bench decode-paged on CUDA (bf16) vs PyTorch's paged FlexAttention: paged
#                  decode GB/s beside contiguous (issue 16: ≥ 90% of contiguous, ≥ 2× PyTorch)
#     fa3          the harness's persistent Hopper forward: its checks for every mod (HMODS), then the
#                  Hopper bodies' forward timings side by side (FA3_TIME=0: checks only)
#     bwd-fa3      the harness's FA3-class Hopper backward (flex_bwd_fa3.cuh): its checks for every mod
#                  (HMODS; the deterministic variant's too: float64 reference and bitwise equal reruns),
#                  then new (default and deterministic) vs session-3 backward timings after the
#                  persistent forward (noop, causal; BWD3_TIME=0: checks only), within about 120 s
#     cuda-conf    the ir conformance suite through the addon (CONF_DTYPES, default bf16,f16), with
#                  maxScores / dLse in every body and K/V shared by the batch / paged KV caches
#                  (CONF_HOPPER_BACKWARD=classic: the session-3 backward instead of the FA3-class one)
#     wgpu-conf    the ir conformance suite on WebGPU
#     wgpu-paged   flexattn-bench decode-paged on WebGPU (f32): paged beside contiguous (issue 16: ≥ 85%)
#   and, by name only:
#     paged-before-after  decode-paged on CUDA from the old bundle (BA_OLD) and this one, twice, interleaved
#     wgpu-decode-wall  the decode suite timed by wall clock (GPU timestamps off): a cross-check
#     check        the harness's full checks (every body) for HARNESS_MODS (default causal)
#     sass         SASS of the persistent forward: HGMMA / setmaxnreg / TMA / local-memory counts
#     sanitize     compute-sanitizer memcheck and racecheck of the harness's persistent-forward checks
#     ncu          Nsight Compute on the persistent forward (noop D128 and D64): tensor pipe, stalls
#     harness      every packed harness binary (pack.sh's HARNESS_MODS): correctness (`check`), then timings (`time`)
#     before-after the same benches (MODS, BENCH_SHAPES, fwd+bwd; CUDA bf16 and WebGPU f32) from a bench
#                  bundle of an older commit and from this one, back to back on this lease: a
#                  regression check. The old bundle travels in .oldrun/ (bench/bin + kernels, its own
#                  addon flexattn_cuda.node, commit): build it with scripts/bundle.mjs (or, before it
#                  existed, packages/bench/scripts/bundle.mjs) in a worktree of that commit.
#                  BA_PASS (default both): fwd for forward-only changes; BA_ORDER (default "old new"):
#                  the runs' order per shape, e.g. "old new new old";
#                  BA_PEER="--peer torch": the new CUDA runs time PyTorch beside them (the whole
#                  table in one run); BA_WGPU_SHAPES="" leaves WebGPU out; BA_OLD: the old bundle's
#                  folder (default .oldrun; carry it)
set -u
cd "$(dirname "$0")/../.."
source .device-carry/setup.sh
# the bench records this commit (the GPU machine's copy of .git may be an older one)
export FLEXATTN_COMMIT=$(cat .devrun/commit 2>/dev/null || echo unknown)
# harness binaries may travel compressed (the carry is limited to 64 MiB)
[ -f .devrun/hbin.tar.xz ] && tar xJf .devrun/hbin.tar.xz -C .devrun
export FLEXATTN_CUDA_ADDON=$PWD/.devrun/cconf/bin/flexattn_cuda.node FLEXATTN_CUDA_CACHE=/tmp/flexattn-cache PYTHONUNBUFFERED=1
MODS=${MODS:-noop,causal,alibi,softcap,softcap_approx,relpos,sliding_window_causal,prefix_lm,document,softcap_causal}
# logs gather in a work folder; at the end they travel back as one archive (the device returns at
# most 8 files) beside the bench JSON/tables
D=.devrun OUTDIR=${OUT:-$PWD/out} O=/tmp/flexattn-out BUDGET=${BUDGET:-540} STEPS=${STEPS:-"cuda-bench wgpu-decode cuda-paged wgpu-paged fa3 bwd-fa3 cuda-conf wgpu-conf"}
HMODS=${HMODS:-"noop causal swa softcap softcap_approx alibi document alibi_rc document_rc"} HANG='' 
rm -rf "$O"; mkdir -p "$O"; t0=$(date +%s)
stamp() { echo "## $1 at $(( $(date +%s) - t0 )) s"; }
# a step's timeout: its own cap, or what is left of BUDGET
cap() { local left=$(( BUDGET - ($(date +%s) - t0) )); echo $(( left < $1 ? (left > 5 ? left : 5) : $1 )); }
# flexattn-bench within a cap: bench CAP NAME ARGS… (JSON and log to $O/NAME.*; the table's rows on stdout)
# the same, from the old bundle in ${BA_OLD:-.oldrun} (its bench, kernels, addon and commit): a before/after pair
old_bench() {
  local old=${BA_OLD:-.oldrun}
  FLEXATTN_CUDA_ADDON=$PWD/$old/flexattn_cuda.node FLEXATTN_COMMIT=$(cat $old/commit) BENCH_BIN=$old/bench/bin/flexattn-bench.mjs bench "$@"
}
bench() {
  local c=$1 name=$2; shift 2
  timeout -k 10 "$(cap "$c")" node "${BENCH_BIN:-$D/bench/bin/flexattn-bench.mjs}" --no-block-masks "$@" --json "$O/$name.json" 2>&1 |
    tee "$O/$name.txt" | grep -E " (bf16|f16|f32) |^decode |FAIL|rror"
}
CUDA_FWD="--suite full --dtype bf16 --backends cuda --pass ${BENCH_PASS:-fwd} --iterations 10 --warmup 3"
DECODE="--suite decode --backends webgpu --dtype f32"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader | tee "$O/gpu.txt"
echo "packed at commit $FLEXATTN_COMMIT"
mkdir -p "$OUTDIR"
for step in $STEPS; do
  # the logs so far travel back even when a later step outlives the call (a hang is killed with it)
  tar czf "$OUTDIR/logs.tgz" -C "$O" . 2>/dev/null
  stamp "$step"
  case $step in
    cuda-bench)
      for shape in ${BENCH_SHAPES:-L8192 L4096}; do bench "${BENCH_CAP:-240}" "cuda-$shape" $CUDA_FWD --shapes "$shape" --mods "$MODS" --peer torch; done ;;
    wgpu-decode)
      bench 90 wgpu-decode $DECODE ;;
    cuda-paged)
      bench "${PAGED_CAP:-150}" cuda-paged --suite decode-paged --dtype bf16 --backends cuda --peer torch --iterations 20 --warmup 5 ;;
    fa3)
      # a timeout (rc 124) is a hang: the later harness steps are skipped, so it costs one cap only
      for m in $HMODS; do
        [ -z "$HANG" ] || break
        timeout -k 10 "$(cap 45)" $D/hbin/$m checkfa3 >"$O/fa3-check-$m.txt" 2>&1; rc=$?; echo "rc=$rc" >>"$O/fa3-check-$m.txt"
        [ $rc = 124 ] && HANG=$m
        grep -E "FAIL|failures|rc=|rror" "$O/fa3-check-$m.txt" | tr '\n' ' '; echo
      done
      for m in $HMODS; do
        [ -z "$HANG" ] && [ "${FA3_TIME:-1}" = 1 ] || break
        timeout -k 10 "$(cap 60)" $D/hbin/$m hopper 2>&1 | grep -E "TIME|rror" | tee -a "$O/fa3-times.txt" | sed -E 's/ +/ /g; s/ -> ours.theirs speed/ x/'
      done ;;
    bwd-fa3)
      # the mods' checks side by side (correctness only: each is mostly its float64 reference on
      # the CPU), so the step stays within its time with the deterministic cases; a timeout
      # (rc 124) is a hang: the later harness steps are skipped
      c=$(cap 40)
      for m in $HMODS; do
        ( timeout -k 10 "$c" $D/hbin/$m checkbwd3 >"$O/bwd3-check-$m.txt" 2>&1; echo "rc=$?" >>"$O/bwd3-check-$m.txt" ) &
      done
      wait
      for m in $HMODS; do
        grep -qx "rc=124" "$O/bwd3-check-$m.txt" && HANG=$m
        echo "$m: $(grep -cE PASS "$O/bwd3-check-$m.txt") pass ($(grep -cE 'det bits.*PASS' "$O/bwd3-check-$m.txt") bitwise-repeatable deterministic) $(grep -E "FAIL|failures|rc=|rror" "$O/bwd3-check-$m.txt" | tr '\n' ' ')"
      done
      for m in noop causal; do
        [ -z "$HANG" ] && [ "${BWD3_TIME:-1}" = 1 ] || break
        timeout -k 10 "$(cap 45)" $D/hbin/$m timebwd3 2>&1 | grep -E "TIME .*(bwd|rror)|^RATIO" | tee -a "$O/bwd3-times.txt" | sed -E 's/ +/ /g; s/ -> ours.theirs speed/ x/'
      done ;;
    check)
      for m in ${HARNESS_MODS:-causal}; do
        [ -z "$HANG" ] || break
        timeout -k 10 "$(cap 90)" $D/hbin/$m check >"$O/check-$m.txt" 2>&1; echo "rc=$?" >>"$O/check-$m.txt"
        grep -E "FAIL|failures|rc=|rror" "$O/check-$m.txt" | tr '\n' ' '; echo
      done ;;
    sass)
      ob=$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)
      for m in noop softcap alibi document; do
        "$ob" -sass $D/hbin/$m > "$O/$m.sass" 2>&1
        awk -v m=$m '/Function : /{f=$3} f ~ /k_fa3/ {if ($0 ~ /HGMMA/) h[f]++; if ($0 ~ /USETMAXREG/) r[f]++; if ($0 ~ /UTMALDG/) t[f]++; if ($0 ~ /(LDL|STL)/) l[f]++}
             END {for (f in h) printf "SASS %s %s HGMMA %d USETMAXREG %d UTMALDG %d LDL/STL %d\n", m, substr(f, 18, 40), h[f], r[f], t[f], l[f]}' "$O/$m.sass"
        gzip -f "$O/$m.sass"
      done ;;
    cuda-conf)
      [ -z "$HANG" ] || continue
      # CONF_SHARDS processes per dtype (default 4; CONF_SHARD in conformance-real.ts), all at once:
      # on a fresh machine the run is NVRTC compiles (hundreds of modules; a FA3-class backward of a
      # pow mod takes ~60 s in nvcc on two cores), each process compiles one at a time, and neither
      # dtypes nor shards share a module. Session 10's "hangs" were this: each killed run's last CONF
      # START line was the first backward of a new mod on a cold cache. Each process has its own cache
      # folder (no two writers of one file).
      : >"$O/cuda-conf.txt"
      c=$(cap ${CONF_CAP:-240})
      dts=$(echo "${CONF_DTYPES:-bf16,f16}" | tr , ' ') n=${CONF_SHARDS:-4}
      mem=1   # the first run measures memory growth; the others would disturb it (CONF_MEMORY=0)
      for dt in $dts; do for i in $(seq 0 $((n - 1))); do
        ( CONF_MEMORY=$mem CONF_DTYPES=$dt CONF_SHARD=$i/$n FLEXATTN_CUDA_CACHE=/tmp/flexattn-cache-conf-$dt-$i \
            timeout -s KILL "$c" node $D/cconf/bin/run.mjs >"$O/cuda-conf-$dt-$i.txt" 2>&1
          echo "rc=$? ($dt shard $i/$n)" >>"$O/cuda-conf-$dt-$i.txt" ) &
        mem=0
      done; done
      wait
      for f in "$O"/cuda-conf-*-*.txt; do
        # killed (137): the last CONF START line names the case it was in
        grep -q 'rc=137' "$f" && echo "cuda-conf $(basename "$f" .txt) killed in: $(grep 'CONF START' "$f" | tail -1)"
        grep -v 'CONF START' "$f" >>"$O/cuda-conf.txt"
      done
      echo "cuda-conf: $(grep -c 'CONF PASS' "$O/cuda-conf.txt") checks pass, $(grep -c 'CONF FAIL' "$O/cuda-conf.txt") fail, $(grep -c 'rc=0' "$O/cuda-conf.txt") of $(ls "$O"/cuda-conf-*-*.txt | wc -l) processes ended with rc 0"
      grep -E "FAIL|memory|rc=[1-9]" "$O/cuda-conf.txt" | head -16
      echo "cuda-conf special values: $(grep -c 'CONF PASS.*special' "$O/cuda-conf.txt") checks pass, $(grep -c 'CONF FAIL.*special' "$O/cuda-conf.txt") fail" ;;
    wgpu-paged)
      bench "${PAGED_CAP:-150}" wgpu-paged --suite decode-paged --dtype f32 --backends webgpu --iterations 20 --warmup 5 ;;
    wgpu-conf)
      timeout -k 10 "$(cap 90)" node $D/webgpu/conformance.mjs >"$O/wgpu-conf.txt" 2>&1; echo "rc=$?" >>"$O/wgpu-conf.txt"
      grep -E "FAIL|failures|rc=" "$O/wgpu-conf.txt" | head ;;
    wgpu-decode-wall)
      bench 90 wgpu-decode-wall $DECODE --backend-options '{"webgpu":{"timestamps":false}}' ;;
    sanitize)
      [ -z "$HANG" ] || continue
      cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
      for tool in memcheck racecheck; do
        timeout -k 10 "$(cap 120)" "$cs" --tool $tool --show-backtrace device $D/hbin/causal checkfa3 >"$O/sanitize-$tool.txt" 2>&1; echo "rc=$?" >>"$O/sanitize-$tool.txt"
        echo "$tool: $(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|failures|rc=" "$O/sanitize-$tool.txt" | tr '\n' ' ')"
      done ;;
    ncu)
      [ -z "$HANG" ] || continue
      nc=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
      # first timed launches of `noop hopper`'s persistent configs (3 warm-up + 20 timed each; D128:
      # A128, A128s3, A128e, then D64: A64, A64w3, A64e): A128, A64, A64e
      for sk in ${NCU_LAUNCHES:-3:d128 72:d64 118:d64e}; do
        timeout -k 10 "$(cap 120)" "$nc" -k regex:k_fa3 --launch-skip ${sk%%:*} --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis \
          --section WarpStateStats --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis --section InstructionStats \
          --metrics 'regex:^sm__pipe_.*cycles_active\.avg\.pct_of_peak_sustained_active$,regex:^sm__inst_executed_pipe_(xu|fma|alu|fmaheavy)\.avg\.pct_of_peak_sustained_active$,regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$' \
          $D/hbin/noop hopper >"$O/ncu-${sk##*:}.txt" 2>&1
      done
      grep -hE "k_fa3|Duration|Compute \(SM\) Throughput|Memory Throughput|Issue Slots Busy|Registers Per|Warp Cycles Per Issued|L2 Hit|sm__pipe_(tensor|xu|fma|alu|shared)|pipe_xu|issue_stalled_(barrier|long|short|wait|math|mio|lg|no_inst|not_sel|selected|dispatch|membar|branch|sleeping|tex|drain|misc|imc)|==ERR|==WARN" "$O"/ncu-*.txt | sed -E 's/ +/ /g' | cut -c1-110 | head -60 ;;
    harness)
      for m in $(ls $D/hbin); do
        timeout -k 10 "$(cap 120)" $D/hbin/$m check >"$O/harness-check-$m.txt" 2>&1; echo "rc=$?" >>"$O/harness-check-$m.txt"
        grep -E "FAIL|failures|rc=|rror" "$O/harness-check-$m.txt" | sed "s/^/$m: /"
      done
      for m in $(ls $D/hbin); do
        timeout -k 10 "$(cap 150)" $D/hbin/$m time >"$O/harness-time-$m.txt" 2>&1; echo "rc=$?" >>"$O/harness-time-$m.txt"
        grep -E "TIME|rc=|rror" "$O/harness-time-$m.txt" | sed "s/^/$m: /"
      done ;;
    before-after)
      BA="--suite full --pass ${BA_PASS:-both} --iterations 10 --warmup 3 --mods $MODS"
      for shape in ${BENCH_SHAPES:-L8192 L4096}; do
        # BA_ORDER: the runs in order, e.g. "old new new old" (a drift over the lease then falls on both
        # sides); the second of a side is named …-2
        declare -A seen=()
        for side in ${BA_ORDER:-old new}; do
          name="$side-cuda-$shape${seen[$side]:+-2}"; seen[$side]=1
          if [ "$side" = old ]; then
            old_bench "${BA_CAP:-90}" "$name" $BA --dtype bf16 --backends cuda --shapes "$shape"
          else
            # with the torch peer the run also compiles torch's kernels (session 10: 90 s cut it off)
            bench "${BA_CAP:-$([ -n "${BA_PEER-}" ] && echo 240 || echo 90)}" "$name" $BA --dtype bf16 --backends cuda --shapes "$shape" ${BA_PEER-}
          fi
        done
        unset seen
      done
      for shape in ${BA_WGPU_SHAPES-L4096}; do
        old_bench "${BA_CAP:-90}" "old-wgpu-$shape" $BA --dtype f32 --backends webgpu --shapes "$shape"
        bench "${BA_CAP:-90}" "new-wgpu-$shape" $BA --dtype f32 --backends webgpu --shapes "$shape"
      done ;;
    paged-before-after)
      # the decode-paged suite (ragged contiguous and paged) from the old bundle (BA_OLD) and this one
      for round in 1 2; do
        old_bench "${PAGED_CAP:-60}" "old-cuda-paged-$round" --suite decode-paged --dtype bf16 --backends cuda --iterations 20 --warmup 5
        bench "${PAGED_CAP:-60}" "new-cuda-paged-$round" --suite decode-paged --dtype bf16 --backends cuda --iterations 20 --warmup 5
      done ;;
    *) echo "unknown step $step" ;;
  esac
done
stamp done
mkdir -p "$OUTDIR"
cp "$O"/cuda-L*.json "$O"/cuda-L*.txt "$OUTDIR"/ 2>/dev/null
tar czf "$OUTDIR/logs.tgz" -C "$O" . && ls "$OUTDIR"

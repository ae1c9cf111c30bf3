#!/usr/bin/env bash
# On the GPU machine (after scripts/device/pack.sh here): the checks and timings the open issues
# ask for, most important first, each step capped so the whole run ends within BUDGET seconds
# (what is cut off is skipped, not lost); MODS narrows cuda-bench's mods. Logs and JSON under $OUT; a short summary on stdout.
#   STEPS (default all, in this order):
#     cuda-bench   flexattn-bench, CUDA vs PyTorch FlexAttention, the blog mods + softcap_approx, fwd
#     wgpu-decode  flexattn-bench decode suite on WebGPU (f32)
#     ws           the harness's warp-specialised forward: checks, then Hopper bodies side by side
#     cuda-conf    the ir conformance suite through the addon (bf16, f16; CONF_WS=1 as well with ws)
#     wgpu-conf    the ir conformance suite on WebGPU
#   and, by name only:
#     wgpu-decode-wall  the decode suite timed by wall clock (GPU timestamps off): a cross-check
#     ws-bench     CUDA forward with the warp-specialised body, then the default body (no peer)
#     sanitize     compute-sanitizer memcheck of the harness's warp-specialised checks, where installed
#     harness      every packed harness binary (pack.sh's HARNESS_MODS): correctness (`check`), then timings (`time`)
set -u
cd "$(dirname "$0")/../.."
source .device-carry/setup.sh
# the bench records this commit (the GPU machine's copy of .git may be an older one)
export FLEXATTN_COMMIT=$(cat .devrun/commit 2>/dev/null || echo unknown)
export FLEXATTN_CUDA_ADDON=$PWD/.devrun/cconf/bin/flexattn_cuda.node FLEXATTN_CUDA_CACHE=/tmp/flexattn-cache PYTHONUNBUFFERED=1
MODS=${MODS:-noop,causal,alibi,softcap,softcap_approx,relpos,sliding_window_causal,prefix_lm,document,softcap_causal}
D=.devrun O=${OUT:-$PWD/out} BUDGET=${BUDGET:-540} STEPS=${STEPS:-"cuda-bench wgpu-decode ws cuda-conf wgpu-conf"}
mkdir -p "$O"; t0=$(date +%s)
stamp() { echo "## $1 at $(( $(date +%s) - t0 )) s"; }
# a step's timeout: its own cap, or what is left of BUDGET
cap() { local left=$(( BUDGET - ($(date +%s) - t0) )); echo $(( left < $1 ? (left > 5 ? left : 5) : $1 )); }
# flexattn-bench within a cap: bench CAP NAME ARGS… (JSON and log to $O/NAME.*; the table's rows on stdout)
bench() {
  local c=$1 name=$2; shift 2
  timeout "$(cap "$c")" node $D/bench/bin/flexattn-bench.mjs --no-block-masks "$@" --json "$O/$name.json" 2>&1 |
    tee "$O/$name.txt" | grep -E " bf16 |^decode |FAIL|rror"
}
CUDA_FWD="--suite full --dtype bf16 --backends cuda --pass fwd --iterations 10 --warmup 3"
DECODE="--suite decode --backends webgpu --dtype f32"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader | tee "$O/gpu.txt"
echo "packed at commit $FLEXATTN_COMMIT"
for step in $STEPS; do
  stamp "$step"
  case $step in
    cuda-bench)
      for shape in L8192 L4096; do bench 240 "cuda-$shape" $CUDA_FWD --shapes "$shape" --mods "$MODS" --peer torch; done ;;
    wgpu-decode)
      bench 90 wgpu-decode $DECODE ;;
    ws)
      for m in softcap_approx noop; do
        timeout "$(cap 40)" $D/hbin/$m checkws >"$O/ws-check-$m.txt" 2>&1; echo "rc=$?" >>"$O/ws-check-$m.txt"
        grep -E "FAIL|failures|rc=" "$O/ws-check-$m.txt"
      done
      for m in noop softcap_approx; do
        timeout "$(cap 60)" $D/hbin/$m hopper 2>&1 | grep -E "TIME|rror" | tee -a "$O/ws-times.txt" | grep -v FA2 | sed -E 's/ +/ /g'
      done ;;
    cuda-conf)
      for ws in 0 1; do
        CONF_WS=$ws CONF_DTYPES=bf16,f16 timeout "$(cap 200)" node $D/cconf/bin/run.mjs >"$O/cuda-conf-ws$ws.txt" 2>&1; echo "rc=$?" >>"$O/cuda-conf-ws$ws.txt"
        grep -E "FAIL|CONF [0-9]+ failures|memory|rc=" "$O/cuda-conf-ws$ws.txt" | head -8
      done ;;
    wgpu-conf)
      timeout "$(cap 90)" node $D/webgpu/conformance.mjs >"$O/wgpu-conf.txt" 2>&1; echo "rc=$?" >>"$O/wgpu-conf.txt"
      grep -E "FAIL|failures|rc=" "$O/wgpu-conf.txt" | head ;;
    wgpu-decode-wall)
      bench 90 wgpu-decode-wall $DECODE --backend-options '{"webgpu":{"timestamps":false}}' ;;
    ws-bench)
      bench 150 ws-bench-ws $CUDA_FWD --shapes L8192,L4096 --mods "$MODS" --backend-options '{"cuda":{"warpSpecializedForward":true}}'
      bench 150 ws-bench-default $CUDA_FWD --shapes L8192,L4096 --mods "$MODS" ;;
    sanitize)
      cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
      if [ -z "$cs" ]; then echo "no compute-sanitizer; CUDA tools: $(ls -d /usr/local/cuda*/bin 2>/dev/null)"; else
        timeout "$(cap 120)" "$cs" --tool memcheck --show-backtrace device $D/hbin/noop checkws >"$O/sanitize.txt" 2>&1; echo "rc=$?" >>"$O/sanitize.txt"
        grep -vE "^CHECK .* ok" "$O/sanitize.txt" | head -40
      fi ;;
    harness)
      for m in $(ls $D/hbin); do
        timeout "$(cap 120)" $D/hbin/$m check >"$O/harness-check-$m.txt" 2>&1; echo "rc=$?" >>"$O/harness-check-$m.txt"
        grep -E "FAIL|failures|rc=|rror" "$O/harness-check-$m.txt" | sed "s/^/$m: /"
      done
      for m in $(ls $D/hbin); do
        timeout "$(cap 150)" $D/hbin/$m time >"$O/harness-time-$m.txt" 2>&1; echo "rc=$?" >>"$O/harness-time-$m.txt"
        grep -E "TIME|rc=|rror" "$O/harness-time-$m.txt" | sed "s/^/$m: /"
      done ;;
    *) echo "unknown step $step" ;;
  esac
done
stamp done

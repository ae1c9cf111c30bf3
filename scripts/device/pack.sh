#!/usr/bin/env bash
# Packs one GPU-machine session into .devrun/ (git-ignored) through the repo's one bundle step
# (scripts/bundle.mjs): the bench (with kernels/ beside it: the CUDA backend reads ../kernels), the
# WebGPU conformance runner, the CUDA conformance runner with the built addon, then the harness
# binaries (nvcc, here; HARNESS_MODS, default every mod) and the Node/Dawn/Vulkan carry
# (shared/device/prepare.sh). Run from the repo root after `npm test` or a build:
#   bash scripts/device/pack.sh
# then: device run, carry [".device-carry", ".devrun"], command `bash scripts/device/run.sh`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
D=.devrun
rm -rf "$D" && mkdir -p "$D"
node scripts/bundle.mjs bench "$D/bench" --no-ort
# PACK_WEBGPU=0: a CUDA-only session (smaller carry)
[ "${PACK_WEBGPU:-1}" = 0 ] || node scripts/bundle.mjs webgpu-conformance "$D/webgpu"
[ -f packages/backend-cuda/build/Release/flexattn_cuda.node ] || npx -y pnpm@"$(node -p "require('./package.json').packageManager.split('@')[1]")" --filter @flexattn/backend-cuda build:native
# the CUDA conformance runner with kernels/ and the addon beside it (bin/flexattn_cuda.node)
node scripts/bundle.mjs cuda-conformance "$D/cconf"
# every harness mod by default (run.sh's fa3 step checks and times each); HARNESS_BIN reuses binaries built earlier
HARNESS_MODS=${HARNESS_MODS:-"noop causal swa softcap softcap_approx alibi document alibi_rc document_rc"}
if [ -n "${HARNESS_BIN:-}" ]; then mkdir -p "$D/hbin" && cp "$HARNESS_BIN"/* "$D/hbin/"; fi
make -C packages/backend-cuda/harness -j"$(nproc)" BIN="$PWD/$D/hbin" $(printf "$PWD/$D/hbin/%s " $HARNESS_MODS) >"$D/harness-build.log" 2>&1 \
  || { tail -20 "$D/harness-build.log"; exit 1; }
# shared/ sits beside the main checkout (../shared there; a worktree finds it through git's common dir)
SHARED=${FLEXATTN_SHARED:-$(cd "$(git rev-parse --git-common-dir)/.." && pwd)/../shared}
if [ -d .git ]; then
  bash "$SHARED/device/prepare.sh"
else
  # a git worktree: .git is a file, so prepare.sh's `.git/info/exclude` cannot be written; run a copy
  # that asks git whether .device-carry is ignored (.gitignore says so) instead
  tmp=$(mktemp -d)
  cp "$SHARED/device/prepare.sh" "$SHARED/device/setup.sh" "$tmp/"
  sed -i "s#^grep -qx '/.device-carry/' .git/info/exclude.*#git check-ignore -q .device-carry/ || { echo 'add .device-carry/ to .gitignore' >\&2; exit 1; }#" "$tmp/prepare.sh"
  bash "$tmp/prepare.sh"
  rm -rf "$tmp"
fi
git rev-parse --short HEAD > "$D/commit"
du -sh "$D" .device-carry

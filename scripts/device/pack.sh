#!/usr/bin/env bash
# Packs one GPU-machine session into .devrun/ (git-ignored): the bench bundle, the WebGPU device
# scripts, the CUDA conformance runner with the built addon (harness/e2e/bundle.sh), kernels/
# beside each bundle (the CUDA backend reads them from ../kernels) and the harness binaries (nvcc,
# here), then the Node/Dawn/Vulkan carry (../shared/device/prepare.sh). Run from the repo root after `npm test` or a build:
#   bash scripts/device/pack.sh
# then: device run, carry [".device-carry", ".devrun"], command `bash scripts/device/run.sh`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
D=.devrun
rm -rf "$D" && mkdir -p "$D"
node packages/bench/scripts/bundle.mjs "$D/bench/bin" --no-ort
cp -r packages/backend-cuda/kernels "$D/bench/kernels"
# PACK_WEBGPU=0: a CUDA-only session (smaller carry)
[ "${PACK_WEBGPU:-1}" = 0 ] || node packages/backend-webgpu/scripts/bundle-device.mjs "$D/webgpu"
[ -f packages/backend-cuda/build/Release/flexattn_cuda.node ] || npx -y pnpm@"$(node -p "require('./package.json').packageManager.split('@')[1]")" --filter @flexattn/backend-cuda build:native
# the CUDA conformance runner with kernels/ and the addon beside it (bin/flexattn_cuda.node)
bash packages/backend-cuda/harness/e2e/bundle.sh "$PWD/$D/cconf"
# every harness mod (run.sh's fa3 step checks and times each); HARNESS_BIN reuses binaries built earlier
if [ -n "${HARNESS_BIN:-}" ]; then mkdir -p "$D/hbin" && cp "$HARNESS_BIN"/* "$D/hbin/"; fi
make -C packages/backend-cuda/harness -j"$(nproc)" BIN="$PWD/$D/hbin" all >"$D/harness-build.log" 2>&1 \
  || { tail -20 "$D/harness-build.log"; exit 1; }
bash "${PREPARE:-../shared/device/prepare.sh}"
git rev-parse --short HEAD > "$D/commit"
du -sh "$D" .device-carry

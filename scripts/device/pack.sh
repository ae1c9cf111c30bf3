#!/usr/bin/env bash
# Packs one GPU-machine session into .devrun/ (git-ignored): the bench bundle, the WebGPU device
# scripts, the CUDA conformance runner, kernels/ beside each bundle (the CUDA backend reads them
# from ../kernels), the built addon and the harness binaries (nvcc, here), then the Node/Dawn/Vulkan
# carry (../shared/device/prepare.sh). Run from the repo root after `npm test` or a build:
#   bash scripts/device/pack.sh
# then: device run, carry [".device-carry", ".devrun"], command `bash scripts/device/run.sh`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
D=.devrun
rm -rf "$D" && mkdir -p "$D"
node packages/bench/scripts/bundle.mjs "$D/bench/bin" --no-ort
cp -r packages/backend-cuda/kernels "$D/bench/kernels"
node packages/backend-webgpu/scripts/bundle-device.mjs "$D/webgpu"
esbuild=$(ls -d node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)
"$esbuild" packages/backend-cuda/harness/e2e/conformance-real.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile="$D/cconf/bin/run.mjs" --log-level=warning \
  --alias:@flexattn/ir="$PWD/packages/ir/src/index.ts" --alias:@flexattn/mods="$PWD/packages/mods/src/index.ts" \
  --alias:@flexattn/blockmask="$PWD/packages/blockmask/src/index.ts"
cp -r packages/backend-cuda/kernels "$D/cconf/kernels"
[ -f packages/backend-cuda/build/Release/flexattn_cuda.node ] || npx -y pnpm@"$(node -p "require('./package.json').packageManager.split('@')[1]")" --filter @flexattn/backend-cuda build:native
cp packages/backend-cuda/build/Release/flexattn_cuda.node "$D/"
make -C packages/backend-cuda/harness -j"$(nproc)" BIN="$PWD/$D/hbin" "$PWD/$D/hbin/noop" "$PWD/$D/hbin/softcap_approx" >"$D/harness-build.log" 2>&1 \
  || { tail -20 "$D/harness-build.log"; exit 1; }
bash ../shared/device/prepare.sh
git rev-parse --short HEAD > "$D/commit"
du -sh "$D" .device-carry

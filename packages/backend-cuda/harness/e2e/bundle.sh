#!/usr/bin/env bash
# Bundles the conformance run against the real backend (conformance-real.ts) into one ESM file
# beside a copy of kernels/ and the built addon, for a GPU machine without node_modules:
#   harness/e2e/bundle.sh OUTDIR   then there:   FLEXATTN_CUDA_ADDON=OUTDIR/bin/flexattn_cuda.node node OUTDIR/bin/run.mjs
# and writes the trace for replay.py (CuPy) next to it.
set -euo pipefail
OUTDIR=${1:?usage: bundle.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)
ESBUILD=$(ls -d "$ROOT"/node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)
mkdir -p "$OUTDIR/bin"
"$ESBUILD" "$ROOT/packages/backend-cuda/harness/e2e/conformance-real.ts" --bundle --platform=node --format=esm --target=node20 \
  --outfile="$OUTDIR/bin/run.mjs" \
  --alias:@flexattn/ir="$ROOT/packages/ir/src/index.ts" --alias:@flexattn/mods="$ROOT/packages/mods/src/index.ts" \
  --alias:@flexattn/blockmask="$ROOT/packages/blockmask/src/index.ts"
rm -rf "$OUTDIR/kernels" && cp -r "$ROOT/packages/backend-cuda/kernels" "$OUTDIR/kernels"
cp "$ROOT/packages/backend-cuda/build/Release/flexattn_cuda.node" "$OUTDIR/bin/" 2>/dev/null || echo "note: addon not built (pnpm --filter @flexattn/backend-cuda build:native)"
(cd "$ROOT/packages/backend-cuda" && FLEXATTN_TRACE_OUT="$OUTDIR/trace.json.gz" npx vitest run harness/e2e/trace.test.ts >/dev/null)
cp "$ROOT/packages/backend-cuda/harness/e2e/replay.py" "$OUTDIR/"
echo "bundled into $OUTDIR"

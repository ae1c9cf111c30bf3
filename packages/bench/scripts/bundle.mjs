// Bundles flexattn-bench into one ESM file for the GPU machine (no node_modules there): Dawn's
// dawn.node and the CUDA addon stay outside and are found at run time ($DAWN_NODE, FLEXATTN_CUDA_ADDON).
// onnxruntime-web's JS is bundled; its WebAssembly binary (the asyncify build, which holds the WebGPU
// EP; 27 MB, 6.7 MB gzipped) is written to <outdir>/ort/, where `--peer ort` looks for it.
//
//   node scripts/bundle.mjs [outdir] [--raw-ort | --no-ort]
//     outdir     default: packages/bench/bundle
//     --raw-ort  copy ort-wasm-simd-threaded.asyncify.wasm as is (default: .wasm.gz, read with zlib)
//     --no-ort   leave ORT's binary out (`--peer ort` then needs FLEXATTN_ORT_DIR)
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const unknown = flags.filter((f) => !['--raw-ort', '--no-ort'].includes(f));
if (unknown.length) throw new Error(`unknown option(s) ${unknown.join(' ')}; usage: bundle.mjs [outdir] [--raw-ort | --no-ort]`);
const outdir = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? join(here, '..', 'bundle');
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: [join(here, '..', 'src', 'cli.ts')],
  outfile: join(outdir, 'flexattn-bench.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['source'],
  external: ['webgpu', 'playwright-core', '*.node'],
  banner: { js: "import { createRequire as __flexattnCreateRequire } from 'node:module'; const require = __flexattnCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
copyFileSync(join(here, '..', 'peer', 'torch_peer.py'), join(outdir, 'torch_peer.py'));

const WASM = 'ort-wasm-simd-threaded.asyncify.wasm';
const ortOut = join(outdir, 'ort');
rmSync(ortOut, { recursive: true, force: true });
let ortNote = 'no ORT binary (--no-ort)';
if (!flags.includes('--no-ort')) {
  const src = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-web/webgpu')), WASM);
  if (!existsSync(src)) throw new Error(`${src} is missing: is onnxruntime-web installed?`);
  mkdirSync(ortOut);
  if (flags.includes('--raw-ort')) copyFileSync(src, join(ortOut, WASM));
  else writeFileSync(join(ortOut, `${WASM}.gz`), gzipSync(readFileSync(src), { level: 9 }));
  const file = join(ortOut, flags.includes('--raw-ort') ? WASM : `${WASM}.gz`);
  ortNote = `ort/${file.split('/').pop()} (${(statSync(file).size / 2 ** 20).toFixed(1)} MiB)`;
}
const mib = (f) => (statSync(join(outdir, f)).size / 2 ** 20).toFixed(2);
console.log(`bundled into ${outdir}: flexattn-bench.mjs (${mib('flexattn-bench.mjs')} MiB), torch_peer.py, ${ortNote}`);

// The repo's one esbuild step: bundles a runnable into one ESM file for a machine without
// node_modules (the GPU machine). Workspace packages resolve through their `source` condition (TS
// sources), so nothing reaches into another package's src/ by path. Outside every bundle: Dawn's
// dawn.node (found at run time through $DAWN_NODE), the CUDA addon (FLEXATTN_CUDA_ADDON) and vitest.
//
//   node scripts/bundle.mjs TARGET OUTDIR [--raw-ort | --no-ort]
//     bench               OUTDIR/bin/flexattn-bench.mjs, OUTDIR/bin/torch_peer.py, OUTDIR/kernels/ (the CUDA
//                         backend reads ../kernels beside its file), OUTDIR/bin/ort/ (onnxruntime-web's WebGPU
//                         wasm for `--peer ort`: .wasm.gz by default, --raw-ort as is, --no-ort none)
//     webgpu-conformance  OUTDIR/conformance.mjs (the ir's conformance suite through Dawn)
//     cuda-conformance    OUTDIR/bin/run.mjs (the suite through the CUDA addon), OUTDIR/bin/fuzz.mjs (ir's fuzz properties, bad device tensors, a leak check), OUTDIR/bin/flexattn_cuda.node
//                         (when built), OUTDIR/kernels/, OUTDIR/trace.json.gz + replay.py (the CuPy replay)
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = (name, ...rest) => join(root, 'packages', name, ...rest);
const USAGE = 'usage: node scripts/bundle.mjs bench|webgpu-conformance|cuda-conformance OUTDIR [--raw-ort | --no-ort]';

/**
 * One ESM file for Node 20 from a TS entry point. `inline` names packages of the default external
 * list to bundle anyway: a runner that needs them where no node_modules exist (the GPU machine).
 */
async function bundle(entry, outfile, { inline = [] } = {}) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    // vitest and fast-check load only under vitest, unless the entry runs its properties itself
    external: ['webgpu', 'playwright-core', 'vitest', 'fast-check', '*.node'].filter((name) => !inline.includes(name)),
    // bundled CommonJS (and createRequire users) need `require` in an ES module
    banner: { js: "import { createRequire as __flexattnCreateRequire } from 'node:module'; const require = __flexattnCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  checkLazyInits(outfile);
  return outfile;
}

/**
 * esbuild wraps modules reached through a dynamic import (the bench's backend registry) in lazy
 * `init_x()` initialisers; where it never emits the call, the module's top-level values stay
 * undefined in the bundle while its function declarations work — a bundle-only failure the tests
 * (which run the packages' own builds) cannot see. Refuse such a bundle: an initialiser that is never
 * called may hold nothing but calls of other initialisers.
 */
function checkLazyInits(file) {
  const text = readFileSync(file, 'utf8');
  const lazy = /var (init_\w+) = __esm\(\{\n\s*"([^"]+)"\(\) \{\n([\s\S]*?)\n\s*\}\n\}\);/g;
  const broken = [];
  for (const [, name, path, body] of text.matchAll(lazy)) {
    const idle = body.split('\n').every((l) => /^\s*("use strict";|init_\w+\(\);)?\s*$/.test(l));
    if (!idle && !text.includes(`${name}()`)) broken.push(path);
  }
  if (broken.length) {
    throw new Error(`${file}: esbuild never initialises ${broken.join(', ')} (top-level values would be undefined): make them function declarations or import the module statically`);
  }
}

const mib = (file) => `${(statSync(file).size / 2 ** 20).toFixed(2)} MiB`;

/** onnxruntime-web's asyncify build (its WebGPU execution provider) for `--peer ort`. */
function copyOrt(outdir, mode) {
  const WASM = 'ort-wasm-simd-threaded.asyncify.wasm';
  const ortOut = join(outdir, 'ort');
  rmSync(ortOut, { recursive: true, force: true });
  if (mode === 'none') return 'no ORT binary (--no-ort)';
  const src = join(dirname(createRequire(pkg('bench', 'package.json')).resolve('onnxruntime-web/webgpu')), WASM);
  if (!existsSync(src)) throw new Error(`${src} is missing: is onnxruntime-web installed?`);
  mkdirSync(ortOut);
  const file = join(ortOut, mode === 'raw' ? WASM : `${WASM}.gz`);
  if (mode === 'raw') copyFileSync(src, file);
  else writeFileSync(file, gzipSync(readFileSync(src), { level: 9 }));
  return `ort/${file.split('/').pop()} (${mib(file)})`;
}

const targets = {
  async bench(outdir, flags) {
    const bin = join(outdir, 'bin');
    mkdirSync(bin, { recursive: true });
    const file = await bundle(pkg('bench', 'src', 'cli.ts'), join(bin, 'flexattn-bench.mjs'));
    copyFileSync(pkg('bench', 'peer', 'torch_peer.py'), join(bin, 'torch_peer.py'));
    cpSync(pkg('backend-cuda', 'kernels'), join(outdir, 'kernels'), { recursive: true });
    const ort = copyOrt(bin, flags.includes('--no-ort') ? 'none' : flags.includes('--raw-ort') ? 'raw' : 'gzip');
    return `bin/flexattn-bench.mjs (${mib(file)}), bin/torch_peer.py, kernels/, ${ort}`;
  },
  async 'webgpu-conformance'(outdir) {
    mkdirSync(outdir, { recursive: true });
    const file = await bundle(pkg('backend-webgpu', 'scripts', 'conformance-device.ts'), join(outdir, 'conformance.mjs'));
    return `conformance.mjs (${mib(file)})`;
  },
  async 'cuda-conformance'(outdir) {
    const bin = join(outdir, 'bin');
    mkdirSync(bin, { recursive: true });
    await bundle(pkg('backend-cuda', 'harness', 'e2e', 'conformance-real.ts'), join(bin, 'run.mjs'));
    await bundle(pkg('backend-cuda', 'harness', 'e2e', 'fuzz-real.ts'), join(bin, 'fuzz.mjs'), { inline: ['fast-check'] });
    cpSync(pkg('backend-cuda', 'kernels'), join(outdir, 'kernels'), { recursive: true });
    const addon = pkg('backend-cuda', 'build', 'Release', 'flexattn_cuda.node');
    const addonNote = existsSync(addon) ? (copyFileSync(addon, join(bin, 'flexattn_cuda.node')), 'bin/flexattn_cuda.node') : 'no addon (pnpm --filter @flexattn/backend-cuda build:native)';
    // the recorded trace of the TS backend that replay.py runs through CuPy on the GPU
    const trace = spawnSync('npx', ['vitest', 'run', 'harness/e2e/trace.test.ts'], {
      cwd: pkg('backend-cuda'), env: { ...process.env, FLEXATTN_TRACE_OUT: join(outdir, 'trace.json.gz') }, stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (trace.status !== 0) throw new Error('recording the CUDA trace (harness/e2e/trace.test.ts) failed');
    copyFileSync(pkg('backend-cuda', 'harness', 'e2e', 'replay.py'), join(outdir, 'replay.py'));
    return `bin/run.mjs, bin/fuzz.mjs, kernels/, ${addonNote}, trace.json.gz, replay.py`;
  },
};

const [target, outArg, ...flags] = process.argv.slice(2);
const unknownFlags = flags.filter((f) => !['--raw-ort', '--no-ort'].includes(f));
if (!targets[target] || !outArg || unknownFlags.length) {
  console.error(unknownFlags.length ? `unknown option(s) ${unknownFlags.join(' ')}; ${USAGE}` : USAGE);
  process.exit(2);
}
const outdir = resolve(outArg);
console.log(`bundled ${target} into ${outdir}: ${await targets[target](outdir, flags)}`);

// Bundles flexattn-bench into one ESM file for the GPU machine (no node_modules there): Dawn's
// dawn.node and the CUDA addon stay outside and are found at run time ($DAWN_NODE, FLEXATTN_CUDA_ADDON).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] ?? join(here, '..', 'bundle');
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
console.log(`bundled into ${outdir}`);

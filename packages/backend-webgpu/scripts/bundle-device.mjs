// Bundles the device scripts into ESM files for the GPU machine (no node_modules there):
//   sweep.ts → sweep.mjs (tuning sweep, decode diagnostics), conformance-device.ts → conformance.mjs.
// Dawn's dawn.node stays outside and is found at run time ($DAWN_NODE, else the `webgpu` package).
// Usage: node scripts/bundle-device.mjs [outdir]   (default: packages/backend-webgpu/build, git- and lint-ignored: carry it)
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] ?? join(here, '..', 'build');
mkdirSync(outdir, { recursive: true });
const scripts = { sweep: 'sweep.ts', conformance: 'conformance-device.ts' };
for (const [name, entry] of Object.entries(scripts)) {
  await build({
    entryPoints: [join(here, entry)],
    outfile: join(outdir, `${name}.mjs`),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    external: ['webgpu', 'vitest', 'fast-check', '*.node'], // vitest and fast-check load only under vitest
    banner: { js: "import { createRequire as __flexattnCreateRequire } from 'node:module'; const require = __flexattnCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}
console.log(`bundled into ${outdir}: ${Object.keys(scripts).map((n) => `${n}.mjs`).join(', ')}`);

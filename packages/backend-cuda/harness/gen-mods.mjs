// Writes the harness's mod headers (gen/<mod>.h) from the kernel-hook plan: the backend's own
// rendering of each catalogue mod plus its float64 host reference (src/harness-mods.ts, built into
// dist/ by the package build). Usage: node gen-mods.mjs OUTDIR  (the Makefile runs it).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) throw new Error('usage: node gen-mods.mjs OUTDIR');
let gen;
try {
  gen = await import('../dist/harness-mods.js');
} catch (err) {
  throw new Error(`dist/harness-mods.js is missing: build the package first (pnpm exec turbo run build --filter=@flexattn/backend-cuda)\n${err}`);
}
mkdirSync(out, { recursive: true });
for (const m of gen.harnessMods()) {
  const file = join(out, `${m.name}.h`);
  const header = gen.renderHarnessMod(m).header;
  // unchanged headers keep their timestamps: make rebuilds only the binaries whose mod changed
  if (!existsSync(file) || readFileSync(file, 'utf8') !== header) writeFileSync(file, header);
}

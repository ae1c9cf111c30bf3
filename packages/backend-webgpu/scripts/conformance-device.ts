/**
 * The ir's conformance suite on a real GPU through Dawn (the "the same conformance suite
 * passes on the H100"): the same cases, dtypes and kernel variants as src/conformance.test.ts runs
 * on lavapipe, as a plain Node script (bundled: the GPU machine has no node_modules).
 *   default                    every case, forward + backward (incl. captured-tensor gradients)
 *   no-subgroups               every case, forward (the workgroup-memory reductions)
 *   no-hoist                   every case, forward (partial tiles: mods per element)
 *   split-KV decode kernel     the cases it applies to, forward (programs/decode.ts, register prefetch)
 *   decode no prefetch         the same cases, forward (its plain form)
 *   split-KV forward template  the same cases, forward (its fallback)
 * One `CONF PASS|FAIL <dtype> <pass> <check> <variant>: <case> {maxAbs, maxRel}` line per check,
 * then `CONF <n> failures`; exit code 0 all passed, 1 failures, 2 no device / crash.
 *
 * Bundle: node scripts/bundle.mjs webgpu-conformance OUTDIR   (at the repo root → OUTDIR/conformance.mjs)
 * Run:    DAWN_NODE=/path/to/dawn.node node OUTDIR/conformance.mjs [--out DIR]
 * Env:    CONF_FILTER=<regex on case names> (e.g. 'noop|causal'), CONF_DTYPES=f32[,f16,bf16]
 *         (default f32, as the lavapipe suite: f16/bf16 are widened to f32 on the host),
 *         CONF_VARIANTS=<regex on variant names> (default all).
 * --out DIR: also writes DIR/conformance.json (every check with its figures).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DType } from '@flexattn/ir';
import { runConformance, type ConformanceCase, type ConformanceRunRecord } from '@flexattn/ir/testing';
import { acquireDevice, WebGPUBackend, type GpuContext, type WebGPUBackendOptions } from '../src/index.js';
import { loadGpu } from './load-gpu.js';

interface Variant {
  name: string;
  options: WebGPUBackendOptions;
  backward: boolean;
  applies?: (c: ConformanceCase) => boolean;
}

// as conformance.test.ts: few query rows per kv head, and a mask table shared by the heads
const decodable = (c: ConformanceCase) => c.Lq * (c.Hq / c.Hkv) <= 16 && (c.mask === undefined || (c.mask().H ?? 1) === 1);

const VARIANTS: Variant[] = [
  { name: 'default', options: {}, backward: true },
  { name: 'no-subgroups', options: { subgroups: false }, backward: false },
  { name: 'no-hoist', options: { tuning: { forward: { hoist: false } } }, backward: false },
  { name: 'split-KV decode kernel', options: { splitKv: true }, backward: false, applies: decodable },
  { name: 'decode no prefetch', options: { splitKv: true, tuning: { decode: { prefetch: false } } }, backward: false, applies: decodable },
  { name: 'split-KV forward template', options: { splitKv: true, tuning: { decode: { kernel: 'tiles' } } }, backward: false, applies: decodable },
];

function pattern(env: string | undefined): RegExp | undefined {
  if (!env) return undefined;
  try {
    return new RegExp(env, 'i');
  } catch (e) {
    throw new Error(`not a regular expression: ${JSON.stringify(env)} (${(e as Error).message})`);
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const outDir = outAt >= 0 ? args[outAt + 1] : undefined;
  const caseFilter = pattern(process.env.CONF_FILTER);
  const variantFilter = pattern(process.env.CONF_VARIANTS);
  const dtypes = (process.env.CONF_DTYPES ?? 'f32').split(',').map((d) => d.trim()) as DType[];
  const bad = dtypes.filter((d) => !['f32', 'f16', 'bf16'].includes(d));
  if (bad.length) throw new Error(`CONF_DTYPES: unknown dtype(s) ${bad.join(', ')} (f32, f16, bf16)`);

  const { gpu, source } = await loadGpu();
  const ctx: GpuContext = await acquireDevice({ gpu });
  const shared: GpuContext = { ...ctx, owned: false };
  const probe = new WebGPUBackend(shared);
  console.log(`CONF device: ${probe.deviceDescription} (dawn.node: ${source})`);
  probe.dispose();

  const records: ConformanceRunRecord[] = [];
  let failures = 0;
  const t0 = Date.now();
  for (const v of VARIANTS) {
    if (variantFilter && !variantFilter.test(v.name)) continue;
    const be = new WebGPUBackend(shared, v.options);
    try {
      const r = await runConformance(be, {
        dtypes,
        backward: v.backward,
        label: v.name,
        filter: (c) => (v.applies?.(c) ?? true) && (!caseFilter || caseFilter.test(c.name)),
      });
      records.push(...r.records);
      failures += r.failures;
      console.log(`CONF variant '${v.name}': ${r.records.length} checks, ${r.failures} failures, ${r.seconds.toFixed(1)} s`);
    } finally {
      be.dispose();
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'conformance.json'), JSON.stringify({ date: new Date().toISOString(), device: ctx.adapterName, dtypes, seconds, failures, records }, null, 1));
  }
  console.log(`CONF elapsed ${seconds.toFixed(1)} s`);
  console.log(`CONF ${failures} failures${records.length ? '' : ' (no checks ran: CONF_FILTER / CONF_VARIANTS matched nothing)'}`);
  ctx.device.destroy();
  return failures || !records.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`CONF FATAL ${(e as Error).stack ?? e}`);
    process.exit(2);
  },
);

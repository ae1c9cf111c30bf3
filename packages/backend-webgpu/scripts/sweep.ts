/**
 * Tuning sweep for the GPU machine: one Dawn device, one backend per variant (`tuning`), each
 * checked against the float64 reference on a reduced shape that uses the same pipelines, checked
 * against the group's first variant on the full shape (max abs diff), then timed with `measure()`
 * (GPU timestamps where the device has them) at the issue's shapes:
 *   decode  B8 Hq32/Hkv8 Lq1 Lkv8192 D128 (noop) — GB/s of f32 K+V read
 *   fwd64   B4 H16 L4096 D64, noop and causal (BlockMask block 128) — useful TFLOP/s
 *   fwd128  B2 H16 L8192 D128, noop and causal
 *
 * Bundle: node scripts/bundle-sweep.mjs [outdir]    (→ build/sweep.mjs)
 * Run:    DAWN_NODE=/path/to/dawn.node node build/sweep.mjs --out $OUT [--small] [--only decode,fwd64]
 *         [--iters 5] [--budget 220] [--limit N] [--variants '[{"group":"decode","name":"x","tuning":{"decode":{"lanes":16}}}]']
 * --budget: seconds after which no further variant starts (the rest are listed as skipped);
 * --limit: the first N built-in variants of each group only (a local smoke test: lavapipe compiles
 * slowly); --variants are added after, whatever --limit says.
 * Writes only <out>/sweep.json (and nothing without --out). --small: tiny shapes (lavapipe).
 */
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toFloat64, traceMaskMod, type BlockMask, type FlexAttentionOptions, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { createBlockMask } from '@flexattn/blockmask';
import { acquireDevice, DAWN_FLAGS, WebGPUBackend, type GpuContext, type GpuTensor, type Tuning } from '../src/index.js';

type Group = 'decode' | 'fwd64' | 'fwd128';
interface Variant {
  group: Group;
  name: string;
  tuning: Tuning;
}
interface Shape { B: number; Hq: number; Hkv: number; Lq: number; Lkv: number; E: number; Ev: number }

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const small = flag('small');
const outDir = opt('out');
const iters = Number(opt('iters') ?? 5);
const only = opt('only')?.split(',') as Group[] | undefined;
/** at most this many variants per group (local smoke tests) */
const limit = Number(opt('limit') ?? Infinity);
/** seconds after which no further variant starts (the rest are listed as skipped) */
const budget = Number(opt('budget') ?? 220);
const log = (...a: unknown[]) => console.log(...a);

// ---------- variants ----------
function variants(): Variant[] {
  const v: Variant[] = [];
  const dec = (name: string, decode: NonNullable<Tuning['decode']>) => v.push({ group: 'decode', name, tuning: { decode } });
  dec('auto', {});
  dec('tiles (split-mode template, before)', { kernel: 'tiles' });
  for (const lanes of [8, 16, 32]) {
    for (const keysPerStep of [1, 2, 4]) {
      for (const workgroupSize of [128, 256]) dec(`lanes${lanes} U${keysPerStep} NT${workgroupSize}`, { lanes, keysPerStep, workgroupSize });
    }
  }
  dec('lanes16 U2 NT64', { lanes: 16, keysPerStep: 2, workgroupSize: 64 });
  for (const targetWorkgroups of [512, 1024, 4096, 8192]) dec(`auto target${targetWorkgroups}`, { targetWorkgroups });
  for (const tile of [32, 128]) dec(`auto tile${tile}`, { tile });
  dec('auto minKeys1024', { minKeysPerSplit: 1024, targetWorkgroups: 512 });

  const fwd = (group: Group, name: string, forward: NonNullable<Tuning['forward']>) => v.push({ group, name, tuning: { forward } });
  fwd('fwd64', 'auto', {});
  fwd('fwd64', 'auto rows-order', { order: 'rows' });
  fwd('fwd64', '64x32 8x16', { BR: 64, BC: 32, TX: 8, TY: 16 });
  fwd('fwd64', '64x32 16x8 no-subgroups', { BR: 64, BC: 32, TX: 16, TY: 8, subgroups: false });
  fwd('fwd64', '32x32 8x8', { BR: 32, BC: 32, TX: 8, TY: 8 });
  fwd('fwd64', '64x16 8x8', { BR: 64, BC: 16, TX: 8, TY: 8 });
  fwd('fwd64', '32x64 16x4', { BR: 32, BC: 64, TX: 16, TY: 4 });
  fwd('fwd64', '64x32 16x8 kvShared', { BR: 64, BC: 32, TX: 16, TY: 8, kvShared: true });
  fwd('fwd64', '64x32 16x8 kvShared prefetchV', { BR: 64, BC: 32, TX: 16, TY: 8, kvShared: true, prefetchV: true });
  fwd('fwd128', 'auto', {});
  fwd('fwd128', 'auto rows-order', { order: 'rows' });
  fwd('fwd128', '64x8 8x8', { BR: 64, BC: 8, TX: 8, TY: 8 });
  fwd('fwd128', '16x32 8x4', { BR: 16, BC: 32, TX: 8, TY: 4 });
  fwd('fwd128', '32x16 16x4', { BR: 32, BC: 16, TX: 16, TY: 4 });
  fwd('fwd128', '32x16 4x16', { BR: 32, BC: 16, TX: 4, TY: 16 });
  fwd('fwd128', '48x16 8x8', { BR: 48, BC: 16, TX: 8, TY: 8 });
  fwd('fwd128', '32x32 8x8 kvShared', { BR: 32, BC: 32, TX: 8, TY: 8, kvShared: true });
  fwd('fwd128', '32x32 8x8 kvShared prefetchV', { BR: 32, BC: 32, TX: 8, TY: 8, kvShared: true, prefetchV: true });
  fwd('fwd128', '32x32 16x4 kvShared', { BR: 32, BC: 32, TX: 16, TY: 4, kvShared: true });
  fwd('fwd128', '64x16 8x16 kvShared', { BR: 64, BC: 16, TX: 8, TY: 16, kvShared: true });
  fwd('fwd128', '64x16 8x16 kvShared prefetchV', { BR: 64, BC: 16, TX: 8, TY: 16, kvShared: true, prefetchV: true });
  // --limit cuts the built-in list per group; --variants always run
  const counts = new Map<Group, number>();
  const kept = v.filter((x) => {
    const n = (counts.get(x.group) ?? 0) + 1;
    counts.set(x.group, n);
    return n <= limit;
  });
  const extra = opt('variants');
  if (extra) kept.push(...(JSON.parse(extra) as Variant[]));
  return kept.filter((x) => !only || only.includes(x.group));
}

// ---------- shapes ----------
const SHAPES: Record<Group, { full: Shape; reduced: Shape; mods: ('noop' | 'causal')[] }> = small
  ? {
      decode: { full: { B: 2, Hq: 8, Hkv: 2, Lq: 1, Lkv: 1024, E: 128, Ev: 128 }, reduced: { B: 1, Hq: 4, Hkv: 1, Lq: 1, Lkv: 300, E: 128, Ev: 128 }, mods: ['noop'] },
      fwd64: { full: { B: 1, Hq: 2, Hkv: 2, Lq: 256, Lkv: 256, E: 64, Ev: 64 }, reduced: { B: 1, Hq: 1, Hkv: 1, Lq: 130, Lkv: 130, E: 64, Ev: 64 }, mods: ['noop', 'causal'] },
      fwd128: { full: { B: 1, Hq: 2, Hkv: 2, Lq: 256, Lkv: 256, E: 128, Ev: 128 }, reduced: { B: 1, Hq: 1, Hkv: 1, Lq: 130, Lkv: 130, E: 128, Ev: 128 }, mods: ['noop', 'causal'] },
    }
  : {
      decode: { full: { B: 8, Hq: 32, Hkv: 8, Lq: 1, Lkv: 8192, E: 128, Ev: 128 }, reduced: { B: 2, Hq: 8, Hkv: 2, Lq: 1, Lkv: 777, E: 128, Ev: 128 }, mods: ['noop'] },
      fwd64: { full: { B: 4, Hq: 16, Hkv: 16, Lq: 4096, Lkv: 4096, E: 64, Ev: 64 }, reduced: { B: 1, Hq: 2, Hkv: 2, Lq: 300, Lkv: 300, E: 64, Ev: 64 }, mods: ['noop', 'causal'] },
      fwd128: { full: { B: 2, Hq: 16, Hkv: 16, Lq: 8192, Lkv: 8192, E: 128, Ev: 128 }, reduced: { B: 1, Hq: 2, Hkv: 2, Lq: 300, Lkv: 300, E: 128, Ev: 128 }, mods: ['noop', 'causal'] },
    };

function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}
const tensor = (shape: number[], seed: number): Tensor => ({ data: fill(shape.reduce((a, b) => a * b, 1), seed), shape, dtype: 'f32' }) as Tensor;
const inputs = (s: Shape, seed: number) => ({
  q: tensor([s.B, s.Hq, s.Lq, s.E], seed),
  k: tensor([s.B, s.Hkv, s.Lkv, s.E], seed + 1),
  v: tensor([s.B, s.Hkv, s.Lkv, s.Ev], seed + 2),
});

const masks = new Map<string, BlockMask>();
function options(mod: 'noop' | 'causal', s: Shape): FlexAttentionOptions {
  const o: FlexAttentionOptions = { enableGqa: s.Hq !== s.Hkv, returnLse: true };
  if (mod === 'causal') {
    const key = `${s.Lq}x${s.Lkv}`;
    let m = masks.get(key);
    if (!m) masks.set(key, (m = createBlockMask(traceMaskMod((_b, _h, q, kv) => q.ge(kv), { name: 'causal' }), { qLen: s.Lq, kvLen: s.Lkv, blockSize: 128 })));
    o.blockMask = m;
  }
  return o;
}
const density = (mod: 'noop' | 'causal', s: Shape) => (mod === 'noop' ? 1 : (s.Lkv * (s.Lkv + 1)) / 2 / (s.Lq * s.Lkv));

function maxAbsDiff(a: Float32Array, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
function relErr(a: Float32Array, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x === y) continue;
    const e = Number.isFinite(x) && Number.isFinite(y) ? Math.abs(x - y) / (1 + Math.abs(y)) : Infinity;
    m = Math.max(m, e);
  }
  return m;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function loadGpu(): Promise<GPU> {
  let dawn: { create(o: string[]): GPU; globals: object };
  if (process.env.DAWN_NODE) dawn = createRequire(import.meta.url)(process.env.DAWN_NODE) as typeof dawn;
  else {
    const name = 'webgpu';
    dawn = (await import(/* @vite-ignore */ name)) as typeof dawn;
  }
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return dawn.create([...DAWN_FLAGS]);
}

async function main() {
  const t0 = performance.now();
  const result: Record<string, unknown> = { date: new Date().toISOString(), small, iters };
  const rows: Record<string, unknown>[] = [];
  result.rows = rows;
  const save = () => {
    if (!outDir) return;
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'sweep.json'), JSON.stringify(result, null, 1));
  };
  const ctx: GpuContext = await acquireDevice({ gpu: await loadGpu() });
  const shared: GpuContext = { ...ctx, owned: false };
  const probe = new WebGPUBackend(shared);
  result.device = probe.deviceDescription;
  result.caps = ctx.caps;
  log(`${probe.deviceDescription}; timer: ${probe.timestamps ? 'gpu-timestamps (falls back to wall if invalid)' : 'wall'}`);
  probe.dispose();
  const ref = createReferenceBackend();

  const all = variants();
  for (const group of ['decode', 'fwd64', 'fwd128'] as Group[]) {
    const vs = all.filter((x) => x.group === group);
    if (!vs.length) continue;
    const sh = SHAPES[group];
    log(`\n== ${group}: full ${JSON.stringify(sh.full)}, reduced ${JSON.stringify(sh.reduced)}`);
    const small0 = inputs(sh.reduced, 11);
    const full = inputs(sh.full, 21);
    const refs = new Map<string, ArrayLike<number>>();
    for (const mod of sh.mods) {
      const r = await ref.flexAttention(small0.q, small0.k, small0.v, options(mod, sh.reduced));
      refs.set(mod, toFloat64(r.out));
    }
    const baseline = new Map<string, Float32Array>();
    for (const variant of vs) {
      if ((performance.now() - t0) / 1000 > budget) {
        rows.push({ group, variant: variant.name, skipped: 'time budget' });
        log(`${group.padEnd(6)} ${variant.name.padEnd(36)} skipped (past --budget ${budget} s)`);
        continue;
      }
      const be = new WebGPUBackend(shared, { tuning: variant.tuning });
      try {
        for (const mod of sh.mods) {
          const row: Record<string, unknown> = { group, variant: variant.name, mod, tuning: variant.tuning };
          rows.push(row);
          try {
            // correctness: reduced shape vs float64, full shape vs the group's first variant
            const o = options(mod, sh.reduced);
            const got = await be.flexAttention(small0.q, small0.k, small0.v, o);
            row.refErr = relErr(got.out.data as Float32Array, refs.get(mod)!);
            const fo = options(mod, sh.full);
            if (group === 'decode') {
              // the full decode shape's splits differ from the reduced one's: compare with the first variant
              const g: GpuTensor[] = [be.toGpu(full.q), be.toGpu(full.k), be.toGpu(full.v)];
              const fr = await be.flexAttention(g[0]!, g[1]!, g[2]!, fo);
              const out = (await be.toHost(fr.out)).data as Float32Array;
              [...g, fr.out, fr.lse!].forEach((t) => be.release(t));
              const base = baseline.get(mod);
              if (!base) baseline.set(mod, out);
              row.diffVsFirst = base ? maxAbsDiff(out, base) : 0;
            }
            // timing
            const m = await be.measure(full.q, full.k, full.v, fo, { pass: 'fwd', warmup: 2, iterations: iters });
            const ms = median(m.ms);
            row.ms = ms;
            row.timer = m.timer;
            const s = sh.full;
            if (group === 'decode') row.gbps = (s.B * s.Hkv * s.Lkv * (s.E + s.Ev) * 4) / (ms * 1e6);
            else row.tflops = (2 * s.B * s.Hq * s.Lq * s.Lkv * (s.E + s.Ev) * density(mod, s)) / (ms * 1e9);
            const ok = (row.refErr as number) < 2e-4 && ((row.diffVsFirst as number | undefined) ?? 0) < 1e-3;
            row.ok = ok;
            log(
              `${group.padEnd(6)} ${variant.name.padEnd(36)} ${mod.padEnd(6)} ${ms.toFixed(4).padStart(9)} ms  ` +
                (group === 'decode' ? `${(row.gbps as number).toPrecision(4).padStart(6)} GB/s` : `${(row.tflops as number).toPrecision(3).padStart(6)} TFLOP/s`) +
                `  ${m.timer}  ref ${(row.refErr as number).toExponential(1)}` +
                (row.diffVsFirst !== undefined ? ` vs-first ${(row.diffVsFirst as number).toExponential(1)}` : '') +
                (ok ? '' : '  WRONG'),
            );
          } catch (e) {
            row.error = (e as Error).message.slice(0, 500);
            log(`${group.padEnd(6)} ${variant.name.padEnd(36)} ${mod.padEnd(6)} ERROR ${row.error}`);
          }
          save();
        }
      } finally {
        be.dispose();
      }
    }
  }
  result.seconds = (performance.now() - t0) / 1000;
  save();
  log(`\ndone in ${(result.seconds as number).toFixed(1)} s${outDir ? `; ${join(outDir, 'sweep.json')}` : ''}`);
  ctx.device.destroy();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

/**
 * Tuning sweep for the GPU machine: one Dawn device, one backend per variant (`tuning`), each
 * checked against the float64 reference on a reduced shape that uses the same pipelines, checked
 * against the group's first variant on the full shape (decode: max abs diff), then timed with
 * `measure()` (GPU timestamps where the device has them) at the issue's shapes:
 *   decode  B8 Hq32/Hkv8 Lq1 Lkv8192 D128 (noop) — GB/s of f32 K+V read
 *   fwd64   B4 H16 L4096 D64 — useful TFLOP/s (mods: --mods, default noop,causal,document)
 *   fwd128  B2 H16 L8192 D128 — useful TFLOP/s (default noop,causal)
 * The full-shape inputs are uploaded once per group and every variant is timed on those same
 * buffers; the group's first variant is timed again at the end (a control for drift).
 *
 * Bundle: node scripts/bundle-device.mjs [outdir]    (→ build/sweep.mjs, build/conformance.mjs)
 * Run:    DAWN_NODE=/path/to/dawn.node node build/sweep.mjs --out $OUT [--small] [--only fwd64,decode (in this order)]
 *         [--mods noop,causal,document] [--iters 5] [--budget 220] [--limit N] [--match REGEX]
 *         [--variants '[{"group":"decode","name":"x","tuning":{"decode":{"lanes":16}}}]']
 *         node build/sweep.mjs --diag [--out $OUT] [--small]     (decode diagnostics only: decode-diag.ts)
 * --mods: the fwd groups' mods (noop, causal, document, alibi, softcap, relpos,
 *         sliding_window_causal, prefix_lm, softcap_causal; as flexattn-bench defines them);
 * --budget: seconds after which no further variant starts (the rest are listed as skipped);
 * --limit: the first N built-in variants of each group only; --match: built-in variants whose name
 * matches; --variants are added after, whatever --limit and --match say.
 * Writes only <out>/sweep.json or <out>/decode-diag.json (nothing without --out). --small: tiny shapes (lavapipe).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toFloat64, type FlexAttentionOptions, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { acquireDevice, WebGPUBackend, type GpuContext, type GpuTensor } from '../src/index.js';
import { decodeDiag } from './decode-diag.js';
import { formatClocks, startClockLog, type ClockLog } from './gpu-clocks.js';
import { loadGpu } from './load-gpu.js';
import { modCase, parseMods, type ModName } from './sweep-mods.js';
import { builtinVariants, GROUPS, type Group, type Variant } from './sweep-variants.js';

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
/** at most this many built-in variants per group (local smoke tests) */
const limit = Number(opt('limit') ?? Infinity);
/** seconds after which no further variant starts (the rest are listed as skipped) */
const budget = Number(opt('budget') ?? 220);
const log = (...a: unknown[]) => console.log(...a);
/** GPU clocks in the background (nvidia-smi), for every timed row and diagnostic line */
const clocks: ClockLog = startClockLog(20);

function variants(): Variant[] {
  const match = opt('match') ? new RegExp(opt('match')!, 'i') : undefined;
  // --limit and --match cut the built-in list per group; --variants always run
  const counts = new Map<Group, number>();
  const kept = builtinVariants().filter((x) => {
    if (match && !match.test(x.name)) return false;
    const n = (counts.get(x.group) ?? 0) + 1;
    counts.set(x.group, n);
    return n <= limit;
  });
  const extra = opt('variants');
  if (extra) kept.push(...(JSON.parse(extra) as Variant[]));
  return kept.filter((x) => !only || only.includes(x.group));
}

// ---------- shapes ----------
const fwdMods = opt('mods') ? parseMods(opt('mods')!) : undefined;
const SHAPES: Record<Group, { full: Shape; reduced: Shape; mods: ModName[] }> = small
  ? {
      decode: { full: { B: 2, Hq: 8, Hkv: 2, Lq: 1, Lkv: 1024, E: 128, Ev: 128 }, reduced: { B: 1, Hq: 4, Hkv: 1, Lq: 1, Lkv: 300, E: 128, Ev: 128 }, mods: ['noop'] },
      fwd64: { full: { B: 1, Hq: 2, Hkv: 2, Lq: 256, Lkv: 256, E: 64, Ev: 64 }, reduced: { B: 1, Hq: 1, Hkv: 1, Lq: 130, Lkv: 130, E: 64, Ev: 64 }, mods: fwdMods ?? ['noop', 'causal', 'document'] },
      fwd128: { full: { B: 1, Hq: 2, Hkv: 2, Lq: 256, Lkv: 256, E: 128, Ev: 128 }, reduced: { B: 1, Hq: 1, Hkv: 1, Lq: 130, Lkv: 130, E: 128, Ev: 128 }, mods: fwdMods ?? ['noop', 'causal'] },
    }
  : {
      decode: { full: { B: 8, Hq: 32, Hkv: 8, Lq: 1, Lkv: 8192, E: 128, Ev: 128 }, reduced: { B: 2, Hq: 8, Hkv: 2, Lq: 1, Lkv: 777, E: 128, Ev: 128 }, mods: ['noop'] },
      fwd64: { full: { B: 4, Hq: 16, Hkv: 16, Lq: 4096, Lkv: 4096, E: 64, Ev: 64 }, reduced: { B: 1, Hq: 2, Hkv: 2, Lq: 300, Lkv: 300, E: 64, Ev: 64 }, mods: fwdMods ?? ['noop', 'causal', 'document'] },
      fwd128: { full: { B: 2, Hq: 16, Hkv: 16, Lq: 8192, Lkv: 8192, E: 128, Ev: 128 }, reduced: { B: 1, Hq: 2, Hkv: 2, Lq: 300, Lkv: 300, E: 128, Ev: 128 }, mods: fwdMods ?? ['noop', 'causal'] },
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

async function runDiag(ctx: GpuContext, result: Record<string, unknown>) {
  const s = SHAPES.decode.full;
  const host = inputs(s, 21);
  // ~100 ms of GPU time per measurement at the full shape: several clock samples each
  const n = small ? 8 : 400;
  log(`\n== decode diagnostics: ${JSON.stringify(s)}, ${n} calls per measurement`);
  result.diag = await decodeDiag({ ctx: { ...ctx, owned: false }, shape: s, host, n, churnMiB: small ? 8 : 512, clocks, log });
}

async function runGroup(group: Group, vs: Variant[], shared: GpuContext, t0: number, rows: Record<string, unknown>[], save: () => void) {
  const ref = createReferenceBackend();
  const sh = SHAPES[group];
  log(`\n== ${group}: full ${JSON.stringify(sh.full)}, reduced ${JSON.stringify(sh.reduced)}, mods ${sh.mods.join(',')}`);
  const small0 = inputs(sh.reduced, 11);
  const refs = new Map<string, ArrayLike<number>>();
  for (const mod of sh.mods) {
    const r = await ref.flexAttention(small0.q, small0.k, small0.v, modCase(mod, sh.reduced).options);
    refs.set(mod, toFloat64(r.out));
  }
  // the full-shape inputs live on the device once, for every variant (no allocation churn between them)
  const holder = new WebGPUBackend(shared);
  const host = inputs(sh.full, 21);
  const full = { q: holder.toGpu(host.q), k: holder.toGpu(host.k), v: holder.toGpu(host.v) };
  const baseline = new Map<string, Float32Array>();
  const runs = vs.length ? [...vs, { ...vs[0]!, name: `${vs[0]!.name} (again: control)` }] : [];
  try {
    for (const variant of runs) {
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
            await timeOne(be, group, mod, sh, small0, refs.get(mod)!, full, baseline, row);
          } catch (e) {
            row.error = (e as Error).message.slice(0, 500);
            log(`${group.padEnd(6)} ${variant.name.padEnd(36)} ${mod.padEnd(21)} ERROR ${row.error}`);
          }
          save();
        }
      } finally {
        be.dispose();
      }
    }
  } finally {
    holder.dispose();
  }
}

async function timeOne(
  be: WebGPUBackend,
  group: Group,
  mod: ModName,
  sh: (typeof SHAPES)[Group],
  small0: ReturnType<typeof inputs>,
  want: ArrayLike<number>,
  full: { q: GpuTensor; k: GpuTensor; v: GpuTensor },
  baseline: Map<string, Float32Array>,
  row: Record<string, unknown>,
) {
  // correctness: reduced shape vs float64, full shape vs the group's first variant (decode)
  const got = await be.flexAttention(small0.q, small0.k, small0.v, modCase(mod, sh.reduced).options);
  row.refErr = relErr(got.out.data as Float32Array, want);
  const { options: fo, density } = modCase(mod, sh.full);
  if (group === 'decode') {
    // the full decode shape's splits differ from the reduced one's: compare with the first variant
    const fr = await be.flexAttention(full.q, full.k, full.v, fo as FlexAttentionOptions);
    const out = (await be.toHost(fr.out)).data as Float32Array;
    [fr.out, fr.lse!].forEach((t) => be.release(t));
    const base = baseline.get(mod);
    if (!base) baseline.set(mod, out);
    row.diffVsFirst = base ? maxAbsDiff(out, base) : 0;
  }
  const w0 = Date.now();
  const m = await be.measure(full.q, full.k, full.v, fo, { pass: 'fwd', warmup: 2, iterations: iters });
  const clk = clocks.between(w0, Date.now());
  if (clk) row.clocks = clk;
  const ms = median(m.ms);
  const s = sh.full;
  row.ms = ms;
  row.timer = m.timer;
  row.density = density;
  if (group === 'decode') row.gbps = (s.B * s.Hkv * s.Lkv * (s.E + s.Ev) * 4) / (ms * 1e6);
  else row.tflops = (2 * s.B * s.Hq * s.Lq * s.Lkv * (s.E + s.Ev) * density) / (ms * 1e9);
  const ok = (row.refErr as number) < 2e-4 && ((row.diffVsFirst as number | undefined) ?? 0) < 1e-3;
  row.ok = ok;
  log(
    `${group.padEnd(6)} ${String(row.variant).padEnd(36)} ${mod.padEnd(21)} ${ms.toFixed(4).padStart(9)} ms  ` +
      (group === 'decode' ? `${(row.gbps as number).toPrecision(4).padStart(6)} GB/s` : `${(row.tflops as number).toPrecision(3).padStart(6)} TFLOP/s`) +
      `  ${m.timer}  ref ${(row.refErr as number).toExponential(1)}` +
      (row.diffVsFirst !== undefined ? ` vs-first ${(row.diffVsFirst as number).toExponential(1)}` : '') +
      (ok ? '' : '  WRONG') +
      (clk ? `  ${formatClocks(clk)}` : ''),
  );
}

async function main() {
  const t0 = performance.now();
  const diag = flag('diag');
  const result: Record<string, unknown> = { date: new Date().toISOString(), small, iters };
  const rows: Record<string, unknown>[] = [];
  if (!diag) result.rows = rows;
  const save = () => {
    if (!outDir) return;
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, diag ? 'decode-diag.json' : 'sweep.json'), JSON.stringify(result, null, 1));
  };
  const ctx: GpuContext = await acquireDevice({ gpu: (await loadGpu()).gpu });
  const shared: GpuContext = { ...ctx, owned: false };
  const probe = new WebGPUBackend(shared);
  result.device = probe.deviceDescription;
  result.caps = ctx.caps;
  log(`${probe.deviceDescription}; timer: ${probe.timestamps ? 'gpu-timestamps (falls back to wall if invalid)' : 'wall'}`);
  probe.dispose();

  if (diag) await runDiag(ctx, result);
  else {
    const all = variants();
    // groups in the order --only lists them (the budget favours the first)
    const order = only ? only.filter((g) => GROUPS.includes(g)) : GROUPS;
    for (const group of order) await runGroup(group, all.filter((x) => x.group === group), shared, t0, rows, save);
  }
  result.seconds = (performance.now() - t0) / 1000;
  result.clockSamples = clocks.samples.length;
  if (!clocks.samples.length) result.clockNote = clocks.note;
  clocks.stop();
  save();
  log(`\ndone in ${(result.seconds as number).toFixed(1)} s${outDir ? `; ${join(outDir, diag ? 'decode-diag.json' : 'sweep.json')}` : ''}`);
  ctx.device.destroy();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

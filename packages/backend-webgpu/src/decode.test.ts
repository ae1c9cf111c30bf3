// The split-KV decode kernel (programs/decode.ts) vs the float64 oracle, with hand-written WGSL
// hooks: GQA groups, Lq 1..4, odd Lkv, head dims 64/80/128 and Ev ≠ E, partial/empty/full tiles,
// fully masked rows, score mods with scalars and captured tensors, both reduction variants and
// several lane/step/workgroup tunings; then random problems through fast-check.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tablesFromClasses, type AttentionShape } from '@flexattn/ir';
import { Engine } from './engine.js';
import { KernelConfigs, type DecodeTuning } from './kernel-configs.js';
import { decodeKernel } from './programs/decode.js';
import { NOOP_CAPTURE_GRADS, NOOP_MASK_MOD, NOOP_SCORE_GRAD, NOOP_SCORE_MOD, type WgslHooks } from './programs/hooks.js';
import { maxErr, randn, refForward, testDevice, type JsMask, type JsScore } from './gpu.test-helpers.js';

const ctx = await testDevice();
const engine = typeof ctx === 'string' ? undefined : new Engine(ctx);
afterAll(() => engine?.dispose());

function hooks(key: string, p: Partial<WgslHooks>): WgslHooks {
  return { key, scoreMod: NOOP_SCORE_MOD, maskMod: NOOP_MASK_MOD, scoreModGrad: NOOP_SCORE_GRAD, captureGrads: NOOP_CAPTURE_GRADS, captures: [], scalars: [], ...p };
}

/**
 * One mod for every case, so each kernel config compiles once (lavapipe's LLVM takes ~20 s per
 * pipeline without Mesa's shader cache): its shape comes from scalars, set per case —
 * softcap (cap), a causal offset (off: keys past q + off are masked, so trailing tiles are
 * partial or empty), a per-head sliding window (win), a fully masked row (dead), a per-batch
 * pattern, and an alibi-like bias from a captured tensor.
 */
interface ModParams { masked: boolean; cap: number; off: number; win: number; dead: number }
const slope = Float32Array.from({ length: 64 }, (_, h) => 2 ** (-(h + 1) / 8));
const HOOKS = hooks('decode-test', {
  scalars: [
    { name: 'cap', dtype: 'f32' },
    { name: 'off', dtype: 'i32' },
    { name: 'win', dtype: 'i32' },
    { name: 'dead', dtype: 'i32' },
  ],
  captures: [{ name: 'slope', dtype: 'f32', grad: false }],
  scoreMod: 'fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return S.cap * tanh(score / S.cap) + cap_slope[h] * f32(kv - q) * 0.01; }',
  maskMod: `fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool {
  return q != S.dead && kv <= q + S.off && kv + S.win > q + S.off - h * 3 && (kv / 37 + b) % 5 != 4;
}`,
});
const jsScore = (p: ModParams): JsScore => (s, _b, h, q, kv) => p.cap * Math.tanh(s / p.cap) + slope[h]! * (kv - q) * 0.01;
const jsMask = (p: ModParams): JsMask => (b, h, q, kv) =>
  q !== p.dead && kv <= q + p.off && kv + p.win > q + p.off - h * 3 && (Math.floor(kv / 37) + b) % 5 !== 4;
const scalarBytes = (p: ModParams) => {
  const buf = new ArrayBuffer(16);
  const dv = new DataView(buf);
  dv.setFloat32(0, p.cap, true);
  dv.setInt32(4, p.off, true);
  dv.setInt32(8, p.win, true);
  dv.setInt32(12, p.dead, true);
  return buf;
};

/** Tables with H = 1 (per batch): a tile is full / empty only where so for every head. */
const elementTables = (sh: AttentionShape, mask: JsMask) => (tq: number, tk: number) => {
  const { B, Hq, Lq, Lkv } = sh;
  const R = Math.ceil(Lq / tq), C = Math.ceil(Lkv / tk);
  const dense = new Uint8Array(B * R * C);
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        let any = false, all = true;
        for (let h = 0; h < Hq; h++) {
          for (let i = r * tq; i < Math.min(Lq, (r + 1) * tq); i++) {
            for (let j = c * tk; j < Math.min(Lkv, (c + 1) * tk); j++) {
              if (mask(b, h, i, j)) any = true;
              else all = false;
            }
          }
        }
        dense[(b * R + r) * C + c] = !any ? 0 : all ? 2 : 1;
      }
    }
  }
  return tablesFromClasses(dense, B, 1, R, C);
};

async function check(sh: AttentionShape, p: ModParams, tuning: DecodeTuning, sub: boolean, seed = 1): Promise<{ kind: string; err: number }> {
  const e = engine!;
  e.configs.useSubgroups = sub;
  e.configs.tuning = { decode: tuning };
  e.configs.splitKv = true;
  const { B, Hq, Hkv, Lq, Lkv, E, Ev } = sh;
  const q = randn(B * Hq * Lq * E, seed), k = randn(B * Hkv * Lkv * E, seed + 1), v = randn(B * Hkv * Lkv * Ev, seed + 2);
  const scale = 1 / Math.sqrt(E);
  const mask = p.masked ? jsMask(p) : undefined;
  const ref = refForward(sh, q, k, v, scale, jsScore(p), mask);
  const kind = e.configs.decodeKind(sh, mask ? 1 : undefined) ?? 'forward';
  const bufs = [e.memory.upload(q), e.memory.upload(k), e.memory.upload(v)];
  const out = e.memory.createBuffer(B * Hq * Lq * Ev * 4);
  const lse = e.memory.createBuffer(B * Hq * Lq * 4);
  const caps = [e.memory.upload(slope)];
  try {
    await e.forward({
      shape: sh, scale, q: bufs[0]!, k: bufs[1]!, v: bufs[2]!, out, lse, hooks: HOOKS,
      captures: { buffers: caps, scalars: scalarBytes(p) },
      tables: mask ? elementTables(sh, mask) : undefined,
      maskH: 1,
    });
    const o = new Float32Array(await e.memory.read(out, B * Hq * Lq * Ev * 4));
    const l = new Float32Array(await e.memory.read(lse, B * Hq * Lq * 4));
    expect(o.some(Number.isNaN)).toBe(false);
    return { kind, err: Math.max(maxErr(o, ref.out), maxErr(l, ref.lse)) };
  } finally {
    [...bufs, out, lse, ...caps].forEach((b) => e.memory.release(b));
    e.configs.splitKv = undefined;
    e.configs.tuning = {};
    e.configs.useSubgroups = true;
  }
}

/**
 * The kernel configs under test (each compiles once): R = group·Lq rows, head dims, tuning,
 * reduction variant. Cases vary everything else at run time.
 */
const CONFIGS: { name: string; R: number; E: number; Ev: number; tuning: DecodeTuning; sub: boolean }[] = [
  { name: 'D128 R4 auto (prefetch)', R: 4, E: 128, Ev: 128, tuning: {}, sub: true },
  { name: 'D128 R4 no prefetch', R: 4, E: 128, Ev: 128, tuning: { prefetch: false }, sub: true },
  { name: 'D64 R4 U1 NT64', R: 4, E: 64, Ev: 64, tuning: { keysPerStep: 1, workgroupSize: 64 }, sub: true },
  { name: 'D80/48 R8 lanes4 U3 tile32, workgroup-memory reduction', R: 8, E: 80, Ev: 48, tuning: { lanes: 4, keysPerStep: 3, tile: 32 }, sub: false },
  { name: 'D64 R1 lanes16 (wider than lavapipe subgroups: workgroup memory)', R: 1, E: 64, Ev: 64, tuning: { lanes: 16, workgroupSize: 64 }, sub: true },
  { name: 'D20/12 R3 lanes2 NT32 tile16', R: 3, E: 20, Ev: 12, tuning: { lanes: 2, workgroupSize: 32, tile: 16 }, sub: true },
  // register prefetch of the next step (across tile boundaries) with the workgroup-memory reduction
  { name: 'D64/40 R2 lanes8 U3 tile16 prefetch, workgroup-memory reduction', R: 2, E: 64, Ev: 40, tuning: { lanes: 8, keysPerStep: 3, tile: 16, prefetch: true }, sub: false },
];
const divisors = (n: number) => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

describe('decode kernel WGSL', () => {
  it('renders every tuning without leftovers', () => {
    for (const [LG, NT, U, sub, prefetch] of [[4, 64, 1, true, false], [8, 128, 2, true, true], [32, 128, 3, false, false], [16, 256, 4, false, true]] as const) {
      const w = decodeKernel({ R: 3, E: 80, Ev: 48, LG, NT, U, BC: 64, subgroups: sub, prefetch }, hooks('x', {}));
      // a JS value interpolated by mistake; comments may name NaN (the special-value rules)
      expect(w.replace(/\/\/[^\n]*/g, '')).not.toMatch(/undefined|NaN/);
      expect(w).not.toMatch(/\$\{/);
      expect(w.includes('subgroupShuffleXor')).toBe(sub && LG > 1);
      expect(w.includes('sRed[')).toBe(!sub);
      expect(w.includes('pk0_0 = ld_K')).toBe(prefetch);
    }
  });
  it('rejects bad tunings', () => {
    expect(() => decodeKernel({ R: 1, E: 64, Ev: 64, LG: 6, NT: 96, U: 1, BC: 64, subgroups: false }, hooks('x', {}))).toThrow(/power of two/);
    expect(() => decodeKernel({ R: 1, E: 64, Ev: 64, LG: 8, NT: 100, U: 1, BC: 64, subgroups: false }, hooks('x', {}))).toThrow(/multiple/);
  });
});

describe('decode config choice (device caps only)', () => {
  const caps = (subgroups: boolean, subgroupMinSize: number) => ({
    f16: false, subgroups, subgroupMinSize, timestampQuery: true, maxWorkgroupStorage: 49152, maxInvocations: 1024,
    maxStorageBuffersPerStage: 10, maxStorageBindingSize: 2 ** 31, maxBufferSize: 2 ** 31, maxWorkgroupsPerDim: 65535,
  });
  const configsWith = (c: ReturnType<typeof caps>, tuning: DecodeTuning = {}) => Object.assign(new KernelConfigs(c), { tuning: { decode: tuning } });
  const shape = (R: number, D: number): AttentionShape => ({ B: 8, Hq: 8 * R, Hkv: 8, Lq: 1, Lkv: 8192, E: D, Ev: D });
  const pick = (e: KernelConfigs, s: AttentionShape) => {
    const c = e.decodeConfig(s);
    return c && { LG: c.LG, U: c.U, NT: c.NT, sub: c.subgroups };
  };
  it('H100-like (subgroups of 32)', () => {
    const e = configsWith(caps(true, 32));
    expect(pick(e, shape(4, 128))).toEqual({ LG: 16, U: 2, NT: 128, sub: true });
    // prefetch (the default) holds a second step's K/V rows: D64 R1 widens to 8 lanes (4 without it)
    expect(pick(e, shape(1, 64))).toEqual({ LG: 8, U: 2, NT: 128, sub: true });
    expect(pick(configsWith(caps(true, 32), { prefetch: false }), shape(1, 64))).toEqual({ LG: 4, U: 2, NT: 128, sub: true });
    expect(pick(e, shape(16, 128))).toEqual({ LG: 32, U: 1, NT: 128, sub: true });
    expect(pick(e, shape(16, 256))).toBeUndefined();
    // the split-mode template takes over where its grid is small (the old rule), else the forward kernel
    expect(e.decodeKind({ ...shape(16, 256), B: 1 }, undefined)).toBe('tiles');
    expect(e.decodeKind(shape(16, 256), undefined)).toBeUndefined();
  });
  it('small subgroups widen through workgroup memory only where registers would spill', () => {
    expect(pick(configsWith(caps(true, 4)), shape(4, 128))).toEqual({ LG: 8, U: 2, NT: 128, sub: false });
    expect(pick(configsWith(caps(true, 4)), shape(1, 32))).toEqual({ LG: 4, U: 2, NT: 128, sub: true });
    expect(pick(configsWith(caps(false, 0)), shape(4, 128))).toEqual({ LG: 16, U: 2, NT: 128, sub: false });
  });
});

describe.skipIf(!engine)(`decode kernel on ${typeof ctx === 'string' ? ctx : ctx.adapterName}`, () => {
  const P0: ModParams = { masked: true, cap: 4, off: 100, win: 70, dead: 1 };
  const fixed: { cfg: number; sh: Omit<AttentionShape, 'E' | 'Ev'>; p: ModParams; splits?: number }[] = [
    // the target's GQA group 4, odd Lkv, trailing partial/empty tiles, no dead row at Lq 1
    { cfg: 0, sh: { B: 2, Hq: 8, Hkv: 2, Lq: 1, Lkv: 301 }, p: P0 },
    { cfg: 0, sh: { B: 1, Hq: 4, Hkv: 1, Lq: 1, Lkv: 517 }, p: { ...P0, masked: false } },
    // group 1 with Lq 4 and group 2 with Lq 2 share the R = 4 pipeline; fully masked row q = 1
    { cfg: 1, sh: { B: 1, Hq: 2, Hkv: 2, Lq: 4, Lkv: 257 }, p: { ...P0, off: 230, win: 300 }, splits: 3 },
    { cfg: 1, sh: { B: 2, Hq: 4, Hkv: 2, Lq: 2, Lkv: 190 }, p: P0 },
    // group 8
    { cfg: 2, sh: { B: 1, Hq: 16, Hkv: 2, Lq: 1, Lkv: 333 }, p: { ...P0, win: 1000, off: 300 } },
    { cfg: 2, sh: { B: 2, Hq: 4, Hkv: 1, Lq: 2, Lkv: 129 }, p: { ...P0, masked: false }, splits: 7 },
    { cfg: 3, sh: { B: 3, Hq: 1, Hkv: 1, Lq: 1, Lkv: 200 }, p: P0 },
    // everything masked for some heads, rows past the window
    { cfg: 4, sh: { B: 1, Hq: 3, Hkv: 1, Lq: 1, Lkv: 150 }, p: { ...P0, off: 20, win: 5 } },
    { cfg: 4, sh: { B: 1, Hq: 1, Hkv: 1, Lq: 3, Lkv: 77 }, p: { ...P0, dead: 2 }, splits: 2 },
    // prefetch: masked trailing tiles, several tiles per split, a split of one step
    { cfg: 5, sh: { B: 2, Hq: 8, Hkv: 2, Lq: 1, Lkv: 611 }, p: P0, splits: 3 },
    { cfg: 5, sh: { B: 1, Hq: 4, Hkv: 1, Lq: 1, Lkv: 1000 }, p: { ...P0, masked: false } },
    { cfg: 0, sh: { B: 1, Hq: 2, Hkv: 1, Lq: 1, Lkv: 300 }, p: { ...P0, off: 250, win: 200 }, splits: 2 },
    { cfg: 0, sh: { B: 2, Hq: 2, Hkv: 2, Lq: 2, Lkv: 95 }, p: { ...P0, dead: 0 }, splits: 7 },
    { cfg: 6, sh: { B: 3, Hq: 1, Hkv: 1, Lq: 1, Lkv: 450 }, p: P0, splits: 2 },
    { cfg: 6, sh: { B: 1, Hq: 1, Hkv: 1, Lq: 1, Lkv: 129 }, p: { ...P0, masked: false }, splits: 1 },
  ];
  for (const f of fixed) {
    const c = CONFIGS[f.cfg]!;
    const sh = { ...f.sh, E: c.E, Ev: c.Ev };
    it(`${c.name}: ${JSON.stringify(f.sh)} ${JSON.stringify(f.p)}`, async () => {
      const r = await check(sh, f.p, { ...c.tuning, splits: f.splits, minKeysPerSplit: 32 }, c.sub);
      expect(r.kind).toBe('lanes');
      expect(r.err).toBeLessThan(2e-5);
    });
  }

  it('reuses its split-KV work buffers across calls (stale contents from a larger call never leak)', async () => {
    const e = engine!;
    const scratch = () => [...(e.memory as unknown as { scratchBuffers: Map<string, GPUBuffer> }).scratchBuffers.values()];
    const big = { B: 2, Hq: 8, Hkv: 2, Lq: 1, Lkv: 611, E: 128, Ev: 128 };
    const small = { B: 1, Hq: 4, Hkv: 1, Lq: 1, Lkv: 150, E: 128, Ev: 128 };
    // the largest first: unmasked, 9 splits (a mask shortens the tile lists, and so the splits)
    expect((await check(big, { ...P0, masked: false }, { splits: 9, minKeysPerSplit: 32 }, true)).err).toBeLessThan(2e-5);
    const kept = scratch();
    expect(kept).toHaveLength(2); // partials and (m, l)
    expect((await check(small, { ...P0, off: 20 }, { splits: 2, minKeysPerSplit: 32 }, true, 5)).err).toBeLessThan(2e-5);
    expect((await check(big, P0, { splits: 3, minKeysPerSplit: 32 }, true, 9)).err).toBeLessThan(2e-5);
    scratch().forEach((b, i) => expect(b).toBe(kept[i])); // the same buffers, not new ones of equal size
  });

  it('the tiles (split-mode template) decode kernel stays available', async () => {
    const r = await check({ B: 1, Hq: 8, Hkv: 2, Lq: 2, Lkv: 200, E: 64, Ev: 64 }, P0, { kernel: 'tiles' }, true);
    expect(r.kind).toBe('tiles');
    expect(r.err).toBeLessThan(2e-5);
  });

  it('picks the decode kernel automatically for small group·Lq and long Lkv only', () => {
    const e = engine!.configs;
    expect(e.decodeKind({ B: 8, Hq: 32, Hkv: 8, Lq: 1, Lkv: 8192, E: 128, Ev: 128 }, undefined)).toBe('lanes');
    expect(e.decodeKind({ B: 8, Hq: 32, Hkv: 8, Lq: 1, Lkv: 8192, E: 128, Ev: 128 }, 32)).toBeUndefined();
    expect(e.decodeKind({ B: 1, Hq: 32, Hkv: 1, Lq: 1, Lkv: 8192, E: 64, Ev: 64 }, undefined)).toBeUndefined();
    expect(e.decodeKind({ B: 1, Hq: 4, Hkv: 4, Lq: 64, Lkv: 4096, E: 64, Ev: 64 }, undefined)).toBeUndefined();
    expect(e.decodeKind({ B: 1, Hq: 4, Hkv: 1, Lq: 1, Lkv: 64, E: 64, Ev: 64 }, undefined)).toBeUndefined();
    // splits: enough workgroups, whole tiles, none empty
    const s = e.decodeSplits({ B: 8, Hq: 32, Hkv: 8, Lq: 1, Lkv: 8192, E: 128, Ev: 128 }, 128, 64);
    expect(s.splits * s.tilesPerSplit).toBeGreaterThanOrEqual(128);
    expect((s.splits - 1) * s.tilesPerSplit).toBeLessThan(128);
    expect(s.splits * 64).toBeGreaterThanOrEqual(512);
  });

  it('random problems on the same pipelines (fast-check)', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          cfg: fc.integer({ min: 0, max: CONFIGS.length - 1 }),
          B: fc.integer({ min: 1, max: 2 }),
          Hkv: fc.integer({ min: 1, max: 3 }),
          groupPick: fc.nat(),
          Lkv: fc.integer({ min: 1, max: 400 }),
          masked: fc.boolean(),
          cap: fc.double({ min: 0.5, max: 30, noNaN: true }),
          off: fc.integer({ min: -5, max: 420 }),
          win: fc.integer({ min: 1, max: 450 }),
          dead: fc.integer({ min: -1, max: 7 }),
          splits: fc.constantFrom(undefined, 1, 2, 5, 64),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
        async (x) => {
          const c = CONFIGS[x.cfg]!;
          const ds = divisors(c.R);
          const group = ds[x.groupPick % ds.length]!;
          const sh: AttentionShape = { B: x.B, Hq: x.Hkv * group, Hkv: x.Hkv, Lq: c.R / group, Lkv: x.Lkv, E: c.E, Ev: c.Ev };
          const p: ModParams = { masked: x.masked, cap: x.cap, off: x.off, win: x.win, dead: x.dead };
          const r = await check(sh, p, { ...c.tuning, splits: x.splits, minKeysPerSplit: 16 }, c.sub, x.seed);
          runs++;
          expect(r.kind).toBe('lanes');
          expect(r.err).toBeLessThan(3e-5);
        },
      ),
      { numRuns: 40, seed: 20261125 },
    );
    expect(runs).toBe(40);
  });
});

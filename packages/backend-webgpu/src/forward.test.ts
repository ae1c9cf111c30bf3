// Phase-1 harness: the forward template with hand-written WGSL hooks vs a float64 oracle, on lavapipe.
import { afterAll, describe, expect, it } from 'vitest';
import type { AttentionShape } from '@flexattn/ir';
import { Engine } from './engine.js';
import type { ForwardTuning } from './kernel-configs.js';
import { NOOP_CAPTURE_GRADS, NOOP_MASK_MOD, NOOP_SCORE_GRAD, NOOP_SCORE_MOD, PLAIN_ROW_COL, type WgslHooks } from './programs/hooks.js';
import { maxErr, randn, refForward, tablesFromElementMask, testDevice, type JsMask, type JsScore } from './gpu.test-helpers.js';

const ctx = await testDevice();
const engine = typeof ctx === 'string' ? undefined : new Engine(ctx);
// the forward template itself, also on the decode-like shape (decode.test.ts covers the decode kernel)
if (engine) engine.configs.splitKv = false;
afterAll(() => engine?.dispose());

function hooks(key: string, p: Partial<WgslHooks>): WgslHooks {
  return { key, scoreMod: NOOP_SCORE_MOD, maskMod: NOOP_MASK_MOD, scoreModGrad: NOOP_SCORE_GRAD, captureGrads: NOOP_CAPTURE_GRADS, captures: [], scalars: [], ...p };
}

interface Case {
  name: string; hooks: WgslHooks; score?: JsScore; mask?: JsMask; masked?: boolean;
  captures?: (Float32Array | Int32Array)[]; scalars?: number[];
}

const slope = new Float32Array([0.5, 0.25, 0.125, 0.0625]);
const cases: Case[] = [
  { name: 'noop', hooks: hooks('noop', {}) },
  {
    name: 'causal', masked: true,
    hooks: hooks('causal', { maskMod: 'fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return q >= kv; }' }),
    mask: (_b, _h, q, kv) => q >= kv,
  },
  {
    name: 'softcap (scalar uniform)', scalars: [2.5],
    hooks: hooks('softcap', {
      scalars: [{ name: 'cap', dtype: 'f32' }],
      scoreMod: 'fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return S.cap * tanh(score / S.cap); }',
    }),
    score: (s) => 2.5 * Math.tanh(s / 2.5),
  },
  {
    name: 'alibi (captured tensor)', captures: [slope],
    hooks: hooks('alibi', {
      captures: [{ name: 'slope', dtype: 'f32', grad: false }],
      scoreMod: 'fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return score + cap_slope[h] * f32(kv - q); }',
    }),
    score: (s, _b, h, q, kv) => s + slope[h]! * (kv - q),
  },
  {
    name: 'fully masked rows + sliding window', masked: true,
    hooks: hooks('rows', { maskMod: 'fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return q % 5 != 2 && q >= kv && q - kv < 7; }' }),
    mask: (_b, _h, q, kv) => q % 5 !== 2 && q >= kv && q - kv < 7,
  },
];

// documents of 1..13 tokens: many partial tiles; the row/column split written by hand
// (the renderer's output for such a mask: renderer.test.ts), the mask read once per row / column
const docIds = Int32Array.from({ length: 160 }, (_, i) => Math.floor(Math.sqrt(i * 3)));
cases.push({
  name: 'document mask, per-row / per-column hooks', masked: true, captures: [docIds],
  hooks: hooks('doc-rc', {
    captures: [{ name: 'doc', dtype: 'i32', grad: false }],
    maskMod: 'fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return cap_doc[q] == cap_doc[kv]; }',
    rowCol: PLAIN_ROW_COL.replace('struct FlexRowM { unused: u32 }', 'struct FlexRowM { f0: i32 }')
      .replace('struct FlexColM { unused: u32 }', 'struct FlexColM { f0: i32 }')
      .replace('return FlexRowM(0u);', 'return FlexRowM(cap_doc[clamp(q, 0i, 159i)]);')
      .replace('return FlexColM(0u);', 'return FlexColM(cap_doc[clamp(kv, 0i, 159i)]);')
      .replace('return mask_mod(b, h, q, kv);', 'return rm.f0 == cm.f0;'),
  }),
  mask: (_b, _h, q, kv) => docIds[q] === docIds[kv],
});

const shapes: AttentionShape[] = [
  { B: 1, Hq: 4, Hkv: 2, Lq: 37, Lkv: 45, E: 16, Ev: 12 },
  { B: 2, Hq: 2, Hkv: 1, Lq: 70, Lkv: 33, E: 10, Ev: 7 },
  { B: 1, Hq: 1, Hkv: 1, Lq: 1, Lkv: 130, E: 64, Ev: 64 },
];

async function run(e: Engine, sh: AttentionShape, c: Case): Promise<number> {
  const { B, Hq, Hkv, Lq, Lkv, E, Ev } = sh;
  const q = randn(B * Hq * Lq * E, 1), k = randn(B * Hkv * Lkv * E, 2), v = randn(B * Hkv * Lkv * Ev, 3);
  const scale = 1 / Math.sqrt(E);
  const ref = refForward(sh, q, k, v, scale, c.score, c.mask);
  const out = e.memory.createBuffer(B * Hq * Lq * Ev * 4);
  const lse = e.memory.createBuffer(B * Hq * Lq * 4);
  const elem = c.masked ? new Uint8Array(Lq * Lkv) : undefined;
  if (elem) for (let i = 0; i < Lq; i++) for (let j = 0; j < Lkv; j++) elem[i * Lkv + j] = c.mask!(0, 0, i, j) ? 1 : 0;
  await e.forward({
    shape: sh, scale, q: e.memory.upload(q), k: e.memory.upload(k), v: e.memory.upload(v), out, lse, hooks: c.hooks,
    captures: {
      buffers: (c.captures ?? []).map((x) => e.memory.upload(x)),
      scalars: c.scalars ? new Float32Array(c.scalars).buffer : undefined,
    },
    tables: elem ? (tq, tk) => tablesFromElementMask(elem, Lq, Lkv, tq, tk) : undefined,
  });
  const o = new Float32Array(await e.memory.read(out, B * Hq * Lq * Ev * 4));
  const l = new Float32Array(await e.memory.read(lse, B * Hq * Lq * 4));
  expect(o.some(Number.isNaN)).toBe(false);
  return Math.max(maxErr(o, ref.out), maxErr(l, ref.lse));
}

describe.skipIf(!engine)(`forward template on ${typeof ctx === 'string' ? ctx : ctx.adapterName}`, () => {
  for (const sub of [true, false]) {
    for (const sh of sub ? shapes.slice(0, 1) : shapes) {
      for (const c of cases) {
        it(`${c.name} ${JSON.stringify(sh)}${sub ? ' subgroups' : ''}`, async () => {
          const e = engine!;
          e.configs.useSubgroups = sub;
          expect(await run(e, sh, c)).toBeLessThan(2e-5);
        });
      }
    }
  }
  // tunings: K/V sharing one workgroup buffer (with V prefetched), partial tiles without the
  // row-column split
  const doc = cases.find((c) => c.name.startsWith('document'))!;
  const tuned: [string, ForwardTuning, Case][] = [
    ['kvShared', { BR: 32, BC: 16, TX: 8, TY: 8, kvShared: true }, cases[4]!],
    ['kvShared + prefetchV', { BR: 16, BC: 32, TX: 8, TY: 4, kvShared: true, prefetchV: true }, cases[3]!],
    ['row/column split off', { hoist: false }, doc],
  ];
  for (const [name, forward, c] of tuned) {
    it(`${name}: ${c.name} ${JSON.stringify(shapes[0])}`, async () => {
      const e = engine!;
      e.configs.useSubgroups = true;
      e.configs.tuning = { forward };
      try {
        expect(await run(e, shapes[0]!, c)).toBeLessThan(2e-5);
      } finally {
        e.configs.tuning = {};
      }
    });
  }
});

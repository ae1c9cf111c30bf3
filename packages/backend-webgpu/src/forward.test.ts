// Phase-1 harness: the forward template with hand-written WGSL hooks vs a float64 oracle, on lavapipe.
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, type AttnShape } from './engine.js';
import { NOOP_CAPTURE_GRADS, NOOP_MASK_MOD, NOOP_SCORE_GRAD, NOOP_SCORE_MOD, PLAIN_ROW_COL, type WgslHooks } from './programs/hooks.js';
import { tilesFromElementMask } from './tables.js';
import { maxErr, randn, refForward, testDevice, type JsMask, type JsScore } from './gpu.test-helpers.js';

const ctx = await testDevice();
const engine = typeof ctx === 'string' ? undefined : new Engine(ctx);
// the forward template itself, also on the decode-like shape (decode.test.ts covers the decode kernel)
if (engine) engine.splitKv = false;
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

// documents of 1..13 tokens: many partial tiles and bands; the row/column split written by hand
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

/** Exact 2-bit classes of each tile's row bands (0 none, 1 some, 2 all visible), as tileBands claims them. */
function bandsFromElementMask(elem: Uint8Array, Lq: number, Lkv: number, tq: number, tk: number, bandRows: number): Uint32Array {
  const R = Math.ceil(Lq / tq), C = Math.ceil(Lkv / tk);
  const out = new Uint32Array(R * C);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      let word = 0;
      for (let i = 0; i < tq / bandRows; i++) {
        let any = false, all = true;
        for (let q = r * tq + i * bandRows; q < Math.min(Lq, r * tq + (i + 1) * bandRows); q++) {
          for (let kv = c * tk; kv < Math.min(Lkv, (c + 1) * tk); kv++) {
            if (elem[q * Lkv + kv]) any = true;
            else all = false;
          }
        }
        word |= (!any ? 0 : all ? 2 : 1) << (2 * i);
      }
      out[r * C + c] = word >>> 0;
    }
  }
  return out;
}

const shapes: AttnShape[] = [
  { B: 1, Hq: 4, Hkv: 2, Lq: 37, Lkv: 45, E: 16, Ev: 12 },
  { B: 2, Hq: 2, Hkv: 1, Lq: 70, Lkv: 33, E: 10, Ev: 7 },
  { B: 1, Hq: 1, Hkv: 1, Lq: 1, Lkv: 130, E: 64, Ev: 64 },
];

/** `bands`: hand the kernel exact band words (else partial tiles are all-partial bands). */
async function run(e: Engine, sh: AttnShape, c: Case, bands = true): Promise<number> {
  const { B, Hq, Hkv, Lq, Lkv, E, Ev } = sh;
  const q = randn(B * Hq * Lq * E, 1), k = randn(B * Hkv * Lkv * E, 2), v = randn(B * Hkv * Lkv * Ev, 3);
  const scale = 1 / Math.sqrt(E);
  const ref = refForward(sh, q, k, v, scale, c.score, c.mask);
  const out = e.createBuffer(B * Hq * Lq * Ev * 4);
  const lse = e.createBuffer(B * Hq * Lq * 4);
  const elem = c.masked ? new Uint8Array(Lq * Lkv) : undefined;
  if (elem) for (let i = 0; i < Lq; i++) for (let j = 0; j < Lkv; j++) elem[i * Lkv + j] = c.mask!(0, 0, i, j) ? 1 : 0;
  await e.forward({
    shape: sh, scale, q: e.upload(q), k: e.upload(k), v: e.upload(v), out, lse, hooks: c.hooks,
    captures: {
      buffers: (c.captures ?? []).map((x) => e.upload(x)),
      scalars: c.scalars ? new Float32Array(c.scalars).buffer : undefined,
    },
    tiles: elem
      ? (tq, tk, bandRows) => ({
          dense: tilesFromElementMask(elem, 1, 1, Lq, Lkv, tq, tk), mB: 1, mH: 1, tq, tk,
          bands: bands && bandRows ? bandsFromElementMask(elem, Lq, Lkv, tq, tk, bandRows) : undefined,
        })
      : undefined,
  });
  const o = new Float32Array(await e.read(out, B * Hq * Lq * Ev * 4));
  const l = new Float32Array(await e.read(lse, B * Hq * Lq * 4));
  expect(o.some(Number.isNaN)).toBe(false);
  return Math.max(maxErr(o, ref.out), maxErr(l, ref.lse));
}

describe.skipIf(!engine)(`forward template on ${typeof ctx === 'string' ? ctx : ctx.adapterName}`, () => {
  for (const sub of [true, false]) {
    for (const sh of sub ? shapes.slice(0, 1) : shapes) {
      for (const c of cases) {
        it(`${c.name} ${JSON.stringify(sh)}${sub ? ' subgroups' : ''}`, async () => {
          const e = engine!;
          e.useSubgroups = sub;
          expect(await run(e, sh, c)).toBeLessThan(2e-5);
        });
      }
    }
  }
  // tunings: rows-first workgroup order (the default is head by head), K/V sharing one workgroup
  // buffer (with V prefetched), row bands (off by default) with and without band words, partial
  // tiles without the row-column split
  const doc = cases.find((c) => c.name.startsWith('document'))!;
  const tuned: [string, NonNullable<Engine['tuning']['forward']>, Case, boolean?][] = [
    ['rows order', { order: 'rows' }, cases[1]!],
    ['kvShared', { BR: 32, BC: 16, TX: 8, TY: 8, kvShared: true }, cases[4]!],
    ['kvShared + prefetchV', { BR: 16, BC: 32, TX: 8, TY: 4, kvShared: true, prefetchV: true }, cases[3]!],
    ['bands on', { bands: true }, doc],
    ['bands on, tables without band words', { bands: true }, doc, false],
    ['bands off, row/column split off', { bands: false, hoist: false }, doc],
    ['16 bands of 2 rows', { BR: 32, BC: 8, TX: 8, TY: 2, bands: true }, cases[4]!],
  ];
  for (const [name, forward, c, bands] of tuned) {
    it(`${name}: ${c.name} ${JSON.stringify(shapes[0])}`, async () => {
      const e = engine!;
      e.useSubgroups = true;
      e.tuning = { forward };
      try {
        expect(await run(e, shapes[0]!, c, bands ?? true)).toBeLessThan(2e-5);
      } finally {
        e.tuning = {};
      }
    });
  }
});

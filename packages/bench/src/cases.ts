/**
 * Benchmark cases: a mod on a shape. The mods of the anchor table (../shared/anchors/h100.md) are
 * defined here exactly as the PyTorch peer defines them (peer/torch_peer.py), so ratios compare the
 * same work. Suites: quick (CI-sized), blog (the anchor shapes), full (more mods × shapes × dtypes),
 * decode (one query token over a long KV cache), decode-paged (sequences of different lengths in a
 * paged KV cache, beside the same sequences stored contiguously; ragged.ts).
 */
import { type AttentionShape, capture, type DType, type MaskMod, type ScoreMod, seededRandomInts } from './deps';
import * as catalogue from '@flexattn/mods';

export type Shape = AttentionShape;
export interface ModBuild {
  scoreMod?: ScoreMod;
  mask?: MaskMod;
}
export interface BenchCase {
  id: string;
  mod: string;
  shape: Shape;
  dtype: DType;
  /** Decode cases report GB/s of K+V read; others TFLOP/s. */
  kind: 'attention' | 'decode';
  /** The BlockMask's block size (default 128, like PyTorch); the page size of paged cases is its kv side. */
  blockSize?: [number, number];
  /** Decoding sequences of different lengths (B = lengths.length, shape.Lkv = the longest): K/V tokens per sequence. */
  lengths?: number[];
  /** How those sequences' K/V are stored: a PagedKVCache, or [B, Hkv, Lmax, D] with a length mask. */
  layout?: 'paged' | 'contiguous';
}

export const shapeText = (s: Shape): string =>
  `B${s.B} H${s.Hq}${s.Hkv !== s.Hq ? `/${s.Hkv}` : ''} L${s.Lq}${s.Lkv !== s.Lq ? `x${s.Lkv}` : ''} D${s.E}${s.Ev !== s.E ? `/${s.Ev}` : ''}`;

/** Documents of L/16..L/4 tokens (the anchor script's rule), from a fixed seed. */
export function documentIds(L: number, seed = 0): Int32Array {
  const next = seededRandomInts(seed);
  const ids = new Int32Array(L);
  let pos = 0;
  let doc = 0;
  while (pos < L) {
    const lo = Math.max(1, Math.floor(L / 16));
    const hi = Math.max(lo + 1, Math.floor(L / 4));
    const len = Math.min(lo + (next() % (hi - lo)), L - pos);
    ids.fill(doc++, pos, pos + len);
    pos += len;
  }
  return ids;
}

/** The anchor table's mods, built for a shape (captured tensors depend on H and L). */
export const MODS: Record<string, (s: Shape) => ModBuild> = {
  noop: () => ({}),
  causal: () => ({ mask: (_b, _h, q, kv) => q.ge(kv) }),
  alibi: (s) => {
    const slopes = capture(Float32Array.from({ length: s.Hq }, (_, h) => 2 ** ((-8 * (h + 1)) / s.Hq)), [s.Hq], { name: 'alibiSlopes' });
    return { scoreMod: (score, _b, h, q, kv) => score.add(slopes.at(h).mul(kv.sub(q))) };
  },
  softcap: () => ({ scoreMod: (score) => score.div(20).tanh().mul(20) }),
  softcap_approx: () => ({ scoreMod: (score) => score.div(20).tanhApprox().mul(20) }),
  relpos: () => ({ scoreMod: (score, _b, _h, q, kv) => score.add(q.sub(kv)) }),
  sliding_window_causal: () => ({ mask: (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(1024)) }),
  prefix_lm: (s) => {
    const prefix = Math.floor(s.Lkv / 4);
    return { mask: (_b, _h, q, kv) => kv.le(prefix).or(q.ge(kv)) };
  },
  document: (s) => {
    const ids = capture(documentIds(s.Lkv), [s.Lkv], { name: 'docIds' });
    return { mask: (_b, _h, q, kv) => ids.at(q).eq(ids.at(kv)) };
  },
  softcap_causal: () => ({ scoreMod: (score) => score.div(20).tanh().mul(20), mask: (_b, _h, q, kv) => q.ge(kv) }),
};

/** More variants from @flexattn/mods, for the full suite (the PyTorch peer does not define these). */
export const CATALOGUE_MODS: Record<string, (s: Shape) => ModBuild> = {
  chunked_1024: () => ({ mask: catalogue.chunkedAttention(1024) }),
  sinks_4_window_1024: () => ({ mask: catalogue.attentionSinks(4, 1024) }),
  global_16_window_512: () => ({ mask: catalogue.globalTokens(16, 512) }),
  dilated_window_256x2: () => ({ mask: catalogue.dilatedSlidingWindow(256, 2) }),
  t5_bias_causal: (s) => ({
    scoreMod: catalogue.t5RelativeBias(Float32Array.from({ length: s.Hq * 32 }, (_, i) => Math.sin(i) * 0.1), 32, 128, { bidirectional: false }),
    mask: catalogue.causal(),
  }),
  temperature_causal: () => ({ scoreMod: catalogue.temperature(0.7), mask: catalogue.causal() }),
};
Object.assign(MODS, CATALOGUE_MODS);

const BLOG_MODS = ['noop', 'causal', 'alibi', 'softcap', 'relpos', 'sliding_window_causal', 'prefix_lm', 'document', 'softcap_causal'];

function attention(mods: readonly string[], shapes: readonly Shape[], dtypes: readonly DType[]): BenchCase[] {
  const out: BenchCase[] = [];
  for (const dtype of dtypes)
    for (const shape of shapes)
      for (const mod of mods) out.push({ id: `${mod} ${shapeText(shape)} ${dtype}`, mod, shape, dtype, kind: 'attention' });
  return out;
}
const sq = (B: number, H: number, L: number, D: number): Shape => ({ B, Hq: H, Hkv: H, Lq: L, Lkv: L, E: D, Ev: D });

/**
 * Head dim 256 (`--shapes D256`). L 16384, not 8192: a length no other shape has, so the device
 * runner's `--shapes L8192` / `L4096` selections keep exactly the anchor shapes.
 */
export const D256_SHAPE: Shape = sq(1, 8, 16384, 256);

export const DECODE_SHAPE: Shape = { B: 8, Hq: 32, Hkv: 8, Lq: 1, Lkv: 8192, E: 128, Ev: 128 };

/** decode-paged: eight sequences of 1k–32k tokens, in no particular order (their pages interleave). */
export const PAGED_LENGTHS = [32768, 1024, 8192, 2048, 16384, 4096, 12288, 6144];

/** The same ragged decode, paged and contiguous (the ratio of their GB/s is what paging costs). */
function raggedDecode(lengths: number[], dtype: DType): BenchCase[] {
  const shape: Shape = { B: lengths.length, Hq: 32, Hkv: 8, Lq: 1, Lkv: Math.max(...lengths), E: 128, Ev: 128 };
  return (['paged', 'contiguous'] as const).map((layout) => ({
    id: `decode-${layout} ${shapeText(shape)} lengths ${Math.min(...lengths)}..${shape.Lkv} ${dtype}`,
    mod: 'lengths', shape, dtype, kind: 'decode', lengths, layout,
  }));
}

export const SUITES = ['quick', 'blog', 'full', 'decode', 'decode-paged'] as const;
export type Suite = (typeof SUITES)[number];

export function suiteCases(suite: Suite, dtype?: DType): BenchCase[] {
  switch (suite) {
    case 'quick':
      return [
        ...attention(['noop', 'causal', 'alibi', 'softcap', 'document'], [sq(1, 2, 256, 64)], [dtype ?? 'f32']),
        { id: `decode ${shapeText({ B: 1, Hq: 4, Hkv: 1, Lq: 1, Lkv: 1024, E: 64, Ev: 64 })} ${dtype ?? 'f32'}`, mod: 'noop', shape: { B: 1, Hq: 4, Hkv: 1, Lq: 1, Lkv: 1024, E: 64, Ev: 64 }, dtype: dtype ?? 'f32', kind: 'decode' },
      ];
    case 'blog':
      return [...attention(BLOG_MODS, [sq(4, 16, 4096, 64), sq(2, 16, 8192, 128)], [dtype ?? 'bf16']), ...suiteCases('decode', dtype ?? 'bf16')];
    case 'full':
      return attention(Object.keys(MODS), [sq(1, 8, 1024, 64), sq(4, 16, 4096, 64), sq(2, 16, 8192, 128), D256_SHAPE], dtype ? [dtype] : ['bf16', 'f16', 'f32']);
    case 'decode':
      return [{ id: `decode ${shapeText(DECODE_SHAPE)} ${dtype ?? 'bf16'}`, mod: 'noop', shape: DECODE_SHAPE, dtype: dtype ?? 'bf16', kind: 'decode' }];
    case 'decode-paged':
      return raggedDecode(PAGED_LENGTHS, dtype ?? 'bf16');
  }
}

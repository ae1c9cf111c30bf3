/**
 * The sweep's mods: the anchor table's variants as flexattn-bench defines them
 * (packages/bench/src/cases.ts, MODS and documentIds — same formulas, same document seed), so a
 * sweep figure and a bench figure of the same mod measure the same work. Block masks use 128-blocks
 * like the bench; `density` is the exact fraction of (q, kv) pairs kept (useful FLOPs).
 */
import { capture, compileToJs, traceMaskMod, traceScoreMod, type BlockMask, type Expr, type FlexAttentionOptions, type MaskMod, type ScoreMod } from '@flexattn/ir';
import { seededRandom } from '@flexattn/ir/testing';
import { createBlockMask } from '@flexattn/blockmask';

export const MOD_NAMES = ['noop', 'causal', 'document', 'alibi', 'softcap', 'relpos', 'sliding_window_causal', 'prefix_lm', 'softcap_causal'] as const;
export type ModName = (typeof MOD_NAMES)[number];

export interface ModShape { B: number; Hq: number; Hkv: number; Lq: number; Lkv: number; E: number; Ev: number }

/** Documents of L/16..L/4 tokens from a fixed seed: the bench's documentIds, step for step. */
export function documentIds(L: number, seed = 0): Int32Array {
  const r = seededRandom(seed);
  const next = () => Math.floor(r() * 2147483647);
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

const causal: MaskMod = (_b, _h, q, kv) => q.ge(kv);
const softcap: ScoreMod = (s: Expr) => s.div(20).tanh().mul(20);

function build(name: ModName, s: ModShape): { scoreMod?: ScoreMod; mask?: MaskMod } {
  switch (name) {
    case 'noop':
      return {};
    case 'causal':
      return { mask: causal };
    case 'document': {
      const ids = capture(documentIds(s.Lkv), [s.Lkv], { name: 'docIds' });
      return { mask: (_b, _h, q, kv) => ids.at(q).eq(ids.at(kv)) };
    }
    case 'alibi': {
      const slopes = capture(Float32Array.from({ length: s.Hq }, (_, h) => 2 ** ((-8 * (h + 1)) / s.Hq)), [s.Hq], { name: 'alibiSlopes' });
      return { scoreMod: (score, _b, h, q, kv) => score.add(slopes.at(h).mul(kv.sub(q))) };
    }
    case 'softcap':
      return { scoreMod: softcap };
    case 'relpos':
      return { scoreMod: (score, _b, _h, q, kv) => score.add(q.sub(kv)) };
    case 'sliding_window_causal':
      return { mask: (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(1024)) };
    case 'prefix_lm': {
      const prefix = Math.floor(s.Lkv / 4);
      return { mask: (_b, _h, q, kv) => kv.le(prefix).or(q.ge(kv)) };
    }
    case 'softcap_causal':
      return { scoreMod: softcap, mask: causal };
  }
}

export function parseMods(list: string): ModName[] {
  const names = list.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = names.filter((n) => !(MOD_NAMES as readonly string[]).includes(n));
  if (bad.length) throw new Error(`unknown mod(s) ${bad.join(', ')}; known: ${MOD_NAMES.join(', ')}`);
  return names as ModName[];
}

const cache = new Map<string, { options: FlexAttentionOptions; density: number }>();

/** The call options (traced mods, 128-block mask) and the exact density of a mod at a shape, built once. */
export function modCase(name: ModName, s: ModShape): { options: FlexAttentionOptions; density: number } {
  const key = `${name}:${JSON.stringify(s)}`;
  let c = cache.get(key);
  if (!c) {
    const m = build(name, s);
    const blockMask = m.mask ? createBlockMask(traceMaskMod(m.mask, { name }), { qLen: s.Lq, kvLen: s.Lkv, blockSize: 128 }) : undefined;
    c = {
      options: { scoreMod: m.scoreMod ? traceScoreMod(m.scoreMod, { name }) : undefined, blockMask, enableGqa: s.Hq !== s.Hkv, returnLse: true },
      density: density(blockMask),
    };
    cache.set(key, c);
  }
  return c;
}

/** Fraction of (q, kv) pairs kept; these masks depend on neither b nor h. */
function density(mask: BlockMask | undefined): number {
  if (!mask) return 1;
  const [Lq, Lkv] = mask.seqLengths;
  const fn = compileToJs(mask.maskMod) as (b: number, h: number, q: number, kv: number) => boolean;
  let kept = 0;
  for (let q = 0; q < Lq; q++) for (let kv = 0; kv < Lkv; kv++) if (fn(0, 0, q, kv)) kept++;
  return kept / (Lq * Lkv);
}

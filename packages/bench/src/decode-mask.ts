/**
 * The BlockMask side of decoding at L = 32k (host time, no GPU).
 *
 * A step's mask — the query at position p over keys 0..p — four ways: `DecodeSteps.at(p)` (one mask
 * updated in place), `sliceRows(p, p + 1).resize(1, p + 1)` (two new masks, the same blocks),
 * `sliceRows` alone (kvLen L, what a paged cache needs), against rebuilding: the whole L×L mask (what
 * a loop without slicing does, and PyTorch users do with create_block_mask) and the step's one row
 * built directly from a mod with a position offset. Timed in interleaved rounds (so load on the
 * machine hits them alike), medians kept; steps under a microsecond are timed 32 to a sample. Every
 * per-step path is warmed up over 4000 earlier positions first, so the medians are of JIT-optimised
 * code, as in a long decode loop.
 *
 * Growth by one kv block at several lengths: `extendKv` of a decode row (in place, O(new blocks)),
 * `extendKv` of the L×L mask (in place; its rows move once) and `resize` of it (a new mask).
 */
import { documentIds } from './cases';
import { capture, createBlockMask, DecodeSteps, type Expr, type MaskMod, scalar } from './deps';
import type { BlockMaskResult } from './runner';
import { stats } from './stats';

/** A mask over absolute positions: `at(q)` is the query's position (q, or q + offset for one row). */
type PositionalMask = (at: (q: Expr) => Expr) => MaskMod;

function decodeMasks(L: number): [string, PositionalMask][] {
  const ids = capture(documentIds(L), [L], { name: 'docIds' });
  return [
    ['causal', (at) => (_b, _h, q, kv) => kv.le(at(q))],
    ['sinks 4 + window 1024', (at) => (_b, _h, q, kv) => kv.le(at(q)).and(kv.lt(4).or(at(q).sub(kv).lt(1024)))],
    ['document', (at) => (_b, _h, q, kv) => kv.le(at(q)).and(ids.at(at(q)).eq(ids.at(kv)))],
  ];
}

const now = () => performance.now();
/** Steps per sample for calls too short to time one by one. */
const GROUP = 32;
/** Warm-up steps of each per-step path (the row rebuild every fourth), at positions before the timed ones. */
const WARM_STEPS = 4000;

export function decodeStepMaskRows(L = 32768, rounds = 12): BlockMaskResult[] {
  const out: BlockMaskResult[] = [];
  for (const [name, positional] of decodeMasks(L)) {
    const mod = positional((q) => q);
    const offset = scalar(0, { dtype: 'i32', name: 'position' });
    const rowMod = positional((q) => q.add(offset));
    const master = createBlockMask(mod, { qLen: L, kvLen: L });
    const steps = new DecodeSteps(master);
    // positions used: 50 warm-up steps, then per round 4 groups, 96 single steps and a rebuild
    let p = L - 60 - rounds * (4 * GROUP + 97);
    const inPlace = () => steps.at(p, p + 1);
    const step = () => master.sliceRows(p, p + 1).resize(1, p + 1);
    // With a paged cache the step's mask may keep kvLen = L (the cache drops blocks past each length).
    const sliceOnly = () => master.sliceRows(p, p + 1);
    const row = () => {
      offset.value = p;
      return createBlockMask(rowMod, { qLen: 1, kvLen: p + 1 });
    };
    const timed = (fn: () => unknown, into: number[]) => {
      const t = now();
      fn();
      into.push(now() - t);
      p++;
    };
    const timedGroup = (fn: () => unknown, into: number[]) => {
      const t = now();
      for (let i = 0; i < GROUP; i++, p++) fn();
      into.push((now() - t) / GROUP);
    };
    // Warm-up: trace, compile and JIT every path before timing, each over a decode loop's worth of
    // earlier positions — Node's JIT optimises a step's code after one to two thousand calls, and
    // until then runs it several times slower (the value step: ~10 µs for its first thousand calls
    // at L = 32k, ~2 µs after), which a loop generating thousands of tokens spends only at its start.
    for (let w = L / 2; w < L / 2 + WARM_STEPS; w++) {
      steps.at(w, w + 1);
      master.sliceRows(w, w + 1).resize(1, w + 1);
      master.sliceRows(w, w + 1);
      if (w % 4 === 0) {
        offset.value = w;
        createBlockMask(rowMod, { qLen: 1, kvLen: w + 1 });
      }
    }
    for (let i = 0; i < 50; i++, p++) [inPlace, step, row].forEach((f) => f());
    createBlockMask(mod, { qLen: L, kvLen: L });
    const inPlaceMs: number[] = [], stepMs: number[] = [], sliceMs: number[] = [], rowMs: number[] = [], fullMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 4; i++) timedGroup(inPlace, inPlaceMs);
      for (let i = 0; i < 32; i++) timed(step, stepMs);
      for (let i = 0; i < 32; i++) timed(sliceOnly, sliceMs);
      timed(() => createBlockMask(mod, { qLen: L, kvLen: L }), fullMs);
      for (let i = 0; i < 32; i++) timed(row, rowMs);
    }
    const [ip, s, f, r, so] = [stats(inPlaceMs), stats(stepMs), stats(fullMs), stats(rowMs), stats(sliceMs)];
    const vs = (x: typeof s) => `${(f.median / x.median).toFixed(0)}× faster than rebuilding L×L, ${(r.median / x.median).toFixed(1)}× than the row`;
    const last = step();
    out.push(
      { mod: `${name}: decode step (DecodeSteps.at, in place)`, shape: `L${L}: ${vs(ip)}`, ms: ip, sparsity: inPlace().sparsity(), picture: inPlace().toString() },
      { mod: `${name}: decode step (sliceRows + resize)`, shape: `L${L}: ${vs(s)}`, ms: s, sparsity: last.sparsity(), picture: last.toString() },
      { mod: `${name}: decode step (sliceRows only, kvLen L)`, shape: `L${L}: ${vs(so)}`, ms: so, sparsity: sliceOnly().sparsity(), picture: sliceOnly().toString() },
      { mod: `${name}: rebuild L×L (createBlockMask)`, shape: `L${L}x${L}`, ms: f, sparsity: master.sparsity(), picture: '(the whole mask; see the createBlockMask rows of other suites for pictures)' },
      { mod: `${name}: rebuild the step's row (createBlockMask, qLen 1)`, shape: `L1x${L}, position offset as a scalar`, ms: r, sparsity: row().sparsity(), picture: row().toString() },
    );
  }
  return out.concat(extensionRows());
}

/**
 * One kv block (128 keys) more, causal, at several lengths: a decode row grown in place (the cost
 * should not depend on L), the L×L mask grown in place, and the L×L mask resized (a new mask).
 */
export function extensionRows(lengths: readonly number[] = [8192, 32768, 131072], samples = 24): BlockMaskResult[] {
  const out: BlockMaskResult[] = [];
  const block = 128;
  for (const L of lengths) {
    // A decode row: the last query of a longer sequence, every key visible. Timed on its own (the
    // L×L work below would fill its samples with garbage-collection pauses), after a warm-up.
    const warmup = 2000;
    const room = (warmup + samples * GROUP) * block;
    const row = createBlockMask((_b, _h, q, kv) => kv.le(q.add(L + room)), { qLen: 1, kvLen: L });
    let rowKv = L;
    for (let i = 0; i < warmup; i++) row.extendKv((rowKv += block)); // the first growth makes the tables growable
    const rowMs: number[] = [];
    for (let s = 0; s < samples; s++) {
      const t = now();
      for (let i = 0; i < GROUP; i++) row.extendKv((rowKv += block));
      rowMs.push((now() - t) / GROUP);
    }
    const square = createBlockMask((_b, _h, q, kv) => kv.le(q), { qLen: L, kvLen: L });
    const grown = createBlockMask((_b, _h, q, kv) => kv.le(q), { qLen: L, kvLen: L });
    let grownKv = L;
    grown.extendKv((grownKv += block));
    const grownMs: number[] = [], resizedMs: number[] = [];
    for (let s = 0; s < samples; s++) {
      let t = now();
      grown.extendKv((grownKv += block));
      grownMs.push(now() - t);
      t = now();
      square.resize(L, L + block);
      resizedMs.push(now() - t);
    }
    const [r, g, z] = [stats(rowMs), stats(grownMs), stats(resizedMs)];
    out.push(
      { mod: 'causal: one more kv block, decode row (extendKv, in place)', shape: `L${L}, 1 query`, ms: r, sparsity: row.sparsity(), picture: '(one row)' },
      { mod: 'causal: one more kv block, L×L (extendKv, in place)', shape: `L${L}x${L}: ${(z.median / g.median).toFixed(1)}× faster than resize`, ms: g, sparsity: grown.sparsity(), picture: '(the whole mask)' },
      { mod: 'causal: one more kv block, L×L (resize, a new mask)', shape: `L${L}x${L}`, ms: z, sparsity: square.sparsity(), picture: '(the whole mask)' },
    );
  }
  return out;
}

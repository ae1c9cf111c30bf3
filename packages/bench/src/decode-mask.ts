/**
 * The BlockMask side of one decode step at L = 32k (host time, no GPU): the step's row taken from a
 * mask built once — `sliceRows(p, p + 1).resize(1, p + 1)` — against rebuilding: the whole L×L mask
 * (what a decode loop must do without slicing, and PyTorch users do with create_block_mask), and the
 * one-row mask createBlockMask can build directly for the step from a mod with a position offset.
 * The three are timed in interleaved rounds (so load on the machine hits them alike), medians kept.
 */
import { documentIds } from './cases';
import { capture, createBlockMask, type Expr, type MaskMod, scalar } from './deps';
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

export function decodeStepMaskRows(L = 32768, rounds = 12): BlockMaskResult[] {
  const out: BlockMaskResult[] = [];
  for (const [name, positional] of decodeMasks(L)) {
    const mod = positional((q) => q);
    const offset = scalar(0, { dtype: 'i32', name: 'position' });
    const rowMod = positional((q) => q.add(offset));
    const master = createBlockMask(mod, { qLen: L, kvLen: L });
    let p = L - 2 * rounds * 64;
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
    // Warm-up: trace, compile and JIT every path once before timing.
    for (let i = 0; i < 50; i++) {
      step();
      row();
      p++;
    }
    createBlockMask(mod, { qLen: L, kvLen: L });
    const stepMs: number[] = [], sliceMs: number[] = [], rowMs: number[] = [], fullMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 32; i++) timed(step, stepMs);
      for (let i = 0; i < 32; i++) timed(sliceOnly, sliceMs);
      timed(() => createBlockMask(mod, { qLen: L, kvLen: L }), fullMs);
      for (let i = 0; i < 32; i++) timed(row, rowMs);
    }
    const [s, f, r, so] = [stats(stepMs), stats(fullMs), stats(rowMs), stats(sliceMs)];
    const last = step();
    const vs = (x: typeof s) => `${(f.median / x.median).toFixed(0)}× faster than rebuilding L×L, ${(r.median / x.median).toFixed(1)}× than the row`;
    out.push(
      { mod: `${name}: decode step (sliceRows + resize)`, shape: `L${L}: ${vs(s)}`, ms: s, sparsity: last.sparsity(), picture: last.toString() },
      { mod: `${name}: decode step (sliceRows only, kvLen L)`, shape: `L${L}: ${vs(so)}`, ms: so, sparsity: sliceOnly().sparsity(), picture: sliceOnly().toString() },
      { mod: `${name}: rebuild L×L (createBlockMask)`, shape: `L${L}x${L}`, ms: f, sparsity: master.sparsity(), picture: '(the whole mask; see the createBlockMask rows of other suites for pictures)' },
      { mod: `${name}: rebuild the step's row (createBlockMask, qLen 1)`, shape: `L1x${L}, position offset as a scalar`, ms: r, sparsity: row().sparsity(), picture: row().toString() },
    );
  }
  return out;
}

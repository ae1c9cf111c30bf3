/**
 * Mods over physical KV slots: a logical mod (written for each sequence's own token positions)
 * wrapped so the kernels can run it on the cache's pages. Physical slot kv lies in page
 * p = kv / pageSize at offset kv % pageSize; the page table (a captured tensor) gives p's owner and
 * logical page, hence the logical position. The mask wrapper also hides every slot that does not
 * hold a written token of the query's own sequence — the pages of other sequences, free pages, and
 * the unwritten tail of the last page — so a kernel never sees another sequence's keys.
 */
import {
  inlineMod, topoOrder, traceMaskMod, traceScoreMod, type CapturedTensor, type Expr, type MaskMod, type ScoreMod, type TracedMod,
} from '@flexattn/ir';

/** The captured page-table data a wrapper reads. */
export interface PagedView {
  /** [pages, 2] i32: owner sequence (−1 free), logical page index. */
  pageInfo: CapturedTensor;
  /** [maxBatch] i32: tokens written per sequence. */
  lengths: CapturedTensor;
  pageSize: number;
}

/** The logical position of physical slot `kv` (meaningful where it holds a token: see holdsToken). */
export const logicalPosition = (view: PagedView, kv: Expr): Expr =>
  view.pageInfo.at(kv.floorDiv(view.pageSize), 1).mul(view.pageSize).add(kv.mod(view.pageSize));

/** Whether physical slot `kv`, at logical position `logical`, holds a written token of sequence `seq`. */
export const holdsToken = (view: PagedView, seq: Expr, kv: Expr, logical: Expr): Expr =>
  view.pageInfo.at(kv.floorDiv(view.pageSize), 0).eq(seq).and(logical.lt(view.lengths.at(seq)));

/**
 * The physical mask mod of a logical one: false outside the sequence's written tokens. Query batch b
 * reads cache sequence `sequenceOf[b]` when given (else sequence b); the logical mod sees b itself.
 */
export function physicalMaskMod(view: PagedView, mod: MaskMod | TracedMod, sequenceOf?: CapturedTensor): MaskMod {
  const logicalMod = traceMaskMod(mod);
  return (b, h, q, kv) => {
    const logical = logicalPosition(view, kv);
    return holdsToken(view, sequenceOf ? sequenceOf.at(b) : b, kv, logical).and(inlineMod(logicalMod, { b, h, q, kv: logical }));
  };
}

const readsKv = (mod: TracedMod): boolean => topoOrder([mod.root]).some((n) => n.op === 'arg' && n.arg === 'kv');

/**
 * The physical score mod of a logical one: the same score at the logical position. It does not mask
 * (physical BlockMasks from the cache already hide invalid slots), so a score mod that ignores kv
 * stays exactly what it was — an identity stays an identity, with no per-element work.
 * (Tracing the logical mod here fixes what its JS closure computed; its scalars and captured
 * tensors stay live, as in any trace.)
 */
export function physicalScoreMod(view: PagedView, mod: ScoreMod | TracedMod): ScoreMod {
  const logicalMod = traceScoreMod(mod);
  // (Not even the page table is read when kv is not: a captured tensor the graph never loads would
  // still be bound and uploaded by the backends.)
  if (!readsKv(logicalMod)) return (score, b, h, q, kv) => inlineMod(logicalMod, { score, b, h, q, kv });
  return (score, b, h, q, kv) => inlineMod(logicalMod, { score, b, h, q, kv: logicalPosition(view, kv) });
}

/**
 * Where a ClassifiedBlockMask's blocks come from: the mask mod in absolute query positions (`base`)
 * and, for masks of row slices, each batch's first absolute query row (`qOffsets`). The maskMod a
 * sliced mask hands the kernels reads `q + qOffset[b]` from a captured tensor, so a decode loop's
 * next position is new data, never a new kernel; classification uses the base mod's compiled forms
 * with the offset applied to the numbers, so it never recompiles either.
 */
import { argsRead, capture, capturedLike, inlineMod, rebindParams, traceMaskMod, traceScoreMod, type CapturedTensor, type Expr, type ScoreMod, type TracedMod } from '@flexattn/ir';
import { PlaneClassifier } from './classify';
import { compileMask } from './compiled';

export interface MaskSource {
  /** The mask mod over absolute query positions. */
  base: TracedMod;
  /** Per batch of the mask, the absolute position of its query row 0; absent: 0 for every batch. */
  qOffsets?: Int32Array;
}

/**
 * The shifted mod traced once per (base mod, batch count) with a placeholder offsets tensor; each
 * slice then swaps in its own offsets — the same graph, so no tracing per decode step.
 */
const templates = new WeakMap<TracedMod, Map<number, { mod: TracedMod; placeholder: CapturedTensor }>>();

function shiftedTemplate(base: TracedMod, batches: number): { mod: TracedMod; placeholder: CapturedTensor } {
  let perBatch = templates.get(base);
  if (!perBatch) templates.set(base, (perBatch = new Map()));
  let t = perBatch.get(batches);
  if (!t) {
    const placeholder = capture(new Int32Array(batches), [batches], { name: 'qOffset' });
    // One offset serves every batch: read it at 0, so the mod reads b only if the base mod does
    // (a mask shared by the batch may not read b: validate-mask.ts).
    const offset = (b: Expr) => placeholder.at(batches === 1 ? 0 : b);
    const mod = traceMaskMod((b, h, q, kv) => inlineMod(base, { b, h, q: q.add(offset(b)), kv }), { name: `${base.name}.rows` });
    t = { mod, placeholder };
    perBatch.set(batches, t);
  }
  return t;
}

/** The mod that partial blocks evaluate: the base mod at q + qOffset[b]. */
export function exposedMaskMod(source: MaskSource): TracedMod {
  const { base, qOffsets } = source;
  if (!qOffsets) return base;
  const { mod, placeholder } = shiftedTemplate(base, qOffsets.length);
  // the placeholder's checked shape: a decode step's offsets are captured every token
  return rebindParams(mod, new Map([[placeholder, capturedLike(placeholder, qOffsets)]]));
}

/** A score mod that sees the same absolute query positions (q + qOffset[b]) as the source's mask mod. */
export function shiftedScoreMod(source: MaskSource, mod: ScoreMod | TracedMod): ScoreMod {
  const traced = traceScoreMod(mod);
  const { qOffsets } = source;
  if (!qOffsets) return (score, b, h, q, kv) => inlineMod(traced, { score, b, h, q, kv });
  const offsets = capture(qOffsets, [qOffsets.length], { name: 'qOffset' });
  return (score, b, h, q, kv) => inlineMod(traced, { score, b, h, q: q.add(offsets.at(qOffsets.length === 1 ? 0 : b)), kv });
}

/** The query offset of batch b (a mask of batch 1 broadcasts its one offset). */
export const offsetOf = (source: MaskSource, b: number): number => source.qOffsets?.[source.qOffsets.length === 1 ? 0 : b] ?? 0;

/** Whether the classification of a plane depends on its batch index (the mod reads b, or offsets differ). */
export function dependsOnBatch(source: MaskSource): boolean {
  if (argsRead(source.base).b) return true;
  const offsets = source.qOffsets;
  if (offsets) for (let b = 1; b < offsets.length; b++) if (offsets[b] !== offsets[0]) return true;
  return false;
}

/** Whether the classification of a plane depends on its head index. */
export const dependsOnHead = (source: MaskSource): boolean => argsRead(source.base).h;

export interface GridShape {
  qLen: number;
  kvLen: number;
  bq: number;
  bk: number;
  qBlocks: number;
  kvBlocks: number;
}

/** A classifier for the planes of batch b: the base mod's compiled forms, shifted by b's query offset. */
export function classifierFor(source: MaskSource, b: number, g: GridShape): PlaneClassifier {
  const compiled = compileMask(source.base);
  const off = offsetOf(source, b);
  if (off === 0) return new PlaneClassifier(compiled.iv, compiled.fn, g.qLen, g.kvLen, g.bq, g.bk, g.qBlocks, g.kvBlocks);
  const { fn, iv } = compiled;
  return new PlaneClassifier(
    (b0, b1, h0, h1, q0, q1, k0, k1) => iv(b0, b1, h0, h1, q0 + off, q1 + off, k0, k1),
    (bb, h, q, kv) => fn(bb, h, q + off, kv),
    g.qLen, g.kvLen, g.bq, g.bk, g.qBlocks, g.kvBlocks,
  );
}

/**
 * Runs `classify(classifier, b, h, p)` on the first plane (p = b·H + h) of each group of planes that
 * classify alike — all batches when the mod reads neither b nor per-batch offsets, all heads when it
 * does not read h — and `copy(from, p)` on the others, `from` being their group's classified plane.
 */
export function eachPlaneClass(
  source: MaskSource, B: number, H: number, g: GridShape,
  classify: (c: PlaneClassifier, b: number, h: number, p: number) => void, copy: (from: number, p: number) => void,
): void {
  const byBatch = dependsOnBatch(source);
  const byHead = dependsOnHead(source);
  for (let b = 0; b < B; b++) {
    const c = byBatch || b === 0 ? classifierFor(source, b, g) : undefined;
    for (let h = 0; h < H; h++) {
      const p = b * H + h;
      const from = (byBatch ? b : 0) * H + (byHead ? h : 0);
      if (from !== p) copy(from, p);
      else classify(c!, b, h, p);
    }
  }
}

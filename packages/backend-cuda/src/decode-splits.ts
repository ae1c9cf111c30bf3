/**
 * How the split-KV decoder divides the keys: `splits` CTAs along the keys per (batch, kv head, row
 * group), each covering `keysPerSplit` consecutive positions. The aim is equal work per resident CTA
 * slot — and the work is the *visible* keys. With every key visible (no mask, or a mask that hides
 * nothing) the split count minimises the launch's makespan over the device's resident slots (SMs ×
 * CTAs per SM): session 2's "two waves of 132 CTAs" left B8 Hkv8 with 320 CTAs on 396 slots, 56
 * SMs holding three CTAs and 76 two, so the busiest SMs streamed 1.23× the mean bytes. With
 * sequences of different lengths (a ragged or paged batch: each reads its own length of a long K/V),
 * splitting Lmax into the same few parts leaves the longest sequence's CTAs with most of the work
 * and the short ones idle; so the keys per split follow the visible work (total visible keys / two
 * waves), and only the splits between the first and the last visible key are launched (the kernel starts
 * its first split at `keyOffset`).
 */
import { blockClasses, ceilDiv, EMPTY, type AttentionProblem, type BlockMask } from '@flexattn/ir';
import type { DecodeConfig } from './config.js';

export interface DecodeSplits {
  splits: number;
  keysPerSplit: number;
  /** the first split's first key: keys before it are masked for every row (a multiple of the tile) */
  keyOffset: number;
  /** CTAs along the (query head of the group, query) rows of one kv head */
  rowGroups: number;
}

/** Where the decoder runs: its SMs and how many decoder CTAs each holds at once (config.ts decodeCtasPerSm). */
export interface DecodeDevice {
  smCount: number;
  ctasPerSm: number;
}

/** The visible keys of the decoder's CTA columns: their sum, and the furthest visible position. */
export interface VisibleWork {
  /** Σ over (batch, kv head) of its visible keys (whole mask blocks; a kv head counts a key its group's heads see) */
  keys: number;
  /** one past the last visible key of any (batch, kv head), rounded up to a mask block */
  span: number;
  /** the first visible key of any (batch, kv head), at a mask block's start (span when none) */
  start: number;
}

/** Waves of CTAs the decoder launches at most for scattered visible keys. */
const MAX_WAVES = 8;
/**
 * A CTA's fixed cost in key tiles' worth of time: loading its queries, the pipeline's first tile,
 * writing its partial rows (and their share of the merge). It keeps the split search from trading a
 * slightly fuller last wave for many tiny CTAs.
 */
const CTA_OVERHEAD_TILES = 1;
/** Splits searched: up to this many launch slots' worth of CTAs. */
const MAX_SLOT_ROUNDS = 4;

// keyed on the classes array, not the mask: a mask that changes in place (a DecodeSteps step mask)
// gets a new classes array from ir's memo (generation / fingerprint), so a stale count is never read
const workMemo = new WeakMap<Uint8Array, Map<string, VisibleWork>>();

/**
 * From the mask's block classes: per (batch, kv head), the kv blocks some query block row of the
 * problem sees (for any query head of the kv head's group). Memoised on the mask's current classes
 * (a decode loop reuses its mask per step).
 */
export function visibleWork(mask: BlockMask, p: Pick<AttentionProblem, 'B' | 'Hq' | 'Hkv' | 'Lq' | 'Lkv'>): VisibleWork {
  const key = `${p.B}:${p.Hq}:${p.Hkv}:${p.Lq}:${p.Lkv}`;
  const cls = blockClasses(mask);
  let byShape = workMemo.get(cls);
  const hit = byShape?.get(key);
  if (hit) return hit;
  const [bq, bk] = mask.blockSize;
  const qBlocks = Math.min(mask.qBlocks, ceilDiv(p.Lq, bq));
  const kvBlocks = Math.min(mask.kvBlocks, ceilDiv(p.Lkv, bk));
  const group = p.Hq / p.Hkv;
  const seen = new Uint8Array(kvBlocks);
  let keys = 0;
  let span = 0;
  let start = p.Lkv;
  for (let b = 0; b < p.B; b++) {
    for (let hk = 0; hk < p.Hkv; hk++) {
      seen.fill(0);
      for (let g = 0; g < group; g++) {
        const plane = (mask.B === 1 ? 0 : b) * mask.H + (mask.H === 1 ? 0 : hk * group + g);
        for (let qb = 0; qb < qBlocks; qb++) {
          const row = (plane * mask.qBlocks + qb) * mask.kvBlocks;
          for (let kb = 0; kb < kvBlocks; kb++) if (cls[row + kb] !== EMPTY) seen[kb] = 1;
        }
        if (mask.H === 1) break;   // every head of the group reads the same plane
      }
      for (let kb = 0; kb < kvBlocks; kb++) {
        if (!seen[kb]) continue;
        keys += Math.min(bk, p.Lkv - kb * bk);
        span = Math.max(span, Math.min(p.Lkv, (kb + 1) * bk));
        start = Math.min(start, kb * bk);
      }
    }
  }
  const work = { keys, span, start: Math.min(start, span) };
  if (!byShape) workMemo.set(cls, (byShape = new Map()));
  byShape.set(key, work);
  return work;
}

/**
 * The modelled makespan of a launch, in tiles: `slots` CTAs run at once, each slot takes the next CTA
 * when one finishes, so the launch lasts ⌈ctas / slots⌉ CTAs of the longest (tiles + overhead).
 */
export function decodeMakespan(ctas: number, tilesPerCta: number, slots: number): number {
  return Math.ceil(ctas / slots) * (tilesPerCta + CTA_OVERHEAD_TILES);
}

export function decodeSplits(
  p: Pick<AttentionProblem, 'B' | 'Hkv' | 'Lq' | 'Lkv' | 'groupSize'>, cfg: DecodeConfig, device: DecodeDevice, work?: VisibleWork,
): DecodeSplits {
  const { smCount } = device;
  const slots = smCount * device.ctasPerSm;
  const rowGroups = ceilDiv(p.groupSize * p.Lq, cfg.rows);
  const ctasPerSplit = p.B * p.Hkv * rowGroups;
  const maxSplits = ceilDiv(p.Lkv, cfg.bn);   // at most one split per key tile
  const maxKeysPerSplit = cfg.bn * cfg.maxTiles;   // a split's tiles fit the kernel's tile list
  // `splits` over all of Lkv, raised until each split's tiles fit the kernel's list
  const fits = (splits: number) => {
    const keysPerSplit = ceilDiv(ceilDiv(p.Lkv, Math.max(splits, ceilDiv(p.Lkv, maxKeysPerSplit))), cfg.bn) * cfg.bn;
    return { splits: ceilDiv(p.Lkv, keysPerSplit), keysPerSplit, keyOffset: 0, rowGroups };
  };
  const everyKeyVisible = !work || (work.keys >= p.B * p.Hkv * p.Lkv && work.span >= p.Lkv);
  if (everyKeyVisible) {
    // the split count with the shortest modelled makespan (the fewest splits among equals: less to merge)
    let best = fits(1);
    let bestCost = decodeMakespan(ctasPerSplit * best.splits, best.keysPerSplit / cfg.bn, slots);
    const most = Math.min(maxSplits, Math.max(1, ceilDiv(MAX_SLOT_ROUNDS * slots, ctasPerSplit)));
    for (let s = 2; s <= most; s++) {
      const f = fits(s);
      const cost = decodeMakespan(ctasPerSplit * f.splits, f.keysPerSplit / cfg.bn, slots);
      if (cost < bestCost) [best, bestCost] = [f, cost];
    }
    return best;
  }
  if (work.keys === 0) return fits(1);   // nothing visible: one split writes the empty rows
  // keys per CTA for two balanced waves, then only the splits that reach a visible key; where the
  // visible keys are scattered over the positions (a paged cache's interleaved pages), every split
  // is partly empty for each sequence: at most MAX_WAVES waves of CTAs, so the launch stays cheap
  // (a sliding window's keys sit at the end: the splits start at the first visible tile)
  const keyOffset = Math.floor(work.start / cfg.bn) * cfg.bn;
  const extent = work.span - keyOffset;
  const perCta = Math.max(cfg.bn, ceilDiv(work.keys * rowGroups, 2 * smCount));
  const fewest = ceilDiv(extent, ceilDiv(MAX_WAVES * smCount, ctasPerSplit));
  const keysPerSplit = Math.min(maxKeysPerSplit, ceilDiv(Math.max(perCta, fewest), cfg.bn) * cfg.bn);
  return { splits: ceilDiv(extent, keysPerSplit), keysPerSplit, keyOffset, rowGroups };   // ≤ maxSplits: keysPerSplit ≥ bn
}

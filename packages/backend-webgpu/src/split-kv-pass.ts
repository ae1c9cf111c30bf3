/**
 * Split-KV decoding: few query rows per kv head over a long KV. Workgroup (split, kv head, batch)
 * covers all rows of the GQA group over its share of the (single) row of tile tables and writes an
 * unnormalized partial (o, m, l) per row; the merge kernel combines the splits by lse. Two kernels
 * write the partials: the lanes decoder (programs/decode.ts) and the forward template in split mode.
 */
import type { ForwardCall } from './attention-call.js';
import { shapeParams } from './attention-call.js';
import type { KernelConfigs } from './kernel-configs.js';
import type { KernelRunner } from './kernel-runner.js';
import type { BuiltProgram } from './pipeline-cache.js';
import { decodeDims, decodeProgram, type DecodeConfig } from './programs/decode.js';
import { forwardDims, forwardProgram, mergeProgram } from './programs/forward.js';
import { hasCaptureGroup } from './programs/hooks.js';

/** The lanes decoder: keys spread over lane groups, the split count from the tuning. */
export async function encodeLanesDecode(runner: KernelRunner, configs: KernelConfigs, cfg: DecodeConfig, call: ForwardCall, enc: GPUCommandEncoder): Promise<void> {
  const built = await runner.build(decodeProgram({ ...cfg, storage: call.storage }, call.hooks));
  const kvTiles = Math.ceil(call.shape.Lkv / cfg.BC);
  const tables = call.tables?.(call.shape.Lq, cfg.BC);
  const maxTiles = tables ? Math.max(1, maxTilesPerRow(tables)) : kvTiles;
  const { splits, tilesPerSplit } = configs.decodeSplits(call.shape, maxTiles, cfg.BC);
  await encodeSplitKv(runner, call, enc, { built, rowSlots: cfg.R, width4: decodeDims(cfg).EV4, rows: cfg.R, kvTiles, tables, splits, tilesPerSplit });
}

/** The forward template in split mode (BR row slots): ~1024 workgroups in all, at least 2 tiles each. */
export async function encodeSplitTemplate(runner: KernelRunner, configs: KernelConfigs, call: ForwardCall, enc: GPUCommandEncoder): Promise<void> {
  const s = call.shape;
  const cfg = configs.forwardConfig(s.E, s.Ev, 'split');
  const built = await runner.build(forwardProgram({ ...cfg, storage: call.storage }, call.hooks));
  const kvTiles = Math.ceil(s.Lkv / cfg.BC);
  const tables = call.tables?.(s.Lq, cfg.BC);
  const maxTiles = tables ? Math.max(1, maxTilesPerRow(tables)) : kvTiles;
  const want = Math.max(1, Math.ceil(1024 / (s.B * s.Hkv)));
  const tilesPerSplit = Math.ceil(maxTiles / Math.min(want, Math.max(1, Math.floor(maxTiles / 2))));
  const rows = (s.Hq / s.Hkv) * s.Lq;
  await encodeSplitKv(runner, call, enc, {
    built, rowSlots: cfg.BR, width4: forwardDims(cfg).V4, rows, kvTiles, tables, splits: Math.ceil(maxTiles / tilesPerSplit), tilesPerSplit,
  });
}

/** The most tiles (partial + full) of any row: the work a split-KV plan divides. */
function maxTilesPerRow(t: { kvNumBlocks: Int32Array; fullKvNumBlocks: Int32Array }): number {
  let most = 0;
  for (let r = 0; r < t.kvNumBlocks.length; r++) most = Math.max(most, t.kvNumBlocks[r]! + t.fullKvNumBlocks[r]!);
  return most;
}

interface SplitKvWork {
  built: BuiltProgram;
  /** row slots per workgroup (the partials' row stride) and vec4 columns per partial row */
  rowSlots: number;
  width4: number;
  /** rows actually used: (query head of the group, query index) pairs */
  rows: number;
  kvTiles: number;
  tables: Parameters<KernelRunner['tables']>[0];
  splits: number;
  tilesPerSplit: number;
}

/**
 * The pass both decoders share: the split kernel over (split, kv head, batch), then the merge (which
 * also writes maxScores when asked: the max of the splits' row maxima). K/V pages of a paged cache
 * are read where the tile tables point, in the same pass: nothing is gathered first.
 */
async function encodeSplitKv(runner: KernelRunner, call: ForwardCall, enc: GPUCommandEncoder, w: SplitKvWork): Promise<void> {
  const s = call.shape;
  const merge = await runner.build(mergeProgram(s.Ev, w.rowSlots, w.width4, { storage: call.storage, maxScores: !!call.maxScores }));
  const partial = runner.memory.scratch('split-KV partials', s.B * s.Hkv * w.splits * w.rowSlots * w.width4 * 16);
  const ml = runner.memory.scratch('split-KV m,l', s.B * s.Hkv * w.splits * w.rowSlots * 8);
  const tables = runner.tables(w.tables, 'kv-major');
  const params = runner.uniform({
    ...shapeParams(call), qTiles: 1, kvTiles: w.kvTiles, ...tables.params, splits: w.splits, tilesPerSplit: w.tilesPerSplit, rows: w.rows,
  });
  const pass = runner.beginPass(enc);
  const mods = hasCaptureGroup(call.hooks) ? [runner.captureBindGroup(w.built.layouts[1]!, call.hooks, call.captures)] : [];
  runner.dispatch(pass, w.built, [[params, tables.buffer, call.q, call.k, call.v, partial, ml], ...mods], [w.splits, s.Hkv, s.B]);
  runner.dispatch(pass, merge, [[params, partial, ml, call.out, call.lse, ...(call.maxScores ? [call.maxScores] : [])]], [Math.ceil((s.B * s.Hq * s.Lq * Math.ceil(s.Ev / 4)) / 64)]);
  pass.end();
}

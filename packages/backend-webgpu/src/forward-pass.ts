/**
 * The fused forward pass: the V-tile flags pre-pass (programs/v-flags.ts), then workgroup (q tile,
 * head, batch) walking its row of the kv-major tile tables, both in one compute pass.
 */
import type { ForwardCall } from './attention-call.js';
import { shapeParams } from './attention-call.js';
import type { KernelRunner } from './kernel-runner.js';
import { forwardProgram, type ForwardConfig } from './programs/forward.js';
import { hasCaptureGroup } from './programs/hooks.js';
import { vFlagWords, vFlagsProgram } from './programs/v-flags.js';

export async function encodeForward(runner: KernelRunner, cfg: ForwardConfig, call: ForwardCall, enc: GPUCommandEncoder): Promise<void> {
  const s = call.shape;
  // both pipelines first: after them, everything up to the submit runs without yielding
  const flagsBuilt = await runner.build(vFlagsProgram(cfg.BC, s.Ev, call.storage));
  const built = await runner.build(forwardProgram({ ...cfg, storage: call.storage, maxScores: !!call.maxScores }, call.hooks));
  const qTiles = Math.ceil(s.Lq / cfg.BR);
  const kvTiles = Math.ceil(s.Lkv / cfg.BC);
  const kvBatches = call.kvShared ? 1 : s.B;
  const tables = runner.tables(call.tables?.(cfg.BR, cfg.BC), 'kv-major', vFlagWords(kvBatches, s.Hkv, s.Lkv, cfg.BC));
  const params = runner.uniform({ ...shapeParams(call), qTiles, kvTiles, ...tables.params });
  const pass = runner.beginPass(enc);
  runner.dispatch(pass, flagsBuilt, [[params, call.v, tables.buffer]], [kvTiles, s.Hkv, kvBatches]);
  const mods = hasCaptureGroup(call.hooks) ? [runner.captureBindGroup(built.layouts[1]!, call.hooks, call.captures)] : [];
  const outputs = [call.out, call.lse, ...(call.maxScores ? [call.maxScores] : [])];
  runner.dispatch(pass, built, [[params, tables.buffer, call.q, call.k, call.v, ...outputs], ...mods], [qTiles, s.Hq, s.B]);
  pass.end();
}

/**
 * The fused forward pass: workgroup (q tile, head, batch) walks its row of the kv-major tile tables.
 */
import type { ForwardCall } from './attention-call.js';
import { shapeParams } from './attention-call.js';
import type { KernelRunner } from './kernel-runner.js';
import { forwardProgram, type ForwardConfig } from './programs/forward.js';
import { hasCaptureGroup } from './programs/hooks.js';

export async function encodeForward(runner: KernelRunner, cfg: ForwardConfig, call: ForwardCall, enc: GPUCommandEncoder): Promise<void> {
  const s = call.shape;
  const built = await runner.build(forwardProgram({ ...cfg, storage: call.storage, maxScores: !!call.maxScores }, call.hooks));
  const qTiles = Math.ceil(s.Lq / cfg.BR);
  const kvTiles = Math.ceil(s.Lkv / cfg.BC);
  const tables = runner.tables(call.tables?.(cfg.BR, cfg.BC), 'kv-major');
  const params = runner.uniform({ ...shapeParams(call), qTiles, kvTiles, ...tables.params });
  const pass = runner.beginPass(enc);
  const mods = hasCaptureGroup(call.hooks) ? [runner.captureBindGroup(built.layouts[1]!, call.hooks, call.captures)] : [];
  const outputs = [call.out, call.lse, ...(call.maxScores ? [call.maxScores] : [])];
  runner.dispatch(pass, built, [[params, tables.buffer, call.q, call.k, call.v, ...outputs], ...mods], [qTiles, s.Hq, s.B]);
  pass.end();
}

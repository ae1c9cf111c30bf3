/**
 * The backward pass: delta = rowsum(dO · O), then dQ per (q tile, head, batch) along the kv-major
 * tables, then dK/dV per (kv tile, kv head, batch) along the q-major ones (and the captures'
 * gradients, scatter-added there). Both views come from the same T × T tile tables. A dLse enters
 * through delta (the preprocess subtracts it), so the dq and dk/dv kernels do not change.
 */
import type { BackwardCall } from './attention-call.js';
import { shapeParams } from './attention-call.js';
import { BufferUsage } from './gpu-memory.js';
import type { KernelRunner } from './kernel-runner.js';
import { dkdvProgram, dqProgram, preprocessProgram, type BackwardConfig } from './programs/backward.js';
import { hasCaptureGroup } from './programs/hooks.js';

export async function encodeBackward(runner: KernelRunner, cfg: BackwardConfig, call: BackwardCall, enc: GPUCommandEncoder): Promise<void> {
  const s = call.shape;
  const T = cfg.T;
  const rows = s.B * s.Hq * s.Lq;
  const qTiles = Math.ceil(s.Lq / T);
  const kvTiles = Math.ceil(s.Lkv / T);
  const pre = await runner.build(preprocessProgram(s.Ev, { storage: call.storage, dLse: !!call.dLse }));
  const stored = { ...cfg, storage: call.storage };
  const dq = await runner.build(dqProgram(stored, call.hooks));
  const dkdv = await runner.build(dkdvProgram(stored, call.hooks));
  const tiles = call.tables?.(T, T);
  const byQ = runner.tables(tiles, 'kv-major');
  const byKv = runner.tables(tiles, 'q-major');
  const base = shapeParams(call);
  const pq = runner.uniform({ ...base, qTiles, kvTiles, ...byQ.params });
  const pk = runner.uniform({ ...base, qTiles: kvTiles, kvTiles: qTiles, ...byKv.params });
  const delta = runner.memory.freeAfterSubmit(runner.memory.createBuffer(rows * 4, BufferUsage.STORAGE, 'delta'));
  const inputs = [call.q, call.k, call.v, call.dOut, call.lse, delta];
  const gradients = call.hooks.captures.filter((c) => c.grad).length;
  const pass = runner.beginPass(enc);
  runner.dispatch(pass, pre, [[pq, call.out, call.dOut, delta, ...(call.dLse ? [call.dLse] : [])]], [Math.ceil(rows / 64)]);
  const mods = hasCaptureGroup(call.hooks);
  runner.dispatch(pass, dq, [[pq, byQ.buffer, ...inputs, call.dq], ...(mods ? [runner.captureBindGroup(dq.layouts[1]!, call.hooks, call.captures)] : [])], [qTiles, s.Hq, s.B]);
  const dkdvGroups: (GPUBuffer[] | GPUBindGroup)[] = [[pk, byKv.buffer, ...inputs, call.dk, call.dv]];
  if (mods) dkdvGroups.push(runner.captureBindGroup(dkdv.layouts[1]!, call.hooks, call.captures));
  else if (gradients) dkdvGroups.push([runner.memory.unusedBinding()]);
  if (gradients) dkdvGroups.push(call.captures.gradBuffers ?? []);
  // one K/V serving every query batch: one dk/dv workgroup per kv tile sums them all
  runner.dispatch(pass, dkdv, dkdvGroups, [kvTiles, s.Hkv, call.kvShared ? 1 : s.B]);
  pass.end();
}

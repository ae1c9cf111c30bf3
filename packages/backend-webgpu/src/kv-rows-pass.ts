/**
 * Writes rows of a [1, heads, rows, width] device tensor from a [1, heads, n, width] one (the row
 * scatter of programs/scatter-rows.ts): what a paged KV cache's append needs on the device.
 */
import { BufferUsage } from './gpu-memory.js';
import type { KernelRunner } from './kernel-runner.js';
import type { Storage } from './programs/common.js';
import { packScatterParams, scatterRowsProgram } from './programs/scatter-rows.js';

export interface RowWrite {
  dst: GPUBuffer;
  /** destination row of each source row (checked in range by the caller) */
  rows: Int32Array;
  /** the source rows: a device buffer, or host data in the storage type (uploaded for this write) */
  src: GPUBuffer | Float32Array | Uint16Array;
  heads: number;
  dstRows: number;
  width: number;
  storage: Storage;
}

/**
 * Encodes and submits the scatter. Resolves once the work is queued, not done: later calls on the
 * same queue see the rows, and the per-call buffers are freed when the GPU is through with them.
 */
export async function submitRowWrite(runner: KernelRunner, w: RowWrite): Promise<void> {
  // the pipeline first: after it, everything up to the submit runs without yielding
  const built = await runner.build(scatterRowsProgram(w.storage));
  const memory = runner.memory;
  const n = w.rows.length;
  const params = memory.uploadForCall(packScatterParams({ heads: w.heads, n, dstRows: w.dstRows, width: w.width }), BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'scatter params');
  const rows = memory.uploadForCall(w.rows, BufferUsage.STORAGE | BufferUsage.COPY_DST, 'scatter rows');
  const src = ArrayBuffer.isView(w.src) ? memory.uploadForCall(w.src, BufferUsage.STORAGE | BufferUsage.COPY_DST, 'scatter source') : w.src;
  const enc = memory.device.createCommandEncoder();
  const pass = runner.beginPass(enc);
  runner.dispatch(pass, built, [[params, rows, src, w.dst]], [Math.min(n, runner.maxWorkgroupsPerDim), w.heads]);
  pass.end();
  void memory.submit(enc);
}

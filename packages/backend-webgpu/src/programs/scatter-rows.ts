/**
 * The row scatter a paged KV cache writes new tokens with (KvStorage.writeKvRows):
 *   DST[0, h, ROWS[i], :] = SRC[0, h, i, :]   for every head h and every i < n.
 * Workgroup (i, h) copies source row i of head h, striding over i when there are more rows than a
 * grid dimension holds. Element by element in the tensors' storage type, so an f16 row of odd width
 * (not a whole number of 4-byte words: writeBuffer and copyBufferToBuffer cannot place it) is
 * written like any other; a write is a few rows per decode step, far from the attention's cost.
 */
import type { GpuProgram } from '../program.js';
import { enableStorage, type Storage } from './common.js';

export const SCATTER_WORKGROUP = 64;

export function scatterRowsProgram(storage: Storage): GpuProgram {
  return { key: `scatter-rows:${storage}`, code: () => scatterRowsKernel(storage), groups: [['uniform', 'read', 'read', 'rw']] };
}

/** The uniform: heads, source rows n, destination rows per head, row width in elements. */
export function packScatterParams(p: { heads: number; n: number; dstRows: number; width: number }): Uint32Array {
  return Uint32Array.from([p.heads, p.n, p.dstRows, p.width]);
}

export function scatterRowsKernel(storage: Storage): string {
  return /* wgsl */ `// flexattn scatter rows (${storage})
${enableStorage(storage)}struct ScatterParams { heads: u32, n: u32, dst_rows: u32, width: u32 }
@group(0) @binding(0) var<uniform> P: ScatterParams;
@group(0) @binding(1) var<storage, read> ROWS: array<u32>;
@group(0) @binding(2) var<storage, read> SRC: array<${storage}>;
@group(0) @binding(3) var<storage, read_write> DST: array<${storage}>;

@compute @workgroup_size(${SCATTER_WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.y;
  for (var i = wg.x; i < P.n; i += grid.x) {
    let src_at = (h * P.n + i) * P.width;
    let dst_at = (h * P.dst_rows + ROWS[i]) * P.width;
    for (var d = lid; d < P.width; d += ${SCATTER_WORKGROUP}u) { DST[dst_at + d] = SRC[src_at + d]; }
  }
}
`;
}

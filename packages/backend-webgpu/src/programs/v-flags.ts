/**
 * The forward's special-value pre-pass: one u32 per (K/V batch, kv head, key tile of the forward's
 * BC) — 1 where that tile's V holds NaN or ±∞. The forward ORs its (batch, kv head)'s flags once,
 * before its tile loop, to pick the careful P·V for all its tiles where any is set (weights of 0
 * never multiply v, docs/architecture.md §4) instead of scanning V in
 * its tile loop: every q tile re-read the same V tile and paid the scan again (~5% on alibi, H100),
 * while this pass reads V once.
 *
 * The flags sit at the front of the forward's tile-table buffer (T): the forward already binds it,
 * so no kernel needs one more storage binding (the device's per-stage limit counts the mods'
 * captures too). Workgroup (key tile, kv head, K/V batch) writes T[(kbase / Lkv) · kv_tiles + tile],
 * kbase being the forward's own first V row of (batch, kv head): a shared K/V (kv_bstride 0) has one
 * row of flags per kv head.
 */
import type { GpuProgram } from '../program.js';
import { PARAMS_STRUCT, enableStorage, tensorIn, type Storage } from './common.js';
import { WGSL_CONSTS } from './hooks.js';

const WORKGROUP = 64;

/** The pre-pass for key tiles of BC keys and V rows of Ev elements: Params, V, then the flags (rw). */
export function vFlagsProgram(BC: number, Ev: number, storage: Storage = 'f32'): GpuProgram {
  return { key: `v-flags:${BC}:${Ev}:${storage}`, code: () => vFlagsKernel(BC, Ev, storage), groups: [['uniform', 'read', 'rw']] };
}

/** Flag words for V tensors of kvBatches × Hkv heads of Lkv keys, in tiles of BC keys. */
export const vFlagWords = (kvBatches: number, Hkv: number, Lkv: number, BC: number): number => kvBatches * Hkv * Math.ceil(Lkv / BC);

export function vFlagsKernel(BC: number, Ev: number, storage: Storage): string {
  const EV4 = Math.ceil(Ev / 4);
  return /* wgsl */ `// flexattn V-tile flags: BC=${BC} Ev=${Ev} ${storage}
${enableStorage(storage)}${WGSL_CONSTS}
${PARAMS_STRUCT}
@group(0) @binding(0) var<uniform> P: Params;
${tensorIn('V', 1, Ev, 0, storage)}
@group(0) @binding(2) var<storage, read_write> FLAGS: array<u32>;
var<workgroup> sBad: atomic<u32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wg.x;
  let hk = wg.y;
  let b = wg.z;
  let kbase = b * P.kv_bstride + hk * P.Lkv;   // as the forward computes it
  let k0 = tile * ${BC}u;
  let n = min(${BC}u, P.Lkv - k0) * ${EV4}u;
  // every element is tested on its own (not a sum): a flag is set exactly when the tile has NaN or ±∞
  var bad = false;
  for (var i = lid; i < n; i += ${WORKGROUP}u) { bad = bad | non_finite4(ld_V(kbase + k0 + i / ${EV4}u, i % ${EV4}u)); }
  if (bad) { atomicOr(&sBad, 1u); }
  workgroupBarrier();
  if (lid == 0u) { FLAGS[(kbase / P.Lkv) * P.kv_tiles + tile] = atomicLoad(&sBad); }
}
`;
}

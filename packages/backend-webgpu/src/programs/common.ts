/** WGSL pieces every kernel shares: the shape/table uniform, tensor loads, block-table walking. */

/**
 * How a tensor's elements are stored on the device: f32, or f16 where the device has `shader-f16`
 * (an f16 tensor then stays f16 in memory; loads widen to f32 and the math accumulates in f32,
 * stores round back). Workgroup memory and registers are always f32.
 */
export type Storage = 'f32' | 'f16';

export const storageBytes = (s: Storage): number => (s === 'f16' ? 2 : 4);

/** The `enable` a kernel needs for its storage type (WGSL's f16 is an extension). */
export const enableStorage = (s: Storage): string => (s === 'f16' ? 'enable f16;\n' : '');

/** Runtime shape parameters (a uniform; new shapes in the same class reuse the pipeline). */
export const PARAMS_STRUCT = /* wgsl */ `
struct Params {
  B: u32, Hq: u32, Hkv: u32, Lq: u32,
  Lkv: u32, group: u32, scale: f32, has_mask: u32,
  mB: u32, mH: u32, q_tiles: u32, kv_tiles: u32,
  off_num: u32, off_idx: u32, off_full_num: u32, off_full_idx: u32,
  splits: u32, tiles_per_split: u32, rows: u32,
  kv_bstride: u32,   // K/V rows between batches: Hkv·Lkv, or 0 when one K/V serves every query batch
}`;

export const PARAMS_WORDS = 20;

export interface ParamsValues {
  B: number; Hq: number; Hkv: number; Lq: number; Lkv: number; group: number; scale: number;
  hasMask: boolean; mB: number; mH: number; qTiles: number; kvTiles: number;
  offNum: number; offIdx: number; offFullNum: number; offFullIdx: number;
  splits?: number; tilesPerSplit?: number; rows?: number;
  /** K/V rows between batches (default Hkv·Lkv; 0 = K/V of batch 1 shared by every query batch) */
  kvBatchStride?: number;
}

export function packParams(p: ParamsValues): ArrayBuffer {
  const buf = new ArrayBuffer(PARAMS_WORDS * 4);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u.set([p.B, p.Hq, p.Hkv, p.Lq, p.Lkv, p.group]);
  f[6] = p.scale;
  u[7] = p.hasMask ? 1 : 0;
  u.set([p.mB, p.mH, p.qTiles, p.kvTiles, p.offNum, p.offIdx, p.offFullNum, p.offFullIdx], 8);
  u.set([p.splits ?? 1, p.tilesPerSplit ?? 0, p.rows ?? 0, p.kvBatchStride ?? p.Hkv * p.Lkv], 16);
  return buf;
}

/**
 * A row-major tensor binding with `vec4` loaders: `ld_<name>(row, d4)` returns elements
 * [4·d4, 4·d4+4) of `row` as f32 (zeros past `width`); `ldr_<name>` returns them as stored (f16
 * storage: widen later with `vec4<f32>(…)`, so a prefetched value need not wait for its load).
 * Vector storage when width % 4 == 0.
 */
export function tensorIn(name: string, binding: number, width: number, group = 0, el: Storage = 'f32'): string {
  const widen = el === 'f32' ? '' : `\nfn ld_${name}(row: u32, d4: u32) -> vec4<f32> { return vec4<f32>(ldr_${name}(row, d4)); }`;
  const loader = el === 'f32' ? `ld_${name}` : `ldr_${name}`;
  if (width % 4 === 0) {
    return `@group(${group}) @binding(${binding}) var<storage, read> ${name}: array<vec4<${el}>>;
fn ${loader}(row: u32, d4: u32) -> vec4<${el}> { return ${name}[row * ${width / 4}u + d4]; }${widen}`;
  }
  return `@group(${group}) @binding(${binding}) var<storage, read> ${name}: array<${el}>;
fn ${loader}(row: u32, d4: u32) -> vec4<${el}> {
  var r = vec4<${el}>(0.0);
  let base = row * ${width}u;
  for (var c = 0u; c < 4u; c++) { if (d4 * 4u + c < ${width}u) { r[c] = ${name}[base + d4 * 4u + c]; } }
  return r;
}${widen}`;
}

/**
 * The matching writer `st_<name>(row, d4, value)` (ignores lanes past `width`). f16 storage rounds
 * the f32 value (WGSL's conversion: overflow gives ±inf, as the host's round-to-nearest-even does,
 * except that values in [65520, 65536) may stay at 65504 on some drivers).
 */
export function tensorOut(name: string, binding: number, width: number, group = 0, el: Storage = 'f32'): string {
  const cast = (x: string) => (el === 'f32' ? x : `${el}(${x})`);
  if (width % 4 === 0) {
    return `@group(${group}) @binding(${binding}) var<storage, read_write> ${name}: array<vec4<${el}>>;
fn st_${name}(row: u32, d4: u32, x: vec4<f32>) { if (d4 < ${width / 4}u) { ${name}[row * ${width / 4}u + d4] = ${el === 'f32' ? 'x' : `vec4<${el}>(x)`}; } }`;
  }
  return `@group(${group}) @binding(${binding}) var<storage, read_write> ${name}: array<${el}>;
fn st_${name}(row: u32, d4: u32, x: vec4<f32>) {
  let base = row * ${width}u;
  for (var c = 0u; c < 4u; c++) { if (d4 * 4u + c < ${width}u) { ${name}[base + d4 * 4u + c] = ${cast('x[c]')}; } }
}`;
}

/**
 * Block tables (one i32 buffer, offsets in Params), in the kernel's own tile units:
 *   num[mB][mH][rows_tiles], idx[mB][mH][rows_tiles][cols_tiles], full_num, full_idx
 * (one view of the ir's tile tables: kv-major for the forward and dQ, q-major for dK/dV).
 * `tile_counts` / `tile_at` walk partial tiles first, then full ones; without a mask every
 * tile is full and the list is 0..cols_tiles. The forward's buffer starts with its V-tile flags
 * (programs/v-flags.ts); the offsets count them.
 */
export const TILE_LIST = /* wgsl */ `
@group(0) @binding(1) var<storage, read> T: array<i32>;
fn table_row(b: u32, h: u32, rt: u32) -> u32 {
  let mb = select(b, 0u, P.mB == 1u);
  let mh = select(h, 0u, P.mH == 1u);
  return (mb * P.mH + mh) * P.q_tiles + rt;
}
// (partial count, full count) of a row of tiles
fn tile_counts(row: u32) -> vec2<u32> {
  if (P.has_mask == 0u) { return vec2<u32>(0u, P.kv_tiles); }
  return vec2<u32>(u32(T[P.off_num + row]), u32(T[P.off_full_num + row]));
}
// the t-th tile of the row's list; .y = 1 when the tile is full (mask_mod is skipped there)
fn tile_at(row: u32, t: u32, n_part: u32) -> vec2<u32> {
  if (P.has_mask == 0u) { return vec2<u32>(t, 1u); }
  if (t < n_part) { return vec2<u32>(u32(T[P.off_idx + row * P.kv_tiles + t]), 0u); }
  return vec2<u32>(u32(T[P.off_full_idx + row * P.kv_tiles + t - n_part]), 1u);
}`;


/**
 * The binding header every attention kernel starts with: the uniform Params (binding 0), the
 * block tables (1) and Q, K, V (2, 3, 4) in `storage`. Outputs and captures follow per kernel.
 */
export function attentionInputs(E: number, Ev: number, storage: Storage = 'f32'): string {
  return `${PARAMS_STRUCT}
@group(0) @binding(0) var<uniform> P: Params;
${TILE_LIST}
${tensorIn('Q', 2, E, 0, storage)}
${tensorIn('K', 3, E, 0, storage)}
${tensorIn('V', 4, Ev, 0, storage)}`;
}

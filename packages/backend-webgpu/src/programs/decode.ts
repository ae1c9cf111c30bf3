/**
 * The split-KV decode kernel: memory-bound attention for few query rows per kv head (Lq·group
 * small, Lkv long), where the tiled forward kernel would waste most of its BR rows.
 *
 * Workgroup (split, kv head, b) handles all R = group·Lq query rows of the kv head (so K and V are
 * read once per GQA group) over its share of the block-table tile list. Its NT invocations form
 * G = NT / LG lane groups of LG lanes; a lane group takes one key at a time (U keys per step,
 * unrolled so their loads are in flight together): lane `l` reads vec4 columns l + LG·j of the K
 * and V rows (coalesced across the lane group, whole rows per group), keeps the matching slices of
 * the R query rows (pre-scaled) and of the R output rows in registers, and the lane group sums its
 * partial dot products with `subgroupShuffleXor` butterflies (through workgroup memory without
 * `subgroups`). Every lane of a group then holds the R scores of its key: mask_mod (partial tiles
 * only; empty tiles are never visited, full tiles skip it), score_mod and the online softmax run
 * per lane group, and P·V accumulates per lane on its vec4 slices — no workgroup memory and no
 * barriers in the key loop. The split's keys are walked as one list of steps (G·U keys each, tile by
 * tile), which lets `prefetch` load step i+1 while step i computes. At the end the lane groups are combined through workgroup memory (a few
 * rows per round) into one unnormalized partial (o, m, l) per row, which `mergeKernel` (forward.ts)
 * combines across splits by lse.
 */
import { attentionGroups, type GpuProgram } from '../program.js';
import { attentionInputs, enableStorage, type Storage } from './common.js';
import { WGSL_CONSTS, captureDecls, unroll, type WgslHooks } from './hooks.js';

export interface DecodeConfig {
  /** query rows per workgroup: group · Lq (compile-time) */ R: number;
  /** head dims of q/k and of v */ E: number; Ev: number;
  /** lanes per key (a power of two; ≤ the subgroup size when `subgroups`) */ LG: number;
  /** invocations per workgroup (a multiple of LG) */ NT: number;
  /** keys per lane group per step (unrolled loads) */ U: number;
  /** keys per block-table tile */ BC: number;
  /** reduce dot products with subgroupShuffleXor (else workgroup memory) */ subgroups: boolean;
  /**
   * issue the next step's K/V loads before this step's math (registers double-buffered), so a
   * lane's loads are in flight while it computes: more bytes in flight for the same occupancy
   */
  prefetch?: boolean;
  /** how Q, K and V are stored (default f32; f16 with shader-f16: half the bytes per key) */
  storage?: Storage;
}

export function decodeDims(c: DecodeConfig) {
  const D4 = Math.ceil(c.E / 4);
  const EV4 = Math.ceil(c.Ev / 4);
  const G = c.NT / c.LG;
  const NVEC = Math.ceil(D4 / c.LG);
  const NVEV = Math.ceil(EV4 / c.LG);
  // rows combined per round at the end: their o slices of every lane group fit in ~16 KiB
  const RC = Math.max(1, Math.min(c.R, Math.floor(16384 / (G * NVEV * c.LG * 16))));
  return { D4, EV4, G, NVEC, NVEV, EV4P: NVEV * c.LG, STEPS: Math.ceil(c.BC / (G * c.U)), RC };
}

/** vec4 registers a lane holds: q and o slices of every row, plus the K/V slices of U keys in flight (twice with prefetch). */
export function decodeRegs(c: DecodeConfig): number {
  const { NVEC, NVEV } = decodeDims(c);
  return (c.R + c.U * (c.prefetch ? 2 : 1)) * (NVEC + NVEV);
}

/** Workgroup memory in bytes. */
export function decodeSmem(c: DecodeConfig): number {
  const { G, EV4P, RC } = decodeDims(c);
  return G * c.R * 8 + G * RC * EV4P * 16 + (c.subgroups ? 0 : c.NT * c.R * c.U * 4) + 16;
}

export function checkDecodeConfig(c: DecodeConfig): string | undefined {
  const pow2 = (x: number) => x >= 1 && (x & (x - 1)) === 0;
  if (!pow2(c.LG) || c.LG > 64) return `lanes per key must be a power of two ≤ 64 (got ${c.LG})`;
  if (c.NT % c.LG !== 0) return `workgroup size ${c.NT} is not a multiple of lanes per key ${c.LG}`;
  if (!(c.U >= 1 && c.U <= 16) || !Number.isInteger(c.U)) return `keys per step must be 1..16 (got ${c.U})`;
  if (!(c.BC >= 1) || !Number.isInteger(c.BC)) return `tile must be a positive integer (got ${c.BC})`;
  if (!(c.R >= 1)) return `rows must be ≥ 1 (got ${c.R})`;
  return undefined;
}

/** The decode kernel as a program: outputs the partials and (m, l) that mergeProgram combines. */
export function decodeProgram(c: DecodeConfig, hooks: WgslHooks): GpuProgram {
  return {
    key: `decode:${c.R}:${c.LG}:${c.NT}:${c.U}:${c.BC}:${c.E}:${c.Ev}:${c.subgroups ? 's' : ''}${c.prefetch ? 'p' : ''}:${c.storage ?? 'f32'}:${hooks.key}`,
    code: () => decodeKernel(c, hooks),
    groups: attentionGroups(hooks, 2),
  };
}

export function decodeKernel(c: DecodeConfig, hooks: WgslHooks): string {
  const err = checkDecodeConfig(c);
  if (err) throw new Error(err);
  const { D4, EV4, G, NVEC, NVEV, EV4P, STEPS, RC } = decodeDims(c);
  const { R, LG, NT, U, BC } = c;
  const storage = c.storage ?? 'f32';
  const rows = (f: (r: number) => string, sep = '\n') => unroll(R, f, sep);
  const keys = (f: (u: number) => string, sep = '\n') => unroll(U, f, sep);
  const qv = (f: (j: number) => string, sep = '\n') => unroll(NVEC, f, sep);
  const vv = (f: (j: number) => string, sep = '\n') => unroll(NVEV, f, sep);
  // column of slice j for this lane, clamped where the last slice runs past the row
  const col = (j: number, W4: number) => ((j + 1) * LG <= W4 ? `lane + ${j * LG}u` : `min(lane + ${j * LG}u, ${W4 - 1}u)`);
  const qLoad = (r: number, j: number) => {
    const ld = `ld_Q(qrow${r}, ${col(j, D4)}) * P.scale`;
    return (j + 1) * LG <= D4 ? ld : `select(vec4<f32>(0.0), ${ld}, lane + ${j * LG}u < ${D4}u)`;
  };
  const dotSum = (r: number, u: number) => qv((j) => `dot(q${r}_${j}, k${u}_${j})`, ' + ');
  const reduce = c.subgroups
    ? unroll(Math.log2(LG), (st) => rows((r) => keys((u) => `    s${r}_${u} += subgroupShuffleXor(s${r}_${u}, ${1 << st}u);`)))
    : `${rows((r) => keys((u) => `    sRed[${(r * U + u) * NT}u + lid] = s${r}_${u};`))}
    workgroupBarrier();
${rows((r) => keys((u) => `    s${r}_${u} = 0.0;`))}
    for (var x = 0u; x < ${LG}u; x++) {
${rows((r) => keys((u) => `      s${r}_${u} += sRed[${(r * U + u) * NT}u + grp * ${LG}u + x];`))}
    }
    workgroupBarrier();`;
  // the K/V loads of the step at `pos` (clamped rows: keys past the tile are masked later)
  // prefetched rows stay in their storage type until used (f16: widened after the load has landed)
  const raw = c.prefetch && storage !== 'f32' ? 'ldr' : 'ld';
  const widen = (x: string) => (storage === 'f32' ? x : `vec4<f32>(${x})`);
  const loads = (pos: string, ind: string, kTo: (u: number, j: number) => string, vTo: (u: number, j: number) => string, ld = 'ld') =>
    [
      keys((u) => `${ind}let kr${u} = kbase + min(${pos}.x + grp + ${u * G}u, P.Lkv - 1u);`),
      keys((u) => qv((j) => `${ind}${kTo(u, j)} ${ld}_K(kr${u}, ck${j});`)),
      keys((u) => vv((j) => `${ind}${vTo(u, j)} ${ld}_V(kr${u}, cv${j});`)),
    ].join('\n');
  const nestedMax = (xs: string[]): string => (xs.length === 1 ? xs[0]! : `max(${xs[0]}, ${nestedMax(xs.slice(1))})`);
  const maxExpr = (r: number) => nestedMax([`m${r}`, ...Array.from({ length: U }, (_, u) => `s${r}_${u}`)]);

  return /* wgsl */ `// flexattn decode: R=${R} LG=${LG} NT=${NT} U=${U} BC=${BC} E=${c.E} Ev=${c.Ev} ${storage}${c.subgroups ? ' subgroups' : ''}${c.prefetch ? ' prefetch' : ''}
${c.subgroups ? 'enable subgroups;\n' : ''}${enableStorage(storage)}${WGSL_CONSTS}
${attentionInputs(c.E, c.Ev, storage)}
@group(0) @binding(5) var<storage, read_write> OP: array<vec4<f32>>;   // [B][Hkv][splits][R][EV4] unnormalized
@group(0) @binding(6) var<storage, read_write> ML: array<vec2<f32>>;   // [B][Hkv][splits][R] (m, l)
${captureDecls(hooks)}

// ---- the mod ----
${hooks.prelude ?? ''}
${hooks.scoreMod}
${hooks.maskMod}

// ---- the kernel ----
// step j of a split's list: (key of lane group 0, end of its tile, 1 when the tile is full)
fn step_at(trow: u32, n_part: u32, t_begin: u32, j: u32) -> vec3<u32> {
  let tile = tile_at(trow, t_begin + j / ${STEPS}u, n_part);
  let k0 = tile.x * ${BC}u;
  return vec3<u32>(k0 + (j % ${STEPS}u) * ${G * U}u, min(k0 + ${BC}u, P.Lkv), tile.y);
}
var<workgroup> sCount: u32;
var<workgroup> sML: array<vec2<f32>, ${G * R}>;     // [G][R] (m, l) per lane group
var<workgroup> sO: array<vec4<f32>, ${G * RC * EV4P}>;   // [G][RC][EV4P] o of RC rows per lane group
${c.subgroups ? '' : `var<workgroup> sRed: array<f32, ${NT * R * U}>;   // [R][U][NT] partial dot products\n`}
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lane = lid % ${LG}u;
  let grp = lid / ${LG}u;
  let sp = wg.x;
  let hk = wg.y;
  let b = wg.z;
  let bi = i32(b);
  let kbase = b * P.kv_bstride + hk * P.Lkv;
  let trow = table_row(b, 0u, 0u);
${rows((r) => `  let hq${r} = hk * P.group + ${r}u / P.Lq;
  let qq${r} = ${r}u % P.Lq;
  let qrow${r} = (b * P.Hq + hq${r}) * P.Lq + qq${r};
${qv((j) => `  let q${r}_${j} = ${qLoad(r, j)};`)}`)}
${qv((j) => `  let ck${j} = ${col(j, D4)};`)}
${vv((j) => `  let cv${j} = ${col(j, EV4)};`)}

  let counts = tile_counts(trow);
  if (lid == 0u) { sCount = counts.x + counts.y; }
  let n_total = workgroupUniformLoad(&sCount);
  let t_begin = min(sp * P.tiles_per_split, n_total);
  let t_end = min(t_begin + P.tiles_per_split, n_total);

  let NEG_INF = neg_inf();
${rows((r) => `  var m${r} = NEG_INF;\n  var l${r} = 0.0;\n${vv((j) => `  var o${r}_${j} = vec4<f32>(0.0);`)}`)}

  // the split's keys as one list of steps (G·U keys each, tile by tile), so that loads can run a
  // step ahead across tile boundaries
  let nsteps = (t_end - t_begin) * ${STEPS}u;
${c.prefetch ? `${keys((u) => qv((j) => `  var pk${u}_${j} = vec4<${storage}>(0.0);`))}
${keys((u) => vv((j) => `  var pv${u}_${j} = vec4<${storage}>(0.0);`))}
  if (nsteps > 0u) {
    let pos = step_at(trow, counts.x, t_begin, 0u);
${loads('pos', '    ', (u, j) => `pk${u}_${j} =`, (u, j) => `pv${u}_${j} =`, raw)}
  }` : ''}

  for (var i = 0u; i < nsteps; i++) {
    let pos = step_at(trow, counts.x, t_begin, i);
    let kend = pos.y;
    let full = pos.z == 1u;
${keys((u) => `    let key${u} = pos.x + grp + ${u * G}u;`)}
${c.prefetch
  ? `    // this step's rows arrived during the last step's math; issue the next step's now
${keys((u) => qv((j) => `    let k${u}_${j} = ${widen(`pk${u}_${j}`)};`))}
${keys((u) => vv((j) => `    let v${u}_${j} = ${widen(`pv${u}_${j}`)};`))}
    {
      let pos = step_at(trow, counts.x, t_begin, min(i + 1u, nsteps - 1u));
${loads('pos', '      ', (u, j) => `pk${u}_${j} =`, (u, j) => `pv${u}_${j} =`, raw)}
    }`
  : `    // all loads first (clamped rows; keys past the tile are masked below)
${loads('pos', '    ', (u, j) => `let k${u}_${j} =`, (u, j) => `let v${u}_${j} =`)}`}
    // this lane's part of each score, then the lane group's sum
${rows((r) => keys((u) => `    var s${r}_${u} = ${dotSum(r, u)};`))}
${reduce}
    // bounds, mask (partial tiles only), score mod
${rows((r) =>
  keys(
    (u) => `    {
      var post = NEG_INF;
      if (key${u} < kend) {
        if (full || mask_mod(bi, i32(hq${r}), i32(qq${r}), i32(key${u}))) { post = score_mod(s${r}_${u}, bi, i32(hq${r}), i32(qq${r}), i32(key${u})); }
      }
      s${r}_${u} = post;
    }`,
  ),
)}
    // online softmax per row; P·V on this lane's slices (where this lane's V slices of the step
    // hold NaN or ±∞, rare, zero weights are skipped: masked keys, clamped rows past the tile)
    let v_bad = non_finite4(${keys((u) => vv((j) => `v${u}_${j}`, ' + '), ' + ')});
${rows(
  (r) => `    {
      let m_new = ${maxExpr(r)};
      let m_use = max_shift(m_new);
      let alpha = exp(m${r} - m_use);
      m${r} = m_new;
${keys((u) => `      let p${u} = exp(s${r}_${u} - m_use);`)}
      l${r} = l${r} * alpha + ${keys((u) => `p${u}`, ' + ')};
      if (v_bad) {
${vv((j) => `        o${r}_${j} = o${r}_${j} * alpha + ${keys((u) => `weighted(p${u}, v${u}_${j})`, ' + ')};`)}
      } else {
${vv((j) => `        o${r}_${j} = o${r}_${j} * alpha + ${keys((u) => `p${u} * v${u}_${j}`, ' + ')};`)}
      }
    }`,
)}
  }

  // combine the lane groups into this split's unnormalized partial (o, m, l) per row, RC rows at a time
  if (lane == 0u) {
${rows((r) => `    sML[grp * ${R}u + ${r}u] = vec2<f32>(m${r}, l${r});`)}
  }
  let pbase = ((b * P.Hkv + hk) * P.splits + sp) * ${R}u;
${unroll(Math.ceil(R / RC), (ch) => {
  const r0 = ch * RC;
  const n = Math.min(RC, R - r0);
  return `  workgroupBarrier();
${unroll(n, (i) => vv((j) => `  sO[(grp * ${RC}u + ${i}u) * ${EV4P}u + lane + ${j * LG}u] = o${r0 + i}_${j};`))}
  workgroupBarrier();
  for (var i = lid; i < ${n * EV4}u; i += ${NT}u) {
    let rr = i / ${EV4}u;
    let d4 = i % ${EV4}u;
    let r = ${r0}u + rr;
    var M = NEG_INF;
    for (var g = 0u; g < ${G}u; g++) { M = max(M, sML[g * ${R}u + r].x); }
    let m_use = max_shift(M);
    var L = 0.0;
    var acc = vec4<f32>(0.0);
    for (var g = 0u; g < ${G}u; g++) {
      let ml = sML[g * ${R}u + r];
      let w = exp(ml.x - m_use);   // 0 for a lane group that saw no key (m = −∞; its o and l are 0)
      L += w * ml.y;
      acc += w * sO[(g * ${RC}u + rr) * ${EV4P}u + d4];
    }
    OP[(pbase + r) * ${EV4}u + d4] = acc;
    if (d4 == 0u) { ML[pbase + r] = vec2<f32>(M, L); }
  }`;
})}
}
`;
}

/**
 * The fused forward kernel, and its split-KV form for decoding.
 *
 * One workgroup computes BR query rows. It keeps the Q tile in workgroup memory, streams BC-key
 * tiles of K and V through workgroup memory, and runs the online softmax in f32. Invocations form
 * a TY × TX grid; invocation (ty, tx) owns score rows ty + i·TY (i < TM) and key columns
 * tx + j·TX (j < TN) — strided, so a quarter-warp reads distinct K rows without bank conflicts and
 * one Q row as a broadcast — and, for P·V, rows ty + i·TY and output vec4 columns tx + k·TX
 * (k < NV). Register tiles and tile loads are unrolled in the generated text.
 *
 * Tiles come from the block tables: partial tiles evaluate mask_mod, full tiles do not, empty
 * tiles are never visited. A tile whose V holds NaN or ±∞ takes the careful P·V (zero weights never
 * multiply v). Forward mode learns that from the pre-pass's flags (programs/v-flags.ts), ORed over
 * the (batch, kv head) once: a workgroup whose V has any flagged tile runs the careful P·V on all
 * its tiles, every other one the plain P·V, with no flag read per tile. In forward mode the mods run
 * in their row/column form (hooks.rowCol: per-row parts once before the tile loop, per-column parts
 * once per tile). A row's running max is shared by its TX invocations through workgroup memory or
 * subgroup shuffles; the running sum stays per invocation until the end.
 *
 * mode 'forward': workgroup (q tile, h, b), the longest q tiles (causal) of each head first; rows
 *                 are q0 + r of head h.
 * mode 'split'  : workgroup (split, kv head, b); rows are the (query head of the GQA group, query)
 *                 pairs r = g·Lq + q, so K/V are read once per group; the workgroup walks its share
 *                 of the tile list and writes an unnormalized partial (o, m, l) that `mergeKernel`
 *                 combines. Requires one table row for the whole group (mask H = 1) and rows ≤ BR.
 */
import { attentionGroups, type GpuProgram } from '../program.js';
import { PARAMS_STRUCT, attentionInputs, enableStorage, tensorOut, type Storage } from './common.js';
import { PLAIN_ROW_COL, WGSL_CONSTS, captureDecls, unroll, type WgslHooks } from './hooks.js';

export interface ForwardConfig {
  /** query rows per workgroup */ BR: number;
  /** keys per tile */ BC: number;
  /** invocations along keys / along rows */ TX: number; TY: number;
  /** head dims of q/k and of v */ E: number; Ev: number;
  /** row-max reduction via subgroupShuffleXor (needs subgroup size ≥ TX, TX a power of two) */
  subgroups: boolean;
  mode: 'forward' | 'split';
  /**
   * K and V tiles share one workgroup buffer (V is loaded after S is done with K: one more
   * barrier per tile, V's load latency not overlapped) so larger tiles fit at large head dims.
   */
  kvShared?: boolean;
  /** with kvShared: issue the V tile's loads with K's (held in registers across S), store them after */
  prefetchV?: boolean;
  /**
   * forward mode: the mods' per-row and per-column parts are computed once per row / column
   * (hooks.rowCol) instead of per element (default true)
   */
  hoist?: boolean;
  /** how Q, K, V and O are stored (default f32; f16 with shader-f16) */
  storage?: Storage;
  /**
   * forward mode: also write each row's max post-mod score (returnAux.maxScores) — a variant with
   * one more binding and one more store per row, so calls without it pay nothing
   */
  maxScores?: boolean;
}

export const roundUp = (x: number, m: number) => Math.ceil(x / m) * m;

export function forwardDims(c: ForwardConfig) {
  const D4 = roundUp(c.E, 4) / 4;
  const V4 = roundUp(c.Ev, 4 * c.TX) / 4;
  return { D4, KS4: D4 + 1, V4, NV: V4 / c.TX, TM: c.BR / c.TY, TN: c.BC / c.TX, NT: c.TX * c.TY };
}

/** Workgroup memory in bytes. */
export function forwardSmem(c: ForwardConfig): number {
  const { D4, KS4, V4 } = forwardDims(c);
  const red = c.subgroups ? 0 : c.BR * c.TX;
  const kv = c.kvShared ? c.BC * Math.max(KS4, V4) * 4 : c.BC * KS4 * 4 + c.BC * V4 * 4;
  return 4 * (c.BR * D4 * 4 + kv + c.BR * c.BC + red + c.BR * c.TX) + 16;
}

/** The forward kernel as a program: outputs O, lse and maxScores if asked (forward) or the partials and (m, l) (split). */
export function forwardProgram(c: ForwardConfig, hooks: WgslHooks): GpuProgram {
  const kv = c.kvShared ? (c.prefetchV ? 'kvp' : 'kv') : '';
  const hoist = c.hoist === false ? '' : 'h';
  const maxScores = c.maxScores && c.mode === 'forward';
  return {
    key: `${c.mode}:${c.BR}x${c.BC}/${c.TX}x${c.TY}:${c.E}:${c.Ev}:${c.subgroups ? 's' : ''}:${kv}:${hoist}:${c.storage ?? 'f32'}${maxScores ? ':max' : ''}:${hooks.key}`,
    code: () => forwardKernel(c, hooks),
    groups: attentionGroups(hooks, maxScores ? 3 : 2),
  };
}

/** How the merge writes: O's storage, and whether it also writes maxScores. */
export interface MergeOutputs {
  storage?: Storage;
  maxScores?: boolean;
}

/** The split-KV merge as a program: Params, the partials, (m, l), O, lse (, maxScores). */
export function mergeProgram(Ev: number, rowSlots: number, width4: number, outs: MergeOutputs = {}): GpuProgram {
  return {
    key: `merge:${Ev}:${rowSlots}:${width4}:${outs.storage ?? 'f32'}${outs.maxScores ? ':max' : ''}`,
    code: () => mergeKernel(Ev, rowSlots, width4, outs),
    groups: [['uniform', 'read', 'read', 'rw', 'rw', ...(outs.maxScores ? (['rw'] as const) : [])]],
  };
}

/**
 * `for (i = lid; i < total; i += NT) dst[at(i)] = load(i)` unrolled as all loads first, then all
 * stores: loads use clamped addresses and `select` (no branches), so they are in flight together.
 */
function strided(...args: Parameters<typeof stridedParts>): string {
  const p = stridedParts(...args);
  return `${p.loads}\n${p.stores}`;
}

/** `strided` split in two: the loads (index lets included) and the stores, to place apart. */
function stridedParts(
  total: number,
  NT: number,
  name: string,
  load: (i: string) => string,
  store: (i: string, x: string) => string,
): { loads: string; stores: string } {
  const n = Math.ceil(total / NT);
  const idx = (u: number) => `${name}i${u}`;
  const lines: string[] = [];
  for (let u = 0; u < n; u++) {
    const partial = (u + 1) * NT > total;
    lines.push(`    let ${idx(u)} = ${partial ? `min(lid + ${u * NT}u, ${total - 1}u)` : `lid + ${u * NT}u`};`);
  }
  for (let u = 0; u < n; u++) lines.push(`    let ${name}x${u} = ${load(idx(u))};`);
  const stores: string[] = [];
  for (let u = 0; u < n; u++) {
    const partial = (u + 1) * NT > total;
    const st = store(idx(u), `${name}x${u}`);
    stores.push(partial ? `    if (lid + ${u * NT}u < ${total}u) { ${st} }` : `    ${st}`);
  }
  return { loads: lines.join('\n'), stores: stores.join('\n') };
}

export function forwardKernel(c: ForwardConfig, hooks: WgslHooks): string {
  const { D4, KS4, V4, NV, TM, TN, NT } = forwardDims(c);
  const { BR, BC, TX, TY } = c;
  const split = c.mode === 'split';
  const storage = c.storage ?? 'f32';
  const maxScores = !split && c.maxScores === true;
  // forward mode with TM a multiple of 4: sP holds four of an invocation's rows (ty + (4g + r)·TY, r < 4)
  // per vec4, so P·V reads TM / 4 vec4 per key instead of TM scalars (its workgroup-memory loads
  // bound that loop) and the softmax stores TN·TM / 4 vec4 instead of TN·TM scalars
  const P4 = !split && TM % 4 === 0;
  const groups = (f: (g: number) => string) => unroll(TM / 4, f);
  const rows = (f: (i: number) => string) => unroll(TM, f);
  const cols = (f: (j: number) => string) => unroll(TN, f);
  const localMax = (i: number) =>
    TN === 1 ? `s${i}_0` : unroll(TN - 1, () => 'max(', '').concat(`s${i}_0`, unroll(TN - 1, (j) => `, s${i}_${j + 1})`, ''));
  const reduceMax = c.subgroups
    ? `${rows((i) => `    var tm${i} = ${localMax(i)};`)}
${unroll(Math.log2(TX), (s) => rows((i) => `    tm${i} = max(tm${i}, subgroupShuffleXor(tm${i}, ${1 << s}u));`))}`
    : `${rows((i) => `    sRed[(ty + ${i * TY}u) * ${TX}u + tx] = ${localMax(i)};`)}
    workgroupBarrier();
${rows((i) => `    var tm${i} = sRed[(ty + ${i * TY}u) * ${TX}u];`)}
    for (var x = 1u; x < ${TX}u; x++) {
${rows((i) => `      tm${i} = max(tm${i}, sRed[(ty + ${i * TY}u) * ${TX}u + x]);`)}
    }`;
  // split mode skips rows past the group (uniform: whole rows of every invocation); forward rows
  // past Lq just compute on zeros
  const guard = (i: number, body: string) => (split ? `        if (valid${i}) {\n${body}\n        }` : body);
  const rowCol = c.hoist === false || split ? PLAIN_ROW_COL : (hooks.rowCol ?? PLAIN_ROW_COL);
  // per-row coordinates: query head, query index, global row, validity
  const rowCoords = split
    ? rows(
        (i) => `  let r${i} = ty + ${i * TY}u;
  let valid${i} = r${i} < P.rows;
  let hq${i} = hk * P.group + r${i} / P.Lq;
  let qq${i} = r${i} % P.Lq;
  let qrow${i} = (b * P.Hq + hq${i}) * P.Lq + qq${i};`,
      )
    : rows(
        (i) => `  let qq${i} = q0 + ty + ${i * TY}u;
  let valid${i} = qq${i} < P.Lq;
  let hq${i} = h;
  let qrow${i} = qbase + qq${i};`,
      );
  const outputs = split
    ? `@group(0) @binding(5) var<storage, read_write> OP: array<vec4<f32>>;   // [B][Hkv][splits][BR][V4] unnormalized
@group(0) @binding(6) var<storage, read_write> ML: array<vec2<f32>>;   // [B][Hkv][splits][BR] (m, l)`
    : `${tensorOut('O', 5, c.Ev, 0, storage)}
@group(0) @binding(6) var<storage, read_write> LSE: array<u32>;   // f32 bits (-inf for empty rows)${
        maxScores ? '\n@group(0) @binding(7) var<storage, read_write> MAXS: array<u32>;   // f32 bits: the row max of the post-mod scores (-inf for empty rows)' : ''
      }`;
  const head = split
    ? `  let sp = wg.x;
  let hk = wg.y;
  let b = wg.z;
  let kbase = b * P.kv_bstride + hk * P.Lkv;
  let trow = table_row(b, 0u, 0u);
  let hc = hk * P.group;   // rows have different heads here: the row/column hooks are the plain ones`
    : `  let qt = P.q_tiles - 1u - wg.x;          // the longest rows (causal) of each head start first
  let h = wg.y;
  let b = wg.z;
  let hk = h / P.group;
  let q0 = qt * ${BR}u;
  let qbase = (b * P.Hq + h) * P.Lq;
  let kbase = b * P.kv_bstride + hk * P.Lkv;
  let vflags = (kbase / P.Lkv) * P.kv_tiles;   // this (batch, kv head)'s V-tile flags at T's front
  let trow = table_row(b, h, qt);
  let hc = h;`;
  const qLoad = (i: string) =>
    split
      ? `select(vec4<f32>(0.0), ld_Q((b * P.Hq + hk * P.group + min(${i} / ${D4}u, P.rows - 1u) / P.Lq) * P.Lq + min(${i} / ${D4}u, P.rows - 1u) % P.Lq, ${i} % ${D4}u), ${i} / ${D4}u < P.rows)`
      : `select(vec4<f32>(0.0), ld_Q(qbase + min(q0 + ${i} / ${D4}u, P.Lq - 1u), ${i} % ${D4}u), q0 + ${i} / ${D4}u < P.Lq)`;
  const range = split
    ? `  let t_begin = min(sp * P.tiles_per_split, n_total);
  let t_end = min(t_begin + P.tiles_per_split, n_total);`
    : `  let t_begin = 0u;
  let t_end = n_total;`;
  const finish = split
    ? `  // write the unnormalized partial and its (max, sum); mergeKernel combines the splits
${rows((i) => `  sSum[(ty + ${i * TY}u) * ${TX}u + tx] = l${i};`)}
  workgroupBarrier();
  let pbase = ((b * P.Hkv + hk) * P.splits + sp) * ${BR}u;
${rows(
  (i) => `  if (valid${i}) {
    var l = 0.0;
    for (var x = 0u; x < ${TX}u; x++) { l += sSum[(ty + ${i * TY}u) * ${TX}u + x]; }
${unroll(NV, (k) => `    OP[(pbase + ty + ${i * TY}u) * ${V4}u + tx + ${k * TX}u] = o${i}_${k};`)}
    if (tx == 0u) { ML[pbase + ty + ${i * TY}u] = vec2<f32>(m${i}, l); }
  }`,
)}`
    : `  // finish: total row sums, normalize, write out and lse (natural log)
${rows((i) => `  sSum[(ty + ${i * TY}u) * ${TX}u + tx] = l${i};`)}
  workgroupBarrier();
${rows(
  (i) => `  if (valid${i}) {
    var l = 0.0;
    for (var x = 0u; x < ${TX}u; x++) { l += sSum[(ty + ${i * TY}u) * ${TX}u + x]; }
    let inv = select(0.0, 1.0 / l, seen(l));   // NaN for an undefined row (a NaN or +∞ score)
${unroll(NV, (k) => `    st_O(qrow${i}, tx + ${k * TX}u, o${i}_${k} * inv);`)}
    if (tx == 0u) {
      LSE[qrow${i}] = select(NEG_INF_BITS, bitcast<u32>(m${i} + log(l)), seen(l));${maxScores ? `\n      MAXS[qrow${i}] = select(NEG_INF_BITS, bitcast<u32>(m${i}), seen(l));` : ''}
    }
  }`,
)}`;

  const sLoop = `      for (var d4 = 0u; d4 < ${D4}u; d4++) {
${cols((j) => `        let k${j} = sK[(tx + ${j * TX}u) * ${KS4}u + d4];`)}
${rows((i) => guard(i, `          let q${i} = sQ[(ty + ${i * TY}u) * ${D4}u + d4];\n${cols((j) => `          s${i}_${j} += dot(q${i}, k${j});`)}`))}
      }`;
  const element = (i: number, j: number, partial: boolean) => {
    const score = `score_mod_rc(s${i}_${j} * P.scale, bi, i32(hq${i}), i32(qq${i}), i32(kj${j}), rs${i}, cs${j})`;
    const inRange = `valid${i} && kj${j} < P.Lkv`;
    const visible = partial ? `mask_mod_rc(bi, i32(hq${i}), i32(qq${i}), i32(kj${j}), rm${i}, cm${j})` : '';
    return `      {
        var post = NEG_INF;
        if (${inRange}) { ${visible ? `if (${visible}) { post = ${score}; }` : `post = ${score};`} }
        s${i}_${j} = post;
      }`;
  };
  const sV = c.kvShared ? 'sK' : 'sV';
  // P·V: a tile whose V holds NaN or ±∞ (rare) takes the form that skips zero weights (masked keys)
  const pvLoop = (product: (p: string, v: string) => string) => `      for (var c = 0u; c < ${BC}u; c++) {
${unroll(NV, (k) => `        let v${k} = ${sV}[c * ${V4}u + tx + ${k * TX}u];`)}
${
  P4
    ? groups((g) => `        let p${g} = sP[(ty + ${g * TY}u) * ${BC}u + c];\n${unroll(4, (r) => unroll(NV, (k) => `        o${4 * g + r}_${k} += ${product(`p${g}.${'xyzw'[r]}`, `v${k}`)};`))}`)
    : rows((i) => guard(i, `          let p${i} = sP[(ty + ${i * TY}u) * ${BC}u + c];\n${unroll(NV, (k) => `          o${i}_${k} += ${product(`p${i}`, `v${k}`)};`)}`))
}
      }`;
  const vParts = stridedParts(
    BC * V4,
    NT,
    'v',
    (i) => `select(vec4<f32>(0.0), ld_V(kbase + min(k0 + ${i} / ${V4}u, P.Lkv - 1u), ${i} % ${V4}u), k0 + ${i} / ${V4}u < P.Lkv)`,
    (i, x) => `${sV}[${i}] = ${x};`,
  );
  // whether the tile's V holds NaN or ±∞. Forward mode: the pre-pass's flags at the front of T
  // (programs/v-flags.ts), all of the (batch, kv head)'s ORed once before the tile loop into the
  // workgroup-uniform v_bad. Split mode reads each V tile once in all, so it flags
  // while loading: the tile (its number + 1) when this invocation's share of V is not all finite, one
  // add per vec4 loaded (a sum of finite values that overflows only sends the tile to the careful P·V)
  let vBad = 'v_bad';
  if (split) {
    const vCount = Math.ceil((BC * V4) / NT);
    vParts.stores = `${vParts.stores}\n    if (non_finite4(${unroll(vCount, (u) => `vx${u}`, ' + ')})) { atomicMax(&sVBad, t + 1u); }`;
    vBad = 'atomicLoad(&sVBad) == t + 1u';
  }
  const vLoad = `${vParts.loads}\n${vParts.stores}`;
  const early = !c.kvShared ? vLoad : c.prefetchV ? vParts.loads : '';
  const late = !c.kvShared ? '' : c.prefetchV ? vParts.stores : vLoad;

  return /* wgsl */ `// flexattn ${c.mode}: BR=${BR} BC=${BC} TX=${TX} TY=${TY} E=${c.E} Ev=${c.Ev} ${storage}${c.subgroups ? ' subgroups' : ''}${maxScores ? ' maxScores' : ''}
${c.subgroups ? 'enable subgroups;\n' : ''}${enableStorage(storage)}${WGSL_CONSTS}
${attentionInputs(c.E, c.Ev, storage)}
${outputs}
${captureDecls(hooks)}

// ---- the mod ----
${hooks.prelude ?? ''}
${hooks.scoreMod}
${hooks.maskMod}
${rowCol}

// ---- the kernel ----
var<workgroup> sQ: array<vec4<f32>, ${BR * D4}>;     // [BR][D4]
${
  c.kvShared
    ? `var<workgroup> sK: array<vec4<f32>, ${BC * Math.max(KS4, V4)}>;    // K tile [BC][D4 + 1] (padded: conflict-free), then V tile [BC][V4]
`
    : `var<workgroup> sK: array<vec4<f32>, ${BC * KS4}>;    // [BC][D4 + 1] (padded: conflict-free)
var<workgroup> sV: array<vec4<f32>, ${BC * V4}>;     // [BC][V4]
`
}${P4 ? `var<workgroup> sP: array<vec4<f32>, ${(BR * BC) / 4}>;     // [TM / 4][TY][BC]: rows ty + (4g + r)·TY in component r` : `var<workgroup> sP: array<f32, ${BR * BC}>;           // [BR][BC] probabilities`}
${c.subgroups ? '' : `var<workgroup> sRed: array<f32, ${BR * TX}>;          // row-max partials\n`}var<workgroup> sSum: array<f32, ${BR * TX}>;          // row-sum partials (end)
var<workgroup> sCount: u32;
var<workgroup> sVBad: atomic<u32>;                    // ${split ? 'the last tile (+ 1) whose V holds NaN or ±∞' : 'some V tile of this (batch, kv head) holds NaN or ±∞'}
${split ? '' : 'var<workgroup> sVHead: u32;                           // the same, for workgroupUniformLoad\n'}
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tx = lid % ${TX}u;
  let ty = lid / ${TX}u;
${head}
  let bi = i32(b);
  let NEG_INF = neg_inf();
${rowCoords}
  // the mods' per-row parts, once (rows past Lq read clamped values and are never written)
${rows((i) => `  let rs${i} = flex_row_s(bi, i32(hq${i}), i32(qq${i}));\n  let rm${i} = flex_row_m(bi, i32(hq${i}), i32(qq${i}));`)}

${strided(BR * D4, NT, 'q', qLoad, (i, x) => `sQ[${i}] = ${x};`)}
  let counts = tile_counts(trow);
${split ? `  if (lid == 0u) { sCount = counts.x + counts.y; }
  let n_total = workgroupUniformLoad(&sCount);` : `  // this (batch, kv head)'s V-tile flags (the pre-pass's, one word per key tile) ORed: one flag for the workgroup
  var vf = 0i;
  for (var i = lid; i < P.kv_tiles; i += ${NT}u) { vf = vf | T[vflags + i]; }
  if (vf != 0i) { atomicOr(&sVBad, 1u); }
  workgroupBarrier();
  if (lid == 0u) {
    sCount = counts.x + counts.y;
    sVHead = atomicLoad(&sVBad);
  }
  let n_total = workgroupUniformLoad(&sCount);
  let v_bad = workgroupUniformLoad(&sVHead) != 0u;`}
${range}

${rows((i) => `  var m${i} = NEG_INF;\n  var l${i} = 0.0;`)}
${rows((i) => unroll(NV, (k) => `  var o${i}_${k} = vec4<f32>(0.0);`))}

  for (var t = t_begin; t < t_end; t++) {
    let tile = tile_at(trow, t, counts.x);
    let k0 = tile.x * ${BC}u;
    let full = tile.y == 1u;
${strided(
  BC * D4,
  NT,
  'k',
  (i) => `select(vec4<f32>(0.0), ld_K(kbase + min(k0 + ${i} / ${D4}u, P.Lkv - 1u), ${i} % ${D4}u), k0 + ${i} / ${D4}u < P.Lkv)`,
  (i, x) => `sK[(${i} / ${D4}u) * ${KS4}u + ${i} % ${D4}u] = ${x};`,
)}
${early}
    workgroupBarrier();

    // S = Q Kᵀ on the register tile (split mode: rows past the group skip the math)
${rows((i) => cols((j) => `    var s${i}_${j} = 0.0;`))}
${sLoop}

    // scale, mods, bounds: full tiles skip mask_mod, partial tiles evaluate it
${cols((j) => `    let kj${j} = k0 + tx + ${j * TX}u;`)}
    if (full) {
${cols((j) => `      let cs${j} = flex_col_s(bi, i32(hc), i32(kj${j}));`)}
${rows((i) => cols((j) => element(i, j, false)))}
    } else {
${cols((j) => `      let cs${j} = flex_col_s(bi, i32(hc), i32(kj${j}));\n      let cm${j} = flex_col_m(bi, i32(hc), i32(kj${j}));`)}
${rows((i) => cols((j) => element(i, j, true)))}
    }

    // online softmax: the row max is shared by the row's TX invocations
${reduceMax}
${rows(
  (i) => `    {
      let m_new = max(m${i}, tm${i});
      let m_use = max_shift(m_new);
      let alpha = exp(m${i} - m_use);
      m${i} = m_new;
${cols((j) => (P4 ? `      s${i}_${j} = exp(s${i}_${j} - m_use);` : `      let p${j} = exp(s${i}_${j} - m_use);\n      sP[(ty + ${i * TY}u) * ${BC}u + tx + ${j * TX}u] = p${j};`))}
      l${i} = l${i} * alpha + ${unroll(TN, (j) => (P4 ? `s${i}_${j}` : `p${j}`), ' + ')};
${unroll(NV, (k) => `      o${i}_${k} *= alpha;`)}
    }`,
)}
${P4 ? groups((g) => cols((j) => `    sP[(ty + ${g * TY}u) * ${BC}u + tx + ${j * TX}u] = vec4<f32>(${unroll(4, (r) => `s${4 * g + r}_${j}`, ', ')});`)) : ''}
    workgroupBarrier();
${late ? `${late}\n    workgroupBarrier();\n` : ''}
    // O += P V
    if (${vBad}) {
${pvLoop((p, v) => `weighted(${p}, ${v})`)}
    } else {
${pvLoop((p, v) => `${p} * ${v}`)}
    }
    workgroupBarrier();
  }

${finish}
}
`;
}

/** Combines split-KV partials: one invocation per (b, h, q) row and output vec4. */
export function mergeKernel(Ev: number, BR: number, V4: number, outs: MergeOutputs = {}): string {
  const EV4 = Math.ceil(Ev / 4);
  const storage = outs.storage ?? 'f32';
  return /* wgsl */ `// flexattn split-KV merge ${storage}${outs.maxScores ? ' maxScores' : ''}
${enableStorage(storage)}${WGSL_CONSTS}
${PARAMS_STRUCT}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> OP: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> ML: array<vec2<f32>>;
${tensorOut('O', 3, Ev, 0, storage)}
@group(0) @binding(4) var<storage, read_write> LSE: array<u32>;${outs.maxScores ? '\n@group(0) @binding(5) var<storage, read_write> MAXS: array<u32>;   // the row max of the post-mod scores' : ''}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d4 = gid.x % ${EV4}u;
  let row = gid.x / ${EV4}u;             // (b, h, q)
  if (row >= P.B * P.Hq * P.Lq) { return; }
  let q = row % P.Lq;
  let h = (row / P.Lq) % P.Hq;
  let b = row / (P.Lq * P.Hq);
  let hk = h / P.group;
  let r = (h % P.group) * P.Lq + q;
  let base = (b * P.Hkv + hk) * P.splits;
  var M = neg_inf();
  for (var s = 0u; s < P.splits; s++) { M = max(M, ML[(base + s) * ${BR}u + r].x); }
  let m_use = max_shift(M);
  var L = 0.0;
  var acc = vec4<f32>(0.0);
  for (var s = 0u; s < P.splits; s++) {
    let ml = ML[(base + s) * ${BR}u + r];
    let w = exp(ml.x - m_use);   // 0 for a split that saw no key (m = −∞; its o and l are 0)
    L += w * ml.y;
    acc += w * OP[((base + s) * ${BR}u + r) * ${V4}u + d4];
  }
  st_O(row, d4, acc * select(0.0, 1.0 / L, seen(L)));
  if (d4 == 0u) {
    LSE[row] = select(NEG_INF_BITS, bitcast<u32>(M + log(L)), seen(L));${outs.maxScores ? '\n    MAXS[row] = select(NEG_INF_BITS, bitcast<u32>(M), seen(L));' : ''}
  }
}
`;
}

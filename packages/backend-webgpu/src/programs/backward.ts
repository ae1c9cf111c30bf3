/**
 * The backward kernels (FlashAttention-2 style, recomputing P from the forward's lse):
 *   preprocess : delta[row] = Σ dO[row] · O[row]
 *   dq         : one workgroup = T query rows of one (b, h), one row per invocation; K/V tiles
 *                stream through workgroup memory along the forward block tables.
 *   dkdv       : one workgroup = T key rows of one (b, kv head), one row per invocation; it walks
 *                the q-major (transposed) tables of every query head of its GQA group, so dk/dv
 *                sum over the group without atomics. Captured-tensor gradients are added here
 *                (each visible (q, kv) is visited exactly once) through score_mod_capture_grads.
 * Per element: post = mod(score); p = exp(post − lse); dp = dO·v; dpost = p (dp − delta);
 * dscore = dpost · score_mod_grad(score); dq += dscore·k·scale; dk += dscore·q·scale; dv += p·dO.
 * A gradient through lse (dLse) is a shift of delta: d lse / d post_j = p_j, so dpost_j =
 * p_j (dp_j − (delta − dLse)) — the preprocess variant with dLse subtracts it, and the dq and dk/dv
 * kernels are the same with or without it.
 * K/V of batch 1 serving every query batch (a paged KV cache): the kernels read K/V with a batch
 * stride of 0, and the dk/dv workgroup of a kv tile walks every query batch, so dk/dv hold the sum.
 */
import { captureGroup, type BindingKind, type GpuProgram } from '../program.js';
import { PARAMS_STRUCT, attentionInputs, enableStorage, tensorIn, tensorOut, type Storage } from './common.js';
import { WGSL_CONSTS, captureDecls, captureGradDecls, type WgslHooks } from './hooks.js';

export interface BackwardConfig {
  /** rows per workgroup (= invocations) and tile edge of the tables */ T: number;
  E: number;
  Ev: number;
  /** how Q, K, V, dO and the gradients are stored (default f32; f16 with shader-f16) */
  storage?: Storage;
}

export function backwardDims(c: BackwardConfig) {
  return { D4: Math.ceil(c.E / 4), V4: Math.ceil(c.Ev / 4) };
}

export function backwardSmem(c: BackwardConfig): number {
  const { D4, V4 } = backwardDims(c);
  return 16 * c.T * (D4 + V4) + 8 * c.T + 16;
}

/** What the preprocess reads beyond O and dO: their storage, and whether a dLse is given. */
export interface PreprocessInputs {
  storage?: Storage;
  dLse?: boolean;
}

/** delta = rowsum(dO · O) (− dLse): Params, O, dO, delta (, dLse). */
export function preprocessProgram(Ev: number, inputs: PreprocessInputs = {}): GpuProgram {
  return {
    key: `pre:${Ev}:${inputs.storage ?? 'f32'}${inputs.dLse ? ':dlse' : ''}`,
    code: () => preprocessKernel(Ev, inputs),
    groups: [['uniform', 'read', 'read', 'rw', ...(inputs.dLse ? (['read'] as const) : [])]],
  };
}

/** The inputs every backward kernel binds: Params, tables, Q, K, V, dO, lse, delta. */
const BACKWARD_INPUTS: BindingKind[] = ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'read'];

/** dQ along the kv-major tables: the inputs, dQ; the mods' group. */
export function dqProgram(c: BackwardConfig, hooks: WgslHooks): GpuProgram {
  return { key: `dq:${c.T}:${c.E}:${c.Ev}:${c.storage ?? 'f32'}:${hooks.key}`, code: () => dqKernel(c, hooks), groups: [[...BACKWARD_INPUTS, 'rw'], ...captureGroup(hooks)] };
}

/**
 * dK, dV along the q-major tables: the inputs, dK, dV; the mods' group (a placeholder group when
 * the mods have none but captures need gradients); group 2 the captures' gradient accumulators.
 */
export function dkdvProgram(c: BackwardConfig, hooks: WgslHooks): GpuProgram {
  const gradients = hooks.captures.filter((cap) => cap.grad).length;
  const mods = captureGroup(hooks);
  const groups: BindingKind[][] = [[...BACKWARD_INPUTS, 'rw', 'rw'], ...mods];
  if (gradients) groups.push(...(mods.length ? [] : [['read'] as BindingKind[]]), Array<BindingKind>(gradients).fill('rw'));
  return { key: `dkdv:${c.T}:${c.E}:${c.Ev}:${c.storage ?? 'f32'}:${hooks.key}`, code: () => dkdvKernel(c, hooks), groups };
}

export function preprocessKernel(Ev: number, inputs: PreprocessInputs = {}): string {
  const storage = inputs.storage ?? 'f32';
  return /* wgsl */ `// flexattn backward preprocess: delta = rowsum(dO * O)${inputs.dLse ? ' - dLse' : ''}
${enableStorage(storage)}${PARAMS_STRUCT}
@group(0) @binding(0) var<uniform> P: Params;
${tensorIn('O', 1, Ev, 0, storage)}
${tensorIn('DO', 2, Ev, 0, storage)}
@group(0) @binding(3) var<storage, read_write> DELTA: array<f32>;${inputs.dLse ? '\n@group(0) @binding(4) var<storage, read> DLSE: array<f32>;' : ''}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= P.B * P.Hq * P.Lq) { return; }
  var acc = 0.0;
  for (var d4 = 0u; d4 < ${Math.ceil(Ev / 4)}u; d4++) { acc += dot(ld_O(row, d4), ld_DO(row, d4)); }
  DELTA[row] = acc${inputs.dLse ? ' - DLSE[row]' : ''};
}
`;
}

const common = (c: BackwardConfig, hooks: WgslHooks, withCapGrads: boolean, outs: string) => `${enableStorage(c.storage ?? 'f32')}${WGSL_CONSTS}
${attentionInputs(c.E, c.Ev, c.storage)}
${tensorIn('DO', 5, c.Ev, 0, c.storage)}
@group(0) @binding(6) var<storage, read> LSE: array<u32>;     // f32 bits; -inf = empty row
@group(0) @binding(7) var<storage, read> DELTA: array<f32>;
${outs}
${captureDecls(hooks)}
${withCapGrads ? captureGradDecls(hooks) : ''}

// ---- the mod ----
${hooks.prelude ?? ''}
${hooks.scoreMod}
${hooks.maskMod}
${hooks.scoreModGrad}
${withCapGrads ? hooks.captureGrads : ''}
`;

/** WGSL lines, each indented by `n` spaces, as one block. */
const indent = (n: number, lines: readonly string[]): string => lines.map((line) => ' '.repeat(n) + line).join('\n');

/**
 * The WGSL that stages one tile of T rows (`width` vec4s each) into workgroup memory: the T
 * invocations stride over its elements, row `first + r` read with `load` at `base + first + r`, and
 * rows past `len` zero (the last tile of a length that is not a multiple of T).
 */
function loadTile(t: { T: number; width: number; into: string; load: string; base: string; first: string; len: string; row: string; indent: number; flag?: string }): string {
  const { T, width, row, first } = t;
  return indent(t.indent, [
    `for (var i = lid; i < ${T * width}u; i += ${T}u) {`,
    `  let ${row} = i / ${width}u;`,
    `  var x = vec4<f32>(0.0);`,
    `  if (${first} + ${row} < ${t.len}) { x = ${t.load}(${t.base} + ${first} + ${row}, i % ${width}u); }`,
    ...(t.flag ? [`  ${t.flag} = ${t.flag} | non_finite4(x);`] : []),
    `  ${t.into}[i] = x;`,
    `}`,
  ]);
}

/**
 * Special values at tile granularity. Where everything an element reads is finite (the staged
 * tile, this workgroup's own rows, their lse and delta), a −∞ post's p = exp(−∞ − lse) = +0 already
 * adds nothing: dv += 0·dO and dpost = 0, so the element needs no test — a test per element between
 * the dot products cost the H100 15–17% of the backward (session 10, A/B on one lease). Only a
 * derivative that is not a finite constant (or a captured tensor's) can meet 0·∞ there, and
 * `zeroNegInf` zeroes dscore with a select. A tile where anything is not finite (NaN, ±∞: rare)
 * takes the careful loop instead, which leaves a −∞ post before p is formed. The flags: lanes OR
 * their finding into the tile's slot of `sBad` (two slots, alternating per tile, so the next one is
 * cleared while this one is read) and `sOwnBad` (the workgroup's own rows, set once).
 */
const SPECIAL_DECLS = `var<workgroup> sBad: array<atomic<u32>, 2>;
var<workgroup> sOwnBad: atomic<u32>;`;
/** After the staging barrier of tile `step`: whether it takes the careful loop; clears the next slot. */
const carefulTile = (n: number, step: string) =>
  indent(n, [
    `let careful = atomicLoad(&sOwnBad) != 0u || atomicLoad(&sBad[${step} & 1u]) != 0u;`,
    `if (lid == 0u) { atomicStore(&sBad[(${step} + 1u) & 1u], 0u); }`,
  ]);
/**
 * How an element loop meets a −∞ post. `careful`: it leaves before p is formed (a tile with special
 * values); `plain`: no test (p = +0 adds nothing; see SPECIAL_DECLS); `flagged`: one loop for both
 * kinds of tile, leaving only where the tile's workgroup-uniform `careful` flag is set.
 */
type LoopForm = 'careful' | 'plain' | 'flagged';
/**
 * The element loops of one kernel. A mod whose gradient is a constant (noop, alibi, relpos, masks)
 * gets two, careful and plain, behind a uniform branch on the tile's flag: its short plain loop has no
 * test and no select, and one flagged loop cost alibi +18% fwd+bwd (H100, session 16). Any other mod
 * pays a select per element anyway (`zeroNegInf`) and has a long body — its gradient hook — that two
 * copies would double: softcap's fwd+bwd was 9% slower with two loops than with one flagged loop.
 */
function elementLoops(hooks: WgslHooks, loop: (form: LoopForm) => string, n: number): string {
  if (!hooks.constantGrad) return loop('flagged');
  const pad = ' '.repeat(n);
  return `${pad}if (careful) {\n${loop('careful')}\n${pad}} else {\n${loop('plain')}\n${pad}}`;
}
/**
 * dscore (and dpost, which captured tensors' gradients read) of a −∞ post is 0 even where its
 * derivative is not finite. Only the flagged loop needs it (a constant gradient meets no 0·∞).
 */
const zeroNegInf = (hooks: WgslHooks, v: string): string[] =>
  hooks.constantGrad ? [] : [`  ${v} = select(${v}, 0.0, bitcast<u32>(post) == NEG_INF_BITS);`];

export function dqKernel(c: BackwardConfig, hooks: WgslHooks): string {
  const { D4, V4 } = backwardDims(c);
  const T = c.T;
  return /* wgsl */ `// flexattn backward dq: T=${T} E=${c.E} Ev=${c.Ev}
${common(c, hooks, false, tensorOut('DQ', 8, c.E, 0, c.storage))}
var<workgroup> sK: array<vec4<f32>, ${T * D4}>;
var<workgroup> sV: array<vec4<f32>, ${T * V4}>;
var<workgroup> sCount: u32;
${SPECIAL_DECLS}

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let qt = wg.x;
  let h = wg.y;
  let b = wg.z;
  let hk = h / P.group;
  let qi = qt * ${T}u + lid;
  let valid = qi < P.Lq;
  let row = (b * P.Hq + h) * P.Lq + min(qi, P.Lq - 1u);
  let kbase = b * P.kv_bstride + hk * P.Lkv;
  var q: array<vec4<f32>, ${D4}>;
  var dout: array<vec4<f32>, ${V4}>;
  var dq: array<vec4<f32>, ${D4}>;
  for (var d = 0u; d < ${D4}u; d++) { q[d] = ld_Q(row, d); dq[d] = vec4<f32>(0.0); }
  for (var d = 0u; d < ${V4}u; d++) { dout[d] = ld_DO(row, d); }
  let lse_bits = LSE[row];
  let lse = bitcast<f32>(lse_bits);
  let live = valid && lse_bits != NEG_INF_BITS;
  let delta = DELTA[row];
  var own_bad = live && !(is_finite(lse) && is_finite(delta));
  for (var d = 0u; d < ${D4}u; d++) { own_bad = own_bad | (live & non_finite4(q[d])); }
  for (var d = 0u; d < ${V4}u; d++) { own_bad = own_bad | (live & non_finite4(dout[d])); }
  if (own_bad) { atomicOr(&sOwnBad, 1u); }
  let trow = table_row(b, h, qt);
  let counts = tile_counts(trow);
  if (lid == 0u) { sCount = counts.x + counts.y; }
  let n_total = workgroupUniformLoad(&sCount);
  for (var t = 0u; t < n_total; t++) {
    let tile = tile_at(trow, t, counts.x);
    let k0 = tile.x * ${T}u;
    let full = tile.y == 1u;
    var bad = false;
${loadTile({ T, width: D4, into: 'sK', load: 'ld_K', base: 'kbase', first: 'k0', len: 'P.Lkv', row: 'c', indent: 4, flag: 'bad' })}
${loadTile({ T, width: V4, into: 'sV', load: 'ld_V', base: 'kbase', first: 'k0', len: 'P.Lkv', row: 'c', indent: 4, flag: 'bad' })}
    if (bad) { atomicOr(&sBad[t & 1u], 1u); }
    workgroupBarrier();
${carefulTile(4, 't')}
    if (live) {
${elementLoops(hooks, (form) => dqLoop(hooks, T, D4, V4, form), 6)}
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var d = 0u; d < ${D4}u; d++) { st_DQ(row, d, dq[d] * P.scale); }
  }
}
`;
}

/**
 * An element's head in both gradient loops: the mask test, s = (q·k)·scale from the row's and the
 * key's vec4s (`dot`: its two operands for index d), the score mod's post; the loop's form says whether
 * a −∞ post leaves here, before p is formed (it contributes nothing, like a masked key).
 */
function elementHead(dot: string, D4: number, form: LoopForm): string[] {
  return [
    '  if (!full && !mask_mod(i32(b), i32(h), i32(qi), i32(kj))) { continue; }',
    '  var s = 0.0;',
    `  for (var d = 0u; d < ${D4}u; d++) { s += dot(${dot}); }`,
    '  s *= P.scale;',
    '  let post = score_mod(s, i32(b), i32(h), i32(qi), i32(kj));',
    ...{
      careful: ['  if (bitcast<u32>(post) == NEG_INF_BITS) { continue; }   // contributes nothing, like a masked key'],
      flagged: ['  if (careful && bitcast<u32>(post) == NEG_INF_BITS) { continue; }'],
      plain: [],
    }[form],
  ];
}

/** The dq kernel's loop over the staged keys in one form (`LoopForm`). */
function dqLoop(hooks: WgslHooks, T: number, D4: number, V4: number, form: LoopForm): string {
  return indent(8, [
    `for (var c = 0u; c < ${T}u; c++) {`,
    '  let kj = k0 + c;',
    '  if (kj >= P.Lkv) { break; }',
    ...elementHead(`q[d], sK[c * ${D4}u + d]`, D4, form),
    '  let p = exp(post - lse);',
    '  var dp = 0.0;',
    `  for (var d = 0u; d < ${V4}u; d++) { dp += dot(dout[d], sV[c * ${V4}u + d]); }`,
    '  var ds = p * (dp - delta) * score_mod_grad(s, i32(b), i32(h), i32(qi), i32(kj));',
    ...zeroNegInf(hooks, 'ds'),
    `  for (var d = 0u; d < ${D4}u; d++) { dq[d] += ds * sK[c * ${D4}u + d]; }`,
    '}',
  ]);
}

/** The dk/dv kernel's loop over the staged query rows in one form (`LoopForm`). */
function dkdvLoop(hooks: WgslHooks, T: number, D4: number, V4: number, form: LoopForm): string {
  return indent(10, [
    `for (var r = 0u; r < ${T}u; r++) {`,
    '  let qi = q0 + r;',
    '  if (qi >= P.Lq) { break; }',
    '  let ld = sL[r];',
    '  if (bitcast<u32>(ld.x) == NEG_INF_BITS) { continue; }',
    ...elementHead(`sQ[r * ${D4}u + d], k[d]`, D4, form),
    '  let p = exp(post - ld.x);',
    '  var dp = 0.0;',
    `  for (var d = 0u; d < ${V4}u; d++) {`,
    `    let o = sDO[r * ${V4}u + d];`,
    '    dv[d] += p * o;',
    '    dp += dot(o, v[d]);',
    '  }',
    '  var dpost = p * (dp - ld.y);',
    ...zeroNegInf(hooks, 'dpost'),
    '  score_mod_capture_grads(dpost, s, i32(b), i32(h), i32(qi), i32(kj));',
    '  var ds = dpost * score_mod_grad(s, i32(b), i32(h), i32(qi), i32(kj));',
    ...zeroNegInf(hooks, 'ds'),
    `  for (var d = 0u; d < ${D4}u; d++) { dk[d] += ds * sQ[r * ${D4}u + d]; }`,
    '}',
  ]);
}

export function dkdvKernel(c: BackwardConfig, hooks: WgslHooks): string {
  const { D4, V4 } = backwardDims(c);
  const T = c.T;
  return /* wgsl */ `// flexattn backward dk/dv: T=${T} E=${c.E} Ev=${c.Ev}
${common(c, hooks, true, `${tensorOut('DK', 8, c.E, 0, c.storage)}\n${tensorOut('DV', 9, c.Ev, 0, c.storage)}`)}
var<workgroup> sQ: array<vec4<f32>, ${T * D4}>;
var<workgroup> sDO: array<vec4<f32>, ${T * V4}>;
var<workgroup> sL: array<vec2<f32>, ${T}>;     // (lse, delta); lse = −∞ marks an empty row
var<workgroup> sCount: u32;
${SPECIAL_DECLS}

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kt = wg.x;
  let hk = wg.y;
  let kb = wg.z;   // K/V's batch
  let kj = kt * ${T}u + lid;
  let valid = kj < P.Lkv;
  let krow = kb * P.kv_bstride + hk * P.Lkv + min(kj, P.Lkv - 1u);
  // the (query batch, head of the GQA group) pairs that read this K/V: its own batch, or every
  // batch when one K/V serves them all (batch stride 0)
  let kv_shared = P.kv_bstride == 0u;
  let pair_end = select(kb + 1u, P.B, kv_shared) * P.group;
  var k: array<vec4<f32>, ${D4}>;
  var v: array<vec4<f32>, ${V4}>;
  var dk: array<vec4<f32>, ${D4}>;
  var dv: array<vec4<f32>, ${V4}>;
  for (var d = 0u; d < ${D4}u; d++) { k[d] = ld_K(krow, d); dk[d] = vec4<f32>(0.0); }
  for (var d = 0u; d < ${V4}u; d++) { v[d] = ld_V(krow, d); dv[d] = vec4<f32>(0.0); }
  var own_bad = false;
  for (var d = 0u; d < ${D4}u; d++) { own_bad = own_bad | (valid & non_finite4(k[d])); }
  for (var d = 0u; d < ${V4}u; d++) { own_bad = own_bad | (valid & non_finite4(v[d])); }
  if (own_bad) { atomicOr(&sOwnBad, 1u); }
  var step = 0u;   // tiles so far, over every (batch, head) pair: sBad's slot
  for (var pair = select(kb, 0u, kv_shared) * P.group; pair < pair_end; pair++) {
    let b = pair / P.group;
    let h = hk * P.group + pair % P.group;
    let qbase = (b * P.Hq + h) * P.Lq;
    let trow = table_row(b, h, kt);
    let counts = tile_counts(trow);
    if (lid == 0u) { sCount = counts.x + counts.y; }
    let n_total = workgroupUniformLoad(&sCount);
    for (var t = 0u; t < n_total; t++) {
      let tile = tile_at(trow, t, counts.x);
      let q0 = tile.x * ${T}u;
      let full = tile.y == 1u;
      var bad = false;
${loadTile({ T, width: D4, into: 'sQ', load: 'ld_Q', base: 'qbase', first: 'q0', len: 'P.Lq', row: 'r', indent: 6, flag: 'bad' })}
${loadTile({ T, width: V4, into: 'sDO', load: 'ld_DO', base: 'qbase', first: 'q0', len: 'P.Lq', row: 'r', indent: 6, flag: 'bad' })}
      {
        var l = vec2<f32>(neg_inf(), 0.0);
        if (q0 + lid < P.Lq) {
          let bits = LSE[qbase + q0 + lid];
          if (bits != NEG_INF_BITS) {
            l = vec2<f32>(bitcast<f32>(bits), DELTA[qbase + q0 + lid]);
            bad = bad | !(is_finite(l.x) && is_finite(l.y));
          }
        }
        sL[lid] = l;
      }
      if (bad) { atomicOr(&sBad[step & 1u], 1u); }
      workgroupBarrier();
${carefulTile(6, 'step')}
      if (valid) {
${elementLoops(hooks, (form) => dkdvLoop(hooks, T, D4, V4, form), 8)}
      }
      workgroupBarrier();
      step++;
    }
  }
  if (valid) {
    for (var d = 0u; d < ${D4}u; d++) { st_DK(krow, d, dk[d] * P.scale); }
    for (var d = 0u; d < ${V4}u; d++) { st_DV(krow, d, dv[d]); }
  }
}
`;
}

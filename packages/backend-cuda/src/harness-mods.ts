/**
 * The mods of the CUDA kernel harness (harness/harness.cu compiles once per mod, `#include MOD_FILE`),
 * generated from the kernel-hook plan instead of written by hand: each is a catalogue mod whose
 * device prelude is what the backend renders (renderMods) and whose float64 host reference is the
 * same plan rendered by HOST_DIALECT, so the harness checks the kernels against the mods users run.
 * `setup` points the params structs at the harness's data (ModCtx, harness/mod-ctx.h).
 * harness/gen-mods.mjs writes the headers (the Makefile runs it); harness-mods.test.ts compiles them
 * and checks the host reference against ir's evaluator.
 */
import {
  C_OP_TABLE,
  CapturedTensor,
  type HookDialect,
  type HookType,
  type IRDType,
  type MaskMod,
  type ModParam,
  type Node,
  type OpTable,
  type ParamAccess,
  type ParamBlock,
  renderKernelHooks,
  type Scalar,
  type ScoreMod,
  traceMaskMod,
  traceScoreMod,
  type TracedMod,
} from '@flexattn/ir';
import { alibi, causal, documentMask, relativePosition, slidingWindow, softcap } from '@flexattn/mods';
import { maskReadsTensor, sharesColumnValues } from './config.js';
import { cIntegerHelpers, modMacros, PRELUDE_HELPERS, renderMods } from './renderer.js';

/** The harness's data a parameter can be bound to (the fields of ModCtx). */
const CTX_TENSORS = {
  /** ALiBi-style per-head slopes: H floats, with a gradient buffer. */
  slope: { host: 'c.slope', device: 'c.d_slope', grad: 'c.d_grad_slope', length: 'c.H', dtype: 'f32' },
  /** Document ids per position: doc_len ints. */
  doc: { host: 'c.doc', device: 'c.d_doc', grad: undefined, length: 'c.doc_len', dtype: 'i32' },
} as const;
const CTX_SCALARS = { window: 'c.window' } as const;
export type CtxTensor = keyof typeof CTX_TENSORS;
export type CtxScalar = keyof typeof CTX_SCALARS;

export interface HarnessMod {
  /** The binary's and the header's name. */
  name: string;
  /** MOD_NAME, what the harness prints and looks its H100 anchors up by (default: `name`). */
  modName?: string;
  scoreMod?: ScoreMod;
  maskMod?: MaskMod;
  /** Which ModCtx data each captured tensor / scalar reads; an unbound scalar keeps its traced value. */
  bind?: readonly (readonly [ModParam, CtxTensor | CtxScalar])[];
  /** false: no row/column hoisting and no index bound (the per-element form, for comparison). */
  hoist?: boolean;
}

/** What the harness builds (harness/Makefile's MODS). */
export function harnessMods(): HarnessMod[] {
  const window = slidingWindow(1024);
  const slopes = alibi(8, { learnable: true });
  const docs = documentMask({ lengths: [8, 8] });
  const bindSlopes = [[slopes.params.slopes, 'slope']] as const;
  const bindDocs = [[docs.params.docIds, 'doc']] as const;
  return [
    { name: 'noop' },
    { name: 'causal', maskMod: causal() },
    { name: 'swa', modName: 'sliding_window_causal', maskMod: window, bind: [[window.params.left, 'window']] },
    { name: 'softcap', scoreMod: softcap(20) },
    { name: 'softcap_approx', scoreMod: softcap(20, { approx: true }) },
    { name: 'alibi', scoreMod: slopes, bind: bindSlopes, hoist: false },
    { name: 'alibi_rc', scoreMod: slopes, bind: bindSlopes },
    // the blog's relative position (score + (q − kv)): additive like ALiBi, no captured tensor
    { name: 'relpos', scoreMod: relativePosition() },
    { name: 'document', maskMod: docs, bind: bindDocs, hoist: false },
    { name: 'document_rc', maskMod: docs, bind: bindDocs },
  ];
}

// ---------------------------------------------------------------------------------------------
// the host dialect: the plan's roots as float64 C++ (the reference the harness checks against)
// ---------------------------------------------------------------------------------------------

const HOST_TYPE: Record<IRDType, string> = { f32: 'double', i32: 'int', bool: 'bool' };
const isInt = (n: Node) => n.dtype === 'i32';
const fromBool = (n: Node) => n.src[0]!.dtype === 'bool';

/** ir's C table with float math in double (std::) and host helpers for ir's integer semantics. */
const HOST_OP_TABLE: OpTable = {
  ...C_OP_TABLE,
  mod: ([a, b], n) => (isInt(n) ? `host_imod(${a}, ${b})` : `host_fmod(${a}, ${b})`),
  floordiv: ([a, b], n) => (isInt(n) ? `host_ifloordiv(${a}, ${b})` : `std::floor(${a} / ${b})`),
  pow: ([a, b]) => `std::pow(${a}, ${b})`,
  min: ([a, b], n) => (isInt(n) ? `std::min(${a}, ${b})` : `std::fmin(${a}, ${b})`),
  max: ([a, b], n) => (isInt(n) ? `std::max(${a}, ${b})` : `std::fmax(${a}, ${b})`),
  abs: ([a], n) => (isInt(n) ? `std::abs(${a})` : `std::fabs(${a})`),
  exp: ([a]) => `std::exp(${a})`,
  exp2: ([a]) => `std::exp2(${a})`,
  log: ([a]) => `std::log(${a})`,
  log2: ([a]) => `std::log2(${a})`,
  tanh: ([a]) => `std::tanh(${a})`,
  // the approximation's meaning is the exact tanh: the reference computes that
  tanh_approx: ([a]) => `std::tanh(${a})`,
  sigmoid: ([a]) => `(1.0 / (1.0 + std::exp(-${a})))`,
  sqrt: ([a]) => `std::sqrt(${a})`,
  rsqrt: ([a]) => `(1.0 / std::sqrt(${a}))`,
  floor: ([a], n) => (isInt(n) ? a! : `std::floor(${a})`),
  ceil: ([a], n) => (isInt(n) ? a! : `std::ceil(${a})`),
  tofloat: ([a], n) => (fromBool(n) ? `(${a} ? 1.0 : 0.0)` : `((double)${a})`),
  toint: ([a], n) => (fromBool(n) ? `(${a} ? 1 : 0)` : n.src[0]!.dtype === 'f32' ? `host_f2i(${a})` : a!),
};

function hostLiteral(value: number | boolean, dtype: IRDType): string {
  if (typeof value === 'boolean' || dtype === 'bool') return value ? 'true' : 'false';
  if (dtype === 'i32') return value === -2147483648 ? '(-2147483647 - 1)' : value < 0 ? `(${value})` : String(value);
  if (Number.isNaN(value)) return 'NAN';
  if (!Number.isFinite(value)) return value > 0 ? 'INFINITY' : '(-INFINITY)';
  // the constant as traced (a double), not rounded to f32: this is the float64 reference
  const t = Object.is(value, -0) ? '-0.0' : /[.e]/.test(String(value)) ? String(value) : `${value}.0`;
  return t.startsWith('-') ? `(${t})` : t;
}

const HOST_HELPERS = `${cIntegerHelpers('static inline', 'host')}
static inline double host_fmod(double a, double b) { return a - b * std::floor(a / b); }
static inline int host_f2i(double x) {  // truncation, saturating, NaN -> 0
  if (x != x) return 0;
  if (x >= 2147483647.0) return 2147483647;
  if (x <= -2147483648.0) return -2147483647 - 1;
  return (int)x;
}`;

/** Where a parameter's data lives in ModCtx (host side), from the mod's bindings. */
function hostDialect(binding: (p: ModParam) => CtxTensor | CtxScalar | undefined): HookDialect {
  const tensorOf = (a: ParamAccess) => {
    const b = binding(a.param);
    if (!b || !(b in CTX_TENSORS)) throw new Error(`harness mod: captured tensor slot ${a.field.slot} of the ${a.owner} mod is bound to no ModCtx tensor`);
    return CTX_TENSORS[b as CtxTensor];
  };
  const typeText = (t: HookType) => (typeof t === 'object' ? t.struct : t === 'void' ? 'void' : HOST_TYPE[t]);
  return {
    ops: HOST_OP_TABLE,
    declare: (dtype, name, expr) => `const ${HOST_TYPE[dtype]} ${name} = ${expr};`,
    literal: hostLiteral,
    arg: (name) => name,
    // HostMod's static functions (harness.cu calls them); the row/column forms are not emitted
    names: {
      scoreMod: 'score',
      scoreModGrad: 'grad',
      captureGrads: 'capture',
      maskMod: 'mask',
      scoreModRowCol: 'score_rc',
      scoreModGradRowCol: 'grad_rc',
      maskModRowCol: 'mask_rc',
      hoisted: (side) => ({ struct: `Host${side}`, builder: `host_${side}` }),
    },
    hoistGroups: 'per-side',
    func: (f) => {
      // every function reads ModCtx; the scatter adds into the reference's gradient of the slopes
      const context = ['const ModCtx& c', ...(f.name === 'capture' ? ['std::vector<double>& grad'] : [])];
      const params = [...context, ...f.params.map((p) => `${typeText(p.type)} ${p.name}`)].join(', ');
      const body = [...f.body, ...(f.result === undefined ? [] : [`  return ${f.result};`])];
      return [`static ${typeText(f.returns)} ${f.name}(${params}) {`, ...body, '}'].join('\n');
    },
    struct: (name) => `struct ${name};`,
    construct: (struct) => `${struct}{}`,
    param: (a) => {
      switch (a.field.role) {
        case 'tensor':
          return tensorOf(a).host;
        case 'dim':
          return tensorOf(a).length;
        case 'scalar': {
          const b = binding(a.param);
          return b && b in CTX_SCALARS ? CTX_SCALARS[b as CtxScalar] : hostLiteral((a.param as Scalar).value, a.field.dtype);
        }
        default:
          throw new Error(`internal: the host reference reads no ${a.field.role} field`);
      }
    },
    clampIndex(index, dim) {
      return `host_clampi(${index}, ${this.param(dim)})`;
    },
    atomicAdd: (_grad, index, value) => `grad[${index}] += ${value};`,
  };
}

/** `setup`: the params structs' fields from ModCtx (device pointers, lengths, scalar values). */
function setupLines(block: ParamBlock, captures: readonly ModParam[], struct: 'sp' | 'mp', binding: (p: ModParam) => CtxTensor | CtxScalar | undefined): string[] {
  const lines: string[] = [];
  for (const f of block.fields) {
    const c = captures[f.slot];
    const b = c && binding(c);
    const tensor = b && b in CTX_TENSORS ? CTX_TENSORS[b as CtxTensor] : undefined;
    const lhs = `${struct}.${f.name}`;
    switch (f.role) {
      case 'tensor':
      case 'dim':
      case 'grad': {
        if (!tensor) throw new Error(`harness mod: captured tensor slot ${f.slot} is bound to no ModCtx tensor`);
        if (f.role === 'tensor' && tensor.dtype !== f.dtype) throw new Error(`harness mod: slot ${f.slot} is ${f.dtype}, ModCtx data ${b} is ${tensor.dtype}`);
        if ((c as CapturedTensor).shape.length !== 1) throw new Error('harness mod: ModCtx holds 1-D tensors only');
        const rhs = f.role === 'tensor' ? tensor.device : f.role === 'dim' ? tensor.length : tensor.grad;
        if (!rhs) throw new Error(`harness mod: ModCtx has no gradient buffer for ${b}`);
        lines.push(`${lhs} = ${rhs};`);
        break;
      }
      case 'scalar':
        lines.push(`${lhs} = ${b && b in CTX_SCALARS ? CTX_SCALARS[b as CtxScalar] : hostLiteral((c as Scalar).value, f.dtype)};`);
        break;
      case 'pad':
        break;
    }
  }
  return lines;
}

export interface RenderedHarnessMod {
  name: string;
  header: string;
  scoreMod: TracedMod | undefined;
  maskMod: TracedMod | undefined;
}

/** The harness header of one mod: MOD_NAME, the backend's prelude mod part, HostMod. */
export function renderHarnessMod(m: HarnessMod): RenderedHarnessMod {
  const scoreMod = m.scoreMod && traceScoreMod(m.scoreMod);
  const maskMod = m.maskMod && traceMaskMod(m.maskMod);
  const hoist = m.hoist ?? true;
  // with hoisting, the index bound the backend passes for every shape below 2^22
  const device = renderMods(scoreMod, maskMod, { hoist, indexLimit: hoist ? 2 ** 22 : undefined });
  const plan = device.plan;
  const bindings = new Map<ModParam, CtxTensor | CtxScalar>(m.bind ?? []);
  const binding = (p: ModParam) => bindings.get(p);
  if (plan.score.params.fields.filter((f) => f.role === 'grad').length > 1) throw new Error('harness mod: ModCtx holds one gradient buffer');
  const host = renderKernelHooks(plan, hostDialect(binding));
  const indent = (text: string) => text.split('\n').map((l) => `  ${l}`).join('\n');
  const header = [
    `// generated by @flexattn/backend-cuda (src/harness-mods.ts) from the kernel-hook plan; make regenerates it`,
    `// score mod: ${scoreMod ? scoreMod.name : 'identity'}, mask mod: ${maskMod ? maskMod.name : 'none'}${hoist ? '' : ' (no row/column hoisting)'}`,
    `#define MOD_NAME "${m.modName ?? m.name}"`,
    `#define HOST_HAS_CAPTURE ${plan.flags.hasCaptureGrads ? 1 : 0}`,
    ...modMacros(device),
    // the Hopper bodies' column / row values of a mask reading a tensor, as config.ts's
    // FwdConfig.smemCols turns them on in the backend's prelude for the same mods
    ...(sharesColumnValues(device.identityScore, maskReadsTensor(maskMod)) ? ['#define FLEX_FA3_SMEM_COLS 1'] : []),
    PRELUDE_HELPERS,
    device.source,
    '// ---- host side: the same plan in float64 ----',
    HOST_HELPERS,
    'struct HostMod {',
    indent(host.maskMod),
    indent(host.scoreMod),
    indent(host.scoreModGrad),
    indent(host.captureGrads),
    indent(
      [
        'static void setup(ModCtx& c, FlexScoreParams& sp, FlexMaskParams& mp) {',
        ...setupLines(plan.score.params, plan.score.captures, 'sp', binding).map((l) => `  ${l}`),
        ...setupLines(plan.mask.params, plan.mask.captures, 'mp', binding).map((l) => `  ${l}`),
        '}',
      ].join('\n'),
    ),
    '};',
    '',
  ].join('\n');
  return { name: m.name, header, scoreMod, maskMod };
}

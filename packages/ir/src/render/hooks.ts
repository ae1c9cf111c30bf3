/**
 * The one hook assembler: a `KernelHookPlan` (hook-plan.ts) rendered through a `HookDialect` into
 * the functions kernel templates call. Every C-like backend (CUDA, WGSL, the CUDA harness's host
 * reference) renders its hooks here; a backend supplies only the dialect — its op table, how it
 * spells a function, a struct, a parameter read and an atomic add — and glues the pieces into its
 * templates.
 *
 * The hooks (names are the dialect's; CUDA's in brackets):
 *   scoreMod(score, b, h, q, kv)                    -> f32   [flex_score_mod]
 *   scoreModGrad(score, b, h, q, kv)                -> f32   [flex_score_mod_grad]   ∂score′/∂score
 *   captureGrads(dpost, score, b, h, q, kv)                  [flex_score_mod_capture_grads]
 *   maskMod(b, h, q, kv)                            -> bool  [flex_mask_mod]
 * and their row/column form for kernels that evaluate a tile of (q, kv) pairs: the hoisted values
 * of a query row and of a key column in structs built once per row / column, and
 *   scoreModRowCol(score, b, h, q, kv, row, col)    -> f32   [flex_score_mod_rc]
 *   scoreModGradRowCol(score, b, h, q, kv, row, col)-> f32   [flex_score_mod_grad_rc]
 *   maskModRowCol(b, h, q, kv, row, col)            -> bool  [flex_mask_mod_rc]
 * that read those values instead of recomputing them. Where the dialect names it and the score mod
 * is `score + B` with B affine in kv (hook-plan.ts biasKvSlope), also
 *   biasKvSlope(score, b, h, q, kv)                 -> f32   [flex_bias_kv_slope]    dB/dkv
 * (score and kv are unread: the signature is the score hook's, so a kernel calls it alike).
 * Every hook also receives its mod's parameters where the dialect passes them as a struct
 * (`paramsType`); otherwise they are module-scope bindings the dialect names itself.
 */
import type { LoadArg, Node, ScalarArg } from '../node';
import type { ModParam } from '../params';
import type { DType } from '../ops';
import { type CStyleDialect, renderCStyle } from './c-style';
import type { KernelHookPlan } from './hook-plan';
import type { ModOwner, ParamField, ParamRole } from './param-layout';

export type HoistSide = 'row' | 'col';

/** A value type in a hook signature. */
export type HookType = DType | 'void' | { struct: string };

export interface HookParam {
  name: string;
  type: HookType;
}

export interface HookFunction {
  name: string;
  returns: HookType;
  params: readonly HookParam[];
  /** Statements, already indented by two spaces. */
  body: readonly string[];
  /** The returned expression (absent for void). */
  result?: string;
}

export interface HookNames {
  scoreMod: string;
  scoreModGrad: string;
  captureGrads: string;
  maskMod: string;
  scoreModRowCol: string;
  scoreModGradRowCol: string;
  maskModRowCol: string;
  /** dB/dkv of an additive bias affine in kv (plan.score.biasKvSlope); absent: not rendered. */
  biasKvSlope?: string;
  /** The struct of one side's hoisted values and the function building it (`owner` with 'per-side-and-mod' grouping). */
  hoisted(side: HoistSide, owner?: ModOwner): { struct: string; builder: string };
}

/** A parameter read, with what a dialect needs to spell it. */
export interface ParamAccess {
  owner: ModOwner;
  field: ParamField;
  /** The captured tensor or scalar the field belongs to. */
  param: ModParam;
  /** The name the function received its params struct under (`paramsType` dialects), else undefined. */
  via: string | undefined;
}

/** A C-like target: the renderer base's dialect, minus parameter reads, plus how hooks are spelled. */
export interface HookDialect extends Omit<CStyleDialect, 'scalar' | 'load'> {
  names: HookNames;
  /**
   * 'per-side': one struct per side holding both mods' hoisted values (CUDA's FlexRowVals,
   * computed together); 'per-side-and-mod': one per side and mod (WGSL's FlexRowS / FlexRowM, so a
   * kernel can compute the mask's column values in partial tiles only).
   */
  hoistGroups: 'per-side' | 'per-side-and-mod';
  /** The struct type each mod's parameters arrive in; absent: module-scope bindings (`param` names them). */
  paramsType?: Record<ModOwner, string>;
  func(f: HookFunction): string;
  /** A struct definition (a dialect whose language forbids empty structs pads it). */
  struct(name: string, fields: readonly { name: string; dtype: DType }[]): string;
  /** An expression constructing `struct` from `values` in field order. */
  construct(struct: string, values: readonly string[]): string;
  /** Reads a field: a scalar's value, a tensor's (or gradient buffer's) base, a dim. */
  param(access: ParamAccess): string;
  /** `index` clamped into [0, size of dimension `dim`) (ir's rule: out-of-range reads the edge). */
  clampIndex(index: string, dim: ParamAccess): string;
  /** A statement adding `value` to element `index` of a gradient buffer, safely across threads. */
  atomicAdd(grad: ParamAccess, index: string, value: string): string;
  /** An exact fast int→f32 conversion for |x| < 2^22, if the target has one (plan.smallIntToFloat). */
  smallIntToFloat?(x: string): string;
}

export interface RenderedKernelHooks {
  scoreMod: string;
  scoreModGrad: string;
  captureGrads: string;
  maskMod: string;
  /** The hoisted-value structs and builders, then the three row/column hooks, in definition order. */
  rowCol: string[];
  /** Where the dialect names it and the plan has one: the bias's kv slope (score hook signature). */
  biasKvSlope?: string;
}

const indent = (lines: readonly string[], by = '  ') => lines.map((l) => `${by}${l}`);
const OWNERS: readonly ModOwner[] = ['score', 'mask'];
const letter = (owner: ModOwner) => (owner === 'score' ? 's' : 'm');

/** Renders every hook of `plan` in `dialect`. */
export function renderKernelHooks(plan: KernelHookPlan, dialect: HookDialect): RenderedKernelHooks {
  const r = new HookRenderer(plan, dialect);
  return {
    scoreMod: r.element(dialect.names.scoreMod, 'score', plan.score.root),
    scoreModGrad: r.element(dialect.names.scoreModGrad, 'score', plan.score.grad),
    captureGrads: r.captureGrads(),
    maskMod: r.element(dialect.names.maskMod, 'mask', plan.mask.root),
    rowCol: r.rowCol(),
    ...(dialect.names.biasKvSlope !== undefined && plan.score.biasKvSlope
      ? { biasKvSlope: r.element(dialect.names.biasKvSlope, 'score', plan.score.biasKvSlope) }
      : {}),
  };
}

/** One hoisted-value group: the values of `owners` on one side, in one struct. */
interface HoistGroup {
  side: HoistSide;
  owners: readonly ModOwner[];
  struct: string;
  builder: string;
  /** Per owner, the hoisted nodes and their field names. */
  fields: { owner: ModOwner; node: Node; name: string }[];
}

class HookRenderer {
  constructor(
    private readonly plan: KernelHookPlan,
    private readonly d: HookDialect,
  ) {}

  private hooksOf(owner: ModOwner) {
    return owner === 'score' ? this.plan.score : this.plan.mask;
  }

  /** The function parameter carrying `owner`'s params struct, named `via`, if the dialect passes one. */
  private paramsParam(owner: ModOwner, via: string): HookParam[] {
    const t = this.d.paramsType?.[owner];
    return t ? [{ name: via, type: { struct: t } }] : [];
  }

  private access(owner: ModOwner, via: string | undefined, role: ParamRole, slot: number, dim = 0): ParamAccess {
    const hooks = this.hooksOf(owner);
    const field = hooks.params.fields.find((f) => f.role === role && f.slot === slot && f.dim === dim);
    if (!field) throw new Error(`internal: the ${owner} mod's params have no ${role} field for slot ${slot}`);
    return { owner, field, param: hooks.captures[slot]!, via: this.d.paramsType ? via : undefined };
  }

  /** Row-major flat index of a captured tensor's element, each index clamped into its dimension. */
  private flatIndex(owner: ModOwner, via: string | undefined, slot: number, indices: readonly string[]): string {
    let expr = '';
    indices.forEach((ix, dim) => {
      const size = this.access(owner, via, 'dim', slot, dim);
      const clamped = this.d.clampIndex(ix, size);
      expr = dim === 0 ? clamped : `(${expr} * ${this.d.param(size)} + ${clamped})`;
    });
    return expr;
  }

  /** The renderer base's dialect for bodies reading `owner`'s parameters through `via`. */
  private bodyDialect(owner: ModOwner, via: string | undefined): CStyleDialect {
    const { d, plan } = this;
    const fast = d.smallIntToFloat;
    const ops = fast && plan.smallIntToFloat.size ? { ...d.ops, tofloat: (a: readonly string[], n: Node) => (plan.smallIntToFloat.has(n) ? fast(a[0]!) : d.ops.tofloat(a, n)) } : d.ops;
    return {
      ops,
      declare: d.declare,
      literal: d.literal,
      arg: d.arg,
      scalar: (a: ScalarArg) => d.param(this.access(owner, via, 'scalar', a.slot)),
      load: (a: LoadArg, indices) => `${d.param(this.access(owner, via, 'tensor', a.slot))}[${this.flatIndex(owner, via, a.slot, indices)}]`,
    };
  }

  private body(owner: ModOwner, via: string | undefined, roots: readonly Node[], prefix = 'v', bound?: ReadonlyMap<Node, string>) {
    const r = renderCStyle(roots, this.bodyDialect(owner, via), prefix, bound);
    return { lines: indent(r.lines), results: r.results };
  }

  private static readonly SCORE_ARGS: HookParam[] = [
    { name: 'score', type: 'f32' },
    ...(['b', 'h', 'q', 'kv'] as const).map((name) => ({ name, type: 'i32' as const })),
  ];
  private static readonly MASK_ARGS: HookParam[] = HookRenderer.SCORE_ARGS.slice(1);
  private static args(owner: ModOwner): HookParam[] {
    return owner === 'score' ? HookRenderer.SCORE_ARGS : HookRenderer.MASK_ARGS;
  }

  /** scoreMod / scoreModGrad / maskMod: one root, every argument per element. */
  element(name: string, owner: ModOwner, root: Node): string {
    const b = this.body(owner, 'p', [root]);
    return this.d.func({
      name,
      returns: root.dtype,
      params: [...HookRenderer.args(owner), ...this.paramsParam(owner, 'p')],
      body: b.lines,
      result: b.results[0]!,
    });
  }

  captureGrads(): string {
    const terms = this.plan.score.captureGrads;
    const b = this.body('score', 'p', terms.flatMap((t) => [t.partial, ...t.indices]));
    const lines = [...b.lines];
    let k = 0;
    for (const t of terms) {
      const partial = b.results[k++]!;
      const indices = t.indices.map(() => b.results[k++]!);
      const grad = this.access('score', 'p', 'grad', t.slot);
      lines.push(`  ${this.d.atomicAdd(grad, this.flatIndex('score', 'p', t.slot, indices), `dpost * ${partial}`)}`);
    }
    return this.d.func({
      name: this.d.names.captureGrads,
      returns: 'void',
      params: [{ name: 'dpost', type: 'f32' }, ...HookRenderer.SCORE_ARGS, ...this.paramsParam('score', 'p')],
      body: lines,
    });
  }

  private groups(): HoistGroup[] {
    const { d } = this;
    const perMod = d.hoistGroups === 'per-side-and-mod';
    const out: HoistGroup[] = [];
    for (const side of ['row', 'col'] as const) {
      const ownerSets: ModOwner[][] = perMod ? OWNERS.map((o) => [o]) : [[...OWNERS]];
      for (const owners of ownerSets) {
        const names = d.names.hoisted(side, perMod ? owners[0] : undefined);
        const fields = owners.flatMap((owner) => this.hooksOf(owner).hoist[side].map((node, i) => ({ owner, node, name: `${letter(owner)}${i}` })));
        out.push({ side, owners, ...names, fields });
      }
    }
    return out;
  }

  /** The name a group's builder receives `owner`'s params under: `p` alone, `sp` / `mp` together. */
  private static via(group: HoistGroup, owner: ModOwner): string {
    return group.owners.length > 1 ? `${letter(owner)}p` : 'p';
  }

  private builder(g: HoistGroup): string {
    const lines: string[] = [];
    const values: string[] = [];
    for (const owner of g.owners) {
      const nodes = g.fields.filter((f) => f.owner === owner).map((f) => f.node);
      if (!nodes.length) continue;
      const b = this.body(owner, HookRenderer.via(g, owner), nodes, `${letter(owner)}${g.side[0]}`);
      lines.push(...b.lines);
      values.push(...b.results);
    }
    return this.d.func({
      name: g.builder,
      returns: { struct: g.struct },
      params: [
        ...(['b', 'h'] as const).map((name) => ({ name, type: 'i32' as const })),
        { name: g.side === 'row' ? 'q' : 'kv', type: 'i32' },
        ...g.owners.flatMap((o) => this.paramsParam(o, HookRenderer.via(g, o))),
      ],
      body: lines,
      result: this.d.construct(g.struct, values),
    });
  }

  /** A row/column hook: the element body with the hoisted nodes read from the row and column structs. */
  private rowColElement(name: string, owner: ModOwner, root: Node, groups: readonly HoistGroup[]): string {
    const mine = (side: HoistSide) => groups.find((g) => g.side === side && g.owners.includes(owner))!;
    const row = mine('row');
    const col = mine('col');
    // with one struct per side and mod, the parameters are named after the mod (rs, cm, …)
    const paramName = (g: HoistGroup) => `${g.side === 'row' ? 'r' : 'c'}${g.owners.length > 1 ? 'v' : letter(owner)}`;
    const bound = new Map<Node, string>();
    for (const g of [row, col]) for (const f of g.fields) if (f.owner === owner) bound.set(f.node, `${paramName(g)}.${f.name}`);
    const b = this.body(owner, 'p', [root], 'v', bound);
    return this.d.func({
      name,
      returns: root.dtype,
      params: [
        ...HookRenderer.args(owner),
        { name: paramName(row), type: { struct: row.struct } },
        { name: paramName(col), type: { struct: col.struct } },
        ...this.paramsParam(owner, 'p'),
      ],
      body: b.lines,
      result: b.results[0]!,
    });
  }

  rowCol(): string[] {
    const { d } = this;
    const groups = this.groups();
    const out: string[] = [];
    for (const g of groups) {
      out.push(d.struct(g.struct, g.fields.map((f) => ({ name: f.name, dtype: f.node.dtype }))));
      out.push(this.builder(g));
    }
    const { score, mask } = this.plan;
    out.push(this.rowColElement(d.names.scoreModRowCol, 'score', score.root, groups));
    out.push(this.rowColElement(d.names.scoreModGradRowCol, 'score', score.grad, groups));
    out.push(this.rowColElement(d.names.maskModRowCol, 'mask', mask.root, groups));
    return out;
  }
}

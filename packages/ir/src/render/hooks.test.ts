/**
 * The hook assembler rendered through a JavaScript dialect and run: every hook it emits computes
 * what ir's evaluator says the plan's roots mean — the element hooks, the row/column form (builders,
 * then `_rc` hooks reading the hoisted values) and the capture-gradient scatter (checked against
 * an independent row-major flattening) — for random mods with parameters, in both ways a dialect
 * receives parameters (a struct argument, module-scope bindings) and both hoist groupings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateNode, type ModArgs, type Value } from '../evaluate';
import type { Node } from '../node';
import { CapturedTensor, type ModParam } from '../params';
import { graphArbitraries, paramsArbitrary, showAst, traceMaskAst, traceScoreAst } from '../random-graphs.test-helpers';
import { jsHelpers, jsLiteral, jsTemplate } from '../semantics';
import { C_OP_TABLE, type ComputeOp, type OpTable } from './c-style';
import { type KernelHookPlan, planKernelHooks } from './hook-plan';
import { type HookDialect, renderKernelHooks } from './hooks';
import type { ModOwner, ParamBlock } from './param-layout';

const JS_OPS = Object.fromEntries(
  (Object.keys(C_OP_TABLE) as ComputeOp[]).map((op) => [op, (args: readonly string[], n: Node) => jsTemplate(op, n.dtype, n.src[0]!.dtype)(...args)]),
) as OpTable;

interface JsDialectOptions {
  /** Parameters arrive as a struct argument (CUDA's way) rather than as module-scope bindings (WGSL's). */
  structParams: boolean;
  groups: HookDialect['hoistGroups'];
}

/** A dialect whose output is JavaScript, so the assembled hooks can be run and compared. */
function jsDialect(o: JsDialectOptions): HookDialect {
  const structFields = new Map<string, string[]>();
  return {
    ops: JS_OPS,
    declare: (_dtype, name, expr) => `const ${name} = ${expr};`,
    literal: (value) => jsLiteral(value),
    arg: (name) => name,
    names: {
      scoreMod: 'scoreMod',
      scoreModGrad: 'scoreModGrad',
      captureGrads: 'captureGrads',
      maskMod: 'maskMod',
      scoreModRowCol: 'scoreModRowCol',
      scoreModGradRowCol: 'scoreModGradRowCol',
      maskModRowCol: 'maskModRowCol',
      hoisted: (side, owner) => ({ struct: `Vals_${side}_${owner ?? 'both'}`, builder: `build_${side}_${owner ?? 'both'}` }),
    },
    hoistGroups: o.groups,
    paramsType: o.structParams ? { score: 'ScoreParams', mask: 'MaskParams' } : undefined,
    func: (f) => [`function ${f.name}(${f.params.map((p) => p.name).join(', ')}) {`, ...f.body, f.result === undefined ? '' : `  return ${f.result};`, '}'].join('\n'),
    struct: (name, fields) => {
      structFields.set(name, fields.map((f) => f.name));
      return `// struct ${name}`;
    },
    construct: (struct, values) => `({ ${structFields.get(struct)!.map((f, i) => `${f}: ${values[i]}`).join(', ')} })`,
    param: (a) => (o.structParams ? `${a.via}.${a.field.name}` : `P_${a.owner}.${a.field.name}`),
    clampIndex(index, dim) {
      return `Math.min(Math.max(${index}, 0), ${this.param(dim)} - 1)`;
    },
    atomicAdd(grad, index, value) {
      return `${this.param(grad)}[${index}] += ${value};`;
    },
    smallIntToFloat: (x) => `(${x})`,
  };
}

type Fn = (...args: unknown[]) => Value;

/** The parameter object a hook reads: one property per field of the plan's block. */
function paramObject(block: ParamBlock, captures: readonly ModParam[]): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  for (const f of block.fields) {
    const c = captures[f.slot];
    if (f.role === 'tensor') p[f.name] = (c as CapturedTensor).data;
    else if (f.role === 'grad') p[f.name] = new Float64Array((c as CapturedTensor).data.length);
    else if (f.role === 'dim') p[f.name] = (c as CapturedTensor).shape[f.dim];
    else if (f.role === 'scalar') p[f.name] = (c as { value: number }).value;
  }
  return p;
}

function load(plan: KernelHookPlan, d: HookDialect) {
  const h = renderKernelHooks(plan, d);
  const fns = [h.scoreMod, h.scoreModGrad, h.captureGrads, h.maskMod, ...h.rowCol].join('\n');
  const names = Object.values(d.names).filter((n): n is string => typeof n === 'string');
  for (const side of ['row', 'col'] as const) for (const o of [undefined, 'score', 'mask'] as const) names.push(d.names.hoisted(side, o).builder);
  const exported = names.filter((n) => new RegExp(`function ${n}\\(`).test(fns));
  const score = paramObject(plan.score.params, plan.score.captures);
  const mask = paramObject(plan.mask.params, plan.mask.captures);
  const module = new Function('$h', 'P_score', 'P_mask', `${fns}\nreturn { ${exported.join(', ')} };`)(jsHelpers, score, mask) as Record<string, Fn>;
  return { fn: module, params: { score, mask } as Record<ModOwner, Record<string, unknown>> };
}

const same = (a: Value, b: Value) => Object.is(a, b) || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));

function checkPlan(plan: KernelHookPlan, o: JsDialectOptions, points: readonly ModArgs[]): void {
  const d = jsDialect(o);
  const { fn, params } = load(plan, d);
  // struct-passing dialects take the params as the last argument(s); module-scope ones do not
  const tail = (...owners: ModOwner[]) => (o.structParams ? owners.map((w) => params[w]) : []);
  const perMod = o.groups === 'per-side-and-mod';
  const builder = (side: 'row' | 'col', owner: ModOwner) => fn[d.names.hoisted(side, perMod ? owner : undefined).builder]!;
  const hoisted = (side: 'row' | 'col', owner: ModOwner, b: number, h: number, i: number) =>
    builder(side, owner)(b, h, i, ...(perMod ? tail(owner) : tail('score', 'mask')));
  for (const a of points) {
    const want = (root: Node, captures: readonly ModParam[]) => evaluateNode(root, captures, a);
    const s = plan.score;
    const m = plan.mask;
    const sArgs = [a.score, a.b, a.h, a.q, a.kv];
    const mArgs = [a.b, a.h, a.q, a.kv];
    const expectSame = (got: Value, w: Value, what: string) => {
      if (!same(got, w)) expect.fail(`${what} at ${JSON.stringify(a)}: got ${got}, want ${w}`);
    };
    expectSame(fn.scoreMod!(...sArgs, ...tail('score')), want(s.root, s.captures), 'scoreMod');
    expectSame(fn.scoreModGrad!(...sArgs, ...tail('score')), want(s.grad, s.captures), 'scoreModGrad');
    expectSame(fn.maskMod!(...mArgs, ...tail('mask')), want(m.root, m.captures), 'maskMod');
    const rc = (owner: ModOwner) => [hoisted('row', owner, a.b, a.h, a.q), hoisted('col', owner, a.b, a.h, a.kv)];
    expectSame(fn.scoreModRowCol!(...sArgs, ...rc('score'), ...tail('score')), want(s.root, s.captures), 'scoreModRowCol');
    expectSame(fn.scoreModGradRowCol!(...sArgs, ...rc('score'), ...tail('score')), want(s.grad, s.captures), 'scoreModGradRowCol');
    expectSame(fn.maskModRowCol!(...mArgs, ...rc('mask'), ...tail('mask')), want(m.root, m.captures), 'maskModRowCol');

    // the scatter: grad[flat(clamped indices)] += dpost · partial, flattened here independently
    const grads = s.params.fields.filter((f) => f.role === 'grad');
    grads.forEach((f) => (params.score[f.name] as Float64Array).fill(0));
    const dpost = 0.75;
    fn.captureGrads!(dpost, ...sArgs, ...tail('score'));
    for (const f of grads) {
      const t = s.captures[f.slot] as CapturedTensor;
      const expected = new Float64Array(t.data.length);
      for (const term of s.captureGrads.filter((x) => x.slot === f.slot)) {
        const flat = term.indices.reduce((acc, ix, dim) => {
          const i = Math.min(Math.max(want(ix, s.captures) as number, 0), t.shape[dim]! - 1);
          return acc + i * t.strides[dim]!;
        }, 0);
        expected[flat]! += dpost * (want(term.partial, s.captures) as number);
      }
      const got = params.score[f.name] as Float64Array;
      expected.forEach((w, i) => expectSame(got[i]!, w, `captureGrads ${f.name}[${i}]`));
    }
  }
}

const graphs = graphArbitraries({ score: true, params: true, maxDepth: 4 });
const masks = graphArbitraries({ params: true, maxDepth: 4 });
const point = fc.record({
  score: fc.oneof(fc.integer({ min: -20, max: 20 }), fc.double({ min: -8, max: 8, noNaN: true })),
  b: fc.nat(2),
  h: fc.nat(5),
  q: fc.integer({ min: 0, max: 40 }),
  kv: fc.integer({ min: 0, max: 40 }),
});
const DIALECTS: JsDialectOptions[] = [
  { structParams: true, groups: 'per-side' },
  { structParams: false, groups: 'per-side-and-mod' },
];

describe('renderKernelHooks', () => {
  for (const o of DIALECTS) {
    it(`every hook means what the plan's roots mean (${o.structParams ? 'struct' : 'module-scope'} params, ${o.groups})`, () => {
      fc.assert(
        fc.property(graphs.float, masks.bool, paramsArbitrary(), fc.array(point, { minLength: 4, maxLength: 8 }), fc.boolean(), (sAst, mAst, params, points, bounded) => {
          const plan = planKernelHooks(traceScoreAst(sAst, params), traceMaskAst(mAst, params), { indexLimit: bounded ? 64 : undefined });
          try {
            checkPlan(plan, o, points);
          } catch (err) {
            throw new Error(`score ${showAst(sAst)}, mask ${showAst(mAst)}: ${(err as Error).message}`);
          }
        }),
        { numRuns: 120 },
      );
    });
  }

  it('the identity score mod and the absent mask render as their arguments', () => {
    for (const o of DIALECTS) checkPlan(planKernelHooks(undefined, undefined), o, [{ score: 1.5, b: 0, h: 1, q: 2, kv: 3 }]);
    const h = renderKernelHooks(planKernelHooks(undefined, undefined), jsDialect(DIALECTS[0]!));
    expect(h.scoreMod).toContain('return score;');
    expect(h.maskMod).toContain('return true;');
  });

  it('a learnable two-dimensional table: the scatter flattens row-major with clamped indices', () => {
    fc.assert(
      fc.property(paramsArbitrary(), fc.array(point, { minLength: 4, maxLength: 8 }), (params, points) => {
        // f2 is [4, 4] and requires grad; indices run past both ends
        const mod = traceScoreAst({ op: 'add', args: [{ op: 'score' }, { op: 'fload2', args: [{ op: 'sub', args: [{ op: 'arg', value: 'q' }, { op: 'arg', value: 'kv' }] }, { op: 'arg', value: 'h' }] }] }, params);
        const plan = planKernelHooks(mod, undefined);
        expect(plan.flags.hasCaptureGrads).toBe(true);
        for (const o of DIALECTS) checkPlan(plan, o, points);
      }),
      { numRuns: 30 },
    );
  });
});

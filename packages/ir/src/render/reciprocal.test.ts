import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../errors';
import { createReferenceBackend } from '../reference/backend';
import { randomTensor } from '../random';
import { evaluateNode } from '../evaluate';
import { type Node, topoOrder } from '../node';
import { scalar } from '../params';
import { graphArbitraries, paramsArbitrary, traceMaskAst, traceScoreAst } from '../random-graphs.test-helpers';
import { traceMaskMod, traceScoreMod } from '../trace';
import { argDependence, planHoist } from './hoist';
import { planKernelHooks } from './hook-plan';
import { packParamBlock, packScalarBlock } from './param-layout';
import { divisionsAsReciprocals, isReciprocalSafe } from './reciprocal';

const ops = (roots: readonly Node[]) => topoOrder(roots).map((n) => n.op);
const noAddresses = { tensor: () => 0n, grad: () => null };

describe('divisionsAsReciprocals', () => {
  it('turns softcap’s score / 20 into score · fround(1/20), derivative included, and keeps its value', () => {
    const mod = traceScoreMod((s) => s.div(20).tanh().mul(20));
    const plan = planKernelHooks(mod, undefined);
    for (const root of [plan.score.root, plan.score.grad]) {
      expect(ops([root])).not.toContain('div');
      expect(topoOrder([root]).some((n) => n.op === 'const' && n.arg === Math.fround(1 / 20))).toBe(true);
    }
    fc.assert(
      fc.property(fc.double({ min: -1e4, max: 1e4, noNaN: true }), (score) => {
        const args = { score, b: 0, h: 0, q: 0, kv: 0 };
        const want = evaluateNode(mod.root, [], args) as number;
        expect(Math.abs((evaluateNode(plan.score.root, [], args) as number) - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want)));
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('divides by a scalar through a reciprocal the hoist plan computes once per row, and marks its slot', () => {
    const cap = scalar(30, { name: 'cap' });
    const mod = traceScoreMod((s) => s.div(cap).tanh().mul(cap));
    const plan = planKernelHooks(mod, undefined);
    expect(ops([plan.score.root])).toEqual(expect.arrayContaining(['mul', 'div']));
    const divs = topoOrder([plan.score.root, plan.score.grad]).filter((n) => n.op === 'div');
    expect(divs.length).toBe(1);
    expect(divs[0]!.src.map((n) => n.op)).toEqual(['const', 'scalar']);
    expect(plan.score.hoist.row).toContain(divs[0]);
    expect(plan.score.params.fields.find((f) => f.role === 'scalar')?.reciprocal).toBe(true);
    expect(plan.scalars.fields[0]?.reciprocal).toBe(true);
  });

  it('leaves divisions of indices (masks), by per-element values, and by constants without a normal reciprocal', () => {
    const mask = traceMaskMod((_b, _h, q, kv) => q.toFloat().div(3).le(kv.toFloat()));
    expect(divisionsAsReciprocals([mask.root]).roots[0]).toBe(mask.root);
    const byKv = traceScoreMod((s, _b, _h, _q, kv) => s.div(kv.toFloat().add(1)));
    expect(divisionsAsReciprocals([byKv.root]).roots[0]).toBe(byKv.root);
    for (const c of [1e38, 1e-39, 0]) {
      const m = traceScoreMod((s) => s.div(c));
      expect(divisionsAsReciprocals([m.root]).roots[0]).toBe(m.root);
    }
  });

  it('rewrites every score-dependent division by a constant or scalar and nothing that does not read the score (fast-check)', () => {
    const g = graphArbitraries({ params: true, score: true, extremes: true });
    fc.assert(
      fc.property(g.float, graphArbitraries({ params: true, extremes: true }).bool, paramsArbitrary(true), (sAst, mAst, params) => {
        const s = traceScoreAst(sAst, params);
        const m = traceMaskAst(mAst, params);
        const { roots } = divisionsAsReciprocals([s.root, m.root]);
        const deps = argDependence(roots);
        for (const n of topoOrder([roots[0]!])) {
          if (n.op !== 'div' || n.dtype !== 'f32' || (deps.get(n.src[0]!)! & 1) === 0) continue;
          const d = n.src[1]!;
          expect(d.op === 'scalar' || (d.op === 'const' && isReciprocalSafe(d.arg as number) && d.arg !== 0 && Number.isFinite(d.arg))).toBe(false);
        }
        // a mask reads no score: it comes back as the same node
        expect(roots[1]).toBe(m.root);
        // the hoist plan of a rewritten graph still splits correctly (nothing per-element moved to a row)
        for (const n of planHoist([roots[0]!]).row) expect(deps.get(n)! & (1 | 16)).toBe(0);
      }),
      { numRuns: 400, seed: 23 },
    );
  });
});

describe('scalars divided by, when packed', () => {
  it('refuses a value whose f32 reciprocal is not normal, with the fix named, and packs the others', () => {
    const cap = scalar(50, { name: 'cap' });
    const plan = planKernelHooks(traceScoreMod((s) => s.div(cap)), undefined);
    const pack = () => [packParamBlock(plan.score.params, plan.score.captures, noAddresses), packScalarBlock(plan.scalars, plan.score.captures, [])];
    expect(new Float32Array(pack()[1]!)[0]).toBe(50);
    for (const v of [0, Infinity, -Infinity, 2 ** -126, -(2 ** 126), 1e-30]) {
      cap.value = v;
      expect(pack).not.toThrow();
    }
    for (const v of [1e-39, -1e-40, 2 ** 127, 1e38]) {
      cap.value = v;
      expect(pack).toThrow(OptionError);
      expect(pack).toThrow(/cap .*reciprocal.*2\^-126/);
    }
  });
});

describe('a call whose score mod divides by a scalar without a normal reciprocal', () => {
  it('is refused when resolved, before any work, and runs once the value is in range', async () => {
    const cap = scalar(1e-39, { name: 'cap' });
    const scoreMod = traceScoreMod((s) => s.div(cap).tanh().mul(cap));
    const [q, k, v] = [1, 2, 3].map((seed) => randomTensor([1, 1, 3, 4], 'f32', seed)) as [ReturnType<typeof randomTensor>, ReturnType<typeof randomTensor>, ReturnType<typeof randomTensor>];
    const ref = createReferenceBackend();
    await expect(ref.flexAttention(q, k, v, { scoreMod })).rejects.toThrow(OptionError);
    await expect(ref.flexAttention(q, k, v, { scoreMod })).rejects.toThrow(/cap = 1e-39.*2\^-126/);
    cap.value = 30;
    const r = await ref.flexAttention(q, k, v, { scoreMod });
    expect(r.out.data.every(Number.isFinite)).toBe(true);
  });
});

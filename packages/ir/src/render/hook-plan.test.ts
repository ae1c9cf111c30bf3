import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gradScore } from '../derive';
import { evaluateNode } from '../evaluate';
import { topoOrder } from '../node';
import { capture, scalar } from '../params';
import { graphArbitraries, showAst, traceScoreAst } from '../random-graphs.test-helpers';
import { traceMaskMod, traceScoreMod } from '../trace';
import { SMALL_INT_LIMIT, planKernelHooks } from './hook-plan';
import { planHoist } from './hoist';

const slopes = () => capture(Float32Array.from([0.5, 0.25, 0.125, 0.0625]), [4], { name: 'slopes', requiresGrad: true });
const alibi = (t = slopes()) => traceScoreMod((s, _b, h, q, kv) => s.add(t.at(h).mul(kv.sub(q).toFloat())));

describe('planKernelHooks: roots and flags', () => {
  it('absent mods are the identity and the constant true, and say so', () => {
    const p = planKernelHooks(undefined, undefined);
    expect(p.score.root.op).toBe('arg');
    expect(p.score.grad.arg).toBe(1);
    expect(p.mask.root.arg).toBe(true);
    expect(p.flags).toEqual({ identityScore: true, trueMask: true, gradIsOne: false, hasCaptureGrads: false });
    // a traced identity and a traced constant-true mask are the same plan
    const q = planKernelHooks(traceScoreMod((s) => s), traceMaskMod(() => true));
    expect(q.flags).toEqual(p.flags);
    expect(q.score.root).toBe(p.score.root);
    expect(q.mask.root).toBe(p.mask.root);
  });

  it('learnable ALiBi: derivative 1, capture gradients, a gradient field and binding', () => {
    const p = planKernelHooks(alibi(), traceMaskMod((_b, _h, q, kv) => q.ge(kv)));
    expect(p.flags).toEqual({ identityScore: false, trueMask: false, gradIsOne: true, hasCaptureGrads: true });
    expect(p.score.grad).toBe(gradScore(p.score.mod!).root);
    expect(p.score.captureGrads.map((t) => t.slot)).toEqual([0]);
    expect(p.score.params.fields.map((f) => f.name)).toEqual(['t0', 'g0', 't0_d0', 'pad']);
    expect(p.tensors.map((t) => [t.name, t.grad])).toEqual([['s0', true]]);
  });

  it('softcap: its derivative is not 1', () => {
    const cap = scalar(20);
    expect(planKernelHooks(traceScoreMod((s) => s.div(cap).tanh().mul(cap)), undefined).flags.gradIsOne).toBe(false);
  });

  it('hoists the score mod with its derivative and the mask apart, unless asked not to', () => {
    const t = capture(Float32Array.from([1, 2, 3]), [3], { name: 'w' });
    // score · w[h]: the derivative is w[h] itself, shared with the score mod's row value
    const score = traceScoreMod((s, _b, h) => s.mul(t.at(h)));
    const ids = capture(Int32Array.from([0, 0, 1]), [3], { name: 'ids' });
    const mask = traceMaskMod((_b, _h, q, kv) => ids.at(q).eq(ids.at(kv)));
    const p = planKernelHooks(score, mask);
    expect(p.score.hoist).toEqual(planHoist([p.score.root, p.score.grad]));
    expect(p.score.hoist.row.map((n) => n.op)).toEqual(['load']);
    expect(p.mask.hoist.row.map((n) => n.op)).toEqual(['load']);
    expect(p.mask.hoist.col.map((n) => n.op)).toEqual(['load']);
    const flat = planKernelHooks(score, mask, { hoist: false });
    expect([flat.score.hoist, flat.mask.hoist]).toEqual([{ row: [], col: [] }, { row: [], col: [] }]);
  });
});

describe('planKernelHooks: the key', () => {
  it('equal mods give equal keys whatever their parameter values; shapes, structure and options change it', () => {
    const a = scalar(1);
    const key = (s = a, n = 4) => planKernelHooks(alibi(capture(new Float32Array(n), [n], { requiresGrad: true })), traceMaskMod((_b, _h, q, kv) => q.sub(kv).le(s))).key;
    const k1 = key();
    a.value = 9;
    expect(key()).toBe(k1);
    expect(key(a, 8)).not.toBe(k1);
    expect(planKernelHooks(alibi(), undefined).key).not.toBe(planKernelHooks(alibi(), traceMaskMod((_b, _h, q, kv) => q.ge(kv))).key);
    expect(planKernelHooks(alibi(), undefined, { indexLimit: 1024 }).key).not.toBe(planKernelHooks(alibi(), undefined).key);
    expect(planKernelHooks(alibi(), undefined, { hoist: false }).key).not.toBe(planKernelHooks(alibi(), undefined).key);
  });
});

describe('planKernelHooks: exact small int→float casts', () => {
  it('marks kv − q under a bound of 2^22, not without a bound, not kv · 4096', () => {
    const rel = traceScoreMod((s, _b, _h, q, kv) => s.add(kv.sub(q).toFloat()));
    const casts = (m: typeof rel, indexLimit?: number) => [...planKernelHooks(m, undefined, { indexLimit }).smallIntToFloat].map((n) => n.op);
    expect(casts(rel, 2 ** 22)).toEqual(['tofloat']);
    expect(casts(rel)).toEqual([]);
    expect(casts(traceScoreMod((s, _b, _h, _q, kv) => s.add(kv.mul(4096).toFloat())), 2 ** 22)).toEqual([]);
  });

  it('is sound: a marked cast never sees |x| ≥ 2^22 for indices inside the bound', () => {
    const ints = graphArbitraries({ maxDepth: 4 }).int;
    fc.assert(
      fc.property(ints, fc.integer({ min: 1, max: 2 ** 22 }), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 20 }), (ast, limit, pts) => {
        const mod = traceScoreAst({ op: 'add', args: [{ op: 'score' }, { op: 'toFloat', args: [ast] }] });
        const plan = planKernelHooks(mod, undefined, { indexLimit: limit });
        for (const n of plan.smallIntToFloat) {
          expect(topoOrder([plan.score.root]).includes(n) || topoOrder([plan.score.grad]).includes(n)).toBe(true);
          for (const [b, h, q, kv] of pts) {
            const x = evaluateNode(n.src[0]!, mod.captures, { score: 0, b: b % limit, h: h % limit, q: q % limit, kv: kv % limit }) as number;
            if (!(Math.abs(x) < SMALL_INT_LIMIT)) expect.fail(`${showAst(ast)} marked, but gives ${x} at ${[b, h, q, kv].map((v) => v % limit)}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateNode, type Value } from '../evaluate';
import type { Node } from '../node';
import { capture } from '../params';
import { buildExpr, graphArbitraries, paramsArbitrary, traceMaskAst, traceScoreAst } from '../random-graphs.test-helpers';
import { traceMaskMod, traceScoreMod } from '../trace';
import { argDependence, indexRange, planHoist } from './hoist';

const same = (a: Value, b: Value) => Object.is(a, b) || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));

describe('planHoist', () => {
  it('hoists ALiBi slope[h] per row and a document mask per row and per column', () => {
    const slope = capture(Float32Array.from([0.5, 0.25]), [2]);
    const alibi = traceScoreMod((s, _b, h, q, kv) => s.add(slope.at(h).mul(kv.sub(q).toFloat())));
    const a = planHoist([alibi.root]);
    expect(a.row.map((n) => n.op)).toEqual(['load']);
    expect(a.col).toEqual([]);

    const doc = capture(Int32Array.from([0, 0, 1, 1, 1, 2]), [6]);
    const document = traceMaskMod((_b, _h, q, kv) => doc.at(q).eq(doc.at(kv)));
    const d = planHoist([document.root]);
    expect(d.row.map((n) => n.op)).toEqual(['load']);
    expect(d.col.map((n) => n.op)).toEqual(['load']);
    expect(d.row[0]!.src[0]!.arg).toBe('q');
    expect(d.col[0]!.src[0]!.arg).toBe('kv');
  });

  it('leaves plain index comparisons per element and hoists row-only roots whole', () => {
    const causal = traceMaskMod((_b, _h, q, kv) => q.ge(kv));
    expect(planHoist([causal.root])).toEqual({ row: [], col: [] });
    const prefix = traceMaskMod((_b, _h, q) => q.add(3).lt(100));
    expect(planHoist([prefix.root]).row).toEqual([prefix.root]);
  });

  // The meaning of a plan: compute the row values at some other kv, the column values at some other q,
  // and the graph evaluated with them given must equal the graph evaluated directly.
  const splitAgrees = (roots: readonly Node[], captures: Parameters<typeof evaluateNode>[1], pt: { score: number; b: number; h: number; q: number; kv: number }, other: { q: number; kv: number }) => {
    const plan = planHoist(roots);
    const deps = argDependence(roots);
    const known = new Map<Node, Value>();
    for (const n of plan.row) {
      expect(deps.get(n)! & (1 | 16)).toBe(0); // neither score nor kv
      known.set(n, evaluateNode(n, captures, { ...pt, kv: other.kv }));
    }
    for (const n of plan.col) {
      expect(deps.get(n)! & (1 | 8)).toBe(0); // neither score nor q
      known.set(n, evaluateNode(n, captures, { ...pt, q: other.q }));
    }
    for (const r of roots) expect(same(evaluateNode(r, captures, pt, known), evaluateNode(r, captures, pt))).toBe(true);
  };
  const point = fc.record({ score: fc.double({ min: -8, max: 8, noNaN: true }), b: fc.integer({ min: 0, max: 2 }), h: fc.integer({ min: 0, max: 3 }), q: fc.integer({ min: 0, max: 9 }), kv: fc.integer({ min: 0, max: 9 }) });
  const other = fc.record({ q: fc.integer({ min: 0, max: 9 }), kv: fc.integer({ min: 0, max: 9 }) });

  it('split evaluation equals direct evaluation on random score and mask graphs (fast-check)', () => {
    const g = graphArbitraries({ params: true, score: true, extremes: true });
    fc.assert(
      fc.property(g.float, graphArbitraries({ params: true, extremes: true }).bool, paramsArbitrary(true), point, other, (sAst, mAst, params, pt, o) => {
        const s = traceScoreAst(sAst, params);
        const m = traceMaskAst(mAst, params);
        // score and mask planned together, as the forward kernel evaluates them (their captures are separate slot lists)
        splitAgrees([s.root], s.captures, pt, o);
        splitAgrees([m.root], m.captures, pt, o);
      }),
      { numRuns: 600, seed: 31 },
    );
  });
});

describe('indexRange', () => {
  const bounds = { b: [0, 3], h: [0, 7], q: [0, 99], kv: [0, 199] } as const;

  it('bounds index arithmetic and refuses what it cannot bound', () => {
    const rel = traceScoreMod((s, _b, _h, q, kv) => s.add(kv.sub(q).toFloat()));
    const diff = rel.root.src[1]!.src[0]!;
    expect(indexRange(diff, bounds)).toEqual([-99, 199]);
    const doc = capture(Int32Array.from([0, 1]), [2]);
    const loaded = traceScoreMod((s, _b, _h, q) => s.add(doc.at(q).toFloat()));
    expect(indexRange(loaded.root.src[1]!.src[0]!, bounds)).toBeUndefined();
  });

  it('contains every value of random index expressions (fast-check)', () => {
    const g = graphArbitraries({ extremes: true });
    fc.assert(
      fc.property(g.int, fc.array(fc.record({ b: fc.integer({ min: 0, max: 3 }), h: fc.integer({ min: 0, max: 7 }), q: fc.integer({ min: 0, max: 99 }), kv: fc.integer({ min: 0, max: 199 }) }), { minLength: 1, maxLength: 8 }), (ast, pts) => {
        const mod = traceScoreMod((score, b, h, q, kv) => buildExpr(ast, { score, b, h, q, kv }).toFloat());
        if (mod.root.op !== 'tofloat') return; // folded to a constant
        const node = mod.root.src[0]!;
        const r = indexRange(node, bounds);
        if (!r) return;
        for (const p of pts) {
          const v = evaluateNode(node, mod.captures, p) as number;
          expect(v).toBeGreaterThanOrEqual(r[0]);
          expect(v).toBeLessThanOrEqual(r[1]);
        }
      }),
      { numRuns: 2000, seed: 5 },
    );
  });
});


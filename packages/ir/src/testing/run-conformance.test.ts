import { describe, expect, it } from 'vitest';
import type { FlexAttentionBackend } from '../kernel';
import { checkFeatures } from '../options';
import { createReferenceBackend } from '../reference/backend';
import { fromFloats, toFloat64, type Tensor } from '../tensor';
import { AUX_CONFORMANCE_CASES, CONFORMANCE_CASES, SPECIAL_VALUE_CASES } from './cases';
import { runConformance } from './run-conformance';

const CASES = CONFORMANCE_CASES.length + SPECIAL_VALUE_CASES.length + AUX_CONFORMANCE_CASES.length;

/** The reference with one output element nudged by `delta` (forward) and its capture gradients dropped. */
function wrongBackend(delta: number): FlexAttentionBackend {
  const ref = createReferenceBackend();
  const nudge = (t: Tensor): Tensor => {
    const x = toFloat64(t);
    x[x.length - 1]! += delta;
    return fromFloats(x, t.shape, t.dtype);
  };
  return {
    name: 'wrong',
    async flexAttention(q, k, v, o) {
      const r = await ref.flexAttention(q, k, v, o);
      return { out: nudge(r.out), lse: r.lse };
    },
    async flexAttentionBackward(q, k, v, out, lse, dOut, o) {
      const g = await ref.flexAttentionBackward(q, k, v, out, lse, dOut, o);
      return { ...g, captureGrads: new Map() };
    },
    dispose() {},
  };
}

describe('runConformance', () => {
  it('passes the reference against itself, one PASS line per check', async () => {
    const lines: string[] = [];
    const r = await runConformance(createReferenceBackend(), { log: (l) => lines.push(l), label: 'self' });
    expect(r.failures).toBe(0);
    expect(r.records.length).toBe(lines.length);
    // forward: dtype, shape, out, lse; backward: dq, dk, dv, grads (+ one per learnable tensor)
    expect(r.records.filter((x) => x.pass === 'forward' && x.check.name === 'out').length).toBe(CASES);
    expect(r.records.some((x) => x.caseName === 'special: NaN in a query row')).toBe(true);
    // the reference declares every optional feature: its aux cases are checked in full
    expect(r.records.filter((x) => x.check.name === 'maxScores').length).toBe(2);
    expect(r.records.filter((x) => x.check.name === 'grad(relTable)').length).toBe(2);
    expect(r.records.some((x) => x.check.name === 'grad(relTable)')).toBe(true);
    expect(lines.every((l) => l.startsWith('CONF PASS f32 '))).toBe(true);
    expect(lines[0]).toMatch(/^CONF PASS f32 forward\s+dtype\s+self: noop$/);
  });

  it('reports wrong outputs and missing capture gradients as failures with the worst element', async () => {
    const lines: string[] = [];
    const r = await runConformance(wrongBackend(0.05), { log: (l) => lines.push(l), filter: (c) => c.name === 'noop' || (!!c.learnable && !c.requires && !c.poison) });
    const failed = r.records.filter((x) => !x.check.ok);
    // out of each of the 3 cases; dq/dk/dv are right, but the 2 learnable cases lose their gradients
    expect(failed.map((x) => `${x.caseName}/${x.check.name}`)).toEqual([
      'noop/out',
      'learnable relative bias table/out',
      'learnable relative bias table/grads',
      'learnable relative bias table/grad(relTable)',
      'learnable per-head scale (2-D table) + where/out',
      'learnable per-head scale (2-D table) + where/grads',
      'learnable per-head scale (2-D table) + where/grad(headScale)',
    ]);
    expect(r.failures).toBe(7);
    expect(lines.find((l) => /^CONF FAIL f32 forward\s+out /.test(l))).toMatch(/1 element\(s\) out of tolerance.*at \[0, 1, 15, 15\]/);
  });

  it("a case's own tolerance widens the suite's for its dtype and pass only", async () => {
    const noop = CONFORMANCE_CASES.find((c) => c.name === 'noop')!;
    const wide = { ...noop, name: 'noop, wide', tolerance: { f32: { forward: { atol: 0.1, rtol: 0 } } } };
    const narrowOther = { ...noop, name: 'noop, bf16 wide', tolerance: { bf16: { forward: { atol: 0.1, rtol: 0 } } } };
    const r = await runConformance(wrongBackend(0.05), { log: () => {}, backward: false, extraCases: [wide, narrowOther], filter: (c) => c.name.startsWith('noop') });
    const outs = Object.fromEntries(r.records.filter((x) => x.check.name === 'out').map((x) => [x.caseName, x.check.ok]));
    expect(outs).toEqual({ noop: false, 'noop, wide': true, 'noop, bf16 wide': false });
  });

  it('says what it starts before each case runs (a hang names its case)', async () => {
    const events: string[] = [];
    const backend = createReferenceBackend();
    await runConformance(backend, {
      backward: true, dtypes: ['f32'], label: 'x', filter: (c) => c.name === 'noop',
      log: (l) => events.push(`line ${l.split(' ')[1]}`), onStart: (dtype, name, pass) => events.push(`start ${dtype} ${name} ${pass}`),
    });
    expect(events[0]).toBe('start f32 x: noop forward');
    expect(events.indexOf('start f32 x: noop backward')).toBeGreaterThan(events.indexOf('line PASS'));
  });

  it('a tiny error within tolerance passes; a throwing backend fails every case without stopping', async () => {
    expect((await runConformance(wrongBackend(1e-6), { log: () => {}, backward: false, filter: (c) => !c.requires })).failures).toBe(0);
    const throwing: FlexAttentionBackend = {
      name: 'throwing',
      flexAttention: () => Promise.reject(new Error('kernel did not compile\nline 2')),
      flexAttentionBackward: () => Promise.reject(new Error('no backward')),
      dispose() {},
    };
    const lines: string[] = [];
    const r = await runConformance(throwing, { log: (l) => lines.push(l), dtypes: ['f32', 'bf16'] });
    expect(r.failures).toBe(2 * CASES * 2);
    expect(lines[0]).toMatch(/^CONF FAIL f32 forward\s+run\s+noop: threw kernel did not compile \| line 2$/);
  });

  it('opt-outs leave their cases out, and must name a known case and an issue', async () => {
    const name = 'special: pow of negative scores';
    const r = await runConformance(createReferenceBackend(), { log: () => {}, backward: false, optOut: { [name]: 'issue 19: pow of a negative base' }, filter: (c) => c.name.startsWith('special') });
    expect(new Set(r.records.map((x) => x.caseName))).toEqual(new Set(SPECIAL_VALUE_CASES.map((c) => c.name).filter((n) => n !== name)));
    await expect(runConformance(createReferenceBackend(), { log: () => {}, optOut: { 'no such case': 'issue 19' } })).rejects.toThrow(/names no conformance case/);
    await expect(runConformance(createReferenceBackend(), { log: () => {}, optOut: { [name]: 'later' } })).rejects.toThrow(/must name the issue/);
  });

  it('optional features: a backend without them must reject them (UnsupportedError); silently ignoring them fails', async () => {
    const ref = createReferenceBackend();
    const rejecting: FlexAttentionBackend = {
      name: 'rejecting',
      async flexAttention(q, k, v, o) {
        checkFeatures(this, o);
        return ref.flexAttention(q, k, v, o);
      },
      async flexAttentionBackward(q, k, v, out, lse, dOut, o) {
        checkFeatures(this, o);
        return ref.flexAttentionBackward(q, k, v, out, lse, dOut, o);
      },
      dispose() {},
    };
    const onlyAux = { log: () => {}, filter: (c: { requires?: readonly string[] }) => !!c.requires };
    const good = await runConformance(rejecting, onlyAux);
    expect(good.failures).toBe(0);
    expect(good.records.filter((x) => x.check.name === 'rejects').map((x) => `${x.caseName}/${x.pass}`)).toEqual([
      'maxScores: fully masked rows/forward',
      'maxScores: softcap (exact tanh)/forward',
      'dLse: learnable relative bias table/backward',
      'dLse: fully masked rows/backward',
    ]);
    const ignoring: FlexAttentionBackend = {
      name: 'ignoring',
      async flexAttention(q, k, v, o) {
        const { out, lse } = await ref.flexAttention(q, k, v, { ...o, returnAux: undefined });
        return { out, lse };
      },
      flexAttentionBackward: (q, k, v, out, lse, dOut, o) => ref.flexAttentionBackward(q, k, v, out, lse, dOut, { ...o, dLse: undefined }),
      dispose() {},
    };
    const lines: string[] = [];
    const bad = await runConformance(ignoring, { ...onlyAux, log: (l) => lines.push(l) });
    expect(bad.failures).toBe(4);
    expect(lines.filter((l) => l.startsWith('CONF FAIL'))[0]).toMatch(/rejects .*must throw an UnsupportedError; it returned a result/);
  });
});

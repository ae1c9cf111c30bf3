/**
 * Correctness before speed: every backend's result on a case is compared with the float64
 * reference (on the reduced shape, see problem.ts) and a backend out of tolerance is not timed.
 */
import { DEFAULT_TOLERANCE } from '@flexattn/ir/testing';
import type { BenchCase } from './cases';
import { compareClose, createReferenceBackend, type FlexAttentionBackend } from './deps';
import { problemFor, reducedShape } from './problem';

export interface Verification {
  ok: boolean;
  maxAbsError: number;
  maxRelError: number;
  checked: string[];
  shape: string;
  message?: string;
}

const reference = createReferenceBackend();

export async function verifyCase(c: BenchCase, backend: FlexAttentionBackend, pass: 'fwd' | 'bwd' | 'both'): Promise<Verification> {
  const shape = reducedShape(c.shape, c.kind);
  const p = await problemFor(c, shape, 101);
  const tol = DEFAULT_TOLERANCE[c.dtype];
  const result: Verification = { ok: true, maxAbsError: 0, maxRelError: 0, checked: [], shape: `B${shape.B} H${shape.Hq}/${shape.Hkv} L${shape.Lq}x${shape.Lkv}` };
  const note = (name: string, actual: Parameters<typeof compareClose>[0], expected: Parameters<typeof compareClose>[1], t: { atol: number; rtol: number }) => {
    const cmp = compareClose(actual, expected, t);
    result.checked.push(name);
    result.maxAbsError = Math.max(result.maxAbsError, cmp.maxAbsError);
    result.maxRelError = Math.max(result.maxRelError, cmp.maxRelError);
    if (!cmp.ok && result.ok) {
      result.ok = false;
      result.message = `${name}: ${cmp.mismatches} element(s) off; worst got ${cmp.worstActual}, expected ${cmp.worstExpected}`;
    }
  };
  const want = await reference.flexAttention(p.q, p.k, p.v, p.options);
  const got = await backend.flexAttention(p.q, p.k, p.v, p.options);
  note('out', got.out, want.out, tol.forward);
  if (got.lse) note('lse', got.lse, want.lse!, tol.forward);
  if (pass !== 'fwd') {
    const wantG = await reference.flexAttentionBackward(p.q, p.k, p.v, want.out, want.lse!, p.dOut, p.options);
    const gotG = await backend.flexAttentionBackward(p.q, p.k, p.v, got.out, got.lse!, p.dOut, p.options);
    note('dq', gotG.dq, wantG.dq, tol.backward);
    note('dk', gotG.dk, wantG.dk, tol.backward);
    note('dv', gotG.dv, wantG.dv, tol.backward);
  }
  return result;
}

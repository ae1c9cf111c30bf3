/**
 * The conformance suite any backend runs: each case forward (out, lse) and backward (dq, dk, dv,
 * captured-tensor gradients) against the float64 reference, for each requested dtype.
 */
import type * as Vitest from 'vitest';
import type { FlexAttentionBackend } from '../kernel';
import { createReferenceBackend } from '../reference/backend';
import type { DType, Tensor } from '../tensor';
import { type BlockMaskFactory, CONFORMANCE_CASES, type ConformanceCase } from './cases';
import { compareClose, formatComparison, type Tolerance } from './compare';
import { caseInputs, DEFAULT_TOLERANCE } from './inputs';

export interface ConformanceOptions {
  dtypes?: readonly DType[];
  backward?: boolean;
  /** Cases to run (default: all). */
  filter?: (c: ConformanceCase) => boolean;
  extraCases?: readonly ConformanceCase[];
  /** Override per-dtype tolerances for forward and backward. */
  tolerance?: Partial<Record<DType, { forward?: Tolerance; backward?: Tolerance }>>;
  blockMaskFactory?: BlockMaskFactory;
  /** Reported in test names. */
  label?: string;
}

function check(name: string, actual: Tensor | Float32Array, expected: Tensor | Float32Array, tol: Tolerance, shape?: readonly number[]) {
  const c = compareClose(actual, expected, tol);
  if (!c.ok) vitest!.expect.fail(formatComparison(name, c, shape ?? ('shape' in actual ? actual.shape : undefined)));
}

// vitest is loaded only inside a vitest run, so scripts and the bench can import the rest of
// @flexattn/ir/testing (random tensors, comparisons, cases) without it.
const inVitest = typeof process !== 'undefined' && !!process.env?.VITEST;
const vitest: typeof Vitest | undefined = inVitest ? await import('vitest') : undefined;

export function describeConformance(createBackend: () => FlexAttentionBackend | Promise<FlexAttentionBackend>, opts: ConformanceOptions = {}): void {
  if (!vitest) throw new Error('describeConformance defines vitest tests: call it from a test file that vitest runs');
  const { afterAll, beforeAll, describe, expect, it } = vitest;
  const dtypes = opts.dtypes ?? ['f32'];
  const cases = [...CONFORMANCE_CASES, ...(opts.extraCases ?? [])].filter(opts.filter ?? (() => true));
  const reference = createReferenceBackend();
  describe(`flexattn conformance${opts.label ? ` (${opts.label})` : ''}`, () => {
    let backend: FlexAttentionBackend;
    beforeAll(async () => {
      backend = await createBackend();
    });
    afterAll(() => backend?.dispose());
    for (const dtype of dtypes) {
      const tol = { ...DEFAULT_TOLERANCE[dtype], ...opts.tolerance?.[dtype] };
      for (const c of cases) {
        it(`${dtype} forward: ${c.name}`, async () => {
          const x = caseInputs(c, dtype, 11, opts.blockMaskFactory);
          const want = await reference.flexAttention(x.q, x.k, x.v, x.options);
          const got = await backend.flexAttention(x.q, x.k, x.v, x.options);
          expect(got.out.dtype).toBe(dtype);
          expect([...got.out.shape]).toEqual([c.B, c.Hq, c.Lq, c.Ev]);
          check('out', got.out, want.out, tol.forward);
          check('lse', got.lse!, want.lse!, tol.forward);
        });
        if (opts.backward ?? true) {
          it(`${dtype} backward: ${c.name}`, async () => {
            const x = caseInputs(c, dtype, 23, opts.blockMaskFactory);
            const fwdRef = await reference.flexAttention(x.q, x.k, x.v, x.options);
            const want = await reference.flexAttentionBackward(x.q, x.k, x.v, fwdRef.out, fwdRef.lse!, x.dOut, x.options);
            const fwd = await backend.flexAttention(x.q, x.k, x.v, x.options);
            const got = await backend.flexAttentionBackward(x.q, x.k, x.v, fwd.out, fwd.lse!, x.dOut, x.options);
            check('dq', got.dq, want.dq, tol.backward);
            check('dk', got.dk, want.dk, tol.backward);
            check('dv', got.dv, want.dv, tol.backward);
            expect(got.captureGrads.size).toBe(want.captureGrads.size);
            for (const [tensor, g] of want.captureGrads) {
              const mine = got.captureGrads.get(tensor);
              if (!mine) throw new Error(`no gradient returned for captured tensor ${tensor.name}`);
              // Capture gradients sum over every (q, kv): scale the tolerance by the row count.
              check(`grad(${tensor.name})`, mine, g, { atol: tol.backward.atol * Math.sqrt(c.Lq * c.Lkv), rtol: tol.backward.rtol }, tensor.shape);
            }
          });
        }
      }
    }
  });
}

/**
 * The conformance suite any backend runs: each case forward (out, lse) and backward (dq, dk, dv,
 * captured-tensor gradients) against the float64 reference, for each requested dtype.
 */
import type * as Vitest from 'vitest';
import type { FlexAttentionBackend } from '../kernel';
import { createReferenceBackend } from '../reference/backend';
import type { DType } from '../tensor';
import { type CaseSelection, type ConformanceCase, selectCases } from './cases';
import { type CaseCheckOptions, checkCase, type ConformancePass, describeCheck } from './checks';

export interface ConformanceOptions extends CaseCheckOptions, CaseSelection {
  dtypes?: readonly DType[];
  backward?: boolean;
  /** Reported in test names. */
  label?: string;
}

// vitest is loaded only inside a vitest run, so scripts and the bench can import the rest of
// @flexattn/ir/testing (random tensors, comparisons, cases) without it.
const inVitest = typeof process !== 'undefined' && !!process.env?.VITEST;
const vitest: typeof Vitest | undefined = inVitest ? await import('vitest') : undefined;

export function describeConformance(createBackend: () => FlexAttentionBackend | Promise<FlexAttentionBackend>, opts: ConformanceOptions = {}): void {
  if (!vitest) throw new Error('describeConformance defines vitest tests: call it from a test file that vitest runs');
  const { afterAll, beforeAll, describe, expect, it } = vitest;
  const dtypes = opts.dtypes ?? ['f32'];
  const cases = selectCases(opts);
  const reference = createReferenceBackend();
  const expectConforms = async (backend: FlexAttentionBackend, c: ConformanceCase, dtype: DType, pass: ConformancePass) => {
    const failed = (await checkCase(backend, reference, c, dtype, pass, opts)).filter((x) => !x.ok);
    if (failed.length) expect.fail(failed.map(describeCheck).join('\n'));
  };
  describe(`flexattn conformance${opts.label ? ` (${opts.label})` : ''}`, () => {
    let backend: FlexAttentionBackend;
    beforeAll(async () => {
      backend = await createBackend();
    });
    afterAll(() => backend?.dispose());
    for (const dtype of dtypes) {
      for (const c of cases) {
        it(`${dtype} forward: ${c.name}`, () => expectConforms(backend, c, dtype, 'forward'));
        if (opts.backward ?? true) it(`${dtype} backward: ${c.name}`, () => expectConforms(backend, c, dtype, 'backward'));
      }
    }
  });
}

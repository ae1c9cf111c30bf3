/**
 * One conformance case on one backend, as a list of named comparisons against the float64
 * reference: forward (out, lse, plus dtype and shape) and backward (dq, dk, dv, captured-tensor
 * gradients). No test framework here: the vitest suite (conformance.ts) and the plain-Node runner
 * for GPU machines (run-conformance.ts) both call it, so they check the same things.
 */
import { UnsupportedError } from '../errors';
import type { FlexAttentionBackend } from '../kernel';
import type { DType, Tensor } from '../tensor';
import type { BlockMaskFactory, ConformanceCase } from './cases';
import { type Comparison, compareClose, formatComparison, type Tolerance } from './compare';
import { caseInputs, DEFAULT_TOLERANCE } from './inputs';

export type ConformancePass = 'forward' | 'backward';

export interface ConformanceCheck {
  /** out, lse, dq, dk, dv, grad(<tensor name>), or a structural check (dtype, shape, grads) */
  name: string;
  ok: boolean;
  comparison?: Comparison;
  /** the tensor's shape, to name the worst element */
  shape?: readonly number[];
  /** why a structural check failed */
  message?: string;
}

export interface CaseCheckOptions {
  /** per-dtype overrides of DEFAULT_TOLERANCE */
  tolerance?: Partial<Record<DType, { forward?: Tolerance; backward?: Tolerance }>>;
  blockMaskFactory?: BlockMaskFactory;
}

/** The tolerances a dtype is checked with (defaults merged with overrides). */
export function toleranceFor(dtype: DType, opts: CaseCheckOptions = {}): { forward: Tolerance; backward: Tolerance } {
  return { ...DEFAULT_TOLERANCE[dtype], ...opts.tolerance?.[dtype] };
}

// the seeds the suite has always used: forward and backward draw different tensors
const SEED = { forward: 11, backward: 23 } as const;

function compared(name: string, actual: Tensor | Float32Array, expected: Tensor | Float32Array, tol: Tolerance, shape?: readonly number[]): ConformanceCheck {
  // NaN is a defined answer (special-value cases); NaN where the reference has a number still fails
  const comparison = compareClose(actual, expected, tol, { matchNaN: true });
  return { name, ok: comparison.ok, comparison, shape: shape ?? ('shape' in actual ? actual.shape : undefined) };
}

function structural(name: string, ok: boolean, message: string): ConformanceCheck {
  return { name, ok, message: ok ? undefined : message };
}

/**
 * Runs case `c` in `dtype` through `backend` and `reference` and compares. Backward checks the
 * backend's gradients computed from its own forward (out, lse), as a user's training step would.
 * Errors the backend throws propagate.
 */
export async function checkCase(
  backend: FlexAttentionBackend,
  reference: FlexAttentionBackend,
  c: ConformanceCase,
  dtype: DType,
  pass: ConformancePass,
  opts: CaseCheckOptions = {},
): Promise<ConformanceCheck[]> {
  const tol = { ...toleranceFor(dtype, opts), ...c.tolerance?.[dtype] };
  const x = caseInputs(c, dtype, SEED[pass], opts.blockMaskFactory);
  // maxScores is a forward output, dLse a backward input: each pass needs only its own
  const missing = (c.requires ?? []).filter((f) => (f === 'maxScores') === (pass === 'forward') && !backend.features?.includes(f));
  if (missing.length) return [await checkRejected(backend, x, pass, missing.join(', '))];
  if (pass === 'forward') {
    const want = await reference.flexAttention(x.q, x.k, x.v, x.options);
    const got = await backend.flexAttention(x.q, x.k, x.v, x.options);
    const wantShape = [c.B, c.Hq, c.Lq, c.Ev];
    const checks = [
      structural('dtype', got.out.dtype === dtype, `out has dtype ${got.out.dtype}, expected ${dtype}`),
      structural('shape', got.out.shape.join() === wantShape.join(), `out has shape [${got.out.shape.join(', ')}], expected [${wantShape.join(', ')}]`),
      compared('out', got.out, want.out, tol.forward),
    ];
    checks.push(got.lse ? compared('lse', got.lse, want.lse!, tol.forward) : structural('lse', false, 'no lse returned (returnLse: true)'));
    if (x.options.returnAux?.maxScores) {
      checks.push(got.maxScores ? compared('maxScores', got.maxScores, want.maxScores!, tol.forward) : structural('maxScores', false, 'no maxScores returned (returnAux: { maxScores: true })'));
    }
    return checks;
  }
  // the forward of a training step asks for lse only
  const fwdOptions = { ...x.options, returnAux: undefined };
  const bwdOptions = { ...fwdOptions, dLse: x.dLse };
  const fwdRef = await reference.flexAttention(x.q, x.k, x.v, fwdOptions);
  const want = await reference.flexAttentionBackward(x.q, x.k, x.v, fwdRef.out, fwdRef.lse!, x.dOut, bwdOptions);
  const fwd = await backend.flexAttention(x.q, x.k, x.v, fwdOptions);
  if (!fwd.lse) return [structural('lse', false, 'no lse returned (returnLse: true)')];
  const got = await backend.flexAttentionBackward(x.q, x.k, x.v, fwd.out, fwd.lse, x.dOut, bwdOptions);
  const checks = [compared('dq', got.dq, want.dq, tol.backward), compared('dk', got.dk, want.dk, tol.backward), compared('dv', got.dv, want.dv, tol.backward)];
  checks.push(structural('grads', got.captureGrads.size === want.captureGrads.size, `${got.captureGrads.size} capture gradient(s) returned, expected ${want.captureGrads.size}`));
  for (const [tensor, g] of want.captureGrads) {
    // by identity; by name for backends that hand back their own tensor objects
    const mine = got.captureGrads.get(tensor) ?? [...got.captureGrads].find(([t]) => t.name === tensor.name)?.[1];
    if (!mine) {
      checks.push(structural(`grad(${tensor.name})`, false, `no gradient returned for captured tensor ${tensor.name}`));
      continue;
    }
    // capture gradients sum over every (q, kv): the absolute tolerance grows with the count
    const capTol = { atol: tol.backward.atol * Math.sqrt(c.Lq * c.Lkv), rtol: tol.backward.rtol };
    checks.push(compared(`grad(${tensor.name})`, mine, g, capTol, tensor.shape));
  }
  return checks;
}

/**
 * A backend without a feature the case needs must refuse the call with an UnsupportedError (a
 * result that silently ignored the option would be a wrong answer).
 */
async function checkRejected(backend: FlexAttentionBackend, x: ReturnType<typeof caseInputs>, pass: ConformancePass, features: string): Promise<ConformanceCheck> {
  let error: unknown;
  try {
    if (pass === 'forward') await backend.flexAttention(x.q, x.k, x.v, x.options);
    else {
      const plain = { ...x.options, returnAux: undefined };
      const fwd = await backend.flexAttention(x.q, x.k, x.v, plain);
      await backend.flexAttentionBackward(x.q, x.k, x.v, fwd.out, fwd.lse!, x.dOut, { ...plain, dLse: x.dLse });
    }
  } catch (e) {
    error = e;
  }
  const ok = error instanceof UnsupportedError;
  const got = error === undefined ? 'it returned a result' : `it threw ${(error as Error).name}: ${(error as Error).message}`;
  return structural('rejects', ok, `the backend does not declare ${features}, so it must throw an UnsupportedError; ${got}`);
}

/** One line for a failed check: the worst element for comparisons, the message otherwise. */
export function describeCheck(check: ConformanceCheck): string {
  if (check.comparison) return formatComparison(check.name, check.comparison, check.shape);
  return `${check.name}: ${check.message ?? (check.ok ? 'ok' : 'failed')}`;
}

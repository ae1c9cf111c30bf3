/**
 * The fuzz suite any backend runs (vitest + fast-check): random valid calls must agree with the
 * independent dense float64 definition (testing/dense.ts), NaN exactly where it has NaN; random
 * invalid calls must be rejected with a typed FlexAttnError (no raw TypeError, no result); a call
 * after dispose() throws BackendDisposedError. Parameterised by the backend factory, its dtypes,
 * tolerances and whether its inputs may hold special values.
 *
 * What is compared follows docs/architecture.md §4 exactly, so a run cannot flake on meaning:
 * elements the definition leaves unspecified (a non-finite v or dOut meeting a weight that may
 * underflow, dense.ts's `unspecified`) are skipped, and where the definition's gradient is NaN or
 * ±∞ any non-finite value matches (which of them depends on the backward formula once infinities
 * meet: Σ_k P_k(dP_j − dP_k) here, dP_j − Σ dOut·out in a kernel). Each run draws a fresh
 * fast-check seed (or takes FLEXATTN_FUZZ_SEED) and a failure names it, so any failure replays.
 */
import type * as Vitest from 'vitest';
import type * as FastCheck from 'fast-check';
import { BackendDisposedError, FlexAttnError } from '../errors';
import type { FlexAttentionBackend } from '../kernel';
import { type DType, type Tensor, toFloat64 } from '../tensor';
import { type Tolerance, compareClose, formatComparison } from './compare';
import { type Call, CORRUPTIONS, validCall } from './fuzz-corruptions';
import { buildProblem, type ProblemSpec, problemSpec } from './fuzz-problems';
import { denseBackward64, denseForward64, denseModsOf } from './dense';

export interface FuzzOptions {
  /** Reported in test names. */
  label?: string;
  dtypes?: readonly DType[];
  backward?: boolean;
  /** Cases per property (default 60 valid, 300 invalid). */
  numRuns?: { valid?: number; invalid?: number };
  /**
   * Tolerance against the float64 definition, relative to the largest |value| of each compared
   * tensor for atol. Defaults suit the reference (its only error is rounding the result).
   */
  tolerance?: Partial<Record<DType, { forward?: Tolerance; backward?: Tolerance }>>;
  /** NaN / ±Infinity in valid inputs (default true). */
  specialValues?: boolean;
  /** Valid calls may share one K/V (batch 1) across a query batch (default true). */
  kvBatchBroadcast?: boolean;
  /** Longest Lq / Lkv drawn (default 20). */
  maxLen?: number;
  /**
   * The backend's shader compiler may fold arithmetic as if every value were finite (WGSL allows
   * it: Tint and lavapipe's LLVM turn `score * 0.0` into 0.0, so a NaN or ±∞ input that meets a
   * score mod multiplying by exactly 0 vanishes instead of making its row NaN). Such cases are left
   * out of the valid-call property; the backend documents the exception.
   */
  finiteMathFolding?: boolean;
}

/**
 * A special value in the inputs meets a score mod that multiplies the score by 0 on the GPU: families
 * 1, 4, 6 with a p that is 0 in f32 or an f32 subnormal (GPUs flush those to zero).
 */
function specialTimesZero(spec: ProblemSpec): boolean {
  return spec.poison.length > 0 && Math.abs(spec.scoreParam) < 2 ** -126 && [1, 4, 6].includes(spec.score);
}

/**
 * A special value in the inputs meets a score mod that multiplies the score by a p that only float64
 * holds: every kernel computes mods in f32, where p is ±0 and ∞·0 is NaN, while the float64
 * definition has ±∞ — unspecified by docs/architecture.md §4 ("constants in f32"), left out on every backend.
 */
function specialTimesF32Zero(spec: ProblemSpec): boolean {
  return spec.poison.length > 0 && spec.scoreParam !== 0 && Math.fround(spec.scoreParam) === 0 && [1, 4, 6].includes(spec.score);
}

// f32 results: the rounding of a float64 value (plus float64 noise); f16/bf16: one ulp, as the
// reference rounds through f32. lse is always f32. atol is scaled by the tensor's largest |value|.
const ROUNDING: Record<DType, Tolerance> = { f32: { atol: 1e-9, rtol: 1e-6 }, f16: { atol: 2e-7, rtol: 2 ** -10 }, bf16: { atol: 1e-9, rtol: 2 ** -7 } };

const inVitest = typeof process !== 'undefined' && !!process.env?.VITEST;
const vitest: typeof Vitest | undefined = inVitest ? await import('vitest') : undefined;
const fc: typeof FastCheck | undefined = inVitest ? await import('fast-check') : undefined;

const maxAbs = (x: Float64Array) => x.reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 0);

/** How a tensor is compared with the definition: as is, or with any non-finite value matching a non-finite one (gradients). */
interface Comparing {
  /** 1 = the definition leaves this element unspecified: not compared */
  unspecified?: Uint8Array;
  nonFiniteMatches?: boolean;
}

/** A spec as JSON that keeps NaN and ±Infinity (JSON.stringify writes them as null). */
const specText = (spec: ProblemSpec) => JSON.stringify(spec, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));

/** Compares with atol scaled by the expected tensor's magnitude; throws naming the worst element. */
function check(name: string, got: Tensor, want: Float64Array, tol: Tolerance, spec: ProblemSpec, how: Comparing = {}): void {
  const g = toFloat64(got);
  const w = Float64Array.from(want);
  for (let i = 0; i < w.length; i++) {
    const nonFinite = how.nonFiniteMatches && !Number.isFinite(w[i]!) && !Number.isFinite(g[i]!);
    if (how.unspecified?.[i] || nonFinite) g[i] = w[i] = 0;
  }
  const c = compareClose(g, w, { atol: tol.atol * Math.max(1, maxAbs(want)), rtol: tol.rtol }, { matchNaN: true });
  if (!c.ok) throw new Error(`${formatComparison(name, c, got.shape)}\nspec: ${specText(spec)}`);
}

/** This run's fast-check seed: FLEXATTN_FUZZ_SEED to replay one, else a fresh one. */
export function fuzzSeed(): number {
  const pinned = typeof process !== 'undefined' ? process.env?.FLEXATTN_FUZZ_SEED : undefined;
  if (pinned !== undefined && pinned !== '') {
    const n = Number(pinned);
    if (!Number.isSafeInteger(n)) throw new Error(`FLEXATTN_FUZZ_SEED must be an integer, got ${JSON.stringify(pinned)}`);
    return n;
  }
  return (Math.random() * 2 ** 31) | 0;
}

/** fc.assert with `seed`; a failure's message starts with the seed and how to replay it. */
export async function assertSeeded<Ts extends [unknown, ...unknown[]]>(fcm: typeof FastCheck, property: FastCheck.IAsyncProperty<Ts>, seed: number, numRuns: number): Promise<void> {
  try {
    await fcm.assert(property, { seed, numRuns });
  } catch (e) {
    const err = e as Error;
    err.message = `fuzz seed ${seed} (replay: FLEXATTN_FUZZ_SEED=${seed})\n${err.message}`;
    throw err;
  }
}

async function invoke(backend: FlexAttentionBackend, call: Call): Promise<unknown> {
  const t = call.tensors as Record<string, Tensor>;
  if (call.pass === 'forward') return backend.flexAttention(t.q!, t.k!, t.v!, call.options as never);
  return backend.flexAttentionBackward(t.q!, t.k!, t.v!, t.out!, t.lse!, t.dOut!, call.options as never);
}

/** The fuzz suite's three properties, callable outside vitest (a GPU machine's runner); each throws on failure. */
export interface FuzzChecks {
  /** random valid calls agree with the dense float64 definition */
  valid(backend: FlexAttentionBackend, seed?: number): Promise<void>;
  /** random invalid calls throw typed errors (FlexAttnError), never a raw TypeError or a result */
  invalid(backend: FlexAttentionBackend, seed?: number): Promise<void>;
  /** a call after dispose() throws BackendDisposedError (disposes the backend it is given) */
  afterDispose(backend: FlexAttentionBackend): Promise<void>;
  /** one random invalid call (a corruption of a valid one) and its error, for leak checks */
  invalidCall(backend: FlexAttentionBackend, rng: number): Promise<unknown>;
}

/** The fuzz properties for a fast-check module (`import * as fc from 'fast-check'`). */
export function fuzzChecks(fcm: typeof FastCheck, opts: FuzzOptions = {}): FuzzChecks {
  const dtypes = opts.dtypes ?? ['f32', 'f16', 'bf16'];
  const specs = problemSpec(fcm, { dtypes, special: opts.specialValues ?? true, kvShared: opts.kvBatchBroadcast ?? true, maxLen: opts.maxLen });
  const tol = (dtype: DType, pass: 'forward' | 'backward') => opts.tolerance?.[dtype]?.[pass] ?? ROUNDING[dtype];
  const passes = opts.backward === false ? (['forward'] as const) : (['forward', 'backward'] as const);
  const corrupted = async (backend: FlexAttentionBackend, spec: ProblemSpec, ci: number, pass: Call['pass'], pick: number) => {
    const c = CORRUPTIONS[ci]!;
    const call = validCall(buildProblem(spec), spec, c.pass ?? pass);
    c.apply(call, spec, pick);
    try {
      await invoke(backend, call);
    } catch (e) {
      return { c, call, error: e };
    }
    return { c, call, error: undefined };
  };
  return {
    valid: (backend, seed = fuzzSeed()) =>
      assertSeeded(
        fcm,
        fcm.asyncProperty(specs, async (spec) => {
          if (specialTimesF32Zero(spec)) return; // unspecified: see specialTimesF32Zero
          if (opts.finiteMathFolding && specialTimesZero(spec)) return; // left out: see FuzzOptions.finiteMathFolding
          const p = buildProblem(spec);
          const mods = denseModsOf(p.options, spec);
          const [q, k, v] = [toFloat64(p.q), toFloat64(p.k), toFloat64(p.v)];
          const want = denseForward64(spec, q, k, v, mods);
          const got = await backend.flexAttention(p.q, p.k, p.v, { ...p.options, returnLse: true });
          check('out', got.out, want.out, tol(spec.dtype, 'forward'), spec, { unspecified: want.unspecified });
          check('lse', got.lse!, want.lse, tol('f32', 'forward'), spec);
          if (opts.backward === false) return;
          const grads = denseBackward64(spec, q, k, v, toFloat64(p.dOut), mods);
          const g = await backend.flexAttentionBackward(p.q, p.k, p.v, got.out, got.lse!, p.dOut, p.options);
          for (const name of ['dq', 'dk', 'dv'] as const) {
            check(name, g[name], grads[name], tol(spec.dtype, 'backward'), spec, { unspecified: grads.unspecified[name], nonFiniteMatches: true });
          }
        }),
        seed,
        opts.numRuns?.valid ?? 60,
      ),
    invalid: (backend, seed = fuzzSeed()) =>
      assertSeeded(
        fcm,
        fcm.asyncProperty(specs, fcm.integer({ min: 0, max: CORRUPTIONS.length - 1 }), fcm.constantFrom(...passes), fcm.nat(), async (spec, ci, pass, pick) => {
          const { c, call, error } = await corrupted(backend, spec, ci, pass, pick);
          if (!(error instanceof FlexAttnError)) {
            throw new Error(`'${c.name}' (pick ${pick}, ${call.pass}) ${error === undefined ? 'returned a result' : `threw ${String(error)}`}\nspec: ${specText(spec)}`);
          }
          if (!error.message) throw new Error(`'${c.name}': ${error.name} without a message`);
        }),
        seed,
        opts.numRuns?.invalid ?? 300,
      ),
    async afterDispose(b) {
      const p = buildProblem(fcm.sample(specs, { numRuns: 1, seed: 1 })[0]!);
      b.dispose();
      for (const call of [() => b.flexAttention(p.q, p.k, p.v, p.options), () => b.flexAttentionBackward(p.q, p.k, p.v, p.q, p.q, p.dOut, p.options)]) {
        let error: unknown;
        try {
          await call();
        } catch (e) {
          error = e;
        }
        if (!(error instanceof BackendDisposedError)) throw new Error(`after dispose(): ${error === undefined ? 'a result' : String(error)}, not a BackendDisposedError`);
      }
    },
    async invalidCall(backend, rng) {
      const spec = fcm.sample(specs, { numRuns: 1, seed: rng })[0]!;
      return (await corrupted(backend, spec, rng % CORRUPTIONS.length, passes[rng % passes.length]!, rng)).error;
    },
  };
}

export function describeFuzz(createBackend: () => FlexAttentionBackend | Promise<FlexAttentionBackend>, opts: FuzzOptions = {}): void {
  if (!vitest || !fc) throw new Error('describeFuzz defines vitest tests: call it from a test file that vitest runs');
  const { afterAll, beforeAll, describe, it } = vitest;
  const checks = fuzzChecks(fc, opts);

  describe(`flexattn fuzz${opts.label ? ` (${opts.label})` : ''}`, () => {
    let backend: FlexAttentionBackend;
    beforeAll(async () => {
      backend = await createBackend();
    });
    afterAll(() => backend?.dispose());

    it('valid calls agree with the dense float64 definition', () => checks.valid(backend));
    it('invalid calls throw typed errors (FlexAttnError), never a raw TypeError or a result', () => checks.invalid(backend));
    it('a call after dispose() throws BackendDisposedError', async () => checks.afterDispose(await createBackend()));
  });
}

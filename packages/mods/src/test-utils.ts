/** Test helpers (not exported from the package): evaluate traced mods, finite differences. */
import { type CapturedTensor, compileToJs, evaluate, type MaskMod, type Scalar, type ScoreMod, type TracedMod, traceMaskMod, traceScoreMod } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { randomTensor } from '@flexattn/ir/testing';
import { expect } from 'vitest';

type MaskRef = (b: number, h: number, q: number, kv: number) => boolean;
type ScoreRef = (score: number, b: number, h: number, q: number, kv: number) => number;

/** The traced mask as a JS predicate; every call checks `evaluate` and `compileToJs` agree. */
export function maskFn(mod: MaskMod): MaskRef & { traced: TracedMod } {
  const traced = traceMaskMod(mod);
  const compiled = compileToJs(traced);
  const fn = (b: number, h: number, q: number, kv: number): boolean => {
    const e = evaluate(traced, { b, h, q, kv });
    const c = compiled(b, h, q, kv);
    if (e !== c) throw new Error(`evaluate (${String(e)}) and compileToJs (${String(c)}) disagree at b=${b} h=${h} q=${q} kv=${kv}`);
    return e as boolean;
  };
  return Object.assign(fn, { traced });
}

export function scoreFn(mod: ScoreMod): ScoreRef & { traced: TracedMod } {
  const traced = traceScoreMod(mod);
  const compiled = compileToJs(traced);
  const fn = (score: number, b: number, h: number, q: number, kv: number): number => {
    const e = evaluate(traced, { score, b, h, q, kv }) as number;
    const c = compiled(score, b, h, q, kv) as number;
    if (!Object.is(e, c) && Math.abs(e - c) > 1e-12 * Math.max(1, Math.abs(e))) throw new Error(`evaluate (${e}) and compileToJs (${c}) disagree`);
    return e;
  };
  return Object.assign(fn, { traced });
}

/** Compares a mask with a plain-JS definition on every (b, h, q, kv) of a small grid. */
export function expectMaskEquals(mod: MaskMod, ref: MaskRef, dims: { B?: number; H?: number; Lq: number; Lkv: number }): void {
  const f = maskFn(mod);
  for (let b = 0; b < (dims.B ?? 1); b++)
    for (let h = 0; h < (dims.H ?? 1); h++)
      for (let q = 0; q < dims.Lq; q++)
        for (let kv = 0; kv < dims.Lkv; kv++) {
          const want = ref(b, h, q, kv);
          if (f(b, h, q, kv) !== want) expect.fail(`${f.traced.name} at b=${b} h=${h} q=${q} kv=${kv}: got ${!want}, want ${want}`);
        }
}

export function expectScoreClose(mod: ScoreMod, ref: ScoreRef, points: Iterable<readonly [number, number, number, number, number]>, tol = 1e-9): void {
  const f = scoreFn(mod);
  for (const [s, b, h, q, kv] of points) {
    const got = f(s, b, h, q, kv);
    const want = ref(s, b, h, q, kv);
    if (!(Object.is(got, want) || Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)))) {
      expect.fail(`${f.traced.name}(score=${s}, b=${b}, h=${h}, q=${q}, kv=${kv}) = ${got}, want ${want}`);
    }
  }
}

/** Changing `s` changes the result at `point` but neither the traced hash nor a compiled function. */
export function expectRetunable(mod: MaskMod | ScoreMod, kind: 'mask' | 'score', s: Scalar, next: number, point: number[]): void {
  const trace = (): TracedMod => (kind === 'mask' ? traceMaskMod(mod as MaskMod) : traceScoreMod(mod as ScoreMod));
  const before = trace();
  const compiled = compileToJs(before);
  const v1 = compiled(...point);
  const old = s.value;
  s.value = next;
  try {
    expect(compiled(...point)).not.toBe(v1);
    expect(trace().hash).toBe(before.hash);
  } finally {
    s.value = old;
  }
}

/**
 * Checks the reference backend's capture gradients of Σ out·dOut against central finite
 * differences of the float64 forward, for every element of each tensor.
 */
export async function expectCaptureGradsMatchFiniteDifferences(
  scoreMod: ScoreMod,
  tensors: CapturedTensor[],
  dims: { B?: number; H?: number; Lq: number; Lkv: number; E?: number; seed?: number; expectNonzero?: boolean },
): Promise<void> {
  const { B = 1, H = 2, Lq, Lkv, E = 4, seed = 1, expectNonzero = true } = dims;
  const q = randomTensor([B, H, Lq, E], 'f32', seed);
  const k = randomTensor([B, H, Lkv, E], 'f32', seed + 1);
  const v = randomTensor([B, H, Lkv, E], 'f32', seed + 2);
  const dOut = randomTensor([B, H, Lq, E], 'f32', seed + 3);
  const backend = createReferenceBackend();
  const fwd = await backend.flexAttention(q, k, v, { scoreMod, returnLse: true });
  const { captureGrads } = await backend.flexAttentionBackward(q, k, v, fwd.out, fwd.lse!, dOut, { scoreMod });
  const loss = (): number => backend.forward64(q, k, v, { scoreMod }).out.reduce((acc, o, i) => acc + o * dOut.data[i]!, 0);
  for (const t of tensors) {
    const grad = captureGrads.get(t);
    expect(grad, `a gradient for ${t.name}`).toBeDefined();
    if (expectNonzero) expect(Math.max(...grad!.map(Math.abs)), `some gradient of ${t.name} is nonzero`).toBeGreaterThan(1e-3);
    const data = t.data as Float32Array;
    for (let i = 0; i < data.length; i++) {
      const orig = data[i]!;
      const eps = 1e-3 * Math.max(1, Math.abs(orig));
      data[i] = orig + eps;
      const up = data[i]!;
      const lUp = loss();
      data[i] = orig - eps;
      const down = data[i]!;
      const lDown = loss();
      data[i] = orig;
      const fd = (lUp - lDown) / (up - down);
      expect(Math.abs(grad![i]! - fd), `d loss / d ${t.name}[${i}]: analytic ${grad![i]} vs finite difference ${fd}`).toBeLessThanOrEqual(2e-4 + 2e-3 * Math.abs(fd));
    }
  }
}

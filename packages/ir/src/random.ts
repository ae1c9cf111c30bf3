/** Seeded randomness for tests and benchmarks: the same seed gives the same tensors everywhere. */
import type { DType, Tensor } from './tensor';
import { fromFloats, numel } from './tensor';

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard-normal floats (Box–Muller). */
export function randomNormal(count: number, seed: number, std = 1): Float32Array {
  const rnd = seededRandom(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(rnd(), 1e-12);
    const v = rnd();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export function randomTensor(shape: readonly number[], dtype: DType, seed: number, std = 1): Tensor {
  return fromFloats(randomNormal(numel(shape), seed, std), shape, dtype);
}

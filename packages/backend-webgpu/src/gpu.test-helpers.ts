// Test helpers: a seeded RNG, a float64 attention oracle written here (independent of the ir),
// and a lavapipe device (skipped with a reason when no adapter, failed with FLEXATTN_REQUIRE_WEBGPU=1).
import { tablesFromClasses, type PackedBlockTables } from '@flexattn/ir';
import { acquireDevice, type GpuContext } from './device.js';

export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * 1.7 * scale;
  return out;
}

export interface Shape { B: number; Hq: number; Hkv: number; Lq: number; Lkv: number; E: number; Ev: number }
export type JsScore = (s: number, b: number, h: number, q: number, kv: number) => number;
export type JsMask = (b: number, h: number, q: number, kv: number) => boolean;

/** float64 forward: out [B,Hq,Lq,Ev], lse [B,Hq,Lq]. */
export function refForward(sh: Shape, q: Float32Array, k: Float32Array, v: Float32Array, scale: number,
  score: JsScore = (s) => s, mask: JsMask = () => true) {
  const { B, Hq, Hkv, Lq, Lkv, E, Ev } = sh;
  const out = new Float64Array(B * Hq * Lq * Ev);
  const lse = new Float64Array(B * Hq * Lq);
  const post = new Float64Array(Lkv);
  for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) {
    const hk = Math.floor(h / (Hq / Hkv));
    for (let i = 0; i < Lq; i++) {
      let m = -Infinity;
      for (let j = 0; j < Lkv; j++) {
        let s = 0;
        for (let d = 0; d < E; d++) s += q[((b * Hq + h) * Lq + i) * E + d]! * k[((b * Hkv + hk) * Lkv + j) * E + d]!;
        post[j] = mask(b, h, i, j) ? score(s * scale, b, h, i, j) : -Infinity;
        m = Math.max(m, post[j]!);
      }
      const row = (b * Hq + h) * Lq + i;
      if (m === -Infinity) {
        lse[row] = -Infinity;
        continue;
      }
      let l = 0;
      for (let j = 0; j < Lkv; j++) l += Math.exp(post[j]! - m);
      lse[row] = m + Math.log(l);
      for (let j = 0; j < Lkv; j++) {
        const p = Math.exp(post[j]! - m) / l;
        if (p === 0) continue;
        for (let d = 0; d < Ev; d++) out[row * Ev + d]! += p * v[((b * Hkv + hk) * Lkv + j) * Ev + d]!;
      }
    }
  }
  return { out, lse };
}

export function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x === y) continue; // equal infinities
    if (!Number.isFinite(x) || !Number.isFinite(y)) return Infinity;
    e = Math.max(e, Math.abs(x - y) / (1 + Math.abs(y)));
  }
  return e;
}

let ctxPromise: Promise<GpuContext | string> | undefined;
/** One shared lavapipe device per test file, or the reason there is none. */
export function testDevice(): Promise<GpuContext | string> {
  ctxPromise ??= acquireDevice({ powerPreference: 'low-power' }).catch((e: Error) => {
    if (process.env.FLEXATTN_REQUIRE_WEBGPU === '1') throw e;
    return `no WebGPU adapter: ${e.message.split('\n')[0]}`;
  });
  return ctxPromise;
}

/**
 * Tile tables straight from a dense element mask [Lq][Lkv] (B = H = 1), by definition: a tile is
 * full when every in-range element is visible, empty when none is, partial otherwise.
 */
export function tablesFromElementMask(mask: Uint8Array, Lq: number, Lkv: number, tq: number, tk: number): PackedBlockTables {
  const R = Math.ceil(Lq / tq);
  const C = Math.ceil(Lkv / tk);
  const classes = new Uint8Array(R * C);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      let any = false;
      let all = true;
      for (let q = r * tq; q < Math.min(Lq, (r + 1) * tq); q++) {
        for (let k = c * tk; k < Math.min(Lkv, (c + 1) * tk); k++) {
          if (mask[q * Lkv + k]) any = true;
          else all = false;
        }
      }
      classes[r * C + c] = !any ? 0 : all ? 2 : 1;
    }
  }
  return tablesFromClasses(classes, 1, 1, R, C);
}

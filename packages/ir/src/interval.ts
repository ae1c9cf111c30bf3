/**
 * Sound interval analysis of masks over a box of (b, h, q, kv) — the fast path of block
 * classification. 'all' / 'none' are answered only when proven for every point of the box; anything
 * uncertain is 'some'. Numbers carry [lo, hi] plus a may-be-NaN flag; booleans carry can-be-true /
 * can-be-false. Loads from captured tensors use the tensor's value range over the index ranges
 * (exact range-min/max tables for 1-D tensors, the whole tensor's range otherwise).
 * The analysis is compiled to straight-line JS per mask, because block masks ask it a million times.
 */
import { OptionError } from './errors';
import type { LoadArg, Node, ScalarArg } from './node';
import { topoOrder } from './node';
import type { ArgName } from './ops';
import { CapturedTensor, type ModParam, rangeCacheInvalidators, type Scalar } from './params';
import { jsHelpers, jsLiteral } from './semantics';
import type { TracedMod } from './trace';

export interface Box {
  b: [number, number];
  h: [number, number];
  q: [number, number];
  kv: [number, number];
}
export type Coverage = 'all' | 'none' | 'some';
/** 0 = none, 1 = some, 2 = all: the numeric form used by block-mask builders. */
export type CoverageCode = 0 | 1 | 2;
/** (bLo, bHi, hLo, hHi, qLo, qHi, kvLo, kvHi) → CoverageCode; bounds inclusive. */
export type CompiledInterval = (...bounds: number[]) => CoverageCode;

/** Range-min/max over index intervals of a captured tensor. */
class TensorRanges {
  private tables: { min: Float64Array[]; max: Float64Array[]; nanPrefix: Int32Array } | undefined;
  constructor(private readonly t: CapturedTensor) {}

  /**
   * Drops the tables after the tensor's data changed. (Fix: invalidate() used to delete this object
   * from the cache, but compiled analyses keep a reference to it and went on reading stale tables.)
   */
  reset(): void {
    this.tables = undefined;
  }

  /**
   * [min, max] of t's non-NaN values over the clamped index box into out[0..1], and out[2] = 1 when
   * the box holds a NaN. (Fix: NaNs used to be dropped or to poison min/max into NaN, which made
   * comparisons on the load claim 'none'/'all' wrongly.) A box of NaNs only gives [+inf, -inf].
   */
  range(lo: readonly number[], hi: readonly number[], out: Float64Array): void {
    const t = this.t;
    const clo = lo.map((x, i) => Math.max(0, Math.min(t.shape[i]! - 1, x)));
    const chi = hi.map((x, i) => Math.max(0, Math.min(t.shape[i]! - 1, x)));
    if (t.shape.length === 1) return this.range1d(clo[0]!, chi[0]!, out);
    let volume = 1;
    for (let i = 0; i < clo.length; i++) volume *= chi[i]! - clo[i]! + 1;
    if (volume > 4096) {
      const [a, b] = t.valueRange();
      // valueRange() widens to ±inf when the data holds a NaN; flag it as maybe-NaN then.
      out[0] = a;
      out[1] = b;
      out[2] = a === -Infinity && b === Infinity ? 1 : 0;
      return;
    }
    let mn = Infinity;
    let mx = -Infinity;
    let sawNaN = 0;
    const idx = [...clo];
    for (;;) {
      const v = t.data[t.flatIndex(idx)]!;
      if (v !== v) sawNaN = 1;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
      let k = idx.length - 1;
      while (k >= 0 && idx[k] === chi[k]) idx[k] = clo[k--]!;
      if (k < 0) break;
      idx[k]!++;
    }
    out[0] = mn;
    out[1] = mx;
    out[2] = sawNaN;
  }

  /** Sparse tables: O(n log n) once, O(1) per query. */
  private range1d(lo: number, hi: number, out: Float64Array): void {
    if (!this.tables) {
      const n = this.t.data.length;
      // NaNs are left out of min/max (as +inf / -inf) and counted in a prefix sum instead.
      const nanPrefix = new Int32Array(n + 1);
      for (let i = 0; i < n; i++) nanPrefix[i + 1] = nanPrefix[i]! + (this.t.data[i]! !== this.t.data[i]! ? 1 : 0);
      const min = [Float64Array.from(this.t.data, (v) => (v !== v ? Infinity : v))];
      const max = [Float64Array.from(this.t.data, (v) => (v !== v ? -Infinity : v))];
      for (let k = 1; 1 << k <= n; k++) {
        const pm = min[k - 1]!;
        const px = max[k - 1]!;
        const len = n - (1 << k) + 1;
        const cm = new Float64Array(len);
        const cx = new Float64Array(len);
        const half = 1 << (k - 1);
        for (let i = 0; i < len; i++) {
          cm[i] = Math.min(pm[i]!, pm[i + half]!);
          cx[i] = Math.max(px[i]!, px[i + half]!);
        }
        min.push(cm);
        max.push(cx);
      }
      this.tables = { min, max, nanPrefix };
    }
    const k = 31 - Math.clz32(hi - lo + 1);
    const end = hi - (1 << k) + 1;
    out[0] = Math.min(this.tables.min[k]![lo]!, this.tables.min[k]![end]!);
    out[1] = Math.max(this.tables.max[k]![lo]!, this.tables.max[k]![end]!);
    out[2] = this.tables.nanPrefix[hi + 1]! - this.tables.nanPrefix[lo]! > 0 ? 1 : 0;
  }
}

const rangeCache = new WeakMap<CapturedTensor, TensorRanges>();
rangeCacheInvalidators.add((t) => rangeCache.get(t)?.reset());
const rangesOf = (t: CapturedTensor): TensorRanges => {
  let r = rangeCache.get(t);
  if (!r) rangeCache.set(t, (r = new TensorRanges(t)));
  return r;
};

/** Interval helpers for the generated code; results go to the scratch array R = [lo, hi, nan]. */
const I = {
  R: new Float64Array(3),
  set(lo: number, hi: number, nan: boolean): void {
    if (lo !== lo || hi !== hi) {
      I.R[0] = -Infinity; I.R[1] = Infinity; I.R[2] = 1;
    } else {
      I.R[0] = lo; I.R[1] = hi; I.R[2] = nan ? 1 : 0;
    }
  },
  hull4(a: number, b: number, c: number, d: number, nan: boolean): void {
    const anyNaN = a !== a || b !== b || c !== c || d !== d;
    if (anyNaN) return I.set(NaN, NaN, true);
    I.set(Math.min(a, b, c, d), Math.max(a, b, c, d), nan);
  },
  mul(al: number, ah: number, bl: number, bh: number, nan: boolean): void {
    I.hull4(al * bl, al * bh, ah * bl, ah * bh, nan);
  },
  div(al: number, ah: number, bl: number, bh: number, nan: boolean, int: boolean): void {
    if (bl <= 0 && bh >= 0) return int ? I.set(-2147483648, 2147483647, nan) : I.set(NaN, NaN, true);
    I.hull4(al / bl, al / bh, ah / bl, ah / bh, nan);
  },
  floordiv(al: number, ah: number, bl: number, bh: number, nan: boolean, int: boolean): void {
    I.div(al, ah, bl, bh, nan, int);
    if (I.R[2] === 0 || I.R[0] !== -Infinity) I.set(Math.floor(I.R[0]!), Math.floor(I.R[1]!), I.R[2] === 1);
    if (int && bl <= 0 && bh >= 0) I.set(Math.min(I.R[0]!, 0), Math.max(I.R[1]!, 0), nan);
  },
  mod(al: number, ah: number, bl: number, bh: number, nan: boolean, int: boolean): void {
    if (bl === bh && bl > 0 && Number.isFinite(al) && Number.isFinite(ah) && Math.floor(al / bl) === Math.floor(ah / bl)) {
      return int ? I.set(jsHelpers.imod(al, bl), jsHelpers.imod(ah, bl), nan) : I.set(jsHelpers.fmod(al, bl), jsHelpers.fmod(ah, bl), nan);
    }
    if (!int) return I.set(NaN, NaN, true); // Fix: float a − b·floor(a/b) rounds outside [0, b] (and is NaN for b = ±inf)
    if (bl > 0) return I.set(0, bh - 1, nan);
    if (bh < 0) return I.set(bl + 1, 0, nan);
    return I.set(Math.min(bl, 0), Math.max(bh, 0), nan);
  },
  pow(al: number, ah: number, bl: number, bh: number, nan: boolean): void {
    if (al === ah && bl === bh) {
      const v = jsHelpers.pow(al, bl);
      return I.set(v, v, nan || v !== v);
    }
    I.set(NaN, NaN, true);
  },
  abs(l: number, h: number, nan: boolean): void {
    if (l >= 0) return I.set(l, h, nan);
    if (h <= 0) return I.set(-h, -l, nan);
    I.set(0, Math.max(-l, h), nan);
  },
  /** A monotone (non-decreasing) float function; `domainLo` = smallest input without NaN. */
  mono(f: (x: number) => number, l: number, h: number, nan: boolean, domainLo: number): void {
    const bad = l < domainLo;
    const lo = bad ? -Infinity : f(l);
    const hi = h < domainLo ? -Infinity : f(h);
    I.set(lo, hi, nan || bad);
  },
  rsqrt(l: number, h: number, nan: boolean): void {
    if (h < 0) return I.set(NaN, NaN, true);
    // 1/sqrt(-0) is -inf: an interval starting at -0 reaches it (fix).
    const lo = Object.is(l, -0) || Object.is(h, -0) ? -Infinity : h === Infinity ? 0 : 1 / Math.sqrt(h);
    I.set(lo, l <= 0 ? Infinity : 1 / Math.sqrt(l), nan || l < 0);
  },
  load(t: TensorRanges, lo: number[], hi: number[]): void {
    t.range(lo, hi, I.R);
    if (I.R[0]! > I.R[1]!) return I.set(NaN, NaN, true); // only NaNs in the box
    I.set(I.R[0]!, I.R[1]!, I.R[2] === 1);
  },
  /**
   * i32 results wrap (| 0, Math.imul), so a bound outside the i32 range means the value may have
   * wrapped anywhere: widen to the whole range. (Fix: `q + 2147483647 < 0` was claimed 'none'.)
   */
  wrap(lo: number, hi: number, nan: boolean): void {
    if (lo < -2147483648 || hi > 2147483647) return I.set(-2147483648, 2147483647, nan);
    I.set(lo, hi, nan);
  },
  /**
   * sin/cos over [l, h]: the endpoints' values, widened to ±1 where an extremum (a multiple of π/2
   * for the right phase) lies inside. Math.sin/cos are not correctly rounded, so the bounds are
   * widened by a few ulps (and clamped to [−1, 1]) to stay sound.
   */
  trig(f: (x: number) => number, phase: number, l: number, h: number, nan: boolean): void {
    if (!Number.isFinite(l) || !Number.isFinite(h)) return I.set(-1, 1, true); // sin(±∞) is NaN
    // a full period, or magnitudes where consecutive extrema are not representable apart
    if (h - l >= 2 * Math.PI || Math.abs(l) > 1e6 || Math.abs(h) > 1e6) return I.set(-1, 1, nan);
    const a = f(l);
    const b = f(h);
    let lo = Math.min(a, b) - 4e-16;
    let hi = Math.max(a, b) + 4e-16;
    // extrema of sin at π/2 + kπ (cos: kπ): x = phase + kπ; check every k with x in [l, h]
    for (let k = Math.ceil((l - phase) / Math.PI - 1e-9); phase + k * Math.PI <= h + 1e-9; k++) {
      if (k % 2 === 0) hi = 1;
      else lo = -1;
    }
    I.set(Math.max(-1, lo), Math.min(1, hi), nan);
  },
  sin: Math.sin, cos: Math.cos,
  toint: jsHelpers.toint,
  erf: jsHelpers.erf, round: jsHelpers.round,
  sign: (x: number) => Math.sign(x),
  exp: Math.exp, exp2: (x: number) => Math.pow(2, x), log: Math.log, log2: Math.log2, tanh: Math.tanh,
  sigmoid: (x: number) => 1 / (1 + Math.exp(-x)), sqrt: Math.sqrt,
};

const MONO: Record<string, [string, number]> = {
  exp: ['exp', -Infinity], exp2: ['exp2', -Infinity], tanh: ['tanh', -Infinity], tanh_approx: ['tanh', -Infinity],
  sigmoid: ['sigmoid', -Infinity], sqrt: ['sqrt', 0], log: ['log', 0], log2: ['log2', 0],
  erf: ['erf', -Infinity],
};

/** Generates the straight-line interval code for a mask. */
function renderIntervalJs(root: Node, captures: readonly ModParam[]): string {
  const L: string[] = [];
  const id = new Map<Node, number>();
  const lo = (n: Node) => `l${id.get(n)}`;
  const hi = (n: Node) => `h${id.get(n)}`;
  const nan = (n: Node) => `n${id.get(n)}`;
  const T = (n: Node) => `t${id.get(n)}`; // can be true
  const F = (n: Node) => `f${id.get(n)}`; // can be false
  const fromR = (k: number) => `const l${k} = R[0], h${k} = R[1], n${k} = R[2] === 1;`;
  const ARG_INDEX: Record<string, number> = { b: 0, h: 2, q: 4, kv: 6 };
  for (const n of topoOrder([root])) {
    const k = id.size;
    id.set(n, k);
    const [a, b, c] = n.src;
    const int = n.dtype === 'i32';
    const num = (l: string, h: string, na: string) => L.push(`const l${k} = ${l}, h${k} = ${h}, n${k} = ${na};`);
    const bool = (t: string, f: string) => L.push(`const t${k} = ${t}, f${k} = ${f};`);
    const call = (fn: string, args: string) => L.push(`I.${fn}(${args}); ${fromR(k)}`);
    /** Like call, then wraps an i32 result into the i32 range (see I.wrap). */
    const callWrapped = (fn: string, args: string) => L.push(`I.${fn}(${args}); ${int ? 'I.wrap(R[0], R[1], R[2] === 1); ' : ''}${fromR(k)}`);
    const ab = () => `${lo(a!)}, ${hi(a!)}, ${lo(b!)}, ${hi(b!)}, ${nan(a!)} || ${nan(b!)}`;
    switch (n.op) {
      case 'const':
        if (n.dtype === 'bool') bool(String(n.arg === true), String(n.arg === false));
        // a NaN constant is the empty range plus NaN (like a table of NaNs): NaN bounds would make
        // every comparison on it look false, and 'all'/'none' claims wrong (fix)
        else if (Number.isNaN(n.arg)) num('Infinity', '-Infinity', 'true');
        else num(jsLiteral(n.arg as number), jsLiteral(n.arg as number), 'false');
        break;
      case 'arg': {
        const i = ARG_INDEX[n.arg as ArgName];
        if (i === undefined) throw new OptionError('maskInterval: a mask has no score argument');
        num(`x[${i}]`, `x[${i + 1}]`, 'false');
        break;
      }
      case 'scalar':
        L.push(`const l${k} = caps[${(n.arg as ScalarArg).slot}].value, h${k} = l${k}, n${k} = false;`);
        break;
      case 'load':
        call('load', `ranges[${(n.arg as LoadArg).slot}], [${n.src.map(lo).join(', ')}], [${n.src.map(hi).join(', ')}]`);
        break;
      case 'add': case 'sub': {
        // inf − inf is NaN: widen to everything, flagged.
        const [l, h] = n.op === 'add' ? [`${lo(a!)} + ${lo(b!)}`, `${hi(a!)} + ${hi(b!)}`] : [`${lo(a!)} - ${hi(b!)}`, `${hi(a!)} - ${lo(b!)}`];
        L.push(`let l${k} = ${l}, h${k} = ${h}, n${k} = ${nan(a!)} || ${nan(b!)};`);
        L.push(`if (l${k} !== l${k} || h${k} !== h${k}) { l${k} = -Infinity; h${k} = Infinity; n${k} = true; }`);
        if (int) L.push(`if (l${k} < -2147483648 || h${k} > 2147483647) { l${k} = -2147483648; h${k} = 2147483647; }`);
        break;
      }
      case 'mul': callWrapped('mul', ab()); break;
      case 'div': call('div', `${ab()}, false`); break;
      case 'floordiv': callWrapped('floordiv', `${ab()}, ${int}`); break;
      case 'mod': call('mod', `${ab()}, ${int}`); break;
      case 'pow': call('pow', ab()); break;
      case 'min': num(`Math.min(${lo(a!)}, ${lo(b!)})`, `Math.min(${hi(a!)}, ${hi(b!)})`, `${nan(a!)} || ${nan(b!)}`); break;
      case 'max': num(`Math.max(${lo(a!)}, ${lo(b!)})`, `Math.max(${hi(a!)}, ${hi(b!)})`, `${nan(a!)} || ${nan(b!)}`); break;
      case 'neg':
        if (int) call('wrap', `-${hi(a!)}, -${lo(a!)}, ${nan(a!)}`); // -(-2^31) wraps to -2^31
        else num(`-${hi(a!)}`, `-${lo(a!)}`, nan(a!));
        break;
      case 'abs': callWrapped('abs', `${lo(a!)}, ${hi(a!)}, ${nan(a!)}`); break;
      case 'floor': case 'ceil': num(`Math.${n.op}(${lo(a!)})`, `Math.${n.op}(${hi(a!)})`, nan(a!)); break;
      // monotone (non-decreasing) and total: the endpoints bound them (round is identity on i32)
      case 'round': num(int ? lo(a!) : `I.round(${lo(a!)})`, int ? hi(a!) : `I.round(${hi(a!)})`, nan(a!)); break;
      case 'sign': num(`I.sign(${lo(a!)})`, `I.sign(${hi(a!)})`, nan(a!)); break;
      // sin peaks at π/2 + 2kπ (phase π/2), cos at 2kπ (phase 0)
      case 'sin': call('trig', `I.sin, ${Math.PI / 2}, ${lo(a!)}, ${hi(a!)}, ${nan(a!)}`); break;
      case 'cos': call('trig', `I.cos, 0, ${lo(a!)}, ${hi(a!)}, ${nan(a!)}`); break;
      case 'rsqrt': call('rsqrt', `${lo(a!)}, ${hi(a!)}, ${nan(a!)}`); break;
      case 'exp': case 'exp2': case 'log': case 'log2': case 'tanh': case 'tanh_approx': case 'sigmoid': case 'sqrt': case 'erf': {
        const [fn, domainLo] = MONO[n.op]!;
        call('mono', `I.${fn}, ${lo(a!)}, ${hi(a!)}, ${nan(a!)}, ${jsLiteral(domainLo)}`);
        break;
      }
      case 'tofloat':
        if (a!.dtype === 'bool') num(`${F(a!)} ? 0 : 1`, `${T(a!)} ? 1 : 0`, 'false');
        else num(lo(a!), hi(a!), nan(a!));
        break;
      case 'toint':
        if (a!.dtype === 'bool') num(`${F(a!)} ? 0 : 1`, `${T(a!)} ? 1 : 0`, 'false');
        else num(`${nan(a!)} ? Math.min(0, I.toint(${lo(a!)})) : I.toint(${lo(a!)})`, `${nan(a!)} ? Math.max(0, I.toint(${hi(a!)})) : I.toint(${hi(a!)})`, 'false');
        break;
      case 'lt': bool(`${lo(a!)} < ${hi(b!)}`, `${hi(a!)} >= ${lo(b!)} || ${nan(a!)} || ${nan(b!)}`); break;
      case 'le': bool(`${lo(a!)} <= ${hi(b!)}`, `${hi(a!)} > ${lo(b!)} || ${nan(a!)} || ${nan(b!)}`); break;
      case 'gt': bool(`${hi(a!)} > ${lo(b!)}`, `${lo(a!)} <= ${hi(b!)} || ${nan(a!)} || ${nan(b!)}`); break;
      case 'ge': bool(`${hi(a!)} >= ${lo(b!)}`, `${lo(a!)} < ${hi(b!)} || ${nan(a!)} || ${nan(b!)}`); break;
      case 'eq': case 'ne': {
        let t: string;
        let f: string;
        if (a!.dtype === 'bool') {
          t = `(${T(a!)} && ${T(b!)}) || (${F(a!)} && ${F(b!)})`;
          f = `(${T(a!)} && ${F(b!)}) || (${F(a!)} && ${T(b!)})`;
        } else {
          t = `${lo(a!)} <= ${hi(b!)} && ${lo(b!)} <= ${hi(a!)}`;
          f = `!(${lo(a!)} === ${hi(a!)} && ${lo(b!)} === ${hi(b!)} && ${lo(a!)} === ${lo(b!)}) || ${nan(a!)} || ${nan(b!)}`;
        }
        if (n.op === 'eq') bool(t, f);
        else bool(f, t);
        break;
      }
      case 'and': bool(`${T(a!)} && ${T(b!)}`, `${F(a!)} || ${F(b!)}`); break;
      case 'or': bool(`${T(a!)} || ${T(b!)}`, `${F(a!)} && ${F(b!)}`); break;
      case 'not': bool(F(a!), T(a!)); break;
      case 'where':
        if (n.dtype === 'bool') {
          bool(`(${T(a!)} && ${T(b!)}) || (${F(a!)} && ${T(c!)})`, `(${T(a!)} && ${F(b!)}) || (${F(a!)} && ${F(c!)})`);
        } else {
          L.push(`let l${k}, h${k}, n${k};`);
          L.push(`if (!${F(a!)}) { l${k} = ${lo(b!)}; h${k} = ${hi(b!)}; n${k} = ${nan(b!)}; }`);
          L.push(`else if (!${T(a!)}) { l${k} = ${lo(c!)}; h${k} = ${hi(c!)}; n${k} = ${nan(c!)}; }`);
          L.push(`else { l${k} = Math.min(${lo(b!)}, ${lo(c!)}); h${k} = Math.max(${hi(b!)}, ${hi(c!)}); n${k} = ${nan(b!)} || ${nan(c!)}; }`);
        }
        break;
    }
  }
  void captures;
  const r = id.get(root)!;
  // Fix: this returned 1 ('some') for "never true", so 'none' was never proven.
  L.push(`return t${r} ? (f${r} ? 1 : 2) : 0;`);
  return L.join('\n');
}

const compiledIntervals = new WeakMap<TracedMod, CompiledInterval>();

/** The interval analysis of `mask` compiled to a function of the box bounds (cached per mod). */
export function compileMaskInterval(mask: TracedMod): CompiledInterval {
  if (mask.kind !== 'mask') throw new OptionError(`maskInterval needs a mask mod, got the score mod "${mask.name}"`);
  let fn = compiledIntervals.get(mask);
  if (!fn) {
    const ranges = mask.captures.map((c) => (c instanceof CapturedTensor ? rangesOf(c) : undefined));
    const body = renderIntervalJs(mask.root, mask.captures);
    const make = new Function('I', 'R', 'ranges', 'caps', `"use strict";\nreturn function maskInterval(...x) {\n${body}\n};`);
    fn = make(I, I.R, ranges, mask.captures as (CapturedTensor | Scalar)[]) as CompiledInterval;
    compiledIntervals.set(mask, fn);
  }
  return fn;
}

/** Sound classification of a mask over a box (inclusive bounds): 'all'/'none' only when proven. */
export function maskInterval(mask: TracedMod, box: Box): Coverage {
  for (const k of ['b', 'h', 'q', 'kv'] as const) {
    const [l, h] = box[k];
    if (!(l <= h)) throw new OptionError(`maskInterval: box.${k} = [${l}, ${h}] is empty; bounds are inclusive [lo, hi]`);
  }
  const code = compileMaskInterval(mask)(box.b[0], box.b[1], box.h[0], box.h[1], box.q[0], box.q[1], box.kv[0], box.kv[1]);
  return code === 2 ? 'all' : code === 0 ? 'none' : 'some';
}

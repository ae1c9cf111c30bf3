/**
 * Ways to break a valid call, for the fuzz suite's invalid-input property: each corruption turns a
 * valid forward or backward call into one the API must reject with a typed error (a FlexAttnError
 * subclass naming the argument) — never a raw TypeError, a hang or a result. Every corruption is
 * invalid for every problem it is applied to (shapes stay consistent where only one thing is wrong).
 */
import { TableBlockMask } from '../block-mask';
import type { FlexAttentionOptions } from '../kernel';
import type { Tensor } from '../tensor';
import { traceMaskMod, traceScoreMod } from '../trace';
import type { Problem, ProblemSpec } from './fuzz-problems';
import { randomTensor } from './random';

export type TensorArg = 'q' | 'k' | 'v' | 'out' | 'lse' | 'dOut' | 'dLse';

/** A call as data: the arguments of flexAttention or flexAttentionBackward, any of them corrupted. */
export interface Call {
  pass: 'forward' | 'backward';
  tensors: Partial<Record<TensorArg, unknown>>;
  options: unknown;
}

export interface Corruption {
  name: string;
  /** Applies to this pass only (both when absent). */
  pass?: Call['pass'];
  /** Changes `call` in place; `pick` chooses among variants. */
  apply(call: Call, spec: ProblemSpec, pick: number): void;
}

/** The valid call of a problem; backward gets out/lse/dOut of the right shapes (their values do not matter here). */
export function validCall(p: Problem, spec: ProblemSpec, pass: Call['pass']): Call {
  const tensors: Call['tensors'] = { q: p.q, k: p.k, v: p.v };
  if (pass === 'backward') {
    tensors.out = randomTensor([spec.B, spec.Hq, spec.Lq, spec.Ev], spec.dtype, spec.seed + 7);
    tensors.lse = randomTensor([spec.B, spec.Hq, spec.Lq], 'f32', spec.seed + 8);
    tensors.dOut = p.dOut;
  }
  return { pass, tensors, options: { ...p.options } };
}

const choose = <T>(list: readonly T[], pick: number): T => list[pick % list.length]!;
const forwardArgs: readonly TensorArg[] = ['q', 'k', 'v'];
const anyArg = (call: Call, pick: number): TensorArg => choose(call.pass === 'forward' ? forwardArgs : [...forwardArgs, 'out', 'lse', 'dOut'], pick);
const tensorOf = (call: Call, arg: TensorArg) => call.tensors[arg] as Tensor;
/** The options as a loose record: corruptions store values of any type in them. */
const opts = (call: Call) => call.options as Record<string, unknown> & { blockMask?: FlexAttentionOptions['blockMask'] };
const BAD_DIMS: readonly unknown[] = [0, -1, 1.5, NaN, Infinity, '4', 2 ** 40, undefined];

/** A tensor of the same dtype with a new shape and matching data: only the shape relation is wrong. */
const reshaped = (t: Tensor, shape: number[], seed: number): Tensor => randomTensor(shape, t.dtype, seed);

/** The mask with one table altered (a fresh object: masks are validated once per object). */
function withTable(options: { blockMask?: FlexAttentionOptions['blockMask'] }, name: 'kvNumBlocks' | 'kvIndices' | 'fullQNumBlocks', edit: (t: Int32Array, kvBlocks: number) => Int32Array): TableBlockMask {
  const m = options.blockMask!;
  const tables = { ...m, [name]: edit(m[name].slice(), m.kvBlocks) };
  return new TableBlockMask(tables, { B: m.B, H: m.H, qLen: m.seqLengths[0], kvLen: m.seqLengths[1], blockSize: m.blockSize }, m.maskMod);
}

export const CORRUPTIONS: readonly Corruption[] = [
  {
    name: 'a tensor argument that is not a tensor',
    apply: (call, _s, pick) => {
      call.tensors[anyArg(call, pick)] = choose([undefined, null, 7, 'q', {}, [1, 2, 3]], pick >> 3);
    },
  },
  {
    name: 'a shape that is not an array of positive integers',
    apply: (call, _s, pick) => {
      const arg = anyArg(call, pick);
      const t = tensorOf(call, arg);
      const shape: unknown[] = [...t.shape];
      shape[(pick >> 3) % shape.length] = choose(BAD_DIMS, pick >> 5);
      call.tensors[arg] = { ...t, shape: choose([shape, 'abc', undefined], pick >> 9) };
    },
  },
  {
    name: 'a shape of the wrong rank',
    apply: (call, _s, pick) => {
      const arg = anyArg(call, pick);
      const t = tensorOf(call, arg);
      call.tensors[arg] = { ...t, shape: pick & 8 ? [...t.shape, 1] : t.shape.slice(1) };
    },
  },
  {
    name: 'data shorter or longer than the shape',
    apply: (call, _s, pick) => {
      const arg = anyArg(call, pick);
      const t = tensorOf(call, arg);
      const n = t.data.length + (pick & 8 ? 1 : -1);
      const data = t.data instanceof Float32Array ? new Float32Array(n) : new Uint16Array(n);
      call.tensors[arg] = { ...t, data };
    },
  },
  {
    name: 'data of the wrong array type (or missing)',
    apply: (call, _s, pick) => {
      const arg = anyArg(call, pick);
      const t = tensorOf(call, arg);
      const n = t.data.length;
      const wrong: unknown[] = t.dtype === 'f32' ? [new Float64Array(n), new Uint16Array(n), Array.from(t.data), new Int32Array(n), undefined] : [new Float64Array(n), new Float32Array(n), Array.from(t.data), new Int16Array(n), undefined];
      call.tensors[arg] = { ...t, data: choose(wrong, pick >> 3) };
    },
  },
  {
    name: 'an unknown dtype',
    apply: (call, _s, pick) => {
      const arg = anyArg(call, pick);
      call.tensors[arg] = { ...tensorOf(call, arg), dtype: choose(['f64', 'F32', undefined, 5, 'int8'], pick >> 3) };
    },
  },
  {
    name: 'q, k and v that do not fit together',
    apply: (call, s, pick) => {
      const [k, v] = [tensorOf(call, 'k'), tensorOf(call, 'v')];
      switch (pick % 4) {
        case 0: call.tensors.k = reshaped(k, [s.kvBatch, s.Hkv, s.Lkv, s.E + 1], s.seed); break;
        case 1: call.tensors.v = reshaped(v, [s.kvBatch, s.Hkv, s.Lkv + 1, s.Ev], s.seed); break;
        case 2:
          // a K/V batch that is neither q's nor 1
          call.tensors.k = reshaped(k, [s.B + 1, s.Hkv, s.Lkv, s.E], s.seed);
          call.tensors.v = reshaped(v, [s.B + 1, s.Hkv, s.Lkv, s.Ev], s.seed);
          break;
        default:
          // more query heads than kv heads: without enableGqa, or not a multiple of them
          call.tensors.q = reshaped(tensorOf(call, 'q'), [s.B, s.Hkv + 1, s.Lq, s.E], s.seed);
          opts(call).enableGqa = (pick & 4) !== 0 && s.Hkv > 1;
      }
    },
  },
  {
    name: 'q, k and v of different dtypes',
    apply: (call, s) => {
      const dtype = s.dtype === 'f32' ? 'bf16' : 'f32';
      call.tensors.k = randomTensor([s.kvBatch, s.Hkv, s.Lkv, s.E], dtype, s.seed);
    },
  },
  {
    name: 'backward inputs of the wrong shape or dtype',
    pass: 'backward',
    apply: (call, s, pick) => {
      const rows = [s.B, s.Hq, s.Lq];
      switch (pick % 6) {
        case 0: call.tensors.lse = randomTensor([s.B, s.Hq, s.Lq + 1], 'f32', s.seed); break;
        case 1: call.tensors.lse = randomTensor(rows, 'f16', s.seed); break;
        case 2: call.tensors.out = randomTensor([...rows, s.Ev + 1], s.dtype, s.seed); break;
        case 3: call.tensors.dOut = randomTensor([s.B, s.Hq, s.Lq + 1, s.Ev], s.dtype, s.seed); break;
        case 4: call.tensors.dOut = randomTensor([...rows, s.Ev], s.dtype === 'f32' ? 'f16' : 'f32', s.seed); break;
        default: opts(call).dLse = randomTensor([s.B, s.Hq, s.Lq + 1], 'f32', s.seed);
      }
    },
  },
  {
    name: 'options that are not an object',
    apply: (call, _s, pick) => {
      call.options = choose([null, 5, 'causal', true], pick);
    },
  },
  {
    name: 'a scale that is not a finite number',
    apply: (call, _s, pick) => {
      opts(call).scale = choose([NaN, Infinity, -Infinity, '0.5', {}], pick);
    },
  },
  {
    name: 'a score mod that is not one',
    apply: (call, _s, pick) => {
      const variants: (() => unknown)[] = [
        () => 'softcap',
        () => 5,
        () => ({}),
        () => traceMaskMod((_b, _h, q, kv) => q.ge(kv)),
        () => (s: { gt(x: number): unknown }) => s.gt(0),
        () => (s: unknown) => (s as number) + 1,
        () => (s: unknown, _b: unknown, _h: unknown, _q: unknown, _kv: unknown, extra: unknown) => extra ?? s,
      ];
      opts(call).scoreMod = choose(variants, pick)();
    },
  },
  {
    name: 'a block mask that is not one',
    apply: (call, s, pick) => {
      const variants: (() => unknown)[] = [
        () => (_b: unknown, _h: unknown, q: { ge(x: unknown): unknown }, kv: unknown) => q.ge(kv),
        () => ({}),
        () => ({ data: new Float32Array(s.Lq * s.Lkv), shape: [s.Lq, s.Lkv], dtype: 'f32' }),
        () => 5,
        () => {
          const m = traceMaskMod((_b, _h, q, kv) => q.ge(kv));
          return TableBlockMask.fromDense(new Uint8Array(1).fill(2), { B: 1, H: 1, qLen: s.Lq + 1, kvLen: s.Lkv, blockSize: [s.Lq + 1, s.Lkv] }, m);
        },
        () => ({ ...(opts(call).blockMask ?? {}), maskMod: traceScoreMod((x) => x), seqLengths: [s.Lq, s.Lkv] }),
      ];
      (call.options as Record<string, unknown>).blockMask = choose(variants, pick)();
    },
  },
  {
    name: 'a block mask with corrupt tables',
    apply: (call, s, pick) => {
      const o = opts(call);
      if (!o.blockMask) o.blockMask = TableBlockMask.fromDense(new Uint8Array(1).fill(1), { B: 1, H: 1, qLen: s.Lq, kvLen: s.Lkv, blockSize: [s.Lq, s.Lkv] }, traceMaskMod(() => true));
      switch (pick % 4) {
        case 0: o.blockMask = withTable(o, 'kvNumBlocks', (t, kvBlocks) => t.fill(kvBlocks + 1, 0, 1)); break;
        case 1: o.blockMask = withTable(o, 'kvNumBlocks', (t) => t.slice(1)); break;
        case 2: o.blockMask = withTable(o, 'kvIndices', (t) => t.fill(-1)); break; // out of range where a count is > 0, else a mismatch below
        default: o.blockMask = withTable(o, 'fullQNumBlocks', (t) => t.map((x) => x + 1));
      }
      if (pick % 4 === 2 && o.blockMask.kvNumBlocks.every((n) => n === 0)) o.blockMask = withTable(o, 'kvNumBlocks', (t) => t.fill(1, 0, 1));
    },
  },
];

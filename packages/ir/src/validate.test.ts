/**
 * The shared validator at the API boundary: every bad tensor, backward input and block mask is a
 * typed error naming the argument (and a fix), on the reference here and through resolveAttention
 * on every backend; device tensors are checked through a backend's DeviceTensors.
 */
import { describe, expect, it } from 'vitest';
import { TableBlockMask, blockMaskByEvaluation } from './block-mask';
import { BackendDisposedError, FlexAttnError, OptionError, ShapeError } from './errors';
import { resolveAttention } from './kernel';
import { createReferenceBackend } from './reference/backend';
import { randomTensor } from './testing/random';
import type { Tensor } from './tensor';
import { traceMaskMod } from './trace';
import { checkTensor, type DeviceTensors } from './validate';

const q = randomTensor([1, 2, 6, 8], 'f32', 1);
const k = randomTensor([1, 2, 5, 8], 'f32', 2);
const v = randomTensor([1, 2, 5, 4], 'f32', 3);
const dOut = randomTensor([1, 2, 6, 4], 'f32', 4);

/** What a call rejected with (failing the test when it resolves). */
async function rejection(call: () => Promise<unknown>): Promise<Error> {
  try {
    await call();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to reject, it resolved');
}
async function expectTyped(call: () => Promise<unknown>, cls: new (...a: never[]) => Error, ...messages: RegExp[]) {
  const e = await rejection(call);
  expect(e).toBeInstanceOf(cls);
  for (const m of messages) expect(e.message).toMatch(m);
}

describe('host tensors on the reference', () => {
  const ref = createReferenceBackend();

  it('f16/bf16 need a Uint16Array of bit patterns: a Float64Array, a plain array or an Int16Array is an error', async () => {
    for (const data of [new Float64Array(96), Array.from({ length: 96 }, () => 0.5), new Int16Array(96)]) {
      for (const dtype of ['f16', 'bf16'] as const) {
        const bad = { data, shape: [1, 2, 6, 8], dtype } as unknown as Tensor;
        await expectTyped(() => ref.flexAttention(bad, { ...k, dtype, data: new Uint16Array(80) }, { ...v, dtype, data: new Uint16Array(40) }), OptionError, /^q: dtype '(f16|bf16)' needs a Uint16Array/, /fromFloats/);
      }
    }
    await expectTyped(() => ref.flexAttention(q, { ...k, data: new Float64Array(80) } as unknown as Tensor, v), OptionError, /^k: dtype 'f32' needs a Float32Array, got a Float64Array/);
  });

  it('data shorter or longer than the shape, and a tensor without data', async () => {
    await expectTyped(() => ref.flexAttention(q, { ...k, data: new Float32Array(79) }, v), ShapeError, /k has 79 elements but shape \[1, 2, 5, 8\] needs 80/);
    await expectTyped(() => ref.flexAttention(q, k, { ...v, data: new Float32Array(41) }), ShapeError, /^v has 41 elements/);
    await expectTyped(() => ref.flexAttention({ shape: q.shape, dtype: 'f32' } as Tensor, k, v), ShapeError, /q has no data/, /fromFloats/);
  });

  it('dims must be finite positive integers; tensors must be objects with a shape array', async () => {
    for (const dim of [NaN, Infinity, 1.5, 0, -2, '6']) {
      await expectTyped(() => ref.flexAttention({ ...q, shape: [1, 2, dim as number, 8] }, k, v), ShapeError, /^q has shape .*every dimension must be a positive integer/);
    }
    await expectTyped(() => ref.flexAttention(q, undefined as unknown as Tensor, v), ShapeError, /^k must be a tensor/);
    await expectTyped(() => ref.flexAttention(q, k, null as unknown as Tensor), ShapeError, /^v must be a tensor.*got null/);
    await expectTyped(() => ref.flexAttention({ ...q, shape: 'abc' as never }, k, v), ShapeError, /q needs a shape array/);
    await expectTyped(() => ref.flexAttention(q, k, v, null as never), OptionError, /options must be an object/);
  });

  it('backward inputs against the forward: out, dOut, lse and dLse shapes, dtypes and lengths', async () => {
    const f = await ref.flexAttention(q, k, v, { returnLse: true });
    const lse = f.lse!;
    const bwd = (o: Tensor, l: Tensor, d: Tensor, extra = {}) => ref.flexAttentionBackward(q, k, v, o, l, d, extra);
    await expectTyped(() => bwd(f.out, lse, { ...dOut, data: dOut.data.slice(1) }), ShapeError, /^dOut has 47 elements/);
    await expectTyped(() => bwd(f.out, { ...lse, data: lse.data.slice(2) }, dOut), ShapeError, /^lse has 10 elements/);
    await expectTyped(() => bwd(f.out, { ...lse, shape: [1, 2, 5] }, dOut), ShapeError, /^lse must be \[1, 2, 6\] \(run the forward with returnLse: true\)/);
    await expectTyped(() => bwd(randomTensor([1, 2, 6, 5], 'f32', 9), lse, dOut), ShapeError, /^out must be \[1, 2, 6, 4\]/);
    await expectTyped(() => bwd(f.out, randomTensor([1, 2, 6], 'bf16', 9), dOut), OptionError, /^lse must be f32/);
    await expectTyped(() => bwd(f.out, { ...lse, data: new Float64Array(12) } as unknown as Tensor, dOut), OptionError, /^lse: dtype 'f32' needs a Float32Array/);
    await expectTyped(() => bwd(f.out, lse, dOut, { dLse: randomTensor([1, 2, 7], 'f32', 9) }), ShapeError, /^dLse must be \[1, 2, 6\]/);
    await expectTyped(() => bwd(f.out, lse, randomTensor([1, 2, 6, 4], 'f16', 9)), OptionError, /^dOut must be f32/);
  });

  it('a call after dispose() throws BackendDisposedError', async () => {
    const b = createReferenceBackend();
    b.dispose();
    await expectTyped(() => b.flexAttention(q, k, v), BackendDisposedError, /create a new one with createReferenceBackend\(\)/);
    await expectTyped(() => b.flexAttentionBackward(q, k, v, dOut, dOut, dOut), BackendDisposedError);
    expect(() => b.forward64(q, k, v)).toThrow(BackendDisposedError);
  });
});

describe('block masks', () => {
  const ref = createReferenceBackend();
  const causal = () => blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(kv)), { qLen: 6, kvLen: 5, blockSize: 2 });
  /** The causal mask with one table edited (a fresh object). */
  const edited = (name: 'kvNumBlocks' | 'kvIndices' | 'fullKvIndices' | 'qNumBlocks', edit: (t: Int32Array) => Int32Array) => {
    const m = causal();
    return new TableBlockMask({ ...m, [name]: edit(m[name].slice()) }, { B: 1, H: 1, qLen: 6, kvLen: 5, blockSize: [2, 2] }, m.maskMod);
  };

  it('a mask mod function, a tensor or another object is not a block mask', async () => {
    const fn = (_b: unknown, _h: unknown, qi: { ge(x: unknown): unknown }, kv: unknown) => qi.ge(kv);
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: fn as never }), OptionError, /blockMask is a function/, /createBlockMask\(maskMod, \{ qLen: 6, kvLen: 5 \}\)/);
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: { data: new Float32Array(30), shape: [6, 5], dtype: 'f32' } as never }), OptionError, /not a tensor/);
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: {} as never }), OptionError, /must be a BlockMask/);
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: { ...causal(), seqLengths: [6, 'x'] } as never }), OptionError, /seqLengths must be two positive integers/);
  });

  it('tables that do not fit the mask: counts and indices out of range, duplicates, wrong lengths, transposes that disagree', async () => {
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: edited('kvNumBlocks', (t) => t.fill(4, 0, 1)) }), ShapeError, /kvIndices: count 4 at 0 is outside \[0, 3\]/);
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: edited('kvIndices', (t) => t.fill(7)) }), ShapeError, /block index 7 is outside \[0, 3\)/);
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: edited('kvNumBlocks', (t) => t.slice(1)) }), ShapeError, /kvNumBlocks has 2 entries; its shape needs 3/);
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: edited('qNumBlocks', (t) => t.fill(0)) }), ShapeError, /q-major tables \(backward\) disagree/);
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: edited('fullKvIndices', (t) => t.fill(0)) }), ShapeError, /listed twice|disagree/);
    await expect(ref.flexAttention(q, k, v, { blockMask: causal() })).resolves.toBeDefined();
  });

  it('a mask of one plane shared by every batch or head whose mod reads b or h: refused before any work, naming B / H', async () => {
    // classified at b = 0 / h = 0: blocks full there are not full for the other batch / head
    const perHead = traceMaskMod((_b, h, qi, kv) => kv.le(qi.sub(h.mul(2))));
    const sharedHeads = blockMaskByEvaluation(perHead, { qLen: 6, kvLen: 5, blockSize: 2 });
    await expectTyped(() => ref.flexAttention(q, k, v, { blockMask: sharedHeads }), ShapeError, /H=1 \(one plane shared by all 2 query heads\) but its mask mod reads h/, /createBlockMask\(maskMod, \{ H: 2/);
    await expect(ref.flexAttention(q, k, v, { blockMask: blockMaskByEvaluation(perHead, { H: 2, qLen: 6, kvLen: 5, blockSize: 2 }) })).resolves.toBeDefined();
    const perBatch = traceMaskMod((b, _h, qi, kv) => kv.le(qi.add(b)));
    const q2 = randomTensor([2, 2, 6, 8], 'f32', 5);
    const [k2, v2] = [randomTensor([2, 2, 5, 8], 'f32', 6), randomTensor([2, 2, 5, 4], 'f32', 7)];
    await expectTyped(() => ref.flexAttention(q2, k2, v2, { blockMask: blockMaskByEvaluation(perBatch, { qLen: 6, kvLen: 5, blockSize: 2 }) }), ShapeError, /B=1 .* reads b: its blocks were classified for b = 0 only/, /\{ B: 2/);
    // one batch, one head: nothing is shared, nothing to refuse
    await expect(ref.flexAttention(randomTensor([1, 1, 6, 8], 'f32', 8), randomTensor([1, 1, 5, 8], 'f32', 9), randomTensor([1, 1, 5, 4], 'f32', 10), { blockMask: sharedHeads })).resolves.toBeDefined();
  });
});

describe('device tensors through a backend\'s DeviceTensors', () => {
  interface Fake { buffer: { size: number; destroyed: boolean; device: string }; shape: number[]; dtype: 'f32' }
  const devices: DeviceTensors = {
    backend: 'fake',
    device: 'gpu0',
    isDeviceTensor: (t) => 'buffer' in t,
    describe: (t) => ({ byteLength: (t as Fake).buffer.size, released: (t as Fake).buffer.destroyed, device: (t as Fake).buffer.device }),
    elementBytes: () => 4,
  };
  const gpu = (shape: number[], size = shape.reduce((a, b) => a * b, 1) * 4, over: Partial<Fake['buffer']> = {}): Fake => ({ buffer: { size, destroyed: false, device: 'gpu0', ...over }, shape, dtype: 'f32' });

  it('a shape larger than its buffer, a released tensor, a tensor of another device: typed errors', () => {
    expect(() => checkTensor('q', gpu([1, 2, 6, 8], 100), '[B, Hq, Lq, E]', devices)).toThrow(/q has shape \[1, 2, 6, 8\] \(384 bytes of f32\) but its device storage holds 100 bytes/);
    expect(() => checkTensor('k', gpu([1, 2, 5, 8], undefined, { destroyed: true }), '[B, Hkv, Lkv, E]', devices)).toThrow(/k was released/);
    expect(() => checkTensor('v', gpu([1, 2, 5, 4], undefined, { device: 'gpu1' }), '[B, Hkv, Lkv, Ev]', devices)).toThrow(/v lives on another device than this fake backend's/);
    for (const bad of [gpu([1, 2, 6, 8], 100), gpu([1, 2, 6, 8], undefined, { destroyed: true })]) {
      expect(() => resolveAttention(bad, k, v, {}, Infinity, { tensors: devices })).toThrow(FlexAttnError);
    }
    expect(resolveAttention(gpu([1, 2, 6, 8]), gpu([1, 2, 5, 8]), gpu([1, 2, 5, 4]), {}, Infinity, { tensors: devices }).Lkv).toBe(5);
  });

  it('host tensors still need their data under a device policy; with no policy (a backend not yet plugged in) data-less tensors pass', () => {
    expect(() => resolveAttention({ shape: [1, 2, 6, 8], dtype: 'f32' }, k, v, {}, Infinity, { tensors: devices })).toThrow(/q has no data/);
    expect(() => resolveAttention({ shape: [1, 2, 6, 8], dtype: 'f32' }, k, v, {}, Infinity, { tensors: 'host' })).toThrow(/q has no data/);
    expect(resolveAttention({ shape: [1, 2, 6, 8], dtype: 'f32' }, k, v).Lq).toBe(6);
    // …but data that is there is checked whatever the policy
    expect(() => resolveAttention({ ...q, dtype: 'bf16', data: new Float64Array(96) } as never, { ...k, dtype: 'bf16' }, { ...v, dtype: 'bf16' })).toThrow(OptionError);
  });
});

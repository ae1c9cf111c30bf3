import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CapturedTensor, capture, type ModParam, scalar } from '../params';
import { packParamBlock, packScalarBlock, paramBlock, scalarBlock, tensorBindings } from './param-layout';

/** Random parameter lists: tensors of rank 1–3 (f32/i32, some learnable) and scalars. */
const params = fc.array(
  fc.oneof(
    fc.record({ dims: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), f32: fc.boolean(), grad: fc.boolean() }).map(({ dims, f32, grad }): ModParam => {
      const n = dims.reduce((a, b) => a * b, 1);
      return f32 ? capture(new Float32Array(n), dims, { requiresGrad: grad }) : capture(new Int32Array(n), dims);
    }),
    fc.record({ v: fc.integer({ min: -1000, max: 1000 }), f32: fc.boolean() }).map(({ v, f32 }): ModParam => scalar(f32 ? v / 8 : v, { dtype: f32 ? 'f32' : 'i32' })),
  ),
  { maxLength: 6 },
);

describe('paramBlock', () => {
  it('addresses first (8 bytes), then 4-byte words in pairs; a field for every tensor, dim and scalar', () => {
    fc.assert(
      fc.property(params, fc.boolean(), (caps, withGrads) => {
        const b = paramBlock('score', caps, withGrads);
        expect(b.size % 8).toBe(0);
        let end = 0;
        let words = false;
        for (const f of b.fields) {
          expect(f.offset).toBe(end);
          if (f.bytes === 8) expect(words).toBe(false);
          else words = true;
          end += f.bytes;
        }
        expect(end).toBe(b.size);
        expect(new Set(b.fields.map((f) => f.name)).size).toBe(b.fields.length);
        caps.forEach((c, slot) => {
          const mine = b.fields.filter((f) => f.slot === slot);
          if (c instanceof CapturedTensor) {
            expect(mine.filter((f) => f.role === 'dim').map((f) => f.dim)).toEqual(c.shape.map((_, i) => i));
            expect(mine.some((f) => f.role === 'grad')).toBe(withGrads && c.requiresGrad);
          } else expect(mine.map((f) => [f.role, f.dtype])).toEqual([['scalar', c.dtype]]);
        });
      }),
    );
  });

  it('an empty mod still has an 8-byte block', () => {
    expect(paramBlock('mask', [], false)).toEqual({
      owner: 'mask',
      size: 8,
      fields: [
        { name: 'unused', role: 'pad', dtype: 'i32', slot: -1, dim: 0, offset: 0, bytes: 4 },
        { name: 'pad', role: 'pad', dtype: 'i32', slot: -1, dim: 0, offset: 4, bytes: 4 },
      ],
    });
  });

  it('packs addresses, dims and current scalar values at their offsets', () => {
    const t = capture(new Float32Array(6), [2, 3], { requiresGrad: true });
    const k = scalar(-7, { dtype: 'i32' });
    const x = scalar(0.5);
    const caps = [t, k, x];
    const block = paramBlock('score', caps, true);
    k.value = 11;
    const view = new DataView(packParamBlock(block, caps, { tensor: (s) => BigInt(0x1000 + s), grad: (s) => BigInt(0x2000 + s) }));
    const at = (name: string) => block.fields.find((f) => f.name === name)!.offset;
    expect(view.getBigUint64(at('t0'), true)).toBe(0x1000n);
    expect(view.getBigUint64(at('g0'), true)).toBe(0x2000n);
    expect([view.getInt32(at('t0_d0'), true), view.getInt32(at('t0_d1'), true)]).toEqual([2, 3]);
    expect(view.getInt32(at('s1'), true)).toBe(11);
    expect(view.getFloat32(at('s2'), true)).toBe(0.5);
    // no gradient buffer (a forward pass): a null address
    const fwd = new DataView(packParamBlock(block, caps, { tensor: () => 1n, grad: () => null }));
    expect(fwd.getBigUint64(at('g0'), true)).toBe(0n);
  });
});

describe('bindings and the scalar block', () => {
  it('name both mods apart, score first, and pack the values as 4-byte words (16-byte multiple)', () => {
    const s = [capture(new Float32Array(2), [2], { requiresGrad: true }), scalar(1.5)];
    const m = [scalar(3, { dtype: 'i32' }), capture(new Int32Array(4), [4]), scalar(-2, { dtype: 'i32' })];
    expect(tensorBindings(s, m, true).map((t) => [t.name, t.grad])).toEqual([['s0', true], ['m1', false]]);
    expect(tensorBindings(s, m, false).map((t) => t.grad)).toEqual([false, false]);
    const block = scalarBlock(s, m);
    expect(block.fields.map((f) => [f.name, f.offset])).toEqual([['s1', 0], ['m0', 4], ['m2', 8]]);
    expect(block.size).toBe(16);
    const view = new DataView(packScalarBlock(block, s, m));
    expect([view.getFloat32(0, true), view.getInt32(4, true), view.getInt32(8, true)]).toEqual([1.5, 3, -2]);
    expect(scalarBlock([], []).size).toBe(16);
  });
});

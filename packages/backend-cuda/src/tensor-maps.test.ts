import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CU } from './native';
import { fa3TensorMaps, type Fa3MapInputs } from './tensor-maps';

// what the driver would be asked for, call by call
function recordMaps(x: Fa3MapInputs) {
  const calls: { type: number; address: bigint; dims: number[]; strides: number[]; box: number[]; swizzle: number }[] = [];
  const maps = fa3TensorMaps(
    {
      tensorMapEncodeTiled: (type, address, dims, strides, box, swizzle) => {
        calls.push({ type, address, dims, strides, box, swizzle });
        return new ArrayBuffer(128);
      },
    },
    x,
  );
  return { maps, calls };
}

const shape = fc.record({
  dtype: fc.constantFrom('bf16' as const, 'f16' as const),
  B: fc.integer({ min: 1, max: 4 }),
  Hkv: fc.integer({ min: 1, max: 4 }),
  group: fc.integer({ min: 1, max: 4 }),
  Lq: fc.integer({ min: 1, max: 5000 }),
  Lkv: fc.integer({ min: 1, max: 5000 }),
  E: fc.constantFrom(64, 128),
  Ev: fc.constantFrom(64, 128),
  bm: fc.constantFrom(128, 192),
  bn: fc.constantFrom(64, 128),
  broadcastK: fc.boolean(),
  broadcastV: fc.boolean(),
});

describe('the persistent Hopper forward\'s tensor maps', () => {
  it('address element (b, h, row, col) of contiguous Q/K/V, boxes of one 64-column panel by one tile', () => {
    fc.assert(
      fc.property(shape, (s) => {
        const Hq = s.Hkv * s.group;
        const kStride = s.broadcastK ? 0 : s.Hkv * s.Lkv * s.E;
        const vStride = s.broadcastV ? 0 : s.Hkv * s.Lkv * s.Ev;
        const { maps, calls } = recordMaps({
          dtype: s.dtype, q: 0x1000n, k: 0x2000n, v: 0x3000n, B: s.B, Hq, Hkv: s.Hkv, Lq: s.Lq, Lkv: s.Lkv,
          E: s.E, Ev: s.Ev, kvBatchStrides: [kStride, vStride], bm: s.bm, bn: s.bn,
        });
        expect(maps).toHaveLength(3);
        const type = s.dtype === 'f16' ? CU.TENSOR_MAP_DATA_TYPE_FLOAT16 : CU.TENSOR_MAP_DATA_TYPE_BFLOAT16;
        for (const c of calls) expect([c.type, c.swizzle]).toEqual([type, CU.TENSOR_MAP_SWIZZLE_128B]);
        // byte offset of an element under a map: Σ coordinate · stride (innermost stride: 2 bytes)
        const offset = (c: (typeof calls)[number], coords: number[]) =>
          coords.reduce((acc, x, i) => acc + x * (i === 0 ? 2 : c.strides[i - 1]!), 0);
        const [q, k, v] = calls as [(typeof calls)[number], (typeof calls)[number], (typeof calls)[number]];
        // Q: (col, row, b·Hq + h) is the contiguous [B, Hq, Lq, E] element
        const [b, h, r] = [s.B - 1, Hq - 1, s.Lq - 1];
        expect(offset(q, [s.E - 1, r, b * Hq + h])).toBe(((b * Hq + h) * s.Lq + r) * s.E * 2 + (s.E - 1) * 2);
        expect(q.dims).toEqual([s.E, s.Lq, s.B * Hq]);
        expect(q.box).toEqual([64, s.bm, 1]);
        // K / V: (col, row, hk, batch) with the caller's batch stride; broadcast = one batch
        for (const [m, e, stride] of [[k, s.E, kStride], [v, s.Ev, vStride]] as const) {
          expect(m.dims).toEqual([e, s.Lkv, s.Hkv, stride === 0 ? 1 : s.B]);
          expect(m.box).toEqual([64, s.bn, 1, 1]);
          const bk = stride === 0 ? 0 : s.B - 1;
          expect(offset(m, [e - 1, s.Lkv - 1, s.Hkv - 1, bk])).toBe(bk * stride * 2 + ((s.Hkv - 1) * s.Lkv + s.Lkv - 1) * e * 2 + (e - 1) * 2);
          // the copy engine needs 16-byte multiples
          for (const st of m.strides) expect(st % 16).toBe(0);
        }
      }),
    );
  });
});

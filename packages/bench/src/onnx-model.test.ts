import { describe, expect, it } from 'vitest';
import { encodeModel, multiHeadAttentionModel, ProtoWriter } from './onnx-model';

/** An independent protobuf wire-format reader: field number → list of raw values. */
type Field = { wire: number; value: bigint | Uint8Array | number };
function decode(bytes: Uint8Array): Map<number, Field[]> {
  const out = new Map<number, Field[]>();
  let i = 0;
  const varint = (): bigint => {
    let x = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[i++];
      if (b === undefined) throw new Error('truncated varint');
      x |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return x;
      shift += 7n;
    }
  };
  while (i < bytes.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const wire = tag & 7;
    let value: Field['value'];
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const n = Number(varint());
      value = bytes.subarray(i, i + n);
      if (value.length !== n) throw new Error('truncated field');
      i += n;
    } else if (wire === 5) {
      value = new DataView(bytes.buffer, bytes.byteOffset + i, 4).getFloat32(0, true);
      i += 4;
    } else throw new Error(`unexpected wire type ${wire} for field ${field}`);
    out.set(field, [...(out.get(field) ?? []), { wire, value }]);
  }
  return out;
}
const text = (f: Field | undefined) => new TextDecoder().decode(f!.value as Uint8Array);
const msg = (f: Field | undefined) => decode(f!.value as Uint8Array);
const int = (f: Field | undefined) => Number(f!.value as bigint);

describe('ProtoWriter', () => {
  it('writes varints as protobuf does (known bytes)', () => {
    const w = new ProtoWriter().varint(0).varint(1).varint(127).varint(128).varint(300).varint(2 ** 35);
    expect([...w.finish()]).toEqual([0x00, 0x01, 0x7f, 0x80, 0x01, 0xac, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    // int64 -1: ten bytes, two's complement
    expect([...new ProtoWriter().varint(-1).finish()]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('writes tags, strings and little-endian fixed32 floats', () => {
    const b = new ProtoWriter().int(1, 8).string(2, 'ab').float(3, 0.125).finish();
    // field 1 varint (0x08) 8; field 2 length-delimited (0x12) len 2 'a' 'b'; field 3 fixed32 (0x1d) 0.125 = 0x3e000000
    expect([...b]).toEqual([0x08, 0x08, 0x12, 0x02, 0x61, 0x62, 0x1d, 0x00, 0x00, 0x00, 0x3e]);
  });
});

describe('the MultiHeadAttention model', () => {
  it('decodes back to a ModelProto with one com.microsoft node, its attributes and typed inputs', () => {
    const bytes = multiHeadAttentionModel({ B: 'B', heads: 3, Lq: 'Lq', Lkv: 67, headDim: 16, vHeadDim: 8, scale: 0.25, causal: true });
    const model = decode(bytes);
    expect(int(model.get(1)?.[0])).toBe(8); // ir_version
    const opsets = (model.get(8) ?? []).map((f) => {
      const o = decode(f.value as Uint8Array);
      return [o.has(1) ? text(o.get(1)![0]) : '', int(o.get(2)![0])];
    });
    expect(opsets).toEqual([['', 17], ['com.microsoft', 1]]);

    const graph = msg(model.get(7)?.[0]);
    const nodes = graph.get(1)!;
    expect(nodes).toHaveLength(1);
    const node = msg(nodes[0]);
    expect(text(node.get(4)![0])).toBe('MultiHeadAttention');
    expect(text(node.get(7)![0])).toBe('com.microsoft');
    expect(node.get(1)!.map(text)).toEqual(['q', 'k', 'v']);
    expect(node.get(2)!.map(text)).toEqual(['out']);
    const attrs = Object.fromEntries(
      node.get(5)!.map((f) => {
        const a = decode(f.value as Uint8Array);
        const type = int(a.get(20)![0]);
        return [text(a.get(1)![0]), { type, value: type === 2 ? int(a.get(3)![0]) : (a.get(2)![0]!.value as number) }];
      }),
    );
    expect(attrs).toEqual({ num_heads: { type: 2, value: 3 }, scale: { type: 1, value: 0.25 }, unidirectional: { type: 2, value: 1 } });

    const valueInfo = (f: Field) => {
      const vi = decode(f.value as Uint8Array);
      const tensor = msg(msg(vi.get(2)![0]).get(1)![0]);
      const dims = (msg(tensor.get(2)![0]).get(1) ?? []).map((d) => {
        const dim = decode(d.value as Uint8Array);
        return dim.has(1) ? int(dim.get(1)![0]) : text(dim.get(2)![0]);
      });
      return { name: text(vi.get(1)![0]), elemType: int(tensor.get(1)![0]), dims };
    };
    expect(graph.get(11)!.map(valueInfo)).toEqual([
      { name: 'q', elemType: 1, dims: ['B', 'Lq', 48] },
      { name: 'k', elemType: 1, dims: ['B', 67, 48] },
      { name: 'v', elemType: 1, dims: ['B', 67, 24] },
    ]);
    expect(graph.get(12)!.map(valueInfo)).toEqual([{ name: 'out', elemType: 1, dims: ['B', 'Lq', 24] }]);
  });

  it('writes unidirectional 0 without causal, and the empty default domain without a domain field', () => {
    const node = msg(msg(decode(multiHeadAttentionModel({ B: 1, heads: 2, Lq: 4, Lkv: 4, headDim: 4, scale: 0.5, causal: false })).get(7)![0]).get(1)![0]);
    const uni = node.get(5)!.map((f) => decode(f.value as Uint8Array)).find((a) => text(a.get(1)![0]) === 'unidirectional')!;
    expect(int(uni.get(3)![0])).toBe(0);
    const bare = decode(encodeModel({ name: 'g', nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }], inputs: [], outputs: [], opsets: { '': 17 } }));
    const op = decode(bare.get(8)![0]!.value as Uint8Array);
    expect(op.has(1)).toBe(false);
    expect(msg(msg(bare.get(7)![0]).get(1)![0]).has(7)).toBe(false);
  });
});

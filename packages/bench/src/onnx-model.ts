/**
 * A one-node ONNX model, written from JS: just enough of protobuf's wire format (varints and
 * length-delimited fields) for ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto,
 * AttributeProto and OperatorSetIdProto. The ORT peer (peer-ort.ts) builds its attention models with
 * it, so no Python and no onnx package are needed. Field numbers are onnx.proto3's.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

/** ONNX TensorProto.DataType FLOAT. */
export const ONNX_FLOAT = 1;
/** AttributeProto.AttributeType values used here. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;

/** Appends protobuf fields to a growing byte list. */
export class ProtoWriter {
  private readonly bytes: number[] = [];

  /** An unsigned varint; negatives are written as 64-bit two's complement (10 bytes), like int64 fields. */
  varint(n: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(n));
    do {
      const low = Number(x & 0x7fn);
      x >>= 7n;
      this.bytes.push(x ? low | 0x80 : low);
    } while (x);
    return this;
  }

  private tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  int(field: number, n: number | bigint): this {
    return this.tag(field, WIRE_VARINT).varint(n);
  }

  float(field: number, x: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, x, true);
    this.bytes.push(...b);
    return this;
  }

  raw(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN).varint(data.length);
    for (const x of data) this.bytes.push(x);
    return this;
  }

  string(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    build(w);
    return this.raw(field, w.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export interface OnnxValue {
  name: string;
  elemType: number;
  /** A number is a fixed dimension; a string a symbolic one (dim_param). */
  dims: readonly (number | string)[];
}

export interface OnnxNode {
  opType: string;
  domain?: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Record<string, { int: number } | { float: number }>;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  inputs: readonly OnnxValue[];
  outputs: readonly OnnxValue[];
  /** domain → opset version; '' is the default ONNX domain. */
  opsets: Record<string, number>;
}

function valueInfo(w: ProtoWriter, v: OnnxValue): void {
  w.string(1, v.name); // ValueInfoProto.name
  w.message(2, (type) =>
    // TypeProto.tensor_type
    type.message(1, (tensor) => {
      tensor.int(1, v.elemType); // TypeProto.Tensor.elem_type
      tensor.message(2, (shape) => {
        // TensorShapeProto.dim
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

/** Serializes a ModelProto holding one graph (IR version 8). */
export function encodeModel(g: OnnxGraph): Uint8Array {
  const m = new ProtoWriter();
  m.int(1, 8); // ModelProto.ir_version
  m.string(2, 'flexattn-bench'); // producer_name
  m.message(7, (graph) => {
    // ModelProto.graph
    for (const n of g.nodes) {
      graph.message(1, (node) => {
        // GraphProto.node
        for (const i of n.inputs) node.string(1, i);
        for (const o of n.outputs) node.string(2, o);
        node.string(3, `${n.opType}_0`); // name
        node.string(4, n.opType); // op_type
        for (const [name, a] of Object.entries(n.attributes ?? {})) {
          node.message(5, (attr) => {
            attr.string(1, name);
            if ('int' in a) attr.int(3, a.int).int(20, ATTR_INT);
            else attr.float(2, a.float).int(20, ATTR_FLOAT);
          });
        }
        if (n.domain) node.string(7, n.domain);
      });
    }
    graph.string(2, g.name);
    for (const v of g.inputs) graph.message(11, (w) => valueInfo(w, v));
    for (const v of g.outputs) graph.message(12, (w) => valueInfo(w, v));
  });
  for (const [domain, version] of Object.entries(g.opsets)) {
    m.message(8, (op) => {
      // ModelProto.opset_import
      if (domain) op.string(1, domain);
      op.int(2, version);
    });
  }
  return m.finish();
}

export interface AttentionModelSpec {
  /** A number fixes a dimension; a string leaves it symbolic, so one session serves every size. */
  B: number | string;
  heads: number;
  Lq: number | string;
  Lkv: number | string;
  headDim: number;
  /** V's head dimension (default headDim). */
  vHeadDim?: number;
  /** 1 / sqrt(headDim) for standard attention. */
  scale: number;
  causal: boolean;
}

/**
 * onnxruntime's `com.microsoft` MultiHeadAttention (opset 1) on q, k, v laid out [B, L, H·D] (f32),
 * output [B, Lq, H·Dv], with `unidirectional` = 1 for causal (query i sees keys ≤ i).
 */
export function multiHeadAttentionModel(s: AttentionModelSpec): Uint8Array {
  const dv = s.vHeadDim ?? s.headDim;
  return encodeModel({
    name: 'flexattn_mha',
    opsets: { '': 17, 'com.microsoft': 1 },
    inputs: [
      { name: 'q', elemType: ONNX_FLOAT, dims: [s.B, s.Lq, s.heads * s.headDim] },
      { name: 'k', elemType: ONNX_FLOAT, dims: [s.B, s.Lkv, s.heads * s.headDim] },
      { name: 'v', elemType: ONNX_FLOAT, dims: [s.B, s.Lkv, s.heads * dv] },
    ],
    outputs: [{ name: 'out', elemType: ONNX_FLOAT, dims: [s.B, s.Lq, s.heads * dv] }],
    nodes: [
      {
        opType: 'MultiHeadAttention',
        domain: 'com.microsoft',
        // the optional inputs 3… (bias, key_padding_mask, attention_bias, past_key, past_value) are left out
        inputs: ['q', 'k', 'v'],
        outputs: ['out'],
        attributes: { num_heads: { int: s.heads }, scale: { float: s.scale }, unidirectional: { int: s.causal ? 1 : 0 } },
      },
    ],
  });
}

// End-to-end trace of the TypeScript backend without a GPU: CudaBackend runs against a recording
// stand-in for the native addon; the trace (kernel sources as rendered, buffers, packed launch
// arguments, read-backs) and the float64 reference's answers go to a JSON file that replay.py
// executes on a GPU (NVRTC through CuPy, launches through the driver API) and checks.
// Run: FLEXATTN_TRACE_OUT=/path/trace.json.gz npx vitest run harness/e2e/trace.test.ts
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { type FlexAttentionOptions, type Tensor, toFloat64, traceScoreMod } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { randomTensor } from '@flexattn/ir/testing';
import { createBlockMask } from '@flexattn/blockmask';
import { alibi, causal, documentMask, slidingWindow, softcap } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { CudaBackend } from '../../src/backend';
import type { CudaNative } from '../../src/native';

const OUT = process.env.FLEXATTN_TRACE_OUT;

type Op =
  | { op: 'alloc'; ptr: string; bytes: number }
  | { op: 'h2d'; ptr: string; offset: number; data: string }
  | { op: 'memset'; ptr: string; value: number; bytes: number }
  | { op: 'module'; id: number; source: string; options: string[] }
  | { op: 'attr'; fn: string; module: number; attribute: number; value: number }
  | { op: 'launch'; fn: string; module: number; grid: number[]; block: number[]; smem: number; args: string[] }
  | { op: 'd2h'; ptr: string; bytes: number; expect?: { name: string; dtype: string; data: string } };

const b64 = (v: ArrayBufferView | ArrayBuffer) => Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).toString('base64');

// fake device addresses: distinctive 8-byte values the replay finds and patches in argument bytes
const BASE = 0x7e5700000000n;
function recorder(ops: Op[]): CudaNative {
  let nextPtr = 0;
  let nextModule = 0;
  const optionsOf = new Map<string, string[]>();
  const fnNames = new Map<bigint, [string, number]>();
  const hex = (p: bigint) => `0x${p.toString(16)}`;
  const fake: Partial<CudaNative> = {
    alloc: (bytes) => {
      const p = BASE + BigInt(++nextPtr) * 0x100000000n;
      ops.push({ op: 'alloc', ptr: hex(p), bytes });
      return p;
    },
    free: () => {},
    memsetD8: (ptr, value, bytes) => void ops.push({ op: 'memset', ptr: hex(ptr), value, bytes }),
    copyHtoD: (dst, src, off = 0) => void ops.push({ op: 'h2d', ptr: hex(dst), offset: off, data: b64(src as ArrayBufferView) }),
    copyDtoH: (src, dst) => void ops.push({ op: 'd2h', ptr: hex(src), bytes: (dst as ArrayBufferView).byteLength }),
    synchronize: () => {},
    compile: async (source, _name, options) => {
      // the arch flag is the replayer's to choose (CuPy adds its own)
      optionsOf.set(source, options.filter((o) => !o.startsWith('--gpu-architecture')));
      return { cubin: new TextEncoder().encode(source), format: 'ptx', log: '', loweredNames: {} };
    },
    moduleLoad: (image) => {
      const id = nextModule++;
      const source = new TextDecoder().decode(image as Uint8Array);
      ops.push({ op: 'module', id, source, options: optionsOf.get(source) ?? [] });
      return BigInt(id);
    },
    moduleUnload: () => {},
    moduleGetFunction: (module, name) => {
      const f = BigInt(fnNames.size + 1);
      fnNames.set(f, [name, Number(module)]);
      return f;
    },
    funcSetAttribute: (fn, attribute, value) => {
      const [name, module] = fnNames.get(fn)!;
      ops.push({ op: 'attr', fn: name, module, attribute, value });
    },
    launch: (fn, grid, block, smem, _stream, args) => {
      const [name, module] = fnNames.get(fn)!;
      ops.push({ op: 'launch', fn: name, module, grid: [...grid], block: [...block], smem, args: args.map((a) => b64(a as ArrayBuffer)) });
    },
  };
  return fake as CudaNative;
}

const device = { ordinal: 0, name: 'trace', computeCapability: [9, 0] as [number, number], totalMem: 0, smCount: 132 };

interface Case {
  name: string;
  B: number; Hq: number; Hkv: number; Lq: number; Lkv: number; E: number; Ev: number;
  dtype: Tensor['dtype'];
  options: () => FlexAttentionOptions;
  backward?: boolean;
}
const CASES: Case[] = [
  { name: 'causal_bf16_e64', B: 2, Hq: 4, Hkv: 2, Lq: 200, Lkv: 200, E: 64, Ev: 64, dtype: 'bf16', backward: true,
    options: () => ({ blockMask: createBlockMask(causal(), { qLen: 200, kvLen: 200 }), enableGqa: true, returnLse: true }) },
  { name: 'alibi_learnable_f16_e128', B: 1, Hq: 4, Hkv: 4, Lq: 150, Lkv: 170, E: 128, Ev: 128, dtype: 'f16', backward: true,
    options: () => ({ scoreMod: traceScoreMod(alibi(4, { learnable: true })), returnLse: true }) },
  { name: 'softcap_approx_swa_bf16_e128', B: 1, Hq: 2, Hkv: 1, Lq: 300, Lkv: 300, E: 128, Ev: 128, dtype: 'bf16', backward: true,
    options: () => ({ scoreMod: traceScoreMod(softcap(20, { approx: true })), blockMask: createBlockMask(slidingWindow(64), { qLen: 300, kvLen: 300 }), enableGqa: true, returnLse: true }) },
  { name: 'document_f32_e40', B: 1, Hq: 2, Hkv: 2, Lq: 130, Lkv: 130, E: 40, Ev: 40, dtype: 'f32', backward: true,
    options: () => ({ blockMask: createBlockMask(documentMask({ lengths: [50, 30, 50] }), { qLen: 130, kvLen: 130, blockSize: 32 }), returnLse: true }) },
  { name: 'decode_causal_gqa_bf16_e128', B: 2, Hq: 8, Hkv: 2, Lq: 2, Lkv: 1500, E: 128, Ev: 128, dtype: 'bf16',
    options: () => ({ blockMask: createBlockMask(causal.forLengths(2, 1500), { qLen: 2, kvLen: 1500 }), enableGqa: true, returnLse: true }) },
];

describe.skipIf(!OUT)('trace the CUDA backend for replay on a GPU', () => {
  it('writes the trace', async () => {
    const ref = createReferenceBackend();
    const traces: unknown[] = [];
    for (const c of CASES) {
      const ops: Op[] = [];
      // the per-CTA Hopper forward and the classic backward: the FA3-class bodies' tensor maps hold
      // device addresses inside opaque bytes that the replayer could not relocate (the conformance
      // runner covers those bodies)
      const backend = new CudaBackend(recorder(ops), device, { cacheDir: false, hopperForward: 'per-cta', hopperBackward: 'classic' });
      const q = randomTensor([c.B, c.Hq, c.Lq, c.E], c.dtype, 1);
      const k = randomTensor([c.B, c.Hkv, c.Lkv, c.E], c.dtype, 2);
      const v = randomTensor([c.B, c.Hkv, c.Lkv, c.Ev], c.dtype, 3);
      const options = c.options();
      const want = await ref.flexAttention(q, k, v, options);
      await backend.flexAttention(q, k, v, options);
      const d2h = ops.filter((o): o is Extract<Op, { op: 'd2h' }> => o.op === 'd2h');
      const asF32 = async (t: Tensor) => b64(Float32Array.from(toFloat64(t)));
      d2h[0]!.expect = { name: 'out', dtype: c.dtype, data: await asF32(want.out) };
      d2h[1]!.expect = { name: 'lse', dtype: 'f32', data: await asF32(want.lse!) };
      if (c.backward) {
        const dOut = randomTensor([c.B, c.Hq, c.Lq, c.Ev], c.dtype, 4);
        const g = await ref.flexAttentionBackward(q, k, v, want.out, want.lse!, dOut, options);
        const mark = ops.length;
        await backend.flexAttentionBackward(q, k, v, want.out, want.lse!, dOut, options);
        const back = ops.slice(mark).filter((o): o is Extract<Op, { op: 'd2h' }> => o.op === 'd2h');
        back[0]!.expect = { name: 'dq', dtype: c.dtype, data: await asF32(g.dq) };
        back[1]!.expect = { name: 'dk', dtype: c.dtype, data: await asF32(g.dk) };
        back[2]!.expect = { name: 'dv', dtype: c.dtype, data: await asF32(g.dv) };
        [...g.captureGrads.values()].forEach((arr, i) => {
          back[3 + i]!.expect = { name: `capture_grad${i}`, dtype: 'f32', data: b64(arr) };
        });
      }
      traces.push({ name: c.name, dtype: c.dtype, ops });
    }
    writeFileSync(OUT!, gzipSync(JSON.stringify(traces)));
    expect(traces.length).toBe(CASES.length);
  }, 120_000);
});

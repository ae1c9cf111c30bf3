import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackendUnavailableError, UnsupportedError, bf16BitsToF32, blockClasses, capture, f32ToBf16Bits, tileTableConversions, tileTables, traceScoreMod } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { alibi, causal, documentMask, relativePosition, slidingWindow, softcap } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { createCudaBackend, type CudaBackendOptions } from './backend';
import { kernelDir } from './kernel-sources';
import { DECODE_VARIANT, bwdConfig, configDefines, decodeConfig, fwdConfig, smemTileBytes } from './config';
import { explainUnavailable, inspectCuda } from './native';
import { BWD_ARGS_BYTES, DECODE_ARGS_BYTES, FWD_ARGS_BYTES, packBwdArgs, packDecodeArgs, packFwdArgs, packModParams } from './kernel-args';
import { renderMods } from './renderer';

const unavailable = explainUnavailable(inspectCuda()) !== null;

describe('createCudaBackend', () => {
  it.skipIf(!unavailable)('rejects with BackendUnavailableError when there is no usable driver/GPU/addon', async () => {
    await expect(createCudaBackend()).rejects.toBeInstanceOf(BackendUnavailableError);
  });
});

// The byte layouts documented in kernels/common.cuh ("// offset size" comments) are what the
// packers write: parse the header and check every field of every *Args struct.
function documentedLayout(struct: string): Map<string, number> {
  const text = readFileSync(join(kernelDir(), 'common.cuh'), 'utf8');
  const start = text.indexOf(`struct ${struct} {`);
  const body = text.slice(start, text.indexOf('};', start));
  const fields = new Map<string, number>();
  for (const m of body.matchAll(/^\s+[\w\s*]+?[\s*](\w+);\s*\/\/\s*(\d+)\s+(\d+)/gm)) fields.set(m[1]!, Number(m[2]));
  return fields;
}

describe('argument packing matches kernels/common.cuh', () => {
  const dims = { B: 3, Hq: 8, Hkv: 2, Lq: 77, Lkv: 131, scale: 0.125 };
  const table = { numBlocks: 0x1001n, indices: 0x1002n, fullNumBlocks: 0x1003n, fullIndices: 0x1004n, mB: 1, mH: 8, outer: 5, inner: 7 };
  it('FlexFwdArgs', () => {
    const doc = documentedLayout('FlexFwdArgs');
    const buf = new DataView(
      packFwdArgs({ ...dims, q: 0x10n, k: 0x20n, v: 0x30n, out: 0x40n, lse: 0x50n, table, maxScores: 0x60n, kvBatchStrides: [2 * 131 * 64, 0], tileCounter: 0x70n }),
    );
    expect(buf.byteLength).toBe(FWD_ARGS_BYTES);
    expect(buf.getBigUint64(doc.get('q')!, true)).toBe(0x10n);
    expect(buf.getBigUint64(doc.get('lse')!, true)).toBe(0x50n);
    expect(buf.getBigUint64(doc.get('bt')!, true)).toBe(0x1001n);
    expect(buf.getInt32(doc.get('bt')! + 44, true)).toBe(7);
    expect(buf.getInt32(doc.get('B')!, true)).toBe(3);
    expect(buf.getInt32(doc.get('Lkv')!, true)).toBe(131);
    expect(buf.getFloat32(doc.get('scale')!, true)).toBe(0.125);
    expect(buf.getInt32(doc.get('has_block_mask')!, true)).toBe(1);
    expect(buf.getBigUint64(doc.get('max_scores')!, true)).toBe(0x60n);
    expect(buf.getBigInt64(doc.get('k_batch_stride')!, true)).toBe(BigInt(2 * 131 * 64));
    expect(buf.getBigInt64(doc.get('v_batch_stride')!, true)).toBe(0n);
    expect(buf.getBigUint64(doc.get('tile_counter')!, true)).toBe(0x70n);
  });
  it('FlexBlockTable', () => {
    const doc = documentedLayout('FlexBlockTable');
    expect([...doc.entries()]).toEqual([['num_blocks', 0], ['indices', 8], ['full_num_blocks', 16], ['full_indices', 24], ['mB', 32], ['mH', 36], ['outer', 40], ['inner', 44]]);
  });
  it('FlexBwdArgs', () => {
    const doc = documentedLayout('FlexBwdArgs');
    const ptrs = { q: 1n, k: 2n, v: 3n, out: 4n, dout: 5n, lse: 6n, delta: 7n, dqAccum: 8n, dq: 9n, dk: 10n, dv: 11n };
    const buf = new DataView(packBwdArgs({ ...dims, ...ptrs, table: null, dLse: 12n, kvBatchStrides: [0, 131 * 16] }));
    expect(buf.byteLength).toBe(BWD_ARGS_BYTES);
    expect(buf.getBigInt64(doc.get('k_batch_stride')!, true)).toBe(0n);
    expect(buf.getBigInt64(doc.get('v_batch_stride')!, true)).toBe(BigInt(131 * 16));
    expect(buf.getBigUint64(doc.get('dlse')!, true)).toBe(12n);
    expect(buf.getBigUint64(doc.get('dq_accum')!, true)).toBe(8n);
    expect(buf.getBigUint64(doc.get('dv')!, true)).toBe(11n);
    expect(buf.getInt32(doc.get('Hkv')!, true)).toBe(2);
    expect(buf.getFloat32(doc.get('scale')!, true)).toBe(0.125);
    expect(buf.getInt32(doc.get('has_block_mask')!, true)).toBe(0);
  });
  it('FlexDecodeArgs', () => {
    const doc = documentedLayout('FlexDecodeArgs');
    const classes = { cls: 0x99n, mB: 1, mH: 8, qBlocks: 1, kvBlocks: 2, blockQ: 128, blockKv: 128 };
    const buf = new DataView(packDecodeArgs({ ...dims, q: 1n, k: 2n, v: 3n, out: 4n, lse: null, partO: 6n, partLse: 7n, numSplits: 4, keysPerSplit: 64, classes, maxScores: 8n, partMax: 9n, kvBatchStrides: [2 * 131 * 64, 0], mergeCount: 10n }));
    expect(buf.byteLength).toBe(DECODE_ARGS_BYTES);
    expect(buf.getBigInt64(doc.get('k_batch_stride')!, true)).toBe(BigInt(2 * 131 * 64));
    expect(buf.getBigInt64(doc.get('v_batch_stride')!, true)).toBe(0n);
    expect(buf.getBigUint64(doc.get('max_scores')!, true)).toBe(8n);
    expect(buf.getBigUint64(doc.get('part_max')!, true)).toBe(9n);
    expect(buf.getBigUint64(doc.get('merge_count')!, true)).toBe(10n);
    expect(buf.getBigUint64(doc.get('cls')!, true)).toBe(0x99n);
    expect(buf.getBigUint64(doc.get('lse')!, true)).toBe(0n);
    expect(buf.getInt32(doc.get('keys_per_split')!, true)).toBe(64);
    expect(buf.getInt32(doc.get('cls_block_kv')!, true)).toBe(128);
    expect(buf.getInt32(doc.get('has_block_mask')!, true)).toBe(1);
  });
  it('mod params: tensors by pointer, dims, scalars', () => {
    const mod = traceScoreMod(alibi(4, { learnable: true }));
    const layout = renderMods(mod, undefined).scoreLayout;
    const buf = new DataView(packModParams(layout, mod.captures, () => 0xabcn, () => 0xdefn));
    expect(buf.getBigUint64(0, true)).toBe(0xabcn);
    expect(buf.getBigUint64(8, true)).toBe(0xdefn);
    expect(buf.getInt32(16, true)).toBe(4);
  });
});

describe('tile configs', () => {
  it('shared memory of the 16-bit kernels fits an H100 block (227 KB)', () => {
    for (const E of [16, 40, 64, 96, 128, 192, 256]) {
      for (const dtype of ['bf16', 'f16'] as const) {
        expect(fwdConfig(dtype, E, E).smemBytes).toBeLessThanOrEqual(227 * 1024);
        expect(fwdConfig(dtype, E, E, { hopper: true }).smemBytes).toBeLessThanOrEqual(227 * 1024);
        expect(fwdConfig(dtype, E, E, { hopper: true, hopperBody: 'wg' }).smemBytes).toBeLessThanOrEqual(227 * 1024);
        expect(bwdConfig(dtype, E, E).smemBytes).toBeLessThanOrEqual(227 * 1024);
        expect(bwdConfig(dtype, E, E, { hopper: true }).smemBytes).toBeLessThanOrEqual(227 * 1024);
        expect(decodeConfig(dtype, E, E, 16).smemBytes).toBeLessThanOrEqual(227 * 1024);
      }
    }
  });
  it('the decoder\'s variant reaches the prelude only when it is not session 11\'s body', () => {
    const fwd = fwdConfig('bf16', 128, 128);
    const bwd = bwdConfig('bf16', 128, 128);
    const dec = decodeConfig('bf16', 128, 128, 4);
    expect(dec).toMatchObject({ variant: DECODE_VARIANT });
    // 0: the defines (so the sources and the cached modules) are session 11's
    const off = configDefines(fwd, bwd, { ...dec, variant: 0 });
    expect(off).not.toHaveProperty('FLEX_DEC_VARIANT');
    expect(configDefines(fwd, bwd, { rows: 4, stages: 3 })).toEqual(off);
    expect(configDefines(fwd, bwd, { ...dec, variant: 3 })).toMatchObject({ FLEX_DEC_VARIANT: 3 });
    expect(configDefines(fwd, bwd, dec)).toEqual(DECODE_VARIANT === 0 ? off : { ...off, FLEX_DEC_VARIANT: DECODE_VARIANT });
    // the variant bits change no shared memory: the launch's size is the layout's either way
    expect(decodeConfig('bf16', 128, 128, 4).smemBytes).toBe(dec.smemBytes);
    // the kernel reads the bits it is given (kernels/flex_decode.cuh)
    const src = readFileSync(join(kernelDir(), 'flex_decode.cuh'), 'utf8');
    expect(src).toMatch(/enum \{ DEC_FAST_MERGE = 1, DEC_EARLY_KV = 2 \}/);
    expect(src).toMatch(/FLEX_DEC_VARIANT>, flex_elem_t>/);
  });
  it('the Hopper bodies serve head dims 64 and 128 (64-column panels, wgmma N of 64 or 128)', () => {
    for (const [E, Ev] of [[64, 64], [128, 128], [64, 128], [128, 64]] as const) {
      // the persistent body (default): BM = 64 rows per consumer warpgroup, a producer warpgroup on
      // top, Q + stages x (K + V) + 2 + 4 x stages mbarriers + the work-tile ring (two mbarrier
      // pairs, two 16-byte slots) of shared memory
      const c = fwdConfig('bf16', E, Ev, { hopper: true });
      expect([c.fa3, c.wgmma]).toEqual([true, true]);
      expect(c.bm).toBe(64 * (c.warps / 4));
      expect([64, 128]).toContain(c.bn);
      expect(c.threads).toBe(c.warps * 32 + 128);
      expect(c.smemBytes).toBe(c.bm * E * 2 + c.stages * c.bn * (E + Ev) * 2 + (2 + 4 * c.stages) * 8 + 4 * 8 + 2 * 16);
      expect(c.smemCols).toBe(false);
      // a mask reading a tensor under the identity score: each consumer warpgroup's column values
      // after the ring, 16 bytes a key, from a 16-byte boundary
      const d = fwdConfig('bf16', E, Ev, { hopper: true, tensorMask: true });
      expect(d.smemCols).toBe(true);
      expect(d.smemBytes).toBe(Math.ceil(c.smemBytes / 16) * 16 + (d.warps / 4) * d.bn * 16);
      expect(fwdConfig('bf16', E, Ev, { hopper: true, tensorMask: true, identityScore: false }).smemCols).toBe(false);
      // the per-CTA body on request: whole 64-row warpgroup blocks, no producer
      const w = fwdConfig('bf16', E, Ev, { hopper: true, hopperBody: 'wg' });
      expect([w.fa3, w.wgmma]).toEqual([false, true]);
      expect(w.bm % (64 * (w.warps / 4))).toBe(0);
      expect(w.threads).toBe(w.warps * 32);
      expect(w.smemBytes).toBe(w.bm * E * 2 + w.stages * w.bn * (E + Ev) * 2);
    }
    // the FA3-class backward (default on Hopper): D = Dv = 64 / 128 and a K/V per batch only
    for (const E of [64, 128] as const) {
      const b = bwdConfig('bf16', E, E, { hopper: true });
      expect(b).toMatchObject({ fa3: true, wgmma: true, bn: 128, warps: 8, threads: 384, bmq: E === 64 ? 128 : 64 });
      // K, V, the Q/dO ring, dSᵀ x2 (16-bit), dQ x2 (fp32), lse/delta per stage, 1 + 2·stages mbarriers
      expect(b.smemBytes).toBe(2 * 128 * E * 2 + b.stages * 2 * b.bmq * E * 2 + 2 * 128 * b.bmq * 2 + 2 * b.bmq * E * 4 + 2 * b.stages * b.bmq * 4 + (1 + 2 * b.stages) * 8);
      expect(bwdConfig('bf16', E, E, { hopper: true, hopperBody: 'classic' }).fa3).toBe(false);
      expect(bwdConfig('bf16', E, E, { hopper: true, kvBroadcast: true }).fa3).toBe(false);
      expect(bwdConfig('f32', E, E, { hopper: true }).fa3).toBe(false);
      expect(bwdConfig('bf16', E, E).fa3).toBe(false);
    }
    expect(bwdConfig('f16', 64, 128, { hopper: true }).fa3).toBe(false);
    expect(bwdConfig('f16', 96, 96, { hopper: true }).fa3).toBe(false);
    // light mods: three consumer warpgroups at D64 only
    expect(fwdConfig('bf16', 64, 64, { hopper: true, lightMods: true })).toMatchObject({ bm: 192, warps: 12, threads: 512 });
    expect(fwdConfig('bf16', 64, 64, { hopper: true, lightMods: false })).toMatchObject({ bm: 128, warps: 8, threads: 384 });
    expect(fwdConfig('bf16', 128, 128, { hopper: true, lightMods: true })).toMatchObject({ bm: 128, warps: 8 });
    // neither without Hopper
    expect(fwdConfig('bf16', 64, 64).fa3).toBe(false);
    // an additive score mod goes into S's accumulator in the persistent body (FLEX_FA3_BACC), only
    // there and only for a scale with a finite float reciprocal
    const add = { hopper: true, identityScore: false, additiveScore: true, lightMods: true } as const;
    expect(fwdConfig('bf16', 64, 64, { ...add, scale: 0.125 })).toMatchObject({ fa3: true, bacc: true, bm: 192 });
    expect(fwdConfig('f16', 128, 128, { ...add, scale: 128 ** -0.5 })).toMatchObject({ fa3: true, bacc: true });
    expect(fwdConfig('bf16', 256, 256, { ...add, scale: 1 / 16 })).toMatchObject({ fa3: true, bacc: false });
    for (const scale of [0, -0.125, 1e-39, Number.NaN]) expect(fwdConfig('bf16', 64, 64, { ...add, scale }).bacc).toBe(false);
    expect(fwdConfig('bf16', 64, 64, { ...add, additiveScore: false }).bacc).toBe(false);
    expect(fwdConfig('bf16', 64, 64, { ...add, identityScore: true }).bacc).toBe(false);
    expect(fwdConfig('bf16', 64, 64, { ...add, hopperBody: 'wg' }).bacc).toBe(false);
    expect(fwdConfig('bf16', 64, 64, { ...add, hopper: false }).bacc).toBe(false);
    expect(fwdConfig('f32', 64, 64, add).bacc).toBe(false);
    // elsewhere the pre-Hopper tiles (the same numbers as without the option)
    for (const [E, Ev] of [[40, 40], [192, 192], [256, 128], [128, 256], [64, 96]] as const)
      expect(fwdConfig('bf16', E, Ev, { hopper: true })).toEqual(fwdConfig('bf16', E, Ev));
    expect(fwdConfig('f32', 64, 64, { hopper: true }).wgmma).toBe(false);
  });
  it('head dim 256 (E = Ev) takes the persistent body on Hopper: BM 128, BN 64, two stages; the backward stays classic', () => {
    for (const dtype of ['bf16', 'f16'] as const) {
      for (const identityScore of [true, false]) {
        const c = fwdConfig(dtype, 256, 256, { hopper: true, identityScore, lightMods: identityScore });
        expect(c).toMatchObject({ fa3: true, wgmma: true, bm: 128, bn: 64, warps: 8, stages: 2, threads: 384 });
        // Q 64 KB + 2 stages x (K + V) 64 KB + 10 mbarriers + the work-tile ring: inside the H100's 227 KB
        expect(c.smemBytes).toBe(128 * 256 * 2 + 2 * 64 * 512 * 2 + 10 * 8 + 64);
      }
      // the per-CTA body has no D256 tile, nor has any pre-Hopper device: the classic one serves
      expect(fwdConfig(dtype, 256, 256, { hopper: true, hopperBody: 'wg' })).toEqual(fwdConfig(dtype, 256, 256));
      expect(fwdConfig(dtype, 256, 256)).toMatchObject({ fa3: false, wgmma: false, bm: 64, bn: 32 });
      expect(bwdConfig(dtype, 256, 256, { hopper: true })).toEqual(bwdConfig(dtype, 256, 256));
      expect(bwdConfig(dtype, 256, 256, { hopper: true }).fa3).toBe(false);
    }
    expect(fwdConfig('f32', 256, 256, { hopper: true }).fa3).toBe(false);
  });
  it('swizzled rows for multiples of 64 columns, padded rows otherwise', () => {
    expect(smemTileBytes(64, 64)).toBe(64 * 64 * 2);
    expect(smemTileBytes(64, 48)).toBe(64 * 56 * 2);
  });
});

describe('CUDA include folder for NVRTC', () => {
  it('FLEXATTN_CUDA_INCLUDE first, then CUDA_HOME, then the usual places', async () => {
    const { cudaIncludeCandidates, findCudaInclude } = await import('./cuda-include');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'flexattn-inc-'));
    writeFileSync(join(dir, 'cuda_bf16.h'), '');
    const env = { FLEXATTN_CUDA_INCLUDE: dir, CUDA_HOME: '/opt/cuda-x' };
    expect(cudaIncludeCandidates(env).slice(0, 2)).toEqual([dir, '/opt/cuda-x/include']);
    expect(findCudaInclude(env)).toBe(dir);
  });
});

describe('CudaBackend against a stand-in addon (no GPU)', () => {
  // records launches; device memory is fake, so only the plumbing is checked here
  const H100 = { ordinal: 0, name: 'fake', computeCapability: [9, 0] as [number, number], totalMem: 0, smCount: 132 };
  async function fakeBackend(device = H100, options: Pick<CudaBackendOptions, 'hopperForward' | 'hopperBackward' | 'deterministic'> = {}) {
    const { CudaBackend } = await import('./backend');
    const launches: string[] = [];
    const compiles: string[][] = [];
    const maps: string[] = [];
    /** the args of every launch, and the words of every upload by device pointer */
    const args: ArrayBuffer[][] = [];
    const uploads = new Map<bigint, Int32Array>();
    const sources: string[] = [];
    const memsets: string[] = [];
    /** memsets and launches in the order they were queued, with their streams (undefined: synchronous) */
    const queue: string[] = [];
    let ptr = 0x1000n;
    let fn = 0n;
    const names = new Map<bigint, string>();
    const native = {
      alloc: () => (ptr += 0x100000n),
      free: () => {},
      memsetD8: (p: bigint, value: number, bytes: number, stream?: bigint) => {
        memsets.push(`${value} ${bytes}`);
        queue.push(`memset ${p} ${value} ${bytes} stream ${stream}`);
      },
      copyHtoD: (p: bigint, data: ArrayBufferView) => uploads.set(p, new Int32Array(data.buffer.slice(data.byteOffset, data.byteOffset + (data.byteLength & ~3)))),
      // results read back as a pattern of the element index (bf16 bits), so host-side
      // post-processing (the batch sum of shared K/V's gradients) is checkable
      copyDtoH: (_p: bigint, dst: ArrayBufferView) => {
        if (dst instanceof Uint16Array) for (let i = 0; i < dst.length; i++) dst[i] = f32ToBf16Bits((i % 5) - 2);
      },
      synchronize: () => {},
      eventCreate: () => 1n,
      eventRecord: () => {},
      eventSynchronize: () => {},
      eventElapsedTime: () => 0.5,
      eventDestroy: () => {},
      compile: async (source: string, _n: string, options: string[]) => {
        compiles.push(options);
        sources.push(source);
        return { cubin: new Uint8Array(1), format: 'cubin', log: '', loweredNames: {} };
      },
      moduleLoad: () => 1n,
      moduleUnload: () => {},
      moduleGetFunction: (_m: bigint, name: string) => {
        names.set(++fn, name);
        return fn;
      },
      funcSetAttribute: () => {},
      tensorMapEncodeTiled: (type: number, address: bigint, dims: number[], strides: number[], box: number[]) => {
        maps.push(`${type} ${address} [${dims.join(',')}] [${strides.join(',')}] [${box.join(',')}]`);
        return new ArrayBuffer(128);
      },
      launch: (f: bigint, grid: readonly number[], _b: unknown, _s: number, st: bigint, a: ArrayBuffer[]) => {
        launches.push(`${names.get(f)} [${grid.join(',')}] ${a.map((x) => x.byteLength).join('+')}`);
        queue.push(`launch ${names.get(f)} stream ${st}`);
        args.push(a);
      },
    };
    const backend = new CudaBackend(native as never, device, { cacheDir: false, cudaInclude: '/fake/include', ...options });
    return { backend, launches, compiles, sources, args, uploads, maps, memsets, queue, native, CudaBackend };
  }
  const tensor = (shape: number[]) => ({ data: new Uint16Array(shape.reduce((a, b) => a * b, 1)), shape, dtype: 'bf16' as const });

  it('the D64 forward tile follows the mods\' per-element cost (three warpgroups for light mods)', async () => {
    const { backend, maps } = await fakeBackend();
    const q = tensor([1, 2, 256, 64]);
    const qBox = async (options: object) => {
      await backend.flexAttention(q, q, q, options);
      return maps.at(-3)!.split(' ').at(-1);
    };
    expect(await qBox({})).toBe('[64,192,1]');
    expect(await qBox({ scoreMod: traceScoreMod(relativePosition()) })).toBe('[64,192,1]');
    expect(await qBox({ blockMask: createBlockMask(slidingWindow(64), { qLen: 256, kvLen: 256 }) })).toBe('[64,192,1]');
    // a mask that reads a tensor under the identity score: its column values through shared memory
    const document = createBlockMask(documentMask({ lengths: [100, 156] }), { qLen: 256, kvLen: 256 });
    expect(await qBox({ blockMask: document })).toBe('[64,192,1]');
    // a transcendental score mod, or one beside such a mask: two warpgroups, 240 registers each
    expect(await qBox({ scoreMod: traceScoreMod(softcap(20)) })).toBe('[64,128,1]');
    expect(await qBox({ scoreMod: traceScoreMod(relativePosition()), blockMask: document })).toBe('[64,128,1]');
  });
  it('head dim 256: the persistent forward with TMA boxes of 64 x 128 (Q) and 64 x 64 (K, V); the classic backward', async () => {
    const { backend, launches, maps } = await fakeBackend();
    const q = tensor([1, 2, 300, 256]);
    await backend.flexAttention(q, q, q, {});
    // 3 q tiles of 128 x 2 heads: 6 CTAs of 256 consumer + 128 producer threads, three maps
    expect(launches.at(-1)).toBe('flex_fwd [6,1,1] 152+8+8+128+128+128');
    expect(maps.slice(-3).map((x) => x.split(' ').slice(2).join(' '))).toEqual([
      '[256,300,2] [512,153600] [64,128,1]',
      '[256,300,2,1] [512,153600,307200] [64,64,1,1]',
      '[256,300,2,1] [512,153600,307200] [64,64,1,1]',
    ]);
    const lse = { data: new Float32Array(600), shape: [1, 2, 300], dtype: 'f32' as const };
    await backend.flexAttentionBackward(q, q, q, q, lse, q, {});
    expect(launches.at(-2)).toBe('flex_bwd_dkdv [5,2,1] 208+8+8');
  });
  it('hopperBackward: \'classic\' keeps the session-3 backward (no tensor maps after the params)', async () => {
    const { backend, launches, compiles } = await fakeBackend(H100, { hopperBackward: 'classic' });
    const q = tensor([1, 4, 200, 64]);
    const lse = { data: new Float32Array(800), shape: [1, 4, 200], dtype: 'f32' as const };
    await backend.flexAttentionBackward(q, q, q, q, lse, q, {});
    // 800 rows of 64: the preprocess 32 rows a block (8 lanes a row), the conversion 16 elements a thread
    expect(launches.slice(-3)).toEqual(['flex_bwd_preprocess [25,1,1] 208', 'flex_bwd_dkdv [2,4,1] 208+8+8', 'flex_bwd_dq_convert [13,1,1] 208+8+8']);
    expect(compiles.length).toBeGreaterThan(0);
  });
  it('deterministic: true compiles the fixed-order FA3-class backward and zeroes its counters; without it the backward is as before', async () => {
    const q = tensor([1, 4, 200, 64]);
    const lse = { data: new Float32Array(800), shape: [1, 4, 200], dtype: 'f32' as const };
    const plain = await fakeBackend();
    const det = await fakeBackend(H100, { deterministic: true });
    for (const b of [plain, det]) await b.backend.flexAttentionBackward(q, q, q, q, lse, q, {});
    expect(det.sources.filter((s) => s.includes('#define FLEX_BWD_DETERMINISTIC 1'))).toHaveLength(1);
    expect(plain.sources.some((s) => s.includes('#define FLEX_BWD_DETERMINISTIC 1'))).toBe(false);
    // the same kernels with the same grids and argument sizes; one more memset: the counters, one
    // per (batch, head, q tile of 128 rows at D64), zeroed before the launches
    expect(det.launches).toEqual(plain.launches);
    expect(det.memsets).toEqual([...plain.memsets, `0 ${1 * 4 * Math.ceil(200 / 128) * 4}`]);
    // the forward is the same body either way
    await plain.backend.flexAttention(q, q, q, {});
    await det.backend.flexAttention(q, q, q, {});
    expect(det.launches.at(-1)).toBe(plain.launches.at(-1));
  });
  it('deterministic: true refuses, before any upload or compile, a backward it cannot make repeatable', async () => {
    const f32 = { data: new Float32Array(2 * 128 * 64), shape: [1, 2, 128, 64], dtype: 'f32' as const };
    const lse = { data: new Float32Array(256), shape: [1, 2, 128], dtype: 'f32' as const };
    const q = tensor([1, 2, 128, 64]);
    const cases = [
      { device: H100, call: [f32, lse] as const, message: /deterministic backward needs bf16 or f16 inputs \(got f32\)/ },
      { device: { ...H100, computeCapability: [8, 0] as [number, number] }, call: [q, lse] as const, message: /deterministic backward needs a Hopper GPU .*sm_80/ },
    ];
    for (const { device, call, message } of cases) {
      const det = await fakeBackend(device, { deterministic: true });
      const [x, l] = call;
      await expect(det.backend.flexAttentionBackward(x, x, x, x, l, x, {})).rejects.toThrow(UnsupportedError);
      await expect(det.backend.flexAttentionBackward(x, x, x, x, l, x, {})).rejects.toThrow(message);
      expect({ launches: det.launches, compiles: det.compiles, uploads: det.uploads.size }).toEqual({ launches: [], compiles: [], uploads: 0 });
      // the same call without the option runs
      const plain = await fakeBackend(device);
      await plain.backend.flexAttentionBackward(x, x, x, x, l, x, {});
      expect(plain.launches.length).toBeGreaterThan(0);
    }
  });
  it('describes its device for reports: name, arch, SMs, memory', async () => {
    const { backend } = await fakeBackend({ ...H100, name: 'NVIDIA H100 80GB HBM3', totalMem: 85_029_158_912 });
    expect(backend.deviceDescription).toBe('CUDA NVIDIA H100 80GB HBM3 (sm_90a, 132 SMs, 79.2 GiB)');
    const ada = await fakeBackend({ ...H100, name: 'NVIDIA L4', computeCapability: [8, 9], totalMem: 23_580_639_232, smCount: 58 });
    expect(ada.backend.deviceDescription).toBe('CUDA NVIDIA L4 (sm_89, 58 SMs, 22.0 GiB)');
  });

  it('measure times like do_bench: an L2 flush before each sample, the samples queued without waiting, each between its own events', async () => {
    const { backend, queue, native } = await fakeBackend();
    // events get ids and a clock of their own: elapsed = the queue positions between the two records
    let nextEvent = 0n;
    const recordedAt = new Map<bigint, number>();
    Object.assign(native, {
      eventCreate: () => ++nextEvent,
      eventRecord: (e: bigint) => {
        recordedAt.set(e, queue.length);
        queue.push(`record ${e}`);
      },
      eventElapsedTime: (e0: bigint, e1: bigint) => recordedAt.get(e1)! - recordedAt.get(e0)!,
      synchronize: () => queue.push('synchronize'),
    });
    const q = tensor([1, 2, 300, 64]);
    const start = queue.length;
    const r = await backend.measure(q, q, q, {}, { pass: 'fwd', warmup: 2, iterations: 3 });
    const run = queue.slice(start);
    const sampled = run.slice(run.indexOf('synchronize') + 1);
    // warm-up passes, one wait, then per sample: the flush, its start event, the pass, its end event
    expect(run.slice(0, run.indexOf('synchronize')).filter((e) => e.startsWith('launch'))).toHaveLength(2);
    const flush = sampled[0]!;
    expect(flush).toMatch(/^memset \d+ 0 256000000 stream 0$/);
    const sample = (i: number) => [flush, `record ${2 * i + 1}`, expect.stringMatching(/^memset \d+ 0 4 stream 0$/), 'launch flex_fwd stream 0', `record ${2 * i + 2}`];
    // one wait for them all (and the one before the call's memory is freed)
    expect(sampled).toEqual([...sample(0), ...sample(1), ...sample(2), 'synchronize', 'synchronize']);
    // each sample's time spans its pass only (records 3 queue entries apart here), not the flush
    expect(r).toEqual({ ms: [3, 3, 3], timer: 'cuda-events' });
  });

  it('the persistent forward draws its work tiles from a counter of its own, zeroed on its stream right before every launch', async () => {
    const { backend, args, queue } = await fakeBackend();
    const q = tensor([1, 2, 300, 64]);
    await backend.flexAttention(q, q, q, {});
    // measure re-launches one prepared forward: each launch must find the counter zero again
    await backend.measure(q, q, q, {}, { pass: 'fwd', warmup: 1, iterations: 2 });
    const counterOf = (a: ArrayBuffer[]) => new DataView(a[0]!).getBigUint64(144, true);
    const fwdArgs = args.filter((a) => a.length === 6);  // args, two params structs, three tensor maps
    const counters = fwdArgs.map(counterOf);
    expect(counters).toHaveLength(1 + 3);
    expect(counters.every((c) => c !== 0n)).toBe(true);
    expect(new Set(counters).size).toBe(2);  // one per call: the first call's, then measure's
    const launchesAt = queue.flatMap((e, i) => (e.startsWith('launch flex_fwd ') ? [i] : []));
    expect(launchesAt).toHaveLength(4);
    launchesAt.forEach((at, i) => {
      expect(queue[at]).toBe('launch flex_fwd stream 0');
      expect(queue[at - 1]).toBe(`memset ${counters[i]} 0 4 stream 0`);
    });
    // the f32 body walks a grid of its own: no counter, nothing queued before it
    const f32 = { data: new Float32Array(2 * 300 * 64), shape: [1, 2, 300, 64], dtype: 'f32' as const };
    const queued = queue.length;
    await backend.flexAttention(f32, f32, f32, {});
    expect(counterOf(args.at(-1)!)).toBe(0n);
    expect(queue.slice(queued).filter((e) => !e.includes('stream undefined'))).toEqual(['launch flex_fwd stream 0']);
    // under a score mod the persistent body keeps the fixed tile order (Fa3Cfg::DYN_SCHED): no counter, no memset
    const scored = queue.length;
    await backend.flexAttention(q, q, q, { scoreMod: traceScoreMod(softcap(20)) });
    expect(args.at(-1)!).toHaveLength(6);
    expect(counterOf(args.at(-1)!)).toBe(0n);
    expect(queue.slice(scored).filter((e) => !e.includes('stream undefined'))).toEqual(['launch flex_fwd stream 0']);
  });
  it('forward, backward and measure launch the expected kernels with packed args', async () => {
    const { backend, launches, compiles, maps, uploads, args } = await fakeBackend();
    const q = tensor([1, 4, 200, 64]);
    const kv = tensor([1, 2, 200, 64]);
    const mask = createBlockMask(causal(), { qLen: 200, kvLen: 200 });
    const opts = { blockMask: mask, enableGqa: true, scoreMod: traceScoreMod(alibi(4, { learnable: true })) };
    await backend.flexAttention(q, kv, kv, { ...opts, returnLse: true });
    // the persistent Hopper body: one CTA per work tile (2 q tiles x 4 heads, fewer than 132 SMs), the
    // args, the params and three tensor maps: Q (bf16 = 9) [E, Lq, B·Hq] in 64 x BM boxes, K and V
    // [E, Lkv, Hkv, B] in 64 x BN boxes (uploaded q, k, v: the first three allocations). ALiBi is
    // additive and causal reads no tensor: light mods, so D64 takes three warpgroups (BM 192).
    expect(launches.at(-1)).toBe('flex_fwd [8,1,1] 152+24+8+128+128+128');
    const [mq, mk, mv] = maps.slice(-3).map((x) => x.split(' '));
    expect([mq!, mk!, mv!].map((x) => x.slice(2).join(' '))).toEqual([
      '[64,200,4] [128,25600] [64,192,1]',
      '[64,200,2,1] [128,25600,51200] [64,128,1,1]',
      '[64,200,2,1] [128,25600,51200] [64,128,1,1]',
    ]);
    // bf16 (9); the maps point at the uploaded q, k and v (4, 2, 2 heads of 200 x 64 bf16)
    const bytesAt = (m: string[]) => uploads.get(BigInt(m[1]!))!.byteLength;
    expect([mq![0], bytesAt(mq!), bytesAt(mk!), bytesAt(mv!)]).toEqual(['9', 4 * 200 * 64 * 2, 2 * 200 * 64 * 2, 2 * 200 * 64 * 2]);
    expect(compiles[0]).toEqual(['--gpu-architecture=sm_90a', '-std=c++17', '--prec-div=false', '-default-device', '-diag-suppress=177', '--include-path=/fake/include']);
    const lse = { data: new Float32Array(800), shape: [1, 4, 200], dtype: 'f32' as const };
    await backend.flexAttentionBackward(q, kv, kv, q, lse, q, opts);
    // the FA3-class backward (D64: q tiles of 128, kv tiles of 128, a producer warpgroup): the args,
    // the params and four tensor maps — Q and dO [E, Lq, B·Hq] in 64 x 128 boxes, K and V as above
    expect(launches.slice(-3)).toEqual(['flex_bwd_preprocess [25,1,1] 208', 'flex_bwd_dkdv [2,2,1] 208+24+8+128+128+128+128', 'flex_bwd_dq_convert [13,1,1] 208+24+8']);
    expect(maps.slice(-4).map((x) => x.split(' ').slice(2).join(' '))).toEqual([
      '[64,200,4] [128,25600] [64,128,1]',
      '[64,200,4] [128,25600] [64,128,1]',
      '[64,200,2,1] [128,25600,51200] [64,128,1,1]',
      '[64,200,2,1] [128,25600,51200] [64,128,1,1]',
    ]);
    // Q and dO are the backward's uploads of q and dout (4 heads of 200 x 64 bf16)
    expect(maps.slice(-4, -2).map((x) => bytesAt(x.split(' ')))).toEqual([4 * 200 * 64 * 2, 4 * 200 * 64 * 2]);
    const r = await backend.measure(q, kv, kv, opts, { pass: 'both', warmup: 1, iterations: 3 });
    expect(r).toEqual({ ms: [0.5, 0.5, 0.5], timer: 'cuda-events' });
    // decode shape: one split-KV launch (its last split per column merges), with zeroed merge counters
    const before = launches.length;
    await backend.flexAttention(tensor([1, 4, 1, 128]), tensor([1, 1, 4096, 128]), tensor([1, 1, 4096, 128]), { enableGqa: true });
    expect(launches.slice(before)).toHaveLength(1);
    expect(launches.at(-1)).toMatch(/^flex_decode \[\d+,1,1\] 168\+8\+8$/);
    expect(new DataView(args.at(-1)![0]!).getBigUint64(160, true)).not.toBe(0n);
  });

  // The table a launch reads: its four pointers (FlexBlockTable at `at` in the args) resolved into
  // the uploads, as [numBlocks, indices, fullNumBlocks, fullIndices, mB, mH, outer, inner].
  function tableOf(arg: ArrayBuffer, at: number, uploads: Map<bigint, Int32Array>): (Int32Array | number)[] {
    const view = new DataView(arg);
    const read = (ptr: bigint, words: number) => {
      for (const [base, data] of uploads) if (ptr >= base && ptr < base + BigInt(4 * data.length)) return data.subarray(Number(ptr - base) / 4, Number(ptr - base) / 4 + words);
      throw new Error(`pointer ${ptr} is in no upload`);
    };
    const [mB, mH, outer, inner] = [32, 36, 40, 44].map((o) => view.getInt32(at + o, true)) as [number, number, number, number];
    const rows = mB * mH * outer;
    return [read(view.getBigUint64(at, true), rows), read(view.getBigUint64(at + 8, true), rows * inner), read(view.getBigUint64(at + 16, true), rows), read(view.getBigUint64(at + 24, true), rows * inner), mB, mH, outer, inner];
  }

  it('launches read the mask’s tile tables in their own tiles, converted once while the mask is unchanged', async () => {
    // head dim 128: the per-CTA Hopper forward's 256 x 64 tiles and the backward's 64 x 128, both
    // refined (launch-plan.test.ts follows the persistent forward's tiles, shifted short tile first)
    const { backend, args, uploads } = await fakeBackend(H100, { hopperForward: 'per-cta' });
    const q = tensor([2, 4, 300, 128]);
    const kv = tensor([2, 4, 300, 128]);
    const ids = Int32Array.from({ length: 300 }, (_, i) => Math.floor(i / 70));
    const docs = documentMask(ids);
    const mask = createBlockMask(docs, { qLen: 300, kvLen: 300 });
    const n0 = tileTableConversions();
    for (let i = 0; i < 3; i++) await backend.flexAttention(q, kv, kv, { blockMask: mask });
    expect(tileTableConversions()).toBe(n0 + 1);
    const fwd = fwdConfig('bf16', 128, 128, { identityScore: true, hopper: true, hopperBody: 'wg' });
    const t = tileTables(mask, fwd.bm, fwd.bn, { batch: 2, heads: 4 });
    expect(tableOf(args.at(-1)![0]!, 40, uploads)).toEqual([t.kvNumBlocks, t.kvIndices, t.fullKvNumBlocks, t.fullKvIndices, 1, 1, t.qBlocks, t.kvBlocks]);
    const lse = { data: new Float32Array(2 * 4 * 300), shape: [2, 4, 300], dtype: 'f32' as const };
    await backend.flexAttentionBackward(q, kv, kv, q, lse, q, { blockMask: mask });
    await backend.flexAttentionBackward(q, kv, kv, q, lse, q, { blockMask: mask });
    expect(tileTableConversions()).toBe(n0 + 2);
    const bwd = bwdConfig('bf16', 128, 128);
    const tb = tileTables(mask, bwd.bmq, bwd.bn, { batch: 2, heads: 4 });
    // dK/dV walks kv tiles: the q-major view
    expect(tableOf(args.at(-2)![0]!, 88, uploads)).toEqual([tb.qNumBlocks, tb.qIndices, tb.fullQNumBlocks, tb.fullQIndices, 1, 1, tb.kvBlocks, tb.qBlocks]);
    // a document boundary moved in place (the mask's tables kept): the next call converts again
    docs.setDocuments(ids.fill(5, 250));
    await backend.flexAttention(q, kv, kv, { blockMask: mask });
    expect(tileTableConversions()).toBe(n0 + 3);
  });

  it('the decoder reads the mask’s own block classes, memoised on the mask', async () => {
    const { backend, args, uploads } = await fakeBackend();
    const mask = createBlockMask(slidingWindow(1000), { qLen: 1, kvLen: 4096 });
    const n0 = tileTableConversions();
    for (let i = 0; i < 2; i++) await backend.flexAttention(tensor([1, 4, 1, 128]), tensor([1, 1, 4096, 128]), tensor([1, 1, 4096, 128]), { enableGqa: true, blockMask: mask });
    expect(tileTableConversions()).toBe(n0 + 1);
    const decodeArgs = new DataView(args.at(-1)![0]!);
    const cls = uploads.get(decodeArgs.getBigUint64(56, true))!;
    expect(new Uint8Array(cls.buffer, 0, 32)).toEqual(blockClasses(mask));
  });

  it('returnAux.maxScores: a FLEX_MAX_SCORES variant with its own output, copied back; other calls keep their source', async () => {
    const { backend, launches, sources, args } = await fakeBackend();
    const q = tensor([1, 2, 64, 64]);
    const plain = await backend.flexAttention(q, q, q, {});
    expect(plain.maxScores).toBeUndefined();
    expect(new DataView(args.at(-1)![0]!).getBigUint64(120, true)).toBe(0n);
    const r = await backend.flexAttention(q, q, q, { returnAux: { maxScores: true } });
    expect(r.maxScores?.shape).toEqual([1, 2, 64]);
    expect(r.maxScores?.dtype).toBe('f32');
    expect(new DataView(args.at(-1)![0]!).getBigUint64(120, true)).not.toBe(0n);
    expect(sources.filter((x) => x.includes('#define FLEX_MAX_SCORES 1'))).toHaveLength(1);
    expect(sources[0]).not.toContain('#define FLEX_MAX_SCORES 1');
    // the decoder: a per-split row-max workspace beside the output
    await backend.flexAttention(tensor([1, 4, 1, 128]), tensor([1, 1, 4096, 128]), tensor([1, 1, 4096, 128]), { enableGqa: true, returnAux: { maxScores: true } });
    expect(launches.at(-1)).toMatch(/^flex_decode /);
    const dec = new DataView(args.at(-1)![0]!);
    expect(dec.getBigUint64(128, true)).not.toBe(0n);
    expect(dec.getBigUint64(136, true)).not.toBe(0n);
  });

  it('dLse: checked like lse, uploaded, and handed to the backward (all three kernels read FlexBwdArgs.dlse)', async () => {
    const { backend, args, uploads, launches } = await fakeBackend();
    const q = tensor([1, 2, 64, 64]);
    const lse = { data: new Float32Array(128), shape: [1, 2, 64], dtype: 'f32' as const };
    await backend.flexAttentionBackward(q, q, q, q, lse, q, {});
    expect(new DataView(args.at(-1)![0]!).getBigUint64(168, true)).toBe(0n);
    const dLse = { data: Float32Array.from({ length: 128 }, (_, i) => i * 0.5 - 3), shape: [1, 2, 64], dtype: 'f32' as const };
    await backend.flexAttentionBackward(q, q, q, q, lse, q, { dLse });
    const at = new DataView(args.at(-3)![0]!).getBigUint64(168, true);
    expect(launches.at(-3)).toMatch(/^flex_bwd_preprocess/);
    expect([...new Float32Array(uploads.get(at)!.buffer)]).toEqual([...dLse.data]);
    const n = launches.length;
    await expect(backend.flexAttentionBackward(q, q, q, q, lse, q, { dLse: { ...dLse, shape: [1, 2, 63] } })).rejects.toThrow(/dLse/);
    expect(launches.length).toBe(n);
  });

  it('K/V of batch 1 serve every query batch: stride 0 in the forward, the decoder and the backward; dK/dV summed over the batch', async () => {
    const { backend, args, maps } = await fakeBackend();
    const q = tensor([3, 4, 200, 64]);
    const kv = tensor([1, 2, 200, 64]);
    const strides = (a: ArrayBuffer, at: number) => [new DataView(a).getBigInt64(at, true), new DataView(a).getBigInt64(at + 8, true)];
    await backend.flexAttention(q, kv, kv, { enableGqa: true });
    expect(strides(args.at(-1)![0]!, 128)).toEqual([0n, 0n]);
    // the persistent body's K/V tensor maps hold one batch (the kernel reads batch 0)
    expect(maps.slice(-2).map((m) => m.split(' ')[2])).toEqual(['[64,200,2,1]', '[64,200,2,1]']);
    await backend.flexAttention(q, tensor([3, 2, 200, 64]), tensor([3, 2, 200, 64]), { enableGqa: true });
    expect(strides(args.at(-1)![0]!, 128)).toEqual([BigInt(2 * 200 * 64), BigInt(2 * 200 * 64)]);
    await backend.flexAttention(tensor([3, 4, 1, 128]), tensor([1, 1, 4096, 128]), tensor([1, 1, 4096, 128]), { enableGqa: true });
    expect(strides(args.at(-1)![0]!, 144)).toEqual([0n, 0n]);
    const lse = { data: new Float32Array(3 * 4 * 200), shape: [3, 4, 200], dtype: 'f32' as const };
    const g = await backend.flexAttentionBackward(q, kv, kv, q, lse, q, { enableGqa: true });
    expect(strides(args.at(-2)![0]!, 176)).toEqual([0n, 0n]);
    expect(g.dk.shape).toEqual([1, 2, 200, 64]);
    expect(g.dv.shape).toEqual([1, 2, 200, 64]);
    expect(g.dq.shape).toEqual([3, 4, 200, 64]);
    // the stand-in's per-batch partials hold ((index mod 5) − 2): their sum over the 3 batches
    const per = 2 * 200 * 64;
    for (const i of [0, 1, 7, 4099, per - 1]) {
      let want = 0;
      for (let b = 0; b < 3; b++) want += ((b * per + i) % 5) - 2;
      expect(bf16BitsToF32(g.dk.data[i]!)).toBe(want);
      expect(bf16BitsToF32(g.dv.data[i]!)).toBe(want);
    }
  });

  it('KvStorage: the forward reads device K/V in place (no upload); a released tensor is refused before any launch', async () => {
    const { backend, args, uploads, launches, native, CudaBackend } = await fakeBackend();
    const k = backend.allocateKv([1, 2, 4096, 128], 'bf16');
    const v = backend.allocateKv([1, 2, 4096, 128], 'bf16');
    await backend.writeKvRows(k, Int32Array.from([7, 8, 9]), tensor([1, 2, 3, 128]));
    const q = tensor([3, 4, 1, 128]);
    await backend.flexAttention(q, k, v, { enableGqa: true });
    const dec = new DataView(args.at(-1)![0]!);
    expect([dec.getBigUint64(8, true), dec.getBigUint64(16, true)]).toEqual([k.ptr, v.ptr]);
    expect([dec.getBigInt64(144, true), dec.getBigInt64(152, true)]).toEqual([0n, 0n]);
    // uploaded: q, and the written rows (at K's head 0 row 7 and head 1 row 7), never the whole cache
    expect(uploads.has(k.ptr + BigInt(7 * 128 * 2))).toBe(true);
    expect(uploads.has(k.ptr + BigInt((4096 + 7) * 128 * 2))).toBe(true);
    expect([...uploads.values()].some((u) => u.byteLength >= 2 * 4096 * 128 * 2)).toBe(false);
    backend.releaseKv(k);
    const n = launches.length;
    await expect(backend.flexAttention(q, k, v, { enableGqa: true })).rejects.toThrow(/released/);
    const otherGpu = new CudaBackend(native as never, { ...H100, ordinal: 1 }, { cacheDir: false, cudaInclude: '/fake/include' });
    await expect(backend.flexAttention(q, v, otherGpu.allocateKv([1, 2, 4096, 128], 'bf16'), { enableGqa: true })).rejects.toThrow(/^v lives on another device/);
    expect(launches.length).toBe(n);
  });

  it('a PagedKVCache holds its pages on this backend; paged decode reads them through the block tables (one decoder pass, K/V stride 0)', async () => {
    const { backend, args, launches } = await fakeBackend();
    const { PagedKVCache } = await import('@flexattn/kv-cache');
    const cache = new PagedKVCache(backend, { pages: 40, pageSize: 128, maxBatch: 2, kvHeads: 2, headDim: 128, dtype: 'bf16' });
    for (const [b, L] of [[0, 1000], [1, 3000]] as const) {
      cache.reserve(b, L);
      await cache.append(b, tensor([1, 2, L, 128]), tensor([1, 2, L, 128]));
    }
    const lens = capture(Int32Array.from([1000, 3000]), [2], { name: 'lengths' });
    const logical = createBlockMask((b, _h, _q, kv) => kv.lt(lens.at(b)), { B: 2, qLen: 1, kvLen: 3000, blockSize: [128, 128] });
    const n = launches.length;
    await backend.flexAttention(tensor([2, 8, 1, 128]), cache.k, cache.v, { blockMask: cache.blockMask(logical), enableGqa: true });
    expect(launches.slice(n).map((l) => l.split(' ')[0])).toEqual(['flex_decode']);
    const dec = new DataView(args.at(-1)![0]!);
    expect(dec.getBigUint64(8, true)).toBe((cache.k as unknown as { ptr: bigint }).ptr);
    expect(dec.getInt32(80, true)).toBe(40 * 128); // Lkv: every physical page slot
    expect(dec.getBigInt64(144, true)).toBe(0n);
  });

  it('strict options and a negative scale (the general path)', async () => {
    const { backend, launches, compiles, sources } = await fakeBackend();
    const q = tensor([1, 2, 64, 64]);
    await expect(backend.flexAttention(q, q, q, { retrunLse: true } as never)).rejects.toThrow(/Did you mean 'returnLse'/);
    expect(launches).toEqual([]);
    await backend.flexAttention(q, q, q, { scale: -0.5 });
    expect(compiles.length).toBe(1);
    expect(sources[0]).toContain('#define FLEX_SCORE_MOD_IS_IDENTITY 0');
    await backend.flexAttention(q, q, q, { scale: -2 }); // the factor is a runtime scalar: same kernel
    expect(compiles.length).toBe(1);
  });
});

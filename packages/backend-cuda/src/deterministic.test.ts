import { capture, OptionError, tileTables, traceScoreMod, UnsupportedError, type Tensor } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { causal, documentMask } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { CudaBackend, type CudaBackendOptions } from './backend';
import { bwdConfig } from './config';
import { dqOrderRanks } from './dq-order';
import { STAND_IN_H100, standInAddon } from './stand-in-addon.test-helpers';

/** A backend on the stand-in addon that records, in order, each launch (with its FlexBwdArgs fields of interest) and memset. */
function recordingBackend(options: CudaBackendOptions, device = STAND_IN_H100) {
  const addon = standInAddon();
  const events: string[] = [];
  const sources: string[] = [];
  /** per dK/dV launch: its dq_semaphore, dq_rank and the ranks read from device memory then */
  const dkdv: { semaphore: bigint; rank: bigint; ranks: Int32Array | null }[] = [];
  const n = addon.native;
  const { launch, memsetD8, compile } = n;
  Object.assign(n, {
    memsetD8(p: bigint, value: number, bytes: number) {
      events.push(`memset ${p} ${value} ${bytes}`);
      memsetD8.call(n, p, value, bytes);
    },
    async compile(source: string, ...rest: unknown[]) {
      sources.push(source);
      return (compile as (...a: unknown[]) => unknown).call(n, source, ...rest);
    },
    launch(f: bigint, grid: readonly number[], block: unknown, smem: number, stream: bigint, args: ArrayBuffer[]) {
      launch.call(n, f, grid);
      const name = addon.launches.at(-1)!;
      const view = new DataView(args[0]!);
      events.push(`${name.split(' ')[0]} smem ${smem}`);
      if (name.startsWith('flex_bwd_dkdv')) {
        const semaphore = view.getBigUint64(192, true), rank = view.getBigUint64(200, true);
        const words = view.getInt32(88 + 32, true) * view.getInt32(88 + 36, true) * view.getInt32(88 + 40, true) * view.getInt32(88 + 44, true);
        let ranks: Int32Array | null = null;
        if (rank !== 0n) n.copyDtoH(rank, (ranks = new Int32Array(words)));
        dkdv.push({ semaphore, rank, ranks });
      }
    },
  });
  const backend = new CudaBackend(n as never, device, { cacheDir: false, cudaInclude: '/fake/include', ...options });
  return { backend, addon, events, sources, dkdv };
}

const bf16 = (shape: number[]): Tensor => ({ data: new Uint16Array(shape.reduce((a, b) => a * b, 1)), shape, dtype: 'bf16' });
const f32 = (shape: number[]): Tensor => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, dtype: 'f32' });

/** One backward call of q [B, H, L, E] (K/V alike) with `options`. */
async function backward(backend: CudaBackend, [B, H, L, E]: number[], options: object = {}, dtype: 'bf16' | 'f32' = 'bf16') {
  const t = dtype === 'bf16' ? bf16([B!, H!, L!, E!]) : f32([B!, H!, L!, E!]);
  return backend.flexAttentionBackward(t, t, t, t, f32([B!, H!, L!]), t, options);
}

describe('CudaBackendOptions.deterministic (the FA3-class backward with a fixed dQ order)', () => {
  it('compiles the deterministic variant, zeroes the counters before every dK/dV launch and passes the ranks of its tables', async () => {
    const { backend, events, sources, dkdv } = recordingBackend({ deterministic: true });
    const mask = createBlockMask(causal(), { qLen: 600, kvLen: 600 });
    await backward(backend, [2, 4, 600, 128], { blockMask: mask });
    expect(sources.at(-1)).toMatch(/#define FLEX_BWD_DETERMINISTIC 1/);
    const c = bwdConfig('bf16', 128, 128, { hopper: true, deterministic: true });
    expect(c).toMatchObject({ fa3: true, deterministic: true, bmq: 64 });
    // one counter per (b, h, q tile of 64 rows), zeroed right before the launches that use it
    const { semaphore, ranks } = dkdv[0]!;
    expect(events).toEqual([`memset ${semaphore} 0 ${2 * 4 * Math.ceil(600 / 64) * 4}`, 'flex_bwd_preprocess smem 0', `flex_bwd_dkdv smem ${c.smemBytes}`, 'flex_bwd_dq_convert smem 0']);
    expect(ranks).toEqual(dqOrderRanks(tileTables(mask, c.bmq, c.bn, { batch: 2, heads: 4 })));
    // a second call zeroes its counters again; without a mask there is no rank table
    await backward(backend, [1, 2, 256, 64]);
    expect(events.filter((e) => e.startsWith('memset'))).toHaveLength(2);
    expect(dkdv[1]).toMatchObject({ rank: 0n, ranks: null });
    expect(dkdv[1]!.semaphore).not.toBe(0n);
  });

  it('leaves the default backward as it was: no counters, no ranks, no FLEX_BWD_DETERMINISTIC', async () => {
    const { backend, events, sources, dkdv } = recordingBackend({});
    await backward(backend, [1, 2, 256, 64], { blockMask: createBlockMask(causal(), { qLen: 256, kvLen: 256 }) });
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.some((s) => /#define FLEX_BWD_DETERMINISTIC 1/.test(s))).toBe(false);
    expect(dkdv).toEqual([{ semaphore: 0n, rank: 0n, ranks: null }]);
    expect(events.filter((e) => e.startsWith('memset'))).toEqual([]);
    expect(bwdConfig('bf16', 64, 64, { hopper: true }).smemBytes).toBeLessThan(bwdConfig('bf16', 64, 64, { hopper: true, deterministic: true }).smemBytes);
  });

  // every call it cannot serve bitwise repeatably: refused before any allocation, upload or launch
  const refusals: [string, CudaBackendOptions, typeof STAND_IN_H100, number[], object, 'bf16' | 'f32', RegExp][] = [
    ['an Ampere GPU', {}, { ...STAND_IN_H100, computeCapability: [8, 0] }, [1, 2, 128, 64], {}, 'bf16', /Hopper GPU .*sm_80/],
    ['f32 inputs', {}, STAND_IN_H100, [1, 2, 128, 64], {}, 'f32', /bf16 or f16 inputs/],
    ['head dim 96', {}, STAND_IN_H100, [1, 2, 128, 96], {}, 'bf16', /E = Ev = 64 or 128 \(got E 96, Ev 96\)/],
    ["hopperBackward: 'classic'", { hopperBackward: 'classic' }, STAND_IN_H100, [1, 2, 128, 64], {}, 'bf16', /hopperBackward: 'classic'/],
    ['capture gradients', {}, STAND_IN_H100, [1, 2, 128, 64],
      { scoreMod: traceScoreMod((s, _b, h) => s.add(capture(new Float32Array(2), [2], { name: 'bias', requiresGrad: true }).at(h))) }, 'bf16', /capture gradients \(bias\).*requiresGrad: false/],
  ];
  for (const [what, options, device, shape, callOptions, dtype, message] of refusals) {
    it(`refuses ${what} with an UnsupportedError naming the fix, before any GPU work`, async () => {
      const { backend, addon, events } = recordingBackend({ ...options, deterministic: true }, device);
      const call = backward(backend, shape, callOptions, dtype);
      await expect(call).rejects.toThrow(UnsupportedError);
      await expect(backward(backend, shape, callOptions, dtype)).rejects.toThrow(message);
      expect(events).toEqual([]);
      expect(addon.allocations).toBe(0);
      // the same call without the option runs
      await backward(recordingBackend(options, device).backend, shape, callOptions, dtype);
    });
  }

  it('refuses K/V shared by the batch (a paged cache\'s pages): only the session-3 body sums those', async () => {
    const { backend, events } = recordingBackend({ deterministic: true });
    const q = bf16([2, 2, 128, 64]), kv = bf16([1, 2, 128, 64]);
    const call = backend.flexAttentionBackward(q, kv, kv, q, f32([2, 2, 128]), q, { blockMask: createBlockMask(documentMask({ lengths: [64, 64] }), { qLen: 128, kvLen: 128 }) });
    await expect(call).rejects.toThrow(/K\/V per query batch/);
    expect(events).toEqual([]);
  });

  it('checks the option itself: true, false or absent', () => {
    expect(() => recordingBackend({ deterministic: 'yes' as never })).toThrow(OptionError);
    expect(() => recordingBackend({ deterministic: 1 as never })).toThrow(/deterministic must be true or false, got 1/);
    expect(() => recordingBackend({ deterministic: false })).not.toThrow();
  });
});

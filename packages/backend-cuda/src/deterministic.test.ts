// The deterministic backward's plumbing below the backend (createCudaBackend({ deterministic: true }) sets it;
// it awaits its first GPU run): the kernel selection, the launch (counters zeroed before every
// dK/dV launch, the ranks of the launch's own tile tables) and the refusals of calls it cannot serve.
import { capture, resolveAttention, tileTables, traceScoreMod, UnsupportedError, type FlexAttentionBackwardOptions, type Tensor } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { causal } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { withCallMemory } from './call-memory';
import { bwdConfig } from './config';
import { checkDeterministicBackward } from './deterministic';
import { dqOrder } from './dq-order';
import { KernelModules } from './kernel-modules';
import { backwardLaunch, selectKernels, type TargetDevice } from './launch-plan';
import { modArguments } from './mod-arguments';
import { withScaleInScoreMod } from './scale';
import { standInAddon } from './stand-in-addon.test-helpers';

const H100: TargetDevice = { arch: 'sm_90a', smCount: 132, hopperBody: 'fa3', hopperBackward: 'fa3', deterministicBackward: true };

/** The backward problem of q = k = v [B, H, L, E] (K/V of batch kvB) with `options`. */
function problem([B, H, L, E]: number[], options: FlexAttentionBackwardOptions<unknown> = {}, dtype: 'bf16' | 'f32' = 'bf16', kvB = B!) {
  const tensor = (b: number): Tensor => {
    const n = b * H! * L! * E!;
    return dtype === 'bf16' ? { data: new Uint16Array(n), shape: [b, H!, L!, E!], dtype } : { data: new Float32Array(n), shape: [b, H!, L!, E!], dtype };
  };
  const kv = tensor(kvB);
  return withScaleInScoreMod(resolveAttention(tensor(B!), kv, kv, options, { maxHeadDim: 256, pass: 'backward', support: { kvBatchBroadcast: true } }));
}

/** Runs backwardLaunch on the stand-in addon; records memsets and launches in order, and each dK/dV launch's dq_semaphore / dq_rank (the dQ order read back then). */
async function launchBackward(target: TargetDevice, p: ReturnType<typeof problem>) {
  const addon = standInAddon();
  const n = addon.native;
  const events: string[] = [];
  const dkdv: { semaphore: bigint; rank: bigint; ranks: Int32Array | null }[] = [];
  const { launch, memsetD8 } = n;
  Object.assign(n, {
    memsetD8(ptr: bigint, value: number, bytes: number) {
      events.push(`memset ${ptr} ${value} ${bytes}`);
      memsetD8.call(n, ptr, value, bytes);
    },
    launch(f: bigint, grid: readonly number[], _block: unknown, smem: number, _stream: bigint, args: ArrayBuffer[]) {
      launch.call(n, f, grid);
      const name = addon.launches.at(-1)!.split(' ')[0]!;
      events.push(`${name} smem ${smem}`);
      if (name !== 'flex_bwd_dkdv') return;
      const view = new DataView(args[0]!);
      const [semaphore, rank] = [view.getBigUint64(192, true), view.getBigUint64(200, true)];
      // twice the table's mB · mH · outer · inner words (FlexBlockTable at 88), as the kernel's
      // bwd_walk finds the visits: the ranks, then the q tiles in their order
      const words = [32, 36, 40, 44].reduce((w, o) => w * view.getInt32(88 + o, true), 1);
      let ranks: Int32Array | null = null;
      if (rank !== 0n) n.copyDtoH(rank, (ranks = new Int32Array(2 * words)));
      dkdv.push({ semaphore, rank, ranks });
    },
  });
  const modules = new KernelModules(n as never, target.arch, { cacheDir: false, cudaInclude: '/fake/include' });
  const sel = selectKernels(p, target);
  await withCallMemory(n as never, async (mem) => {
    const buffer = () => mem.alloc(64);
    const io = { q: buffer(), k: buffer(), v: buffer(), out: buffer(), dout: buffer(), lse: buffer(), dq: buffer(), dk: buffer(), dv: buffer(), dLse: null };
    const mods = modArguments(mem, sel.rendered, sel.scoreMod, sel.maskMod, true);
    const run = await backwardLaunch({ native: n as never, modules: modules.forCall(mem), mem, target }, sel, io, mods);
    run();
    run();
  });
  return { sel, events, dkdv };
}

describe('the deterministic backward (TargetDevice.deterministicBackward: the FA3-class body with a fixed dQ order)', () => {
  it('compiles the variant, zeroes the counters before every dK/dV launch and passes the dQ order (ranks, visits) of the launch\'s tables', async () => {
    const mask = createBlockMask(causal(), { qLen: 600, kvLen: 600 });
    const { sel, events, dkdv } = await launchBackward(H100, problem([2, 4, 600, 128], { blockMask: mask }));
    expect(sel.rendered.prelude).toMatch(/#define FLEX_BWD_DETERMINISTIC 1/);
    const c = bwdConfig('bf16', 128, 128, { hopper: true, deterministic: true });
    expect(sel.backward).toEqual(c);
    expect(c).toMatchObject({ fa3: true, deterministic: true, bmq: 64 });
    // one counter per (b, h, q tile of 64 rows), zeroed right before each run's kernels
    const { semaphore, ranks } = dkdv[0]!;
    const run = [`memset ${semaphore} 0 ${2 * 4 * Math.ceil(600 / 64) * 4}`, 'flex_bwd_preprocess smem 0', `flex_bwd_dkdv smem ${c.smemBytes}`, 'flex_bwd_dq_convert smem 0'];
    expect(events).toEqual([...run, ...run]);
    expect(ranks).toEqual(dqOrder(tileTables(mask, c.bmq, c.bn, { batch: 2, heads: 4 })));
    // without a mask every kv tile visits every q tile: no rank table (the kernel ranks by launch position)
    const plain = await launchBackward(H100, problem([1, 2, 256, 64]));
    expect(plain.dkdv[0]).toMatchObject({ rank: 0n, ranks: null });
    expect(plain.dkdv[0]!.semaphore).not.toBe(0n);
  });

  it('leaves the default backward as it was: no counters, no ranks, no FLEX_BWD_DETERMINISTIC, its shared memory', async () => {
    const target = { ...H100, deterministicBackward: false };
    const { sel, events, dkdv } = await launchBackward(target, problem([1, 2, 256, 64], { blockMask: createBlockMask(causal(), { qLen: 256, kvLen: 256 }) }));
    expect(sel.rendered.prelude).not.toMatch(/FLEX_BWD_DETERMINISTIC/);
    expect(sel.backward).toEqual(bwdConfig('bf16', 64, 64, { hopper: true }));
    expect(dkdv).toEqual([{ semaphore: 0n, rank: 0n, ranks: null }, { semaphore: 0n, rank: 0n, ranks: null }]);
    expect(events.filter((e) => e.startsWith('memset'))).toEqual([]);
    // the variant's two mbarrier pairs and two 16-byte writer tasks
    expect(bwdConfig('bf16', 64, 64, { hopper: true, deterministic: true }).smemBytes - sel.backward.smemBytes).toBe(4 * 8 + 2 * 16);
    expect(() => checkDeterministicBackward(sel, target)).not.toThrow();
  });

  // every call it cannot serve bitwise repeatably: an UnsupportedError naming the fix (the backend
  // checks right after selecting the kernels, before any allocation)
  const learnable = () => traceScoreMod((s, _b, h) => s.add(capture(new Float32Array(2), [2], { name: 'bias', requiresGrad: true }).at(h)));
  const refusals: [string, Partial<TargetDevice>, () => ReturnType<typeof problem>, RegExp][] = [
    ['an Ampere GPU', { arch: 'sm_80' }, () => problem([1, 2, 128, 64]), /needs a Hopper GPU .*this one is sm_80/],
    ['f32 inputs', {}, () => problem([1, 2, 128, 64], {}, 'f32'), /bf16 or f16 inputs \(got f32\)/],
    ['head dim 96', {}, () => problem([1, 2, 128, 96]), /E = Ev = 64 or 128 \(got E 96, Ev 96\)/],
    ["hopperBackward: 'classic'", { hopperBackward: 'classic' }, () => problem([1, 2, 128, 64]), /hopperBackward: 'classic'/],
    ['K/V shared by the batch', {}, () => problem([2, 2, 128, 64], {}, 'bf16', 1), /a K\/V per query batch/],
    ['capture gradients', {}, () => problem([1, 2, 128, 64], { scoreMod: learnable() }), /capture gradients \(bias\).*requiresGrad: false/],
  ];
  for (const [what, change, p, message] of refusals) {
    it(`refuses ${what} with an UnsupportedError naming the fix`, () => {
      const target = { ...H100, ...change };
      const sel = selectKernels(p(), target);
      expect(() => checkDeterministicBackward(sel, target)).toThrow(UnsupportedError);
      expect(() => checkDeterministicBackward(sel, target)).toThrow(message);
      // the same call on the default backward is served
      expect(() => checkDeterministicBackward(selectKernels(p(), { ...target, deterministicBackward: false }), { ...target, deterministicBackward: false })).not.toThrow();
    });
  }
});

// selectKernels' choice of the persistent forward's BACC variant (FwdConfig.bacc: an additive score
// mod written into S's accumulator): the mods, the scale and the device it needs, and the prelude
// macro it becomes. The forward's block tables: shifted short tile first for the persistent body only.
import { createBlockMask } from '@flexattn/blockmask';
import { resolveAttention, shortTileFirstOffset, traceScoreMod, type FlexAttentionOptions, type PackedBlockTables, type Tensor, type TileTables } from '@flexattn/ir';
import { alibi, causal, relativePosition, softcap } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { CallMemory } from './call-memory';
import type { ModuleLoader } from './kernel-modules';
import { forwardLaunch, forwardQOffset, selectKernels, type TargetDevice } from './launch-plan';
import type { CudaNative } from './native';
import { withScaleInScoreMod } from './scale';
import { standInAddon } from './stand-in-addon.test-helpers';

const H100: TargetDevice = { arch: 'sm_90a', smCount: 132, hopperBody: 'fa3', hopperBackward: 'fa3' };

function problem(E: number, options: FlexAttentionOptions = {}, L = 256, dtype: 'bf16' | 'f32' = 'bf16') {
  const t = (): Tensor =>
    dtype === 'f32' ? { data: new Float32Array(2 * L * E), shape: [1, 2, L, E], dtype } : { data: new Uint16Array(2 * L * E), shape: [1, 2, L, E], dtype };
  return withScaleInScoreMod(resolveAttention(t(), t(), t(), options, { maxHeadDim: 256, pass: 'forward' }));
}

describe('selectKernels: FwdConfig.bacc', () => {
  it('takes it for additive score mods on the persistent body, with FLEX_FA3_BACC in the prelude', () => {
    for (const [E, mod] of [[64, alibi(2)], [128, relativePosition()]] as const) {
      const sel = selectKernels(problem(E, { scoreMod: mod }), H100);
      expect(sel.forward).toMatchObject({ fa3: true, bacc: true });
      expect(sel.rendered.prelude).toContain('#define FLEX_FA3_BACC 1');
      expect(sel.rendered.prelude).toContain('#define FLEX_SCORE_MOD_ADDITIVE 1');
    }
  });

  it('keeps the per-element mod elsewhere: other mods, no mod, a scale it cannot divide by, other bodies and devices', () => {
    const off = (p: ReturnType<typeof problem>, target = H100) => {
      const sel = selectKernels(p, target);
      expect(sel.forward.bacc).toBe(false);
      expect(sel.rendered.prelude).not.toContain('FLEX_FA3_BACC');
    };
    off(problem(64, { scoreMod: softcap(20) }));
    off(problem(64, { scoreMod: traceScoreMod((s, _b, h) => s.mul(h.toFloat().add(1))) }));
    off(problem(64));
    off(problem(64, { scoreMod: alibi(2), scale: 1e-39 }));
    off(problem(64, { scoreMod: alibi(2), scale: -0.5 }));
    off(problem(64, { scoreMod: alibi(2) }), { ...H100, hopperBody: 'wg' });
    off(problem(64, { scoreMod: alibi(2) }), { ...H100, arch: 'sm_80' });
  });
});

describe('forwardLaunch: the block tables of the short-tile-first persistent forward', () => {
  /** The q-tile offset of the tables forwardLaunch uploads (through a stand-in addon; nothing runs). */
  async function uploadedTables(L: number, target: TargetDevice, dtype: 'bf16' | 'f32' = 'bf16') {
    const p = problem(64, { blockMask: createBlockMask(causal(), { qLen: L, kvLen: L }) }, L, dtype);
    const sel = selectKernels(p, target);
    const addon = standInAddon();
    const mem = new CallMemory(addon.native as unknown as CudaNative);
    const seen: PackedBlockTables[] = [];
    const upload = mem.tileTable.bind(mem);
    mem.tileTable = (t, view) => (seen.push(t), upload(t, view));
    const modules: ModuleLoader = { load: async () => ({ module: 1n, fns: { flex_fwd: 1n } }) } as unknown as ModuleLoader;
    const io = { q: 0n, k: 0n, v: 0n, out: 0n, lse: 0n, maxScores: null };
    await forwardLaunch({ native: addon.native as unknown as CudaNative, modules, mem, target }, sel, io, {
      scoreParams: new ArrayBuffer(8), maskParams: new ArrayBuffer(8), grads: new Map(),
    });
    mem.free();
    expect(seen).toHaveLength(1);
    return { sel, tables: seen[0] as TileTables };
  }

  it('the persistent body: tables shifted by Fa3Cfg::q_offset, as many q tiles as without the shift', async () => {
    for (const L of [300, 4097, 384]) {
      const { sel, tables } = await uploadedTables(L, H100);
      expect(sel.forward.fa3).toBe(true);
      const off = shortTileFirstOffset(L, sel.forward.bm);
      expect(forwardQOffset(sel.forward, sel.problem)).toBe(off);
      expect(tables.qOffset).toBe(off);
      expect(tables.tileQ).toBe(sel.forward.bm);
      expect(tables.qBlocks).toBe(Math.ceil(L / sel.forward.bm));
    }
  });

  it('the other bodies (per-CTA Hopper, sm_80, f32) keep unshifted tables', async () => {
    for (const [target, dtype] of [[{ ...H100, hopperBody: 'wg' }, 'bf16'], [{ ...H100, arch: 'sm_80' }, 'bf16'], [H100, 'f32']] as const) {
      const { sel, tables } = await uploadedTables(300, target, dtype);
      expect(sel.forward.fa3 && dtype !== 'f32').toBe(false);
      expect(forwardQOffset(sel.forward, sel.problem)).toBe(0);
      expect(tables.qOffset).toBe(0);
    }
  });
});

// The forward's V-tile flags (programs/v-flags.ts) against the dense float64 definition, on
// lavapipe: special values in V at keys of several tiles, batches and kv heads, so a flag read at the
// wrong (batch, kv head, tile) sends a tile with a bad V through the plain P·V, where a masked key's
// 0 · NaN or 0 · ∞ turns its rows NaN (docs/architecture.md §4). The ir's special-value cases use
// one key tile; these use several, under two tile shapes (K and V in separate workgroup buffers, and
// in one with V prefetched), with and without a block mask.
import { describe, it } from 'vitest';
import { where } from '@flexattn/ir';
import { describeConformance, type ConformanceCase } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import type { ForwardTuning } from './kernel-configs.js';
import { testDevice } from './gpu.test-helpers.js';

const CASES: ConformanceCase[] = [
  {
    // rows below each poisoned key share its (diagonal, partial) tile and give it weight 0
    name: 'v flags: NaN v at masked keys of batch 0 / kv head 0 and batch 1 / kv head 1 (causal)',
    B: 2, Hq: 4, Hkv: 2, Lq: 70, Lkv: 70, E: 16, Ev: 16, mask: () => ({ mod: (_b, _h, q, kv) => q.ge(kv) }),
    poison: [{ tensor: 'v', index: [0, 0, 20, 3], value: NaN }, { tensor: 'v', index: [1, 1, 37, 5], value: NaN }],
  },
  {
    // visible from its own row on (out is ±∞ or NaN there), masked for the rows above it in its tile
    name: 'v flags: +∞ and −∞ v at visible keys, masked for earlier rows (causal)',
    B: 2, Hq: 4, Hkv: 2, Lq: 70, Lkv: 70, E: 16, Ev: 16, mask: () => ({ mod: (_b, _h, q, kv) => q.ge(kv) }),
    poison: [{ tensor: 'v', index: [0, 1, 45, 2], value: Infinity }, { tensor: 'v', index: [1, 0, 9, 7], value: -Infinity }],
  },
  {
    // no block mask (every tile full): key 21's weight is 0 through the score mod alone
    name: 'v flags: NaN v at a key the score mod sends to −∞, no block mask (GQA)',
    B: 2, Hq: 2, Hkv: 1, Lq: 40, Lkv: 70, E: 16, Ev: 16,
    scoreMod: () => (s, _b, _h, _q, kv) => where(kv.eq(21), -Infinity, s),
    poison: [{ tensor: 'v', index: [1, 0, 21, 0], value: NaN }, { tensor: 'v', index: [0, 0, 66, 1], value: Infinity }],
  },
];

const TUNINGS: [string, ForwardTuning | undefined][] = [
  ['default tiles', undefined],
  ['K/V in one buffer, V prefetched', { BR: 16, BC: 32, TX: 8, TY: 4, kvShared: true, prefetchV: true }],
];

const ctx = await testDevice();
if (typeof ctx === 'string') {
  describe('webgpu V-tile flags', () => it.skip(ctx, () => {}));
} else {
  for (const [label, forward] of TUNINGS) {
    describeConformance(() => createWebGPUBackend({ device: ctx.device, splitKv: false, tuning: forward ? { forward } : {} }), {
      label: `webgpu V-tile flags, ${label}`,
      backward: false,
      extraCases: CASES,
      filter: (c) => CASES.includes(c),
    });
  }
}

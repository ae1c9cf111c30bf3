/**
 * The sweep's built-in variants: one `tuning` each, grouped by the shape they are timed at. The
 * first variant of a group is its baseline (decode outputs are compared with it) and is timed
 * again at the end of the group as a control for drift.
 */
import type { Tuning } from '../src/index.js';

export type Group = 'decode' | 'fwd64' | 'fwd128';
export const GROUPS: readonly Group[] = ['decode', 'fwd64', 'fwd128'];

export interface Variant {
  group: Group;
  name: string;
  tuning: Tuning;
}

export function builtinVariants(): Variant[] {
  const v: Variant[] = [];
  const dec = (name: string, decode: NonNullable<Tuning['decode']>) => v.push({ group: 'decode', name, tuning: { decode } });
  dec('auto', {});
  dec('tiles (split-mode template, before)', { kernel: 'tiles' });
  // next step's K/V in registers while this step computes; staggered starts within the splits
  dec('prefetch', { prefetch: true });
  dec('stagger', { stagger: true });
  dec('prefetch stagger', { prefetch: true, stagger: true });
  dec('prefetch U1', { prefetch: true, keysPerStep: 1 });
  dec('prefetch lanes8 U1', { prefetch: true, lanes: 8, keysPerStep: 1 });
  dec('prefetch lanes32', { prefetch: true, lanes: 32 });
  dec('prefetch NT256', { prefetch: true, workgroupSize: 256 });
  dec('prefetch NT64', { prefetch: true, workgroupSize: 64 });
  dec('prefetch target1056', { prefetch: true, targetWorkgroups: 1056, minKeysPerSplit: 64 });
  dec('prefetch target4224', { prefetch: true, targetWorkgroups: 4224, minKeysPerSplit: 64 });
  dec('prefetch tile32', { prefetch: true, tile: 32 });
  for (const lanes of [8, 16, 32]) {
    for (const keysPerStep of [1, 2, 4]) {
      for (const workgroupSize of [128, 256]) dec(`lanes${lanes} U${keysPerStep} NT${workgroupSize}`, { lanes, keysPerStep, workgroupSize });
    }
  }
  dec('lanes16 U2 NT64', { lanes: 16, keysPerStep: 2, workgroupSize: 64 });
  for (const targetWorkgroups of [512, 1024, 4096, 8192]) dec(`auto target${targetWorkgroups}`, { targetWorkgroups });
  for (const tile of [32, 128]) dec(`auto tile${tile}`, { tile });
  dec('auto minKeys1024', { minKeysPerSplit: 1024, targetWorkgroups: 512 });

  const fwd = (group: Group, name: string, forward: NonNullable<Tuning['forward']>) => v.push({ group, name, tuning: { forward } });
  // partial tiles: mods split into per-row / per-column / per-element parts (on by default), and
  // opt-in 8-row bands of a partial tile that the mask's interval analysis proves empty (S and P·V
  // skipped; slower on the H100 in session 3: document 4.82 vs 3.04 ms)
  fwd('fwd64', 'auto', {});
  fwd('fwd64', 'auto no-hoist (before)', { hoist: false });
  fwd('fwd64', 'auto bands', { bands: true });
  fwd('fwd64', 'auto rows-order', { order: 'rows' });
  fwd('fwd64', '64x32 8x16', { BR: 64, BC: 32, TX: 8, TY: 16 });
  fwd('fwd64', '64x32 16x8 no-subgroups', { BR: 64, BC: 32, TX: 16, TY: 8, subgroups: false });
  fwd('fwd64', '32x32 8x8', { BR: 32, BC: 32, TX: 8, TY: 8 });
  fwd('fwd64', '64x16 8x8', { BR: 64, BC: 16, TX: 8, TY: 8 });
  fwd('fwd64', '32x64 16x4', { BR: 32, BC: 64, TX: 16, TY: 4 });
  fwd('fwd64', '64x32 16x8 kvShared', { BR: 64, BC: 32, TX: 16, TY: 8, kvShared: true });
  fwd('fwd64', '64x32 16x8 kvShared prefetchV', { BR: 64, BC: 32, TX: 16, TY: 8, kvShared: true, prefetchV: true });
  fwd('fwd128', 'auto', {});
  fwd('fwd128', 'auto rows-order', { order: 'rows' });
  fwd('fwd128', '64x8 8x8', { BR: 64, BC: 8, TX: 8, TY: 8 });
  fwd('fwd128', '16x32 8x4', { BR: 16, BC: 32, TX: 8, TY: 4 });
  fwd('fwd128', '32x16 16x4', { BR: 32, BC: 16, TX: 16, TY: 4 });
  fwd('fwd128', '32x16 4x16', { BR: 32, BC: 16, TX: 4, TY: 16 });
  fwd('fwd128', '48x16 8x8', { BR: 48, BC: 16, TX: 8, TY: 8 });
  fwd('fwd128', '32x32 8x8 kvShared', { BR: 32, BC: 32, TX: 8, TY: 8, kvShared: true });
  fwd('fwd128', '32x32 8x8 kvShared prefetchV', { BR: 32, BC: 32, TX: 8, TY: 8, kvShared: true, prefetchV: true });
  fwd('fwd128', '32x32 16x4 kvShared', { BR: 32, BC: 32, TX: 16, TY: 4, kvShared: true });
  fwd('fwd128', '64x16 8x16 kvShared', { BR: 64, BC: 16, TX: 8, TY: 16, kvShared: true });
  fwd('fwd128', '64x16 8x16 kvShared prefetchV', { BR: 64, BC: 16, TX: 8, TY: 16, kvShared: true, prefetchV: true });
  return v;
}

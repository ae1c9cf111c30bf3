/**
 * A kernel as data, TensorFlow.js-style: a program names its pipeline key (everything its WGSL
 * depends on), generates its WGSL on demand and lists the binding kinds of each bind group. The
 * generic runner (kernel-runner.ts) builds, binds and dispatches any program; programs/*.ts hold the
 * WGSL and the descriptors of the attention kernels.
 */
import { hasCaptureGroup, type WgslHooks } from './programs/hooks.js';

export type BindingKind = 'uniform' | 'read' | 'rw';

export interface GpuProgram {
  /** the pipeline cache key: the kernel kind, its config and the hooks' key */
  key: string;
  /** the WGSL text (generated only when the pipeline is not cached yet) */
  code: () => string;
  /** binding kinds of bind group i */
  groups: BindingKind[][];
}

/** Where the mod's runtime values live: one buffer per captured tensor, plus the scalars' bytes. */
export interface CaptureState {
  buffers: GPUBuffer[];
  scalars?: ArrayBuffer;
  /** group-2 gradient buffers (backward), one per capture with grad */
  gradBuffers?: GPUBuffer[];
}

/** The mods' bind group (group 1): the scalars' uniform (or a placeholder), then one binding per captured tensor. */
export function captureGroup(hooks: WgslHooks): BindingKind[][] {
  if (!hasCaptureGroup(hooks)) return [];
  return [[hooks.scalars.length ? 'uniform' : 'read', ...hooks.captures.map(() => 'read' as const)]];
}

/** The bind groups of an attention kernel: Params, tables, Q, K, V, then `outputs` read-write buffers; the mods' group. */
export function attentionGroups(hooks: WgslHooks, outputs: number): BindingKind[][] {
  return [['uniform', 'read', 'read', 'read', 'read', ...Array<BindingKind>(outputs).fill('rw')], ...captureGroup(hooks)];
}

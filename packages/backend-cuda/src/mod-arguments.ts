// The mods' runtime arguments on the device: each captured tensor copied once per call, a zeroed
// gradient accumulator per learnable one (backward), and the by-value params structs that point at
// them (layouts from the renderer).
import { CapturedTensor, type ModParam, type TracedMod } from '@flexattn/ir';
import type { CallMemory } from './call-memory.js';
import type { DevicePtr } from './native.js';
import { packModParams } from './kernel-args.js';
import type { RenderedPrelude } from './renderer.js';

export interface CaptureGradient {
  ptr: DevicePtr;
  bytes: number;
}

export interface ModArguments {
  /** the score mod's and the mask mod's params structs */
  scoreParams: ArrayBuffer;
  maskParams: ArrayBuffer;
  /** per score-mod capture slot with requiresGrad (backward only): its accumulator */
  grads: Map<number, CaptureGradient>;
}

function uploadCaptures(mem: CallMemory, mod: TracedMod | undefined, withGrads: boolean) {
  const ptrs = new Map<number, DevicePtr>();
  const grads = new Map<number, CaptureGradient>();
  mod?.captures.forEach((c: ModParam, slot) => {
    if (!(c instanceof CapturedTensor)) return;
    ptrs.set(slot, mem.upload(c.data));
    if (withGrads && c.requiresGrad) grads.set(slot, { ptr: mem.zeros(c.data.length * 4), bytes: c.data.length * 4 });
  });
  return { ptrs, grads };
}

export function modArguments(
  mem: CallMemory, rendered: RenderedPrelude, scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined, withGrads: boolean,
): ModArguments {
  const s = uploadCaptures(mem, scoreMod, withGrads);
  const m = uploadCaptures(mem, maskMod, false);
  const scoreParams = packModParams(rendered.scoreLayout, scoreMod?.captures ?? [], (i) => s.ptrs.get(i)!, (i) => s.grads.get(i)?.ptr ?? null);
  const maskParams = packModParams(rendered.maskLayout, maskMod?.captures ?? [], (i) => m.ptrs.get(i)!, () => null);
  return { scoreParams, maskParams, grads: s.grads };
}

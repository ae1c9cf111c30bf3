// The deterministic backward (TargetDevice.deterministicBackward): which backward calls it can
// serve. Only the FA3-class Hopper body adds dQ in a fixed order (kernels/flex_bwd_fa3.cuh, FLEX_BWD_DETERMINISTIC); every other
// body adds dQ with fp32 atomics, and capture gradients are atomics in every body, so their sums
// can differ in the last bits from run to run. Such a call is refused before any GPU work, with
// the reason and the fix, rather than run with results that are silently not repeatable.
import { CapturedTensor, UnsupportedError } from '@flexattn/ir';
import type { KernelSelection, TargetDevice } from './launch-plan.js';

/** Throws UnsupportedError where a deterministic backend's backward call would not be bitwise repeatable. */
export function checkDeterministicBackward(sel: KernelSelection, target: TargetDevice): void {
  if (!target.deterministicBackward) return;
  const reason = notDeterministic(sel, target);
  if (reason !== undefined) {
    throw new UnsupportedError(
      `flexAttentionBackward: the deterministic backward ${reason}. Use a backend without the deterministic backward for this call (its dQ is then summed with atomics in whatever order they land).`,
    );
  }
}

function notDeterministic(sel: KernelSelection, target: TargetDevice): string | undefined {
  const p = sel.problem;
  const grads = sel.scoreMod?.captures.filter((c) => c instanceof CapturedTensor && c.requiresGrad) ?? [];
  if (grads.length > 0) {
    const names = grads.map((c) => (c as CapturedTensor).name).join(', ');
    return `cannot sum the score mod's capture gradients (${names}) in a fixed order (they are atomics in every body): capture them with requiresGrad: false`;
  }
  if (sel.backward.deterministic) return undefined;
  const fix = 'the fixed-order body covers bf16/f16 with head dims E = Ev = 64 or 128 and a K/V per batch on a Hopper GPU (sm_90a)';
  if (target.arch !== 'sm_90a') return `needs a Hopper GPU (compute capability 9.x) and this one is ${target.arch}: ${fix}`;
  if (p.dtype === 'f32') return `needs bf16 or f16 inputs (got f32): ${fix}`;
  if (target.hopperBackward === 'classic') return `cannot run with hopperBackward: 'classic' (its dQ is summed with atomics): drop one of the two options`;
  if (p.kvBatch !== p.B) return `needs a K/V per query batch (here one K/V serves every batch, as a paged KV cache's pages do): ${fix}`;
  return `needs head dims E = Ev = 64 or 128 (got E ${p.E}, Ev ${p.Ev}): ${fix}`;
}

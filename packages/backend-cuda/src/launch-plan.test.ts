// selectKernels' choice of the persistent forward's BACC variant (FwdConfig.bacc: an additive score
// mod written into S's accumulator): the mods, the scale and the device it needs, and the prelude
// macro it becomes.
import { resolveAttention, traceScoreMod, type FlexAttentionOptions, type Tensor } from '@flexattn/ir';
import { alibi, relativePosition, softcap } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { selectKernels, type TargetDevice } from './launch-plan';
import { withScaleInScoreMod } from './scale';

const H100: TargetDevice = { arch: 'sm_90a', smCount: 132, hopperBody: 'fa3', hopperBackward: 'fa3' };

function problem(E: number, options: FlexAttentionOptions = {}) {
  const t = (): Tensor => ({ data: new Uint16Array(2 * 256 * E), shape: [1, 2, 256, E], dtype: 'bf16' });
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

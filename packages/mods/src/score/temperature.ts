import type { Scalar } from '@flexattn/ir';
import { defineScoreMod, param, type TunableScoreMod } from '../params';

export type TemperatureScoreMod = TunableScoreMod<{ temperature: Scalar }>;

/**
 * Softmax temperature: `score / t`. `t` (f32 scalar > 0) is tunable: t > 1 flattens the
 * attention distribution, t < 1 sharpens it. Source: "Distilling the Knowledge in a Neural
 * Network" (Hinton et al., 2015); attention temperature scaling as in YaRN / log-length scaling.
 *
 * ```ts
 * const m = temperature(1.5);
 * m.params.temperature.value = 0.8;
 * ```
 */
export function temperature(t: number): TemperatureScoreMod {
  const temp = param('temperature', 't', t, { dtype: 'f32', positive: true });
  return defineScoreMod('temperature', (score) => score.div(temp), { temperature: temp });
}

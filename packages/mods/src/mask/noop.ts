import { defineMaskMod, notAnExpr, type TunableMaskMod } from '../params';

/**
 * The mask that hides nothing: every key is visible (`true`). Useful as the identity of
 * `andMasks` and as an explicit "no mask" in configuration code.
 *
 * ```ts
 * const m = config.local ? slidingWindow(128) : noopMask();
 * ```
 */
export function noopMask(_options?: never): TunableMaskMod<Record<string, never>> {
  notAnExpr('noopMask', _options);
  return defineMaskMod('noopMask', () => true, {});
}

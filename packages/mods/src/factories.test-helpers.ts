/** Test-only: the package's mod factories (every lower-case function export but the helpers; learnedSinks runs attention, it is not a mod). */
import * as mods from './index';

const NOT_FACTORIES = new Set(['defineMaskMod', 'defineScoreMod', 'tunableScalar', 'alibiSlopes', 't5Bucket', 'sandwichDistanceBias', 'catalogueExamples', 'learnedSinks']);

export function catalogueFactories(): string[] {
  return Object.entries(mods)
    .filter(([name, v]) => typeof v === 'function' && /^[a-z]/.test(name) && !NOT_FACTORIES.has(name))
    .map(([name]) => name);
}

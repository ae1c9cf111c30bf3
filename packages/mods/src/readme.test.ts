import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as mods from './index';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const factories = Object.entries(mods).filter(([name, v]) => typeof v === 'function' && /^[a-z]/.test(name) && !['defineMaskMod', 'defineScoreMod', 'tunableScalar', 'alibiSlopes', 't5Bucket', 'sandwichDistanceBias'].includes(name));

describe('README', () => {
  it('lists every mod and combinator in a table row', () => {
    expect(factories.length).toBe(25);
    for (const [name] of factories) expect(readme, name).toMatch(new RegExp(`^\\| \`${name}\\(`, 'm'));
  });
});

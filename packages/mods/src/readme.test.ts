import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalogueFactories } from './factories.test-helpers';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const factories = catalogueFactories();

describe('README', () => {
  it('lists every mod and combinator in a table row', () => {
    expect(factories.length).toBe(24);
    for (const name of factories) expect(readme, name).toMatch(new RegExp(`^\\| \`${name}\\(`, 'm'));
  });
});

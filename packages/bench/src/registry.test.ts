import { describe, expect, it } from 'vitest';
import { FACTORIES, factoriesOf, loadBackends } from './backends';
import { randomTensor } from './deps';
import { type BackendEntry, BACKENDS } from './registry';

describe('the backend registry', () => {
  it('is the one list the bench loads from: names unique, FACTORIES in its order', () => {
    expect(Object.keys(FACTORIES)).toEqual(BACKENDS.map((b) => b.name));
    expect(BACKENDS.map((b) => b.name)).toEqual(expect.arrayContaining(['reference', 'webgpu', 'cuda']));
    expect(() => factoriesOf([...BACKENDS, BACKENDS[0]!])).toThrow(/listed twice/);
  });

  it('an appended entry is loaded by name with its options; an unknown name lists the known ones', async () => {
    const seen: unknown[] = [];
    const reference = BACKENDS.find((b) => b.name === 'reference')!;
    const extra: BackendEntry = {
      name: 'mine',
      create: async (options) => {
        seen.push(options);
        return { ...(await reference.create()), device: 'a test device' };
      },
    };
    const factories = factoriesOf([...BACKENDS, extra]);
    const [mine, unknown] = await loadBackends(['mine', 'nope'], factories, { mine: { fast: true } });
    expect(seen).toEqual([{ fast: true }]);
    expect(mine!.device).toBe('a test device');
    const q = randomTensor([1, 1, 4, 8], 'f32', 1);
    const { out } = await mine!.backend!.flexAttention(q, q, q);
    expect(out.shape).toEqual([1, 1, 4, 8]);
    expect(unknown!.backend).toBeUndefined();
    expect(unknown!.reason).toBe(`unknown backend 'nope'; known: reference, webgpu, cuda, mine`);
  });
});

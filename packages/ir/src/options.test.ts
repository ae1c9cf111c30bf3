import fc from 'fast-check';
import leven from 'leven';
import { describe, expect, it } from 'vitest';
import { OptionError, UnsupportedError } from './errors';
import { resolveAttention } from './kernel';
import { checkFeatures, checkOptionValues, suggestName } from './options';
import { createReferenceBackend } from './reference/backend';
import { fromFloats, type Tensor } from './tensor';

const t = (shape: number[]): Tensor => fromFloats(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, 'f32');
const q = t([1, 2, 4, 8]);
const KNOWN = ['scoreMod', 'blockMask', 'scale', 'enableGqa', 'returnLse', 'returnAux'];

const thrown = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
};

describe('strict options', () => {
  it('an unknown option names the closest known one (typos, PyTorch spellings, case)', () => {
    const cases: [string, string][] = [
      ['retrunLse', 'returnLse'],
      ['return_lse', 'returnLse'],
      ['block_mask', 'blockMask'],
      ['enable_gqa', 'enableGqa'],
      ['scoremod', 'scoreMod'],
      ['scael', 'scale'],
      ['returnAuxx', 'returnAux'],
    ];
    for (const [typo, fix] of cases) {
      const e = thrown(() => resolveAttention(q, q, q, { [typo]: true } as never));
      expect(e).toBeInstanceOf(OptionError);
      expect(e.message).toContain(`unknown option '${typo}'. Did you mean '${fix}'?`);
    }
  });

  it('a name far from every option lists them all; PyTorch-only options say where the need is met', () => {
    expect(thrown(() => checkOptionValues({ foo: 1 }, 'forward')).message).toContain(`Known options: ${KNOWN.join(', ')}`);
    expect(thrown(() => checkOptionValues({ kernelOptions: {} }, 'forward')).message).toMatch(/unknown option 'kernelOptions': .*backend factory/);
    expect(thrown(() => checkOptionValues({ dropoutP: 0.1 }, 'forward')).message).toMatch(/unknown option 'dropoutP': .*no dropout/);
    expect(thrown(() => checkOptionValues({ kernel_options: {} }, 'forward')).message).toMatch(/'kernel_options': flexattn picks tiles itself/);
  });

  it('dLse belongs to the backward pass', () => {
    expect(thrown(() => resolveAttention(q, q, q, { dLse: t([1, 2, 4]) })).message).toMatch(/'dLse' is an option of flexAttentionBackward/);
    expect(() => checkOptionValues({ dLse: t([1, 2, 4]) }, 'backward')).not.toThrow();
  });

  it('values are type-checked', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ enableGqa: 'yes' }, /'enableGqa' must be a boolean; got the string "yes"/],
      [{ returnLse: 1 }, /'returnLse' must be a boolean; got number 1/],
      [{ scale: '1' }, /'scale' must be a finite number/],
      [{ scoreMod: 3 }, /'scoreMod' must be a score mod function/],
      [{ returnAux: true }, /'returnAux' must be an object \{ lse\?: boolean, maxScores\?: boolean \}/],
      [{ returnAux: { maxScore: true } }, /unknown returnAux field 'maxScore'. Did you mean 'maxScores'\?/],
      [{ returnAux: { lse: 'yes' } }, /returnAux.lse must be a boolean/],
      [{ dLse: 5 }, /'dLse' must be a tensor \[B, Hq, Lq\] of f32/],
    ];
    for (const [options, message] of bad) {
      const e = thrown(() => checkOptionValues(options, 'backward'));
      expect(e, JSON.stringify(options)).toBeInstanceOf(OptionError);
      expect(e.message).toMatch(message);
    }
    expect(thrown(() => checkOptionValues([], 'forward')).message).toMatch(/options must be an object, got an array/);
    // undefined is "not given", like any optional TypeScript field
    expect(() => checkOptionValues({ scale: undefined, returnAux: { lse: undefined } }, 'forward')).not.toThrow();
  });

  it('property: every non-finite or non-number scale is an OptionError; every finite one resolves as given', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.string(), fc.boolean(), fc.constant(null)), (scale) => {
        const ok = typeof scale === 'number' && Number.isFinite(scale);
        if (ok) expect(resolveAttention(q, q, q, { scale }).scale).toBe(scale);
        else expect(() => resolveAttention(q, q, q, { scale: scale as number })).toThrow(OptionError);
      }),
    );
  });

  it('property: a random misspelling (one edit) of a known option suggests an option within one edit', () => {
    const edit = fc.tuple(fc.constantFrom(...KNOWN), fc.nat(), fc.constantFrom('x', 'q', 'z')).map(([name, at, ch]) => {
      const i = at % name.length;
      return name.slice(0, i) + ch + name.slice(i + 1);
    });
    fc.assert(
      fc.property(edit, (typo) => {
        fc.pre(!KNOWN.includes(typo));
        const hint = suggestName(typo, KNOWN);
        const named = /Did you mean '(\w+)'\?/.exec(hint)?.[1];
        expect(named, hint).toBeDefined();
        expect(leven(typo, named!)).toBe(1);
      }),
    );
  });

  it('returnAux.lse is returnLse', () => {
    expect(resolveAttention(q, q, q, { returnAux: { lse: true } }).returnLse).toBe(true);
    expect(resolveAttention(q, q, q, { returnLse: true }).returnLse).toBe(true);
    expect(resolveAttention(q, q, q, {}).returnLse).toBe(false);
  });

  it('features a backend does not declare are an UnsupportedError naming the reference', () => {
    const gpu = { name: 'webgpu' };
    expect(thrown(() => checkFeatures(gpu, { returnAux: { maxScores: true } }))).toBeInstanceOf(UnsupportedError);
    expect(thrown(() => checkFeatures(gpu, { returnAux: { maxScores: true } })).message).toMatch(/the webgpu backend does not implement returnAux.maxScores yet; the reference backend \(createReferenceBackend/);
    expect(thrown(() => checkFeatures(gpu, { dLse: t([1, 2, 4]) })).message).toMatch(/does not implement the dLse option/);
    expect(() => checkFeatures({ name: 'x', features: ['dLse', 'maxScores'] }, { dLse: t([1, 2, 4]), returnAux: { maxScores: true } })).not.toThrow();
    expect(() => checkFeatures(gpu, { returnAux: { maxScores: false, lse: true } })).not.toThrow();
    // no backend in the context (an older caller): rejected rather than silently ignored
    expect(() => resolveAttention(q, q, q, { returnAux: { maxScores: true } })).toThrow(UnsupportedError);
  });

  it('the reference rejects bad options before computing anything', async () => {
    const ref = createReferenceBackend();
    await expect(ref.flexAttention(q, q, q, { retrunLse: true } as never)).rejects.toThrow(/Did you mean 'returnLse'/);
    const { out, lse } = await ref.flexAttention(q, q, q, { returnLse: true });
    await expect(ref.flexAttentionBackward(q, q, q, out, lse!, out, { dLse: t([1, 2, 5]) })).rejects.toThrow(/dLse must be \[1, 2, 4\]/);
    await expect(ref.flexAttentionBackward(q, q, q, out, lse!, out, { dlse: t([1, 2, 4]) } as never)).rejects.toThrow(/Did you mean 'dLse'/);
  });
});

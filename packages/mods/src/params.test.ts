import { type MaskMod, OptionError, scalar, type ScoreMod, TraceError, traceMaskMod, traceScoreMod } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from './errors';
import * as mods from './index';
import { CheckedScalar, defineMaskMod, param } from './params';

describe('params: the one way mods expose runtime parameters', () => {
  it('checked scalars validate at creation and on every assignment, keeping the old value', () => {
    const s = param('demo', 'size', 4, { dtype: 'i32', min: 1 });
    expect(s).toBeInstanceOf(CheckedScalar);
    expect(s.name).toBe('demo.size');
    s.value = 9;
    expect(s.value).toBe(9);
    for (const bad of [0, 2.5, Number.NaN, 2 ** 40]) expect(() => { s.value = bad; }).toThrow(ModOptionError);
    expect(s.value).toBe(9);
    const odd = param('demo', 'k', 3, { dtype: 'i32', min: 1, odd: true });
    expect(() => { odd.value = 4; }).toThrow(/odd/);
    const f = param('demo', 'cap', 1, { dtype: 'f32', positive: true });
    expect(() => { f.value = 0; }).toThrow(/> 0/);
  });

  it('ModOptionError is an OptionError naming the mod and the parameter', () => {
    try {
      mods.slidingWindow(-3);
      expect.fail('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(OptionError);
      expect(e).toMatchObject({ name: 'ModOptionError', mod: 'slidingWindow', param: 'left' });
      expect((e as Error).message).toMatch(/^slidingWindow: parameter 'left' must be an integer ≥ 0, got -3$/);
    }
  });

  it('a Scalar passed where a number is expected gets a readable message', () => {
    expect(() => mods.slidingWindow(scalar(3) as never)).toThrow(/plain number/);
  });

  it('mods get readable names in traces', () => {
    expect(traceMaskMod(mods.slidingWindow(3)).name).toBe('slidingWindow');
    expect(traceScoreMod(mods.softcap(3)).name).toBe('softcap');
    expect(traceMaskMod(defineMaskMod('mine', (_b, _h, q) => q.lt(3), {})).name).toBe('mine');
  });

  it('passing a factory instead of its result explains itself', () => {
    const masks = [mods.causal, mods.slidingWindow, mods.dilatedSlidingWindow, mods.prefixLm, mods.documentMask, mods.chunkedAttention,
      mods.attentionSinks, mods.neighborhood2d, mods.crossAttention, mods.globalTokens, mods.noopMask];
    for (const m of masks) {
      expect(() => traceMaskMod(m as unknown as MaskMod), m.name).toThrow(TraceError);
      expect(() => traceMaskMod(m as unknown as MaskMod), m.name).toThrow(/is a factory/);
    }
    const scores = [mods.alibi, mods.softcap, mods.relativePosition, mods.t5RelativeBias, mods.headBias, mods.sandwichBias, mods.temperature];
    for (const m of scores) expect(() => traceScoreMod(m as unknown as ScoreMod), m.name).toThrow(/is a factory/);
  });
});

import { type MaskMod, TraceError, traceMaskMod } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { expectMaskEquals } from '../test-utils';
import { noopMask } from './noop';

describe('noopMask', () => {
  it('hides nothing', () => {
    expectMaskEquals(noopMask(), () => true, { B: 2, H: 2, Lq: 5, Lkv: 7 });
    expect(noopMask().params).toEqual({});
  });
  it('explains passing the factory instead of a mod', () => {
    expect(() => traceMaskMod(noopMask as unknown as MaskMod)).toThrow(TraceError);
  });
});

import { describe, expect, it } from 'vitest';
import { FlexAttnError } from '@flexattn/ir';
import { missingErrorExports } from '@flexattn/ir/testing';
import * as backend from './index.js';

describe('error hierarchy', () => {
  it("re-exports every one of ir's error classes as the same class", () => {
    expect(missingErrorExports(backend)).toEqual([]);
    expect(missingErrorExports({})).toContain('BackendUnavailableError'); // the check itself can fail
    expect(new backend.BackendUnavailableError('x')).toBeInstanceOf(FlexAttnError);
  });
});

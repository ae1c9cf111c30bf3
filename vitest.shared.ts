// Tests run on the TypeScript sources of every workspace package (no build step in between):
// each `@flexattn/*` import resolves to the package's src entry.
import { fileURLToPath } from 'node:url';
import type { UserConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}`, import.meta.url));

export const sharedTestConfig: UserConfig = {
  resolve: {
    alias: [
      { find: /^@flexattn\/ir\/reference$/, replacement: src('ir/src/reference/index.ts') },
      { find: /^@flexattn\/ir\/testing$/, replacement: src('ir/src/testing/index.ts') },
      { find: /^@flexattn\/ir$/, replacement: src('ir/src/index.ts') },
      { find: /^@flexattn\/mods$/, replacement: src('mods/src/index.ts') },
      { find: /^@flexattn\/blockmask$/, replacement: src('blockmask/src/index.ts') },
      { find: /^@flexattn\/kv-cache$/, replacement: src('kv-cache/src/index.ts') },
      { find: /^@flexattn\/backend-webgpu$/, replacement: src('backend-webgpu/src/index.ts') },
      { find: /^@flexattn\/backend-cuda$/, replacement: src('backend-cuda/src/index.ts') },
    ],
  },
  test: { testTimeout: 60_000, hookTimeout: 120_000 },
};

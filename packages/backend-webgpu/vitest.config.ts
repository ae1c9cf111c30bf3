import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared';

// lavapipe runs the kernels on the CPU, and CI has 2 cores: allow slow tests, one file at a time.
export default mergeConfig(
  defineConfig(sharedTestConfig),
  defineConfig({ test: { testTimeout: 240_000, fileParallelism: false } }),
);

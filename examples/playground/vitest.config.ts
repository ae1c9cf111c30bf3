import { defineConfig } from 'vitest/config';

// e2e/: WebGPU on SwiftShader in headless Chromium compiles and runs kernels on the CPU; CI has 2 cores.
export default defineConfig({ test: { testTimeout: 240_000, hookTimeout: 120_000 } });

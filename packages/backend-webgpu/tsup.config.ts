import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  // The declarations name GPUDevice & co.: reference @webgpu/types (a dependency) so they resolve in
  // a consumer's project under skipLibCheck: false instead of failing, or silently becoming `any`.
  dts: { banner: '/// <reference types="@webgpu/types" />' },
  clean: true,
  external: ['webgpu'],
});

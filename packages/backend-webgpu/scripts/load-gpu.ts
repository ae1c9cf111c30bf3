/**
 * Dawn's `GPU` for the device conformance runner (conformance-device.ts), which runs bundled on a GPU
 * machine without node_modules: dawn.node from $DAWN_NODE (the device's setup.sh sets it), else
 * the `webgpu` package (local runs). Created with DAWN_FLAGS, so GPU timestamps are not quantized.
 */
import { createRequire } from 'node:module';
import { DAWN_FLAGS } from '../src/index.js';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: object;
}

export async function loadGpu(): Promise<{ gpu: GPU; source: string }> {
  let dawn: DawnModule;
  let source: string;
  if (process.env.DAWN_NODE) {
    source = process.env.DAWN_NODE;
    dawn = createRequire(import.meta.url)(source) as DawnModule;
  } else {
    source = "the 'webgpu' package";
    const name = 'webgpu';
    dawn = (await import(/* @vite-ignore */ name)) as DawnModule;
  }
  // the WebGPU enums and classes (GPUBufferUsage, …) as globals, as in a browser
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return { gpu: dawn.create([...DAWN_FLAGS]), source };
}

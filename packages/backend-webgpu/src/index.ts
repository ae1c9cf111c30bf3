/// <reference types="@webgpu/types" />
/** @flexattn/backend-webgpu — fused, block-sparse FlexAttention in WGSL, for browsers and Node. */
export { createWebGPUBackend, WebGPUBackend, type GpuTensor, type WebGPUBackendOptions, type WebGPUCacheStats } from './backend.js';
export { DEFAULT_PIPELINE_CACHE_SIZE, type PipelineCacheStats } from './pipeline-cache.js';
export { acquireDevice, capsOf, DAWN_FLAGS, type GpuCaps, type GpuContext, type DeviceOptions } from './device.js';
export { Engine } from './engine.js';
export type { ForwardCall, BackwardCall, TablesFn } from './attention-call.js';
export { KernelConfigs, type Tuning, type DecodeTuning, type ForwardTuning } from './kernel-configs.js';
export { PassTimer, timestampTotalMs, type TimestampTotal } from './timing.js';
export { renderMods, WGSL_OP_TABLE, WGSL_PRELUDE, type RenderedMods } from './renderer.js';
export type { WgslHooks } from './programs/hooks.js';
export * from './errors.js';

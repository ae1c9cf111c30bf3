/**
 * @flexattn/backend-cuda — FlexAttention on NVIDIA GPUs from Node: the mods are rendered to CUDA
 * C++ hooks, compiled with NVRTC together with the kernel templates in kernels/*.cuh, and launched
 * through a small native addon.
 */
export { createCudaBackend, CudaBackend, MAX_HEAD_DIM, type CudaBackendOptions, type CudaCacheStats } from './backend.js';
export { COMPILE_OPTIONS, DEFAULT_MODULE_CACHE_SIZE, type ModuleCacheStats } from './kernel-modules.js';
export { isCudaTensor, type CudaTensor } from './device-tensors.js';
export { findCudaInclude, cudaIncludeCandidates } from './cuda-include.js';
export { kernelSource, kernelDir, templateVersion } from './kernel-sources.js';
export { renderPrelude, renderMods, renderParamsStruct, modMacros, CUDA_DIALECT, CUDA_OP_TABLE, PRELUDE_HELPERS, type RenderedPrelude, type RenderedMods } from './renderer.js';
export { fwdConfig, bwdConfig, decodeConfig, useDecode, configDefines, type FwdConfig, type BwdConfig, type DecodeConfig, type KernelVariant } from './config.js';
export { packFwdArgs, packBwdArgs, packDecodeArgs, packModParams, FWD_ARGS_BYTES, BWD_ARGS_BYTES, DECODE_ARGS_BYTES } from './kernel-args.js';
export * from './native-errors.js';
export { inspectCuda, loadCudaNative, type CudaNative } from './native.js';

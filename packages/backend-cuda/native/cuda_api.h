// The few CUDA driver API and NVRTC declarations the addon uses, written out by hand so the addon
// builds with no CUDA toolkit installed (no cuda.h, no nvrtc.h): both libraries are dlopen'ed at
// run time. Types are ABI-compatible with cuda.h / nvrtc.h (CUDA 11-13, 64-bit Linux); each
// pointer typedef names the driver entry point it is resolved from. Where cuda.h #defines a name
// to a versioned symbol (cuMemAlloc -> cuMemAlloc_v2), we resolve the versioned symbol ourselves.
#pragma once
#include <cstddef>

extern "C" {
// ---- driver types (cuda.h) ----
typedef int CUresult;                     // enum cudaError_enum; CUDA_SUCCESS == 0
typedef int CUdevice;                     // CUdevice_v1
typedef unsigned long long CUdeviceptr;   // CUdeviceptr_v2: 64-bit device address
typedef struct CUctx_st* CUcontext;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUstream_st* CUstream;
typedef struct CUevent_st* CUevent;
typedef int CUdevice_attribute;           // enum CUdevice_attribute_enum
typedef int CUfunction_attribute;         // enum CUfunction_attribute_enum
typedef int CUjit_option;                 // enum CUjit_option_enum

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUdevice_attribute CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr CUdevice_attribute CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr CUdevice_attribute CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr CUjit_option CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr CUjit_option CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;

// ---- driver entry points ----
typedef CUresult (*PFN_cuInit)(unsigned int flags);
typedef CUresult (*PFN_cuDriverGetVersion)(int* version);
typedef CUresult (*PFN_cuGetErrorName)(CUresult error, const char** str);
typedef CUresult (*PFN_cuGetErrorString)(CUresult error, const char** str);
typedef CUresult (*PFN_cuDeviceGetCount)(int* count);
typedef CUresult (*PFN_cuDeviceGet)(CUdevice* device, int ordinal);
typedef CUresult (*PFN_cuDeviceGetName)(char* name, int len, CUdevice dev);
typedef CUresult (*PFN_cuDeviceGetAttribute)(int* value, CUdevice_attribute attrib, CUdevice dev);
typedef CUresult (*PFN_cuDeviceTotalMem_v2)(size_t* bytes, CUdevice dev);
typedef CUresult (*PFN_cuDevicePrimaryCtxRetain)(CUcontext* ctx, CUdevice dev);
typedef CUresult (*PFN_cuCtxSetCurrent)(CUcontext ctx);
typedef CUresult (*PFN_cuCtxSynchronize)(void);
typedef CUresult (*PFN_cuMemAlloc_v2)(CUdeviceptr* dptr, size_t bytes);
typedef CUresult (*PFN_cuMemFree_v2)(CUdeviceptr dptr);
typedef CUresult (*PFN_cuMemGetInfo_v2)(size_t* free, size_t* total);
typedef CUresult (*PFN_cuMemsetD8_v2)(CUdeviceptr dst, unsigned char value, size_t n);
typedef CUresult (*PFN_cuMemsetD8Async)(CUdeviceptr dst, unsigned char value, size_t n, CUstream s);
typedef CUresult (*PFN_cuMemcpyHtoD_v2)(CUdeviceptr dst, const void* src, size_t bytes);
typedef CUresult (*PFN_cuMemcpyDtoH_v2)(void* dst, CUdeviceptr src, size_t bytes);
typedef CUresult (*PFN_cuMemcpyDtoD_v2)(CUdeviceptr dst, CUdeviceptr src, size_t bytes);
typedef CUresult (*PFN_cuMemcpyHtoDAsync_v2)(CUdeviceptr dst, const void* src, size_t bytes, CUstream s);
typedef CUresult (*PFN_cuMemcpyDtoHAsync_v2)(void* dst, CUdeviceptr src, size_t bytes, CUstream s);
typedef CUresult (*PFN_cuMemcpyDtoDAsync_v2)(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s);
typedef CUresult (*PFN_cuStreamCreate)(CUstream* stream, unsigned int flags);
typedef CUresult (*PFN_cuStreamDestroy_v2)(CUstream stream);
typedef CUresult (*PFN_cuStreamSynchronize)(CUstream stream);
typedef CUresult (*PFN_cuEventCreate)(CUevent* event, unsigned int flags);
typedef CUresult (*PFN_cuEventRecord)(CUevent event, CUstream stream);
typedef CUresult (*PFN_cuEventSynchronize)(CUevent event);
typedef CUresult (*PFN_cuEventElapsedTime)(float* ms, CUevent start, CUevent end);  // _v2 or v1
typedef CUresult (*PFN_cuEventDestroy_v2)(CUevent event);
typedef CUresult (*PFN_cuModuleLoadDataEx)(CUmodule* module, const void* image, unsigned int numOptions,
                                           CUjit_option* options, void** optionValues);
typedef CUresult (*PFN_cuModuleUnload)(CUmodule module);
typedef CUresult (*PFN_cuModuleGetFunction)(CUfunction* fn, CUmodule module, const char* name);
typedef CUresult (*PFN_cuFuncSetAttribute)(CUfunction fn, CUfunction_attribute attrib, int value);
typedef CUresult (*PFN_cuFuncGetAttribute)(int* value, CUfunction_attribute attrib, CUfunction fn);
// CUDA >= 12.4; resolved optionally, lets TypeScript check its argument packing once per kernel.
typedef CUresult (*PFN_cuFuncGetParamInfo)(CUfunction fn, size_t paramIndex, size_t* offset, size_t* size);
// CUtensorMap is 128 opaque bytes (64-byte aligned); its enums travel as plain integers.
struct alignas(64) CUtensorMap {
  unsigned long long opaque[16];
};
typedef CUresult (*PFN_cuTensorMapEncodeTiled)(CUtensorMap* tensorMap, int dataType, unsigned int rank,
                                               void* globalAddress, const unsigned long long* globalDim,
                                               const unsigned long long* globalStrides, const unsigned int* boxDim,
                                               const unsigned int* elementStrides, int interleave, int swizzle,
                                               int l2Promotion, int oobFill);
typedef CUresult (*PFN_cuLaunchKernel)(CUfunction f, unsigned int gridX, unsigned int gridY, unsigned int gridZ,
                                       unsigned int blockX, unsigned int blockY, unsigned int blockZ,
                                       unsigned int sharedMemBytes, CUstream stream, void** kernelParams,
                                       void** extra);

// ---- NVRTC (nvrtc.h) ----
typedef int nvrtcResult;                  // enum nvrtcResult; NVRTC_SUCCESS == 0
typedef struct _nvrtcProgram* nvrtcProgram;
constexpr nvrtcResult NVRTC_SUCCESS = 0;

typedef const char* (*PFN_nvrtcGetErrorString)(nvrtcResult result);
typedef nvrtcResult (*PFN_nvrtcVersion)(int* major, int* minor);
typedef nvrtcResult (*PFN_nvrtcCreateProgram)(nvrtcProgram* prog, const char* src, const char* name, int numHeaders,
                                              const char* const* headers, const char* const* includeNames);
typedef nvrtcResult (*PFN_nvrtcDestroyProgram)(nvrtcProgram* prog);
typedef nvrtcResult (*PFN_nvrtcCompileProgram)(nvrtcProgram prog, int numOptions, const char* const* options);
typedef nvrtcResult (*PFN_nvrtcGetSize)(nvrtcProgram prog, size_t* size);  // GetPTXSize, GetCUBINSize, GetProgramLogSize
typedef nvrtcResult (*PFN_nvrtcGetBytes)(nvrtcProgram prog, char* out);    // GetPTX, GetCUBIN, GetProgramLog
typedef nvrtcResult (*PFN_nvrtcAddNameExpression)(nvrtcProgram prog, const char* nameExpression);
typedef nvrtcResult (*PFN_nvrtcGetLoweredName)(nvrtcProgram prog, const char* nameExpression, const char** lowered);
}  // extern "C"

// Run-time loading of libcuda and NVRTC (dlopen + dlsym). The candidate lists come from
// TypeScript (src/native.ts owns the search policy); this file only tries them in order and
// records, for every candidate that failed, the loader's own reason (dlerror text).
#pragma once
#include <string>
#include <vector>

#include "cuda_api.h"

namespace flexattn {

struct DriverApi {
  std::string path;
  PFN_cuInit cuInit;
  PFN_cuDriverGetVersion cuDriverGetVersion;
  PFN_cuGetErrorName cuGetErrorName;
  PFN_cuGetErrorString cuGetErrorString;
  PFN_cuDeviceGetCount cuDeviceGetCount;
  PFN_cuDeviceGet cuDeviceGet;
  PFN_cuDeviceGetName cuDeviceGetName;
  PFN_cuDeviceGetAttribute cuDeviceGetAttribute;
  PFN_cuDeviceTotalMem_v2 cuDeviceTotalMem;
  PFN_cuDevicePrimaryCtxRetain cuDevicePrimaryCtxRetain;
  PFN_cuCtxSetCurrent cuCtxSetCurrent;
  PFN_cuCtxSynchronize cuCtxSynchronize;
  PFN_cuMemAlloc_v2 cuMemAlloc;
  PFN_cuMemFree_v2 cuMemFree;
  PFN_cuMemGetInfo_v2 cuMemGetInfo;
  PFN_cuMemsetD8_v2 cuMemsetD8;
  PFN_cuMemsetD8Async cuMemsetD8Async;
  PFN_cuMemcpyHtoD_v2 cuMemcpyHtoD;
  PFN_cuMemcpyDtoH_v2 cuMemcpyDtoH;
  PFN_cuMemcpyDtoD_v2 cuMemcpyDtoD;
  PFN_cuMemcpyHtoDAsync_v2 cuMemcpyHtoDAsync;
  PFN_cuMemcpyDtoHAsync_v2 cuMemcpyDtoHAsync;
  PFN_cuMemcpyDtoDAsync_v2 cuMemcpyDtoDAsync;
  PFN_cuStreamCreate cuStreamCreate;
  PFN_cuStreamDestroy_v2 cuStreamDestroy;
  PFN_cuStreamSynchronize cuStreamSynchronize;
  PFN_cuEventCreate cuEventCreate;
  PFN_cuEventRecord cuEventRecord;
  PFN_cuEventSynchronize cuEventSynchronize;
  PFN_cuEventElapsedTime cuEventElapsedTime;
  PFN_cuEventDestroy_v2 cuEventDestroy;
  PFN_cuModuleLoadDataEx cuModuleLoadDataEx;
  PFN_cuModuleUnload cuModuleUnload;
  PFN_cuModuleGetFunction cuModuleGetFunction;
  PFN_cuFuncSetAttribute cuFuncSetAttribute;
  PFN_cuFuncGetAttribute cuFuncGetAttribute;
  PFN_cuFuncGetParamInfo cuFuncGetParamInfo;  // optional (CUDA >= 12.4): null when absent
  PFN_cuLaunchKernel cuLaunchKernel;
  PFN_cuTensorMapEncodeTiled cuTensorMapEncodeTiled;  // optional (CUDA >= 12.0): null when absent
};

struct NvrtcApi {
  std::string path;
  PFN_nvrtcGetErrorString nvrtcGetErrorString;
  PFN_nvrtcVersion nvrtcVersion;
  PFN_nvrtcCreateProgram nvrtcCreateProgram;
  PFN_nvrtcDestroyProgram nvrtcDestroyProgram;
  PFN_nvrtcCompileProgram nvrtcCompileProgram;
  PFN_nvrtcGetSize nvrtcGetProgramLogSize;
  PFN_nvrtcGetBytes nvrtcGetProgramLog;
  PFN_nvrtcGetSize nvrtcGetPTXSize;
  PFN_nvrtcGetBytes nvrtcGetPTX;
  PFN_nvrtcGetSize nvrtcGetCUBINSize;
  PFN_nvrtcGetBytes nvrtcGetCUBIN;
  PFN_nvrtcAddNameExpression nvrtcAddNameExpression;
  PFN_nvrtcGetLoweredName nvrtcGetLoweredName;
};

// Tries each candidate (a file path or a bare soname for the loader path) until one loads and
// has every required symbol. A success is permanent for the process (libraries are never
// unloaded); after a failure the next call tries again, so a fixed environment is picked up.
// `tried` receives "candidate: reason" for each failure, in order (kept from the last attempt).
const DriverApi* LoadDriver(const std::vector<std::string>& candidates, std::vector<std::string>* tried);
const NvrtcApi* LoadNvrtc(const std::vector<std::string>& candidates, std::vector<std::string>* tried);

// The loaded libraries, or null; never loads anything.
const DriverApi* Driver();
const NvrtcApi* Nvrtc();

}  // namespace flexattn

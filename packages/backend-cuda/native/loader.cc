// dlopen/dlsym of libcuda and NVRTC; see loader.h for the contract.
#include "loader.h"

#include <dlfcn.h>

#include <atomic>
#include <initializer_list>
#include <memory>
#include <mutex>

namespace flexattn {
namespace {

// One loaded copy per process, shared by every Node environment (worker threads included).
// Loading is serialized; readers on the hot path (every launch) take only an atomic load.
template <typename Api>
struct Slot {
  std::unique_ptr<Api> owned;
  std::atomic<const Api*> ready{nullptr};
  std::vector<std::string> tried;  // failures of the attempt that last ran
};
std::mutex g_mutex;
Slot<DriverApi> g_driver;
Slot<NvrtcApi> g_nvrtc;

// Resolves the first of `names` the library exports; records the miss otherwise.
struct SymbolResolver {
  void* handle;
  std::string missing;  // first required symbol not found, with dlerror text

  template <typename Fn>
  void Get(Fn* out, std::initializer_list<const char*> names, bool required = true) {
    *out = nullptr;
    for (const char* name : names) {
      dlerror();
      void* sym = dlsym(handle, name);
      if (sym != nullptr) {
        *out = reinterpret_cast<Fn>(sym);
        return;
      }
    }
    if (required && missing.empty()) {
      const char* err = dlerror();
      missing = std::string("missing symbol ") + *names.begin() + (err ? std::string(" (") + err + ")" : "");
    }
  }
};

void ResolveDriver(SymbolResolver& r, DriverApi& d) {
  r.Get(&d.cuInit, {"cuInit"});
  r.Get(&d.cuDriverGetVersion, {"cuDriverGetVersion"});
  r.Get(&d.cuGetErrorName, {"cuGetErrorName"});
  r.Get(&d.cuGetErrorString, {"cuGetErrorString"});
  r.Get(&d.cuDeviceGetCount, {"cuDeviceGetCount"});
  r.Get(&d.cuDeviceGet, {"cuDeviceGet"});
  r.Get(&d.cuDeviceGetName, {"cuDeviceGetName"});
  r.Get(&d.cuDeviceGetAttribute, {"cuDeviceGetAttribute"});
  r.Get(&d.cuDeviceTotalMem, {"cuDeviceTotalMem_v2"});
  r.Get(&d.cuDevicePrimaryCtxRetain, {"cuDevicePrimaryCtxRetain"});
  r.Get(&d.cuCtxSetCurrent, {"cuCtxSetCurrent"});
  r.Get(&d.cuCtxSynchronize, {"cuCtxSynchronize"});
  r.Get(&d.cuMemAlloc, {"cuMemAlloc_v2"});
  r.Get(&d.cuMemFree, {"cuMemFree_v2"});
  r.Get(&d.cuMemGetInfo, {"cuMemGetInfo_v2"});
  r.Get(&d.cuMemsetD8, {"cuMemsetD8_v2"});
  r.Get(&d.cuMemsetD8Async, {"cuMemsetD8Async"});
  r.Get(&d.cuMemcpyHtoD, {"cuMemcpyHtoD_v2"});
  r.Get(&d.cuMemcpyDtoH, {"cuMemcpyDtoH_v2"});
  r.Get(&d.cuMemcpyDtoD, {"cuMemcpyDtoD_v2"});
  r.Get(&d.cuMemcpyHtoDAsync, {"cuMemcpyHtoDAsync_v2"});
  r.Get(&d.cuMemcpyDtoHAsync, {"cuMemcpyDtoHAsync_v2"});
  r.Get(&d.cuMemcpyDtoDAsync, {"cuMemcpyDtoDAsync_v2"});
  r.Get(&d.cuStreamCreate, {"cuStreamCreate"});
  r.Get(&d.cuStreamDestroy, {"cuStreamDestroy_v2"});
  r.Get(&d.cuStreamSynchronize, {"cuStreamSynchronize"});
  r.Get(&d.cuEventCreate, {"cuEventCreate"});
  r.Get(&d.cuEventRecord, {"cuEventRecord"});
  r.Get(&d.cuEventSynchronize, {"cuEventSynchronize"});
  // CUDA 12.8+ headers map cuEventElapsedTime to _v2; older drivers export only the first.
  r.Get(&d.cuEventElapsedTime, {"cuEventElapsedTime_v2", "cuEventElapsedTime"});
  r.Get(&d.cuEventDestroy, {"cuEventDestroy_v2"});
  r.Get(&d.cuModuleLoadDataEx, {"cuModuleLoadDataEx"});
  r.Get(&d.cuModuleUnload, {"cuModuleUnload"});
  r.Get(&d.cuModuleGetFunction, {"cuModuleGetFunction"});
  r.Get(&d.cuFuncSetAttribute, {"cuFuncSetAttribute"});
  r.Get(&d.cuFuncGetAttribute, {"cuFuncGetAttribute"});
  r.Get(&d.cuFuncGetParamInfo, {"cuFuncGetParamInfo"}, /*required=*/false);
  r.Get(&d.cuLaunchKernel, {"cuLaunchKernel"});
  r.Get(&d.cuTensorMapEncodeTiled, {"cuTensorMapEncodeTiled"}, /*required=*/false);
}

void ResolveNvrtc(SymbolResolver& r, NvrtcApi& n) {
  r.Get(&n.nvrtcGetErrorString, {"nvrtcGetErrorString"});
  r.Get(&n.nvrtcVersion, {"nvrtcVersion"});
  r.Get(&n.nvrtcCreateProgram, {"nvrtcCreateProgram"});
  r.Get(&n.nvrtcDestroyProgram, {"nvrtcDestroyProgram"});
  r.Get(&n.nvrtcCompileProgram, {"nvrtcCompileProgram"});
  r.Get(&n.nvrtcGetProgramLogSize, {"nvrtcGetProgramLogSize"});
  r.Get(&n.nvrtcGetProgramLog, {"nvrtcGetProgramLog"});
  r.Get(&n.nvrtcGetPTXSize, {"nvrtcGetPTXSize"});
  r.Get(&n.nvrtcGetPTX, {"nvrtcGetPTX"});
  r.Get(&n.nvrtcGetCUBINSize, {"nvrtcGetCUBINSize"});  // NVRTC >= 11.1: needed for real-arch cubins
  r.Get(&n.nvrtcGetCUBIN, {"nvrtcGetCUBIN"});
  r.Get(&n.nvrtcAddNameExpression, {"nvrtcAddNameExpression"});
  r.Get(&n.nvrtcGetLoweredName, {"nvrtcGetLoweredName"});
}

template <typename Api, typename Resolve>
const Api* Load(Slot<Api>& slot, const std::vector<std::string>& candidates, std::vector<std::string>* tried,
                Resolve resolve) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (slot.owned) {
    *tried = slot.tried;  // loaded earlier: report the search that found it
    return slot.owned.get();
  }
  tried->clear();
  for (const std::string& candidate : candidates) {
    dlerror();
    // RTLD_LOCAL: our symbols must not interpose on a libcuda another addon loaded differently.
    void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      std::string reason = err ? err : "dlopen failed";
      // glibc's text usually starts with the name already: "libx.so: cannot open shared object file..."
      tried->push_back(reason.rfind(candidate + ":", 0) == 0 ? reason : candidate + ": " + reason);
      continue;
    }
    auto api = std::make_unique<Api>();
    SymbolResolver resolver{handle, {}};
    resolve(resolver, *api);
    if (!resolver.missing.empty()) {
      tried->push_back(candidate + ": loaded, but " + resolver.missing + " (too old?)");
      dlclose(handle);
      continue;
    }
    api->path = candidate;
    slot.owned = std::move(api);  // the handle stays open for the life of the process
    slot.tried = *tried;
    slot.ready.store(slot.owned.get(), std::memory_order_release);
    return slot.owned.get();
  }
  slot.tried = *tried;
  return nullptr;
}

}  // namespace

const DriverApi* LoadDriver(const std::vector<std::string>& candidates, std::vector<std::string>* tried) {
  return Load(g_driver, candidates, tried, ResolveDriver);
}

const NvrtcApi* LoadNvrtc(const std::vector<std::string>& candidates, std::vector<std::string>* tried) {
  return Load(g_nvrtc, candidates, tried, ResolveNvrtc);
}

const DriverApi* Driver() { return g_driver.ready.load(std::memory_order_acquire); }

const NvrtcApi* Nvrtc() { return g_nvrtc.ready.load(std::memory_order_acquire); }

}  // namespace flexattn

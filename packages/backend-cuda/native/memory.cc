// Device memory: alloc/free, memset, copies between device memory and JS host memory.
//
// Host memory here is ordinary pageable JS memory. The driver's documented pageable semantics
// make the *Async copies safe without pinning or keeping the view alive: HtoD returns once the
// source has been staged, DtoH returns once the data has landed. They are still ordered on the
// stream, which is what the backend needs.
#include "util.h"

namespace flexattn {
namespace {

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  CUdeviceptr ptr = 0;
  Check(env, "cuMemAlloc_v2", d.cuMemAlloc(&ptr, ToU64(info[0], "bytes")));
  return FromU64(env, ptr);
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, "cuMemFree_v2", RequireContext(env).cuMemFree(ToU64(info[0], "device pointer")));
  return env.Undefined();
}

// memsetD8(ptr, value, bytes, stream?)
Napi::Value MemsetD8(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  CUdeviceptr ptr = ToU64(info[0], "device pointer");
  uint32_t value = ToU32(info[1], "byte value");
  if (value > 255) throw Napi::RangeError::New(env, "memsetD8 value must be 0..255");
  size_t bytes = ToU64(info[2], "bytes");
  if (HasStream(info, 3)) {
    Check(env, "cuMemsetD8Async", d.cuMemsetD8Async(ptr, static_cast<unsigned char>(value), bytes,
                                                    ToHandle<CUstream>(info[3], "stream")));
  } else {
    Check(env, "cuMemsetD8_v2", d.cuMemsetD8(ptr, static_cast<unsigned char>(value), bytes));
  }
  return env.Undefined();
}

// copyHtoD(dstPtr, srcView, stream?): copies srcView.byteLength bytes.
Napi::Value CopyHtoD(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  CUdeviceptr dst = ToU64(info[0], "device pointer");
  HostBytes src = ToHostBytes(info[1], "source");
  if (HasStream(info, 2)) {
    Check(env, "cuMemcpyHtoDAsync_v2", d.cuMemcpyHtoDAsync(dst, src.data, src.size, ToHandle<CUstream>(info[2], "stream")));
  } else {
    Check(env, "cuMemcpyHtoD_v2", d.cuMemcpyHtoD(dst, src.data, src.size));
  }
  return env.Undefined();
}

// copyDtoH(srcPtr, dstView, stream?): fills dstView.byteLength bytes.
Napi::Value CopyDtoH(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  CUdeviceptr src = ToU64(info[0], "device pointer");
  HostBytes dst = ToHostBytes(info[1], "destination");
  if (HasStream(info, 2)) {
    Check(env, "cuMemcpyDtoHAsync_v2", d.cuMemcpyDtoHAsync(dst.data, src, dst.size, ToHandle<CUstream>(info[2], "stream")));
  } else {
    Check(env, "cuMemcpyDtoH_v2", d.cuMemcpyDtoH(dst.data, src, dst.size));
  }
  return env.Undefined();
}

// copyDtoD(dstPtr, srcPtr, bytes, stream?)
Napi::Value CopyDtoD(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  CUdeviceptr dst = ToU64(info[0], "destination pointer");
  CUdeviceptr src = ToU64(info[1], "source pointer");
  size_t bytes = ToU64(info[2], "bytes");
  if (HasStream(info, 3)) {
    Check(env, "cuMemcpyDtoDAsync_v2", d.cuMemcpyDtoDAsync(dst, src, bytes, ToHandle<CUstream>(info[3], "stream")));
  } else {
    Check(env, "cuMemcpyDtoD_v2", d.cuMemcpyDtoD(dst, src, bytes));
  }
  return env.Undefined();
}

}  // namespace

void RegisterMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("memsetD8", Napi::Function::New(env, MemsetD8, "memsetD8"));
  exports.Set("copyHtoD", Napi::Function::New(env, CopyHtoD, "copyHtoD"));
  exports.Set("copyDtoH", Napi::Function::New(env, CopyDtoH, "copyDtoH"));
  exports.Set("copyDtoD", Napi::Function::New(env, CopyDtoD, "copyDtoD"));
}

}  // namespace flexattn

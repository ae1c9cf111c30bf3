#include "util.h"

#include <cmath>
#include <string>

namespace flexattn {
namespace {
thread_local CUcontext t_context = nullptr;  // driver contexts are per-thread; so is JS
}

std::string CudaErrorMessage(const char* call, CUresult result, std::string* codeName) {
  const DriverApi* d = Driver();
  const char* name = nullptr;
  const char* text = nullptr;
  if (d != nullptr) {
    if (d->cuGetErrorName(result, &name) != CUDA_SUCCESS) name = nullptr;
    if (d->cuGetErrorString(result, &text) != CUDA_SUCCESS) text = nullptr;
  }
  std::string code = name ? name : "CUDA_ERROR_" + std::to_string(result);
  if (codeName != nullptr) *codeName = code;
  return std::string(call) + " failed: " + code + (text ? std::string(" (") + text + ")" : "");
}

void ThrowCuda(Napi::Env env, const char* call, CUresult result) {
  std::string codeName;
  Napi::Error error = Napi::Error::New(env, CudaErrorMessage(call, result, &codeName));
  error.Set("call", Napi::String::New(env, call));
  error.Set("code", Napi::Number::New(env, result));
  error.Set("codeName", Napi::String::New(env, codeName));
  throw error;
}

const DriverApi& RequireDriver(Napi::Env env) {
  const DriverApi* d = Driver();
  if (d == nullptr) throw Napi::Error::New(env, "libcuda is not loaded: call probe() first and check driverLoaded");
  return *d;
}

const DriverApi& RequireContext(Napi::Env env) {
  const DriverApi& d = RequireDriver(env);
  if (t_context == nullptr) throw Napi::Error::New(env, "no CUDA context on this thread: call init(device) first");
  return d;
}

void SetThreadContext(CUcontext ctx) { t_context = ctx; }

uint64_t ToU64(const Napi::Value& value, const char* what) {
  if (value.IsBigInt()) {
    bool lossless = false;
    uint64_t v = value.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(value.Env(), std::string(what) + " does not fit in 64 unsigned bits");
    return v;
  }
  if (value.IsNumber()) {
    double v = value.As<Napi::Number>().DoubleValue();
    if (v >= 0 && std::floor(v) == v && v <= 9007199254740991.0) return static_cast<uint64_t>(v);
  }
  throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a bigint or a non-negative integer");
}

uint32_t ToU32(const Napi::Value& value, const char* what) {
  uint64_t v = ToU64(value, what);
  if (v > 0xffffffffull) throw Napi::RangeError::New(value.Env(), std::string(what) + " does not fit in 32 bits");
  return static_cast<uint32_t>(v);
}

HostBytes ToHostBytes(const Napi::Value& value, const char* what) {
  napi_env env = value.Env();
  void* data = nullptr;
  if (value.IsTypedArray()) {
    // The C API returns the data pointer already advanced by the view's byteOffset.
    napi_typedarray_type type;
    size_t length = 0;
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr),
                         HostBytes{});
    return {data, value.As<Napi::TypedArray>().ByteLength()};
  }
  if (value.IsDataView()) {
    size_t length = 0;
    NAPI_THROW_IF_FAILED(env, napi_get_dataview_info(env, value, &length, &data, nullptr, nullptr), HostBytes{});
    return {data, length};
  }
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
    return {buffer.Data(), buffer.ByteLength()};
  }
  throw Napi::TypeError::New(env, std::string(what) + " must be an ArrayBuffer, a TypedArray or a DataView");
}

}  // namespace flexattn

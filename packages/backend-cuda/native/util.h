// Shared glue between JS values and the driver: handle conversion and CUresult -> JS error.
// Handles (device pointers, streams, events, modules, functions) cross into JS as BigInt so that
// TypeScript can do pointer arithmetic exactly and never confuses them with sizes.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "loader.h"

namespace flexattn {

// "<call> failed: CUDA_ERROR_X (text)", from cuGetErrorName / cuGetErrorString.
std::string CudaErrorMessage(const char* call, CUresult result, std::string* codeName = nullptr);
// Throws a JS Error "<call> failed: CUDA_ERROR_X (text)" carrying {call, code, codeName}.
[[noreturn]] void ThrowCuda(Napi::Env env, const char* call, CUresult result);

inline void Check(Napi::Env env, const char* call, CUresult result) {
  if (result != CUDA_SUCCESS) ThrowCuda(env, call, result);
}

// The driver, or a JS error telling the caller to probe() first.
const DriverApi& RequireDriver(Napi::Env env);
// The driver, after init() made a context current on this thread; a JS error otherwise.
const DriverApi& RequireContext(Napi::Env env);
// Set by init(): the primary context current on this (JS) thread.
void SetThreadContext(CUcontext ctx);

uint64_t ToU64(const Napi::Value& value, const char* what);  // BigInt, or a non-negative integer Number
uint32_t ToU32(const Napi::Value& value, const char* what);
inline Napi::BigInt FromU64(Napi::Env env, uint64_t value) { return Napi::BigInt::New(env, value); }

template <typename Handle>
Handle ToHandle(const Napi::Value& value, const char* what) {
  return reinterpret_cast<Handle>(static_cast<uintptr_t>(ToU64(value, what)));
}
template <typename Handle>
Napi::BigInt FromHandle(Napi::Env env, Handle handle) {
  return FromU64(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(handle)));
}
// An optional stream argument: undefined means "synchronous call", 0n the legacy default stream.
inline bool HasStream(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && !info[index].IsUndefined();
}

// Host memory behind an ArrayBuffer, a TypedArray (Buffer included) or a DataView.
struct HostBytes {
  void* data;
  size_t size;
};
HostBytes ToHostBytes(const Napi::Value& value, const char* what);

void RegisterDevice(Napi::Env env, Napi::Object exports);
void RegisterMemory(Napi::Env env, Napi::Object exports);
void RegisterStreams(Napi::Env env, Napi::Object exports);
void RegisterModules(Napi::Env env, Napi::Object exports);
void RegisterCompile(Napi::Env env, Napi::Object exports);

}  // namespace flexattn

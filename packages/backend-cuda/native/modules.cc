// Modules (cubin / PTX images), kernel functions, their attributes, and cuLaunchKernel.
#include <cstring>
#include <string>
#include <vector>

#include "util.h"

namespace flexattn {
namespace {

bool IsBinaryImage(const HostBytes& image) {
  const unsigned char* p = static_cast<const unsigned char*>(image.data);
  if (image.size < 4) return false;
  static const unsigned char kElf[4] = {0x7f, 'E', 'L', 'F'};         // a cubin
  static const unsigned char kFatbin[4] = {0x50, 0xed, 0x55, 0xba};   // fatbin magic 0xBA55ED50, LE
  return std::memcmp(p, kElf, 4) == 0 || std::memcmp(p, kFatbin, 4) == 0;
}

// moduleLoad(image): a cubin, a fatbin or PTX text. Failures carry the driver's JIT error log
// (PTX from a newer NVRTC than the driver fails here: compile for a real sm_XX arch instead).
Napi::Value ModuleLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  HostBytes image = ToHostBytes(info[0], "module image");
  std::string text;  // PTX must be NUL-terminated; JS buffers usually are not
  const void* data = image.data;
  if (!IsBinaryImage(image)) {
    text.assign(static_cast<const char*>(image.data), image.size);
    data = text.c_str();
  }
  std::vector<char> log(16384, '\0');
  CUjit_option options[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void* values[2] = {log.data(), reinterpret_cast<void*>(static_cast<uintptr_t>(log.size() - 1))};
  CUmodule module = nullptr;
  CUresult r = d.cuModuleLoadDataEx(&module, data, 2, options, values);
  if (r != CUDA_SUCCESS) {
    std::string codeName;
    std::string jitLog(log.data());
    Napi::Error error = Napi::Error::New(env, CudaErrorMessage("cuModuleLoadDataEx", r, &codeName) +
                                                   (jitLog.empty() ? "" : "\n" + jitLog));
    error.Set("call", "cuModuleLoadDataEx");
    error.Set("code", Napi::Number::New(env, r));
    error.Set("codeName", codeName);
    error.Set("log", jitLog);
    throw error;
  }
  return FromHandle(env, module);
}

Napi::Value ModuleUnload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, "cuModuleUnload", RequireContext(env).cuModuleUnload(ToHandle<CUmodule>(info[0], "module")));
  return env.Undefined();
}

// moduleGetFunction(module, name): name is the (lowered) symbol, e.g. an extern "C" kernel's name.
Napi::Value ModuleGetFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[1].ToString().Utf8Value();
  CUfunction fn = nullptr;
  CUresult r = RequireContext(env).cuModuleGetFunction(&fn, ToHandle<CUmodule>(info[0], "module"), name.c_str());
  if (r != CUDA_SUCCESS) ThrowCuda(env, ("cuModuleGetFunction(\"" + name + "\")").c_str(), r);
  return FromHandle(env, fn);
}

// funcSetAttribute(fn, attribute, value): e.g. CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES (8).
Napi::Value FuncSetAttribute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, "cuFuncSetAttribute",
        RequireContext(env).cuFuncSetAttribute(ToHandle<CUfunction>(info[0], "function"),
                                               static_cast<int>(ToU32(info[1], "attribute")),
                                               info[2].ToNumber().Int32Value()));  // carveout may be -1
  return env.Undefined();
}

Napi::Value FuncGetAttribute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int value = 0;
  Check(env, "cuFuncGetAttribute",
        RequireContext(env).cuFuncGetAttribute(&value, static_cast<int>(ToU32(info[1], "attribute")),
                                               ToHandle<CUfunction>(info[0], "function")));
  return Napi::Number::New(env, value);
}

// funcGetParamInfo(fn) -> [{offset, size}] per kernel parameter, or null when the driver is
// older than CUDA 12.4. Lets TypeScript check its argument packing once per kernel.
Napi::Value FuncGetParamInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  if (d.cuFuncGetParamInfo == nullptr) return env.Null();
  CUfunction fn = ToHandle<CUfunction>(info[0], "function");
  Napi::Array params = Napi::Array::New(env);
  for (size_t i = 0; i < 4096; i++) {
    size_t offset = 0, size = 0;
    // Past the last parameter the driver answers CUDA_ERROR_INVALID_VALUE: that ends the list.
    if (d.cuFuncGetParamInfo(fn, i, &offset, &size) != CUDA_SUCCESS) break;
    Napi::Object p = Napi::Object::New(env);
    p.Set("offset", static_cast<double>(offset));
    p.Set("size", static_cast<double>(size));
    params.Set(static_cast<uint32_t>(i), p);
  }
  return params;
}

void Dim3(const Napi::Value& value, const char* what, unsigned int out[3]) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be [x, y, z]");
  Napi::Array a = value.As<Napi::Array>();
  for (uint32_t i = 0; i < 3; i++) out[i] = i < a.Length() ? ToU32(a.Get(i), what) : 1;
}

// launch(fn, grid[3], block[3], sharedBytes, stream, args): each element of args holds one kernel
// parameter's raw bytes, in order; cuLaunchKernel copies them before returning, so the JS
// buffers need not outlive the call. Errors here are launch errors (bad config, too much shared
// memory); faults inside the kernel surface at the next synchronize.
Napi::Value Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  CUfunction fn = ToHandle<CUfunction>(info[0], "function");
  unsigned int grid[3], block[3];
  Dim3(info[1], "grid", grid);
  Dim3(info[2], "block", block);
  uint32_t shared = ToU32(info[3], "sharedBytes");
  CUstream stream = HasStream(info, 4) ? ToHandle<CUstream>(info[4], "stream") : nullptr;
  if (!info[5].IsArray()) throw Napi::TypeError::New(env, "args must be an array of ArrayBuffers");
  Napi::Array args = info[5].As<Napi::Array>();
  std::vector<void*> params(args.Length());
  for (uint32_t i = 0; i < args.Length(); i++) params[i] = ToHostBytes(args.Get(i), "kernel argument").data;
  Check(env, "cuLaunchKernel",
        d.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared, stream,
                         params.empty() ? nullptr : params.data(), nullptr));
  return env.Undefined();
}

// tensorMapEncodeTiled(dataType, address, dims[], strides[], box[], swizzle): a CUtensorMap for
// TMA copies (kernels/tma.cuh) as 128 bytes, passed to launch() as a kernel parameter. dims and box
// innermost first; strides: bytes of dims 1..rank-1; element strides 1, no interleave, L2
// promotion 256 B, zero fill outside the tensor. Enum values are cuda.h's.
Napi::Value TensorMapEncodeTiled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  if (d.cuTensorMapEncodeTiled == nullptr) {
    throw Napi::Error::New(env, "cuTensorMapEncodeTiled is missing from this driver (CUDA 12.0 or newer is needed)");
  }
  const int dataType = static_cast<int>(ToU32(info[0], "dataType"));
  void* address = reinterpret_cast<void*>(static_cast<uintptr_t>(ToU64(info[1], "address")));
  auto list = [&](const Napi::Value& v, const char* what) {
    if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array");
    Napi::Array a = v.As<Napi::Array>();
    std::vector<unsigned long long> out(a.Length());
    for (uint32_t i = 0; i < a.Length(); i++) out[i] = ToU64(a.Get(i), what);
    return out;
  };
  const std::vector<unsigned long long> dims = list(info[2], "dims"), strides = list(info[3], "strides");
  const std::vector<unsigned long long> box64 = list(info[4], "box");
  const int swizzle = static_cast<int>(ToU32(info[5], "swizzle"));
  const size_t rank = dims.size();
  if (rank < 1 || rank > 5 || strides.size() + 1 != rank || box64.size() != rank) {
    throw Napi::RangeError::New(env, "tensorMapEncodeTiled: rank 1..5 dims, rank-1 strides, rank box sizes");
  }
  std::vector<unsigned int> box(rank), elementStrides(rank, 1);
  for (size_t i = 0; i < rank; i++) box[i] = static_cast<unsigned int>(box64[i]);
  CUtensorMap map;
  constexpr int kInterleaveNone = 0, kL2Promotion256B = 3, kOobFillZero = 0;
  Check(env, "cuTensorMapEncodeTiled",
        d.cuTensorMapEncodeTiled(&map, dataType, static_cast<unsigned int>(rank), address, dims.data(),
                                 strides.data(), box.data(), elementStrides.data(), kInterleaveNone, swizzle,
                                 kL2Promotion256B, kOobFillZero));
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, sizeof(map));
  std::memcpy(out.Data(), &map, sizeof(map));
  return out;
}

}  // namespace

void RegisterModules(Napi::Env env, Napi::Object exports) {
  exports.Set("moduleLoad", Napi::Function::New(env, ModuleLoad, "moduleLoad"));
  exports.Set("moduleUnload", Napi::Function::New(env, ModuleUnload, "moduleUnload"));
  exports.Set("moduleGetFunction", Napi::Function::New(env, ModuleGetFunction, "moduleGetFunction"));
  exports.Set("funcSetAttribute", Napi::Function::New(env, FuncSetAttribute, "funcSetAttribute"));
  exports.Set("funcGetAttribute", Napi::Function::New(env, FuncGetAttribute, "funcGetAttribute"));
  exports.Set("funcGetParamInfo", Napi::Function::New(env, FuncGetParamInfo, "funcGetParamInfo"));
  exports.Set("launch", Napi::Function::New(env, Launch, "launch"));
  exports.Set("tensorMapEncodeTiled", Napi::Function::New(env, TensorMapEncodeTiled, "tensorMapEncodeTiled"));
}

}  // namespace flexattn

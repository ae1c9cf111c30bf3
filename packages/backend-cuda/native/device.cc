// probe() (what is installed, never throws for a missing library), init(), device queries.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "util.h"

namespace flexattn {
namespace {

std::vector<std::string> ToStrings(const Napi::Value& value, std::vector<std::string> fallback) {
  if (!value.IsArray()) return fallback;
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < array.Length(); i++) out.push_back(array.Get(i).ToString().Utf8Value());
  return out;
}

Napi::Array ToArray(Napi::Env env, const std::vector<std::string>& items) {
  Napi::Array array = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); i++) array.Set(static_cast<uint32_t>(i), items[i]);
  return array;
}

// Probe errors are data, not exceptions: the TypeScript loader turns them into one explanation.
Napi::Value DescribeDevices(Napi::Env env, const DriverApi& d, std::string* error) {
  Napi::Array devices = Napi::Array::New(env);
  int count = 0;
  CUresult r = d.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS) {
    *error = CudaErrorMessage("cuDeviceGetCount", r);
    return devices;
  }
  for (int i = 0; i < count; i++) {
    CUdevice dev = 0;
    char name[256] = {0};
    int major = 0, minor = 0, sms = 0;
    size_t total = 0;
    const char* call = "cuDeviceGet";
    if ((r = d.cuDeviceGet(&dev, i)) == CUDA_SUCCESS && (call = "cuDeviceGetName") &&
        (r = d.cuDeviceGetName(name, sizeof(name) - 1, dev)) == CUDA_SUCCESS && (call = "cuDeviceGetAttribute") &&
        (r = d.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev)) == CUDA_SUCCESS &&
        (r = d.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev)) == CUDA_SUCCESS &&
        (r = d.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev)) == CUDA_SUCCESS &&
        (call = "cuDeviceTotalMem_v2") && (r = d.cuDeviceTotalMem(&total, dev)) == CUDA_SUCCESS) {
      Napi::Object info = Napi::Object::New(env);
      info.Set("ordinal", i);
      info.Set("name", name);
      Napi::Array cc = Napi::Array::New(env, 2);
      cc.Set(0u, major);
      cc.Set(1u, minor);
      info.Set("computeCapability", cc);
      info.Set("totalMem", static_cast<double>(total));  // exact below 2^53 bytes
      info.Set("smCount", sms);
      devices.Set(devices.Length(), info);
    } else {
      *error = CudaErrorMessage(call, r) + " for device " + std::to_string(i);
    }
  }
  return devices;
}

// probe(driverCandidates?: string[], nvrtcCandidates?: string[])
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> driverTried, nvrtcTried;
  const DriverApi* d = LoadDriver(ToStrings(info[0], {"libcuda.so.1"}), &driverTried);
  const NvrtcApi* n = LoadNvrtc(
      ToStrings(info[1], {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"}), &nvrtcTried);

  Napi::Object out = Napi::Object::New(env);
  out.Set("driverLoaded", d != nullptr);
  out.Set("driverPath", d ? Napi::Value(Napi::String::New(env, d->path)) : env.Null());
  out.Set("driverTried", ToArray(env, driverTried));
  out.Set("nvrtcLoaded", n != nullptr);
  out.Set("nvrtcPath", n ? Napi::Value(Napi::String::New(env, n->path)) : env.Null());
  out.Set("nvrtcTried", ToArray(env, nvrtcTried));
  std::vector<std::string> all;
  for (const auto& t : driverTried) all.push_back("libcuda: " + t);
  for (const auto& t : nvrtcTried) all.push_back("nvrtc: " + t);
  out.Set("tried", ToArray(env, all));

  out.Set("nvrtcVersion", env.Null());
  if (n != nullptr) {
    int major = 0, minor = 0;
    if (n->nvrtcVersion(&major, &minor) == NVRTC_SUCCESS) {
      Napi::Array v = Napi::Array::New(env, 2);
      v.Set(0u, major);
      v.Set(1u, minor);
      out.Set("nvrtcVersion", v);
    }
  }
  out.Set("driverVersion", 0);
  out.Set("initError", env.Null());
  out.Set("devices", Napi::Array::New(env));
  if (d == nullptr) return out;

  int version = 0;
  if (d->cuDriverGetVersion(&version) == CUDA_SUCCESS) out.Set("driverVersion", version);  // e.g. 13000
  std::string error;
  // cuInit fails with CUDA_ERROR_NO_DEVICE without a GPU, CUDA_ERROR_STUB_LIBRARY for the
  // toolkit's stub libcuda: both are reported, not thrown.
  CUresult r = d->cuInit(0);
  if (r != CUDA_SUCCESS) {
    error = CudaErrorMessage("cuInit", r);
  } else {
    out.Set("devices", DescribeDevices(env, *d, &error));
  }
  if (!error.empty()) out.Set("initError", error);
  return out;
}

// init(ordinal): retain the device's primary context (shared with the CUDA runtime, so
// PyTorch-style interop sees the same memory) and make it current on this thread.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireDriver(env);
  int ordinal = static_cast<int>(ToU32(info[0], "device ordinal"));
  static std::mutex mutex;
  static std::map<int, CUcontext> retained;  // retain once per device per process
  Check(env, "cuInit", d.cuInit(0));
  CUcontext ctx = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = retained.find(ordinal);
    if (it == retained.end()) {
      CUdevice dev = 0;
      Check(env, "cuDeviceGet", d.cuDeviceGet(&dev, ordinal));
      Check(env, "cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain(&ctx, dev));
      retained[ordinal] = ctx;
    } else {
      ctx = it->second;
    }
  }
  Check(env, "cuCtxSetCurrent", d.cuCtxSetCurrent(ctx));
  SetThreadContext(ctx);
  return env.Undefined();
}

// deviceGetAttribute(ordinal, attribute): raw CUdevice_attribute values; names live in TS.
Napi::Value DeviceGetAttribute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireDriver(env);
  CUdevice dev = 0;
  int value = 0;
  Check(env, "cuDeviceGet", d.cuDeviceGet(&dev, static_cast<int>(ToU32(info[0], "device ordinal"))));
  Check(env, "cuDeviceGetAttribute", d.cuDeviceGetAttribute(&value, static_cast<int>(ToU32(info[1], "attribute")), dev));
  return Napi::Number::New(env, value);
}

Napi::Value MemGetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DriverApi& d = RequireContext(env);
  size_t free = 0, total = 0;
  Check(env, "cuMemGetInfo_v2", d.cuMemGetInfo(&free, &total));
  Napi::Object out = Napi::Object::New(env);
  out.Set("free", static_cast<double>(free));
  out.Set("total", static_cast<double>(total));
  return out;
}

// synchronize(): waits for all work in the context; where asynchronous kernel faults surface.
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, "cuCtxSynchronize", RequireContext(env).cuCtxSynchronize());
  return env.Undefined();
}

}  // namespace

void RegisterDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("deviceGetAttribute", Napi::Function::New(env, DeviceGetAttribute, "deviceGetAttribute"));
  exports.Set("memGetInfo", Napi::Function::New(env, MemGetInfo, "memGetInfo"));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
}

}  // namespace flexattn

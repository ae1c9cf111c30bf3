// Entry point of flexattn_cuda.node: a thin, policy-free binding over the CUDA driver API and
// NVRTC, both dlopen'ed at run time (see loader.h). src/native.ts is its only intended caller.
#include "util.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  flexattn::RegisterDevice(env, exports);
  flexattn::RegisterMemory(env, exports);
  flexattn::RegisterStreams(env, exports);
  flexattn::RegisterModules(env, exports);
  flexattn::RegisterCompile(env, exports);
  exports.Set("abiVersion", 2);  // bumped when this surface changes; native.ts checks it
  return exports;
}

}  // namespace

NODE_API_MODULE(flexattn_cuda, Init)

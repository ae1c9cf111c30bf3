// Streams and events. Flags are the raw CU_STREAM_* / CU_EVENT_* bits; TypeScript names them.
#include "util.h"

namespace flexattn {
namespace {

uint32_t FlagsArg(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && !info[index].IsUndefined() ? ToU32(info[index], "flags") : 0;
}

Napi::Value StreamCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CUstream stream = nullptr;
  Check(env, "cuStreamCreate", RequireContext(env).cuStreamCreate(&stream, FlagsArg(info, 0)));
  return FromHandle(env, stream);
}

Napi::Value StreamDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, "cuStreamDestroy_v2", RequireContext(env).cuStreamDestroy(ToHandle<CUstream>(info[0], "stream")));
  return env.Undefined();
}

Napi::Value StreamSynchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, "cuStreamSynchronize", RequireContext(env).cuStreamSynchronize(ToHandle<CUstream>(info[0], "stream")));
  return env.Undefined();
}

Napi::Value EventCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CUevent event = nullptr;
  Check(env, "cuEventCreate", RequireContext(env).cuEventCreate(&event, FlagsArg(info, 0)));
  return FromHandle(env, event);
}

// eventRecord(event, stream?): stream defaults to the legacy default stream (0).
Napi::Value EventRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CUstream stream = HasStream(info, 1) ? ToHandle<CUstream>(info[1], "stream") : nullptr;
  Check(env, "cuEventRecord", RequireContext(env).cuEventRecord(ToHandle<CUevent>(info[0], "event"), stream));
  return env.Undefined();
}

Napi::Value EventSynchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, "cuEventSynchronize", RequireContext(env).cuEventSynchronize(ToHandle<CUevent>(info[0], "event")));
  return env.Undefined();
}

// eventElapsedTime(start, end) -> milliseconds
Napi::Value EventElapsedTime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float ms = 0;
  Check(env, "cuEventElapsedTime", RequireContext(env).cuEventElapsedTime(&ms, ToHandle<CUevent>(info[0], "start event"),
                                                                          ToHandle<CUevent>(info[1], "end event")));
  return Napi::Number::New(env, ms);
}

Napi::Value EventDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, "cuEventDestroy_v2", RequireContext(env).cuEventDestroy(ToHandle<CUevent>(info[0], "event")));
  return env.Undefined();
}

}  // namespace

void RegisterStreams(Napi::Env env, Napi::Object exports) {
  exports.Set("streamCreate", Napi::Function::New(env, StreamCreate, "streamCreate"));
  exports.Set("streamDestroy", Napi::Function::New(env, StreamDestroy, "streamDestroy"));
  exports.Set("streamSynchronize", Napi::Function::New(env, StreamSynchronize, "streamSynchronize"));
  exports.Set("eventCreate", Napi::Function::New(env, EventCreate, "eventCreate"));
  exports.Set("eventRecord", Napi::Function::New(env, EventRecord, "eventRecord"));
  exports.Set("eventSynchronize", Napi::Function::New(env, EventSynchronize, "eventSynchronize"));
  exports.Set("eventElapsedTime", Napi::Function::New(env, EventElapsedTime, "eventElapsedTime"));
  exports.Set("eventDestroy", Napi::Function::New(env, EventDestroy, "eventDestroy"));
}

}  // namespace flexattn

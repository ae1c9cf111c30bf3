// NVRTC compilation on a libuv worker thread (a large kernel takes seconds to compile; the event
// loop must keep running). Returns a Promise; rejections carry the full compiler log.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util.h"

namespace flexattn {
namespace {

// NVRTC emits a cubin only for a real architecture (sm_XX, sm_90a); for compute_XX (or no arch)
// it emits PTX, which the driver JIT-compiles at moduleLoad.
bool TargetsRealArch(const std::vector<std::string>& options) {
  bool real = false;
  for (size_t i = 0; i < options.size(); i++) {
    const std::string& o = options[i];
    std::string arch;
    for (const char* flag : {"-arch", "--gpu-architecture"}) {
      std::string f(flag);
      if (o == f && i + 1 < options.size()) arch = options[i + 1];
      else if (o.rfind(f + "=", 0) == 0) arch = o.substr(f.size() + 1);
    }
    if (!arch.empty()) real = arch.rfind("sm_", 0) == 0;
  }
  return real;
}

class CompileWorker : public Napi::AsyncWorker {
 public:
  CompileWorker(Napi::Env env, const NvrtcApi& nvrtc, std::string source, std::string name,
                std::vector<std::string> options, std::vector<std::string> headerNames,
                std::vector<std::string> headerSources, std::vector<std::string> nameExpressions)
      : Napi::AsyncWorker(env, "flexattn:nvrtcCompile"),
        deferred_(Napi::Promise::Deferred::New(env)),
        nvrtc_(nvrtc),
        source_(std::move(source)),
        name_(std::move(name)),
        options_(std::move(options)),
        headerNames_(std::move(headerNames)),
        headerSources_(std::move(headerSources)),
        nameExpressions_(std::move(nameExpressions)),
        cubin_(TargetsRealArch(options_)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  // Runs off the JS thread: touches only the strings copied in the constructor.
  void Execute() override {
    nvrtcProgram prog = nullptr;
    std::vector<const char*> hSrc, hNames, opts;
    for (const auto& h : headerSources_) hSrc.push_back(h.c_str());
    for (const auto& h : headerNames_) hNames.push_back(h.c_str());
    for (const auto& o : options_) opts.push_back(o.c_str());
    if (!Ok("nvrtcCreateProgram",
            nvrtc_.nvrtcCreateProgram(&prog, source_.c_str(), name_.c_str(), static_cast<int>(hSrc.size()),
                                      hSrc.data(), hNames.data())))
      return;
    std::unique_ptr<nvrtcProgram, void (*)(nvrtcProgram*)> guard(&prog, [](nvrtcProgram* p) {
      if (const NvrtcApi* n = Nvrtc()) n->nvrtcDestroyProgram(p);
    });
    for (const auto& e : nameExpressions_)
      if (!Ok("nvrtcAddNameExpression", nvrtc_.nvrtcAddNameExpression(prog, e.c_str()))) return;
    nvrtcResult compiled = nvrtc_.nvrtcCompileProgram(prog, static_cast<int>(opts.size()), opts.data());
    size_t logSize = 0;
    if (nvrtc_.nvrtcGetProgramLogSize(prog, &logSize) == NVRTC_SUCCESS && logSize > 1) {
      std::vector<char> log(logSize);
      if (nvrtc_.nvrtcGetProgramLog(prog, log.data()) == NVRTC_SUCCESS) log_.assign(log.data());
    }
    if (!Ok("nvrtcCompileProgram", compiled)) return;
    size_t size = 0;
    auto getSize = cubin_ ? nvrtc_.nvrtcGetCUBINSize : nvrtc_.nvrtcGetPTXSize;
    auto getBytes = cubin_ ? nvrtc_.nvrtcGetCUBIN : nvrtc_.nvrtcGetPTX;
    if (!Ok(cubin_ ? "nvrtcGetCUBINSize" : "nvrtcGetPTXSize", getSize(prog, &size))) return;
    image_.resize(size);
    if (!Ok(cubin_ ? "nvrtcGetCUBIN" : "nvrtcGetPTX", getBytes(prog, image_.data()))) return;
    for (const auto& e : nameExpressions_) {
      const char* lowered = nullptr;
      if (!Ok("nvrtcGetLoweredName", nvrtc_.nvrtcGetLoweredName(prog, e.c_str(), &lowered))) return;
      lowered_[e] = lowered;  // owned by prog: copy before the guard destroys it
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!error_.empty()) {
      Napi::Error error = Napi::Error::New(env, error_ + (log_.empty() ? "" : "\n" + log_));
      error.Set("log", log_);
      error.Set("name", "CompileError");
      error.Set("kernelName", name_);
      deferred_.Reject(error.Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("cubin", Napi::Buffer<char>::Copy(env, image_.data(), image_.size()));
    out.Set("format", cubin_ ? "cubin" : "ptx");
    out.Set("log", log_);
    Napi::Object lowered = Napi::Object::New(env);
    for (const auto& kv : lowered_) lowered.Set(kv.first, kv.second);
    out.Set("loweredNames", lowered);
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  bool Ok(const char* call, nvrtcResult r) {
    if (r == NVRTC_SUCCESS) return true;
    const char* text = nvrtc_.nvrtcGetErrorString(r);
    error_ = std::string(call) + " failed for " + name_ + ": " + (text ? text : "NVRTC error " + std::to_string(r));
    return false;
  }

  Napi::Promise::Deferred deferred_;
  const NvrtcApi& nvrtc_;
  std::string source_, name_;
  std::vector<std::string> options_, headerNames_, headerSources_, nameExpressions_;
  bool cubin_;
  std::string log_, error_;
  std::vector<char> image_;
  std::map<std::string, std::string> lowered_;
};

std::vector<std::string> Strings(const Napi::Value& value, const char* what) {
  std::vector<std::string> out;
  if (value.IsUndefined() || value.IsNull()) return out;
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an array of strings");
  Napi::Array a = value.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToString().Utf8Value());
  return out;
}

// compile(source, name, options[], headers?: {includeName: text}, nameExpressions?: string[])
Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const NvrtcApi* nvrtc = Nvrtc();
  if (nvrtc == nullptr) {  // an async API reports through its promise, never by throwing
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(Napi::Error::New(env, "NVRTC is not loaded: call probe() first and check nvrtcLoaded").Value());
    return deferred.Promise();
  }
  std::vector<std::string> headerNames, headerSources;
  if (info.Length() > 3 && info[3].IsObject()) {
    Napi::Object headers = info[3].As<Napi::Object>();
    Napi::Array keys = headers.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      headerNames.push_back(keys.Get(i).ToString().Utf8Value());
      headerSources.push_back(headers.Get(keys.Get(i)).ToString().Utf8Value());
    }
  }
  auto* worker = new CompileWorker(env, *nvrtc, info[0].ToString().Utf8Value(), info[1].ToString().Utf8Value(),
                                   Strings(info[2], "options"), std::move(headerNames), std::move(headerSources),
                                   Strings(info.Length() > 4 ? info[4] : env.Undefined(), "nameExpressions"));
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself after OnOK/OnError
  return promise;
}

}  // namespace

void RegisterCompile(Napi::Env env, Napi::Object exports) {
  exports.Set("compile", Napi::Function::New(env, Compile, "compile"));
}

}  // namespace flexattn

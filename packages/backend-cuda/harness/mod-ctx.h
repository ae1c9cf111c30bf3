// The harness's data for the mods' parameters, per shape (setup_ctx in harness.cu fills it). The
// generated mod headers (gen/<mod>.h, src/harness-mods.ts) read it: the host reference from the
// vectors, HostMod::setup points the params structs at the device copies.
#pragma once
#include <vector>

struct ModCtx {
  int H = 1;
  int window = 1024;
  std::vector<float> slope;
  float* d_slope = nullptr;
  float* d_grad_slope = nullptr;
  std::vector<int> doc;
  int* d_doc = nullptr;
  int doc_len = 0;
};

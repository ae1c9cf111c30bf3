// decbench: the split-KV decoder (kernels/flex_decode.cuh) timed exactly as the backend launches it
// (src/launch-plan.ts: grid (splits, Hkv · row groups, B), 256 threads, DecCfg::SMEM_BYTES, the split
// count of src/decode-splits.ts for an unmasked call), its variant bits (DecCfg VAR, FLEX_DEC_VARIANT)
// and split counts side by side, checked against a float64 CPU reference, with two ceilings beside:
// `ring` (the decoder's grid and cp.async ring with no math) and `stream` (a plain 16-byte read of K+V).
//
//   make bin/decbench                     (needs gen/noop.h: `make gen/.stamp`)
//   ./bin/decbench check                  every config at both bench shapes and an odd one, fresh inputs
//   ./bin/decbench time [rounds]          A B A B ... rounds (reversed order every other round), medians
//   ./bin/decbench prof NAME SHAPE        5 launches of one config (for ncu: --launch-skip 4 --launch-count 1)
//   ./bin/decbench list
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cuda-check.h"

#include "mod-ctx.h"
#define FLEX_NO_ENTRY_POINTS 1
#define FLEX_MAX_SCORES 0  // the backend's default body (returnAux.maxScores off)
#ifndef MOD_FILE
#define MOD_FILE "gen/noop.h"
#endif
#include MOD_FILE
#include "../kernels/common.cuh"
#include "../kernels/special.cuh"
#include "../kernels/flex_decode.cuh"

using T = __nv_bfloat16;
constexpr int D = 128;
constexpr int ROWS = 4, STAGES = 3;  // config.ts decodeConfig at bf16 D128, G·Lq = 4
template <int VAR> using Cfg = flex::DecCfg<D, D, ROWS, 2, STAGES, VAR>;

template <int VAR>
__global__ void __launch_bounds__(256) k_dec(const FlexDecodeArgs a, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::decode_kernel<Cfg<VAR>, T>(a, sp, mp);
}
// ceiling 1: the decoder's grid, shared memory (occupancy) and cp.async ring, no math
__global__ void __launch_bounds__(256) k_ring(const FlexDecodeArgs a, unsigned* sink) {
  using C = Cfg<0>;
  extern __shared__ __align__(1024) unsigned char flex_smem[];
  T(*sK)[C::BN * C::KSTRIDE] = reinterpret_cast<T(*)[C::BN * C::KSTRIDE]>(flex_smem + C::OFF_K);
  T(*sV)[C::BN * C::VSTRIDE] = reinterpret_cast<T(*)[C::BN * C::VSTRIDE]>(flex_smem + C::OFF_V);
  const int tid = threadIdx.x, split = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
  const int key0 = split * a.keys_per_split, key1 = min(a.Lkv, key0 + a.keys_per_split);
  const int n_tiles = (key1 - key0 + C::BN - 1) / C::BN;
  const T* gK = static_cast<const T*>(a.k) + (size_t)(b * a.Hkv + hk) * a.Lkv * D;
  const T* gV = static_cast<const T*>(a.v) + (size_t)(b * a.Hkv + hk) * a.Lkv * D;
  const unsigned long long pol = flex::l2_evict_first_policy();
  auto load = [&](int t, int st) {
    const int n0 = key0 + t * C::BN;
    for (int c = tid; c < C::BN * (D / 8); c += 256) {
      const int r = c / (D / 8), cc = c % (D / 8);
      flex::cp_async_16_stream(flex::smem_u32(&sK[st][r * C::KSTRIDE + cc * 8]), gK + (size_t)(n0 + r) * D + cc * 8, 16, pol);
      flex::cp_async_16_stream(flex::smem_u32(&sV[st][r * C::VSTRIDE + cc * 8]), gV + (size_t)(n0 + r) * D + cc * 8, 16, pol);
    }
  };
  for (int s = 0; s < C::STAGES - 1; ++s) {
    if (s < n_tiles) load(s, s);
    flex::cp_async_commit();
  }
  unsigned acc = 0;
  for (int it = 0; it < n_tiles; ++it) {
    flex::cp_async_wait<C::STAGES - 2>();
    __syncthreads();
    const int nx = it + C::STAGES - 1;
    if (nx < n_tiles) load(nx, nx % C::STAGES);
    flex::cp_async_commit();
    acc += reinterpret_cast<const unsigned short*>(sK[it % C::STAGES])[tid] ^
           reinterpret_cast<const unsigned short*>(sV[it % C::STAGES])[tid];
  }
  flex::cp_async_wait<0>();
  if (acc == 0x7fffffffu) sink[0] = acc;  // never: keeps the reads
}

// ceiling 2: every byte of K and V read once with 16-byte loads, four in flight per thread
__global__ void __launch_bounds__(512) k_stream(const uint4* __restrict__ k, const uint4* __restrict__ v, size_t n16,
                                                unsigned* sink) {
  unsigned acc = 0;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n16; i += 4 * stride) {
    uint4 x[8];
#pragma unroll
    for (int u = 0; u < 4; ++u) x[u] = __ldcs(k + i + u * stride), x[4 + u] = __ldcs(v + i + u * stride);
#pragma unroll
    for (int u = 0; u < 8; ++u) acc ^= x[u].x ^ x[u].y ^ x[u].z ^ x[u].w;
  }
  for (; i < n16; i += stride) {
    const uint4 x = __ldcs(k + i), y = __ldcs(v + i);
    acc ^= x.x ^ x.w ^ y.y ^ y.z;
  }
  if (acc == 0x7fffffffu) sink[0] = acc;
}

// random bf16 with a roughly normal spread (sum of four uniforms), from a per-call seed
__global__ void k_fill(T* p, size_t n, unsigned long long seed, float amp) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    unsigned long long h = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    float s = 0.f;
    for (int u = 0; u < 4; ++u) {
      h ^= h >> 31; h *= 0xBF58476D1CE4E5B9ull; h ^= h >> 27; h *= 0x94D049BB133111EBull; h ^= h >> 33;
      s += (float)(h & 0xffffff) / 16777216.f - 0.5f;
    }
    p[i] = __float2bfloat16(s * 1.732f * amp);  // 4 uniforms of variance 1/12: variance 1/3 -> ×√3
  }
}
__global__ void k_poison(T* o, size_t n, float* l, size_t nl) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) o[i] = __float2bfloat16(NAN);
  if (i < nl) l[i] = NAN;
}

// ------------------------------------------------------------------------------------------------
struct Shape { const char* name; int B, Hq, Hkv, Lq, Lkv; };
static const Shape kShapes[] = {
    {"B8L8192", 8, 32, 8, 1, 8192},    // issue 15's decode shape
    {"B1L32768", 1, 32, 8, 1, 32768},  // one long sequence
    {"odd", 2, 8, 2, 3, 1000},         // checks only: 3 row groups, a ragged last tile and split
};

static int ceil_div(long long a, long long b) { return (int)((a + b - 1) / b); }
// src/decode-splits.ts decodeSplits, every key visible (no mask), cfg bn 64 maxTiles 512
static void backend_splits(const Shape& s, int slots, int& splits, int& kps) {
  const int bn = 64, maxKps = bn * 512;
  const int rowGroups = ceil_div((long long)(s.Hq / s.Hkv) * s.Lq, ROWS);
  const int ctasPerSplit = s.B * s.Hkv * rowGroups;
  const int maxSplits = ceil_div(s.Lkv, bn);
  auto fits = [&](int sp, int& outS, int& outK) {
    outK = ceil_div(ceil_div(s.Lkv, std::max(sp, ceil_div(s.Lkv, maxKps))), bn) * bn;
    outS = ceil_div(s.Lkv, outK);
  };
  auto cost = [&](int ctas, int tiles) { return (long long)ceil_div(ctas, slots) * (tiles + 1); };
  int bs, bk;
  fits(1, bs, bk);
  long long bc = cost(ctasPerSplit * bs, bk / bn);
  const int most = std::min(maxSplits, std::max(1, ceil_div(4LL * slots, ctasPerSplit)));
  for (int sp = 2; sp <= most; ++sp) {
    int fs, fk;
    fits(sp, fs, fk);
    const long long c = cost(ctasPerSplit * fs, fk / bn);
    if (c < bc) bs = fs, bk = fk, bc = c;
  }
  splits = bs, kps = bk;
}

struct Config { const char* name; int var; int split_mult; int kind; };  // kind 0 decoder, 1 ring, 2 stream
// split_mult: 1 = the backend's split count, 2 = twice as many splits (half the keys each)
static const Config kConfigs[] = {
    {"v0", 0, 1, 0},          // the body as merged (session 11), the backend's splits
    {"v1merge", 1, 1, 0},     // + fast merge
    {"v3merge+early", 3, 1, 0},  // + the first K/V tiles before the queries
    {"v3-x2splits", 3, 2, 0},  // twice the splits (session 14: x0.955 at B8 L8192)
    {"ring", 0, 1, 1},
    {"stream", 0, 1, 2},
};
constexpr int NCONF = sizeof(kConfigs) / sizeof(kConfigs[0]);

struct Bufs {
  Shape s;
  T *q, *k, *v, *out;
  float *lse, *po, *pl;
  int* count;
  unsigned* sink;
  int slots, splits, kps;
  size_t nO, nL, nKV;
};

template <int VAR> void set_attr() {
  CK(cudaFuncSetAttribute(k_dec<VAR>, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg<VAR>::SMEM_BYTES));
}

static Bufs alloc(const Shape& s, int slots) {
  Bufs b{};
  b.s = s;
  b.slots = slots;
  backend_splits(s, slots, b.splits, b.kps);
  b.nO = (size_t)s.B * s.Hq * s.Lq * D;
  b.nL = (size_t)s.B * s.Hq * s.Lq;
  b.nKV = (size_t)s.B * s.Hkv * s.Lkv * D;
  const int maxSplits = 2 * b.splits + 2;
  CK(cudaMalloc(&b.q, b.nO * 2));
  CK(cudaMalloc(&b.k, b.nKV * 2));
  CK(cudaMalloc(&b.v, b.nKV * 2));
  CK(cudaMalloc(&b.out, b.nO * 2));
  CK(cudaMalloc(&b.lse, b.nL * 4));
  CK(cudaMalloc(&b.po, maxSplits * b.nO * 4));
  CK(cudaMalloc(&b.pl, maxSplits * b.nL * 4));
  const int rg = ceil_div((long long)(s.Hq / s.Hkv) * s.Lq, ROWS);
  CK(cudaMalloc(&b.count, (size_t)s.B * s.Hkv * rg * 4));
  CK(cudaMemset(b.count, 0, (size_t)s.B * s.Hkv * rg * 4));  // zeroed once, as the backend allocates it
  CK(cudaMalloc(&b.sink, 4));
  return b;
}
static void release(Bufs& b) {
  cudaFree(b.q); cudaFree(b.k); cudaFree(b.v); cudaFree(b.out); cudaFree(b.lse); cudaFree(b.po); cudaFree(b.pl);
  cudaFree(b.count); cudaFree(b.sink);
}
static void fill(Bufs& b, unsigned long long seed) {
  k_fill<<<1024, 256>>>(b.q, b.nO, seed * 3 + 1, 1.f);
  k_fill<<<4096, 256>>>(b.k, b.nKV, seed * 3 + 2, 1.f);
  k_fill<<<4096, 256>>>(b.v, b.nKV, seed * 3 + 3, 1.f);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
}

static void splits_of(const Bufs& b, const Config& c, int& splits, int& kps) {
  if (c.split_mult == 1) { splits = b.splits; kps = b.kps; return; }
  kps = std::max(64, ceil_div(ceil_div(b.s.Lkv, b.splits * c.split_mult), 64) * 64);
  splits = ceil_div(b.s.Lkv, kps);
}

static FlexDecodeArgs args_of(const Bufs& b, const Config& c) {
  FlexDecodeArgs a{};
  a.q = b.q; a.k = b.k; a.v = b.v; a.out = b.out; a.lse = b.lse; a.part_o = b.po; a.part_lse = b.pl; a.cls = nullptr;
  a.B = b.s.B; a.Hq = b.s.Hq; a.Hkv = b.s.Hkv; a.Lq = b.s.Lq; a.Lkv = b.s.Lkv; a.scale = 1.f / std::sqrt((float)D);
  splits_of(b, c, a.num_splits, a.keys_per_split);
  a.has_block_mask = 0; a.key_offset = 0;
  a.k_batch_stride = (long long)b.s.Hkv * b.s.Lkv * D;
  a.v_batch_stride = a.k_batch_stride;
  a.merge_count = b.count;
  return a;
}

static void launch(const Bufs& b, const Config& c) {
  const FlexDecodeArgs a = args_of(b, c);
  const FlexScoreParams sp{};
  const FlexMaskParams mp{};
  const int rg = ceil_div((long long)(b.s.Hq / b.s.Hkv) * b.s.Lq, ROWS);
  const dim3 grid(a.num_splits, b.s.Hkv * rg, b.s.B);
  switch (c.kind) {
    case 1: k_ring<<<dim3(a.num_splits, b.s.Hkv, b.s.B), 256, Cfg<0>::SMEM_BYTES>>>(a, b.sink); break;
    case 2: k_stream<<<b.slots / 2 * 4, 512>>>(reinterpret_cast<const uint4*>(b.k), reinterpret_cast<const uint4*>(b.v),
                                                 b.nKV * 2 / 16, b.sink); break;
    default:
      switch (c.var) {
        case 0: k_dec<0><<<grid, 256, Cfg<0>::SMEM_BYTES>>>(a, sp, mp); break;
        case 1: k_dec<1><<<grid, 256, Cfg<1>::SMEM_BYTES>>>(a, sp, mp); break;
        case 3: k_dec<3><<<grid, 256, Cfg<3>::SMEM_BYTES>>>(a, sp, mp); break;
        default: fprintf(stderr, "no variant %d\n", c.var); exit(2);
      }
  }
}

// ---- float64 reference ---------------------------------------------------------------------------
static float bf(uint16_t x) {
  uint32_t u = (uint32_t)x << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static void reference(const Bufs& b, std::vector<double>& ref, std::vector<double>& rlse) {
  const Shape& s = b.s;
  std::vector<uint16_t> hq(b.nO), hk(b.nKV), hv(b.nKV);
  CK(cudaMemcpy(hq.data(), b.q, b.nO * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(hk.data(), b.k, b.nKV * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(hv.data(), b.v, b.nKV * 2, cudaMemcpyDeviceToHost));
  ref.assign(b.nO, 0.0);
  rlse.assign(b.nL, 0.0);
  const int G = s.Hq / s.Hkv;
  const double scale = 1.0 / std::sqrt((double)D);
  auto row_fn = [&](size_t row) {
    const int qi = (int)(row % s.Lq), h = (int)(row / s.Lq % s.Hq), bb = (int)(row / s.Lq / s.Hq);
    const uint16_t* qr = &hq[row * D];
    const size_t kvbase = ((size_t)bb * s.Hkv + h / G) * s.Lkv * D;
    double qd[D];
    for (int d = 0; d < D; ++d) qd[d] = bf(qr[d]);
    std::vector<double> sc(s.Lkv);
    double mx = -INFINITY;
    for (int j = 0; j < s.Lkv; ++j) {
      const uint16_t* kr = &hk[kvbase + (size_t)j * D];
      double acc = 0;
      for (int d = 0; d < D; ++d) acc += qd[d] * bf(kr[d]);
      sc[j] = acc * scale;
      mx = std::max(mx, sc[j]);
    }
    double sum = 0, o[D] = {};
    for (int j = 0; j < s.Lkv; ++j) {
      const double p = std::exp(sc[j] - mx);
      sum += p;
      const uint16_t* vr = &hv[kvbase + (size_t)j * D];
      for (int d = 0; d < D; ++d) o[d] += p * bf(vr[d]);
    }
    for (int d = 0; d < D; ++d) ref[row * D + d] = o[d] / sum;
    rlse[row] = mx + std::log(sum);
    (void)qi;
  };
  const int nt = std::max(1u, std::min(32u, std::thread::hardware_concurrency()));
  std::vector<std::thread> th;
  for (int t = 0; t < nt; ++t)
    th.emplace_back([&, t] { for (size_t r = t; r < b.nL; r += nt) row_fn(r); });
  for (auto& x : th) x.join();
}

static int check_shape(const Shape& s, int slots, unsigned long long seed) {
  Bufs b = alloc(s, slots);
  fill(b, seed);
  std::vector<double> ref, rlse;
  reference(b, ref, rlse);
  int fails = 0;
  std::vector<uint16_t> ho(b.nO);
  std::vector<float> hl(b.nL);
  for (const Config& c : kConfigs) {
    if (c.kind != 0) continue;
    int splits, kps;
    splits_of(b, c, splits, kps);
    double err = 0, nrm = 0, lerr = 0;
    int bad = 0;
    for (int rep = 0; rep < 3; ++rep) {  // the third launch after two: the merge counters re-armed
      k_poison<<<(unsigned)((b.nO + 255) / 256), 256>>>(b.out, b.nO, b.lse, b.nL);
      launch(b, c);
      CK(cudaGetLastError());
      CK(cudaDeviceSynchronize());
    }
    CK(cudaMemcpy(ho.data(), b.out, b.nO * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hl.data(), b.lse, b.nL * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < b.nO; ++i) {
      const double x = bf(ho[i]);
      if (!std::isfinite(x)) { ++bad; continue; }
      err += (x - ref[i]) * (x - ref[i]);
      nrm += ref[i] * ref[i];
    }
    for (size_t i = 0; i < b.nL; ++i) {
      if (!std::isfinite(hl[i])) { ++bad; continue; }
      lerr = std::max(lerr, std::fabs(hl[i] - rlse[i]));
    }
    const double rel = std::sqrt(err / nrm);
    const bool ok = bad == 0 && rel < 6e-3 && lerr < 1e-3;
    fails += !ok;
    printf("CHECK %-16s %-9s splits %3d kps %5d  rel %.2e  lse maxabs %.2e  nonfinite %d  %s\n", c.name, s.name, splits,
           kps, rel, lerr, bad, ok ? "ok" : "FAIL");
  }
  release(b);
  return fails;
}

// ---- timing ----------------------------------------------------------------------------------------
// per-launch: events around each launch (how a single decode step is seen), median of `reps`;
// b2b: events around `n` back-to-back launches (the launch gaps hidden), median of 5 such means
static void time_config(const Bufs& b, const Config& c, double& per, double& b2b) {
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int i = 0; i < 5; ++i) launch(b, c);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<float> ts;
  for (int i = 0; i < 60; ++i) {
    CK(cudaEventRecord(e0));
    launch(b, c);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    ts.push_back(ms);
  }
  std::sort(ts.begin(), ts.end());
  per = ts[ts.size() / 2];
  std::vector<float> tb;
  for (int r = 0; r < 5; ++r) {
    CK(cudaEventRecord(e0));
    for (int i = 0; i < 20; ++i) launch(b, c);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    tb.push_back(ms / 20);
  }
  CK(cudaGetLastError());
  std::sort(tb.begin(), tb.end());
  b2b = tb[tb.size() / 2];
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void time_shape(const Shape& s, int slots, int rounds) {
  Bufs b = alloc(s, slots);
  fill(b, 0x5eed0000ull + s.Lkv);
  const double bytes = 2.0 * b.nKV * 2;
  std::vector<std::vector<double>> per(NCONF), bb(NCONF);
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < NCONF; ++k) {
      const int i = r % 2 == 0 ? k : NCONF - 1 - k;  // A B C .. then .. C B A
      double p, q;
      time_config(b, kConfigs[i], p, q);
      per[i].push_back(p);
      bb[i].push_back(q);
      printf("ROUND %d %-9s %-16s per-launch %.4f ms  b2b %.4f ms\n", r, s.name, kConfigs[i].name, p, q);
    }
  }
  const double p0 = median(per[0]), q0 = median(bb[0]);
  for (int i = 0; i < NCONF; ++i) {
    int splits, kps;
    splits_of(b, kConfigs[i], splits, kps);
    const double p = median(per[i]), q = median(bb[i]);
    const double spread = (*std::max_element(per[i].begin(), per[i].end()) - *std::min_element(per[i].begin(), per[i].end())) / p;
    printf("TIME %-9s %-16s splits %3d  per-launch %.4f ms %6.0f GB/s (x%.3f vs v0, spread %.1f%%)  b2b %.4f ms %6.0f GB/s (x%.3f)\n",
           s.name, kConfigs[i].name, kConfigs[i].kind == 2 ? 0 : splits, p, bytes / (p * 1e-3) / 1e9, p0 / p, 100 * spread, q,
           bytes / (q * 1e-3) / 1e9, q0 / q);
  }
  release(b);
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "list";
  int dev = 0;
  CK(cudaSetDevice(dev));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, dev));
  set_attr<0>(); set_attr<1>(); set_attr<3>();
  CK(cudaFuncSetAttribute(k_ring, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg<0>::SMEM_BYTES));
  int per_sm = 0;
  CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k_dec<0>, 256, Cfg<0>::SMEM_BYTES));
  const int slots = prop.multiProcessorCount * per_sm;
  printf("DEVICE %s, %d SMs, %d decoder CTAs/SM (%d slots), smem %d B/CTA, L2 %d MB\n", prop.name, prop.multiProcessorCount,
         per_sm, slots, Cfg<0>::SMEM_BYTES, prop.l2CacheSize >> 20);
  if (mode == "list") {
    for (const Shape& s : kShapes) {
      int sp, kps;
      backend_splits(s, slots, sp, kps);
      printf("SHAPE %-9s B%d Hq%d Hkv%d Lq%d Lkv%d: backend splits %d (keys/split %d)\n", s.name, s.B, s.Hq, s.Hkv, s.Lq, s.Lkv,
             sp, kps);
    }
    for (const Config& c : kConfigs) printf("CONFIG %s\n", c.name);
    return 0;
  }
  if (mode == "check") {
    std::random_device rd;
    int fails = 0;
    for (const Shape& s : kShapes) {
      const unsigned long long seed = ((unsigned long long)rd() << 32) | rd();
      printf("seed %s %llx\n", s.name, seed);
      fails += check_shape(s, slots, seed);
    }
    printf("CHECK %s: %d failing\n", fails ? "FAILED" : "all ok", fails);
    return fails ? 3 : 0;
  }
  if (mode == "time") {
    const int rounds = argc > 2 ? atoi(argv[2]) : 4;
    time_shape(kShapes[0], slots, rounds);
    time_shape(kShapes[1], slots, rounds);
    return 0;
  }
  if (mode == "prof" && argc > 3) {
    const Config* c = nullptr;
    for (const Config& x : kConfigs) if (x.name == std::string(argv[2])) c = &x;
    const Shape* s = nullptr;
    for (const Shape& x : kShapes) if (x.name == std::string(argv[3])) s = &x;
    if (!c || !s) { fprintf(stderr, "unknown config or shape\n"); return 2; }
    Bufs b = alloc(*s, slots);
    fill(b, 7);
    for (int i = 0; i < 5; ++i) launch(b, *c);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    printf("PROF %s %s done\n", c->name, s->name);
    release(b);
    return 0;
  }
  fprintf(stderr, "usage: decbench list | check | time [rounds] | prof CONFIG SHAPE\n");
  return 2;
}

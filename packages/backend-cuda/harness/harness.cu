// flexattn CUDA kernel harness: correctness against a float64 CPU reference, then timing.
// Built once per mod (make MOD=causal): the mod header (generated, gen/<mod>.h) holds the prelude
// the renderer generates plus the host-side reference of the same mod. See harness/README.md.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <algorithm>
#include <chrono>
#include <thread>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>
#include <tuple>
#include <type_traits>

#include "cuda-check.h"

#include "mod-ctx.h"

#define FLEX_NO_ENTRY_POINTS 1
// the checks compare max_scores, so the harness builds the bodies that track it (the backend
// defines FLEX_MAX_SCORES only for calls with returnAux.maxScores); HARNESS_MAX_SCORES=0 times the
// default bodies
#ifndef HARNESS_MAX_SCORES
#define HARNESS_MAX_SCORES 1
#endif
#define FLEX_MAX_SCORES HARNESS_MAX_SCORES
#include MOD_FILE
#include "../kernels/common.cuh"
#include "../kernels/wgmma.cuh"
#include "../kernels/tma.cuh"
#include "../kernels/special.cuh"
#include "../kernels/flex_fwd.cuh"
#include "../kernels/flex_fwd_wg.cuh"
#include "../kernels/flex_fwd_fa3.cuh"
#include "../kernels/flex_fwd_entry.cuh"
#include "../kernels/flex_bwd.cuh"
#include "../kernels/flex_bwd_fa3.cuh"
#include "../kernels/flex_decode.cuh"

#ifndef HOST_HAS_CAPTURE
#define HOST_HAS_CAPTURE 0
#endif

// ------------------------------------------------------------------------------------------------
// kernels (template instantiations of the .cuh implementations)
// ------------------------------------------------------------------------------------------------
template <class C, typename T>
__global__ void __launch_bounds__(C::LAUNCH_THREADS, C::MINB) k_fwd(const FlexFwdArgs a, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::fwd_16bit<C, T>(a, sp, mp);
}
template <class C, typename T>
__global__ void __launch_bounds__(C::LAUNCH_THREADS, 1)
    k_fa3(const FlexFwdArgs a, const FlexScoreParams sp, const FlexMaskParams mp, const __grid_constant__ FlexTensorMap tq,
          const __grid_constant__ FlexTensorMap tk, const __grid_constant__ FlexTensorMap tv) {
  flex::fwd_fa3<C, T>(a, sp, mp, tq, tk, tv);
}
template <int D, int DV>
__global__ void __launch_bounds__(256) k_fwd_f32(const FlexFwdArgs a, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::fwd_f32<D, DV>(a, sp, mp);
}
template <typename T, int D, int DV>
__global__ void __launch_bounds__(256) k_pre(const FlexBwdArgs a) { flex::bwd_preprocess<T, DV>(a, D); }
// k_pre's grid: the rows its 256 threads cover (PreprocessShape: TPR lanes a row, else a warp a row)
template <typename T, int DV> unsigned pre_grid(size_t rows) {
  constexpr int tpr = flex::PreprocessShape<T, DV>::TPR, per_block = tpr > 0 ? 256 / tpr : 8;
  return (unsigned)((rows + per_block - 1) / per_block);
}
// BN, BMQ: the backward body's tile units (the careful dQ walks its tables); 0: the f32 body's
// DQ_FRAG: the FA3-class body's fragment-ordered dq_accum rows (dq_frag_col)
template <typename T, int D, int DV, int BN, int BMQ, bool DQ_FRAG = false>
__global__ void __launch_bounds__(256) k_conv(const FlexBwdArgs a, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::bwd_dq_convert_careful<T, BN, BMQ, DQ_FRAG>(a, D, DV, sp, mp);
}
template <class C, typename T>
__global__ void __launch_bounds__(C::NTHREADS) k_dkdv(const FlexBwdArgs a, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::bwd_dkdv_tc<C, T>(a, sp, mp);
}
template <class C, typename T>
__global__ void __launch_bounds__(C::LAUNCH_THREADS, 1)
    k_bwd_fa3(const FlexBwdArgs a, const FlexScoreParams sp, const FlexMaskParams mp,
              const __grid_constant__ FlexTensorMap tq, const __grid_constant__ FlexTensorMap tdo,
              const __grid_constant__ FlexTensorMap tk, const __grid_constant__ FlexTensorMap tv) {
  flex::bwd_fa3<C, T>(a, sp, mp, tq, tdo, tk, tv);
}
template <int D, int DV>
__global__ void __launch_bounds__(256) k_dkdv_f32(const FlexBwdArgs a, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::bwd_dkdv_f32<D, DV>(a, sp, mp);
}
template <class C, typename T>
__global__ void __launch_bounds__(256) k_dec(const FlexDecodeArgs a, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::decode_kernel<C, T>(a, sp, mp);
}

// ------------------------------------------------------------------------------------------------
// host helpers
// ------------------------------------------------------------------------------------------------
template <typename T> T to_t(float x);
template <> __nv_bfloat16 to_t<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <> __half to_t<__half>(float x) { return __float2half(x); }
template <> float to_t<float>(float x) { return x; }
template <typename T> float from_t(T x);
template <> float from_t<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> float from_t<__half>(__half x) { return __half2float(x); }
template <> float from_t<float>(float x) { return x; }
template <typename T> const char* tname();
template <> const char* tname<__nv_bfloat16>() { return "bf16"; }
template <> const char* tname<__half>() { return "f16"; }
template <> const char* tname<float>() { return "f32"; }

static std::mt19937 rng(1234);

// random tensor, rounded to T; returns the device copy, host floats in `h`
template <typename T> T* rand_tensor(size_t n, std::vector<float>& h, float amp = 1.f) {
  std::normal_distribution<float> nd(0.f, amp);
  std::vector<T> t(n);
  h.resize(n);
  for (size_t i = 0; i < n; ++i) {
    t[i] = to_t<T>(nd(rng));
    h[i] = from_t<T>(t[i]);
  }
  T* d;
  CK(cudaMalloc(&d, n * sizeof(T)));
  CK(cudaMemcpy(d, t.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <typename T> std::vector<float> download(const T* d, size_t n) {
  std::vector<T> t(n);
  CK(cudaMemcpy(t.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = from_t<T>(t[i]);
  return f;
}
static void poison(void* d, size_t bytes) { CK(cudaMemset(d, 0xff, bytes)); }  // NaN in every float type
template <typename T> void upload(T* d, const std::vector<float>& h) {
  std::vector<T> t(h.size());
  for (size_t i = 0; i < h.size(); ++i) t[i] = to_t<T>(h[i]);
  CK(cudaMemcpy(d, t.data(), t.size() * sizeof(T), cudaMemcpyHostToDevice));
}

struct Err {
  double max_abs = 0, rel = 0;
  size_t nan = 0;
  bool ok(double tol) const { return nan == 0 && rel <= tol; }
};
static Err compare(const std::vector<float>& got, const std::vector<double>& ref) {
  Err e;
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i], g = got[i];
    // a special value of the reference (lse −∞ of an empty row; NaN and ±∞ of §4's special-value
    // checks) must come out as the same special value
    if (std::isnan(r)) {
      if (!std::isnan(g)) e.nan++;
      continue;
    }
    if (std::isinf(r)) {
      if (g != r) e.nan++;
      continue;
    }
    if (std::isnan(g) || std::isinf(g)) { e.nan++; continue; }
    e.max_abs = std::max(e.max_abs, std::fabs(g - r));
    num += (g - r) * (g - r);
    den += r * r;
  }
  e.rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return e;
}

// ------------------------------------------------------------------------------------------------
// mod context: captured tensors for a shape
// ------------------------------------------------------------------------------------------------
static void setup_ctx(ModCtx& c, int H, int L, int window) {
  c.H = H;
  c.window = window;
  c.slope.resize(H);
  for (int h = 0; h < H; ++h) c.slope[h] = std::pow(2.f, -8.f * (h + 1) / H);
  c.doc_len = L;
  c.doc.resize(L);
  std::uniform_int_distribution<int> ud(std::max(1, L / 16), std::max(1, L / 4));
  for (int i = 0, d = 0; i < L; ++d) {
    int n = ud(rng);
    for (int j = 0; j < n && i < L; ++j) c.doc[i++] = d;
  }
  if (c.d_slope) { cudaFree(c.d_slope); cudaFree(c.d_grad_slope); cudaFree(c.d_doc); }
  CK(cudaMalloc(&c.d_slope, H * 4));
  CK(cudaMalloc(&c.d_grad_slope, H * 4));
  CK(cudaMalloc(&c.d_doc, L * 4));
  CK(cudaMemcpy(c.d_slope, c.slope.data(), H * 4, cudaMemcpyHostToDevice));
  CK(cudaMemset(c.d_grad_slope, 0, H * 4));
  CK(cudaMemcpy(c.d_doc, c.doc.data(), L * 4, cudaMemcpyHostToDevice));
}

// ------------------------------------------------------------------------------------------------
// block tables: classify tiles from the element mask (tile classification in C++)
// ------------------------------------------------------------------------------------------------
struct ElemMask {  // [mB][mH][Lq][Lkv]
  int mB, mH, Lq, Lkv;
  std::vector<uint8_t> m;
  uint8_t at(int b, int h, int q, int k) const { return m[(((size_t)b * mH + h) * Lq + q) * Lkv + k]; }
};
static ElemMask make_mask(const ModCtx& c, int mB, int mH, int Lq, int Lkv) {
  ElemMask e{mB, mH, Lq, Lkv, std::vector<uint8_t>((size_t)mB * mH * Lq * Lkv)};
  for (int b = 0; b < mB; ++b)
    for (int h = 0; h < mH; ++h)
      for (int q = 0; q < Lq; ++q)
        for (int k = 0; k < Lkv; ++k) e.m[(((size_t)b * mH + h) * Lq + q) * Lkv + k] = HostMod::mask(c, b, h, q, k);
  return e;
}
// dense class [mB][mH][qT][kT]: 0 empty, 1 partial, 2 full (in-range elements only). q_off: q tile i
// covers rows [i·BM − q_off, (i+1)·BM − q_off), as a forward config's q_offset(Lq) shifts them (the
// persistent body's short tile first; 0 elsewhere); an independent take on ir's tileTables qOffset
static std::vector<uint8_t> classify(const ElemMask& e, int BM, int BN, int& qT, int& kT, int q_off = 0) {
  qT = (e.Lq + q_off + BM - 1) / BM;
  kT = (e.Lkv + BN - 1) / BN;
  std::vector<uint8_t> cls((size_t)e.mB * e.mH * qT * kT);
  for (int b = 0; b < e.mB; ++b)
    for (int h = 0; h < e.mH; ++h)
      for (int i = 0; i < qT; ++i)
        for (int j = 0; j < kT; ++j) {
          size_t cnt = 0, tot = 0;
          for (int q = std::max(0, i * BM - q_off); q < std::min(e.Lq, (i + 1) * BM - q_off); ++q)
            for (int k = j * BN; k < std::min(e.Lkv, (j + 1) * BN); ++k) { cnt += e.at(b, h, q, k); ++tot; }
          cls[(((size_t)b * e.mH + h) * qT + i) * kT + j] = cnt == 0 ? 0 : cnt == tot ? 2 : 1;
        }
  return cls;
}
struct DevTable {
  int *num = nullptr, *idx = nullptr, *fnum = nullptr, *fidx = nullptr;
  int* rank = nullptr;  // kv-major (backward) tables: FlexBwdArgs::dq_rank
  FlexBlockTable bt{};
  void free_all() { cudaFree(num); cudaFree(idx); cudaFree(fnum); cudaFree(fidx); cudaFree(rank); }
};
static int* upload_i(const std::vector<int>& v) {
  int* d;
  CK(cudaMalloc(&d, std::max<size_t>(1, v.size()) * 4));
  if (!v.empty()) CK(cudaMemcpy(d, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
  return d;
}
// transposed = false: q-major (forward); true: kv-major (backward)
static DevTable build_table(const std::vector<uint8_t>& cls, int mB, int mH, int qT, int kT, bool transposed) {
  const int outer = transposed ? kT : qT, inner = transposed ? qT : kT;
  std::vector<int> num((size_t)mB * mH * outer), fnum(num.size()), idx(num.size() * inner), fidx(idx.size());
  for (int bh = 0; bh < mB * mH; ++bh)
    for (int o = 0; o < outer; ++o) {
      int np = 0, nf = 0;
      const size_t r = (size_t)bh * outer + o;
      for (int i = 0; i < inner; ++i) {
        const int qi = transposed ? i : o, ki = transposed ? o : i;
        const uint8_t c = cls[((size_t)bh * qT + qi) * kT + ki];
        if (c == 1) idx[r * inner + np++] = i;
        if (c == 2) fidx[r * inner + nf++] = i;
      }
      num[r] = np;
      fnum[r] = nf;
    }
  DevTable t;
  if (transposed) {
    // the deterministic backward's dQ order (an independent take on src/dq-order.ts): each kv tile
    // walks the q tiles it visits in ascending order (the second half: qt, or ~qt for a full one),
    // and per q tile the kv tiles that visit it are ranked in launch order — kv tiles descending
    // (the first half: each walk entry's place)
    const size_t entries = idx.size();
    std::vector<int> rank(2 * entries), seen(inner);
    for (int bh = 0; bh < mB * mH; ++bh) {
      std::fill(seen.begin(), seen.end(), 0);
      for (int o = outer - 1; o >= 0; --o) {
        const size_t r = (size_t)bh * outer + o;
        int j = 0;
        for (int qi = 0; qi < inner; ++qi) {  // the dense classes, ascending: the walk
          const uint8_t c = cls[((size_t)bh * qT + qi) * kT + o];
          if (c == 0) continue;
          rank[r * inner + j] = seen[qi]++;
          rank[entries + r * inner + j] = c == 2 ? ~qi : qi;
          ++j;
        }
      }
    }
    t.rank = upload_i(rank);
  }
  t.num = upload_i(num);
  t.idx = upload_i(idx);
  t.fnum = upload_i(fnum);
  t.fidx = upload_i(fidx);
  t.bt = FlexBlockTable{t.num, t.idx, t.fnum, t.fidx, mB, mH, outer, inner};
  return t;
}

// ------------------------------------------------------------------------------------------------
// float64 reference (forward + backward), semantics of api.md
// ------------------------------------------------------------------------------------------------
struct Ref {
  std::vector<double> out, lse, maxs, dq, dk, dv, gslope;
};
static void reference(const ModCtx& c, int B, int Hq, int Hkv, int Lq, int Lkv, int E, int Ev, double scale,
                      const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                      const std::vector<float>* dO, Ref& r, const std::vector<float>* dlse = nullptr) {
  const int G = Hq / Hkv;
  r.out.assign((size_t)B * Hq * Lq * Ev, 0);
  r.lse.assign((size_t)B * Hq * Lq, 0);
  r.maxs.assign((size_t)B * Hq * Lq, 0);
  if (dO) {
    r.dq.assign((size_t)B * Hq * Lq * E, 0);
    r.dk.assign((size_t)B * Hkv * Lkv * E, 0);
    r.dv.assign((size_t)B * Hkv * Lkv * Ev, 0);
    r.gslope.assign(Hq, 0);
  }
  std::vector<double> s(Lkv), post(Lkv), p(Lkv), dp(Lkv);
  std::vector<char> vis(Lkv);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < Hq; ++h) {
      const int hk = h / G;
      for (int i = 0; i < Lq; ++i) {
        const float* qi = &q[(((size_t)b * Hq + h) * Lq + i) * E];
        double mx = -INFINITY;
        for (int j = 0; j < Lkv; ++j) {
          const float* kj = &k[(((size_t)b * Hkv + hk) * Lkv + j) * E];
          double acc = 0;
          for (int d = 0; d < E; ++d) acc += (double)qi[d] * kj[d];
          s[j] = acc * scale;
          vis[j] = HostMod::mask(c, b, h, i, j);
          post[j] = vis[j] ? HostMod::score(c, s[j], b, h, i, j) : -INFINITY;
          mx = std::max(mx, post[j]);
        }
        const size_t row = ((size_t)b * Hq + h) * Lq + i;
        // docs/architecture.md §4: a NaN or +∞ post makes the row NaN (out, lse, dq, and dk / dv of
        // the keys it sees: visible, post not −∞); a −∞ post is a key that contributes nothing
        bool undefined = false;
        for (int j = 0; j < Lkv; ++j) undefined |= vis[j] && (std::isnan(post[j]) || post[j] == INFINITY);
        if (undefined) {
          r.maxs[row] = r.lse[row] = NAN;
          for (int d = 0; d < Ev; ++d) r.out[row * Ev + d] = NAN;
          if (!dO) continue;
          for (int d = 0; d < E; ++d) r.dq[row * E + d] = NAN;
          for (int j = 0; j < Lkv; ++j) {
            if (!vis[j] || post[j] == -INFINITY) continue;
            const size_t krow = ((size_t)b * Hkv + hk) * Lkv + j;
            for (int d = 0; d < E; ++d) r.dk[krow * E + d] = NAN;
            for (int d = 0; d < Ev; ++d) r.dv[krow * Ev + d] = NAN;
          }
          continue;
        }
        r.maxs[row] = mx;
        if (mx == -INFINITY) { r.lse[row] = -INFINITY; continue; }
        double sum = 0;
        for (int j = 0; j < Lkv; ++j) { p[j] = vis[j] && post[j] != -INFINITY ? std::exp(post[j] - mx) : 0; sum += p[j]; }
        r.lse[row] = mx + std::log(sum);
        for (int j = 0; j < Lkv; ++j) p[j] /= sum;
        for (int j = 0; j < Lkv; ++j) {
          if (p[j] == 0) continue;
          const float* vj = &v[(((size_t)b * Hkv + hk) * Lkv + j) * Ev];
          for (int d = 0; d < Ev; ++d) r.out[row * Ev + d] += p[j] * vj[d];
        }
        if (!dO) continue;
        const float* doi = &(*dO)[row * Ev];
        double delta = dlse ? -(double)(*dlse)[row] : 0.0;  // dlse adds dlse·P to dS: delta − dlse
        for (int j = 0; j < Lkv; ++j) {
          if (p[j] == 0) { dp[j] = 0; continue; }  // masked or −∞: its v is never read
          const float* vj = &v[(((size_t)b * Hkv + hk) * Lkv + j) * Ev];
          double acc = 0;
          for (int d = 0; d < Ev; ++d) acc += (double)doi[d] * vj[d];
          dp[j] = acc;
          delta += p[j] * acc;
        }
        for (int j = 0; j < Lkv; ++j) {
          if (p[j] == 0) continue;  // masked, −∞ or underflowed (§4: a skipped key)
          const double dpost = p[j] * (dp[j] - delta);
          const double ds = dpost * HostMod::grad(c, s[j], b, h, i, j);
#if HOST_HAS_CAPTURE
          HostMod::capture(c, r.gslope, dpost, s[j], b, h, i, j);
#endif
          const size_t krow = ((size_t)b * Hkv + hk) * Lkv + j;
          const float* kj = &k[krow * E];
          for (int d = 0; d < E; ++d) {
            r.dq[row * E + d] += scale * ds * kj[d];
            r.dk[krow * E + d] += scale * ds * qi[d];
          }
          for (int d = 0; d < Ev; ++d) r.dv[krow * Ev + d] += p[j] * doi[d];
        }
      }
    }
}

// ------------------------------------------------------------------------------------------------
// launchers
// ------------------------------------------------------------------------------------------------
// ---- the persistent Hopper forward (flex_fwd_fa3.cuh): tensor maps, grid ----------------------
template <class C> struct IsFa3 : std::false_type {};
template <int D, int DV, int BN, int NCWG, int ST, int EMU, int SMX, int BACC>
struct IsFa3<flex::Fa3Cfg<D, DV, BN, NCWG, ST, EMU, SMX, BACC>> : std::true_type {};

// cuTensorMapEncodeTiled through the runtime's driver entry point (no -lcuda): a rank-R map of 16-bit
// elements, 128-byte swizzle, zero fill outside the tensor. dims innermost first; strides: bytes of
// dims 1..R-1.
template <typename T>
static FlexTensorMap encode_map(const void* base, int rank, const cuuint64_t* dims, const cuuint64_t* strides,
                                const cuuint32_t* box) {
  static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
  if (!encode) {
    cudaDriverEntryPointQueryResult q;
    CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", reinterpret_cast<void**>(&encode), 12000,
                                        cudaEnableDefault, &q));
    if (q != cudaDriverEntryPointSuccess || !encode) { fprintf(stderr, "no cuTensorMapEncodeTiled\n"); exit(1); }
  }
  const cuuint32_t es[4] = {1, 1, 1, 1};
  CUtensorMap m;
  const CUresult r = encode(&m, std::is_same<T, __half>::value ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
                            rank, const_cast<void*>(base), dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) { fprintf(stderr, "cuTensorMapEncodeTiled failed: %d (rank %d)\n", (int)r, rank); exit(1); }
  FlexTensorMap f;
  static_assert(sizeof(CUtensorMap) == sizeof(FlexTensorMap), "tensor map size");
  memcpy(&f, &m, sizeof f);
  return f;
}
struct Fa3Maps { FlexTensorMap q, k, v; };
// Q [B·Hq, Lq, E] in boxes of 64 columns x BM rows; K / V [Bkv, Hkv, Lkv, E] in boxes of 64 x BN
// (batch stride 0: Bkv = 1, the kernel reads batch 0)
template <class C, typename T> Fa3Maps fa3_maps(const FlexFwdArgs& a) {
  Fa3Maps m;
  const cuuint64_t qd[3] = {(cuuint64_t)C::D, (cuuint64_t)a.Lq, (cuuint64_t)a.B * a.Hq};
  const cuuint64_t qs[2] = {(cuuint64_t)C::D * 2, (cuuint64_t)a.Lq * C::D * 2};
  const cuuint32_t qb[3] = {64, (cuuint32_t)C::BM, 1};
  m.q = encode_map<T>(a.q, 3, qd, qs, qb);
  auto kv = [&](const void* base, int E, long long bs) {
    const cuuint64_t d[4] = {(cuuint64_t)E, (cuuint64_t)a.Lkv, (cuuint64_t)a.Hkv, (cuuint64_t)(bs != 0 ? a.B : 1)};
    const cuuint64_t st[3] = {(cuuint64_t)E * 2, (cuuint64_t)a.Lkv * E * 2,
                              (cuuint64_t)(bs != 0 ? bs : (long long)a.Hkv * a.Lkv * E) * 2};
    const cuuint32_t bx[4] = {64, (cuuint32_t)C::BN, 1, 1};
    return encode_map<T>(base, 4, d, st, bx);
  };
  m.k = kv(a.k, C::D, a.k_batch_stride);
  m.v = kv(a.v, C::DV, a.v_batch_stride);
  return m;
}
static int g_sms = 0;
static int g_fa3_ctas = 0;  // > 0: at most this many persistent CTAs (the checks exercise many tiles per CTA)
template <class C, typename T>
void launch_fa3(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp, const Fa3Maps& maps) {
  static bool init = false;
  if (!init) {
    CK(cudaFuncSetAttribute(k_fa3<C, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM_BYTES));
    CK(cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, 0));
    init = true;
  }
  // the work-tile counter, zeroed on the launch's stream before every launch, as the backend does
  // (src/launch-plan.ts); the harness launches on the default stream only
  static int* counter = nullptr;
  if (!counter) CK(cudaMalloc(&counter, sizeof(int)));
  CK(cudaMemsetAsync(counter, 0, sizeof(int), 0));
  FlexFwdArgs la = a;
  la.tile_counter = counter;
  const int tiles = (a.Lq + C::BM - 1) / C::BM * a.Hq * a.B;
  int ctas = std::min(tiles, g_sms);
  if (g_fa3_ctas > 0) ctas = std::min(ctas, g_fa3_ctas);
  k_fa3<C, T><<<ctas, C::LAUNCH_THREADS, C::SMEM_BYTES>>>(la, sp, mp, maps.q, maps.k, maps.v);
}

template <class C, typename T> void launch_fwd(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  if constexpr (IsFa3<C>::value) {
    launch_fa3<C, T>(a, sp, mp, fa3_maps<C, T>(a));
  } else {
    static bool init = false;
    if (!init) {
      CK(cudaFuncSetAttribute(k_fwd<C, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM_BYTES));
      init = true;
    }
    dim3 grid((a.Lq + C::BM - 1) / C::BM, a.Hq, a.B);
    k_fwd<C, T><<<grid, C::LAUNCH_THREADS, C::SMEM_BYTES>>>(a, sp, mp);
  }
}
// K/V batch strides of contiguous [B, Hkv, Lkv, E] tensors, or 0 (one K/V broadcast over the batch),
// for the forward's, the backward's and the decoder's args alike
template <class Args> static void set_kv_strides(Args& a, int E, int Ev, bool bcast) {
  a.k_batch_stride = bcast ? 0 : (long long)a.Hkv * a.Lkv * E;
  a.v_batch_stride = bcast ? 0 : (long long)a.Hkv * a.Lkv * Ev;
}
template <int D, int DV> void launch_fwd_f32(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  dim3 grid((a.Lq + flex::F32_BM - 1) / flex::F32_BM, a.Hq, a.B);
  k_fwd_f32<D, DV><<<grid, 256>>>(a, sp, mp);
}
// ---- the FA3-class Hopper backward (flex_bwd_fa3.cuh): Q / dO [B·Hq, Lq, D] in boxes of 64 x BMQ,
// K / V [B, Hkv, Lkv, D] in boxes of 64 x BN
template <class C> struct IsBwdFa3 : std::false_type {};
template <int D, int BMQ, int ST, bool DET> struct IsBwdFa3<flex::BwdFa3Cfg<D, BMQ, ST, DET>> : std::true_type {};
struct BwdFa3Maps { FlexTensorMap q, dout, k, v; };
template <class C> constexpr bool bwd_is_det() {
  if constexpr (IsBwdFa3<C>::value) return C::DET;
  else return false;
}
template <class C, typename T> BwdFa3Maps bwd_fa3_maps(const FlexBwdArgs& a) {
  BwdFa3Maps m;
  auto rows = [&](const void* base) {
    const cuuint64_t d[3] = {(cuuint64_t)C::D, (cuuint64_t)a.Lq, (cuuint64_t)a.B * a.Hq};
    const cuuint64_t st[2] = {(cuuint64_t)C::D * 2, (cuuint64_t)a.Lq * C::D * 2};
    const cuuint32_t bx[3] = {64, (cuuint32_t)C::BMQ, 1};
    return encode_map<T>(base, 3, d, st, bx);
  };
  auto kv = [&](const void* base) {
    const cuuint64_t d[4] = {(cuuint64_t)C::D, (cuuint64_t)a.Lkv, (cuuint64_t)a.Hkv, (cuuint64_t)a.B};
    const cuuint64_t st[3] = {(cuuint64_t)C::D * 2, (cuuint64_t)a.Lkv * C::D * 2, (cuuint64_t)a.Hkv * a.Lkv * C::D * 2};
    const cuuint32_t bx[4] = {64, (cuuint32_t)C::BN, 1, 1};
    return encode_map<T>(base, 4, d, st, bx);
  };
  m.q = rows(a.q);
  m.dout = rows(a.dout);
  m.k = kv(a.k);
  m.v = kv(a.v);
  return m;
}
template <class C, typename T>
void launch_bwd_fa3(const FlexBwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp, const BwdFa3Maps& m) {
  static bool init = false;
  if (!init) {
    CK(cudaFuncSetAttribute(k_bwd_fa3<C, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM_BYTES));
    init = true;
  }
  const size_t rows = (size_t)a.B * a.Hq * a.Lq;
  k_pre<T, C::D, C::DV><<<pre_grid<T, C::DV>(rows), 256>>>(a);
  // the deterministic order's counters start at zero in every call (the backend zeroes them too)
  if constexpr (C::DET) CK(cudaMemsetAsync(a.dq_semaphore, 0, (size_t)a.B * a.Hq * ((a.Lq + C::BMQ - 1) / C::BMQ) * 4));
  dim3 grid((a.Lkv + C::BN - 1) / C::BN, a.Hkv, a.B);
  k_bwd_fa3<C, T><<<grid, C::LAUNCH_THREADS, C::SMEM_BYTES>>>(a, sp, mp, m.q, m.dout, m.k, m.v);
  k_conv<T, C::D, C::DV, C::BN, C::BMQ, true><<<1024, 256>>>(a, sp, mp);
}
template <class C, typename T> void launch_bwd(const FlexBwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  if constexpr (IsBwdFa3<C>::value) {
    launch_bwd_fa3<C, T>(a, sp, mp, bwd_fa3_maps<C, T>(a));
    return;
  } else {
  static bool init = false;
  if (!init) {
    CK(cudaFuncSetAttribute(k_dkdv<C, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM_BYTES));
    init = true;
  }
  const size_t rows = (size_t)a.B * a.Hq * a.Lq;
  k_pre<T, C::D, C::DV><<<pre_grid<T, C::DV>(rows), 256>>>(a);
  dim3 grid((a.Lkv + C::BN - 1) / C::BN, a.Hkv, a.B);
  k_dkdv<C, T><<<grid, C::NTHREADS, C::SMEM_BYTES>>>(a, sp, mp);
  k_conv<T, C::D, C::DV, C::BN, C::BMQ><<<1024, 256>>>(a, sp, mp);
  }
}
template <int D, int DV> void launch_bwd_f32(const FlexBwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  const size_t rows = (size_t)a.B * a.Hq * a.Lq;
  k_pre<float, D, DV><<<pre_grid<float, DV>(rows), 256>>>(a);
  dim3 grid((a.Lkv + flex::F32_BN - 1) / flex::F32_BN, a.Hkv, a.B);
  k_dkdv_f32<D, DV><<<grid, 256>>>(a, sp, mp);
  k_conv<float, D, DV, 0, 0><<<1024, 256>>>(a, sp, mp);
}
template <class C, typename T> void launch_dec(const FlexDecodeArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  static bool init = false;
  if (!init) {
    CK(cudaFuncSetAttribute(k_dec<C, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM_BYTES));
    init = true;
  }
  const int G = a.Hq / a.Hkv;
  const int rg = (G * a.Lq + C::ROWS - 1) / C::ROWS;
  dim3 grid(a.num_splits, a.Hkv * rg, a.B);
  // the merge counters: zeroed once, left zero by every launch (the merging split resets its own)
  static int* count = nullptr;
  static size_t count_n = 0;
  if (count_n < (size_t)grid.y * grid.z) {
    if (count) CK(cudaFree(count));
    count_n = (size_t)grid.y * grid.z;
    CK(cudaMalloc(&count, count_n * 4));
    CK(cudaMemset(count, 0, count_n * 4));
  }
  FlexDecodeArgs fused = a;
  fused.merge_count = count;
  k_dec<C, T><<<grid, 256, C::SMEM_BYTES>>>(fused, sp, mp);
}

// ------------------------------------------------------------------------------------------------
// correctness
// ------------------------------------------------------------------------------------------------
static int g_fail = 0;
static bool g_dlse = false;  // the backward gets a random dlse (gradient with respect to lse)
// check_case's inputs get special values (docs/architecture.md §4; "special" below): 0 none
enum Special { SPECIAL_NONE, SPECIAL_NAN_KV_MASKED, SPECIAL_INF_KEY, SPECIAL_PM_INF_KEYS, SPECIAL_NAN_Q_ROW, SPECIAL_COUNT };
static const char* const kSpecialNames[SPECIAL_COUNT] = {
    "none", "NaN in k (key 6, head 0) and v (key Lkv-2, last head): masked for the earlier rows under causal",
    "an infinite key: k[0,0,0,0] = +inf (rows get +inf or -inf scores there)",
    "+inf and -inf keys: k[0,0,1,0] = +inf, k[0,0,2,0] = -inf (NaN rows meet -inf keys)",
    "NaN in a query row: q[0,0,5,3] (its masked keys' dk must stay finite under causal)"};
static int g_special = SPECIAL_NONE;
// The special values of g_special, written into the host copies and uploaded (B, Hkv >= 1, Lq > 5, Lkv > 6).
template <typename T>
void apply_special(int Hq, int Hkv, int Lq, int Lkv, int E, int Ev, std::vector<float>& hq, std::vector<float>& hk,
                   std::vector<float>& hv, T* q, T* k, T* v) {
  auto kat = [&](int h, int j, int d) -> float& { return hk[((size_t)h * Lkv + j) * E + d]; };
  switch (g_special) {
    case SPECIAL_NAN_KV_MASKED:
      kat(0, 6, 2) = NAN;
      hv[((size_t)(Hkv - 1) * Lkv + Lkv - 2) * Ev] = NAN;
      break;
    case SPECIAL_INF_KEY: kat(0, 0, 0) = INFINITY; break;
    case SPECIAL_PM_INF_KEYS: kat(0, 1, 0) = INFINITY; kat(0, 2, 0) = -INFINITY; break;
    case SPECIAL_NAN_Q_ROW: hq[(size_t)5 * E + 3] = NAN; break;
    default: return;
  }
  (void)Hq;
  (void)Lq;
  upload(q, hq);
  upload(k, hk);
  upload(v, hv);
}
static void report(const char* what, const char* dt, int E, int Ev, const Err& e, double tol) {
  const bool ok = e.ok(tol);
  if (!ok) g_fail++;
  printf("CHECK %-16s %-14s %-4s E%-3d Ev%-3d max_abs %.3e rel %.3e nan/unwritten %zu  %s\n", MOD_NAME, what, dt, E, Ev,
         e.max_abs, e.rel, e.nan, ok ? "PASS" : "FAIL");
}

// The deterministic backward waits on counters in global memory: a wrong rank or order would spin
// forever. Its launches in the checks finish through this watchdog instead of a plain synchronize:
// after g_hang_s seconds it reads the counters on a second (non-blocking) stream while the kernel
// still runs, prints how far each q tile's dQ order got and ends the process (a hung kernel cannot be
// stopped; the context goes with the process).
static double g_hang_s = 10;
template <class C> constexpr bool is_det_bwd() {
  if constexpr (IsBwdFa3<C>::value) return C::DET;
  else return false;
}
template <class C> void finish_bwd(const FlexBwdArgs& ba, const char* what) {
  if constexpr (!is_det_bwd<C>()) {
    CK(cudaDeviceSynchronize());
  } else {
    const int qtiles = (ba.Lq + C::BMQ - 1) / C::BMQ, n = ba.B * ba.Hq * qtiles;
    static cudaStream_t side = nullptr;
    static int* host = nullptr;
    static int host_n = 0;
    if (!side) CK(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking));
    if (host_n < n) {  // pinned, allocated before the wait (not while a kernel may be hung)
      if (host) CK(cudaFreeHost(host));
      CK(cudaMallocHost(&host, (size_t)n * 4));
      host_n = n;
    }
    cudaEvent_t done;
    CK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    CK(cudaEventRecord(done, 0));
    const auto t0 = std::chrono::steady_clock::now();
    cudaError_t st;
    while ((st = cudaEventQuery(done)) == cudaErrorNotReady) {
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > g_hang_s) {
        printf("HANG %s %s: the deterministic backward has not finished after %.0f s (B%d Hq%d Hkv%d Lq%d Lkv%d, %d q tiles, block mask %d)\n",
               MOD_NAME, what, g_hang_s, ba.B, ba.Hq, ba.Hkv, ba.Lq, ba.Lkv, qtiles, ba.has_block_mask);
        const cudaError_t c = cudaMemcpyAsync(host, ba.dq_semaphore, (size_t)n * 4, cudaMemcpyDeviceToHost, side);
        const cudaError_t w = c == cudaSuccess ? cudaStreamSynchronize(side) : c;
        if (w != cudaSuccess) printf("HANG counters unreadable: %s\n", cudaGetErrorString(w));
        else {
          printf("HANG counters (kv tiles added so far) per (b, h): q tile 0..%d\n", qtiles - 1);
          for (int bh = 0; bh < ba.B * ba.Hq && bh < 16; ++bh) {
            printf("HANG   b%d h%d:", bh / ba.Hq, bh % ba.Hq);
            for (int t = 0; t < qtiles && t < 40; ++t) printf(" %d", host[bh * qtiles + t]);
            printf("\n");
          }
        }
        fflush(stdout);
        std::_Exit(3);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CK(st);
    CK(cudaEventDestroy(done));
  }
}

// "checkdet" also reruns the default FA3-class body beside each deterministic case (off for the sanitizer's small run)
static bool g_det_twin = true;
// Three reruns of a backward against a first run, bit for bit: how many of the 9 dq/dk/dv downloads and
// of the 3 capture-gradient downloads (where the mod has them) differ from the first run's.
struct RerunDiff { int tensors = 0, captures = 0; };
template <class BC, typename T>
RerunDiff rerun_bits(const FlexBwdArgs& ba, const FlexScoreParams& sp, const FlexMaskParams& mp, const ModCtx& c, int Hq) {
  const size_t nQ = (size_t)ba.B * ba.Hq * ba.Lq * BC::D, nK = (size_t)ba.B * ba.Hkv * ba.Lkv * BC::D;
  const size_t nV = (size_t)ba.B * ba.Hkv * ba.Lkv * BC::DV;
  RerunDiff d;
  std::vector<float> first[4];
  for (int rep = 0; rep < 4; ++rep) {
    poison(ba.dq, nQ * sizeof(T));
    poison(ba.dk, nK * sizeof(T));
    poison(ba.dv, nV * sizeof(T));
    poison(ba.dq_accum, nQ * 4);
    CK(cudaMemset(c.d_grad_slope, 0, Hq * 4));
    launch_bwd<BC, T>(ba, sp, mp);
    CK(cudaGetLastError());
    finish_bwd<BC>(ba, rep ? "rerun" : "first run of the reruns");
    std::vector<float> now[4] = {download((T*)ba.dq, nQ), download((T*)ba.dk, nK), download((T*)ba.dv, nV),
                                 download(c.d_grad_slope, Hq)};
    for (int i = 0; i < 4; ++i) {
      if (rep == 0) { first[i] = std::move(now[i]); continue; }
      const bool differs = memcmp(first[i].data(), now[i].data(), first[i].size() * 4) != 0;
      (i < 3 ? d.tensors : d.captures) += differs;
    }
  }
  return d;
}

// kv_bcast: one K/V (batch stride 0) for every query batch, forward only
template <typename T, int E, int Ev, class FC, class BC>
void check_case(int B, int Hq, int Hkv, int Lq, int Lkv, bool use_mask_tables, bool kv_bcast = false) {
  constexpr bool f32 = std::is_same<T, float>::value;
  printf("# case %s B%d Hq%d Hkv%d Lq%d Lkv%d E%d Ev%d%s\n", tname<T>(), B, Hq, Hkv, Lq, Lkv, E, Ev, g_dlse ? " dlse" : "");
  const double tol = f32 ? 1e-4 : std::is_same<T, __half>::value ? 5e-3 : 2e-2;
  ModCtx c;
  setup_ctx(c, Hq, std::max(Lq, Lkv), 20);
  FlexScoreParams sp{};
  FlexMaskParams mp{};
  HostMod::setup(c, sp, mp);
  std::vector<float> hq, hk, hv, hdo;
  T* q = rand_tensor<T>((size_t)B * Hq * Lq * E, hq);
  const int Bk = kv_bcast ? 1 : B;
  T* k = rand_tensor<T>((size_t)Bk * Hkv * Lkv * E, hk);
  T* v = rand_tensor<T>((size_t)Bk * Hkv * Lkv * Ev, hv);
  if (kv_bcast) {  // the reference sees the same K/V in every batch
    const std::vector<float> k1 = hk, v1 = hv;
    for (int b = 1; b < B; ++b) { hk.insert(hk.end(), k1.begin(), k1.end()); hv.insert(hv.end(), v1.begin(), v1.end()); }
  }
  if (g_special != SPECIAL_NONE) apply_special<T>(Hq, Hkv, Lq, Lkv, E, Ev, hq, hk, hv, q, k, v);
  T* dO = rand_tensor<T>((size_t)B * Hq * Lq * Ev, hdo);
  const size_t nO = (size_t)B * Hq * Lq * Ev, nL = (size_t)B * Hq * Lq;
  T *out, *dq, *dk, *dv;
  float *lse, *delta, *dqa, *maxs;
  int* sem;  // the deterministic backward's counters: one per (b, h, q tile) of 16 rows or more
  CK(cudaMalloc(&sem, ((nL + 15) / 16 + (size_t)B * Hq) * 4));
  CK(cudaMalloc(&out, nO * sizeof(T)));
  CK(cudaMalloc(&lse, nL * 4));
  CK(cudaMalloc(&maxs, nL * 4));
  CK(cudaMalloc(&delta, nL * 4));
  CK(cudaMalloc(&dqa, nL * E * 4));
  CK(cudaMalloc(&dq, nL * E * sizeof(T)));
  CK(cudaMalloc(&dk, (size_t)B * Hkv * Lkv * E * sizeof(T)));
  CK(cudaMalloc(&dv, (size_t)B * Hkv * Lkv * Ev * sizeof(T)));
  const double scale = 1.0 / std::sqrt((double)E);
  std::vector<float> hdlse;
  float* ddlse = nullptr;
  if (g_dlse) {
    std::normal_distribution<float> nd(0.f, 1.f);
    hdlse.resize(nL);
    for (auto& x : hdlse) x = nd(rng);
    CK(cudaMalloc(&ddlse, nL * 4));
    CK(cudaMemcpy(ddlse, hdlse.data(), nL * 4, cudaMemcpyHostToDevice));
  }
  Ref r;
  reference(c, B, Hq, Hkv, Lq, Lkv, E, Ev, scale, hq, hk, hv, &hdo, r, g_dlse ? &hdlse : nullptr);

  // tables with mB = B, mH = Hq (no broadcast) so per-(b, h) indexing is exercised
  const int fBM = f32 ? flex::F32_BM : FC::BM, fBN = f32 ? flex::F32_BN : FC::BN;
  const int bBN = f32 ? flex::F32_BN : BC::BN, bBM = f32 ? flex::F32_BM : BC::BMQ;
  ElemMask em = make_mask(c, B, Hq, Lq, Lkv);
  int qT, kT, qT2, kT2;
  auto cf = classify(em, fBM, fBN, qT, kT, f32 ? 0 : FC::q_offset(Lq));  // the forward's own q tiling
  auto cb = classify(em, bBM, bBN, qT2, kT2);
  DevTable tf = build_table(cf, B, Hq, qT, kT, false), tb = build_table(cb, B, Hq, qT2, kT2, true);

  char tag[64];
  snprintf(tag, sizeof tag, "fwd%s%s", use_mask_tables ? "" : "(nomask)", kv_bcast ? "(kv bcast)" : "");
  FlexFwdArgs fa{};
  fa.q = q; fa.k = k; fa.v = v; fa.out = out; fa.lse = lse; fa.max_scores = maxs;
  fa.bt = tf.bt; fa.B = B; fa.Hq = Hq; fa.Hkv = Hkv; fa.Lq = Lq; fa.Lkv = Lkv; fa.scale = (float)scale;
  fa.has_block_mask = use_mask_tables;
  set_kv_strides(fa, E, Ev, kv_bcast);
  poison(out, nO * sizeof(T));
  poison(lse, nL * 4);
  poison(maxs, nL * 4);
  if constexpr (f32) launch_fwd_f32<E, Ev>(fa, sp, mp); else launch_fwd<FC, T>(fa, sp, mp);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  auto gout = download(out, nO);
  auto glse = download(lse, nL);
  report(tag, tname<T>(), E, Ev, compare(gout, r.out), tol);
  snprintf(tag, sizeof tag, "lse%s", use_mask_tables ? "" : "(nomask)");
  report(tag, tname<T>(), E, Ev, compare(glse, r.lse), tol);
  report("max_scores", tname<T>(), E, Ev, compare(download(maxs, nL), r.maxs), tol);
  if (!use_mask_tables || kv_bcast) goto done;  // the mask is needed for the semantics below
  {
    FlexBwdArgs ba{};
    ba.q = q; ba.k = k; ba.v = v; ba.out = out; ba.dout = dO; ba.lse = lse; ba.delta = delta; ba.dq_accum = dqa;
    ba.dq = dq; ba.dk = dk; ba.dv = dv; ba.bt = tb.bt; ba.B = B; ba.Hq = Hq; ba.Hkv = Hkv; ba.Lq = Lq; ba.Lkv = Lkv;
    ba.scale = (float)scale; ba.has_block_mask = 1; ba.dlse = ddlse;
    ba.dq_semaphore = sem; ba.dq_rank = tb.rank;
    set_kv_strides(ba, E, Ev, false);
    poison(dq, nL * E * sizeof(T));
    poison(dk, (size_t)B * Hkv * Lkv * E * sizeof(T));
    poison(dv, (size_t)B * Hkv * Lkv * Ev * sizeof(T));
    poison(dqa, nL * E * 4);
    poison(delta, nL * 4);
    CK(cudaMemset(c.d_grad_slope, 0, Hq * 4));
    if constexpr (f32) launch_bwd_f32<E, Ev>(ba, sp, mp); else launch_bwd<BC, T>(ba, sp, mp);
    CK(cudaGetLastError());
    finish_bwd<BC>(ba, "first launch");
    const double btol = tol * 2;
    report(g_dlse ? "bwd dq (dlse)" : "bwd dq", tname<T>(), E, Ev, compare(download(dq, nL * E), r.dq), btol);
    report("bwd dk", tname<T>(), E, Ev, compare(download(dk, (size_t)B * Hkv * Lkv * E), r.dk), btol);
    report("bwd dv", tname<T>(), E, Ev, compare(download(dv, (size_t)B * Hkv * Lkv * Ev), r.dv), btol);
#if HOST_HAS_CAPTURE
    report("bwd dslope", tname<T>(), E, Ev, compare(download(c.d_grad_slope, Hq), r.gslope), btol * 2);
#endif
    if constexpr (IsBwdFa3<BC>::value) {
      // the deterministic backward: the same bits in every run (dq through the fixed dQ order); the
      // default one is reported beside it (its reruns may differ: that is what the option is for).
      // Capture gradients are atomics in every body (the backend refuses them with the option), so
      // their reruns are reported, not judged.
      const RerunDiff d = rerun_bits<BC, T>(ba, sp, mp, c, Hq);
      if (BC::DET && d.tensors) g_fail++;
      if (BC::DET)
        printf("CHECK %-16s %-14s %-4s E%-3d Ev%-3d 3 reruns, %d of 9 dq/dk/dv differ in some bit  %s\n", MOD_NAME,
               "bwd det bits", tname<T>(), E, Ev, d.tensors, d.tensors ? "FAIL" : "PASS");
      else
        printf("INFO  %-16s %-14s %-4s E%-3d Ev%-3d 3 reruns, %d of 9 dq/dk/dv differ in some bit\n", MOD_NAME,
               "bwd default bits", tname<T>(), E, Ev, d.tensors);
      if (HOST_HAS_CAPTURE)
        printf("INFO  %-16s %-14s %-4s E%-3d Ev%-3d 3 reruns, %d of 3 capture gradients differ in some bit\n", MOD_NAME,
               BC::DET ? "bwd det grads" : "bwd default grads", tname<T>(), E, Ev, d.captures);
      if constexpr (BC::DET) {
        // the default body on the same inputs, for contrast ("checkdet" runs only the deterministic cases)
        if (g_det_twin) {
          using Twin = flex::BwdFa3Cfg<BC::D, BC::BMQ, BC::STAGES, false>;
          const RerunDiff t = rerun_bits<Twin, T>(ba, sp, mp, c, Hq);
          printf("INFO  %-16s %-14s %-4s E%-3d Ev%-3d 3 reruns, %d of 9 dq/dk/dv differ in some bit\n", MOD_NAME,
                 "bwd default bits", tname<T>(), E, Ev, t.tensors);
        }
      }
      if (BC::DET && FLEX_MASK_MOD_IS_TRUE) {  // no block mask: every kv tile visits every q tile, ranks from kt
        ba.has_block_mask = 0;
        poison(dq, nL * E * sizeof(T));
        launch_bwd<BC, T>(ba, sp, mp);
        CK(cudaGetLastError());
        finish_bwd<BC>(ba, "no-mask launch");
        report("bwd dq det(nomask)", tname<T>(), E, Ev, compare(download(dq, nL * E), r.dq), btol);
      }
    }
  }
done:
  tf.free_all();
  tb.free_all();
  cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(dO); cudaFree(out); cudaFree(lse); cudaFree(delta);
  cudaFree(dqa); cudaFree(dq); cudaFree(dk); cudaFree(dv); cudaFree(maxs); cudaFree(ddlse); cudaFree(sem);
}

// HARNESS_DEC_VARIANT: the decoder's variant bits (DecCfg VAR) every check uses; default the backend's
// (config.ts DECODE_VARIANT)
#ifndef HARNESS_DEC_VARIANT
#define HARNESS_DEC_VARIANT 3
#endif
template <typename T, int E, int Ev, int ROWS, int STAGES = 2>
void check_decode(int B, int Hq, int Hkv, int Lq, int Lkv, int keys_per_split) {
  using C = flex::DecCfg<E, Ev, ROWS, sizeof(T), STAGES, HARNESS_DEC_VARIANT>;
  const double tol = std::is_same<T, float>::value ? 1e-4 : std::is_same<T, __half>::value ? 5e-3 : 2e-2;
  ModCtx c;
  setup_ctx(c, Hq, std::max(Lq, Lkv), 200);
  FlexScoreParams sp{};
  FlexMaskParams mp{};
  HostMod::setup(c, sp, mp);
  std::vector<float> hq, hk, hv;
  T* q = rand_tensor<T>((size_t)B * Hq * Lq * E, hq);
  T* k = rand_tensor<T>((size_t)B * Hkv * Lkv * E, hk);
  T* v = rand_tensor<T>((size_t)B * Hkv * Lkv * Ev, hv);
  if (g_special != SPECIAL_NONE) apply_special<T>(Hq, Hkv, Lq, Lkv, E, Ev, hq, hk, hv, q, k, v);
  const size_t nO = (size_t)B * Hq * Lq * Ev, nL = (size_t)B * Hq * Lq;
  const int splits = (Lkv + keys_per_split - 1) / keys_per_split;
  T* out;
  float *lse, *po, *pl;
  CK(cudaMalloc(&out, nO * sizeof(T)));
  CK(cudaMalloc(&lse, nL * 4));
  CK(cudaMalloc(&po, splits * nO * 4));
  CK(cudaMalloc(&pl, splits * nL * 4));
  const double scale = 1.0 / std::sqrt((double)E);
  Ref r;
  reference(c, B, Hq, Hkv, Lq, Lkv, E, Ev, scale, hq, hk, hv, nullptr, r);
  // dense classes at a "user" granularity of 16 x 128, mB = 1, mH = Hq
  ElemMask em = make_mask(c, 1, Hq, Lq, Lkv);
  int qT, kT;
  auto cls = classify(em, 16, 128, qT, kT);
  unsigned char* dcls;
  CK(cudaMalloc(&dcls, cls.size()));
  CK(cudaMemcpy(dcls, cls.data(), cls.size(), cudaMemcpyHostToDevice));
  FlexDecodeArgs a{};
  a.q = q; a.k = k; a.v = v; a.out = out; a.lse = lse; a.part_o = po; a.part_lse = pl; a.cls = dcls;
  a.B = B; a.Hq = Hq; a.Hkv = Hkv; a.Lq = Lq; a.Lkv = Lkv; a.scale = (float)scale; a.num_splits = splits;
  a.keys_per_split = keys_per_split; a.has_block_mask = 1; a.cls_mB = 1; a.cls_mH = Hq; a.cls_q_blocks = qT;
  a.cls_kv_blocks = kT; a.cls_block_q = 16; a.cls_block_kv = 128;
  set_kv_strides(a, E, Ev, false);
  float *maxs, *pm;
  CK(cudaMalloc(&maxs, nL * 4));
  CK(cudaMalloc(&pm, splits * nL * 4));
  a.max_scores = maxs; a.part_max = pm;
  // twice, the outputs poisoned between: the second launch merges only if the first re-armed the
  // merge counters (launch_dec's are zeroed once, as the backend's are per call)
  launch_dec<C, T>(a, sp, mp);
  CK(cudaDeviceSynchronize());
  poison(out, nO * sizeof(T));
  poison(lse, nL * 4);
  poison(maxs, nL * 4);
  launch_dec<C, T>(a, sp, mp);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  char tag[64];
  snprintf(tag, sizeof tag, "decode R%d S%d", ROWS, STAGES);
  report(tag, tname<T>(), E, Ev, compare(download(out, nO), r.out), tol);
  snprintf(tag, sizeof tag, "decode lse R%d S%d", ROWS, STAGES);
  report(tag, tname<T>(), E, Ev, compare(download(lse, nL), r.lse), tol);
#if FLEX_MAX_SCORES
  snprintf(tag, sizeof tag, "decode max_scores R%d S%d", ROWS, STAGES);
  report(tag, tname<T>(), E, Ev, compare(download(maxs, nL), r.maxs), tol);
#endif
  cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(out); cudaFree(lse); cudaFree(po); cudaFree(pl); cudaFree(dcls);
  cudaFree(maxs); cudaFree(pm);
}

// ------------------------------------------------------------------------------------------------
// timing
// ------------------------------------------------------------------------------------------------
struct Anchor { const char* mod; int D; double fwd, fwdbwd, fa2; };
static const Anchor kAnchors[] = {
    {"noop", 64, 0.683, 2.897, 0.906}, {"causal", 64, 0.420, 1.703, 0.517}, {"alibi", 64, 0.761, 3.104, 0},
    {"softcap", 64, 2.132, 7.297, 0}, {"softcap_approx", 64, 2.132, 7.297, 0},
    {"sliding_window_causal", 64, 0.229, 0.951, 0}, {"document", 64, 0.310, 0.978, 0},
    {"noop", 128, 2.238, 8.624, 3.027}, {"causal", 128, 1.378, 4.931, 1.734}, {"alibi", 128, 2.408, 9.017, 0},
    {"softcap", 128, 5.035, 17.349, 0}, {"softcap_approx", 128, 5.035, 17.349, 0},
    {"sliding_window_causal", 128, 0.414, 1.497, 0}, {"document", 128, 0.637, 2.284, 0},
};
static const Anchor* anchor(int D) {
  for (auto& a : kAnchors)
    if (!strcmp(a.mod, MOD_NAME) && a.D == D) return &a;
  return nullptr;
}

template <class F> double time_ms(F&& f, int reps = 20) {
  for (int i = 0; i < 3; ++i) f();
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<float> ts;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(e0);
    f();
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    ts.push_back(ms);
  }
  CK(cudaGetLastError());
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

static void print_time(const char* what, const char* cfg, int B, int H, int L, int D, double density, double ms,
                       double mult, double anchor_ms, const char* anchor_name) {
  const double tf = mult * 4.0 * B * H * (double)L * L * D * density / (ms * 1e-3) / 1e12;
  printf("TIME %-22s %-8s %-22s B%d H%d L%d D%d dens %.2f  %8.3f ms %6.1f TFLOP/s", MOD_NAME, what, cfg, B, H, L, D,
         density, ms, tf);
  if (anchor_ms > 0) printf("   %s %.3f ms -> ours/theirs speed %.2fx", anchor_name, anchor_ms, anchor_ms / ms);
  printf("\n");
  fflush(stdout);
}

template <int D, class... FCs> struct FwdVariants;

// Several backward configs timed after the same forward: time_shape<D, Bwds<X, Y>, FC>
template <class... BCs> struct Bwds {};
template <int D, class BC, class... FCs> struct TimeShape {
  static void run(int B, int H, int L, bool do_bwd) { TimeShape<D, Bwds<BC>, FCs...>::run(B, H, L, do_bwd); }
};
template <int D, class... BCs, class... FCs> struct TimeShape<D, Bwds<BCs...>, FCs...> {
  static void run(int B, int H, int L, bool do_bwd);
};
template <int D, class BC, class... FCs>
void time_shape(int B, int H, int L, bool do_bwd, const char* /*bwd_name*/) { TimeShape<D, BC, FCs...>::run(B, H, L, do_bwd); }
template <int D, class... BCs, class... FCs>
void TimeShape<D, Bwds<BCs...>, FCs...>::run(int B, int H, int L, bool do_bwd) {
  using T = __nv_bfloat16;
  ModCtx c;
  setup_ctx(c, H, L, 1024);
  FlexScoreParams sp{};
  FlexMaskParams mp{};
  HostMod::setup(c, sp, mp);
  std::vector<float> hq, hk, hv, hdo;
  const size_t n = (size_t)B * H * L * D;
  T* q = rand_tensor<T>(n, hq);
  T* k = rand_tensor<T>(n, hk);
  T* v = rand_tensor<T>(n, hv);
  T* dO = rand_tensor<T>(n, hdo);
  T *out, *dq, *dk, *dv;
  float *lse, *delta, *dqa;
  CK(cudaMalloc(&out, n * 2)); CK(cudaMalloc(&dq, n * 2)); CK(cudaMalloc(&dk, n * 2)); CK(cudaMalloc(&dv, n * 2));
  CK(cudaMalloc(&lse, (size_t)B * H * L * 4)); CK(cudaMalloc(&delta, (size_t)B * H * L * 4)); CK(cudaMalloc(&dqa, n * 4));
  int* sem;  // the deterministic backward's counters (q tiles of 16 rows or more)
  CK(cudaMalloc(&sem, ((size_t)B * H * L / 16 + (size_t)B * H) * 4));
  ElemMask em = make_mask(c, 1, 1, L, L);
  size_t cnt = 0;
  for (auto x : em.m) cnt += x;
  const double density = (double)cnt / em.m.size();
  const Anchor* an = anchor(D);
  const bool masked = !FLEX_MASK_MOD_IS_TRUE;
  auto run_fwd = [&](auto cfg_tag) {
    using FC = decltype(cfg_tag);
    int qT, kT;
    DevTable t{};
    if (masked) {
      auto cls = classify(em, FC::BM, FC::BN, qT, kT, FC::q_offset(L));  // sets qT, kT (not inside the call: argument order)
      t = build_table(cls, 1, 1, qT, kT, false);
    }
    FlexFwdArgs a{};
    a.q = q; a.k = k; a.v = v; a.out = out; a.lse = lse; a.bt = t.bt; a.B = B; a.Hq = H; a.Hkv = H; a.Lq = L;
    a.Lkv = L; a.scale = 1.f / std::sqrt((float)D); a.has_block_mask = masked;
    set_kv_strides(a, D, D, false);
    char cfg[64];
    double ms;
    if constexpr (IsFa3<FC>::value) {
      const Fa3Maps maps = fa3_maps<FC, T>(a);  // encoded once, outside the timed launches
      ms = time_ms([&] { launch_fa3<FC, T>(a, sp, mp, maps); });
      snprintf(cfg, sizeof cfg, "BM%d BN%d W%d S%d E%d FA3%s%s", FC::BM, FC::BN, FC::NWARPS, FC::STAGES, FC::EMU,
               FC::SMX == 0 ? "" : FC::EMU == 0 ? " v1" : " v2", FC::BACC ? " BACC" : "");
    } else {
      ms = time_ms([&] { launch_fwd<FC, T>(a, sp, mp); });
      snprintf(cfg, sizeof cfg, "BM%d BN%d W%d S%d%s%s M%d%s", FC::BM, FC::BN, FC::NWARPS, FC::STAGES, FC::MT_OUTER ? " mo" : "", FC::ONE_BLOCK ? " ob" : "", FC::MINB, FC::WG_TILE ? " WG" : "");  // host side: the tile shapes (FLEX_WGMMA is 0 in the host pass)
    }
    print_time("fwd", cfg, B, H, L, D, density, ms, 1.0, an ? an->fwd : 0, "flex");
    if (an && an->fa2 > 0) print_time("fwd", cfg, B, H, L, D, density, ms, 1.0, an->fa2, "FA2 ");
    if (masked) t.free_all();
    return ms;
  };
  (run_fwd(FCs{}), ...);
  if (do_bwd) {
    using FC = typename std::tuple_element<0, std::tuple<FCs...>>::type;
    int qT, kT;
    DevTable tf{};
    if (masked) {
      auto cf = classify(em, FC::BM, FC::BN, qT, kT, FC::q_offset(L));
      tf = build_table(cf, 1, 1, qT, kT, false);
    }
    FlexFwdArgs a{};
    a.q = q; a.k = k; a.v = v; a.out = out; a.lse = lse; a.bt = tf.bt; a.B = B; a.Hq = H; a.Hkv = H; a.Lq = L;
    a.Lkv = L; a.scale = 1.f / std::sqrt((float)D); a.has_block_mask = masked;
    set_kv_strides(a, D, D, false);
    // one backward config after the forward (FC): bwd alone, then fwd+bwd; returns both times
    auto time_bwd = [&](auto bc_tag) {
      using BC = decltype(bc_tag);
      DevTable tb{};
      if (masked) {
        auto cb = classify(em, BC::BMQ, BC::BN, qT, kT);
        tb = build_table(cb, 1, 1, qT, kT, true);
      }
      FlexBwdArgs ba{};
      ba.q = q; ba.k = k; ba.v = v; ba.out = out; ba.dout = dO; ba.lse = lse; ba.delta = delta; ba.dq_accum = dqa;
      ba.dq = dq; ba.dk = dk; ba.dv = dv; ba.bt = tb.bt; ba.B = B; ba.Hq = H; ba.Hkv = H; ba.Lq = L; ba.Lkv = L;
      ba.scale = a.scale; ba.has_block_mask = masked;
      ba.dq_semaphore = sem; ba.dq_rank = tb.rank;
      set_kv_strides(ba, D, D, false);
      // the backward's tensor maps (FA3-class body) encoded once, outside the timed launches
      BwdFa3Maps bm{};
      if constexpr (IsBwdFa3<BC>::value) bm = bwd_fa3_maps<BC, T>(ba);
      auto bwd = [&] {
        if constexpr (IsBwdFa3<BC>::value) launch_bwd_fa3<BC, T>(ba, sp, mp, bm);
        else launch_bwd<BC, T>(ba, sp, mp);
      };
      const double msb = time_ms(bwd);
      double ms;
      if constexpr (IsFa3<FC>::value) {
        const Fa3Maps maps = fa3_maps<FC, T>(a);
        ms = time_ms([&] { launch_fa3<FC, T>(a, sp, mp, maps); bwd(); });
      } else {
        ms = time_ms([&] { launch_fwd<FC, T>(a, sp, mp); bwd(); });
      }
      char cfg[64];
      if constexpr (IsBwdFa3<BC>::value) snprintf(cfg, sizeof cfg, "bwd BMQ%d BN%d S%d FA3%s", BC::BMQ, BC::BN, BC::STAGES, BC::DET ? " det" : "");
      else snprintf(cfg, sizeof cfg, "bwd BMQ%d BN%d W%d%s", BC::BMQ, BC::BN, BC::NWARPS, BC::WG ? " WG" : "");
      print_time("bwd", cfg, B, H, L, D, density, msb, 2.5, 0, "");
      print_time("fwd+bwd", cfg, B, H, L, D, density, ms, 3.5, an ? an->fwdbwd : 0, "flex");
      if (masked) tb.free_all();
      return std::make_pair(msb, ms);
    };
    const std::pair<double, double> times[] = {time_bwd(BCs{})...};
    // Bwds<default, deterministic[, default again]>: the second against the first (and third: the
    // default's mean, so a drift in clocks between them shows) — issue 15: within 15%
    if (sizeof...(BCs) >= 2) {
      const int n = sizeof...(BCs);
      const double db = n > 2 ? (times[0].first + times[2].first) / 2 : times[0].first;
      const double dfb = n > 2 ? (times[0].second + times[2].second) / 2 : times[0].second;
      // the second config: the deterministic body, or (not deterministic) a variant of the default
      constexpr bool dets[] = {bwd_is_det<BCs>()...};
      printf("RATIO %-21s %s B%d H%d L%d D%d  bwd %.3f / %.3f ms = %.3f  fwd+bwd %.3f / %.3f ms = %.3f\n", MOD_NAME,
             n > 1 && dets[1] ? "det/default" : "variant/default", B, H, L, D, times[1].first, db, times[1].first / db, times[1].second, dfb, times[1].second / dfb);
      fflush(stdout);
    }
    if (masked) tf.free_all();
  }
  cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(dO); cudaFree(out); cudaFree(dq); cudaFree(dk); cudaFree(dv);
  cudaFree(lse); cudaFree(delta); cudaFree(dqa); cudaFree(sem);
}

template <int ROWS, int STAGES = 2> void time_decode(int splits) {
  using T = __nv_bfloat16;
  constexpr int D = 128;
  using C = flex::DecCfg<D, D, ROWS, 2, STAGES>;
  const int B = 8, Hq = 32, Hkv = 8, Lq = 1, Lkv = 8192;
  ModCtx c;
  setup_ctx(c, Hq, Lkv, 1024);
  FlexScoreParams sp{};
  FlexMaskParams mp{};
  HostMod::setup(c, sp, mp);
  std::vector<float> hq, hk, hv;
  T* q = rand_tensor<T>((size_t)B * Hq * Lq * D, hq);
  T* k = rand_tensor<T>((size_t)B * Hkv * Lkv * D, hk);
  T* v = rand_tensor<T>((size_t)B * Hkv * Lkv * D, hv);
  T* out;
  float *lse, *po, *pl;
  const size_t nO = (size_t)B * Hq * Lq * D, nL = (size_t)B * Hq * Lq;
  CK(cudaMalloc(&out, nO * 2)); CK(cudaMalloc(&lse, nL * 4));
  CK(cudaMalloc(&po, splits * nO * 4)); CK(cudaMalloc(&pl, splits * nL * 4));
  FlexDecodeArgs a{};
  a.q = q; a.k = k; a.v = v; a.out = out; a.lse = lse; a.part_o = po; a.part_lse = pl; a.cls = nullptr;
  a.B = B; a.Hq = Hq; a.Hkv = Hkv; a.Lq = Lq; a.Lkv = Lkv; a.scale = 1.f / std::sqrt((float)D);
  a.num_splits = splits; a.keys_per_split = (Lkv / splits + 63) / 64 * 64; a.has_block_mask = 0;
  set_kv_strides(a, D, D, false);
  const double ms = time_ms([&] { launch_dec<C, T>(a, sp, mp); }, 50);
  const double bytes = 2.0 * B * Hkv * Lkv * D * 2;
  printf("TIME %-22s decode   R%d S%d splits %-3d         B8 Hq32 Hkv8 Lq1 Lkv8192 D128  %8.4f ms  %7.1f GB/s K+V   (flex 0.311 ms, 864 GB/s -> %.2fx)\n",
         MOD_NAME, ROWS, STAGES, splits, ms, bytes / (ms * 1e-3) / 1e9, 0.311 / ms);
  cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(out); cudaFree(lse); cudaFree(po); cudaFree(pl);
}

// ------------------------------------------------------------------------------------------------
using namespace flex;
// default configs (keep in sync with the entry-point defaults and src/config.ts)
using F64 = FwdCfg<64, 64, 128, 128, 4, 3>;  // BN 128 (run 3), 3 stages (session 2 sweep)
using F128 = FwdCfg<128, 128, 128, 64, 4, 2, true, true>;  // row-block outer + one block (session 2 sweep)
using F40 = FwdCfg<40, 40, 128, 128, 4, 2>;
using W64 = FwdCfg<64, 64, 128, 128, 4, 3, false, false, 1, true>;    // Hopper body (session 3 sweep)
using W128 = FwdCfg<128, 128, 256, 64, 8, 2, false, false, 1, true>;
// the persistent warp-specialised Hopper body (flex_fwd_fa3.cuh): D, DV, BN, consumer warpgroups, stages
// (D64: the softmax the kernel entry picks — flex_fwd_entry.cuh: SMX 1, and EMU 1 with two warpgroups)
using A64 = Fa3Cfg<64, 64, 128, 2, 3, 1, 1>;
using A64w3 = Fa3Cfg<64, 64, 128, 3, 2, 0, 1>;
using A128 = Fa3Cfg<128, 128, 128, 2, 2>;
using A128s3 = Fa3Cfg<128, 128, 128, 2, 3>;
using A64x128 = Fa3Cfg<64, 128, 128, 2, 2>;
// exp2 of 3 (D64) / 2 (D128) of every 8 key columns on the FMA pipe
using A64e = Fa3Cfg<64, 64, 128, 2, 3, 3>;
using A128e = Fa3Cfg<128, 128, 128, 2, 2, 2>;
// the D64 configs with fa3_softmax (SMX 0), the softmax they had before session 13, for comparison
using A64w3s0 = Fa3Cfg<64, 64, 128, 3, 2>;
using A64s0 = Fa3Cfg<64, 64, 128, 2, 3>;
// head dim 256: two consumer warpgroups (BM 128), BN 64, 2 stages (Q 64 KB + 2 × (K + V) 64 KB);
// F256 / B256: the classic bodies config.ts gave it before (and still gives off Hopper)
using A256 = Fa3Cfg<256, 256, 64, 2, 2>;
// the additive score mod written into S's accumulator (Fa3Cfg::BACC; the same body as the config
// before it where the mod is not additive)
using A64b = Fa3Cfg<64, 64, 128, 2, 3, 1, 1, 1>;
using A64w3b = Fa3Cfg<64, 64, 128, 3, 2, 0, 1, 1>;
using A128b = Fa3Cfg<128, 128, 128, 2, 2, 0, 0, 1>;
using A256n80 = Fa3Cfg<256, 256, 80, 2, 2>;  // FlashAttention-3's hdim-256 kBlockN: 224 KB of shared memory
using F256 = FwdCfg<256, 256, 64, 32, 4, 2>;
using F64x128 = FwdCfg<64, 128, 128, 64, 8, 2>;
using B64 = BwdCfg<64, 64, 64, 8, true>;    // wgmma Sᵀ / dPᵀ on sm_90a (session 2)
using B128 = BwdCfg<128, 128, 64, 8, true>;
using B64s = BwdCfg<64, 64, 64, 8>;         // mma.sync only
using B128s = BwdCfg<128, 128, 64, 8>;
using B40 = BwdCfg<40, 40, 64, 8>;
using B256 = BwdCfg<256, 256, 32, 4, true>;  // config.ts's D256 backward (BMQ 32: mma.sync, WG off)
using B64x128 = BwdCfg<64, 128, 64, 4>;
// the FA3-class Hopper backward (flex_bwd_fa3.cuh): D, BMQ, Q/dO stages
using C64 = BwdFa3Cfg<64, 128, 2>;
using C128 = BwdFa3Cfg<128, 64, 2>;
// … and its deterministic variant (the fixed dQ order)
using C64d = BwdFa3Cfg<64, 128, 2, true>;
using C128d = BwdFa3Cfg<128, 64, 2, true>;

// §4's special values on every 16-bit body pair at head dims 64 and 128, the f32 one and the decoder: the
// fast paths' non-finite outputs that §4 makes finite are recomputed by kernels/special.cuh
// ("special"; meant for the causal binary, where the poisoned keys are masked for some rows)
#if !defined(HARNESS_DEC_ONLY)
void check_special() {
  for (int kind = SPECIAL_NONE + 1; kind < SPECIAL_COUNT; ++kind) {
    g_special = kind;
    printf("# special: %s\n", kSpecialNames[kind]);
    check_case<__nv_bfloat16, 64, 64, A64, C64>(1, 2, 2, 200, 200, true);     // persistent fwd, FA3-class bwd
    check_case<__half, 128, 128, A128, C128>(1, 2, 2, 200, 200, true);
    check_case<__half, 64, 64, W64, B64>(1, 2, 2, 200, 200, true);            // per-CTA Hopper fwd, classic bwd
    check_case<__nv_bfloat16, 128, 128, W128, B128>(1, 2, 2, 200, 200, true);
    check_case<__nv_bfloat16, 64, 64, F64, B64s>(1, 2, 2, 200, 200, true);    // mma.sync fwd and bwd
    check_case<__half, 128, 128, F128, B128s>(1, 2, 2, 200, 200, true);
    check_case<float, 64, 64, F64, B64>(1, 2, 2, 200, 200, true);             // the f32 SIMT bodies
    check_decode<__nv_bfloat16, 128, 128, 4>(2, 8, 2, 3, 1000, 256);        // the split-KV decoder and merge
    check_decode<__half, 64, 64, 8>(2, 8, 2, 2, 777, 192);
  }
  g_special = SPECIAL_NONE;
}
#endif

#if !defined(HARNESS_SPECIAL_ONLY) && !defined(HARNESS_DEC_ONLY)
#ifndef HARNESS_D256_ONLY  // (the FA3-class backward's checks and timings: not in the D256 binary)
// the deterministic variant ("checkdet": alone, each case with the default body's reruns beside it;
// "checkdetsmall": one small case without them, for the sanitizers): the same checks against float64,
// bitwise equal reruns. bf16 / f16, D64 / D128, GQA, odd lengths, a gradient of lse, and several kv
// tiles (BN 128) per q tile so the fixed order has something to order. Sized so that the float64
// reference (the run's cost: about 10 µs a (row, key) pair on the GPU machine's CPU) ends in seconds.
void check_bwd3_det(bool small) {
  g_det_twin = !small;
  if (small) g_hang_s = 35;  // under a sanitizer every launch is many times slower
  check_case<__nv_bfloat16, 128, 128, A128, C128d>(2, 4, 2, 77, 131, true);   // GQA 2:1, odd lengths
  if (small) return;
  check_case<__half, 64, 64, A64, C64d>(1, 2, 2, 300, 260, true);
  check_case<__half, 128, 128, A128, C128d>(1, 4, 1, 200, 1100, true);        // GQA 4:1, 9 kv tiles
  check_case<__nv_bfloat16, 64, 64, A64, C64d>(1, 4, 2, 520, 520, true);       // causal: up to 5 kv tiles a q tile
  check_case<__half, 64, 64, A64, C64d>(2, 2, 1, 130, 900, true);
  g_dlse = true;
  check_case<__nv_bfloat16, 128, 128, A128, C128d>(2, 4, 2, 77, 500, true);
  g_dlse = false;
}
// the FA3-class Hopper backward (flex_bwd_fa3.cuh; "checkbwd3" / "timebwd3"); the default body's
// cases alone ("checkbwd" of the FA3-only binary), then with the deterministic variant's
void check_bwd3_default() {
  // odd lengths, GQA, bf16 / f16, D64 / D128,
  // a gradient of lse, many q tiles per kv tile
  check_case<__nv_bfloat16, 128, 128, A128, C128>(2, 4, 2, 77, 131, true);
  check_case<__nv_bfloat16, 128, 128, A128, C128>(1, 2, 2, 300, 260, true);
  check_case<__half, 128, 128, A128, C128>(2, 4, 2, 77, 131, true);
  check_case<__nv_bfloat16, 128, 128, A128, C128>(1, 4, 1, 1000, 1100, true);
  check_case<__nv_bfloat16, 64, 64, A64, C64>(2, 4, 2, 77, 131, true);
  check_case<__nv_bfloat16, 64, 64, A64, C64>(1, 2, 2, 300, 260, true);
  check_case<__half, 64, 64, A64, C64>(2, 4, 2, 77, 131, true);
  check_case<__nv_bfloat16, 64, 64, A64, C64>(1, 8, 2, 1000, 700, true);
  g_dlse = true;
  check_case<__nv_bfloat16, 128, 128, A128, C128>(2, 4, 2, 77, 131, true);
  check_case<__half, 64, 64, A64, C64>(1, 2, 2, 300, 260, true);
  g_dlse = false;
}
void check_bwd3() {
  check_bwd3_default();
  check_bwd3_det(false);
}
// the FA3-class backward against the session-3 one, both after the persistent forward
// (and its deterministic variant beside it)
void time_bwd3() {
  time_shape<64, Bwds<C64, C64d, B64>, A64>(4, 16, 4096, true, "");
  time_shape<128, Bwds<C128, C128d, B128>, A128>(2, 16, 8192, true, "");
}
// "timedet64" / "timedet128" (or "timedet": both): default vs deterministic FA3-class backward, alone and
// after the persistent forward, default timed again after the deterministic one; the RATIO line
void time_det(const char* mode) {
  const bool d64 = !strstr(mode, "128"), d128 = !strstr(mode, "64");
  if (d64) time_shape<64, Bwds<C64, C64d, C64>, A64>(4, 16, 4096, true, "");
  if (d128) time_shape<128, Bwds<C128, C128d, C128>, A128>(2, 16, 8192, true, "");
}
#endif

// head dim 256 on the persistent forward (the backward: its classic body): odd lengths, GQA,
// bf16 / f16, K/V broadcast over the batch, no block tables, few CTAs for many tiles each
void check_d256() {
  check_case<__nv_bfloat16, 256, 256, A256, B256>(2, 4, 2, 77, 131, true);
  check_case<__half, 256, 256, A256, B256>(1, 2, 2, 300, 260, true);
  check_case<__nv_bfloat16, 256, 256, A256, B256>(2, 4, 2, 200, 300, true, true);
  if (FLEX_MASK_MOD_IS_TRUE) check_case<__half, 256, 256, A256, B256>(2, 4, 2, 77, 131, false);
  g_fa3_ctas = 3;
  check_case<__nv_bfloat16, 256, 256, A256, B256>(1, 4, 2, 300, 700, true);
  g_fa3_ctas = 0;
  // the BN 80 variant (kv tiles across the mask's block edges; 131 = one tile and 51 keys)
  check_case<__nv_bfloat16, 256, 256, A256n80, B256>(2, 4, 2, 77, 131, true);
  check_case<__half, 256, 256, A256n80, B256>(1, 2, 2, 300, 260, true);
  g_fa3_ctas = 3;
  check_case<__nv_bfloat16, 256, 256, A256n80, B256>(1, 4, 2, 300, 700, true);
  g_fa3_ctas = 0;
}
#if !defined(HARNESS_D256_ONLY) && !defined(HARNESS_BWD3_ONLY)
// the D64 configs' fa3_softmax, kept for comparison (also "checksmx" alone): odd lengths, a lone key
// tile, f16, many tiles per CTA, GQA
void check_fa3_smx() {
  check_case<__nv_bfloat16, 64, 64, A64w3s0, B64>(2, 4, 2, 77, 131, true);
  check_case<__half, 64, 64, A64w3s0, B64>(1, 2, 2, 200, 100, true);
  check_case<__nv_bfloat16, 64, 64, A64s0, B64>(1, 2, 2, 300, 700, true);
  const int ctas = g_fa3_ctas;
  g_fa3_ctas = 3;
  check_case<__nv_bfloat16, 64, 64, A64w3s0, B64>(2, 8, 4, 400, 333, true);
  g_fa3_ctas = ctas;
}
// Fa3Cfg::BACC ("checkbacc"): the checkfa3 shapes that matter for it (odd lengths: boundary tiles,
// the peeled lone tile, GQA, f16, few CTAs), then one long key range (Lkv 16384: biases up to
// slope · 16384 / scale in the accumulator) beside the default body on the same inputs' shape
void check_bacc(bool long_only) {
  if (!long_only) {
    check_case<__nv_bfloat16, 64, 64, A64w3b, B64>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 64, 64, A64w3b, B64>(1, 2, 2, 500, 700, true);
    check_case<__half, 64, 64, A64w3b, B64>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 64, 64, A64w3b, B64>(1, 2, 2, 200, 100, true);
    check_case<__nv_bfloat16, 64, 64, A64b, B64>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 64, 64, A64b, B64>(1, 2, 2, 300, 260, true);
    check_case<__nv_bfloat16, 128, 128, A128b, B128>(2, 4, 2, 77, 131, true);
    check_case<__half, 128, 128, A128b, B128>(1, 2, 2, 300, 700, true);
    check_case<__nv_bfloat16, 128, 128, A128b, B128>(3, 4, 2, 200, 300, true, true);
    if (FLEX_MASK_MOD_IS_TRUE) check_case<__nv_bfloat16, 64, 64, A64w3b, B64>(2, 4, 2, 77, 131, false);
    const int ctas = g_fa3_ctas;
    g_fa3_ctas = 3;
    check_case<__nv_bfloat16, 64, 64, A64w3b, B64>(2, 8, 4, 400, 333, true);
    check_case<__nv_bfloat16, 128, 128, A128b, B128>(2, 8, 2, 300, 500, true);
    g_fa3_ctas = ctas;
    printf("# short BACC checks done\n");
  }
  // "# long default" / "# long BACC" head the two bodies' CHECK lines (go.sh's summary reads them)
  for (int bacc = 0; bacc < 2; ++bacc) {
    printf("# long %s\n", bacc ? "BACC" : "default");
    if (bacc) {
      check_case<__nv_bfloat16, 64, 64, A64w3b, B64>(1, 4, 4, 64, 16384, false);
      check_case<__half, 64, 64, A64w3b, B64>(1, 4, 4, 64, 16384, false);
      check_case<__nv_bfloat16, 128, 128, A128b, B128>(1, 4, 4, 64, 16384, false);
    } else {
      check_case<__nv_bfloat16, 64, 64, A64w3, B64>(1, 4, 4, 64, 16384, false);
      check_case<__half, 64, 64, A64w3, B64>(1, 4, 4, 64, 16384, false);
      check_case<__nv_bfloat16, 128, 128, A128, B128>(1, 4, 4, 64, 16384, false);
    }
  }
}
// the persistent Hopper forward (flex_fwd_fa3.cuh; "checkfa3": only these): odd lengths, GQA, bf16 / f16,
// both warpgroup counts, 2 and 3 stages, K/V broadcast over the batch, then few CTAs for many tiles each
void check_fa3() {
  check_case<__nv_bfloat16, 128, 128, A128, B128>(2, 4, 2, 77, 131, true);
  check_case<__nv_bfloat16, 128, 128, A128, B128>(1, 2, 2, 300, 260, true);
  check_case<__nv_bfloat16, 128, 128, A128, B128>(1, 2, 2, 1000, 1100, true);
  check_case<__half, 128, 128, A128, B128>(2, 4, 2, 77, 131, true);
  check_case<__nv_bfloat16, 128, 128, A128s3, B128>(1, 2, 2, 300, 700, true);
  check_case<__nv_bfloat16, 128, 128, A128, B128>(3, 4, 2, 200, 300, true, true);
  check_case<__nv_bfloat16, 64, 64, A64, B64>(2, 4, 2, 77, 131, true);
  check_case<__nv_bfloat16, 64, 64, A64, B64>(1, 2, 2, 300, 260, true);
  check_case<__half, 64, 64, A64, B64>(2, 4, 2, 77, 131, true);
  check_case<__nv_bfloat16, 64, 64, A64w3, B64>(1, 2, 2, 500, 700, true);
  check_case<__nv_bfloat16, 64, 128, A64x128, B64x128>(2, 4, 2, 77, 300, true);
  check_case<__nv_bfloat16, 64, 64, A64e, B64>(1, 2, 2, 300, 700, true);
  check_case<__half, 128, 128, A128e, B128>(2, 4, 2, 77, 300, true);
  check_fa3_smx();
  // one key tile (BN 128): the loop's peeled first tile is also its last (q_empty, the lone P·V)
  check_case<__nv_bfloat16, 64, 64, A64w3, B64>(1, 2, 2, 200, 100, true);
  check_case<__half, 128, 128, A128, B128>(2, 2, 1, 130, 128, true);
  if (FLEX_MASK_MOD_IS_TRUE) check_case<__nv_bfloat16, 64, 64, A64, B64>(2, 4, 2, 77, 131, false);
  check_d256();
  g_fa3_ctas = 3;
  check_case<__nv_bfloat16, 128, 128, A128, B128>(2, 8, 2, 300, 500, true);
  check_case<__nv_bfloat16, 64, 64, A64w3, B64>(2, 8, 4, 400, 333, true);
  g_fa3_ctas = 0;
  // the backward with a gradient of lse (delta − dlse)
  g_dlse = true;
  check_case<__nv_bfloat16, 128, 128, A128, B128>(2, 4, 2, 77, 131, true);
  check_case<__half, 64, 64, A64w3, B64>(1, 2, 2, 300, 260, true);
  g_dlse = false;
}
#endif
// the persistent body against the classic one it replaces, forward only
void time_d256() { time_shape<256, B256, A256, A256n80, F256>(2, 8, 8192, false, ""); }
#endif  // !HARNESS_SPECIAL_ONLY

// Every main's first step: stdout line-buffered (the runs write to files and a run killed at its time
// cap must leave every finished line behind: a hang then shows where it stopped), then the device.
static void start_run() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  printf("# %s on %s (sm_%d%d, %d SMs)\n", MOD_NAME, prop.name, prop.major, prop.minor, prop.multiProcessorCount);
}

#if defined(HARNESS_DEC_ONLY)
// a small binary (fast to build) with only the decoder's checks ("checkdec"'s cases, then each of
// §4's special values on them), at HARNESS_DEC_VARIANT: make bin/causal EXTRA="-DHARNESS_DEC_ONLY -DHARNESS_DEC_VARIANT=0"
int main() {
  start_run();
  printf("# decoder variant %d\n", HARNESS_DEC_VARIANT);
  check_decode<__nv_bfloat16, 128, 128, 4>(2, 8, 2, 3, 1000, 256);
  check_decode<__nv_bfloat16, 128, 128, 16>(2, 8, 2, 3, 1000, 256);
  check_decode<__half, 64, 64, 8>(2, 8, 2, 2, 777, 192);
  check_decode<float, 40, 40, 4>(2, 8, 2, 1, 500, 128);
  check_decode<__nv_bfloat16, 128, 128, 4, 3>(2, 8, 2, 1, 1000, 256);
  check_decode<__half, 64, 64, 8, 3>(3, 8, 2, 2, 4100, 1024);
  check_decode<__nv_bfloat16, 128, 128, 4, 3>(2, 32, 8, 1, 4100, 64);  // 65 splits: the fast merge's fallback
  for (int kind = SPECIAL_NONE + 1; kind < SPECIAL_COUNT; ++kind) {
    g_special = kind;
    printf("# special: %s\n", kSpecialNames[kind]);
    check_decode<__nv_bfloat16, 128, 128, 4, 3>(2, 8, 2, 3, 1000, 256);
    check_decode<__half, 64, 64, 8>(2, 8, 2, 2, 777, 192);
  }
  g_special = SPECIAL_NONE;
  printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  return g_fail ? 1 : 0;
}
#elif defined(HARNESS_SPECIAL_ONLY)
// a small binary (fast to build) with only the special-value checks
int main() {
  start_run();
  check_special();
  printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  return g_fail ? 1 : 0;
}
#elif defined(HARNESS_FA3_ONLY)
// a small binary (fast to build) for the persistent forward alone: "checkfa3" (its checks), "hopper"
// (its timings at the bench shapes, every variant; D256 beside the classic body), and one
// bench-shaped config per mode for a profiler (ncu --launch-skip 3 --launch-count 1: time_ms's
// warm-up launches come first):
// "prof64w3" / "prof64" (the D64 configs config.ts picks for light / other mods, B4 H16 L4096),
// "prof128" (B2 H16 L8192 D128), "profbwd64" (the FA3-class backward after the D64 forward);
// "checkbwd" (the FA3-class backward's checks without the deterministic variant's), "both64" /
// "both128" (forward, backward and both of the configs a mask reading a tensor gets, bench shapes)
int main(int argc, char** argv) {
  start_run();
  const char* mode = argc >= 2 ? argv[1] : "checkfa3";
  if (!strcmp(mode, "checkfa3")) {
    check_fa3();
    printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  } else if (!strcmp(mode, "hopper")) {
    time_shape<128, C128, A128, A128s3, A128e>(2, 16, 8192, false, "");
    time_shape<64, C64, A64, A64w3, A64e>(4, 16, 4096, false, "");
    time_d256();
  } else if (!strcmp(mode, "checksmx")) {
    check_fa3_smx();
    printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  } else if (!strcmp(mode, "timesmx")) {  // the D64 configs beside their former softmax, interleaved
    time_shape<64, C64, A64w3, A64w3s0, A64w3, A64w3s0, A64w3>(4, 16, 4096, false, "");
    time_shape<64, C64, A64, A64s0, A64, A64s0, A64>(4, 16, 4096, false, "");
  } else if (!strcmp(mode, "prof64w3")) {
    time_shape<64, C64, A64w3>(4, 16, 4096, false, "");
  } else if (!strcmp(mode, "prof64")) {
    time_shape<64, C64, A64>(4, 16, 4096, false, "");
  } else if (!strcmp(mode, "prof128")) {
    time_shape<128, C128, A128>(2, 16, 8192, false, "");
  } else if (!strcmp(mode, "profbwd64")) {
    time_shape<64, C64, A64w3>(4, 16, 4096, true, "");
  } else if (!strcmp(mode, "checkbacc") || !strcmp(mode, "checkbacclong")) {
    check_bacc(!strcmp(mode, "checkbacclong"));
    printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  } else if (!strcmp(mode, "timebacc64")) {  // default vs BACC, interleaved (A B A B A B): BM 192, then BM 128
    time_shape<64, C64, A64w3, A64w3b, A64w3, A64w3b, A64w3, A64w3b>(4, 16, 4096, false, "");
    time_shape<64, C64, A64, A64b, A64, A64b>(4, 16, 4096, false, "");
  } else if (!strcmp(mode, "timebacc128")) {
    time_shape<128, C128, A128, A128b, A128, A128b, A128, A128b>(2, 16, 8192, false, "");
  } else if (!strcmp(mode, "checkbwd")) {
    check_bwd3_default();
    printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  } else if (!strcmp(mode, "both64")) {  // the configs config.ts picks for a heavy mask: fwd, bwd, fwd+bwd
    time_shape<64, C64, A64, A64w3>(4, 16, 4096, true, "");  // (and the light mods' 3-WG forward beside it)
  } else if (!strcmp(mode, "both128")) {
    time_shape<128, C128, A128>(2, 16, 8192, true, "");
  } else {
    fprintf(stderr, "unknown mode '%s': checkfa3 | checksmx | checkbacc | checkbacclong | timebacc64 | timebacc128 | checkbwd | hopper | timesmx | prof64w3 | prof64 | prof128 | profbwd64 | both64 | both128\n", mode);
    return 2;
  }
  return g_fail ? 1 : 0;
}
#elif defined(HARNESS_D256_ONLY)
// a small binary (fast to build) with only the head-dim-256 checks ("check") and timings ("time")
int main(int argc, char** argv) {
  start_run();
  if (argc < 2 || strstr(argv[1], "check")) {
    check_d256();
    printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  }
  if (argc < 2 || strstr(argv[1], "time")) time_d256();
  return g_fail ? 1 : 0;
}
#elif defined(HARNESS_BWD3_ONLY)
// a small binary (fast to build) with only the FA3-class backward's checks and timings
int main(int argc, char** argv) {
  start_run();
  if (argc < 2 || strstr(argv[1], "check")) {
    if (argc >= 2 && strstr(argv[1], "checkdet")) check_bwd3_det(strstr(argv[1], "small") != nullptr);
    else check_bwd3();
    printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  }
  if (argc >= 2 && strstr(argv[1], "timedet")) {
    time_det(argv[1]);
  } else if (argc >= 2 && strstr(argv[1], "time") && (!strcmp(MOD_NAME, "noop") || !strcmp(MOD_NAME, "causal"))) {
    time_bwd3();
  }
  return g_fail ? 1 : 0;
}
#else
int main(int argc, char** argv) {
  const bool do_check = argc < 2 || strstr(argv[1], "check");
  const bool do_time = argc < 2 || strstr(argv[1], "time") || strstr(argv[1], "hopper");
  start_run();
  if (argc >= 2 && strstr(argv[1], "special")) {
    check_special();
    printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
    return g_fail ? 1 : 0;
  }
  // "timedec": only the split-KV decoder's timings (the backend's three-stage config first)
  if (argc >= 2 && strstr(argv[1], "timedec")) {
    time_decode<4, 3>(4);
    time_decode<4>(8);
    return g_fail ? 1 : 0;
  }
  if (do_check) {
    if (strstr(argv[1] ? argv[1] : "", "checkdet")) {
      check_bwd3_det(strstr(argv[1], "small") != nullptr);
      printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
      return g_fail ? 1 : 0;
    }
    // "checkdec": only the split-KV decoder's checks (every stage count and row count it is built with)
    if (strstr(argv[1] ? argv[1] : "", "checkdec")) {
      check_decode<__nv_bfloat16, 128, 128, 4>(2, 8, 2, 3, 1000, 256);
      check_decode<__nv_bfloat16, 128, 128, 16>(2, 8, 2, 3, 1000, 256);
      check_decode<__half, 64, 64, 8>(2, 8, 2, 2, 777, 192);
      check_decode<float, 40, 40, 4>(2, 8, 2, 1, 500, 128);
      check_decode<__nv_bfloat16, 128, 128, 4, 3>(2, 8, 2, 1, 1000, 256);
      check_decode<__half, 64, 64, 8, 3>(3, 8, 2, 2, 4100, 1024);  // a 64-key tail, several tiles per split
      printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
      return g_fail ? 1 : 0;
    }
    if (strstr(argv[1] ? argv[1] : "", "bwd3")) {
      check_bwd3();
      printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
      return g_fail ? 1 : 0;
    }
    check_fa3();
    if (strstr(argv[1] ? argv[1] : "", "fa3")) { printf("CHECK %s: %d failures\n", MOD_NAME, g_fail); return g_fail ? 1 : 0; }
    // small odd shapes: B2 Hq4 Hkv2 Lq77 Lkv131
    check_case<__nv_bfloat16, 64, 64, F64, B64>(2, 4, 2, 77, 131, true);
#ifdef HARNESS_VARIANTS
    check_case<__nv_bfloat16, 64, 64, FwdCfg<64, 64, 128, 64, 4, 2, true, true>, BwdCfg<64, 64, 64, 4>>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 128, 128, FwdCfg<128, 128, 128, 64, 4, 2, true, true>, BwdCfg<128, 128, 64, 4>>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 64, 64, FwdCfg<64, 64, 256, 64, 8, 2>, B64>(2, 4, 2, 300, 131, true);
    check_case<__nv_bfloat16, 64, 64, FwdCfg<64, 64, 128, 128, 4, 2>, B64>(2, 4, 2, 77, 300, true);
    check_case<__nv_bfloat16, 64, 64, FwdCfg<64, 64, 128, 64, 8, 2, false, false, 2>, B64>(2, 4, 2, 77, 300, true);
    check_case<__nv_bfloat16, 128, 128, FwdCfg<128, 128, 128, 64, 8, 2, false, false, 2>, B128>(2, 4, 2, 300, 131, true);
    check_case<__nv_bfloat16, 128, 128, FwdCfg<128, 128, 64, 64, 4, 2, false, false, 3>, B128>(2, 4, 2, 77, 300, true);
#endif
    check_case<__nv_bfloat16, 64, 64, F64, B64s>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 128, 128, F128, B128s>(1, 2, 2, 300, 260, true);
    // the Hopper body (S and P·V on wgmma; the mma.sync body where the compiler lacks sm_90a):
    // one and two warpgroups, one and two 64-row blocks each, BN 64 / 128, bf16 and fp16
    check_case<__nv_bfloat16, 64, 64, W64, B64>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 64, 64, W64, B64>(1, 2, 2, 300, 260, true);
    check_case<__half, 64, 64, W64, B64>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 64, 64, FwdCfg<64, 64, 128, 128, 4, 3, false, false, 1, true>, B64>(1, 2, 2, 300, 260, true);
    check_case<__nv_bfloat16, 64, 64, FwdCfg<64, 64, 128, 64, 8, 3, false, false, 1, true>, B64>(1, 2, 2, 300, 260, true);
    check_case<__nv_bfloat16, 64, 64, FwdCfg<64, 64, 256, 64, 8, 3, false, false, 1, true>, B64>(2, 4, 2, 77, 300, true);
    check_case<__nv_bfloat16, 128, 128, W128, B128>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 128, 128, W128, B128>(1, 2, 2, 300, 260, true);
    check_case<__half, 128, 128, W128, B128>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 128, 128, FwdCfg<128, 128, 128, 64, 8, 2, false, false, 1, true>, B128>(1, 2, 2, 300, 260, true);
    check_case<__nv_bfloat16, 64, 128, FwdCfg<64, 128, 128, 64, 4, 2, false, false, 1, true>, B64x128>(2, 4, 2, 77, 131, true);
    if (FLEX_MASK_MOD_IS_TRUE) check_case<__nv_bfloat16, 64, 64, F64, B64>(2, 4, 2, 77, 131, false);
    check_case<__nv_bfloat16, 128, 128, F128, B128>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 40, 40, F40, B40>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 64, 128, F64x128, B64x128>(2, 4, 2, 77, 131, true);
    check_case<__nv_bfloat16, 128, 128, F128, B128>(1, 2, 2, 300, 260, true);
    check_case<__half, 64, 64, F64, B64>(2, 4, 2, 77, 131, true);
    check_case<__half, 128, 128, F128, B128>(2, 4, 2, 77, 131, true);
    check_case<float, 64, 64, F64, B64>(2, 4, 2, 77, 131, true);
    check_case<float, 40, 40, F40, B40>(2, 4, 2, 77, 131, true);
    check_case<float, 128, 128, F128, B128>(2, 4, 2, 77, 131, true);
    check_decode<__nv_bfloat16, 128, 128, 4>(2, 8, 2, 3, 1000, 256);
    check_decode<__nv_bfloat16, 128, 128, 16>(2, 8, 2, 3, 1000, 256);
    check_decode<__half, 64, 64, 8>(2, 8, 2, 2, 777, 192);
    check_decode<float, 40, 40, 4>(2, 8, 2, 1, 500, 128);
    check_decode<__nv_bfloat16, 128, 128, 4, 3>(2, 8, 2, 1, 1000, 256);  // the backend's D128 16-bit ring
    printf("CHECK %s: %d failures\n", MOD_NAME, g_fail);
  }
  // "hopper": only the Hopper bodies' forward side by side (persistent vs per-CTA), nothing else
  const bool hopper_only = argc >= 2 && strstr(argv[1], "hopper");
  if (argc >= 2 && strstr(argv[1], "timebwd3")) {
    time_bwd3();
    return g_fail ? 1 : 0;
  }
  if (argc >= 2 && strstr(argv[1], "timedet")) {
    time_det(argv[1]);
    return g_fail ? 1 : 0;
  }
  if (do_time) {
    const bool fb = !hopper_only && (!strcmp(MOD_NAME, "noop") || !strcmp(MOD_NAME, "causal"));
#ifdef HARNESS_VARIANTS
    if (!hopper_only) {
    // tile configs: default first; MINB 2 caps registers at 128 (8 warps) / 255 (4 warps) for two CTAs per SM
    time_shape<64, BwdCfg<64, 64, 64, 4>, F64, FwdCfg<64, 64, 128, 64, 8, 2, false, false, 2>,
               FwdCfg<64, 64, 128, 128, 8, 2>, FwdCfg<64, 64, 64, 128, 4, 2, false, false, 3>,
               FwdCfg<64, 64, 128, 128, 4, 3>, FwdCfg<64, 64, 128, 128, 4, 2, true, false>>(4, 16, 4096, false, "");
    time_shape<128, BwdCfg<128, 128, 64, 4>, F128, FwdCfg<128, 128, 128, 64, 8, 2, false, false, 2>,
               FwdCfg<128, 128, 128, 64, 8, 2>, FwdCfg<128, 128, 64, 64, 4, 2, false, false, 3>,
               FwdCfg<128, 128, 128, 32, 4, 2>, FwdCfg<128, 128, 128, 64, 4, 2, true, true>,
               FwdCfg<128, 128, 128, 128, 8, 2>>(2, 16, 8192, false, "");
    }
#endif
    if (fb) time_shape<64, B64s, F64>(4, 16, 4096, fb, "");   // the backward without wgmma, for comparison
    if (fb) time_shape<128, B128s, F128>(2, 16, 8192, fb, "");
    // the Hopper bodies: the persistent one first (its forward is the one fwd+bwd times), then
    // its variants and the per-CTA Hopper body
    time_shape<128, B128, A128, A128s3, A128e, W128>(2, 16, 8192, fb, "");
    time_shape<64, B64, A64, A64w3, A64e, W64>(4, 16, 4096, fb, "");
    time_d256();
    if (!hopper_only && !strcmp(MOD_NAME, "noop")) {
      time_decode<4, 3>(4);  // the backend's config at B8 Hkv8 L8192 (4 splits, 256 CTAs in 264 slots)
      time_decode<4>(8);
      time_decode<4>(16);
      time_decode<4>(32);
    }
  }
  return g_fail ? 1 : 0;
}
#endif

// flexattn split-KV decoding: few queries, long KV, GQA.
//
// flex_decode: one CTA per (split, kv head · row group, batch). Its rows are the (query head of
// the GQA group, query index) pairs r = g·Lq + qi, ROWS of them per CTA, so K/V are read once for
// the whole group. The CTA walks the keys of its split in tiles of 64 (a ring of STAGES cp.async
// buffers: STAGES - 1 tiles in flight while one is computed),
// skipping tiles that the dense class table marks empty for every row, and writes an fp32 partial
// output (already divided by its own l) and a partial lse (log2 units), and with FLEX_MAX_SCORES
// its row max (natural units).
// The last split of a (batch, kv head, row group) to finish merges the splits' rows by their lse
// (and max_scores by max): a per-column counter (merge_count, zeroed once at allocation) counts the
// finished splits and the last one re-zeroes it. A separate merge launch cost the H100 ~2–4 µs of
// the ~116 of B8 Hq32/Hkv8 L8192 (its launch gap and a wave of tiny CTAs).
// Works for every dtype (the math is SIMT fp32; it is bandwidth-bound).

namespace flex {

// VAR_: variant bits (FLEX_DEC_VARIANT, timed by harness/decbench.cu; 0 is the body as session 11 left it)
//   DEC_FAST_MERGE  the merging split reads the splits' lse a lane each (warp reductions) and eight
//                   splits' partial rows at once, a float4 a lane (the merge ran ~20 dependent L2 round
//                   trips after the launch's last tile, while DRAM idled); up to 32 splits
//   DEC_EARLY_KV    without a block mask, the first tiles' copies are issued before the queries are
//                   loaded (the queries' DRAM round trip and the first tile's no longer add up)
// Session 14 (H100) also timed four partial sums per score and __launch_bounds__(256, 2): both lost.
enum { DEC_FAST_MERGE = 1, DEC_EARLY_KV = 2 };
template <int D_, int DV_, int ROWS_, int ESIZE_, int STAGES_ = 2, int VAR_ = 0> struct DecCfg {
  static constexpr int D = D_, DV = DV_, ROWS = ROWS_, ESIZE = ESIZE_, STAGES = STAGES_, VAR = VAR_;
  static constexpr int BN = 64, NTHREADS = 256;
  static constexpr int RG = NTHREADS / BN;    // row groups in the score phase
  static constexpr int RPT = ROWS / RG;       // rows per thread in the score phase
  static constexpr int DP = (D + 7) / 8 * 8, DVP = (DV + 7) / 8 * 8;
  // P·V phase: a thread owns CPT adjacent dv columns (one 8-byte load of 16-bit V, 16 of f32) for
  // every row, and reads the ROWS probabilities of a key as float4s (P is stored key-major): per key
  // one V load and ROWS/4 P loads feed CPT·ROWS FMAs, where one column per thread took a 2-byte
  // load and ROWS scalar P loads for ROWS FMAs (shared-memory issue, not DRAM, bounded the loop)
  static constexpr int CPT = 4;
  static constexpr int NCG = DVP / CPT;  // column groups (DVP is a multiple of 8)
  static constexpr int DVT = NCG <= 8 ? 8 : NCG <= 16 ? 16 : NCG <= 32 ? 32 : 64;  // threads along dv
  static constexpr int KSPLIT = NTHREADS / DVT;  // key subsets in the P·V phase
  static constexpr int NVC = (NCG + DVT - 1) / DVT;
  static constexpr int CW = DVT * CPT;  // dv columns per chunk of the threads
  static constexpr int KSTRIDE = DP + 8, VSTRIDE = DVP + 8;  // padded rows: conflict-free 16B reads
  static constexpr int MAX_TILES = 512;                      // keys_per_split <= 64 * MAX_TILES
  static_assert(ROWS % RG == 0, "ROWS must be a multiple of 4");
  static_assert(STAGES >= 2, "the ring needs a tile in flight");
  // dynamic shared memory layout (bytes)
  static constexpr int OFF_K = 0;
  static constexpr int OFF_V = OFF_K + STAGES * BN * KSTRIDE * ESIZE;
  static constexpr int OFF_Q = OFF_V + STAGES * BN * VSTRIDE * ESIZE;
  static constexpr int OFF_P = OFF_Q + ROWS * DP * 4;  // P[BN][ROWS] (key-major)
  static constexpr int OFF_STAT = OFF_P + ROWS * BN * 4;        // m, l, alpha, row head, row q
  static constexpr int OFF_TILES = OFF_STAT + 5 * ROWS * 4;
  static constexpr int SMEM_BYTES = OFF_TILES + MAX_TILES * 2 + 16;
};

// CPT (4) adjacent elements of one shared-memory load (NVRTC has no <type_traits>)
template <int ESIZE> struct DecVec;
template <> struct DecVec<2> { using type = uint2; };
template <> struct DecVec<4> { using type = float4; };

// The end of a merged row, both merges: its lse and max_scores (lane 0), and the careful recompute
// when a column came out non-finite in a row that is not NaN as a whole.
template <typename T, int D, int DV>
__device__ __forceinline__ void decode_merge_tail(const FlexDecodeArgs& a, const FlexScoreParams& sp,
                                                  const FlexMaskParams& mp, size_t row, size_t rows,
                                                  bool poisoned, float m_use, float wsum, bool redo) {
  const int lane = threadIdx.x & 31;
  const float lse = poisoned ? FLEX_NAN : wsum > 0.f ? (m_use + __log2f(wsum)) * FLEX_LN2 : -FLEX_INF;
  if (lane == 0 && a.lse != nullptr) a.lse[row] = lse;
  if (__any_sync(0xffffffffu, redo)) {
    __syncwarp();  // the fast stores of this row come first
    decode_careful_row<T, D, DV>(a, sp, mp, row, lse);
  }
#if FLEX_MAX_SCORES
  if (lane == 0 && a.max_scores != nullptr && a.part_max != nullptr) {
    float ms = -FLEX_INF;  // splits without a visible key hold -inf
    for (int s = 0; s < a.num_splits; ++s) ms = fmaxf(ms, __ldcg(&a.part_max[s * rows + row]));
    a.max_scores[row] = poisoned ? FLEX_NAN : ms;  // a NaN row's max is NaN too, as its out and lse
  }
#endif
}

// One (b, h, qi) row of the output from the splits' partials, by a whole warp (lane c: columns c,
// c + 32, ...; lane 0 writes the row's lse and max_scores). The partials were written by other CTAs
// of this launch: read through L2 (ld.global.cg), never a stale L1 line. A row whose merged out is
// not finite while its lse is not NaN is recomputed carefully (special.cuh): the splits' P·V
// multiplied a masked or −∞ key's weight 0 by its v, and 0·NaN is NaN there.
template <typename T, int D, int DV>
__device__ __forceinline__ void decode_merge_row(const FlexDecodeArgs& a, const FlexScoreParams& sp,
                                                 const FlexMaskParams& mp, size_t row) {
  const int lane = threadIdx.x & 31;
  const size_t rows = (size_t)a.B * a.Hq * a.Lq;
  float mx = -FLEX_INF;
  for (int s = 0; s < a.num_splits; ++s) mx = fmax_nan(mx, __ldcg(&a.part_lse[s * rows + row]));
  // a split whose rows saw a NaN or +inf post has a NaN lse: the whole row is NaN
  const bool poisoned = row_poisoned(mx);
  const float m_use = mx == -FLEX_INF ? 0.f : mx;
  float wsum = 0.f;
  for (int s = 0; s < a.num_splits; ++s) wsum += exp2f(__ldcg(&a.part_lse[s * rows + row]) - m_use);
  const float inv = poisoned ? FLEX_NAN : wsum > 0.f ? 1.f / wsum : 0.f;
  bool redo = false;
  for (int c = lane; c < DV; c += 32) {
    float acc = 0.f;
    for (int s = 0; s < a.num_splits; ++s) {
      const float w = exp2f(__ldcg(&a.part_lse[s * rows + row]) - m_use);
      if (w > 0.f) acc += w * __ldcg(&a.part_o[(s * rows + row) * DV + c]);
    }
    redo |= !poisoned && !finite_f(acc);
    static_cast<T*>(a.out)[row * DV + c] = Elem<T>::from_float(acc * inv);
  }
  decode_merge_tail<T, D, DV>(a, sp, mp, row, rows, poisoned, m_use, wsum, redo);
}

// decode_merge_row with its loads issued together (DEC_FAST_MERGE): lane s holds split s's lse (up to
// 32 splits; more take decode_merge_row), the row's max and weight sum are warp reductions, and lane
// c4 reads the columns 4·c4 .. 4·c4 + 3 of eight splits' partial rows at once, a float4 each. The
// same function as decode_merge_row: a split's weight w multiplies its partial only where w > 0.
template <typename T, int D, int DV>
__device__ __forceinline__ void decode_merge_row_fast(const FlexDecodeArgs& a, const FlexScoreParams& sp,
                                                      const FlexMaskParams& mp, size_t row) {
  const int ns = a.num_splits;
  if (DV % 4 != 0 || ns > 32) {
    decode_merge_row<T, D, DV>(a, sp, mp, row);
    return;
  }
  constexpr int U = 8;  // splits whose partials are in flight at once
  const int lane = threadIdx.x & 31;
  const size_t rows = (size_t)a.B * a.Hq * a.Lq;
  const float my_l = lane < ns ? __ldcg(&a.part_lse[lane * rows + row]) : -FLEX_INF;
  float mx = my_l;
  for (int off = 16; off > 0; off >>= 1) mx = fmax_nan(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  // a split whose rows saw a NaN or +inf post has a NaN lse: the whole row is NaN
  const bool poisoned = row_poisoned(mx);
  const float m_use = mx == -FLEX_INF ? 0.f : mx;
  const float my_w = lane < ns ? exp2f(my_l - m_use) : 0.f;
  float wsum = my_w;
  for (int off = 16; off > 0; off >>= 1) wsum += __shfl_xor_sync(0xffffffffu, wsum, off);
  const float inv = poisoned ? FLEX_NAN : wsum > 0.f ? 1.f / wsum : 0.f;
  bool redo = false;
  for (int cb = 0; cb < DV / 4; cb += 32) {  // every lane runs every iteration (the shuffles)
    const int c4 = cb + lane;
    const bool col = c4 < DV / 4;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int s0 = 0; s0 < ns; s0 += U) {
      float4 o[U];
      float w[U];
#pragma unroll
      for (int j = 0; j < U; ++j) {
        const int s = s0 + j;
        w[j] = __shfl_sync(0xffffffffu, my_w, s & 31);
        o[j] = col && s < ns ? __ldcg(reinterpret_cast<const float4*>(a.part_o + (s * rows + row) * DV) + c4)
                             : make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int j = 0; j < U; ++j) {
        const bool use = s0 + j < ns && w[j] > 0.f;
        acc[0] += use ? w[j] * o[j].x : 0.f;
        acc[1] += use ? w[j] * o[j].y : 0.f;
        acc[2] += use ? w[j] * o[j].z : 0.f;
        acc[3] += use ? w[j] * o[j].w : 0.f;
      }
    }
    if (col) {
      T* dst = static_cast<T*>(a.out) + row * DV + c4 * 4;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        redo |= !poisoned && !finite_f(acc[j]);
        dst[j] = Elem<T>::from_float(acc[j] * inv);
      }
    }
  }
  decode_merge_tail<T, D, DV>(a, sp, mp, row, rows, poisoned, m_use, wsum, redo);
}

template <class C, typename T>
__device__ __forceinline__ void decode_kernel(const FlexDecodeArgs& a, const FlexScoreParams& sp,
                                              const FlexMaskParams& mp) {
  constexpr bool VEC = sizeof(T) == 2 ? (C::D % 8 == 0 && C::DV % 8 == 0) : (C::D % 4 == 0 && C::DV % 4 == 0);
  constexpr int EPC = 16 / sizeof(T);  // elements per 16-byte chunk
  extern __shared__ __align__(1024) unsigned char flex_smem[];  // one declaration: the forward needs 1024
  T(*sK)[C::BN * C::KSTRIDE] = reinterpret_cast<T(*)[C::BN * C::KSTRIDE]>(flex_smem + C::OFF_K);
  T(*sV)[C::BN * C::VSTRIDE] = reinterpret_cast<T(*)[C::BN * C::VSTRIDE]>(flex_smem + C::OFF_V);
  float(*sQ)[C::DP] = reinterpret_cast<float(*)[C::DP]>(flex_smem + C::OFF_Q);
  float(*sP)[C::ROWS] = reinterpret_cast<float(*)[C::ROWS]>(flex_smem + C::OFF_P);
  float* sM = reinterpret_cast<float*>(flex_smem + C::OFF_STAT);
  float* sL = sM + C::ROWS;
  float* sAlpha = sL + C::ROWS;
  int* sRowH = reinterpret_cast<int*>(sAlpha + C::ROWS);
  int* sRowQ = sRowH + C::ROWS;
  short* sTiles = reinterpret_cast<short*>(flex_smem + C::OFF_TILES);
  int& sNT = *reinterpret_cast<int*>(flex_smem + C::OFF_TILES + C::MAX_TILES * 2);
  int& sLastSplit = *reinterpret_cast<int*>(flex_smem + C::OFF_TILES + C::MAX_TILES * 2 + 4);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int split = blockIdx.x, b = blockIdx.z;
  const int G = a.Hq / a.Hkv;
  const int row_groups = (G * a.Lq + C::ROWS - 1) / C::ROWS;
  const int hk = blockIdx.y / row_groups, rgrp = blockIdx.y % row_groups;
  const int Lq = a.Lq, Lkv = a.Lkv;
  const int key0 = a.key_offset + split * a.keys_per_split;
  const int key1 = min(Lkv, key0 + a.keys_per_split);
  const int n_tiles_all = key1 > key0 ? (key1 - key0 + C::BN - 1) / C::BN : 0;

  if (tid < C::ROWS) {
    const int r = rgrp * C::ROWS + tid;
    const bool ok = r < G * Lq;
    sRowH[tid] = ok ? hk * G + r / Lq : -1;
    sRowQ[tid] = ok ? r % Lq : -1;
    sM[tid] = -FLEX_INF;
    sL[tid] = 0.f;
  }
  __syncthreads();
  // batch 0 for K/V shared by the batch (stride 0), else contiguous [B, Hkv, Lkv, ·] (as the
  // persistent forward reads them): one row offset for K and V keeps the registers of the plain case
  const int bkv = a.k_batch_stride != 0 ? b : 0;
  const T* gK = static_cast<const T*>(a.k) + (size_t)(bkv * a.Hkv + hk) * Lkv * C::D;
  const T* gV = static_cast<const T*>(a.v) + (size_t)(bkv * a.Hkv + hk) * Lkv * C::DV;
  const unsigned long long kv_policy = l2_evict_first_policy();
  auto load_tile = [&](int t, int stage) {  // key tile t of the split
    const int n0 = key0 + t * C::BN;
    const int rows = min(C::BN, key1 - n0);
    if constexpr (VEC) {
      for (int c = tid; c < C::BN * (C::DP / EPC); c += C::NTHREADS) {
        const int r = c / (C::DP / EPC), cc = c % (C::DP / EPC);
        const bool ok = r < rows;
        cp_async_16_stream(smem_u32(&sK[stage][r * C::KSTRIDE + cc * EPC]),
                           ok ? gK + (size_t)(n0 + r) * C::D + cc * EPC : gK, ok ? 16 : 0, kv_policy);
      }
      for (int c = tid; c < C::BN * (C::DVP / EPC); c += C::NTHREADS) {
        const int r = c / (C::DVP / EPC), cc = c % (C::DVP / EPC);
        const bool ok = r < rows;
        cp_async_16_stream(smem_u32(&sV[stage][r * C::VSTRIDE + cc * EPC]),
                           ok ? gV + (size_t)(n0 + r) * C::DV + cc * EPC : gV, ok ? 16 : 0, kv_policy);
      }
    } else {
      for (int c = tid; c < C::BN * C::DP; c += C::NTHREADS) {
        const int r = c / C::DP, d = c % C::DP;
        sK[stage][r * C::KSTRIDE + d] =
            (r < rows && d < C::D) ? gK[(size_t)(n0 + r) * C::D + d] : Elem<T>::from_float(0.f);
      }
      for (int c = tid; c < C::BN * C::DVP; c += C::NTHREADS) {
        const int r = c / C::DVP, d = c % C::DVP;
        sV[stage][r * C::VSTRIDE + d] =
            (r < rows && d < C::DV) ? gV[(size_t)(n0 + r) * C::DV + d] : Elem<T>::from_float(0.f);
      }
    }
  };
  auto load = [&](int i, int stage) { load_tile(sTiles[i], stage); };  // the i-th tile with a visible key
  // DEC_EARLY_KV: every tile is read, so the ring's first tiles are known before the tile list
  constexpr bool EARLY = (C::VAR & DEC_EARLY_KV) != 0;
  const bool early = EARLY && !a.has_block_mask;
  if (early) {
#pragma unroll
    for (int s = 0; s < C::STAGES - 1; ++s) {
      if (s < n_tiles_all) load_tile(s, s);
      cp_async_commit();
    }
  }
  for (int i = tid; i < C::ROWS * C::DP; i += C::NTHREADS) {
    const int r = i / C::DP, d = i % C::DP;
    float x = 0.f;
    if (sRowH[r] >= 0 && d < C::D)
      x = Elem<T>::to_float(static_cast<const T*>(a.q)[((size_t)(b * a.Hq + sRowH[r]) * Lq + sRowQ[r]) * C::D + d]);
    sQ[r][d] = x;
  }
  // which tiles of this split have a visible key for some row
  if (!a.has_block_mask) {
    if (tid == 0) sNT = n_tiles_all;
    for (int t = tid; t < n_tiles_all; t += C::NTHREADS) sTiles[t] = (short)t;
  } else {
    if (tid == 0) sNT = 0;
    __syncthreads();
    for (int t = tid; t < n_tiles_all; t += C::NTHREADS) {
      const int n0 = key0 + t * C::BN, n1 = min(key1, n0 + C::BN) - 1;
      bool any = false;
      for (int r = 0; r < C::ROWS && !any; ++r) {
        if (sRowH[r] < 0) continue;
        const int mb = a.cls_mB == 1 ? 0 : b, mh = a.cls_mH == 1 ? 0 : sRowH[r];
        const unsigned char* crow =
            a.cls + (((size_t)mb * a.cls_mH + mh) * a.cls_q_blocks + sRowQ[r] / a.cls_block_q) * a.cls_kv_blocks;
        for (int j = n0 / a.cls_block_kv; j <= n1 / a.cls_block_kv; ++j) any |= crow[j] != 0;
      }
      if (any) sTiles[atomicAdd(&sNT, 1)] = (short)t;  // order does not matter for softmax
    }
  }
  __syncthreads();
  const int n_tiles = sNT;

  // CPT adjacent V elements: one 8-byte (16-bit) or 16-byte (f32) shared-memory load
  using VecCPT = typename DecVec<sizeof(T)>::type;
  static_assert(sizeof(VecCPT) == C::CPT * sizeof(T), "one load per column group");
  float o[C::NVC][C::CPT][C::ROWS];
#pragma unroll
  for (int i = 0; i < C::NVC; ++i)
#pragma unroll
    for (int j = 0; j < C::CPT; ++j)
#pragma unroll
      for (int r = 0; r < C::ROWS; ++r) o[i][j][r] = 0.f;
  const float scale = a.scale;

  // one commit group per tile (empty past the end): tile `it` is group `it`
  if (!early) {
#pragma unroll
    for (int s = 0; s < C::STAGES - 1; ++s) {
      if (s < n_tiles) load(s, s);
      cp_async_commit();
    }
  }
  for (int it = 0; it < n_tiles; ++it) {
    const int stage = it % C::STAGES;
    cp_async_wait<C::STAGES - 2>();  // this thread's copies of tile `it` landed
    // every thread's copies are visible, and every thread left iteration it - 1: the stage it read
    // (the one refilled next) and sP / sAlpha are free, so the loop needs no barrier at its end
    __syncthreads();
    {
      const int next = it + C::STAGES - 1;
      if (next < n_tiles) load(next, next % C::STAGES);
      cp_async_commit();
    }
    const int n0 = key0 + sTiles[it] * C::BN;

    // ---- scores: thread = (key n, row group) ------------------------------------------------
    {
      const int n = tid % C::BN, rg = tid / C::BN;
      const int kj = n0 + n;
      float acc[C::RPT];
#pragma unroll
      for (int i = 0; i < C::RPT; ++i) acc[i] = 0.f;
      const T* kr = &sK[stage][n * C::KSTRIDE];
      if constexpr (sizeof(T) == 2) {
#pragma unroll 4
        for (int c = 0; c < C::DP / 8; ++c) {
          const uint4 raw = *reinterpret_cast<const uint4*>(kr + c * 8);
          const T* e = reinterpret_cast<const T*>(&raw);
          float kf[8];
#pragma unroll
          for (int j = 0; j < 8; ++j) kf[j] = Elem<T>::to_float(e[j]);
#pragma unroll
          for (int i = 0; i < C::RPT; ++i) {
            const float* qr = &sQ[rg * C::RPT + i][c * 8];
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[i] = fmaf(qr[j], kf[j], acc[i]);
          }
        }
      } else {
        for (int d = 0; d < C::DP; ++d) {
          const float kf = Elem<T>::to_float(kr[d]);
#pragma unroll
          for (int i = 0; i < C::RPT; ++i) acc[i] = fmaf(sQ[rg * C::RPT + i][d], kf, acc[i]);
        }
      }
#pragma unroll
      for (int i = 0; i < C::RPT; ++i) {
        const int r = rg * C::RPT + i;
        const int h = sRowH[r], qi = sRowQ[r];
        bool vis = h >= 0 && kj < key1;
        bool full = true;
        if (vis && a.has_block_mask) {
          const int mb = a.cls_mB == 1 ? 0 : b, mh = a.cls_mH == 1 ? 0 : h;
          const unsigned char c = a.cls[(((size_t)mb * a.cls_mH + mh) * a.cls_q_blocks + qi / a.cls_block_q) *
                                            a.cls_kv_blocks + kj / a.cls_block_kv];
          vis = c != 0;
          full = c == 2;
        }
#if !FLEX_MASK_MOD_IS_TRUE
        if (vis && !full) vis = flex_mask_mod(b, h, qi, kj, mp);
#endif
        float x = -FLEX_INF;
        if (vis) x = flex_score_mod(acc[i] * scale, b, h, qi, kj, sp) * FLEX_LOG2E;
        sP[n][r] = x;
      }
    }
    __syncthreads();

    // ---- online softmax, one warp per row ----------------------------------------------------
    for (int r = warp; r < C::ROWS; r += C::NTHREADS / 32) {
      const float x0 = sP[lane][r], x1 = sP[lane + 32][r];
      float mx = fmax_nan(x0, x1);
      for (int off = 16; off > 0; off >>= 1) mx = fmax_nan(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_old = sM[r];
      const float m_new = fmax_nan(m_old, mx);  // a NaN stays in the row's max: its partials are NaN
      const float m_use = m_new == -FLEX_INF ? 0.f : m_new;
      const float p0 = fast_exp2(x0 - m_use), p1 = fast_exp2(x1 - m_use);
      sP[lane][r] = p0;
      sP[lane + 32][r] = p1;
      float sum = p0 + p1;
      for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      if (lane == 0) {
        const float alpha = fast_exp2(m_old - m_use);
        sAlpha[r] = alpha;
        sL[r] = sL[r] * alpha + sum;
        sM[r] = m_new;
      }
    }
    __syncthreads();

    // ---- O += P V: thread = (CPT dv columns, key subset) ---------------------------------------
    {
      const int cg = tid % C::DVT, ks = tid / C::DVT;
#pragma unroll
      for (int r = 0; r < C::ROWS; ++r) {
        const float al = sAlpha[r];
#pragma unroll
        for (int i = 0; i < C::NVC; ++i)
#pragma unroll
          for (int j = 0; j < C::CPT; ++j) o[i][j][r] *= al;
      }
#pragma unroll 2
      for (int n = ks; n < C::BN; n += C::KSPLIT) {
        float p[C::ROWS];
#pragma unroll
        for (int r = 0; r < C::ROWS; r += 4) {
          const float4 q4 = *reinterpret_cast<const float4*>(&sP[n][r]);
          p[r] = q4.x, p[r + 1] = q4.y, p[r + 2] = q4.z, p[r + 3] = q4.w;
        }
#pragma unroll
        for (int i = 0; i < C::NVC; ++i) {
          const int c0 = (cg + i * C::DVT) * C::CPT;
          if (C::NVC * C::DVT == C::NCG || c0 < C::DVP) {
            VecCPT raw = *reinterpret_cast<const VecCPT*>(&sV[stage][n * C::VSTRIDE + c0]);
            const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
            for (int j = 0; j < C::CPT; ++j) {
              const float v = Elem<T>::to_float(e[j]);
#pragma unroll
              for (int r = 0; r < C::ROWS; ++r) o[i][j][r] = fmaf(p[r], v, o[i][j][r]);
            }
          }
        }
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();

  // ---- reduce the key subsets through shared memory (reusing the K/V ring), write partials -----
  // RC rows at a time so that the [KSPLIT][RC][CW] buffer fits in the K/V region
  constexpr int RC0 = C::OFF_Q / (C::KSPLIT * C::CW * 4);
  constexpr int RC = RC0 < C::ROWS ? RC0 : C::ROWS;
  static_assert(RC >= 1, "reduction buffer must fit in the K/V region");
  float* red = reinterpret_cast<float*>(flex_smem);
  const int cg = tid % C::DVT, ks = tid / C::DVT;
#pragma unroll
  for (int i = 0; i < C::NVC; ++i) {
#pragma unroll
    for (int r0 = 0; r0 < C::ROWS; r0 += RC) {
#pragma unroll
      for (int r = r0; r < r0 + RC && r < C::ROWS; ++r)
#pragma unroll
        for (int j = 0; j < C::CPT; ++j) red[(ks * RC + (r - r0)) * C::CW + cg * C::CPT + j] = o[i][j][r];
      __syncthreads();
      for (int e = tid; e < RC * C::CW; e += C::NTHREADS) {
        const int r = r0 + e / C::CW, c = e % C::CW + i * C::CW;
        if (r >= C::ROWS || sRowH[r] < 0 || c >= C::DV) continue;
        float acc = 0.f;
        for (int s = 0; s < C::KSPLIT; ++s) acc += red[(s * RC + e / C::CW) * C::CW + e % C::CW];
        const float l = sL[r];
        const size_t row = ((size_t)split * a.B * a.Hq + (size_t)b * a.Hq + sRowH[r]) * Lq + sRowQ[r];
        a.part_o[row * C::DV + c] = row_poisoned(sM[r]) ? FLEX_NAN : l > 0.f ? acc / l : 0.f;
      }
      __syncthreads();
    }
  }
  if (tid < C::ROWS && sRowH[tid] >= 0) {
    const size_t row = ((size_t)split * a.B * a.Hq + (size_t)b * a.Hq + sRowH[tid]) * Lq + sRowQ[tid];
    const float l = sL[tid];
    // a NaN or +inf post-mod score (sM keeps it): NaN, which the merge passes on to the whole row
    const bool poisoned = row_poisoned(sM[tid]);
    a.part_lse[row] = poisoned ? FLEX_NAN : l > 0.f ? sM[tid] + __log2f(l) : -FLEX_INF;
#if FLEX_MAX_SCORES
    // sM is the true running max (log2 units): this split's row max of the post-mod scores
    if (a.part_max != nullptr) a.part_max[row] = poisoned ? FLEX_NAN : l > 0.f ? sM[tid] * FLEX_LN2 : -FLEX_INF;
#endif
  }

  // ---- the last split of this (batch, kv head, row group) to finish merges its rows -------------
  __threadfence();  // this CTA's partials are visible device-wide before the counter counts it
  __syncthreads();
  if (tid == 0) {
    int* count = a.merge_count + (size_t)b * gridDim.y + blockIdx.y;
    const bool last = atomicAdd(count, 1) == a.num_splits - 1;
    if (last) *count = 0;  // every split of the column has counted: re-armed for the next launch
    sLastSplit = last;
  }
  __syncthreads();
  if (!sLastSplit) return;
  __threadfence();  // (the fence pairs with the other splits' fences before their counts)
  for (int r = warp; r < C::ROWS; r += C::NTHREADS / 32)
    if (sRowH[r] >= 0) {
      const size_t row = ((size_t)b * a.Hq + sRowH[r]) * Lq + sRowQ[r];
      if constexpr ((C::VAR & DEC_FAST_MERGE) != 0) decode_merge_row_fast<T, C::D, C::DV>(a, sp, mp, row);
      else decode_merge_row<T, C::D, C::DV>(a, sp, mp, row);
    }
}

}  // namespace flex

// ---------------------------------------------------------------------------------------------
// entry points
//   flex_decode        grid (num_splits, Hkv · ceil(G·Lq / FLEX_DEC_ROWS), B), block 256,
//                      dynamic shared memory DecCfg::SMEM_BYTES
// ---------------------------------------------------------------------------------------------
#if defined(FLEX_HEAD_DIM) && !defined(FLEX_NO_ENTRY_POINTS)
#ifndef FLEX_DEC_ROWS
#define FLEX_DEC_ROWS 4
#endif
#ifndef FLEX_DEC_STAGES
#define FLEX_DEC_STAGES 2
#endif
#ifndef FLEX_DEC_VARIANT
#define FLEX_DEC_VARIANT 0
#endif
extern "C" __global__ void __launch_bounds__(256)
    flex_decode(const FlexDecodeArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::decode_kernel<flex::DecCfg<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, FLEX_DEC_ROWS, sizeof(flex_elem_t), FLEX_DEC_STAGES, FLEX_DEC_VARIANT>, flex_elem_t>(args, sp, mp);
}
#endif

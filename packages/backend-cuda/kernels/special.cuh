// flexattn careful paths for special values (docs/architecture.md §4, issue 19).
//
// The tensor-core bodies multiply whole tiles: a masked key's zero weight times its NaN v (P·V), a
// zero dS times a NaN or infinite k (dS·K) or q (dSᵀ·Q), and a NaN row's P at a −∞ key
// (exp(−∞ − NaN)) all give NaN where §4 gives a number. Those products can only turn a finite
// result into a non-finite one, never the reverse, and a result that is finite on the fast path is
// exact. So the bodies stay as they are, and the epilogues (fwd_store, bwd_fix_dkdv, the dQ
// conversion) recompute only the outputs that came out non-finite from a row (or key) whose result
// may be finite, with the per-element definition below: SIMT, from global memory, a masked or −∞
// key skipped before any product with its values. Finite inputs pay one isfinite test per output
// element in the epilogue and a warp vote; the careful path is slow (rare by construction).
//
// The careful definition (the f32 SIMT bodies' arithmetic): for a visible key (the block table's
// tile class, then the mask mod on a partial tile), post = score_mod(scale · q·k);
// p = 0 if lse = −∞ or post = −∞, else exp(post − lse); dS = p · (dO·v − delta) · score_mod'(score);
// out = Σ_{p ≠ 0} p·v, dq = scale · Σ_{dS ≠ 0} dS·k, dk = scale · Σ_{dS ≠ 0} dS·q, dv = Σ_{p ≠ 0} p·dO.
// Requires common.cuh and the prelude (flex_score_mod, flex_mask_mod, flex_score_mod_grad).

namespace flex {

// An element per lane and chunk covers head dims up to 32 · CAREFUL_CHUNKS (256).
constexpr int CAREFUL_CHUNKS = 8;

// Neither NaN nor ±∞ (without the math library's classification functions: NVRTC has no <cmath>).
__device__ __forceinline__ bool finite_f(float x) { return fabsf(x) < FLEX_INF; }

// The class of tile `inner` in row `outer` of a block table: 0 empty, 1 partial, 2 full.
__device__ inline int tile_class(const FlexBlockTable& bt, int has_block_mask, int b, int h, int outer, int inner) {
  if (!has_block_mask) return 2;
  const TileList t = tile_list(bt, has_block_mask, b, h, outer, 0);
#pragma unroll 1
  for (int i = 0; i < t.n_full; ++i)
    if (t.full[i] == inner) return 2;
#pragma unroll 1
  for (int i = 0; i < t.n_partial; ++i)
    if (t.partial[i] == inner) return 1;
  return 0;
}

template <typename T>
__device__ inline float careful_dot(const T* x, const T* y, int n) {
  float s = 0.f;
#pragma unroll 1
  for (int d = 0; d < n; ++d) s = fmaf(Elem<T>::to_float(x[d]), Elem<T>::to_float(y[d]), s);
  return s;
}

// The post-mod score of (qi, kj) in natural units, or −∞ where the key is not visible (cls: the
// tile's class, so a full tile skips the mask mod as the bodies do).
template <typename T>
__device__ inline float careful_post(const T* qr, const T* kr, int D, float scale, int cls, int b, int h, int qi, int kj,
                                     const FlexScoreParams& sp, const FlexMaskParams& mp, float& score) {
  score = 0.f;
  if (cls == 0) return -FLEX_INF;
#if !FLEX_MASK_MOD_IS_TRUE
  if (cls == 1 && !flex_mask_mod(b, h, qi, kj, mp)) return -FLEX_INF;
#endif
  score = careful_dot(qr, kr, D) * scale;
  return flex_score_mod(score, b, h, qi, kj, sp);
}

__device__ inline float careful_weight(float post, float lse) {
  return lse == -FLEX_INF || post == -FLEX_INF ? 0.f : expf(post - lse);
}

// acc (element lane + 32·c of a row of N) += Σ w_j · row_j over the 32 rows whose weights the lanes
// hold (lane j: row j of the run starting at rows32), skipping zero weights before reading their
// row: P·V for out (a masked, −∞ or underflowed key's v is never read), P·dO for dv, dS·Q for dk.
template <typename T, int N>
__device__ __forceinline__ void careful_weighted_rows32(float (&acc)[(N + 31) / 32], float w, const T* rows32) {
  const int lane = threadIdx.x & 31;
#pragma unroll 1
  for (int j = 0; j < 32; ++j) {
    const float wj = __shfl_sync(0xffffffffu, w, j);
    if (wj == 0.f) continue;
    const T* r = rows32 + (size_t)j * N;
#pragma unroll
    for (int c = 0; c < (N + 31) / 32; ++c)
      if (lane + 32 * c < N) acc[c] = fmaf(wj, Elem<T>::to_float(r[lane + 32 * c]), acc[c]);
  }
}
template <typename T, int N>
__device__ __forceinline__ void careful_store_row(T* row, const float (&acc)[(N + 31) / 32], float scale = 1.f) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int c = 0; c < (N + 31) / 32; ++c)
    if (lane + 32 * c < N) row[lane + 32 * c] = Elem<T>::from_float(acc[c] * scale);
}

// The visible runs of a tile list, 32 indices at a time (the warp's lanes): run(i0, end, cls) for
// each run starting at i0, its lane's index i0 + lane valid below `end` (the tile's end or `len`),
// cls the tile's class (2 full: no mask mod; 1 partial).
template <class Run>
__device__ __forceinline__ void careful_tile_runs(const TileList& tl, int has_block_mask, int tile, int len, Run&& run) {
#pragma unroll 1
  for (int it = 0; it < tl.count(); ++it) {
    const int t0 = tile_at(tl, it) * tile, end = min(t0 + tile, len);
    const int cls = !has_block_mask || tl.is_full(it) ? 2 : 1;
#pragma unroll 1
    for (int i0 = t0; i0 < end; i0 += 32) run(i0, end, cls);
  }
}

// Forward: out of query row qi (q tile qt of BM rows, kv tiles of BN keys) from its lse (natural,
// finite or −∞), written over the fast path's. Warp-cooperative: call with the whole warp.
template <typename T, int D, int DV, int BN>
__device__ __forceinline__ void fwd_careful_row(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp,
                                             int b, int h, int qt, int qi, float lse) {
  static_assert(DV <= 32 * CAREFUL_CHUNKS, "head dim beyond the careful path's chunks");
  constexpr int NC = (DV + 31) / 32;
  const int lane = threadIdx.x & 31, Lkv = a.Lkv;
  const int hk = h / (a.Hq / a.Hkv);
  const T* qr = static_cast<const T*>(a.q) + ((size_t)(b * a.Hq + h) * a.Lq + qi) * D;
  const T* gK = static_cast<const T*>(a.k) + b * a.k_batch_stride + (size_t)hk * Lkv * D;
  const T* gV = static_cast<const T*>(a.v) + b * a.v_batch_stride + (size_t)hk * Lkv * DV;
  float acc[NC];
#pragma unroll
  for (int c = 0; c < NC; ++c) acc[c] = 0.f;
  const TileList tl = tile_list(a.bt, a.has_block_mask, b, h, qt, (Lkv + BN - 1) / BN);
  careful_tile_runs(tl, a.has_block_mask, BN, Lkv, [&](int j0, int end, int cls) {
    const int kj = j0 + lane;
    float score, p = 0.f;
    if (kj < end) p = careful_weight(careful_post(qr, gK + (size_t)kj * D, D, a.scale, cls, b, h, qi, kj, sp, mp, score), lse);
    careful_weighted_rows32<T, DV>(acc, p, gV + (size_t)j0 * DV);
  });
  careful_store_row<T, DV>(static_cast<T*>(a.out) + ((size_t)(b * a.Hq + h) * a.Lq + qi) * DV, acc);
}

// Decoder: out of row `row` (over B·Hq·Lq) from its merged lse (natural, finite or −∞), written over
// the merge's: the keys from key_offset on, the dense class table at the user's block granularity.
// Warp-cooperative.
template <typename T, int D, int DV>
__device__ __forceinline__ void decode_careful_row(const FlexDecodeArgs& a, const FlexScoreParams& sp,
                                                   const FlexMaskParams& mp, size_t row, float lse) {
  static_assert(DV <= 32 * CAREFUL_CHUNKS, "head dim beyond the careful path's chunks");
  constexpr int NC = (DV + 31) / 32;
  const int lane = threadIdx.x & 31, Lkv = a.Lkv;
  const int qi = (int)(row % a.Lq), h = (int)(row / a.Lq % a.Hq), b = (int)(row / a.Lq / a.Hq);
  const int hk = h / (a.Hq / a.Hkv), bkv = a.k_batch_stride != 0 ? b : 0;  // as flex_decode reads K/V
  const T* qr = static_cast<const T*>(a.q) + row * D;
  const T* gK = static_cast<const T*>(a.k) + (size_t)(bkv * a.Hkv + hk) * Lkv * D;
  const T* gV = static_cast<const T*>(a.v) + (size_t)(bkv * a.Hkv + hk) * Lkv * DV;
  const unsigned char* crow = nullptr;
  if (a.has_block_mask) {
    const int mb = a.cls_mB == 1 ? 0 : b, mh = a.cls_mH == 1 ? 0 : h;
    crow = a.cls + (((size_t)mb * a.cls_mH + mh) * a.cls_q_blocks + qi / a.cls_block_q) * a.cls_kv_blocks;
  }
  float acc[NC];
#pragma unroll
  for (int c = 0; c < NC; ++c) acc[c] = 0.f;
#pragma unroll 1
  for (int j0 = a.key_offset; j0 < Lkv; j0 += 32) {
    const int kj = j0 + lane;
    float score, p = 0.f;
    if (kj < Lkv) {
      const int cls = crow != nullptr ? crow[kj / a.cls_block_kv] : 2;
      p = careful_weight(careful_post(qr, gK + (size_t)kj * D, D, a.scale, cls, b, h, qi, kj, sp, mp, score), lse);
    }
    careful_weighted_rows32<T, DV>(acc, p, gV + (size_t)j0 * DV);
  }
  careful_store_row<T, DV>(static_cast<T*>(a.out) + row * DV, acc);
}

// Backward: dk and dv of key kj of kv head hk, batch b (kv tile kj / BN of the kv-major tables, q
// tiles of BMQ rows), over the query heads of its GQA group, written over the fast path's.
// Warp-cooperative. Capture gradients are left to the fast path (it adds them once).
template <typename T, int D, int DV, int BN, int BMQ>
__device__ __forceinline__ void bwd_careful_key(const FlexBwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp,
                                             int b, int hk, int kj) {
  static_assert(D <= 32 * CAREFUL_CHUNKS && DV <= 32 * CAREFUL_CHUNKS, "head dim beyond the careful path's chunks");
  constexpr int NK = (D + 31) / 32, NV = (DV + 31) / 32;
  const int lane = threadIdx.x & 31, Lq = a.Lq, Lkv = a.Lkv, G = a.Hq / a.Hkv;
  const T* kr = static_cast<const T*>(a.k) + b * a.k_batch_stride + ((size_t)hk * Lkv + kj) * D;
  const T* vr = static_cast<const T*>(a.v) + b * a.v_batch_stride + ((size_t)hk * Lkv + kj) * DV;
  float dk[NK], dv[NV];
#pragma unroll
  for (int c = 0; c < NK; ++c) dk[c] = 0.f;
#pragma unroll
  for (int c = 0; c < NV; ++c) dv[c] = 0.f;
#pragma unroll 1
  for (int g = 0; g < G; ++g) {
    const int h = hk * G + g;
    const size_t head_row0 = (size_t)(b * a.Hq + h) * Lq;
    const TileList tl = tile_list(a.bt, a.has_block_mask, b, h, kj / BN, (Lq + BMQ - 1) / BMQ);
    careful_tile_runs(tl, a.has_block_mask, BMQ, Lq, [&](int i0, int end, int cls) {
      const int qi = i0 + lane;
      float p = 0.f, ds = 0.f;
      if (qi < end) {
        const T* qr = static_cast<const T*>(a.q) + (head_row0 + qi) * D;
        float score;
        const float post = careful_post(qr, kr, D, a.scale, cls, b, h, qi, kj, sp, mp, score);
        p = careful_weight(post, a.lse[head_row0 + qi]);
        if (p != 0.f) {
          const float dp = careful_dot(static_cast<const T*>(a.dout) + (head_row0 + qi) * DV, vr, DV);
          ds = p * (dp - a.delta[head_row0 + qi]) * flex_score_mod_grad(score, b, h, qi, kj, sp);
        }
      }
      careful_weighted_rows32<T, D>(dk, ds, static_cast<const T*>(a.q) + (head_row0 + i0) * D);
      careful_weighted_rows32<T, DV>(dv, p, static_cast<const T*>(a.dout) + (head_row0 + i0) * DV);
    });
  }
  careful_store_row<T, D>(static_cast<T*>(a.dk) + ((size_t)(b * a.Hkv + hk) * Lkv + kj) * D, dk, a.scale);
  careful_store_row<T, DV>(static_cast<T*>(a.dv) + ((size_t)(b * a.Hkv + hk) * Lkv + kj) * DV, dv);
}

// After bwd_store_dkdv: the keys kj0 and kj0 + 8 of this thread (mma C layout, a quad per key)
// whose dk or dv came out non-finite are recomputed carefully, one at a time by the whole warp.
template <int D, int DV, int NTD, int NTV, int BN, int BMQ, typename T>
__device__ __forceinline__ void bwd_fix_dkdv(const FlexBwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp,
                                             int b, int hk, int kj0, int lane, const float (&dk)[NTD][4],
                                             const float (&dv)[NTV][4]) {
  unsigned bad = 0;
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    bool nf = false;
#pragma unroll
    for (int i = 0; i < NTD; ++i) nf |= !finite_f(dk[i][2 * hf]) | !finite_f(dk[i][2 * hf + 1]);
#pragma unroll
    for (int i = 0; i < NTV; ++i) nf |= !finite_f(dv[i][2 * hf]) | !finite_f(dv[i][2 * hf + 1]);
    bad |= (nf && kj0 + hf * 8 < a.Lkv) ? 1u << hf : 0u;
  }
  // one vote per warp on finite inputs; the quad's lanes (lane & 3) share the key
  unsigned votes = __ballot_sync(0xffffffffu, bad != 0);
  if (votes == 0) return;
  __syncwarp();  // the fast path's stores of this warp come first
  bad |= __shfl_xor_sync(0xffffffffu, bad, 1);
  bad |= __shfl_xor_sync(0xffffffffu, bad, 2);
#pragma unroll 1
  for (int hf = 0; hf < 2; ++hf) {
    unsigned keys = __ballot_sync(0xffffffffu, (lane & 3) == 0 && ((bad >> hf) & 1));
    while (keys != 0) {
      const int src = __ffs(keys) - 1;
      keys &= keys - 1;
      bwd_careful_key<T, D, DV, BN, BMQ>(a, sp, mp, b, hk, __shfl_sync(0xffffffffu, kj0, src) + hf * 8);
    }
  }
}

// Backward: element e of dq_accum's row (b·Hq + h)·Lq + qi (before the scale), by one thread.
template <typename T, int BN, int BMQ>
__device__ __forceinline__ float bwd_careful_dq(const FlexBwdArgs& a, int D, int DV, const FlexScoreParams& sp,
                                             const FlexMaskParams& mp, size_t row, int e) {
  const int Lq = a.Lq, Lkv = a.Lkv;
  const int qi = (int)(row % Lq), h = (int)(row / Lq % a.Hq), b = (int)(row / Lq / a.Hq);
  const int hk = h / (a.Hq / a.Hkv);
  const T* qr = static_cast<const T*>(a.q) + row * D;
  const T* dor = static_cast<const T*>(a.dout) + row * DV;
  const T* gK = static_cast<const T*>(a.k) + b * a.k_batch_stride + (size_t)hk * Lkv * D;
  const T* gV = static_cast<const T*>(a.v) + b * a.v_batch_stride + (size_t)hk * Lkv * DV;
  const float lse = a.lse[row], delta = a.delta[row];
  float acc = 0.f;
#pragma unroll 1
  for (int kt = 0; kt * BN < Lkv; ++kt) {
    const int cls = tile_class(a.bt, a.has_block_mask, b, h, kt, qi / BMQ);
    if (cls == 0) continue;
#pragma unroll 1
    for (int kj = kt * BN; kj < (kt + 1) * BN && kj < Lkv; ++kj) {
      const T* kr = gK + (size_t)kj * D;
      float score;
      const float p = careful_weight(careful_post(qr, kr, D, a.scale, cls, b, h, qi, kj, sp, mp, score), lse);
      if (p == 0.f) continue;
      const float ds = p * (careful_dot(dor, gV + (size_t)kj * DV, DV) - delta) * flex_score_mod_grad(score, b, h, qi, kj, sp);
      if (ds != 0.f) acc = fmaf(ds, Elem<T>::to_float(kr[e]), acc);
    }
  }
  return acc;
}

// flex_bwd_fa3.cuh's fragment order: where column c of query qi's dq_accum row lies in that row. The row-major dQ block
// stores (one float2 per thread, row r at r · D floats: a multiple of 128 bytes) put the warp's 8
// rows on the same 8 banks — 8 wavefronts per store where 2 would do, 16 of them per thread and q
// tile. In fragment order a thread's four values of a row for sub-tiles 2k, 2k+1 (columns
// 16k + 2t.., 16k + 8 + 2t..) are one 16-byte chunk, t · 4 + k of its 64-column block, and the
// chunk index is XORed with qi mod 8 (the warp's row g: tiles start at multiples of 8), so one
// float4 store per (k, row half) reaches 8 distinct bank groups 4 times each: 4 wavefronts for
// 512 bytes, half the store instructions and a quarter of the wavefronts. The permutation stays
// inside each row, so truncating a tile at Lq by whole rows (the bulk reduce's byte count) is
// unchanged; only the conversion kernel reads the order back.
__host__ __device__ __forceinline__ int dq_frag_col(int qi, int c) {
  const int nt = (c >> 3) & 7, t = (c >> 1) & 3;
  const int chunk = (t * 4 + (nt >> 1)) ^ (qi & 7);
  return (c & ~63) + chunk * 4 + (nt & 1) * 2 + (c & 1);
}

// The conversion's 16-byte read of dq_frag_col's order: the float offset in a row of query qi of the
// chunk holding columns c0 + 2t, c0 + 2t + 1, c0 + 8 + 2t, c0 + 9 + 2t (c0 a multiple of 16, t < 4),
// in that order — chunk t · 4 + k of the 64-column block, k = (c0 / 16) mod 4, so four chunks are
// exactly the 16 columns from c0
__host__ __device__ __forceinline__ int dq_frag_chunk16(int qi, int c0, int t) {
  return (c0 & ~63) + ((t * 4 + ((c0 >> 4) & 3)) ^ (qi & 7)) * 4;
}

// dq = dq_accum · scale; an element that came out non-finite is recomputed carefully by its thread
// (one element of the row: slow, and only where neither shortcut below decides it): kv tiles of BN
// keys and q tiles of BMQ rows in the kv-major tables. BN = 0: no careful path (the f32 body is exact).
// DQ_FRAG: dq_accum's rows are in dq_frag_col's order (the FA3-class body's; D a multiple of 64).
template <typename T, int BN, int BMQ, bool DQ_FRAG = false>
__device__ __forceinline__ void bwd_dq_convert_careful(const FlexBwdArgs& a, int D, int DV, const FlexScoreParams& sp,
                                                       const FlexMaskParams& mp) {
  const size_t n = (size_t)a.B * a.Hq * a.Lq * D;
  const size_t first = (size_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (size_t)gridDim.x * blockDim.x;
  // element i's place in dq_accum (DQ_FRAG: D is 64 or 128, a shift; the row's query index mod 8 is
  // the row's own mod 8 when Lq is a multiple of 8, which spares the 64-bit modulo per element)
  [[maybe_unused]] const int d_shift = __ffs(D) - 1;
  [[maybe_unused]] const bool lq_by8 = (a.Lq & 7) == 0;
  auto src = [&](size_t i) -> size_t {
    if constexpr (DQ_FRAG) {
      const size_t row = i >> d_shift;
      const int qi = lq_by8 ? (int)row : (int)(row % a.Lq);
      return (row << d_shift) + dq_frag_col(qi, (int)(i & (D - 1)));
    } else {
      return i;
    }
  };
  // the streaming conversion; a thread that met a non-finite element walks its elements again afterwards
  bool redo = false;
  // 16 columns of a row a thread where D allows (every fast-path head dim): four 16-byte loads (in
  // DQ_FRAG order through dq_frag_chunk16) and 16-byte stores, where an element a thread read 4-byte
  // scalars at 45% of DRAM bandwidth on the H100 (ncu, session 20). A thread's elements are the same
  // under both forms in the careful pass below (unit elements from unit · its index).
  const bool vec16 = D % 16 == 0 && (((unsigned long long)a.dq | (unsigned long long)a.dq_accum) & 15) == 0;
  const size_t unit = vec16 ? 16 : 1;
  if (vec16) {
    for (size_t u = first; u < n / 16; u += stride) {
      const size_t i0 = u * 16;
      float x[16];
      if constexpr (DQ_FRAG) {
        const size_t row = i0 >> d_shift;
        const int qi = lq_by8 ? (int)row : (int)(row % a.Lq);
        const int c0 = (int)(i0 & (D - 1));
        const float* src_row = a.dq_accum + (row << d_shift);
#pragma unroll
        for (int t = 0; t < 4; ++t) {
          const float4 v = __ldg(reinterpret_cast<const float4*>(src_row + dq_frag_chunk16(qi, c0, t)));
          x[2 * t] = v.x, x[2 * t + 1] = v.y, x[8 + 2 * t] = v.z, x[8 + 2 * t + 1] = v.w;
        }
      } else {
#pragma unroll
        for (int t = 0; t < 4; ++t) {
          const float4 v = __ldg(reinterpret_cast<const float4*>(a.dq_accum + i0) + t);
          x[4 * t] = v.x, x[4 * t + 1] = v.y, x[4 * t + 2] = v.z, x[4 * t + 3] = v.w;
        }
      }
#pragma unroll
      for (int e = 0; e < 16; ++e) redo |= !finite_f(x[e]), x[e] *= a.scale;
      store16<T>(static_cast<T*>(a.dq) + i0, x);
    }
  } else {
    for (size_t i = first; i < n; i += stride) {
      const float x = a.dq_accum[src(i)];
      redo |= !finite_f(x);
      static_cast<T*>(a.dq)[i] = Elem<T>::from_float(x * a.scale);
    }
  }
  if constexpr (BN > 0) {
    if (!redo) return;
#pragma unroll 1
    for (size_t u = first; u * unit < n; u += stride)
#pragma unroll 1
    for (size_t i = u * unit; i < (u + 1) * unit; ++i) {
      if (finite_f(a.dq_accum[src(i)])) continue;
      const size_t row = i / D;
      const float lse = a.lse[row], delta = a.delta[row];
      // without a per-element recompute: a NaN row's dq is NaN and a row without a visible key's 0
      // (§4); a finite lse has a key of weight > 0, whose dS is NaN where delta is (NaN out or dO)
      if (lse != lse || delta != delta) continue;
      const float x = lse == -FLEX_INF ? 0.f : bwd_careful_dq<T, BN, BMQ>(a, D, DV, sp, mp, row, (int)(i % D));
      static_cast<T*>(a.dq)[i] = Elem<T>::from_float(x * a.scale);
    }
  }
}

}  // namespace flex

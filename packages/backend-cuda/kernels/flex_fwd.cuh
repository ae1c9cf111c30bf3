// flexattn forward: FlashAttention-2 style, one CTA per (q tile, query head, batch).
//
// 16-bit path (bf16/fp16): each warp owns WM = BM / NWARPS query rows (MT = WM / 16 row blocks of
// mma.sync m16n8k16). K/V tiles stream through a STAGES-deep cp.async ring in swizzled shared
// memory; S = Q Kᵀ and O += P V run on tensor cores, the online softmax in fp32 registers.
// Tiles come from the block table: partial tiles (mask evaluated) first, then full tiles (mask
// skipped); empty tiles are never touched. With an identity score mod the scale·log2(e) is folded
// into one multiply and exp2 is used; otherwise flex_score_mod sees the natural-scale score.
//
// f32 path: a simple SIMT kernel (one warp per query row at a time, one lane per key), for tests.
// Requires common.cuh and the prelude before it.

namespace flex {

template <bool B> struct BoolTag { static constexpr bool value = B; };

// MT_OUTER: softmax and P·V one m16 row block at a time, so the tensor-core work of one block
// overlaps the exp/ALU work of the next inside a warp (V fragments are then loaded per block).
// ONE_BLOCK: specialise the whole tile body per (partial / boundary / full) case instead of only
// the masking step (more code, one basic block per case).
// MINB: CTAs per SM the register allocation must allow (__launch_bounds__' second argument).
// WG: S = Q Kᵀ on Hopper's wgmma (wgmma.cuh) where the compiler targets sm_90a and the tile fits
// one warpgroup (4 warps, 64-row blocks, 64-column panels, N = BN of 64 or 128); then warp w owns
// rows 64·mt + 16w (mt < MT) instead of WM consecutive rows.
template <int D_, int DV_, int BM_, int BN_, int NWARPS_, int STAGES_, bool MT_OUTER_ = false, bool ONE_BLOCK_ = false,
          int MINB_ = 1, bool WG_ = false>
struct FwdCfg {
  static constexpr int D = D_, DV = DV_, BM = BM_, BN = BN_, NWARPS = NWARPS_, STAGES = STAGES_, MINB = MINB_;
  static constexpr bool MT_OUTER = MT_OUTER_, ONE_BLOCK = ONE_BLOCK_;
  static constexpr int NTHREADS = NWARPS * 32;
  static constexpr int WM = BM / NWARPS;  // query rows per warp
  static constexpr int MT = WM / 16;      // m16 row blocks per warp
  static constexpr int DP = (D + 15) / 16 * 16;
  static constexpr int DVP = (DV + 15) / 16 * 16;
  static constexpr bool VEC = (D % 8 == 0) && (DV % 8 == 0);
  static constexpr bool WG = WG_ && FLEX_WGMMA && VEC && D % 64 == 0 && NWARPS == 4 && BM % 64 == 0 && (BN == 64 || BN == 128);
  // Q fragments stay in registers when they are few and the S tile is small (else reloaded per tile)
  static constexpr bool Q_IN_REGS = !WG && MT * (DP / 16) * 4 <= 32 && MT * BN <= 128;
  // first row (inside the q tile) of row block mt of warp w
  static __device__ __forceinline__ int row0(int warp, int mt) { return WG ? mt * 64 + warp * 16 : warp * WM + mt * 16; }
  using QTile = SmemTile<BM, DP>;
  using KTile = SmemTile<BN, DP>;
  using VTile = SmemTile<BN, DVP>;
  static constexpr int SMEM_BYTES = QTile::BYTES + STAGES * (KTile::BYTES + VTile::BYTES);
  static_assert(WM % 16 == 0 && MT >= 1, "each warp needs a multiple of 16 query rows");
  static_assert(BN % 16 == 0, "BN must be a multiple of 16");
  static_assert(STAGES >= 2, "at least double buffering");
};

// Turn raw scores S (this warp's MT x BN slab) into post-mod values in log2 units, in place.
// CHECK: evaluate bounds / mask (partial or boundary tile); otherwise the fast path.
// rv: this thread's row values (flex_row_vals, computed once per CTA); the column values of the
// tile's keys are computed here once per column instead of once per element.
template <class C, bool CHECK, bool PARTIAL>
__device__ __forceinline__ void fwd_post(float (&s)[C::MT][C::BN / 8][4], int b, int h, int q0, int warp, int kv0,
                                         int Lq, int Lkv, float scale, float scale_log2,
                                         const FlexScoreParams& sp, const FlexMaskParams& mp,
                                         const FlexRowVals (&rv)[C::MT][2]) {
  const int lane = threadIdx.x & 31;
  constexpr bool NEED_COLS = !FLEX_SCORE_MOD_IS_IDENTITY || (PARTIAL && !FLEX_MASK_MOD_IS_TRUE);
  FlexColVals cv[NEED_COLS ? C::BN / 8 : 1][2];
  if constexpr (NEED_COLS) {
#pragma unroll
    for (int nt = 0; nt < C::BN / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 2; ++c) cv[nt][c] = flex_col_vals(b, h, kv0 + nt * 8 + (lane & 3) * 2 + c, sp, mp);
  }
#pragma unroll
  for (int mt = 0; mt < C::MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < C::BN / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int qi = q0 + C::row0(warp, mt) + (lane >> 2) + ((c & 2) ? 8 : 0);
        const int kj = kv0 + nt * 8 + (lane & 3) * 2 + (c & 1);
        float x = s[mt][nt][c];
        bool vis = true;
        if (CHECK) {
          vis = qi < Lq && kj < Lkv;
#if !FLEX_MASK_MOD_IS_TRUE
          if constexpr (PARTIAL) {
            if (vis) vis = flex_mask_mod_rc(b, h, qi, kj, rv[mt][c >> 1], cv[NEED_COLS ? nt : 0][c & 1], mp);
          }
#endif
        }
#if FLEX_SCORE_MOD_IS_IDENTITY
        // raw score; fwd_tc folds scale·log2(e) into the exponent (one FFMA per element)
#else
        if (vis) x = flex_score_mod_rc(x * scale, b, h, qi, kj, rv[mt][c >> 1], cv[NEED_COLS ? nt : 0][c & 1], sp) * FLEX_LOG2E;
#endif
        s[mt][nt][c] = vis ? x : -FLEX_INF;
      }
}

template <class C, typename T>
__device__ __forceinline__ void fwd_tc(const FlexFwdArgs& a, const FlexScoreParams& sp,
                                       const FlexMaskParams& mp) {
  constexpr int MT = C::MT, NTN = C::BN / 8, NTV = C::DVP / 8, KSTEPS = C::DP / 16;
  using QT = typename C::QTile;
  using KT = typename C::KTile;
  using VT = typename C::VTile;
  // 1024-byte alignment: wgmma's 128-byte swizzle repeats every 8 rows of 128 bytes (every tile
  // here is a multiple of that, so all panels stay aligned)
  extern __shared__ __align__(1024) unsigned char flex_smem[];
  T* sQ = reinterpret_cast<T*>(flex_smem);
  T* sK = sQ + QT::ELEMS;
  T* sV = sK + C::STAGES * KT::ELEMS;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;  // last q tiles first
  const int hk = h / (a.Hq / a.Hkv);
  const int q0 = qt * C::BM;
  const int Lq = a.Lq, Lkv = a.Lkv;
  const T* gQ = static_cast<const T*>(a.q) + ((size_t)(b * a.Hq + h) * Lq + q0) * C::D;
  const T* gK = static_cast<const T*>(a.k) + (size_t)(b * a.Hkv + hk) * Lkv * C::D;
  const T* gV = static_cast<const T*>(a.v) + (size_t)(b * a.Hkv + hk) * Lkv * C::DV;
  const int n_kv_tiles = (Lkv + C::BN - 1) / C::BN;
  const TileList tl = tile_list(a.bt, a.has_block_mask, b, h, qt, n_kv_tiles);
  const int n_iter = tl.count();
  const float scale = a.scale, scale_log2 = a.scale * FLEX_LOG2E;
#if FLEX_SCORE_MOD_IS_IDENTITY
  const float ku = scale_log2;
#else
  const float ku = 1.f;
#endif
  const bool q_bound = q0 + C::BM > Lq;

  auto load_kv = [&](int it, int stage) {
    const int kv0 = tile_at(tl, it) * C::BN;
    load_tile<C::BN, C::DP, C::NTHREADS, C::VEC>(sK + stage * KT::ELEMS, gK + (size_t)kv0 * C::D, C::D,
                                                 Lkv - kv0, C::D, tid);
    load_tile<C::BN, C::DVP, C::NTHREADS, C::VEC>(sV + stage * VT::ELEMS, gV + (size_t)kv0 * C::DV, C::DV,
                                                  Lkv - kv0, C::DV, tid);
  };

  load_tile<C::BM, C::DP, C::NTHREADS, C::VEC>(sQ, gQ, C::D, Lq - q0, C::D, tid);
#pragma unroll
  for (int s = 0; s < C::STAGES - 1; ++s) {
    if (s < n_iter) load_kv(s, s);
    cp_async_commit();
  }

  float o[MT][NTV][4];
  float m[MT][2], l[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int i = 0; i < NTV; ++i) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.f;
    m[mt][0] = m[mt][1] = -FLEX_INF;
    l[mt][0] = l[mt][1] = 0.f;
  }
  unsigned qf[C::Q_IN_REGS ? MT : 1][C::Q_IN_REGS ? KSTEPS : 1][4];
  const int wrow = warp * C::WM;  // first row of this warp inside the tile
  // the mods' per-row parts, once per CTA (rows past Lq compute on clamped loads and are never used)
  FlexRowVals rv[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) rv[mt][hf] = flex_row_vals(b, h, q0 + C::row0(warp, mt) + (lane >> 2) + hf * 8, sp, mp);

  for (int it = 0; it < n_iter; ++it) {
    const int stage = it % C::STAGES;
    {
      const int nxt = it + C::STAGES - 1;
      if (nxt < n_iter) load_kv(nxt, nxt % C::STAGES);
      cp_async_commit();
    }
    cp_async_wait<C::STAGES - 1>();
    if constexpr (C::WG) fence_proxy_async_smem();  // cp.async data → wgmma's async proxy
    __syncthreads();
    if (C::Q_IN_REGS && it == 0) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int kk = 0; kk < KSTEPS; ++kk)
          ldmatrix_x4(qf[mt][kk], smem_u32(sQ + QT::off(wrow + mt * 16 + (lane & 15), kk * 2 + (lane >> 4))));
    }
    const T* cK = sK + stage * KT::ELEMS;
    const T* cV = sV + stage * VT::ELEMS;
    const int kv0 = tile_at(tl, it) * C::BN;
    const bool full = !a.has_block_mask || tl.is_full(it);
    const bool bound = q_bound || kv0 + C::BN > Lkv;

    float s[MT][NTN][4];
    auto qk = [&]() {
      // ---- S = Q K^T -----------------------------------------------------------------------
      if constexpr (C::WG) {
        // one warpgroup: per 64-row block mt, KSTEPS m64nBNk16 steps straight from shared memory
        // (panel kk / 4 of both tiles, 32 bytes per k step inside a 128-byte swizzled row)
        wgmma_fence();
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
          wgmma_rows<C::BN, KSTEPS, QT::PANEL, KT::PANEL>(&s[mt][0][0], sQ + mt * 64 * 64, cK);
        wgmma_commit_and_wait();
      } else {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NTN; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk) {
        unsigned qa[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          if constexpr (C::Q_IN_REGS) {
#pragma unroll
            for (int r = 0; r < 4; ++r) qa[mt][r] = qf[mt][kk][r];
          } else {
            ldmatrix_x4(qa[mt], smem_u32(sQ + QT::off(wrow + mt * 16 + (lane & 15), kk * 2 + (lane >> 4))));
          }
        }
#pragma unroll
        for (int n2 = 0; n2 < NTN / 2; ++n2) {
          unsigned kb[4];
          ldmatrix_x4(kb, smem_u32(cK + KT::off(n2 * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1))));
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma_16816<T>(s[mt][2 * n2], qa[mt], kb[0], kb[1]);
            mma_16816<T>(s[mt][2 * n2 + 1], qa[mt], kb[2], kb[3]);
          }
        }
      }
      }
    };
    // ---- post = mask ? score_mod(score) : -inf ---------------------------------------------------
    auto post = [&](auto check_tag, auto partial_tag) {
      fwd_post<C, decltype(check_tag)::value, decltype(partial_tag)::value>(s, b, h, q0, warp, kv0, Lq, Lkv, scale,
                                                                             scale_log2, sp, mp, rv);
    };
    auto softmax_pv = [&]() {
      // ---- online softmax and O += P V, MT_OUTER: one row block at a time -----------------------
      constexpr int MSTEP = C::MT_OUTER ? 1 : MT;
#pragma unroll
      for (int mb = 0; mb < MT; mb += MSTEP) {
#pragma unroll
        for (int mt = mb; mt < mb + MSTEP; ++mt)
#pragma unroll
          for (int hf = 0; hf < 2; ++hf) {
            float mx = -FLEX_INF;
#pragma unroll
            for (int nt = 0; nt < NTN; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * hf], s[mt][nt][2 * hf + 1]));
            mx = quad_max(mx);
            // values are in "u" units: log2-domain = u * ku (ku = scale·log2(e) for the identity mod)
            const float m_new = fmaxf(m[mt][hf], mx);
            const float m_use = m_new == -FLEX_INF ? 0.f : m_new * ku;
            const float alpha = fast_exp2(fmaf(m[mt][hf], ku, -m_use));
            m[mt][hf] = m_new;
            float sum = 0.f;
#pragma unroll
            for (int nt = 0; nt < NTN; ++nt) {
              const float p0 = fast_exp2(fmaf(s[mt][nt][2 * hf], ku, -m_use));
              const float p1 = fast_exp2(fmaf(s[mt][nt][2 * hf + 1], ku, -m_use));
              s[mt][nt][2 * hf] = p0;
              s[mt][nt][2 * hf + 1] = p1;
              sum += p0 + p1;
            }
            l[mt][hf] = l[mt][hf] * alpha + sum;
#pragma unroll
            for (int i = 0; i < NTV; ++i) {
              o[mt][i][2 * hf] *= alpha;
              o[mt][i][2 * hf + 1] *= alpha;
            }
          }
#pragma unroll
        for (int k2 = 0; k2 < C::BN / 16; ++k2) {
          unsigned pa[MT][4];
#pragma unroll
          for (int mt = mb; mt < mb + MSTEP; ++mt) {
            pa[mt][0] = Elem<T>::pack2(s[mt][2 * k2][0], s[mt][2 * k2][1]);
            pa[mt][1] = Elem<T>::pack2(s[mt][2 * k2][2], s[mt][2 * k2][3]);
            pa[mt][2] = Elem<T>::pack2(s[mt][2 * k2 + 1][0], s[mt][2 * k2 + 1][1]);
            pa[mt][3] = Elem<T>::pack2(s[mt][2 * k2 + 1][2], s[mt][2 * k2 + 1][3]);
          }
#pragma unroll
          for (int d2 = 0; d2 < NTV / 2; ++d2) {
            unsigned vb[4];
            ldmatrix_x4_trans(vb, smem_u32(cV + VT::off(k2 * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), d2 * 2 + (lane >> 4))));
#pragma unroll
            for (int mt = mb; mt < mb + MSTEP; ++mt) {
              mma_16816<T>(o[mt][2 * d2], pa[mt], vb[0], vb[1]);
              mma_16816<T>(o[mt][2 * d2 + 1], pa[mt], vb[2], vb[3]);
            }
          }
        }
      }
    };
    if constexpr (C::ONE_BLOCK) {
      // the whole tile specialised per case: one basic block, so the scheduler may overlap the
      // MMAs of one row block with the softmax of another
      if (!full) {
        qk(); post(BoolTag<true>{}, BoolTag<true>{}); softmax_pv();
      } else if (bound) {
        qk(); post(BoolTag<true>{}, BoolTag<false>{}); softmax_pv();
      } else {
        qk(); post(BoolTag<false>{}, BoolTag<false>{}); softmax_pv();
      }
    } else {
      qk();
      if (!full) post(BoolTag<true>{}, BoolTag<true>{});
      else if (bound) post(BoolTag<true>{}, BoolTag<false>{});
      else post(BoolTag<false>{}, BoolTag<false>{});
      softmax_pv();
    }
    __syncthreads();  // the next iteration's loads overwrite the stage read here
  }
  cp_async_wait<0>();

  // ---- epilogue: O / l, lse ----------------------------------------------------------------------
  T* gO = static_cast<T*>(a.out) + ((size_t)(b * a.Hq + h) * Lq) * C::DV;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const float lsum = quad_sum(l[mt][hf]);
      const float inv = lsum > 0.f ? 1.f / lsum : 0.f;
      const int qi = q0 + C::row0(warp, mt) + (lane >> 2) + hf * 8;
      if (qi >= Lq) continue;
      if (a.lse != nullptr && (lane & 3) == 0)
        a.lse[(size_t)(b * a.Hq + h) * Lq + qi] = lsum > 0.f ? (m[mt][hf] * ku + __log2f(lsum)) * FLEX_LN2 : -FLEX_INF;
      T* row = gO + (size_t)qi * C::DV;
#pragma unroll
      for (int i = 0; i < NTV; ++i) {
        const int col = i * 8 + (lane & 3) * 2;
        const float x0 = o[mt][i][2 * hf] * inv, x1 = o[mt][i][2 * hf + 1] * inv;
        store_pair<C::DV>(row, col, x0, x1);
      }
    }
}

// ---------------------------------------------------------------------------------------------
// f32 SIMT forward: tile BM x BN = 32 x 32 (the block tables use these units), 8 warps.
// Each warp walks its 4 query rows one after another; lane j scores key kv0 + j.
// ---------------------------------------------------------------------------------------------
// F32_BM / F32_BN / F32_WARPS live in common.cuh: the f32 backward kernels share them.

template <int D, int DV>
__device__ __forceinline__ void fwd_f32(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  constexpr int NO = (DV + 31) / 32;
  __shared__ float sq[F32_WARPS][D];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int qt = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int hk = h / (a.Hq / a.Hkv);
  const int Lq = a.Lq, Lkv = a.Lkv;
  const float* gK = static_cast<const float*>(a.k) + (size_t)(b * a.Hkv + hk) * Lkv * D;
  const float* gV = static_cast<const float*>(a.v) + (size_t)(b * a.Hkv + hk) * Lkv * DV;
  const TileList tl = tile_list(a.bt, a.has_block_mask, b, h, qt, (Lkv + F32_BN - 1) / F32_BN);
  for (int r = warp; r < F32_BM; r += F32_WARPS) {
    const int qi = qt * F32_BM + r;
    if (qi >= Lq) break;
    const float* gq = static_cast<const float*>(a.q) + ((size_t)(b * a.Hq + h) * Lq + qi) * D;
    for (int d = lane; d < D; d += 32) sq[warp][d] = gq[d];
    __syncwarp();
    float mx = -FLEX_INF, l = 0.f, o[NO];
#pragma unroll
    for (int i = 0; i < NO; ++i) o[i] = 0.f;
    for (int it = 0; it < tl.count(); ++it) {
      const int kv0 = tile_at(tl, it) * F32_BN;
      const bool full = !a.has_block_mask || tl.is_full(it);
      const int kj = kv0 + lane;
      float x = -FLEX_INF;
      bool vis = kj < Lkv;
#if !FLEX_MASK_MOD_IS_TRUE
      if (vis && !full) vis = flex_mask_mod(b, h, qi, kj, mp);
#endif
      if (vis) {
        const float* kr = gK + (size_t)kj * D;
        float acc = 0.f;
        for (int d = 0; d < D; ++d) acc = fmaf(sq[warp][d], kr[d], acc);
        x = flex_score_mod(acc * a.scale, b, h, qi, kj, sp);
      }
      float tmax = x;
      for (int off = 16; off > 0; off >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, off));
      const float m_new = fmaxf(mx, tmax);
      const float m_use = m_new == -FLEX_INF ? 0.f : m_new;
      const float alpha = expf(mx - m_use);
      const float p = expf(x - m_use);
      float psum = p;
      for (int off = 16; off > 0; off >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, off);
      l = l * alpha + psum;
      mx = m_new;
#pragma unroll
      for (int i = 0; i < NO; ++i) o[i] *= alpha;
      for (int j = 0; j < 32; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
        if (pj == 0.f) continue;  // masked or out of range (uniform across the warp)
        const float* vr = gV + (size_t)(kv0 + j) * DV;
#pragma unroll
        for (int i = 0; i < NO; ++i)
          if (lane + 32 * i < DV) o[i] = fmaf(pj, vr[lane + 32 * i], o[i]);
      }
    }
    const float inv = l > 0.f ? 1.f / l : 0.f;
    float* go = static_cast<float*>(a.out) + ((size_t)(b * a.Hq + h) * Lq + qi) * DV;
#pragma unroll
    for (int i = 0; i < NO; ++i)
      if (lane + 32 * i < DV) go[lane + 32 * i] = o[i] * inv;
    if (a.lse != nullptr && lane == 0)
      a.lse[(size_t)(b * a.Hq + h) * Lq + qi] = l > 0.f ? mx + logf(l) : -FLEX_INF;
    __syncwarp();
  }
}

}  // namespace flex

// ---------------------------------------------------------------------------------------------
// entry point: flex_fwd, grid (ceil(Lq / BM), Hq, B), block FLEX_FWD_WARPS * 32 threads,
// dynamic shared memory FwdCfg::SMEM_BYTES (16-bit) / 0 (f32). The launcher passes the tile
// config as FLEX_FWD_BM / _BN / _WARPS / _STAGES; the defaults below match src/config.ts.
// ---------------------------------------------------------------------------------------------
#if defined(FLEX_HEAD_DIM) && !defined(FLEX_NO_ENTRY_POINTS)
#if defined(FLEX_DTYPE_F32)
extern "C" __global__ void __launch_bounds__(flex::F32_WARPS * 32)
    flex_fwd(const FlexFwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::fwd_f32<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V>(args, sp, mp);
}
#else
#ifndef FLEX_FWD_BM
#if FLEX_HEAD_DIM <= 64 && FLEX_HEAD_DIM_V <= 64
#define FLEX_FWD_BM 128
#define FLEX_FWD_BN 128
#define FLEX_FWD_WARPS 4
#define FLEX_FWD_STAGES 3
#elif FLEX_HEAD_DIM <= 128 && FLEX_HEAD_DIM_V <= 128
#define FLEX_FWD_BM 128
#define FLEX_FWD_BN 64
#define FLEX_FWD_WARPS 4
#define FLEX_FWD_STAGES 2
#define FLEX_FWD_MT_OUTER 1
#define FLEX_FWD_ONE_BLOCK 1
#else
#define FLEX_FWD_BM 64
#define FLEX_FWD_BN 32
#define FLEX_FWD_WARPS 4
#define FLEX_FWD_STAGES 2
#endif
#endif
#ifndef FLEX_FWD_MINB
#define FLEX_FWD_MINB 1
#endif
#ifndef FLEX_FWD_MT_OUTER
#define FLEX_FWD_MT_OUTER 0
#define FLEX_FWD_ONE_BLOCK 0
#endif
#ifndef FLEX_FWD_WGMMA
#define FLEX_FWD_WGMMA 0
#endif
typedef flex::FwdCfg<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, FLEX_FWD_BM, FLEX_FWD_BN, FLEX_FWD_WARPS, FLEX_FWD_STAGES,
                     FLEX_FWD_MT_OUTER != 0, FLEX_FWD_ONE_BLOCK != 0, FLEX_FWD_MINB, FLEX_FWD_WGMMA != 0>
    FlexFwdConfig;
extern "C" __global__ void __launch_bounds__(FLEX_FWD_WARPS * 32, FLEX_FWD_MINB)
    flex_fwd(const FlexFwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::fwd_tc<FlexFwdConfig, flex_elem_t>(args, sp, mp);
}
#endif
#endif

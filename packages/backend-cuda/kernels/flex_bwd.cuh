// flexattn backward: three kernels.
//   flex_bwd_preprocess  delta = rowsum(dO ∘ O) − dlse (fp32; dlse optional), dq_accum = 0
//   flex_bwd_dkdv        one CTA per (kv tile, kv head, batch): walks the q tiles of every query
//                        head of its GQA group over the kv-major (transposed) block tables,
//                        accumulates dK, dV in registers and adds dQ into dq_accum with fp32
//                        atomics (float2 atomics on sm_90)
//   flex_bwd_dq_convert  dq = dq_accum · scale, in the input dtype
//
// 16-bit path: the CTA's warps each own 16 kv rows. Everything is computed transposed (kv rows in
// the mma's M dimension) so that Pᵀ and dSᵀ come out of the accumulators already in A-operand
// layout for dV += Pᵀ dO and dK += dSᵀ Q; dSᵀ goes through shared memory once for dQ = dS K.
//   Sᵀ = K Qᵀ, Pᵀ = exp(postᵀ − lse), dPᵀ = V dOᵀ, dSᵀ = Pᵀ ∘ (dPᵀ − delta) ∘ score_mod'(score)
// Masked and out-of-range entries have P = 0 and contribute nothing (a NaN row's delta is 0, so
// its masked entries' dS is 0 too; its visible ones carry the NaN); rows with lse = −inf have
// P = 0 everywhere (never NaN). Q/dO tiles are double-buffered with cp.async.
// f32 path: SIMT, one warp per kv row, one lane per query row (tests).

namespace flex {

// WG: Sᵀ = K Qᵀ and dPᵀ = V dOᵀ on Hopper's wgmma (wgmma.cuh) where the compiler targets sm_90a:
// warpgroup g (warps 4g..4g+3) owns kv rows 64g.., so warp w keeps its 16 rows 16w.. either way.
// For head dims 64/128 dV and dK run there too, issued asynchronously: dV overlaps dPᵀ, dK the
// dQ step; every wgmma is waited for inside the q-tile iteration.
template <int D_, int DV_, int BMQ_, int NWARPS_, bool WG_ = false> struct BwdCfg {
  static constexpr int D = D_, DV = DV_, BMQ = BMQ_, NWARPS = NWARPS_;
  static constexpr int BN = 16 * NWARPS;  // kv rows per CTA
  static constexpr int NTHREADS = NWARPS * 32;
  static constexpr int DP = (D + 15) / 16 * 16;
  static constexpr int DVP = (DV + 15) / 16 * 16;
  static constexpr bool VEC = (D % 8 == 0) && (DV % 8 == 0);
  static constexpr bool WG =
      WG_ && FLEX_WGMMA && VEC && D % 64 == 0 && DV % 64 == 0 && NWARPS % 4 == 0 && (BMQ == 64 || BMQ == 128);
  // dV += Pᵀ dO and dK += dSᵀ Q on wgmma too (P/dS from registers, dO/Q as MN-major operands)
  static constexpr bool DKV_WG = WG && (D == 64 || D == 128) && (DV == 64 || DV == 128);
  static constexpr bool KV_IN_REGS = !WG && (DP / 16) * 4 + (DVP / 16) * 4 <= 32;
  // dQ = dS K: warps tile the BMQ x DP block as WQ (along q) x WD (along d)
  static constexpr int WQ = BMQ / 16 < NWARPS ? BMQ / 16 : NWARPS;
  static constexpr int WD0 = NWARPS / WQ;
  static constexpr int WD = (DP / 16) % WD0 == 0 ? WD0 : 1;  // warps >= WQ * WD sit out the dQ step
  static constexpr int DQ_COLS = DP / WD;                    // columns of dQ per warp
  using KTile = SmemTile<BN, DP>;
  using VTile = SmemTile<BN, DVP>;
  using QTile = SmemTile<BMQ, DP>;
  using OTile = SmemTile<BMQ, DVP>;
  using STile = SmemTile<BN, BMQ>;
  static constexpr int SMEM_BYTES =
      KTile::BYTES + VTile::BYTES + 2 * (QTile::BYTES + OTile::BYTES) + STile::BYTES + 2 * 2 * BMQ * 4;
  static_assert(BMQ % 16 == 0, "BMQ must be a multiple of 16");
  static_assert(WQ * WD <= NWARPS && DQ_COLS % 16 == 0, "dQ warp tiling must cover the tile");
};

// ---------------------------------------------------------------------------------------------
// delta of one row from its partial sum (lane 0 of the row's lanes writes it): a NaN row (NaN lse:
// a NaN or +inf post in the forward) gets delta 0, so its masked keys' dS stays 0·(dP − 0) = 0 — its
// visible keys' P is NaN, which carries the NaN to dq, dk and dv as defined
__device__ __forceinline__ void bwd_store_delta(const FlexBwdArgs& a, size_t row, float acc) {
  const float lse = a.lse[row];
  a.delta[row] = lse != lse ? 0.f : a.dlse != nullptr ? acc - a.dlse[row] : acc;
}

// Rows of DV elements read as 16-byte vectors by TPR lanes each (a power of two up to 32, so a
// row's lanes are one aligned group of a warp and reduce with xor shuffles); 0: a warp a row.
// The vector form is what makes this kernel bandwidth-bound: a warp a row of 64 elements read
// 2-byte scalars, 56% of DRAM bandwidth on the H100 (ncu, session 20).
template <typename T, int DV> struct PreprocessShape {
  static constexpr int VEC = 16 / (int)sizeof(T);  // elements per 16-byte load
  static constexpr int TPR0 = DV % VEC == 0 ? DV / VEC : 0;
  static constexpr int TPR = TPR0 > 0 && TPR0 <= 32 && (TPR0 & (TPR0 - 1)) == 0 ? TPR0 : 0;
};

// grid-stride over rows, so any grid is correct (the host sizes it to PreprocessShape's rows a block)
template <typename T, int DV>
__device__ __forceinline__ void bwd_preprocess(const FlexBwdArgs& a, int D) {
  using S = PreprocessShape<T, DV>;
  const size_t rows = (size_t)a.B * a.Hq * a.Lq;
  // a view's rows may start off 16 bytes (dO is the caller's tensor): the vector form needs them aligned
  const bool aligned = (((unsigned long long)a.out | (unsigned long long)a.dout | (unsigned long long)a.dq_accum) & 15) == 0 && D % 4 == 0;
  if constexpr (S::TPR > 0) {
    if (aligned) {
      constexpr int TPR = S::TPR, ROWS = 256 / TPR;
      const int sub = threadIdx.x & (TPR - 1);
      for (size_t row = (size_t)blockIdx.x * ROWS + threadIdx.x / TPR; row < rows; row += (size_t)gridDim.x * ROWS) {
        const uint4 ov = __ldg(reinterpret_cast<const uint4*>(static_cast<const T*>(a.out) + row * DV) + sub);
        const uint4 gv = __ldg(reinterpret_cast<const uint4*>(static_cast<const T*>(a.dout) + row * DV) + sub);
        const T* oe = reinterpret_cast<const T*>(&ov);
        const T* ge = reinterpret_cast<const T*>(&gv);
        float acc = 0.f;
#pragma unroll
        for (int e = 0; e < S::VEC; ++e) acc += Elem<T>::to_float(oe[e]) * Elem<T>::to_float(ge[e]);
#pragma unroll
        for (int off = TPR / 2; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
        if (sub == 0) bwd_store_delta(a, row, acc);
        float4* dq = reinterpret_cast<float4*>(a.dq_accum + row * D);
        for (int j = sub; j < D / 4; j += TPR) dq[j] = make_float4(0.f, 0.f, 0.f, 0.f);
      }
      return;
    }
  }
  const int lane = threadIdx.x & 31;
  for (size_t row = (size_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); row < rows;
       row += (size_t)gridDim.x * (blockDim.x >> 5)) {
    const T* o = static_cast<const T*>(a.out) + row * DV;
    const T* go = static_cast<const T*>(a.dout) + row * DV;
    float acc = 0.f;
    for (int d = lane; d < DV; d += 32) acc += Elem<T>::to_float(o[d]) * Elem<T>::to_float(go[d]);
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) bwd_store_delta(a, row, acc);
    float* dq = a.dq_accum + row * D;
    for (int d = lane; d < D; d += 32) dq[d] = 0.f;
  }
}

// lse in log2 units (+inf for a row without a visible key or past Lq: P = 0 there, never NaN) and
// delta of query row qi of the head whose rows start at head_row0 (both backward bodies)
__device__ __forceinline__ void bwd_row_stats(const FlexBwdArgs& a, size_t head_row0, int qi, float& l2, float& dl) {
  l2 = FLEX_INF;
  dl = 0.f;
  if (qi < a.Lq) {
    const float lse = a.lse[head_row0 + qi];
    l2 = lse == -FLEX_INF ? FLEX_INF : lse * FLEX_LOG2E;
    dl = a.delta[head_row0 + qi];
  }
}

// This thread's dK (· scale) and dV rows kj0 and kj0 + 8 of kv head hk, batch b, from accumulators in
// mma.sync's C layout (both backward bodies)
template <int D, int DV, int NTD, int NTV, typename T>
__device__ __forceinline__ void bwd_store_dkdv(const FlexBwdArgs& a, int b, int hk, int kj0, int lane,
                                               const float (&dk)[NTD][4], const float (&dv)[NTV][4]) {
  T* gdk = static_cast<T*>(a.dk) + (size_t)(b * a.Hkv + hk) * a.Lkv * D;
  T* gdv = static_cast<T*>(a.dv) + (size_t)(b * a.Hkv + hk) * a.Lkv * DV;
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int kj = kj0 + hf * 8;
    if (kj >= a.Lkv) continue;
#pragma unroll
    for (int i = 0; i < NTD; ++i)
      store_pair<D>(gdk + (size_t)kj * D, i * 8 + (lane & 3) * 2, dk[i][2 * hf] * a.scale, dk[i][2 * hf + 1] * a.scale);
#pragma unroll
    for (int i = 0; i < NTV; ++i) store_pair<DV>(gdv + (size_t)kj * DV, i * 8 + (lane & 3) * 2, dv[i][2 * hf], dv[i][2 * hf + 1]);
  }
}

// ---------------------------------------------------------------------------------------------
template <class C, typename T>
__device__ __forceinline__ void bwd_dkdv_tc(const FlexBwdArgs& a, const FlexScoreParams& sp,
                                            const FlexMaskParams& mp) {
  constexpr int NTQ = C::BMQ / 8, NTD = C::DP / 8, NTV = C::DVP / 8;
  constexpr int KSTEPS = C::DP / 16, VSTEPS = C::DVP / 16;
  using KT = typename C::KTile;
  using VT = typename C::VTile;
  using QT = typename C::QTile;
  using OT = typename C::OTile;
  using ST = typename C::STile;
  extern __shared__ __align__(1024) unsigned char flex_smem[];  // one declaration: the forward needs 1024
  T* sK = reinterpret_cast<T*>(flex_smem);
  T* sV = sK + KT::ELEMS;
  T* sQ = sV + VT::ELEMS;      // [2]
  T* sO = sQ + 2 * QT::ELEMS;  // dO, [2]
  T* sS = sO + 2 * OT::ELEMS;  // dSᵀ
  float* sLse = reinterpret_cast<float*>(sS + ST::ELEMS);  // [2][BMQ], log2 units, +inf for empty rows
  float* sDelta = sLse + 2 * C::BMQ;                         // [2][BMQ]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int kt = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
  const int G = a.Hq / a.Hkv;
  const int Lq = a.Lq, Lkv = a.Lkv;
  const int kv0 = kt * C::BN;
  const int n_q_tiles = (Lq + C::BMQ - 1) / C::BMQ;
  const float scale = a.scale;
  [[maybe_unused]] const float scale_log2 = a.scale * FLEX_LOG2E;
  const bool kv_bound = kv0 + C::BN > Lkv;
  const T* gK = static_cast<const T*>(a.k) + b * a.k_batch_stride + ((size_t)hk * Lkv + kv0) * C::D;
  const T* gV = static_cast<const T*>(a.v) + b * a.v_batch_stride + ((size_t)hk * Lkv + kv0) * C::DV;

  load_tile<C::BN, C::DP, C::NTHREADS, C::VEC>(sK, gK, C::D, Lkv - kv0, C::D, tid);
  load_tile<C::BN, C::DVP, C::NTHREADS, C::VEC>(sV, gV, C::DV, Lkv - kv0, C::DV, tid);
  cp_async_commit();

  float dk[NTD][4], dv[NTV][4];
#pragma unroll
  for (int i = 0; i < NTD; ++i) dk[i][0] = dk[i][1] = dk[i][2] = dk[i][3] = 0.f;
#pragma unroll
  for (int i = 0; i < NTV; ++i) dv[i][0] = dv[i][1] = dv[i][2] = dv[i][3] = 0.f;
  unsigned kf[C::KV_IN_REGS ? KSTEPS : 1][4], vf[C::KV_IN_REGS ? VSTEPS : 1][4];
  bool kv_frags_loaded = false;
  const int wrow = warp * 16;  // this warp's first kv row inside the tile

  for (int g = 0; g < G; ++g) {
    const int h = hk * G + g;
    const TileList tl = tile_list(a.bt, a.has_block_mask, b, h, kt, n_q_tiles);
    const int n_iter = tl.count();
    const size_t head_row0 = (size_t)(b * a.Hq + h) * Lq;
    const T* gQ = static_cast<const T*>(a.q) + head_row0 * C::D;
    const T* gO = static_cast<const T*>(a.dout) + head_row0 * C::DV;

    auto load_q = [&](int it, int stage) {
      const int q0 = tile_at(tl, it) * C::BMQ;
      load_tile<C::BMQ, C::DP, C::NTHREADS, C::VEC>(sQ + stage * QT::ELEMS, gQ + (size_t)q0 * C::D, C::D,
                                                    Lq - q0, C::D, tid);
      load_tile<C::BMQ, C::DVP, C::NTHREADS, C::VEC>(sO + stage * OT::ELEMS, gO + (size_t)q0 * C::DV, C::DV,
                                                     Lq - q0, C::DV, tid);
      for (int i = tid; i < C::BMQ; i += C::NTHREADS) bwd_row_stats(a, head_row0, q0 + i, sLse[stage * C::BMQ + i], sDelta[stage * C::BMQ + i]);
    };

    if (n_iter > 0) load_q(0, 0);
    cp_async_commit();
    // the mods' per-key parts for this thread's two kv rows, once per head (the row split's "columns")
    FlexColVals cvk[2];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) cvk[hf] = flex_col_vals(b, h, kv0 + wrow + (lane >> 2) + hf * 8, sp, mp);

    for (int it = 0; it < n_iter; ++it) {
      const int stage = it & 1;
      if (it + 1 < n_iter) load_q(it + 1, stage ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
      if constexpr (C::WG) fence_proxy_async_smem();  // cp.async data → wgmma's async proxy
      __syncthreads();
      if constexpr (C::KV_IN_REGS) {
        if (!kv_frags_loaded) {
#pragma unroll
          for (int kk = 0; kk < KSTEPS; ++kk)
            ldmatrix_x4(kf[kk], smem_u32(sK + KT::off(wrow + (lane & 15), kk * 2 + (lane >> 4))));
#pragma unroll
          for (int kk = 0; kk < VSTEPS; ++kk)
            ldmatrix_x4(vf[kk], smem_u32(sV + VT::off(wrow + (lane & 15), kk * 2 + (lane >> 4))));
          kv_frags_loaded = true;
        }
      }
      const T* cQ = sQ + stage * QT::ELEMS;
      const T* cO = sO + stage * OT::ELEMS;
      const float* cLse = sLse + stage * C::BMQ;
      const float* cDelta = sDelta + stage * C::BMQ;
      const int q0 = tile_at(tl, it) * C::BMQ;
      const bool full = !a.has_block_mask || tl.is_full(it);
      const bool check = !full || kv_bound || q0 + C::BMQ > Lq;

      // ---- Sᵀ = K Qᵀ ------------------------------------------------------------------------
      float st[NTQ][4];
      if constexpr (C::WG) {
        wgmma_fence();  // warpgroup warp / 4 owns kv rows 64·(warp / 4)..
        wgmma_rows<C::BMQ, KSTEPS, KT::PANEL, QT::PANEL>(&st[0][0], sK + (warp >> 2) * 64 * 64, cQ);
        wgmma_commit_and_wait();
      } else {
#pragma unroll
      for (int i = 0; i < NTQ; ++i) st[i][0] = st[i][1] = st[i][2] = st[i][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk) {
        unsigned ka[4];
        if constexpr (C::KV_IN_REGS) {
#pragma unroll
          for (int r = 0; r < 4; ++r) ka[r] = kf[kk][r];
        } else {
          ldmatrix_x4(ka, smem_u32(sK + KT::off(wrow + (lane & 15), kk * 2 + (lane >> 4))));
        }
#pragma unroll
        for (int n2 = 0; n2 < NTQ / 2; ++n2) {
          unsigned qb[4];
          ldmatrix_x4(qb, smem_u32(cQ + QT::off(n2 * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1))));
          mma_16816<T>(st[2 * n2], ka, qb[0], qb[1]);
          mma_16816<T>(st[2 * n2 + 1], ka, qb[2], qb[3]);
        }
      }
      }

      // ---- Pᵀ (in st), keeping score_mod'(score) in gr ------------------------------------------
#if !FLEX_SCORE_MOD_IS_IDENTITY && !FLEX_SCORE_MOD_GRAD_IS_ONE
      float gr[NTQ][4];
#endif
#if FLEX_HAS_CAPTURE_GRADS
      float sc[NTQ][4];
#endif
      // the per-query parts of the mods for this tile's query columns (full tiles of an identity
      // score mod need none)
      FlexRowVals rvq[NTQ][2];
      if (!FLEX_SCORE_MOD_IS_IDENTITY || !full) {
#pragma unroll
        for (int nt = 0; nt < NTQ; ++nt)
#pragma unroll
          for (int c1 = 0; c1 < 2; ++c1) rvq[nt][c1] = flex_row_vals(b, h, q0 + nt * 8 + (lane & 3) * 2 + c1, sp, mp);
      }
#pragma unroll
      for (int nt = 0; nt < NTQ; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int kj = kv0 + wrow + (lane >> 2) + ((c & 2) ? 8 : 0);
          const int ql = nt * 8 + (lane & 3) * 2 + (c & 1);
          const int qi = q0 + ql;
          bool vis = true;
          if (check) {
            vis = qi < Lq && kj < Lkv;
#if !FLEX_MASK_MOD_IS_TRUE
            if (!full && vis) vis = flex_mask_mod_rc(b, h, qi, kj, rvq[nt][c & 1], cvk[c >> 1], mp);
#endif
          }
#if FLEX_SCORE_MOD_IS_IDENTITY
          const float x = st[nt][c] * scale_log2;
#else
          const float score = st[nt][c] * scale;
          float x = -FLEX_INF;
          if (vis) x = flex_score_mod_rc(score, b, h, qi, kj, rvq[nt][c & 1], cvk[c >> 1], sp) * FLEX_LOG2E;
#if !FLEX_SCORE_MOD_GRAD_IS_ONE
          gr[nt][c] = vis ? flex_score_mod_grad_rc(score, b, h, qi, kj, rvq[nt][c & 1], cvk[c >> 1], sp) : 0.f;
#endif
#endif
#if FLEX_HAS_CAPTURE_GRADS
          sc[nt][c] = score;
#endif
#if FLEX_HAS_CAPTURE_GRADS
          // P = 0 at a −∞ post even in a NaN row, so the capture-gradient guard below sees it (§4)
          st[nt][c] = vis && x != -FLEX_INF ? fast_exp2(x - cLse[ql]) : 0.f;
#else
          st[nt][c] = vis ? fast_exp2(x - cLse[ql]) : 0.f;
#endif
        }

      // ---- dV += Pᵀ dO ---------------------------------------------------------------------------
      if constexpr (C::DKV_WG) {
        unsigned pa[NTQ / 2][4];
#pragma unroll
        for (int k2 = 0; k2 < NTQ / 2; ++k2) pack_p<T, NTQ>(pa[k2], st, k2);
        wgmma_fence();
#pragma unroll
        for (int k2 = 0; k2 < NTQ / 2; ++k2)
          wgmma_rs<C::DV, T>(&dv[0][0], pa[k2], wgmma_desc_sw128_mn(smem_u32(cO + k2 * 16 * 64), OT::PANEL * 2));
        wgmma_commit();  // in flight while dPᵀ is computed (the wait below covers both)
      } else {
#pragma unroll
      for (int k2 = 0; k2 < NTQ / 2; ++k2) {
        unsigned pa[4];
        pack_p<T, NTQ>(pa, st, k2);
#pragma unroll
        for (int d2 = 0; d2 < NTV / 2; ++d2) {
          unsigned ob[4];
          ldmatrix_x4_trans(ob, smem_u32(cO + OT::off(k2 * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), d2 * 2 + (lane >> 4))));
          mma_16816<T>(dv[2 * d2], pa, ob[0], ob[1]);
          mma_16816<T>(dv[2 * d2 + 1], pa, ob[2], ob[3]);
        }
      }
      }

      // ---- dPᵀ = V dOᵀ ---------------------------------------------------------------------------
      float dp[NTQ][4];
      if constexpr (C::WG) {
        wgmma_fence();
        wgmma_rows<C::BMQ, VSTEPS, VT::PANEL, OT::PANEL>(&dp[0][0], sV + (warp >> 2) * 64 * 64, cO);
        wgmma_commit_and_wait();
      } else {
#pragma unroll
      for (int i = 0; i < NTQ; ++i) dp[i][0] = dp[i][1] = dp[i][2] = dp[i][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < VSTEPS; ++kk) {
        unsigned va[4];
        if constexpr (C::KV_IN_REGS) {
#pragma unroll
          for (int r = 0; r < 4; ++r) va[r] = vf[kk][r];
        } else {
          ldmatrix_x4(va, smem_u32(sV + VT::off(wrow + (lane & 15), kk * 2 + (lane >> 4))));
        }
#pragma unroll
        for (int n2 = 0; n2 < NTQ / 2; ++n2) {
          unsigned ob[4];
          ldmatrix_x4(ob, smem_u32(cO + OT::off(n2 * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1))));
          mma_16816<T>(dp[2 * n2], va, ob[0], ob[1]);
          mma_16816<T>(dp[2 * n2 + 1], va, ob[2], ob[3]);
        }
      }
      }

      // ---- dSᵀ = Pᵀ ∘ (dPᵀ − delta) ∘ score_mod' (in dp) ----------------------------------------
#pragma unroll
      for (int nt = 0; nt < NTQ; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int ql = nt * 8 + (lane & 3) * 2 + (c & 1);
          const float dpost = st[nt][c] * (dp[nt][c] - cDelta[ql]);
#if FLEX_HAS_CAPTURE_GRADS
          // a masked or −∞-post key (P = 0) adds nothing, even where its dp is NaN (a non-finite v):
          // the atomics cannot be recomputed in the epilogue as dq, dk and dv are
          if (st[nt][c] != 0.f && dpost != 0.f) {
            const int kj = kv0 + wrow + (lane >> 2) + ((c & 2) ? 8 : 0);
            flex_score_mod_capture_grads(dpost, sc[nt][c], b, h, q0 + ql, kj, sp);
          }
#endif
#if FLEX_SCORE_MOD_IS_IDENTITY || FLEX_SCORE_MOD_GRAD_IS_ONE
          dp[nt][c] = dpost;  // score_mod' = 1 (alibi, relative position: score + f(b, h, q, kv))
#else
          dp[nt][c] = dpost * gr[nt][c];
#endif
        }

      // ---- dK += dSᵀ Q; dSᵀ -> shared ------------------------------------------------------------
      unsigned da[NTQ / 2][4];
#pragma unroll
      for (int k2 = 0; k2 < NTQ / 2; ++k2) {
        pack_p<T, NTQ>(da[k2], dp, k2);
        // A fragment regs: (row g, cols 2t..) of q-subtile 2*k2 / 2*k2+1, rows g and g+8
        const int r0 = wrow + (lane >> 2);
        const int cq = (lane & 3) * 2;
        *reinterpret_cast<unsigned*>(sS + ST::off(r0, 2 * k2) + cq) = da[k2][0];
        *reinterpret_cast<unsigned*>(sS + ST::off(r0 + 8, 2 * k2) + cq) = da[k2][1];
        *reinterpret_cast<unsigned*>(sS + ST::off(r0, 2 * k2 + 1) + cq) = da[k2][2];
        *reinterpret_cast<unsigned*>(sS + ST::off(r0 + 8, 2 * k2 + 1) + cq) = da[k2][3];
      }
      if constexpr (C::DKV_WG) {
        wgmma_fence();
#pragma unroll
        for (int k2 = 0; k2 < NTQ / 2; ++k2)
          wgmma_rs<C::D, T>(&dk[0][0], da[k2], wgmma_desc_sw128_mn(smem_u32(cQ + k2 * 16 * 64), QT::PANEL * 2));
        wgmma_commit();  // in flight during the dQ step; waited for at the end of the iteration
      } else {
#pragma unroll
      for (int k2 = 0; k2 < NTQ / 2; ++k2)
#pragma unroll
        for (int d2 = 0; d2 < NTD / 2; ++d2) {
          unsigned qb[4];
          ldmatrix_x4_trans(qb, smem_u32(cQ + QT::off(k2 * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), d2 * 2 + (lane >> 4))));
          mma_16816<T>(dk[2 * d2], da[k2], qb[0], qb[1]);
          mma_16816<T>(dk[2 * d2 + 1], da[k2], qb[2], qb[3]);
        }
      }
      __syncthreads();

      // ---- dQ += dS K  (fp32 atomics into dq_accum) --------------------------------------------
      if (warp < C::WQ * C::WD) {
        constexpr int NTDQ = C::DQ_COLS / 8;
        const int wq = warp % C::WQ, wd = warp / C::WQ;
        float dq[NTDQ][4];
#pragma unroll
        for (int i = 0; i < NTDQ; ++i) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.f;
        const int c0 = wd * (C::DQ_COLS / 8);  // first 8-column chunk of this warp
#pragma unroll
        for (int k2 = 0; k2 < C::BN / 16; ++k2) {
          unsigned sa[4];
          ldmatrix_x4_trans(sa, smem_u32(sS + ST::off(k2 * 16 + (lane & 7) + ((lane >> 4) << 3), wq * 2 + ((lane >> 3) & 1))));
#pragma unroll
          for (int d2 = 0; d2 < NTDQ / 2; ++d2) {
            unsigned kb[4];
            ldmatrix_x4_trans(kb, smem_u32(sK + KT::off(k2 * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), c0 + d2 * 2 + (lane >> 4))));
            mma_16816<T>(dq[2 * d2], sa, kb[0], kb[1]);
            mma_16816<T>(dq[2 * d2 + 1], sa, kb[2], kb[3]);
          }
        }
        float* gdq = a.dq_accum + head_row0 * C::D;
        if constexpr (C::D % 4 == 0) {
          // pair up with lane^1: even lanes take row g, cols 4(t/2)..+3; odd lanes row g+8
          const bool odd = lane & 1;
          const int qi = q0 + wq * 16 + (lane >> 2) + (odd ? 8 : 0);
#pragma unroll
          for (int i = 0; i < NTDQ; ++i) {
            const float send0 = odd ? dq[i][0] : dq[i][2], send1 = odd ? dq[i][1] : dq[i][3];
            const float r0 = __shfl_xor_sync(0xffffffffu, send0, 1), r1 = __shfl_xor_sync(0xffffffffu, send1, 1);
            const int col = (c0 + i) * 8 + ((lane & 3) >> 1) * 4;
            if (qi < Lq && col < C::D) {
              float* dst = gdq + (size_t)qi * C::D + col;
              if (odd) atomic_add4(dst, r0, r1, dq[i][2], dq[i][3]);
              else atomic_add4(dst, dq[i][0], dq[i][1], r0, r1);
            }
          }
        } else {
          for (int hf = 0; hf < 2; ++hf) {
          const int qi = q0 + wq * 16 + (lane >> 2) + hf * 8;
          if (qi >= Lq) continue;
          float* row = gdq + (size_t)qi * C::D;
#pragma unroll
          for (int i = 0; i < NTDQ; ++i) {
            const int col = (c0 + i) * 8 + (lane & 3) * 2;
            const float x0 = dq[i][2 * hf], x1 = dq[i][2 * hf + 1];
            if constexpr (C::D % 2 == 0) {
              if (col < C::D) atomic_add2(row + col, x0, x1);
            } else {
              if (col < C::D) atomicAdd(row + col, x0);
              if (col + 1 < C::D) atomicAdd(row + col + 1, x1);
            }
          }
          }
        }
      }
      // dK's wgmma reads this Q stage, which the next iteration's load overwrites; accumulators in
      // flight across the loop's back edge would also make ptxas serialise every wgmma
      if constexpr (C::DKV_WG) wgmma_wait<0>();
    }
    cp_async_wait<0>();
    __syncthreads();
  }
  if constexpr (C::DKV_WG) {
    wgmma_fence_regs<NTD * 4>(&dk[0][0]);
    wgmma_fence_regs<NTV * 4>(&dv[0][0]);
  }

  // ---- write dK (· scale) and dV ----------------------------------------------------------------
  bwd_store_dkdv<C::D, C::DV, NTD, NTV, T>(a, b, hk, kv0 + wrow + (lane >> 2), lane, dk, dv);
  bwd_fix_dkdv<C::D, C::DV, NTD, NTV, C::BN, C::BMQ, T>(a, sp, mp, b, hk, kv0 + wrow + (lane >> 2), lane, dk, dv);
}

// ---------------------------------------------------------------------------------------------
// f32 SIMT backward (tests): tiles 32 x 32 (kv x q), 8 warps; a warp takes one kv row at a time,
// lane i the query row q0 + i of each visited q tile. dK/dV live in lane-strided registers.
// ---------------------------------------------------------------------------------------------
template <int D, int DV>
__device__ __forceinline__ void bwd_dkdv_f32(const FlexBwdArgs& a, const FlexScoreParams& sp,
                                             const FlexMaskParams& mp) {
  constexpr int NK = (D + 31) / 32, NV = (DV + 31) / 32;
  __shared__ float sk[F32_WARPS][D], sv[F32_WARPS][DV];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int kt = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
  const int G = a.Hq / a.Hkv, Lq = a.Lq, Lkv = a.Lkv;
  const int n_q_tiles = (Lq + F32_BM - 1) / F32_BM;
  for (int r = warp; r < F32_BN; r += F32_WARPS) {
    const int kj = kt * F32_BN + r;
    if (kj >= Lkv) break;
    const float* kr = static_cast<const float*>(a.k) + b * a.k_batch_stride + ((size_t)hk * Lkv + kj) * D;
    const float* vr = static_cast<const float*>(a.v) + b * a.v_batch_stride + ((size_t)hk * Lkv + kj) * DV;
    for (int d = lane; d < D; d += 32) sk[warp][d] = kr[d];
    for (int d = lane; d < DV; d += 32) sv[warp][d] = vr[d];
    __syncwarp();
    float dk[NK], dv[NV];
#pragma unroll
    for (int i = 0; i < NK; ++i) dk[i] = 0.f;
#pragma unroll
    for (int i = 0; i < NV; ++i) dv[i] = 0.f;
    for (int g = 0; g < G; ++g) {
      const int h = hk * G + g;
      const size_t head_row0 = (size_t)(b * a.Hq + h) * Lq;
      const TileList tl = tile_list(a.bt, a.has_block_mask, b, h, kt, n_q_tiles);
      for (int it = 0; it < tl.count(); ++it) {
        const int q0 = tile_at(tl, it) * F32_BM;
        const bool full = !a.has_block_mask || tl.is_full(it);
        const int qi = q0 + lane;
        bool vis = qi < Lq;
#if !FLEX_MASK_MOD_IS_TRUE
        if (vis && !full) vis = flex_mask_mod(b, h, qi, kj, mp);
#endif
        float ds = 0.f, p = 0.f;
        const float* qr = static_cast<const float*>(a.q) + (head_row0 + qi) * D;
        const float* dor = static_cast<const float*>(a.dout) + (head_row0 + qi) * DV;
        if (vis) {
          float s = 0.f;
          for (int d = 0; d < D; ++d) s = fmaf(qr[d], sk[warp][d], s);
          const float score = s * a.scale;
          const float lse = a.lse[head_row0 + qi];
          const float post = flex_score_mod(score, b, h, qi, kj, sp);
          // no visible key (lse −∞), or a −∞ post (also in a NaN row, where exp(−∞ − NaN) is NaN): 0
          p = lse == -FLEX_INF || post == -FLEX_INF ? 0.f : expf(post - lse);
          float dpv = 0.f;
          for (int d = 0; d < DV; ++d) dpv = fmaf(dor[d], sv[warp][d], dpv);
          const float dpost = p * (dpv - a.delta[head_row0 + qi]);
#if FLEX_HAS_CAPTURE_GRADS
          // a −∞-post key (p = 0) adds nothing, even where its dp is NaN (a non-finite v)
          if (p != 0.f && dpost != 0.f) flex_score_mod_capture_grads(dpost, score, b, h, qi, kj, sp);
#endif
          ds = dpost * flex_score_mod_grad(score, b, h, qi, kj, sp);
          float* dq = a.dq_accum + (head_row0 + qi) * D;
          if (ds != 0.f)
            for (int d = 0; d < D; ++d) atomicAdd(dq + d, ds * sk[warp][d]);
        }
        for (int j = 0; j < 32; ++j) {
          const float pj = __shfl_sync(0xffffffffu, p, j), dsj = __shfl_sync(0xffffffffu, ds, j);
          if (pj == 0.f && dsj == 0.f) continue;
          const float* qj = static_cast<const float*>(a.q) + (head_row0 + q0 + j) * D;
          const float* doj = static_cast<const float*>(a.dout) + (head_row0 + q0 + j) * DV;
#pragma unroll
          for (int i = 0; i < NK; ++i)
            if (lane + 32 * i < D) dk[i] = fmaf(dsj, qj[lane + 32 * i], dk[i]);
#pragma unroll
          for (int i = 0; i < NV; ++i)
            if (lane + 32 * i < DV) dv[i] = fmaf(pj, doj[lane + 32 * i], dv[i]);
        }
      }
    }
    float* gdk = static_cast<float*>(a.dk) + ((size_t)(b * a.Hkv + hk) * Lkv + kj) * D;
    float* gdv = static_cast<float*>(a.dv) + ((size_t)(b * a.Hkv + hk) * Lkv + kj) * DV;
#pragma unroll
    for (int i = 0; i < NK; ++i)
      if (lane + 32 * i < D) gdk[lane + 32 * i] = dk[i] * a.scale;
#pragma unroll
    for (int i = 0; i < NV; ++i)
      if (lane + 32 * i < DV) gdv[lane + 32 * i] = dv[i];
    __syncwarp();
  }
}

}  // namespace flex

// ---------------------------------------------------------------------------------------------
// entry points
//   flex_bwd_preprocess   grid ceil(B·Hq·Lq / 8), block 256
//   flex_bwd_dkdv         grid (ceil(Lkv / BN), Hkv, B), block FLEX_BWD_WARPS·32 (f32: 256),
//                         dynamic shared memory BwdCfg::SMEM_BYTES (f32: 0)
//   flex_bwd_dq_convert   grid any (grid-stride), block 256, the params structs as flex_bwd_dkdv's
//                         (special.cuh: the careful dQ of a non-finite element, in the body's tile
//                         units; 37 registers on sm_90a where the plain conversion took 13: 6 CTAs an
//                         SM instead of 8, for a streaming kernel; capping it at 32 spills)
// ---------------------------------------------------------------------------------------------
#if defined(FLEX_HEAD_DIM) && !defined(FLEX_NO_ENTRY_POINTS)
extern "C" __global__ void __launch_bounds__(256) flex_bwd_preprocess(const FlexBwdArgs args) {
  flex::bwd_preprocess<flex_elem_t, FLEX_HEAD_DIM_V>(args, FLEX_HEAD_DIM);
}
#if defined(FLEX_DTYPE_F32)
extern "C" __global__ void __launch_bounds__(flex::F32_WARPS * 32)
    flex_bwd_dkdv(const FlexBwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::bwd_dkdv_f32<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V>(args, sp, mp);
}
// the f32 body skips zero dS and zero P itself: no careful path (BN 0)
extern "C" __global__ void __launch_bounds__(256)
    flex_bwd_dq_convert(const FlexBwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::bwd_dq_convert_careful<flex_elem_t, 0, 0>(args, FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, sp, mp);
}
#elif !defined(FLEX_BWD_FA3) || !FLEX_BWD_FA3  // else kernels/flex_bwd_fa3.cuh defines flex_bwd_dkdv
#ifndef FLEX_BWD_BMQ
#if FLEX_HEAD_DIM <= 64 && FLEX_HEAD_DIM_V <= 64
#define FLEX_BWD_BMQ 64
#define FLEX_BWD_WARPS 8
#elif FLEX_HEAD_DIM <= 128 && FLEX_HEAD_DIM_V <= 128
#define FLEX_BWD_BMQ 64
#define FLEX_BWD_WARPS 8
#else
#define FLEX_BWD_BMQ 32
#define FLEX_BWD_WARPS 4
#endif
#endif
#ifndef FLEX_BWD_WGMMA
#define FLEX_BWD_WGMMA 0
#endif
typedef flex::BwdCfg<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, FLEX_BWD_BMQ, FLEX_BWD_WARPS, FLEX_BWD_WGMMA != 0> FlexBwdConfig;
extern "C" __global__ void __launch_bounds__(FLEX_BWD_WARPS * 32)
    flex_bwd_dkdv(const FlexBwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::bwd_dkdv_tc<FlexBwdConfig, flex_elem_t>(args, sp, mp);
}
extern "C" __global__ void __launch_bounds__(256)
    flex_bwd_dq_convert(const FlexBwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::bwd_dq_convert_careful<flex_elem_t, FlexBwdConfig::BN, FlexBwdConfig::BMQ>(args, FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, sp, mp);
}
#endif
#endif

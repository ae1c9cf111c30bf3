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
// WG: the Hopper body (fwd_wg: S = Q Kᵀ and O += P·V on wgmma, wgmma.cuh) where the compiler
// targets sm_90a and the tile fits (warpgroups of 4 warps, 64-row blocks, 64-column panels, BN of
// 64 or 128, DV of 64 or 128); then warp w of warpgroup g owns rows 64·(g·MT + mt) + 16·(w mod 4).
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
  // the tile fits the Hopper bodies; FLEX_WGMMA (the compiler targets sm_90a) decides whether they run
  static constexpr bool WG_TILE = WG_ && VEC && D % 64 == 0 && (DV == 64 || DV == 128) && NWARPS % 4 == 0 &&
                                  (BN == 64 || BN == 128);
  static constexpr bool WG = WG_TILE && FLEX_WGMMA;
  // threads per CTA (the launch; the f32 body's are F32_WARPS · 32)
  static constexpr int LAUNCH_THREADS = NTHREADS;
  // Q fragments stay in registers when they are few and the S tile is small (else reloaded per tile)
  static constexpr bool Q_IN_REGS = !WG && MT * (DP / 16) * 4 <= 32 && MT * BN <= 128;
  // first row (inside the q tile) of row block mt of warp w
  static __device__ __forceinline__ int row0(int warp, int mt) {
    return WG ? ((warp >> 2) * MT + mt) * 64 + (warp & 3) * 16 : warp * WM + mt * 16;
  }
  // q tile t covers rows [t·BM − q_offset, …) (Fa3Cfg shifts its short tile first); these bodies
  // do not shift, so the shared helpers' row → tile mapping is the plain t = q0 / BM
  static __host__ __device__ constexpr int q_offset(int) { return 0; }
  using QTile = SmemTile<BM, DP>;
  using KTile = SmemTile<BN, DP>;
  using VTile = SmemTile<BN, DVP>;
  static constexpr int SMEM_BYTES = QTile::BYTES + STAGES * (KTile::BYTES + VTile::BYTES);
  static_assert(WM % 16 == 0 && MT >= 1, "each warp needs a multiple of 16 query rows");
  static_assert(BN % 16 == 0, "BN must be a multiple of 16");
  static_assert(STAGES >= 2, "at least double buffering");
};

// Whether a tile case needs the column values of its keys (a score mod, or a mask on a partial tile).
template <bool PARTIAL>
struct FwdNeedCols {
  static constexpr bool value = !FLEX_SCORE_MOD_IS_IDENTITY || (PARTIAL && !FLEX_MASK_MOD_IS_TRUE);
};
// The mods' per-column parts of this thread's keys of one tile (flex_col_vals), once per tile.
template <class C, bool PARTIAL>
__device__ __forceinline__ void fwd_cols(FlexColVals (&cv)[FwdNeedCols<PARTIAL>::value ? C::BN / 8 : 1][2], int b,
                                         int h, int kv0, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  if constexpr (FwdNeedCols<PARTIAL>::value) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int nt = 0; nt < C::BN / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 2; ++c) cv[nt][c] = flex_col_vals(b, h, kv0 + nt * 8 + (lane & 3) * 2 + c, sp, mp);
  }
}

// Turn raw scores S (row blocks [MT0, MT1) of this warp's slab) into post-mod values in log2
// units, in place. CHECK: evaluate the bounds (a boundary tile); PARTIAL: evaluate the mask (a
// partial tile; with CHECK or without it, for one inside the bounds); neither: the fast path.
// rv: this thread's row values (flex_row_vals, once per CTA); cv: fwd_cols of the tile.
// SCORE false: the mask and the bounds only (the score mod was applied already: Fa3Cfg::BACC).
template <class C, bool CHECK, bool PARTIAL, int MT0 = 0, int MT1 = C::MT, bool SCORE = true>
__device__ __forceinline__ void fwd_post(float (&s)[C::MT][C::BN / 8][4], int b, int h, int q0, int warp, int kv0,
                                         int Lq, int Lkv, float scale, const FlexScoreParams& sp,
                                         const FlexMaskParams& mp, const FlexRowVals (&rv)[C::MT][2],
                                         const FlexColVals (&cv)[FwdNeedCols<PARTIAL>::value ? C::BN / 8 : 1][2]) {
  const int lane = threadIdx.x & 31;
  constexpr bool NEED_COLS = FwdNeedCols<PARTIAL>::value;
#pragma unroll
  for (int mt = MT0; mt < MT1; ++mt)
#pragma unroll
    for (int nt = 0; nt < C::BN / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int qi = q0 + C::row0(warp, mt) + (lane >> 2) + ((c & 2) ? 8 : 0);
        const int kj = kv0 + nt * 8 + (lane & 3) * 2 + (c & 1);
        float x = s[mt][nt][c];
        bool vis = true;
        // unsigned: a shifted first q tile (Fa3Cfg::q_offset) has rows below 0, out of range like those past Lq
        if (CHECK) vis = (unsigned)qi < (unsigned)Lq && kj < Lkv;
#if !FLEX_MASK_MOD_IS_TRUE
        if constexpr (PARTIAL) {
          if (vis) vis = flex_mask_mod_rc(b, h, qi, kj, rv[mt][c >> 1], cv[NEED_COLS ? nt : 0][c & 1], mp);
        }
#endif
#if FLEX_SCORE_MOD_IS_IDENTITY
        // raw score; the softmax folds scale·log2(e) into the exponent (one FFMA per element)
#else
        if (SCORE && vis) x = flex_score_mod_rc(x * scale, b, h, qi, kj, rv[mt][c >> 1], cv[NEED_COLS ? nt : 0][c & 1], sp) * FLEX_LOG2E;
#endif
        s[mt][nt][c] = vis ? x : -FLEX_INF;
      }
}

// The max of half-row hf (0: this thread's first row, 1: its row + 8) of an accumulator slab in
// mma's C layout, over the quad that shares the row; NaN if any score of the row is NaN.
template <int NTN>
__device__ __forceinline__ float row_max(const float (&s)[NTN][4], int hf) {
  float mx = -FLEX_INF;
#pragma unroll
  for (int nt = 0; nt < NTN; ++nt) mx = fmax_nan(mx, fmax_nan(s[nt][2 * hf], s[nt][2 * hf + 1]));
  return quad_max(mx);
}

// Online softmax of row block mt, without touching O: new running max m and sum l, S turned into
// P in place (exp2), alpha = the factor the accumulator rows must be rescaled by (fwd_rescale_o).
// Values are in "u" units: log2-domain = u · ku (ku = scale·log2(e) for the identity score mod, 1
// otherwise).
template <class C>
__device__ __forceinline__ void fwd_softmax_p(float (&s)[C::BN / 8][4], float (&m)[2], float (&l)[2], float ku,
                                              float (&alpha)[2]) {
  constexpr int NTN = C::BN / 8;
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const float mx = row_max<NTN>(s, hf);
    const float m_new = fmax_nan(m[hf], mx);  // a NaN stays in m: fwd_store makes the row NaN
    const float m_use = m_new == -FLEX_INF ? 0.f : m_new * ku;
    alpha[hf] = fast_exp2(fmaf(m[hf], ku, -m_use));
    m[hf] = m_new;
    float sum = 0.f;
#pragma unroll
    for (int nt = 0; nt < NTN; ++nt) {
      const float p0 = fast_exp2(fmaf(s[nt][2 * hf], ku, -m_use));
      const float p1 = fast_exp2(fmaf(s[nt][2 * hf + 1], ku, -m_use));
      s[nt][2 * hf] = p0;
      s[nt][2 * hf + 1] = p1;
      sum += p0 + p1;
    }
    l[hf] = l[hf] * alpha[hf] + sum;
  }
}
template <class C>
__device__ __forceinline__ void fwd_rescale_o(float (&o)[C::DVP / 8][4], const float (&alpha)[2]) {
#pragma unroll
  for (int i = 0; i < C::DVP / 8; ++i) {
    o[i][0] *= alpha[0];
    o[i][1] *= alpha[0];
    o[i][2] *= alpha[1];
    o[i][3] *= alpha[1];
  }
}
// Both steps at once (the bodies whose P·V of the previous tile is already complete).
template <class C>
__device__ __forceinline__ void fwd_softmax_rows(float (&s)[C::BN / 8][4], float (&o)[C::DVP / 8][4], float (&m)[2],
                                                 float (&l)[2], float ku) {
  float alpha[2];
  fwd_softmax_p<C>(s, m, l, ku, alpha);
  fwd_rescale_o<C>(o, alpha);
}

// Epilogue: O / l, lse and the row max for this thread's rows. m: the softmax's reference max
// (u units, see fwd_softmax_p), NaN or +inf in every body once a post-mod score of the row was (it
// decides the NaN rows); mx: the true row max of the post-mod scores (u units) — the same as m for
// the bodies that always move m to the max, larger where m is kept lazily; read only where
// FLEX_MAX_SCORES.
// The rows of this warp flagged in fwd_store (bit 2·mt + hf of a lane of the quad that shares the
// row), recomputed carefully one at a time by the whole warp: one vote on finite inputs. q0: the
// tile's first row, t·BM − C::q_offset(Lq) (below 0 for a shifted first tile).
template <class C, typename T>
__device__ __forceinline__ void fwd_fix_rows(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp,
                                             int b, int h, int q0, int warp, unsigned redo,
                                             const float (&lse)[C::MT][2]) {
  if (__ballot_sync(0xffffffffu, redo != 0) == 0) return;
  const int lane = threadIdx.x & 31;
  __syncwarp();  // the fast path's stores of this warp come first
  redo |= __shfl_xor_sync(0xffffffffu, redo, 1);
  redo |= __shfl_xor_sync(0xffffffffu, redo, 2);
#pragma unroll
  for (int mt = 0; mt < C::MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const int qi = q0 + C::row0(warp, mt) + (lane >> 2) + hf * 8;
      unsigned rows = __ballot_sync(0xffffffffu, (lane & 3) == 0 && (unsigned)qi < (unsigned)a.Lq && ((redo >> (2 * mt + hf)) & 1));
      while (rows != 0) {
        const int src = __ffs(rows) - 1;
        rows &= rows - 1;
        // the row's tile of the block tables, which are built with the same offset (src/launch-plan.ts)
        fwd_careful_row<T, C::D, C::DV, C::BN>(a, sp, mp, b, h, (q0 + C::q_offset(a.Lq)) / C::BM, __shfl_sync(0xffffffffu, qi, src),
                                               __shfl_sync(0xffffffffu, lse[mt][hf], src));
      }
    }
}

template <class C, typename T>
__device__ __forceinline__ void fwd_store(const FlexFwdArgs& a, const float (&o)[C::MT][C::DVP / 8][4],
                                          const float (&m)[C::MT][2], const float (&l)[C::MT][2], float ku, int b,
                                          int h, int q0, int warp, const float (&mx)[C::MT][2],
                                          const FlexScoreParams& sp, const FlexMaskParams& mp) {
  const int lane = threadIdx.x & 31;
  T* gO = static_cast<T*>(a.out) + ((size_t)(b * a.Hq + h) * a.Lq) * C::DV;
  // rows whose out came out non-finite although their lse is not NaN (special.cuh): bit 2·mt + hf
  unsigned redo = 0;
  float redo_lse[C::MT][2];
#pragma unroll
  for (int mt = 0; mt < C::MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const float lsum = quad_sum(l[mt][hf]);
      // a NaN or +inf post-mod score makes the row NaN (out, lse, max_scores); else a row with no
      // visible key (lsum = 0) has out 0, lse = max = -inf
      const bool poisoned = row_poisoned(m[mt][hf]);
      const float inv = poisoned ? FLEX_NAN : lsum > 0.f ? 1.f / lsum : 0.f;
      const int qi = q0 + C::row0(warp, mt) + (lane >> 2) + hf * 8;
      if ((unsigned)qi >= (unsigned)a.Lq) continue;  // past Lq, or below 0 in a shifted first tile
      const float lse = poisoned ? FLEX_NAN : lsum > 0.f ? (m[mt][hf] * ku + __log2f(lsum)) * FLEX_LN2 : -FLEX_INF;
      if (a.lse != nullptr && (lane & 3) == 0) a.lse[(size_t)(b * a.Hq + h) * a.Lq + qi] = lse;
      redo_lse[mt][hf] = lse;
      // a row with no visible key has mx = -inf (-inf · ku stays -inf for the positive scale)
      if (FLEX_MAX_SCORES && a.max_scores != nullptr && (lane & 3) == 0)
        a.max_scores[(size_t)(b * a.Hq + h) * a.Lq + qi] =
            poisoned ? FLEX_NAN : lsum > 0.f ? mx[mt][hf] * ku * FLEX_LN2 : -FLEX_INF;
      T* row = gO + (size_t)qi * C::DV;
#pragma unroll
      for (int i = 0; i < C::DVP / 8; ++i) {
        const int col = i * 8 + (lane & 3) * 2;
        store_pair<C::DV>(row, col, o[mt][i][2 * hf] * inv, o[mt][i][2 * hf + 1] * inv);
        if (!poisoned && !(finite_f(o[mt][i][2 * hf]) && finite_f(o[mt][i][2 * hf + 1]))) redo |= 1u << (2 * mt + hf);
      }
    }
  fwd_fix_rows<C, T>(a, sp, mp, b, h, q0, warp, redo, redo_lse);
}

// Per-CTA state both 16-bit forward bodies share: shared-memory tiles, indices, the tile list,
// the K/V stage loader, and the accumulators' initial values.
template <class C, typename T>
struct FwdCta {
  using QT = typename C::QTile;
  using KT = typename C::KTile;
  using VT = typename C::VTile;
  T *sQ, *sK, *sV;
  int tid, lane, warp, h, b, q0, Lq, Lkv, n_iter;
  const T *gK, *gV;
  TileList tl;
  float scale, ku;
  bool q_bound;

  __device__ __forceinline__ FwdCta(const FlexFwdArgs& a, unsigned char* smem) {
    sQ = reinterpret_cast<T*>(smem);
    sK = sQ + QT::ELEMS;
    sV = sK + C::STAGES * KT::ELEMS;
    tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int qt = gridDim.x - 1 - blockIdx.x;  // last q tiles first
    h = blockIdx.y, b = blockIdx.z;
    const int hk = h / (a.Hq / a.Hkv);
    q0 = qt * C::BM;
    Lq = a.Lq, Lkv = a.Lkv;
    gK = static_cast<const T*>(a.k) + b * a.k_batch_stride + (size_t)hk * Lkv * C::D;
    gV = static_cast<const T*>(a.v) + b * a.v_batch_stride + (size_t)hk * Lkv * C::DV;
    tl = tile_list(a.bt, a.has_block_mask, b, h, qt, (Lkv + C::BN - 1) / C::BN);
    n_iter = tl.count();
    scale = a.scale;
#if FLEX_SCORE_MOD_IS_IDENTITY
    ku = a.scale * FLEX_LOG2E;  // scale·log2(e) folded into the exponent
#else
    ku = 1.f;
#endif
    q_bound = q0 + C::BM > Lq;
  }
  __device__ __forceinline__ int kv0_at(int it) const { return tile_at(tl, it) * C::BN; }
  __device__ __forceinline__ bool full_at(const FlexFwdArgs& a, int it) const { return !a.has_block_mask || tl.is_full(it); }
  __device__ __forceinline__ bool bound_at(int kv0) const { return q_bound || kv0 + C::BN > Lkv; }
  // K and V of tile `it` into `stage`, by NT threads of which this is thread t
  template <int NT = C::NTHREADS>
  __device__ __forceinline__ void load_kv(int it, int stage, int t) const {
    const int kv0 = kv0_at(it);
    load_tile<C::BN, C::DP, NT, C::VEC>(sK + stage * KT::ELEMS, gK + (size_t)kv0 * C::D, C::D, Lkv - kv0, C::D, t);
    load_tile<C::BN, C::DVP, NT, C::VEC>(sV + stage * VT::ELEMS, gV + (size_t)kv0 * C::DV, C::DV, Lkv - kv0, C::DV, t);
  }
  __device__ __forceinline__ void load_kv(int it, int stage) const { load_kv(it, stage, tid); }
  // Q by the NTHREADS consumer threads (one cp.async group, not committed)
  __device__ __forceinline__ void load_q(const FlexFwdArgs& a) const {
    const T* gQ = static_cast<const T*>(a.q) + ((size_t)(b * a.Hq + h) * Lq + q0) * C::D;
    load_tile<C::BM, C::DP, C::NTHREADS, C::VEC>(sQ, gQ, C::D, Lq - q0, C::D, tid);
  }
  // Q, then the first STAGES - 1 K/V tiles, one cp.async group per stage (Q rides in the first)
  __device__ __forceinline__ void prologue(const FlexFwdArgs& a) const {
    load_q(a);
#pragma unroll
    for (int s = 0; s < C::STAGES - 1; ++s) {
      if (s < n_iter) load_kv(s, s);
      cp_async_commit();
    }
  }
  __device__ __forceinline__ void init(float (&o)[C::MT][C::DVP / 8][4], float (&m)[C::MT][2], float (&l)[C::MT][2],
                                       FlexRowVals (&rv)[C::MT][2], const FlexScoreParams& sp,
                                       const FlexMaskParams& mp) const {
#pragma unroll
    for (int mt = 0; mt < C::MT; ++mt) {
#pragma unroll
      for (int i = 0; i < C::DVP / 8; ++i) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.f;
      m[mt][0] = m[mt][1] = -FLEX_INF;
      l[mt][0] = l[mt][1] = 0.f;
      // the mods' per-row parts, once per CTA (rows past Lq compute on clamped loads, never used)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf)
        rv[mt][hf] = flex_row_vals(b, h, q0 + C::row0(warp, mt) + (lane >> 2) + hf * 8, sp, mp);
    }
  }
};

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
  const FwdCta<C, T> cta(a, flex_smem);
  const T *sQ = cta.sQ, *sK = cta.sK, *sV = cta.sV;
  const int lane = cta.lane, warp = cta.warp, b = cta.b, h = cta.h, q0 = cta.q0, Lq = cta.Lq, Lkv = cta.Lkv;
  const int n_iter = cta.n_iter;
  const float scale = cta.scale, ku = cta.ku;
  cta.prologue(a);
  float o[MT][NTV][4];
  float m[MT][2], l[MT][2];
  FlexRowVals rv[MT][2];
  cta.init(o, m, l, rv, sp, mp);
  unsigned qf[C::Q_IN_REGS ? MT : 1][C::Q_IN_REGS ? KSTEPS : 1][4];
  const int wrow = warp * C::WM;  // first row of this warp inside the tile

  for (int it = 0; it < n_iter; ++it) {
    const int stage = it % C::STAGES;
    {
      const int nxt = it + C::STAGES - 1;
      if (nxt < n_iter) cta.load_kv(nxt, nxt % C::STAGES);
      cp_async_commit();
    }
    cp_async_wait<C::STAGES - 1>();
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
    const int kv0 = cta.kv0_at(it);
    const bool full = cta.full_at(a, it);
    const bool bound = cta.bound_at(kv0);

    float s[MT][NTN][4];
    auto qk = [&]() {
      // ---- S = Q K^T -----------------------------------------------------------------------
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
    };
    // ---- post = mask ? score_mod(score) : -inf ---------------------------------------------------
    auto post = [&](auto check_tag, auto partial_tag) {
      constexpr bool PARTIAL = decltype(partial_tag)::value;
      FlexColVals cv[FwdNeedCols<PARTIAL>::value ? C::BN / 8 : 1][2];
      fwd_cols<C, PARTIAL>(cv, b, h, kv0, sp, mp);
      fwd_post<C, decltype(check_tag)::value, PARTIAL>(s, b, h, q0, warp, kv0, Lq, Lkv, scale, sp, mp, rv, cv);
    };
    auto softmax_pv = [&]() {
      // ---- online softmax and O += P V, MT_OUTER: one row block at a time -----------------------
      constexpr int MSTEP = C::MT_OUTER ? 1 : MT;
#pragma unroll
      for (int mb = 0; mb < MT; mb += MSTEP) {
#pragma unroll
        for (int mt = mb; mt < mb + MSTEP; ++mt) fwd_softmax_rows<C>(s[mt], o[mt], m[mt], l[mt], ku);
#pragma unroll
        for (int k2 = 0; k2 < C::BN / 16; ++k2) {
          unsigned pa[MT][4];
#pragma unroll
          for (int mt = mb; mt < mb + MSTEP; ++mt) pack_p<T, NTN>(pa[mt], s[mt], k2);
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

  fwd_store<C, T>(a, o, m, l, ku, b, h, q0, warp, m, sp, mp);
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
  const float* gK = static_cast<const float*>(a.k) + b * a.k_batch_stride + (size_t)hk * Lkv * D;
  const float* gV = static_cast<const float*>(a.v) + b * a.v_batch_stride + (size_t)hk * Lkv * DV;
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
      for (int off = 16; off > 0; off >>= 1) tmax = fmax_nan(tmax, __shfl_xor_sync(0xffffffffu, tmax, off));
      const float m_new = fmax_nan(mx, tmax);  // a NaN stays in mx: the row is made NaN below
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
    // a NaN or +inf post makes the row NaN; no visible key: out 0, lse = max = -inf
    const bool poisoned = row_poisoned(mx);
    const float inv = poisoned ? FLEX_NAN : l > 0.f ? 1.f / l : 0.f;
    float* go = static_cast<float*>(a.out) + ((size_t)(b * a.Hq + h) * Lq + qi) * DV;
#pragma unroll
    for (int i = 0; i < NO; ++i)
      if (lane + 32 * i < DV) go[lane + 32 * i] = o[i] * inv;
    if (a.lse != nullptr && lane == 0)
      a.lse[(size_t)(b * a.Hq + h) * Lq + qi] = poisoned ? FLEX_NAN : l > 0.f ? mx + logf(l) : -FLEX_INF;
    if (FLEX_MAX_SCORES && a.max_scores != nullptr && lane == 0)
      a.max_scores[(size_t)(b * a.Hq + h) * Lq + qi] = poisoned ? FLEX_NAN : l > 0.f ? mx : -FLEX_INF;
    __syncwarp();
  }
}

}  // namespace flex

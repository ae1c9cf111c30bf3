// flexattn forward, Hopper body (sm_90a): both products on warpgroup MMA, software-pipelined so
// the tensor cores work while the ALUs run the mods and the online softmax.
//
// Each warpgroup owns MT row blocks of 64 query rows. Per K/V tile it issues S(mt) = Q(mt) Kᵀ for
// every row block at once (one commit group each); row block mt's mods and softmax then run while
// S(mt+1) — or, for the last block, O(mt-1) += P·V — is still on the tensor cores; O(mt) += P(mt)·V
// is issued with P straight from registers (wgmma's A operand) and V read from the same swizzled
// panels as an MN-major B operand. wgmma groups complete in order, so "S(mt) is done" is a wait
// until at most (MT-1) [mt = 0: the later S] or mt [mt > 0: P·V of blocks 0..mt-1] groups are
// still in flight.
// Requires flex_fwd.cuh (FwdCfg, FwdCta, fwd_cols/fwd_post/fwd_softmax_rows/pack_p/fwd_store).

namespace flex {

template <int I> struct IntTag { static constexpr int value = I; };
// f(IntTag<I>{}) for I in [I0, N): a loop whose index is a constant expression in the body
template <int I0, int N, class F>
__device__ __forceinline__ void static_for(F&& f) {
  if constexpr (I0 < N) {
    f(IntTag<I0>{});
    static_for<I0 + 1, N>(f);
  }
}

template <class C, typename T>
__device__ __forceinline__ void fwd_wg(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  constexpr int MT = C::MT, NTN = C::BN / 8, NTV = C::DVP / 8, KSTEPS = C::DP / 16;
  using QT = typename C::QTile;
  using KT = typename C::KTile;
  using VT = typename C::VTile;
  extern __shared__ __align__(1024) unsigned char flex_smem[];  // 1024: the 128-byte swizzle period
  const FwdCta<C, T> cta(a, flex_smem);
  const int wg = cta.warp >> 2;
  const int n_iter = cta.n_iter;
  cta.prologue(a);
  float o[MT][NTV][4];
  float m[MT][2], l[MT][2];
  FlexRowVals rv[MT][2];
  cta.init(o, m, l, rv, sp, mp);
  float s[MT][NTN][4];

  // S(mt) = Q(mt) Kᵀ for every row block of this warpgroup, one commit group each
  auto issue_s = [&](int it) {
    const T* cK = cta.sK + (it % C::STAGES) * KT::ELEMS;
    wgmma_fence();  // s was last written by the softmax
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      wgmma_rows<C::BN, KSTEPS, QT::PANEL, KT::PANEL>(&s[mt][0][0], cta.sQ + (wg * MT + mt) * 64 * 64, cK);
      wgmma_commit();
    }
  };

  // the mods of row block mt: bounds and mask only where the tile case needs them
  auto post = [&](auto mt_tag, auto check_tag, auto partial_tag, int kv0) {
    constexpr int mt = decltype(mt_tag)::value;
    constexpr bool PARTIAL = decltype(partial_tag)::value;
    FlexColVals cv[FwdNeedCols<PARTIAL>::value ? C::BN / 8 : 1][2];
    fwd_cols<C, PARTIAL>(cv, cta.b, cta.h, kv0, sp, mp);
    fwd_post<C, decltype(check_tag)::value, PARTIAL, mt, mt + 1>(s, cta.b, cta.h, cta.q0, cta.warp, kv0, cta.Lq,
                                                                 cta.Lkv, cta.scale, sp, mp, rv, cv);
  };
  for (int it = 0; it < n_iter; ++it) {
    cp_async_wait<C::STAGES - 2>();  // this tile's K and V are resident ...
    fence_proxy_async_smem();        // ... visible to wgmma's async proxy ...
    __syncthreads();                 // ... for every thread, and the previous tile's stage is free
    issue_s(it);
    {
      const int nxt = it + C::STAGES - 1;
      if (nxt < n_iter) cta.load_kv(nxt, nxt % C::STAGES);
      cp_async_commit();
    }
    const int kv0 = cta.kv0_at(it);
    const T* cV = cta.sV + (it % C::STAGES) * VT::ELEMS;
    const bool full = cta.full_at(a, it), bound = cta.bound_at(kv0);
    wgmma_wait<MT - 1>();
    static_for<0, MT>([&](auto mt_tag) {
      constexpr int mt = decltype(mt_tag)::value;
      if constexpr (mt > 0) wgmma_wait<mt>();  // S(mt) done; P·V of the earlier blocks may run on
      wgmma_fence_regs<NTN * 4>(&s[mt][0][0]);
      wgmma_fence_regs<NTV * 4>(&o[mt][0][0]);
      if (!full) post(mt_tag, BoolTag<true>{}, BoolTag<true>{}, kv0);
      else if (bound) post(mt_tag, BoolTag<true>{}, BoolTag<false>{}, kv0);
      else post(mt_tag, BoolTag<false>{}, BoolTag<false>{}, kv0);
      fwd_softmax_rows<C>(s[mt], o[mt], m[mt], l[mt], cta.ku);
      unsigned pa[C::BN / 16][4];
#pragma unroll
      for (int k2 = 0; k2 < C::BN / 16; ++k2) pack_p<T, NTN>(pa[k2], s[mt], k2);
      wgmma_fence();  // o[mt] was rescaled, pa written
#pragma unroll
      for (int k2 = 0; k2 < C::BN / 16; ++k2)
        wgmma_rs<C::DV, T>(&o[mt][0][0], pa[k2], wgmma_desc_sw128_mn(smem_u32(cV + k2 * 16 * 64), VT::PANEL * 2));
      wgmma_commit();
    });
    // P·V done inside the iteration: wgmma accumulators in flight across the loop's back edge
    // make the compiler copy them, and ptxas then serialises every wgmma
    wgmma_wait<0>();
  }
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) wgmma_fence_regs<NTV * 4>(&o[mt][0][0]);
  cp_async_wait<0>();
  fwd_store<C, T>(a, o, m, l, cta.ku, cta.b, cta.h, cta.q0, cta.warp, m, sp, mp);
}

// The 16-bit forward of the per-CTA launch: the Hopper body where FwdCfg::WG holds, the mma.sync
// body elsewhere (the persistent warp-specialised body, flex_fwd_fa3.cuh, has its own entry).
template <class C, typename T>
__device__ __forceinline__ void fwd_16bit(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  if constexpr (C::WG) fwd_wg<C, T>(a, sp, mp);
  else fwd_tc<C, T>(a, sp, mp);
}
}  // namespace flex

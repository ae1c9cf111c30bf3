// flexattn forward, warp-specialised Hopper body (sm_90a; FwdCfg::WS): two consumer warpgroups
// of one 64-row block each and one producer warp.
//
// Why: in fwd_wg every thread loads K/V and a __syncthreads per tile keeps all warpgroups in
// lockstep, so they all wait for their products at the same moments and all run their softmax
// at the same moments; the tensor cores idle during the softmax and the ALUs during the products.
// Here
//  - the producer warp alone streams K/V through a STAGES-deep ring: it waits until a stage is
//    free (mbarrier `empty`, all consumer threads arrive), issues cp.async, waits for it, makes it
//    visible to wgmma's async proxy and arrives on `full`. (One warp, not a warpgroup whose
//    registers setmaxnreg hands to the consumers: that version failed on the H100 with an illegal
//    address, and one 64-row block per warpgroup fits the 168 registers a ninth warp leaves.)
//  - the two warpgroups take turns issuing their products (named barriers 1 and 2): one
//    warpgroup's mods and softmax run while the other's products occupy the tensor cores;
//  - inside a warpgroup, tile j's P·V is issued together with tile j+1's S = Q Kᵀ, so the mods and
//    the exponentials of tile j+1 overlap the P·V of tile j; only rescaling O waits for it. Every
//    product is complete before the loop's back edge (in-flight accumulators across it make
//    ptxas serialise every wgmma, see fwd_wg); only the packed P fragments cross it.
// Requires flex_fwd.cuh (FwdCfg, FwdCta, fwd_cols/fwd_post/fwd_softmax_p/fwd_rescale_o/pack_p/
// fwd_store) and wgmma.cuh.

namespace flex {

template <class C, typename T>
__device__ __forceinline__ void fwd_ws(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  static_assert(C::WS && C::MT == 1 && C::NWARPS == 8, "two consumer warpgroups of one row block each");
  constexpr int NTN = C::BN / 8, NTV = C::DVP / 8, KSTEPS = C::DP / 16, STAGES = C::STAGES;
  constexpr int CONSUMERS = C::NTHREADS, PRODUCERS = C::LAUNCH_THREADS - C::NTHREADS;  // 256, 32
  constexpr int BAR_TURN0 = 1, BAR_Q = 3;  // named barriers: turn of warpgroup g = BAR_TURN0 + g
  using QT = typename C::QTile;
  using KT = typename C::KTile;
  using VT = typename C::VTile;
  extern __shared__ __align__(1024) unsigned char flex_smem[];  // 1024: the 128-byte swizzle period
  const FwdCta<C, T> cta(a, flex_smem);
  const int n_iter = cta.n_iter;
  const unsigned bars = smem_u32(flex_smem + C::TILE_BYTES);
  auto full_bar = [&](int st) { return bars + 8u * st; };
  auto empty_bar = [&](int st) { return bars + 8u * (STAGES + st); };
  if (cta.tid == 0) {
    for (int st = 0; st < STAGES; ++st) {
      mbar_init(full_bar(st), PRODUCERS);   // every producer thread
      mbar_init(empty_bar(st), CONSUMERS);  // every consumer thread
    }
  }
  __syncthreads();  // the barriers are initialised (the only CTA-wide sync)

  if (cta.warp >= C::NWARPS) {
    // ---- producer warp ------------------------------------------------------------------------
    for (int it = 0; it < n_iter; ++it) {
      const int st = it % STAGES;
      if (it >= STAGES) mbar_wait(empty_bar(st), ((it / STAGES) + 1) & 1);  // tile it - STAGES is done
      cta.template load_kv<PRODUCERS>(it, st, cta.tid - CONSUMERS);
      cp_async_commit();
      cp_async_wait<0>();
      fence_proxy_async_smem();  // this thread's cp.async writes, visible to wgmma
      mbar_arrive(full_bar(st));
    }
    return;
  }

  // ---- consumer warpgroups ---------------------------------------------------------------------
  const int wg = cta.warp >> 2;
  cta.load_q(a);
  cp_async_commit();
  float o[1][NTV][4];
  float m[1][2], l[1][2];
  FlexRowVals rv[1][2];
  cta.init(o, m, l, rv, sp, mp);
  cp_async_wait<0>();
  fence_proxy_async_smem();
  named_bar_sync(BAR_Q, CONSUMERS);  // Q is resident for both warpgroups
  if (n_iter == 0) {
    fwd_store<C, T>(a, o, m, l, cta.ku, cta.b, cta.h, cta.q0, cta.warp);
    return;
  }
  const T* sQ = cta.sQ + wg * 64 * 64;  // this warpgroup's 64 rows (inside the first panel)
  float s[1][NTN][4];
  unsigned pa[C::BN / 16][4];  // P of the previous tile, the A operand of its P·V
  // turn-taking: warpgroup 0 issues first; each issue phase ends by handing the turn over. Both
  // take n_iter + 1 turns (S of every tile, then the last P·V); warpgroup 1 skips its last
  // hand-over so no arrival is left pending at exit.
  const int my_turn = BAR_TURN0 + wg, other_turn = BAR_TURN0 + (wg ^ 1);
  if (wg == 1) named_bar_arrive(BAR_TURN0, CONSUMERS);
  auto issue_pv = [&](int tile) {
    const T* cV = cta.sV + (tile % STAGES) * VT::ELEMS;
#pragma unroll
    for (int k2 = 0; k2 < C::BN / 16; ++k2)
      wgmma_rs<C::DV, T>(&o[0][0][0], pa[k2], wgmma_desc_sw128_mn(smem_u32(cV + k2 * 16 * 64), VT::PANEL * 2));
    wgmma_commit();
  };
  auto post = [&](auto check_tag, auto partial_tag, int kv0) {
    constexpr bool PARTIAL = decltype(partial_tag)::value;
    FlexColVals cv[FwdNeedCols<PARTIAL>::value ? C::BN / 8 : 1][2];
    fwd_cols<C, PARTIAL>(cv, cta.b, cta.h, kv0, sp, mp);
    fwd_post<C, decltype(check_tag)::value, PARTIAL>(s, cta.b, cta.h, cta.q0, cta.warp, kv0, cta.Lq, cta.Lkv,
                                                     cta.scale, sp, mp, rv, cv);
  };

  for (int it = 0; it < n_iter; ++it) {
    const int st = it % STAGES;
    mbar_wait(full_bar(st), (it / STAGES) & 1);  // tile it's K and V are resident
    named_bar_sync(my_turn, CONSUMERS);
    wgmma_fence();  // s, pa and o were last written by this thread's ALU code
    wgmma_rows<C::BN, KSTEPS, QT::PANEL, KT::PANEL>(&s[0][0][0], sQ, cta.sK + st * KT::ELEMS);
    wgmma_commit();
    if (it > 0) issue_pv(it - 1);
    else wgmma_commit();  // an empty group: the waits below are the same on every iteration
    named_bar_arrive(other_turn, CONSUMERS);
    wgmma_wait<1>();  // S done (groups complete in order); P·V may still run
    wgmma_fence_regs<NTN * 4>(&s[0][0][0]);

    const int kv0 = cta.kv0_at(it);
    const bool full = cta.full_at(a, it), bound = cta.bound_at(kv0);
    if (!full) post(BoolTag<true>{}, BoolTag<true>{}, kv0);
    else if (bound) post(BoolTag<true>{}, BoolTag<false>{}, kv0);
    else post(BoolTag<false>{}, BoolTag<false>{}, kv0);
    float alpha[2];
    fwd_softmax_p<C>(s[0], m[0], l[0], cta.ku, alpha);
    wgmma_wait<0>();  // P·V of tile it - 1 done: its stage is free, O may be rescaled
    wgmma_fence_regs<NTV * 4>(&o[0][0][0]);
    if (it > 0) mbar_arrive(empty_bar((it - 1) % STAGES));
    fwd_rescale_o<C>(o[0], alpha);
#pragma unroll
    for (int k2 = 0; k2 < C::BN / 16; ++k2) pack_p<T, NTN>(pa[k2], s[0], k2);
  }
  named_bar_sync(my_turn, CONSUMERS);
  wgmma_fence();
  issue_pv(n_iter - 1);
  if (wg == 0) named_bar_arrive(other_turn, CONSUMERS);
  wgmma_wait<0>();
  wgmma_fence_regs<NTV * 4>(&o[0][0][0]);
  fwd_store<C, T>(a, o, m, l, cta.ku, cta.b, cta.h, cta.q0, cta.warp);
}

// The 16-bit forward: the warp-specialised Hopper body where FwdCfg::WS holds, the Hopper body
// where FwdCfg::WG holds, the mma.sync body elsewhere. A launch shaped for the warp-specialised
// body (WS_LAUNCH) that runs another one (no sm_90a target) lets its producer warp leave at once.
template <class C, typename T>
__device__ __forceinline__ void fwd_16bit(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  if constexpr (C::WS_LAUNCH && !C::WS)
    if (threadIdx.x >= C::NTHREADS) return;
  if constexpr (C::WS) fwd_ws<C, T>(a, sp, mp);
  else if constexpr (C::WG) fwd_wg<C, T>(a, sp, mp);
  else fwd_tc<C, T>(a, sp, mp);
}

}  // namespace flex

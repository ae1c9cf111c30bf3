// flexattn forward entry point (after flex_fwd.cuh, flex_fwd_wg.cuh and flex_fwd_fa3.cuh): the tile config
// macros and the one extern "C" kernel that picks the f32, mma.sync, Hopper or persistent Hopper body.

// ---------------------------------------------------------------------------------------------
// entry point: flex_fwd, grid (ceil(Lq / BM), Hq, B), block FwdCfg::LAUNCH_THREADS (16-bit) /
// F32_WARPS * 32 (f32), dynamic shared memory FwdCfg::SMEM_BYTES (16-bit) / 0 (f32). The launcher passes the tile
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
#ifndef FLEX_FWD_FA3
#define FLEX_FWD_FA3 0
#endif
#if FLEX_FWD_FA3
// The persistent warp-specialised Hopper body: grid (min(work tiles, SMs), 1, 1), block
// Fa3Cfg::LAUNCH_THREADS (FLEX_FWD_WARPS consumer warps + the producer warpgroup), dynamic shared
// memory Fa3Cfg::SMEM_BYTES; tq / tk / tv: the tensor maps of Q (rank 3), K and V (rank 4), see
// src/tensor-maps.ts. src/config.ts's threads / smemBytes must equal these (compile.test.ts).
// The softmax at D64 (E, Ev <= 64): fa3_softmax_v (SMX 1: row max and sum in interleaved chains,
// branch-free rescale), and with two consumer warpgroups one of every 8 exp2 on the FMA pipe (EMU 1).
// Measured on the H100 (harness, 2026-12-07, B4 H16 L4096 D64 bf16, over the old softmax):
// three warpgroups noop 0.972, alibi 0.976 (EMU 1 there: 1.063 / 1.028); two warpgroups with EMU 1
// noop 0.986, alibi 0.940 (SMX 1 alone: 1.006 / 0.968). D128 and D256 keep fa3_softmax.
#define FLEX_FA3_D64 (FLEX_HEAD_DIM <= 64 && FLEX_HEAD_DIM_V <= 64)
// FLEX_FA3_BACC (src/config.ts FwdConfig.bacc): an additive score mod written into S's accumulator
#ifndef FLEX_FA3_BACC
#define FLEX_FA3_BACC 0
#endif
typedef flex::Fa3Cfg<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, FLEX_FWD_BN, FLEX_FWD_WARPS / 4, FLEX_FWD_STAGES,
                     (FLEX_FA3_D64 && FLEX_FWD_WARPS == 8) ? 1 : 0, FLEX_FA3_D64 ? 1 : 0, FLEX_FA3_BACC>
    FlexFwdConfig;
extern "C" __global__ void __launch_bounds__(FlexFwdConfig::LAUNCH_THREADS, 1)
    flex_fwd(const FlexFwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp,
             const __grid_constant__ FlexTensorMap tq, const __grid_constant__ FlexTensorMap tk,
             const __grid_constant__ FlexTensorMap tv) {
  flex::fwd_fa3<FlexFwdConfig, flex_elem_t>(args, sp, mp, tq, tk, tv);
}
#else
typedef flex::FwdCfg<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, FLEX_FWD_BM, FLEX_FWD_BN, FLEX_FWD_WARPS, FLEX_FWD_STAGES,
                     FLEX_FWD_MT_OUTER != 0, FLEX_FWD_ONE_BLOCK != 0, FLEX_FWD_MINB, FLEX_FWD_WGMMA != 0>
    FlexFwdConfig;
// src/config.ts's `threads` / `smemBytes` equal FwdCfg::LAUNCH_THREADS / SMEM_BYTES (compile.test.ts checks it).
extern "C" __global__ void __launch_bounds__(FlexFwdConfig::LAUNCH_THREADS, FLEX_FWD_MINB)
    flex_fwd(const FlexFwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::fwd_16bit<FlexFwdConfig, flex_elem_t>(args, sp, mp);
}
#endif
#endif
#endif

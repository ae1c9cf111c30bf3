// flexattn CUDA kernels: Hopper's tensor memory accelerator (TMA) and the warp-specialisation
// primitives around it (sm_90a only; every instruction compiles to nothing without FLEX_WGMMA).
//
// A tensor map (CUtensorMap, 128 opaque bytes) describes a global tensor and the box one copy
// moves. The host encodes it (cuTensorMapEncodeTiled: the addon's tensorMapEncodeTiled, the
// harness's own call) and passes it by value as a `const __grid_constant__` kernel parameter, so
// its address is a parameter-space address TMA can read. One thread issues a copy of a whole box
// into shared memory; the copy engine swizzles it (128-byte swizzle: the SmemTile panel layout
// wgmma reads) and zero-fills what lies outside the tensor (rows past Lq / Lkv), and the bytes it
// lands count down the transaction count of an mbarrier the consumers wait on.
// Included after wgmma.cuh (FLEX_WGMMA, mbar_init / mbar_arrive / mbar_wait).

// The opaque tensor-map bytes (cuda.h's CUtensorMap: 128 bytes, 64-byte aligned).
struct __align__(64) FlexTensorMap {
  unsigned long long opaque[16];
};

namespace flex {

// Arrive on `bar` and add `bytes` to the transaction count the phase waits for (the producer's
// arrival for a TMA copy it issues next).
__device__ __forceinline__ void mbar_arrive_expect_tx(unsigned bar, unsigned bytes) {
#if FLEX_WGMMA
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
#endif
}
// Makes mbarrier.init visible to the async proxy (TMA's complete_tx) before first use.
__device__ __forceinline__ void fence_mbar_init() {
#if FLEX_WGMMA
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void tma_prefetch_desc(const FlexTensorMap& map) {
#if FLEX_WGMMA
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<unsigned long long>(&map)) : "memory");
#endif
}
// One box of a rank-3 tensor map at coordinates (c0 innermost, c1, c2) into shared memory at
// `dst`, completing on mbarrier `bar`.
__device__ __forceinline__ void tma_load_3d(unsigned dst, const FlexTensorMap& map, unsigned bar, int c0, int c1,
                                            int c2) {
#if FLEX_WGMMA
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
      "[%5];\n" ::"r"(dst),
      "l"(reinterpret_cast<unsigned long long>(&map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
      : "memory");
#endif
}
// One box of a rank-4 tensor map at (c0 innermost, c1, c2, c3).
__device__ __forceinline__ void tma_load_4d(unsigned dst, const FlexTensorMap& map, unsigned bar, int c0, int c1,
                                            int c2, int c3) {
#if FLEX_WGMMA
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], "
      "[%6];\n" ::"r"(dst),
      "l"(reinterpret_cast<unsigned long long>(&map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
#endif
}
// Register reallocation between warpgroups (needs a register cap at entry: __launch_bounds__
// with a minimum of 1 block per SM); every warp of the warpgroup executes the same one.
// The registers move within the CTA's own pool only: what the producers' dec frees is all the
// consumers' inc can take, and the pool is what the CTA was launched with — ptxas's register count,
// at most setmaxnreg_launch_regs(threads) a thread (the file over the threads, allocated in 8s) —
// not the SM's whole file. An inc the pool cannot cover waits forever (the deterministic backward
// asked for 32 · 128 + 240 · 256 = 65536 > 168 · 384 and hung on its first launch).
constexpr int setmaxnreg_launch_regs(int threads) { return 65536 / threads / 8 * 8; }
constexpr bool setmaxnreg_fits(int producer_regs, int consumer_regs, int consumer_threads) {
  return producer_regs * 128 + consumer_regs * consumer_threads <=
         setmaxnreg_launch_regs(consumer_threads + 128) * (consumer_threads + 128);
}
template <int N> __device__ __forceinline__ void setmaxnreg_dec() {
#if FLEX_WGMMA
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}
template <int N> __device__ __forceinline__ void setmaxnreg_inc() {
#if FLEX_WGMMA
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}

}  // namespace flex

// flexattn CUDA kernels: Hopper warpgroup MMA (wgmma, sm_90a only): S = Q Kᵀ with both operands
// in shared memory, O += P·V with P from registers and V in shared memory.
//
// Both operands come straight from shared memory through matrix descriptors, in the layout
// SmemTile already uses for 16-bit tiles whose rows hold a multiple of 64 elements: 64-element
// (128-byte) panels, rows 128 bytes apart, 16-byte chunks XOR-swizzled by (row & 7) — exactly
// wgmma's K-major 128-byte-swizzle layout when a panel starts on a 1024-byte boundary. The
// accumulator fragment of one m64nN instruction gives warp w of the warpgroup rows 16w..16w+15
// in mma.sync's C layout per n8 block, so the softmax and P·V code after it is unchanged.
// Included after common.cuh; FLEX_WGMMA is 1 only where the compiler targets sm_90a.
// (included once: after common.cuh, or as part of the "common" text the backend prepends)

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FLEX_WGMMA 1
#else
#define FLEX_WGMMA 0
#endif

namespace flex {

// Matrix descriptor: start address >> 4 (bits 0-13), leading byte offset >> 4 (16-29; unused for
// swizzled K-major, 1 by convention), stride byte offset >> 4 (32-45: 8 rows x 128 B = 1024),
// base offset 0 (49-51: panels are 1024-byte aligned), swizzle mode 1 = 128 B (62-63).
__device__ __forceinline__ unsigned long long wgmma_desc_sw128(unsigned smem_addr) {
  unsigned long long d = (unsigned long long)((smem_addr & 0x3FFFF) >> 4);
  d |= 1ull << 16;
  d |= (unsigned long long)(1024 >> 4) << 32;
  d |= 1ull << 62;
  return d;
}

// The same 128-byte-swizzled panels read as an MN-major operand (V of O += P·V: the reduction
// runs over V's rows, N over its columns): the leading byte offset is then the distance between
// 64-column panels along N, the stride byte offset the distance between 8-row groups along K.
__device__ __forceinline__ unsigned long long wgmma_desc_sw128_mn(unsigned smem_addr, unsigned panel_bytes) {
  unsigned long long d = (unsigned long long)((smem_addr & 0x3FFFF) >> 4);
  d |= (unsigned long long)((panel_bytes >> 4) & 0x3FFF) << 16;
  d |= (unsigned long long)(1024 >> 4) << 32;
  d |= 1ull << 62;
  return d;
}

__device__ __forceinline__ void wgmma_fence() {
#if FLEX_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit_and_wait() {
#if FLEX_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if FLEX_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
// Wait until at most N committed groups are still in flight (groups complete in order).
template <int N> __device__ __forceinline__ void wgmma_wait() {
#if FLEX_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Registers an in-flight wgmma writes (accumulators) or reads (A fragments): an empty asm that
// "modifies" them, placed after the wait, keeps the compiler from moving their uses above it.
template <int N> __device__ __forceinline__ void wgmma_fence_regs(float* r) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
// Shared-memory mbarriers (the warp-specialised forward's stage handshakes) and named barriers.
// mbarrier.arrive releases and try_wait acquires at CTA scope.
__device__ __forceinline__ void mbar_init(unsigned bar, unsigned count) {
#if FLEX_WGMMA
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
#endif
}
__device__ __forceinline__ void mbar_arrive(unsigned bar) {
#if FLEX_WGMMA
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(bar) : "memory");
#endif
}
// Wait for the phase with the given parity (0, 1, 0, … for the 1st, 2nd, 3rd completion) to end.
__device__ __forceinline__ void mbar_wait(unsigned bar, unsigned parity) {
#if FLEX_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nWAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra WAIT;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
#endif
}
// Named barrier `id` (1..15; 0 is __syncthreads) over n threads: sync waits, arrive only counts.
__device__ __forceinline__ void named_bar_sync(int id, int n) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void named_bar_arrive(int id, int n) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
// Generic-proxy writes to shared memory (cp.async, st.shared) become visible to wgmma's async proxy.
__device__ __forceinline__ void fence_proxy_async_smem() {
#if FLEX_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

#define FLEX_WG_R8(i) "+f"(d[(i) + 0]), "+f"(d[(i) + 1]), "+f"(d[(i) + 2]), "+f"(d[(i) + 3]), \
                      "+f"(d[(i) + 4]), "+f"(d[(i) + 5]), "+f"(d[(i) + 6]), "+f"(d[(i) + 7])
#define FLEX_WG_REGS32                                                                                      \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                                  \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define FLEX_WG_REGS40 FLEX_WG_REGS32 ", %32, %33, %34, %35, %36, %37, %38, %39"
#define FLEX_WG_REGS64                                                                                      \
  FLEX_WG_REGS32 ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "        \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"

// D (64 x N, f32, this thread's N/2 values) += A (64 x 16) · B (N x 16)ᵀ, both K-major in smem.
// scale_d = 0 overwrites D instead (the first k step). One specialisation per (N, element type):
// the PTX type name is part of the instruction text.
template <int N, typename T>
__device__ __forceinline__ void wgmma_ss(float* d, unsigned long long da, unsigned long long db, int scale_d);
template <int N, typename T>
__device__ __forceinline__ void wgmma_rs(float* d, const unsigned* a, unsigned long long db);

#if FLEX_WGMMA
// One specialisation: N, the element type (C++ / PTX name), this N's accumulator operand list,
// the operand numbers of the two descriptors and of scale_d, then the accumulator operands.
#define FLEX_WG_SS(N, CT, PT, REGS, DA, DB, SD, ...)                                                         \
  template <>                                                                                               \
  __device__ __forceinline__ void wgmma_ss<N, CT>(float* d, unsigned long long da, unsigned long long db,    \
                                                  int scale_d) {                                            \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" SD ", 0;\n"                                            \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PT "." PT " {" REGS "}, %" DA ", %" DB     \
                 ", p, 1, 1, 0, 0;\n}\n"                                                                      \
                 : __VA_ARGS__                                                                              \
                 : "l"(da), "l"(db), "r"(scale_d));                                                         \
  }
#define FLEX_WG_SS64(CT, PT) \
  FLEX_WG_SS(64, CT, PT, FLEX_WG_REGS32, "32", "33", "34", FLEX_WG_R8(0), FLEX_WG_R8(8), FLEX_WG_R8(16), FLEX_WG_R8(24))
// N = 80: the head-dim-256 forward's S tile of 80 keys (FlashAttention-3's hdim-256 kBlockN)
#define FLEX_WG_SS80(CT, PT)                                                                                  \
  FLEX_WG_SS(80, CT, PT, FLEX_WG_REGS40, "40", "41", "42", FLEX_WG_R8(0), FLEX_WG_R8(8), FLEX_WG_R8(16), FLEX_WG_R8(24), \
             FLEX_WG_R8(32))
#define FLEX_WG_SS128(CT, PT)                                                                                 \
  FLEX_WG_SS(128, CT, PT, FLEX_WG_REGS64, "64", "65", "66", FLEX_WG_R8(0), FLEX_WG_R8(8), FLEX_WG_R8(16),        \
             FLEX_WG_R8(24), FLEX_WG_R8(32), FLEX_WG_R8(40), FLEX_WG_R8(48), FLEX_WG_R8(56))
// D (64 x N) += A (64 x 16 from registers: warp w holds rows 16w..16w+15 in mma.sync's m16n8k16
// A-fragment layout, exactly the packed P of the accumulator layout above) · B (16 x N), B
// MN-major in shared memory (trans-b = 1).
#define FLEX_WG_RS64(CT, PT)                                                                                 \
  template <>                                                                                               \
  __device__ __forceinline__ void wgmma_rs<64, CT>(float* d, const unsigned* a, unsigned long long db) {     \
    asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32." PT "." PT " {" FLEX_WG_REGS32 "}, "            \
                 "{%32, %33, %34, %35}, %36, 1, 1, 1, 1;\n"                                                   \
                 : FLEX_WG_R8(0), FLEX_WG_R8(8), FLEX_WG_R8(16), FLEX_WG_R8(24)                              \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));                                    \
  }
#define FLEX_WG_RS128(CT, PT)                                                                                \
  template <>                                                                                               \
  __device__ __forceinline__ void wgmma_rs<128, CT>(float* d, const unsigned* a, unsigned long long db) {    \
    asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32." PT "." PT " {" FLEX_WG_REGS64 "}, "           \
                 "{%64, %65, %66, %67}, %68, 1, 1, 1, 1;\n"                                                   \
                 : FLEX_WG_R8(0), FLEX_WG_R8(8), FLEX_WG_R8(16), FLEX_WG_R8(24), FLEX_WG_R8(32), FLEX_WG_R8(40), \
                   FLEX_WG_R8(48), FLEX_WG_R8(56)                                                           \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));                                    \
  }
FLEX_WG_RS64(__nv_bfloat16, "bf16")
FLEX_WG_RS64(__half, "f16")
FLEX_WG_RS128(__nv_bfloat16, "bf16")
FLEX_WG_RS128(__half, "f16")
#undef FLEX_WG_RS64
#undef FLEX_WG_RS128
FLEX_WG_SS64(__nv_bfloat16, "bf16")
FLEX_WG_SS64(__half, "f16")
FLEX_WG_SS80(__nv_bfloat16, "bf16")
FLEX_WG_SS80(__half, "f16")
FLEX_WG_SS128(__nv_bfloat16, "bf16")
FLEX_WG_SS128(__half, "f16")
#undef FLEX_WG_SS64
#undef FLEX_WG_SS80
#undef FLEX_WG_SS128
#undef FLEX_WG_SS
#endif
#undef FLEX_WG_REGS64
#undef FLEX_WG_REGS40
#undef FLEX_WG_REGS32
#undef FLEX_WG_R8

// D (64 x N) = A · Bᵀ over KSTEPS k16 steps: A's 64 rows start at `a`, B's N rows at `b`, both
// SmemTiles of 64-column panels (A_PANEL / B_PANEL elements apart). Issue only: the caller fences
// before and commits and waits after (several calls may share one group). ACC: d += A·B (d holds
// an initial value: the forward's additive score mod, Fa3Cfg::BACC), else d = A·B.
template <int N, int KSTEPS, int A_PANEL, int B_PANEL, bool ACC = false, typename T>
__device__ __forceinline__ void wgmma_rows(float* d, const T* a, const T* b) {
#pragma unroll
  for (int kk = 0; kk < KSTEPS; ++kk) {
    const unsigned ad = smem_u32(a + (kk >> 2) * A_PANEL) + (kk & 3) * 32;
    const unsigned bd = smem_u32(b + (kk >> 2) * B_PANEL) + (kk & 3) * 32;
    wgmma_ss<N, T>(d, wgmma_desc_sw128(ad), wgmma_desc_sw128(bd), ACC || kk > 0);
  }
}

}  // namespace flex

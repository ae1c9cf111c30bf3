// flexattn CUDA kernels: shared definitions.
//
// Compiled by NVRTC (or nvcc in harness/) after a generated prelude that defines
//   FLEX_DTYPE_BF16 | FLEX_DTYPE_F16 | FLEX_DTYPE_F32, FLEX_HEAD_DIM, FLEX_HEAD_DIM_V,
//   FLEX_SCORE_MOD_IS_IDENTITY, FLEX_MASK_MOD_IS_TRUE, FLEX_HAS_CAPTURE_GRADS,
//   struct FlexScoreParams, struct FlexMaskParams and the four __device__ hooks
//   flex_score_mod, flex_mask_mod, flex_score_mod_grad, flex_score_mod_capture_grads
//   (and, optionally, their row/column split: FLEX_HAS_ROW_COL, see below, and
//   FLEX_SCORE_MOD_GRAD_IS_ONE where the score mod's derivative is the constant 1).
// Only NVRTC built-in headers are used. Nothing here depends on the prelude's macros except the
// dtype switch at the bottom; the kernels are templates instantiated by the extern "C" entry points
// at the end of each kernel file (or directly by the harness).
//
// ---------------------------------------------------------------------------------------------
// Argument structs: passed by value as the first kernel parameter. TypeScript packs them
// (src/kernel-args.ts); the layout below is the contract. Every field is 8-byte aligned or packed in
// pairs of 4-byte fields; pointers are 8 bytes; total sizes are multiples of 8.
// ---------------------------------------------------------------------------------------------
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#ifndef FLEX_INF
#define FLEX_INF __int_as_float(0x7f800000)
#endif
#ifndef FLEX_SCORE_MOD_GRAD_IS_ONE
#define FLEX_SCORE_MOD_GRAD_IS_ONE 0
#endif
// FLEX_MAX_SCORES 1: the forward bodies track and write max_scores (returnAux.maxScores). The
// prelude defines it only for calls that ask, so every other call compiles the code it always had
// (no row-max tracking beside the lazy softmax max, no store): the option costs nothing unless used.
#ifndef FLEX_MAX_SCORES
#define FLEX_MAX_SCORES 0
#endif
#define FLEX_LOG2E 1.4426950408889634f
#define FLEX_LN2 0.6931471805599453f

// The row/column split of the hooks (src/renderer.ts emits it with FLEX_HAS_ROW_COL): a prelude
// without it (the harness's hand-written mods) gets the plain hooks behind the same names.
#if !defined(FLEX_HAS_ROW_COL) && defined(FLEX_SCORE_MOD_IS_IDENTITY)  // (no prelude at all: layout checks)
struct FlexRowVals {};
struct FlexColVals {};
__device__ __forceinline__ FlexRowVals flex_row_vals(int, int, int, const FlexScoreParams&, const FlexMaskParams&) { return {}; }
__device__ __forceinline__ FlexColVals flex_col_vals(int, int, int, const FlexScoreParams&, const FlexMaskParams&) { return {}; }
__device__ __forceinline__ float flex_score_mod_rc(float score, int b, int h, int q, int kv, const FlexRowVals&,
                                                   const FlexColVals&, const FlexScoreParams& p) {
  return flex_score_mod(score, b, h, q, kv, p);
}
__device__ __forceinline__ bool flex_mask_mod_rc(int b, int h, int q, int kv, const FlexRowVals&, const FlexColVals&,
                                                 const FlexMaskParams& p) {
  return flex_mask_mod(b, h, q, kv, p);
}
__device__ __forceinline__ float flex_score_mod_grad_rc(float score, int b, int h, int q, int kv, const FlexRowVals&,
                                                        const FlexColVals&, const FlexScoreParams& p) {
  return flex_score_mod_grad(score, b, h, q, kv, p);
}
#endif

// Block-sparse tables, already in the launching kernel's own tile units.
// outer = q tiles (forward) or kv tiles (backward); inner = the other axis.
//   num_blocks[mB][mH][outer]         number of partial tiles in that row of the table
//   indices[mB][mH][outer][inner]     their indices (first num_blocks entries valid)
//   full_num_blocks / full_indices    the same for full tiles
// mB / mH are 1 (broadcast) or B / Hq.                                          offset size
struct FlexBlockTable {
  const int* num_blocks;       //  0  8
  const int* indices;          //  8  8
  const int* full_num_blocks;  // 16  8
  const int* full_indices;     // 24  8
  int mB;                      // 32  4
  int mH;                      // 36  4
  int outer;                   // 40  4   tiles along the outer axis (table rows)
  int inner;                   // 44  4   tiles along the inner axis (row length of indices)
};                             // 48 bytes

// Forward. q [B,Hq,Lq,E], k [Bkv,Hkv,Lkv,E], v [Bkv,Hkv,Lkv,Ev], out [B,Hq,Lq,Ev] (input dtype),
// lse [B,Hq,Lq] fp32 natural log (may be null), max_scores [B,Hq,Lq] fp32 (may be null): the row
// max of the post-mod scores in natural units, -inf for a row with no visible key. K and V of
// batch b start k_batch_stride / v_batch_stride elements after those of batch b - 1; 0 broadcasts
// one K/V (Bkv = 1) over every query batch (a shared KV cache).                    offset size
struct FlexFwdArgs {
  const void* q;               //   0  8
  const void* k;               //   8  8
  const void* v;               //  16  8
  void* out;                   //  24  8
  float* lse;                  //  32  8   nullable
  FlexBlockTable bt;           //  40 48   q-major tables (outer = q tiles, inner = kv tiles)
  int B;                       //  88  4
  int Hq;                      //  92  4
  int Hkv;                     //  96  4
  int Lq;                      // 100  4
  int Lkv;                     // 104  4
  float scale;                 // 108  4
  int has_block_mask;          // 112  4   0: every tile is full, bt ignored
  int pad0;                    // 116  4
  float* max_scores;           // 120  8   nullable
  long long k_batch_stride;    // 128  8   elements; B > 1 with 0: K broadcast
  long long v_batch_stride;    // 136  8   elements; B > 1 with 0: V broadcast
  int* tile_counter;           // 144  8   the persistent Hopper forward's work-tile counter, zero at
                               //          launch (its own: zeroed on its stream); null elsewhere
};                             // 152 bytes

// Backward. delta [B,Hq,Lq] fp32 and dq_accum [B,Hq,Lq,E] fp32 are workspaces; the preprocess
// kernel writes delta and zeroes dq_accum, dq is written by the convert kernel. dlse [B,Hq,Lq]
// fp32 (nullable: zero): the gradient of the loss with respect to lse, which adds dlse·P to dS —
// the preprocess folds it into delta = rowsum(dO ∘ O) − dlse. K/V strides as in FlexFwdArgs (0: one
// K/V for every query batch); dk/dv stay [B,Hkv,Lkv,·], one partial per query batch, which the
// host sums over the batch when K/V were shared. dq_semaphore / dq_rank: the FA3-class body's
// deterministic variant (FLEX_BWD_DETERMINISTIC, kernels/flex_bwd_fa3.cuh) adds each q tile's dQ
// in a fixed order of kv tiles: one counter per (b, h, q tile), and per entry of bt's q-tile lists
// the rank of that kv tile among those visiting the q tile, then (a second table of bt's shape) the
// q tiles in the order the variant visits them (src/dq-order.ts; null without a block mask, where
// the rank follows from the kv tile alone).                                         offset size
struct FlexBwdArgs {
  const void* q;               //   0  8
  const void* k;               //   8  8
  const void* v;               //  16  8
  const void* out;             //  24  8
  const void* dout;            //  32  8
  const float* lse;            //  40  8
  float* delta;                //  48  8   workspace [B,Hq,Lq]
  float* dq_accum;             //  56  8   workspace [B,Hq,Lq,E] fp32
  void* dq;                    //  64  8   [B,Hq,Lq,E]   input dtype
  void* dk;                    //  72  8   [B,Hkv,Lkv,E]
  void* dv;                    //  80  8   [B,Hkv,Lkv,Ev]
  FlexBlockTable bt;           //  88 48   kv-major tables (outer = kv tiles, inner = q tiles)
  int B;                       // 136  4
  int Hq;                      // 140  4
  int Hkv;                     // 144  4
  int Lq;                      // 148  4
  int Lkv;                     // 152  4
  float scale;                 // 156  4
  int has_block_mask;          // 160  4
  int pad0;                    // 164  4
  const float* dlse;           // 168  8   nullable
  long long k_batch_stride;    // 176  8   elements
  long long v_batch_stride;    // 184  8   elements
  int* dq_semaphore;           // 192  8   nullable; [B,Hq,q tiles] zeroed: the deterministic dQ order
  const int* dq_rank;          // 200  8   nullable; like bt's indices twice: each visit's rank, then its q tile
};                             // 208 bytes

// Split-KV decoding. One CTA per (b, kv head, split, row group); the rows of a CTA are the
// (query head in the GQA group, query index) pairs. Block sparsity is a dense class table at the
// user's block granularity: cls[mB][mH][qBlocks][kvBlocks], 0 empty, 1 partial, 2 full.
// max_scores / part_max (FLEX_MAX_SCORES only): the row max output and each split's row max
// (natural units), merged by the column's last split. K/V strides: 0 for one K/V of batch 1 read by every
// query batch (a paged KV cache's pages), else those of contiguous [B, Hkv, Lkv, ·] K/V (the
// decoder, like the persistent forward, reads batch b at b·Hkv·Lkv rows).            offset size
struct FlexDecodeArgs {
  const void* q;               //   0  8
  const void* k;               //   8  8
  const void* v;               //  16  8
  void* out;                   //  24  8
  float* lse;                  //  32  8   nullable
  float* part_o;               //  40  8   workspace [splits][B][Hq][Lq][Ev] fp32
  float* part_lse;             //  48  8   workspace [splits][B][Hq][Lq] fp32 (log2 units)
  const unsigned char* cls;    //  56  8   nullable when has_block_mask = 0
  int B;                       //  64  4
  int Hq;                      //  68  4
  int Hkv;                     //  72  4
  int Lq;                      //  76  4
  int Lkv;                     //  80  4
  float scale;                 //  84  4
  int num_splits;              //  88  4
  int keys_per_split;          //  92  4   a multiple of the decode tile (FLEX_DEC_BN)
  int has_block_mask;          //  96  4
  int cls_mB;                  // 100  4
  int cls_mH;                  // 104  4
  int cls_q_blocks;            // 108  4
  int cls_kv_blocks;           // 112  4
  int cls_block_q;             // 116  4
  int cls_block_kv;            // 120  4
  int key_offset;              // 124  4   the first split's first key (a multiple of FLEX_DEC_BN): keys before it are masked
  float* max_scores;           // 128  8   nullable
  float* part_max;             // 136  8   workspace [splits][B][Hq][Lq] fp32, nullable
  long long k_batch_stride;    // 144  8   elements
  long long v_batch_stride;    // 152  8   elements
  int* merge_count;            // 160  8   workspace [B][Hkv · row groups] int, zero at allocation; the decoder leaves it zero
};                             // 168 bytes

namespace flex {

// ---------------------------------------------------------------------------------------------
// element types
// ---------------------------------------------------------------------------------------------
template <typename T> struct Elem;
template <> struct Elem<__nv_bfloat16> {
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
  // two floats -> one packed 32-bit register (low half = a)
  static __device__ __forceinline__ unsigned pack2(float a, float b) {
    __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<unsigned*>(&h);
  }
};
template <> struct Elem<__half> {
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ unsigned pack2(float a, float b) {
    __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<unsigned*>(&h);
  }
};
template <> struct Elem<float> {
  static __device__ __forceinline__ float to_float(float x) { return x; }
  static __device__ __forceinline__ float from_float(float x) { return x; }
};

// Stores the pair (x0, x1) at row[col], row[col + 1] of a row of N elements: one packed 32-bit
// store when N is even (col is even, so the pair never straddles the end), two guarded ones if odd.
template <int N, typename T>
__device__ __forceinline__ void store_pair(T* row, int col, float x0, float x1) {
  if constexpr (N % 2 == 0) {
    if (col < N) *reinterpret_cast<unsigned*>(row + col) = Elem<T>::pack2(x0, x1);
  } else {
    if (col < N) row[col] = Elem<T>::from_float(x0);
    if (col + 1 < N) row[col + 1] = Elem<T>::from_float(x1);
  }
}

// Stores 16 consecutive elements at dst (16-byte aligned) with 16-byte stores: x in the element type
template <typename T>
__device__ __forceinline__ void store16(T* dst, const float (&x)[16]) {
  if constexpr (sizeof(T) == 4) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      reinterpret_cast<float4*>(dst)[j] = make_float4(x[4 * j], x[4 * j + 1], x[4 * j + 2], x[4 * j + 3]);
  } else {
#pragma unroll
    for (int j = 0; j < 2; ++j)
      reinterpret_cast<uint4*>(dst)[j] = make_uint4(Elem<T>::pack2(x[8 * j], x[8 * j + 1]), Elem<T>::pack2(x[8 * j + 2], x[8 * j + 3]),
                                                    Elem<T>::pack2(x[8 * j + 4], x[8 * j + 5]), Elem<T>::pack2(x[8 * j + 6], x[8 * j + 7]));
  }
}

// ---------------------------------------------------------------------------------------------
// tensor-core primitives (sm_80+): mma.sync m16n8k16, ldmatrix, cp.async
// ---------------------------------------------------------------------------------------------
template <typename T> __device__ __forceinline__ void mma_16816(float (&d)[4], const unsigned (&a)[4],
                                                                unsigned b0, unsigned b1);
template <> __device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const unsigned (&a)[4],
                                                                     unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const unsigned (&a)[4],
                                                              unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned smem_u32(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// 16-byte async copy global -> shared; src_bytes = 0 zero-fills the destination.
__device__ __forceinline__ void cp_async_16(unsigned dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
// The same copy for data read once per launch (the decoder's K/V stream): an evict-first L2 policy
// keeps the stream from displacing what is reused (the split partials the merge reads back, Q, the
// class table), and the 256-byte L2 prefetch asks DRAM for a whole K/V row (128 bf16) per miss
// rather than 16 bytes a sector at a time. `policy` comes from l2_evict_first_policy().
__device__ __forceinline__ unsigned long long l2_evict_first_policy() {
  unsigned long long p;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
  return p;
}
__device__ __forceinline__ void cp_async_16_stream(unsigned dst, const void* src, int src_bytes,
                                                   unsigned long long policy) {
  asm volatile("cp.async.cg.shared.global.L2::cache_hint.L2::256B [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes), "l"(policy));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ float fast_exp2(float x) {  // ex2.approx: exp2(-inf) = 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// max that propagates NaN (PTX max.NaN, one FMNMX like fmaxf, which returns the other operand):
// the softmaxes track each row's max with it, so a NaN post-mod score reaches the epilogue, which
// makes the row NaN (docs/architecture.md §4: an input NaN is never a mask).
__device__ __forceinline__ float fmax_nan(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float y;
  asm("max.NaN.f32 %0, %1, %2;\n" : "=f"(y) : "f"(a), "f"(b));
  return y;
#else
  return (a != a || b != b) ? __int_as_float(0x7fffffff) : fmaxf(a, b);
#endif
}
// A row whose max post-mod score is NaN or +inf is undefined: out, lse (and max_scores) are NaN.
// ("!(x < inf)": true for NaN and +inf.) Checked once per row, in the epilogues.
__device__ __forceinline__ bool row_poisoned(float row_max) { return !(row_max < FLEX_INF); }
#define FLEX_NAN __int_as_float(0x7fffffff)

__device__ __forceinline__ float quad_max(float x) {
  x = fmax_nan(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmax_nan(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// dq accumulation into fp32 global memory: four adjacent floats (16-byte aligned) / a pair.
__device__ __forceinline__ void atomic_add4(float* p, float a, float b, float c, float d) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float4*>(p), make_float4(a, b, c, d));
#else
  atomicAdd(p, a);
  atomicAdd(p + 1, b);
  atomicAdd(p + 2, c);
  atomicAdd(p + 3, d);
#endif
}
__device__ __forceinline__ void atomic_add2(float* p, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(p), make_float2(a, b));
#else
  atomicAdd(p, a);
  atomicAdd(p + 1, b);
#endif
}

// ---------------------------------------------------------------------------------------------
// shared-memory tile of ROWS x COLS 16-bit elements (COLS a multiple of 16): 16-byte chunks,
// XOR-swizzled when a row holds a multiple of 8 chunks, otherwise padded by one chunk per row.
// Both make the 8 row addresses of one ldmatrix 8x8 matrix hit distinct bank groups.
// ---------------------------------------------------------------------------------------------
// Swizzled tiles are stored as 64-column panels (ROWS x 128 bytes each, one after another): the
// layout wgmma reads with a 128-byte-swizzle descriptor (wgmma.cuh); ldmatrix sees the same
// conflict-free 8-row groups either way.
// Columns 16·k2.. of an fp32 accumulator slab (n8 blocks in mma's C layout: P in the forward, Pᵀ
// and dSᵀ in the backward) packed as an m16n8k16 A fragment: the A operand of mma.sync and of
// register-sourced wgmma alike.
template <typename T, int NTN>
__device__ __forceinline__ void pack_p(unsigned (&pa)[4], const float (&s)[NTN][4], int k2) {
  pa[0] = Elem<T>::pack2(s[2 * k2][0], s[2 * k2][1]);
  pa[1] = Elem<T>::pack2(s[2 * k2][2], s[2 * k2][3]);
  pa[2] = Elem<T>::pack2(s[2 * k2 + 1][0], s[2 * k2 + 1][1]);
  pa[3] = Elem<T>::pack2(s[2 * k2 + 1][2], s[2 * k2 + 1][3]);
}

template <int ROWS, int COLS> struct SmemTile {
  static constexpr int CHUNKS = COLS / 8;  // 16-byte chunks per row
  static constexpr bool SWIZZLE = (CHUNKS % 8) == 0;
  static constexpr int STRIDE = SWIZZLE ? 64 : COLS + 8;  // elements per row (of a panel)
  static constexpr int PANEL = ROWS * 64;                 // elements per 64-column panel
  static constexpr int ELEMS = SWIZZLE ? ROWS * COLS : ROWS * STRIDE;
  static constexpr int BYTES = ELEMS * 2;
  // element offset of (row, chunk), chunk in units of 8 elements
  static __device__ __forceinline__ int off(int row, int chunk) {
    return SWIZZLE ? (chunk >> 3) * PANEL + row * 64 + (((chunk & 7) ^ (row & 7)) << 3) : row * STRIDE + (chunk << 3);
  }
};

// Load a ROWS x COLS tile from a row-major global matrix with `ld` elements per row, rows
// [row0, row0+ROWS) of which the first `rows_valid` exist, columns [0, cols_valid) real; the rest
// is zero. VEC: 16-byte cp.async (needs ld % 8 == 0 and a 16-byte aligned base), else plain loads.
template <int ROWS, int COLS, int NTHREADS, bool VEC, typename T>
__device__ __forceinline__ void load_tile(T* smem, const T* gmem, int ld, int rows_valid, int cols_valid,
                                          int tid) {
  using Tile = SmemTile<ROWS, COLS>;
  if constexpr (VEC) {
    constexpr int TOTAL = ROWS * Tile::CHUNKS;
#pragma unroll
    for (int i = tid; i < TOTAL; i += NTHREADS) {
      const int r = i / Tile::CHUNKS, c = i % Tile::CHUNKS;
      const bool ok = r < rows_valid && c * 8 < cols_valid;
      const T* src = ok ? gmem + (size_t)r * ld + c * 8 : gmem;
      cp_async_16(smem_u32(smem + Tile::off(r, c)), src, ok ? 16 : 0);
    }
  } else {
    constexpr int TOTAL = ROWS * COLS;
    for (int i = tid; i < TOTAL; i += NTHREADS) {
      const int r = i / COLS, c = i % COLS;
      T x = Elem<T>::from_float(0.f);
      if (r < rows_valid && c < cols_valid) x = gmem[(size_t)r * ld + c];
      smem[Tile::off(r, c >> 3) + (c & 7)] = x;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// block-sparse table access
// ---------------------------------------------------------------------------------------------
struct TileList {
  const int* partial;  // indices of partial tiles
  const int* full;     // indices of full tiles
  int n_partial, n_full;
  // i-th tile to visit: partial tiles first, then full ones
  __device__ __forceinline__ int count() const { return n_partial + n_full; }
  __device__ __forceinline__ int index(int i) const { return i < n_partial ? partial[i] : full[i - n_partial]; }
  __device__ __forceinline__ bool is_full(int i) const { return i >= n_partial; }
};

__device__ __forceinline__ TileList tile_list(const FlexBlockTable& bt, int has_block_mask, int b, int h,
                                              int row, int n_inner_tiles) {
  TileList t;
  if (!has_block_mask) {
    t.partial = nullptr;
    t.full = nullptr;
    t.n_partial = 0;
    t.n_full = n_inner_tiles;
    return t;
  }
  const int mb = bt.mB == 1 ? 0 : b, mh = bt.mH == 1 ? 0 : h;
  const size_t r = ((size_t)mb * bt.mH + mh) * bt.outer + row;
  t.n_partial = bt.num_blocks[r];
  t.n_full = bt.full_num_blocks[r];
  t.partial = bt.indices + r * bt.inner;
  t.full = bt.full_indices + r * bt.inner;
  return t;
}
// without a block mask the full list is the identity
__device__ __forceinline__ int tile_at(const TileList& t, int i) {
  if (t.full == nullptr) return i;
  return t.index(i);
}

// The f32 SIMT path's tile (BM x BN, the block-table units) and warps, shared by forward and backward.
constexpr int F32_BM = 32, F32_BN = 32, F32_WARPS = 8;

}  // namespace flex

// the element type selected by the prelude
#if defined(FLEX_DTYPE_BF16)
typedef __nv_bfloat16 flex_elem_t;
#elif defined(FLEX_DTYPE_F16)
typedef __half flex_elem_t;
#elif defined(FLEX_DTYPE_F32)
typedef float flex_elem_t;
#endif

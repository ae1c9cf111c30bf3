// flexattn backward, FlashAttention-3-class Hopper body (sm_90a): dK/dV per kv tile with a TMA
// producer and two consumer warpgroups on wgmma, dQ accumulated by bulk reduce-add.
//
// Structure (the design of FlashAttention-3's sm90 backward, written for the flexattn hooks):
//  - One CTA per (kv tile of BN = 128 keys, kv head, batch). K and V stay in shared memory; the
//    q tiles the kv tile touches (the kv-major block tables, over every query head of the GQA
//    group) stream through a STAGES-deep ring: Q and dO by TMA (128-byte swizzle = the SmemTile
//    panels wgmma reads; rows past Lq zero-filled), lse (log2 units, +inf for rows without a
//    visible key or past Lq) and delta by the producer warp's plain loads. One mbarrier pair
//    (full / empty) per stage.
//  - Consumer warpgroup g owns kv rows 64g..64g+63 and computes everything transposed (kv rows in
//    wgmma's M): Sᵀ = K Qᵀ and dPᵀ = V dOᵀ (both operands in shared memory, issued together),
//    Pᵀ = exp2(postᵀ − lse) with the mods (mask on partial and boundary tiles only), dSᵀ =
//    Pᵀ ∘ (dPᵀ − delta) ∘ score_mod'; then dV += Pᵀ dO and dK += dSᵀ Q with Pᵀ / dSᵀ as register
//    A operands, accumulated in registers over the whole CTA.
//  - dQ = dS K: dSᵀ goes to shared memory (double-buffered), and each warpgroup computes one
//    64 x 64 block of the tile's dQ (D128: BMQ 64 rows, warpgroup g columns 64g..; D64: BMQ 128,
//    warpgroup g rows 64g..) with both operands transposed from shared memory. The fp32 block goes
//    to a double-buffered shared tile that one thread adds into dq_accum with a single bulk
//    reduce-add (cp.reduce.async.bulk ... add.f32): one L2 reduction per element, no per-element
//    atomics. One named barrier per q tile orders everything (see the loop's comments).
//  - Every wgmma completes inside its iteration (accumulators in flight across the loop's back edge
//    make ptxas serialise every wgmma).
//  - Deterministic variant (DET, FLEX_BWD_DETERMINISTIC): the fp32 sums of dQ are bitwise repeatable
//    only if every q tile's contributions are added in one fixed order. A writer warp (the producer
//    warpgroup's second) takes over the reduce-adds: for each q tile, in the CTA's visiting order,
//    it waits until the tile's counter in global memory (dq_semaphore, per (b, h, q tile), zeroed
//    before the launch) equals this kv tile's rank among the kv tiles that visit that q tile
//    (dq_rank, computed on the host from the same block tables; without a mask every kv tile
//    visits every q tile), adds the tile, waits for the add to complete and bumps the counter.
//    The consumers only hand finished dQ tiles over (mbarriers dq_full / dq_empty per buffer), so
//    the waiting overlaps their next tiles. The ranks count kv tiles in launch order; see bwd_fa3's
//    kv-tile mapping for why that cannot deadlock. With a mask, the variant walks each kv tile's q
//    tiles in ascending order (dq_rank's visits), not partial tiles first: kv tiles that share q
//    tiles then meet them in the same order, so none waits for another's last tile (bwd_walk).
// Requires common.cuh (SmemTile, pack_p, tile lists), wgmma.cuh, tma.cuh and flex_bwd.cuh
// (bwd_row_stats, bwd_store_dkdv; its preprocess and dQ conversion kernels).

// A mask reading a tensor under the identity score mod (FLEX_FA3_SMEM_COLS, set by src/config.ts
// for the forward's sake; a document mask): the mods' per-query parts of a q tile are computed once
// per warp, lane l holding rows l, l + 32, ... (BMQ / 32 calls of flex_row_vals a lane), and handed
// to the element loop by shuffles, instead of 2 · BMQ / 8 calls a thread inside it (32 doc-id loads
// per partial tile, each behind its clamp, after the wait). H100 2026-12-07 (B4 H16 L4096 D64
// document): backward 0.905x. Shared memory has no room for them at D64 (BwdFa3Cfg<64, 128, 2> is
// 984 bytes under the limit). Other mods keep the per-thread calls (not measured with shuffles).
#ifndef FLEX_FA3_SMEM_COLS
#define FLEX_FA3_SMEM_COLS 0
#endif

// A value of any trivially copyable type from lane src of the warp, 4 bytes a shuffle.
template <class V>
__device__ __forceinline__ V shfl_any(const V& v, int src) {
  constexpr int WORDS = (int)(sizeof(V) + 3) / 4;
  // byte copies, not __builtin_memcpy: NVRTC does not declare it (nvcc does; the H100's conformance
  // run caught it), and char access is the one aliasing the language allows; ptxas folds them
  int w[WORDS > 0 ? WORDS : 1] = {};
  const unsigned char* from = reinterpret_cast<const unsigned char*>(&v);
  unsigned char* words = reinterpret_cast<unsigned char*>(w);
#pragma unroll
  for (int i = 0; i < (int)sizeof(V); ++i) words[i] = from[i];
#pragma unroll
  for (int i = 0; i < WORDS; ++i) w[i] = __shfl_sync(0xffffffffu, w[i], src);
  V out;
  unsigned char* to = reinterpret_cast<unsigned char*>(&out);
#pragma unroll
  for (int i = 0; i < (int)sizeof(V); ++i) to[i] = words[i];
  return out;
}

namespace flex {

// D: head dim of Q/K and V (64 or 128, equal), BMQ: q rows per stage (128 for D64, 64 for D128: each
// warpgroup's dQ block is then 64 x 64), STAGES: Q/dO ring depth, DET: the deterministic dQ order,
// dq_accum's rows are in fragment order (dq_frag_col, special.cuh): on the H100 (harness, 2026-12-07)
// the backward took 0.884 of the row-major stores' time at B4 H16 L4096 D64, 0.955 at B2 H16 L8192
// D128 (shared-store bank conflicts 50.6 M → 17.0 M).
template <int D_, int BMQ_, int STAGES_, bool DET_ = false> struct BwdFa3Cfg {
  static constexpr int D = D_, DV = D_, BMQ = BMQ_, STAGES = STAGES_;
  static constexpr bool DET = DET_;
  static constexpr int BN = 128, NCWG = 2;
  static constexpr int NWARPS = 4 * NCWG;                // consumer warps
  static constexpr int NTHREADS = NWARPS * 32;           // consumer threads
  static constexpr int LAUNCH_THREADS = NTHREADS + 128;  // + the producer warpgroup
  // each warpgroup's 64 x 64 dQ block: rows DQ_ROW0 · g, columns DQ_COL0 · g
  static constexpr bool DQ_SPLIT_ROWS = BMQ == 128;
  using KTile = SmemTile<BN, D>;
  using VTile = SmemTile<BN, DV>;
  using QTile = SmemTile<BMQ, D>;
  using OTile = SmemTile<BMQ, DV>;
  using STile = SmemTile<BN, BMQ>;  // dSᵀ: kv rows, q columns
  static constexpr int DQ_BYTES = BMQ * D * 4;
  static constexpr int K_OFF = 0;
  static constexpr int V_OFF = K_OFF + KTile::BYTES;
  static constexpr int Q_OFF = V_OFF + VTile::BYTES;
  static constexpr int O_OFF = Q_OFF + STAGES * QTile::BYTES;
  static constexpr int S_OFF = O_OFF + STAGES * OTile::BYTES;
  static constexpr int DQ_OFF = S_OFF + 2 * STile::BYTES;
  static constexpr int LSE_OFF = DQ_OFF + 2 * DQ_BYTES;
  static constexpr int DELTA_OFF = LSE_OFF + STAGES * BMQ * 4;
  static constexpr int BAR_OFF = DELTA_OFF + STAGES * BMQ * 4;
  // kv_full, q_full[STAGES], q_empty[STAGES]; DET: dq_full[2], dq_empty[2], then the two DqTasks
  static constexpr int TASK_OFF = BAR_OFF + (1 + 2 * STAGES + (DET ? 4 : 0)) * 8;
  static constexpr int SMEM_BYTES = TASK_OFF + (DET ? 2 * 16 : 0);
  // setmaxnreg budgets (tma.cuh: the consumers' inc takes only what the CTA was launched with, 168
  // a thread here). The deterministic variant's writer warp keeps to the producers' 24 too: 32
  // (ptxas spills none there at D128) leaves the pool 1024 registers short, and every deterministic
  // launch hung before its first wgmma; 32 + 232 moves the spills into the D64 consumers' loop.
  static constexpr int REG_PRODUCER = 24, REG_CONSUMER = 240;
  static_assert(D == 64 || D == 128, "64-column panels, wgmma N of 64 or 128");
  static_assert((D == 64 && BMQ == 128) || (D == 128 && BMQ == 64), "each warpgroup's dQ block is 64 x 64");
  static_assert(STAGES >= 2, "at least double buffering");
  static_assert(setmaxnreg_fits(REG_PRODUCER, REG_CONSUMER, NTHREADS), "setmaxnreg: the registers the CTA is launched with");
  static_assert(SMEM_BYTES <= 227 * 1024, "shared memory");
};

// D (64 x 64, f32) = A (64 x 16) · B (16 x 64) with both operands MN-major in shared memory
// (trans-a = trans-b = 1): dQ = dS K reads dS from the dSᵀ tile and K from the K tile as they lie.
template <typename T>
__device__ __forceinline__ void wgmma_ss_tt64(float* d, unsigned long long da, unsigned long long db, int scale_d);
#if FLEX_WGMMA
#define FLEX_WG_TT64(CT, PT)                                                                                  \
  template <>                                                                                                \
  __device__ __forceinline__ void wgmma_ss_tt64<CT>(float* d, unsigned long long da, unsigned long long db,   \
                                                    int scale_d) {                                           \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                                \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." PT "." PT                                     \
                 " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
                 "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 1, 1;\n}\n"   \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),       \
                   "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),   \
                   "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
                   "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
                   "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])                                        \
                 : "l"(da), "l"(db), "r"(scale_d));                                                          \
  }
FLEX_WG_TT64(__nv_bfloat16, "bf16")
FLEX_WG_TT64(__half, "f16")
#undef FLEX_WG_TT64
#endif

// Bulk reduce-add of `bytes` (a multiple of 16) of fp32 from shared memory into global memory,
// tracked by this thread's bulk async-group.
__device__ __forceinline__ void bulk_reduce_add_f32(float* gdst, unsigned ssrc, unsigned bytes) {
#if FLEX_WGMMA
  asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n" ::"l"(gdst), "r"(ssrc),
               "r"(bytes)
               : "memory");
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
#endif
}
// Wait until this thread's bulk groups have finished reading their shared-memory source.
__device__ __forceinline__ void bulk_wait_read_all() {
#if FLEX_WGMMA
  asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
#endif
}
// Wait until this thread's bulk groups have completed (their global writes done).
__device__ __forceinline__ void bulk_wait_all() {
#if FLEX_WGMMA
  asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
#endif
}
// The deterministic dQ order's counters (global memory, GPU scope): an acquiring load, a releasing
// increment, and the proxy fence that orders this thread's generic accesses to global memory with
// its bulk (async-proxy) ones.
__device__ __forceinline__ int ld_acquire_gpu(const int* p) {
  int v = 0;
#if FLEX_WGMMA
  asm volatile("ld.acquire.gpu.global.b32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
#endif
  return v;
}
__device__ __forceinline__ void red_release_gpu_inc(int* p) {
#if FLEX_WGMMA
  asm volatile("red.release.gpu.global.add.s32 [%0], 1;\n" ::"l"(p) : "memory");
#endif
}
__device__ __forceinline__ void fence_proxy_async_global() {
#if FLEX_WGMMA
  asm volatile("fence.proxy.async.global;\n" ::: "memory");
#endif
}

// One 16-byte shared store. (The fragment-ordered dQ stores: through a plain float4 pointer NVVM emitted half of
// them as v4 and split the rest into scalar stores.)
__device__ __forceinline__ void st_shared_v4_f32(unsigned addr, float x, float y, float z, float w) {
#if FLEX_WGMMA
  asm volatile("st.shared.v4.f32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "f"(x), "f"(y), "f"(z), "f"(w) : "memory");
#endif
}

// (the fragment order of dq_accum rows: dq_frag_col, special.cuh, next to the conversion that reads it)

// DET: one dQ tile for the writer warp — its first dq_accum row, the counter (index into
// dq_semaphore) and the rank to wait for, and its bytes (0: no more tiles).
struct DqTask {
  int row, sem, rank, bytes;
};

// DET with a block mask: kv tile kt's row of the dQ order's ranks (args.dq_rank, src/dq-order.ts),
// each visit's place in its q tile's order; null without a mask (the rank is the launch position)
template <class C>
__device__ __forceinline__ const int* dq_rank_row(const FlexBwdArgs& a, int b, int h, int kt) {
  if (!C::DET || !a.has_block_mask) return nullptr;
  return a.dq_rank + (((size_t)(a.bt.mB == 1 ? 0 : b) * a.bt.mH + (a.bt.mH == 1 ? 0 : h)) * a.bt.outer + kt) * a.bt.inner;
}
// kv tile kt's walk over its q tiles: the tables' lists (partial tiles, then full ones), or, DET with
// a mask, the dQ order's visits (dq_rank's second half): the q tiles in ascending order, partial and
// full merged, a full one as ~qt, so kv tiles that share q tiles reach them in the same order, a step
// apart. Those stand as the list's partial entries, so the walk costs no register more (the producer
// warp has 24).
template <class C>
__device__ __forceinline__ TileList bwd_walk(const FlexBwdArgs& a, int b, int h, int kt, int n_q_tiles) {
  TileList tl = tile_list(a.bt, a.has_block_mask, b, h, kt, n_q_tiles);
  if (C::DET && a.has_block_mask) {
    tl.partial = dq_rank_row<C>(a, b, h, kt) + (size_t)a.bt.mB * a.bt.mH * a.bt.outer * a.bt.inner;
    tl.full = tl.partial;  // not null: a mask's walk, not the identity
    tl.n_partial += tl.n_full;
    tl.n_full = 0;
  }
  return tl;
}
// An entry of the walk as a q tile, and whether the walk's i-th q tile is full (no mask to evaluate):
// the tables say so, or a DET walk marks a full one ~qt. The default body's walk is the tables' lists,
// whose entries pass as they are, so decoding them there is a no-op, but not for nvcc's schedule.
// Two forms, each in PTX a body the H100 has timed (session 18's A/B of 291af87, B4 H16 L4096 D64
// fwd+bwd): with the decoding in the default body too (FLEX_BWD_WALK_DECODES, `18647d6`'s form)
// causal, sliding-window and prefix-LM masks ran 8–10% slower and a document mask's 8% faster than
// with it only where the walk is a DET one (`291af87`'s). So the default body of a mask read through
// shared column values (FLEX_FA3_SMEM_COLS: the document masks) takes the first form, and every other
// body the second, the deterministic ones included (FLEX_BWD_DETERMINISTIC, one per NVRTC source; the
// harness, which instantiates both in one source without it, gives its deterministic document body the
// first). In the second, two returns under if constexpr rather than a `C::DET && …` term in one chain:
// with the term (folded away or not) nvcc orders the default body as in the first.
#if FLEX_FA3_SMEM_COLS && !FLEX_BWD_DETERMINISTIC
#define FLEX_BWD_WALK_DECODES 1
template <class C>
__device__ __forceinline__ int walk_tile(int v) { return v < 0 ? ~v : v; }
#else
#define FLEX_BWD_WALK_DECODES 0
template <class C>
__device__ __forceinline__ int walk_tile(int v) { return C::DET && v < 0 ? ~v : v; }
template <class C>
__device__ __forceinline__ bool walk_full(const FlexBwdArgs& a, const TileList& tl, int i) {
  if constexpr (C::DET) return !a.has_block_mask || tl.is_full(i) || tile_at(tl, i) < 0;
  else return !a.has_block_mask || tl.is_full(i);
}
#endif

template <class C, typename T>
__device__ __forceinline__ void bwd_fa3(const FlexBwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp,
                                        const FlexTensorMap& tq, const FlexTensorMap& tdo, const FlexTensorMap& tk,
                                        const FlexTensorMap& tv) {
#if FLEX_WGMMA
  constexpr int NTQ = C::BMQ / 8, NTD = C::D / 8, NTV = C::DV / 8, S = C::STAGES;
  constexpr int KSTEPS = C::D / 16, VSTEPS = C::DV / 16;
  constexpr int BAR_DS = 1;  // named barrier: both warpgroups' dSᵀ is in shared memory
  using KT = typename C::KTile;
  using VT = typename C::VTile;
  using QT = typename C::QTile;
  using OT = typename C::OTile;
  using ST = typename C::STile;
  extern __shared__ __align__(1024) unsigned char flex_smem[];
  T* sK = reinterpret_cast<T*>(flex_smem + C::K_OFF);
  T* sV = reinterpret_cast<T*>(flex_smem + C::V_OFF);
  T* sQ = reinterpret_cast<T*>(flex_smem + C::Q_OFF);
  T* sO = reinterpret_cast<T*>(flex_smem + C::O_OFF);
  T* sS = reinterpret_cast<T*>(flex_smem + C::S_OFF);
  float* sDQ = reinterpret_cast<float*>(flex_smem + C::DQ_OFF);
  float* sLse = reinterpret_cast<float*>(flex_smem + C::LSE_OFF);
  float* sDelta = reinterpret_cast<float*>(flex_smem + C::DELTA_OFF);
  [[maybe_unused]] DqTask* sTask = reinterpret_cast<DqTask*>(flex_smem + C::TASK_OFF);
  const unsigned bars = smem_u32(flex_smem + C::BAR_OFF);
  const unsigned kv_full = bars;
  auto q_full = [&](int st) { return bars + 8u + 8u * st; };
  auto q_empty = [&](int st) { return bars + 8u + 8u * (S + st); };
  // DET: the writer warp's handshakes per dQ buffer (full: the consumers' tile is in it; empty: its
  // reduce-add has completed)
  [[maybe_unused]] auto dq_full = [&](int buf) { return bars + 8u + 8u * (2 * S + buf); };
  [[maybe_unused]] auto dq_empty = [&](int buf) { return bars + 8u + 8u * (2 * S + 2 + buf); };
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  if (tid == 0) {
    mbar_init(kv_full, 1);
    for (int st = 0; st < S; ++st) {
      mbar_init(q_full(st), 32);         // every producer lane (lse / delta stores; lane 0 the TMA bytes)
      mbar_init(q_empty(st), C::NTHREADS);  // one arrival per consumer thread
    }
    if constexpr (C::DET) {
      for (int buf = 0; buf < 2; ++buf) {
        mbar_init(dq_full(buf), 1);   // consumer thread 0, after the barrier that follows the stores
        mbar_init(dq_empty(buf), 1);  // the writer, once the reduce-add has completed
      }
    }
    fence_mbar_init();
  }
  __syncthreads();  // the only CTA-wide barrier

  // DET: the last kv tile first. The dQ order of a q tile is the order in which the kv tiles that
  // visit it are launched (blockIdx.x ascending, so kv tiles descending; dq_rank counts so), and a
  // CTA waits only for CTAs of the same (kv head, batch) with a smaller blockIdx.x. CTAs are
  // dispatched in increasing linear block index, so every CTA it waits for is resident or done
  // whenever it runs, and the lowest-indexed unfinished CTA waits for finished ones only: it
  // finishes, and by induction every CTA does — no deadlock, whatever the occupancy. Descending
  // kv tiles suit causal masks: kv tile kt visits q tiles kt.. in ascending order and is last in
  // line exactly for those its predecessors (kv tiles > kt) have passed a step earlier.
  const int kt = C::DET ? gridDim.x - 1 - blockIdx.x : blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
  const int G = a.Hq / a.Hkv, Lq = a.Lq, Lkv = a.Lkv;
  const int kv0 = kt * C::BN;
  const int n_q_tiles = (Lq + C::BMQ - 1) / C::BMQ;

  if (warp >= C::NWARPS) {
    // ---- producer warpgroup: its first warp streams the q tiles ---------------------------------
    setmaxnreg_dec<C::REG_PRODUCER>();
    if constexpr (C::DET) {
      // ---- DET: its second warp adds the dQ tiles in the fixed order ----------------------------
      // (the consumers describe each tile in sTask: the writer keeps to the few registers it has)
      if (warp == C::NWARPS + 1) {
        // (its own exit: nothing the producer needs stays live across this loop)
        for (int it = 0; lane == 0; ++it) {
          const int buf = it & 1;
          mbar_wait(dq_full(buf), (it >> 1) & 1);
          const DqTask task = sTask[buf];
          if (task.bytes == 0) break;  // the consumers' end mark
          int* sem = a.dq_semaphore + task.sem;
          while (ld_acquire_gpu(sem) != task.rank) {}
          fence_proxy_async_global();  // the acquire above → the reduce-add (async proxy)
          bulk_reduce_add_f32(a.dq_accum + (size_t)task.row * C::D, smem_u32(sDQ + buf * (C::BMQ * C::D)), task.bytes);
          bulk_wait_all();             // its global writes are done …
          fence_proxy_async_global();  // … and ordered before the release
          red_release_gpu_inc(sem);
          mbar_arrive(dq_empty(buf));
        }
        return;
      }
    }
    if (warp != C::NWARPS) return;
    if (lane == 0) {
      tma_prefetch_desc(tq);
      tma_prefetch_desc(tdo);
      mbar_arrive_expect_tx(kv_full, KT::BYTES + VT::BYTES);
#pragma unroll
      for (int p = 0; p < C::D / 64; ++p) tma_load_4d(smem_u32(sK + p * KT::PANEL), tk, kv_full, p * 64, kv0, hk, b);
#pragma unroll
      for (int p = 0; p < C::DV / 64; ++p) tma_load_4d(smem_u32(sV + p * VT::PANEL), tv, kv_full, p * 64, kv0, hk, b);
    }
    int it = 0;
    for (int g = 0; g < G; ++g) {
      const int h = hk * G + g;
      const TileList tl = bwd_walk<C>(a, b, h, kt, n_q_tiles);
      const int n = tl.count();
      const size_t head_row0 = (size_t)(b * a.Hq + h) * Lq;
      for (int i = 0; i < n; ++i, ++it) {
        const int st = it % S, use = it / S;
        const int qt = walk_tile<C>(tile_at(tl, i)), q0 = qt * C::BMQ;
        if (use > 0) mbar_wait(q_empty(st), (use - 1) & 1);
        for (int j = lane; j < C::BMQ; j += 32) bwd_row_stats(a, head_row0, q0 + j, sLse[st * C::BMQ + j], sDelta[st * C::BMQ + j]);
        if (lane == 0) {
          mbar_arrive_expect_tx(q_full(st), QT::BYTES + OT::BYTES);
#pragma unroll
          for (int p = 0; p < C::D / 64; ++p)
            tma_load_3d(smem_u32(sQ + st * QT::ELEMS + p * QT::PANEL), tq, q_full(st), p * 64, q0, b * a.Hq + h);
#pragma unroll
          for (int p = 0; p < C::DV / 64; ++p)
            tma_load_3d(smem_u32(sO + st * OT::ELEMS + p * OT::PANEL), tdo, q_full(st), p * 64, q0, b * a.Hq + h);
        } else {
          mbar_arrive(q_full(st));
        }
      }
    }
    return;
  }

  // ---- consumer warpgroups ---------------------------------------------------------------------
  setmaxnreg_inc<C::REG_CONSUMER>();
  const int wg = warp >> 2;
  const int wrow = warp * 16;  // this warp's first kv row inside the tile (warpgroup wg: 64wg..)
  const float scale = a.scale;
  [[maybe_unused]] const float scale_log2 = a.scale * FLEX_LOG2E;
  const bool kv_bound = kv0 + C::BN > Lkv;
  // this warpgroup's dQ block: dSᵀ panel / K panel it reads, and where the block lies in the tile
  const T* sKdq = sK + (C::DQ_SPLIT_ROWS ? 0 : wg * KT::PANEL);
  const int dq_row0 = C::DQ_SPLIT_ROWS ? 64 * wg : 0, dq_col0 = C::DQ_SPLIT_ROWS ? 0 : 64 * wg;

  float dk[NTD][4], dv[NTV][4];
#pragma unroll
  for (int i = 0; i < NTD; ++i) dk[i][0] = dk[i][1] = dk[i][2] = dk[i][3] = 0.f;
#pragma unroll
  for (int i = 0; i < NTV; ++i) dv[i][0] = dv[i][1] = dv[i][2] = dv[i][3] = 0.f;
  mbar_wait(kv_full, 0);

  int it = 0;
  float* pending_dq = nullptr;  // thread 0: the previous q tile's dq_accum rows, not yet reduced
  unsigned pending_bytes = 0;
  for (int g = 0; g < G; ++g) {
    const int h = hk * G + g;
    const TileList tl = bwd_walk<C>(a, b, h, kt, n_q_tiles);
    const int n = tl.count();
    const size_t head_row0 = (size_t)(b * a.Hq + h) * Lq;
    // the mods' per-key parts for this thread's two kv rows, once per head
    FlexColVals cvk[2];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) cvk[hf] = flex_col_vals(b, h, kv0 + wrow + (lane >> 2) + hf * 8, sp, mp);
    // DET: this kv tile's ranks in the dQ order, visit by visit of its walk (null: no block mask,
    // where every kv tile visits every q tile and the rank is the CTA's launch position)
    [[maybe_unused]] const int* ranks = dq_rank_row<C>(a, b, h, kt);

    for (int i = 0; i < n; ++i, ++it) {
      const int st = it % S;
      const T* cQ = sQ + st * QT::ELEMS;
      const T* cO = sO + st * OT::ELEMS;
      const float* cLse = sLse + st * C::BMQ;
      const float* cDelta = sDelta + st * C::BMQ;
      T* cS = sS + (it & 1) * ST::ELEMS;
      float* cDQ = sDQ + (it & 1) * (C::BMQ * C::D);
#if FLEX_BWD_WALK_DECODES
      // spelled out, not through a walk_full: as a function nvcc schedules it a third way, untimed
      const int visit = tile_at(tl, i);
      const int q0 = walk_tile<C>(visit) * C::BMQ;
      const bool full = !a.has_block_mask || tl.is_full(i) || visit < 0;
#else
      const int q0 = walk_tile<C>(tile_at(tl, i)) * C::BMQ;
      const bool full = walk_full<C>(a, tl, i);
#endif
      const bool check = !full || kv_bound || q0 + C::BMQ > Lq;
      mbar_wait(q_full(st), (it / S) & 1);

      // ---- Sᵀ = K Qᵀ and dPᵀ = V dOᵀ, issued together ---------------------------------------------
      float s[NTQ][4], dp[NTQ][4];
      wgmma_fence();
      wgmma_rows<C::BMQ, KSTEPS, KT::PANEL, QT::PANEL>(&s[0][0], sK + wg * 64 * 64, cQ);
      wgmma_commit();
      wgmma_rows<C::BMQ, VSTEPS, VT::PANEL, OT::PANEL>(&dp[0][0], sV + wg * 64 * 64, cO);
      wgmma_commit();
      wgmma_wait<1>();
      wgmma_fence_regs<NTQ * 4>(&s[0][0]);
      // FLEX_FA3_SMEM_COLS: this lane's row of the current 32 (rows 32r + lane, loaded every fourth
      // column pair: one at a time, as all of a tile's spill at D64 even after the wait)
      [[maybe_unused]] FlexRowVals rv_lane;

      // ---- Pᵀ (in s) and dSᵀ = Pᵀ ∘ (dPᵀ − delta) ∘ score_mod' (in dp) ---------------------------
      // Light score mods (identity, or derivative one: alibi, relative position) without capture
      // gradients: P while dPᵀ is still on the tensor cores, then dS. Otherwise one pass after both
      // products, so neither score_mod' nor the score needs a register array (D64's 128-column
      // tiles would spill).
      constexpr bool FUSED = !(FLEX_SCORE_MOD_IS_IDENTITY || FLEX_SCORE_MOD_GRAD_IS_ONE) || FLEX_HAS_CAPTURE_GRADS;
      if constexpr (FUSED) {
        wgmma_wait<0>();
        wgmma_fence_regs<NTQ * 4>(&dp[0][0]);
      }
#pragma unroll
      for (int nt = 0; nt < NTQ; ++nt) {
        // the per-query parts of the mods for this column pair (full tiles of an identity score
        // mod need none), loaded per pair: a whole tile's (document ids) would spill at D64
        FlexRowVals rvq[2];
        if (!FLEX_SCORE_MOD_IS_IDENTITY || !full) {
          if constexpr (FLEX_FA3_SMEM_COLS != 0) {
            if ((nt & 3) == 0) rv_lane = flex_row_vals(b, h, q0 + 8 * nt + lane, sp, mp);
          }
#pragma unroll
          for (int c1 = 0; c1 < 2; ++c1) {
            // row 8nt + 2(lane mod 4) + c1 is row 32(nt / 4) + lane' with lane' = 8(nt mod 4) + 2(lane mod 4) + c1
            if constexpr (FLEX_FA3_SMEM_COLS != 0) rvq[c1] = shfl_any(rv_lane, (nt & 3) * 8 + (lane & 3) * 2 + c1);
            else rvq[c1] = flex_row_vals(b, h, q0 + nt * 8 + (lane & 3) * 2 + c1, sp, mp);
          }
        }
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int kj = kv0 + wrow + (lane >> 2) + ((c & 2) ? 8 : 0);
          const int ql = nt * 8 + (lane & 3) * 2 + (c & 1);
          const int qi = q0 + ql;
          bool vis = true;
          if (check) {
            vis = qi < Lq && kj < Lkv;
#if !FLEX_MASK_MOD_IS_TRUE
            if (!full && vis) vis = flex_mask_mod_rc(b, h, qi, kj, rvq[c & 1], cvk[c >> 1], mp);
#endif
          }
          [[maybe_unused]] const float score = s[nt][c] * scale;
          [[maybe_unused]] float gr = 1.f;
#if FLEX_SCORE_MOD_IS_IDENTITY
          const float x = s[nt][c] * scale_log2;
#else
          float x = -FLEX_INF;
          if (vis) x = flex_score_mod_rc(score, b, h, qi, kj, rvq[c & 1], cvk[c >> 1], sp) * FLEX_LOG2E;
#if !FLEX_SCORE_MOD_GRAD_IS_ONE
          gr = vis ? flex_score_mod_grad_rc(score, b, h, qi, kj, rvq[c & 1], cvk[c >> 1], sp) : 0.f;
#endif
#endif
          const float p = vis ? fast_exp2(x - cLse[ql]) : 0.f;
          s[nt][c] = p;
          if constexpr (FUSED) {
            const float dpost = p * (dp[nt][c] - cDelta[ql]);
#if FLEX_HAS_CAPTURE_GRADS
            // a masked or −∞-post key adds nothing to a capture's gradient (§4), even where its dp is
            // NaN (a non-finite v) or its row's lse is (exp2(−∞ − NaN) is NaN): the atomics cannot be
            // recomputed in the epilogue as dq, dk and dv are
            if (p != 0.f && x != -FLEX_INF && dpost != 0.f) flex_score_mod_capture_grads(dpost, score, b, h, qi, kj, sp);
#endif
            dp[nt][c] = dpost * gr;
          }
        }
      }
      if constexpr (!FUSED) {
        wgmma_wait<0>();
        wgmma_fence_regs<NTQ * 4>(&dp[0][0]);
#pragma unroll
        for (int nt = 0; nt < NTQ; ++nt)
#pragma unroll
          for (int c = 0; c < 4; ++c) dp[nt][c] = s[nt][c] * (dp[nt][c] - cDelta[nt * 8 + (lane & 3) * 2 + (c & 1)]);
      }

      // ---- dV += Pᵀ dO, dK += dSᵀ Q (register A operands, in flight during the dSᵀ stores) ------
      unsigned pa[NTQ / 2][4], da[NTQ / 2][4];
#pragma unroll
      for (int k2 = 0; k2 < NTQ / 2; ++k2) {
        pack_p<T, NTQ>(pa[k2], s, k2);
        pack_p<T, NTQ>(da[k2], dp, k2);
      }
      wgmma_fence();
#pragma unroll
      for (int k2 = 0; k2 < NTQ / 2; ++k2)  // q rows 16·k2.. (the reduction) of every panel of dO
        wgmma_rs<C::DV, T>(&dv[0][0], pa[k2], wgmma_desc_sw128_mn(smem_u32(cO + k2 * 16 * 64), OT::PANEL * 2));
#pragma unroll
      for (int k2 = 0; k2 < NTQ / 2; ++k2)
        wgmma_rs<C::D, T>(&dk[0][0], da[k2], wgmma_desc_sw128_mn(smem_u32(cQ + k2 * 16 * 64), QT::PANEL * 2));
      wgmma_commit();

      // dSᵀ -> shared (A-fragment registers: rows g / g+8, columns 2t.. of q sub-tiles 2k2, 2k2+1)
#pragma unroll
      for (int k2 = 0; k2 < NTQ / 2; ++k2) {
        const int r0 = wrow + (lane >> 2), cq = (lane & 3) * 2;
        *reinterpret_cast<unsigned*>(cS + ST::off(r0, 2 * k2) + cq) = da[k2][0];
        *reinterpret_cast<unsigned*>(cS + ST::off(r0 + 8, 2 * k2) + cq) = da[k2][1];
        *reinterpret_cast<unsigned*>(cS + ST::off(r0, 2 * k2 + 1) + cq) = da[k2][2];
        *reinterpret_cast<unsigned*>(cS + ST::off(r0 + 8, 2 * k2 + 1) + cq) = da[k2][3];
      }
      fence_proxy_async_smem();  // the dSᵀ stores → the dQ wgmma's async proxy
      // One barrier per q tile. Past it: both warpgroups' dSᵀ of this tile is in cS; the dQ block
      // stores of the previous tile are done (thread 0 reduces them now); cS and cDQ were last
      // read two tiles ago — the dQ wgmma of tile it − 2 completed before its warpgroup reached
      // the previous barrier, and thread 0 waits here, before arriving, until the reduce of tile
      // it − 2 (issued after the previous barrier) has read cDQ.
      // DET: the writer warp reduces instead of thread 0; thread 0 waits here until it has finished
      // with cDQ (tile it − 2) and hands it the previous tile after the barrier.
      if constexpr (C::DET) {
        if (tid == 0 && it >= 2) mbar_wait(dq_empty(it & 1), ((it >> 1) - 1) & 1);
      } else {
        if (tid == 0) bulk_wait_read_all();
      }
      named_bar_sync(BAR_DS, C::NTHREADS);
      if constexpr (C::DET) {
        if (tid == 0 && it > 0) mbar_arrive(dq_full((it - 1) & 1));
      } else {
        if (tid == 0 && pending_dq != nullptr) bulk_reduce_add_f32(pending_dq, smem_u32(sDQ + ((it - 1) & 1) * (C::BMQ * C::D)), pending_bytes);
      }

      // ---- dQ block = dS K (64 x 64, over the tile's 128 keys) --------------------------------------
      float dq[8][4];
      wgmma_fence();
      {
        const T* aS = cS + (C::DQ_SPLIT_ROWS ? wg * ST::PANEL : 0);
#pragma unroll
        for (int kk = 0; kk < C::BN / 16; ++kk)
          wgmma_ss_tt64<T>(&dq[0][0], wgmma_desc_sw128_mn(smem_u32(aS + kk * 16 * 64), ST::PANEL * 2),
                           wgmma_desc_sw128_mn(smem_u32(sKdq + kk * 16 * 64), KT::PANEL * 2), kk > 0);
      }
      wgmma_commit();
      wgmma_wait<0>();  // dV, dK and dQ done: the Q / dO stage is free
      wgmma_fence_regs<NTD * 4>(&dk[0][0]);
      wgmma_fence_regs<NTV * 4>(&dv[0][0]);
      wgmma_fence_regs<32>(&dq[0][0]);
      // every consumer thread releases the stage itself: its own reads of lse / delta (generic
      // proxy) are then ordered before the producer's next writes by the mbarrier alone
      mbar_arrive(q_empty(st));
      // the fragment order of dq_frag_col: r ≡ lane / 4 (mod 8), so the chunk is (t · 4 + k) ^ (lane / 4)
#pragma unroll
      for (int k = 0; k < 4; ++k)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          const int r = dq_row0 + (warp & 3) * 16 + (lane >> 2) + hf * 8;
          const int chunk = ((lane & 3) * 4 + k) ^ (lane >> 2);
          st_shared_v4_f32(smem_u32(cDQ + r * C::D + dq_col0 + chunk * 4), dq[2 * k][2 * hf], dq[2 * k][2 * hf + 1],
                           dq[2 * k + 1][2 * hf], dq[2 * k + 1][2 * hf + 1]);
        }
      fence_proxy_async_smem();  // the dQ stores → the bulk reduce's async proxy
      if (C::DET && tid == 0) {  // the writer reads it after the next barrier's dq_full (cDQ's slot is free)
        sTask[it & 1] = DqTask{(int)(head_row0 + q0), (b * a.Hq + h) * n_q_tiles + q0 / C::BMQ,
                               ranks != nullptr ? ranks[i] : (int)gridDim.x - 1 - kt, min(C::BMQ, Lq - q0) * C::D * 4};
      }
      if (!C::DET && tid == 0) {
        pending_dq = a.dq_accum + (head_row0 + q0) * C::D;
        pending_bytes = (unsigned)(min(C::BMQ, Lq - q0) * C::D * 4);
      }
    }
  }
  if constexpr (C::DET) {
    // the last q tile's dQ to the writer warp (it keeps the CTA alive until its adds are done), then
    // the end mark in the next slot once the writer is done with that slot's previous tile
    if (it > 0) named_bar_sync(BAR_DS, C::NTHREADS);
    if (tid == 0) {
      if (it > 0) mbar_arrive(dq_full((it - 1) & 1));
      if (it >= 2) mbar_wait(dq_empty(it & 1), ((it >> 1) - 1) & 1);
      sTask[it & 1] = DqTask{0, 0, 0, 0};
      mbar_arrive(dq_full(it & 1));
    }
  } else if (it > 0) {  // the last q tile's dQ
    named_bar_sync(BAR_DS, C::NTHREADS);
    if (tid == 0) {
      bulk_reduce_add_f32(pending_dq, smem_u32(sDQ + ((it - 1) & 1) * (C::BMQ * C::D)), pending_bytes);
      bulk_wait_all();
    }
  }

  // ---- write dK (· scale) and dV ----------------------------------------------------------------
  bwd_store_dkdv<C::D, C::DV, NTD, NTV, T>(a, b, hk, kv0 + wrow + (lane >> 2), lane, dk, dv);
  bwd_fix_dkdv<C::D, C::DV, NTD, NTV, C::BN, C::BMQ, T>(a, sp, mp, b, hk, kv0 + wrow + (lane >> 2), lane, dk, dv);
#else
  __trap();  // launched without an sm_90a target: config.ts selects this body only for Hopper
#endif
}

}  // namespace flex

// ---------------------------------------------------------------------------------------------
// entry point (FLEX_BWD_FA3: src/config.ts selects this body; flex_bwd.cuh then leaves
// flex_bwd_dkdv to it and keeps flex_bwd_preprocess / flex_bwd_dq_convert)
//   flex_bwd_dkdv   grid (ceil(Lkv / 128), Hkv, B), block LAUNCH_THREADS, dynamic shared memory
//                   SMEM_BYTES; the tensor maps of Q, dO ([B·Hq, Lq, E], boxes 64 x BMQ), K and V
//                   ([B, Hkv, Lkv, E], boxes 64 x 128) after the params structs;
//                   FLEX_BWD_DETERMINISTIC 1: the fixed dQ order (args.dq_semaphore zeroed, dq_rank)
// ---------------------------------------------------------------------------------------------
#if defined(FLEX_HEAD_DIM) && !defined(FLEX_NO_ENTRY_POINTS) && defined(FLEX_BWD_FA3) && FLEX_BWD_FA3 && \
    !defined(FLEX_DTYPE_F32)
#ifndef FLEX_BWD_STAGES
#define FLEX_BWD_STAGES 2
#endif
#ifndef FLEX_BWD_DETERMINISTIC
#define FLEX_BWD_DETERMINISTIC 0
#endif
typedef flex::BwdFa3Cfg<FLEX_HEAD_DIM, FLEX_BWD_BMQ, FLEX_BWD_STAGES, FLEX_BWD_DETERMINISTIC != 0>
    FlexBwdConfig;
extern "C" __global__ void __launch_bounds__(FlexBwdConfig::LAUNCH_THREADS, 1)
    flex_bwd_dkdv(const FlexBwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp,
                  const __grid_constant__ FlexTensorMap tq, const __grid_constant__ FlexTensorMap tdo,
                  const __grid_constant__ FlexTensorMap tk, const __grid_constant__ FlexTensorMap tv) {
  flex::bwd_fa3<FlexBwdConfig, flex_elem_t>(args, sp, mp, tq, tdo, tk, tv);
}
// the dQ conversion of flex_bwd.cuh in this body's tile units (special.cuh's careful dQ)
extern "C" __global__ void __launch_bounds__(256)
    flex_bwd_dq_convert(const FlexBwdArgs args, const FlexScoreParams sp, const FlexMaskParams mp) {
  flex::bwd_dq_convert_careful<flex_elem_t, FlexBwdConfig::BN, FlexBwdConfig::BMQ, true>(
      args, FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, sp, mp);
}
#endif

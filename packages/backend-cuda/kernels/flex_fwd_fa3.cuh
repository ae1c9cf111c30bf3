// flexattn forward, FlashAttention-3-class Hopper body (sm_90a): a persistent, warp-specialised
// kernel — a producer warpgroup streaming Q/K/V with TMA and NCWG consumer warpgroups on wgmma.
//
// Structure (the design of FlashAttention-3's sm90 forward, written for the flexattn hooks):
//  - Persistent grid (one CTA per SM). Work tiles are (q tile, head, batch), in sections of heads
//    whose K/V fit in L2, longest first inside a section (last q tiles first: causal and prefix
//    masks put their longest rows there), handed out by the launch's own counter (FA3's dynamic
//    scheduler: a CTA that drew short tiles takes more); see Fa3Tiles and next_tile.
//  - Short q tile first: q tile t covers rows [t·BM − q_offset(Lq), (t+1)·BM − q_offset(Lq)), so
//    where Lq is no multiple of BM the partial tile is the first, the one that sees the fewest kv
//    tiles under a causal-like mask, and the expensive last tile is whole (fewer tile products).
//    The first tile's rows below 0 are out of range like rows past Lq: TMA zero-fills the part of
//    Q's box above the tensor (a negative start row), the bounds tests compare unsigned, and the
//    block tables are built with the same offset (src/launch-plan.ts).
//  - Producer warpgroup (the last one; setmaxnreg gives its registers to the consumers): one
//    thread walks the same tiles and the same block-table lists as the consumers and issues TMA
//    copies (128-byte swizzle = the SmemTile panel layout wgmma reads; rows past Lq / Lkv are
//    zero-filled by the copy engine) into a STAGES-deep ring. K and V have separate
//    full/empty mbarriers, so a K stage is refilled as soon as its S = Q Kᵀ is done. Q has its
//    own full/empty pair: the next tile's Q is loaded while this tile's last P·V and epilogue run.
//    Empty tiles of the block mask are never loaded.
//  - Consumer warpgroups own 64 query rows each. Ping-pong (named barriers 1..NCWG, FA3's
//    "warp scheduler barrier"): the warpgroups take turns issuing their products, so one
//    warpgroup's mods and softmax run while another's products occupy the tensor cores.
//    Intra-warpgroup overlap: tile j's S is issued together with tile j-1's O += P·V; the mods
//    and the softmax of tile j run while P·V is on the tensor cores; only the O rescale waits for
//    it. Every product completes inside its iteration (accumulators in flight across the loop's
//    back edge make ptxas serialise every wgmma); only the packed P crosses it, as the A operand
//    of the next P·V (P never goes through shared memory).
//  - The softmax keeps its reference max lazily: O and l are rescaled only when a row's max grew
//    by more than 2^FA3_RESCALE_LOG2 in the exponent (P ≤ 2^8 then, exact in fp32 and as a bf16 /
//    f16 operand); the true row max is tracked apart for max_scores (FLEX_MAX_SCORES only). lse =
//    m + log2(l) is exact for any reference m. A NaN or +inf post-mod score always moves m, which
//    keeps it: fwd_store makes such rows NaN without the true max.
//  - Full tiles evaluate no mask; the identity score mod evaluates no mod (one FFMA folds
//    scale·log2(e)); partial and boundary tiles take the checked path (fwd_post).
// Requires flex_fwd.cuh (fwd_cols / fwd_post / fwd_rescale_o / pack_p / fwd_store), wgmma.cuh,
// tma.cuh.

#ifndef FA3_RESCALE_LOG2
#define FA3_RESCALE_LOG2 8.0f
#endif
// Work tiles are handed out by a counter (FlashAttention-3's dynamic persistent scheduler) in
// Fa3Tiles' order, not a fixed round-robin: a CTA that drew short tiles takes more. A model of
// session 13 (kv tiles + 1 per work tile) put the fixed order at 90% of the mean load per SM for the
// bench's document mask at D64 (75% with BM 192, 82% at D128 L8192) and 85% for causal at D64, the
// counter at 97-99%. The counter is the launch's own (FlexFwdArgs::tile_counter, zeroed on the
// launch's stream right before it: src/launch-plan.ts), so launches on other streams, or after a
// launch that trapped, cannot share a schedule. The producer thread draws each tile and passes it to
// the consumers through a two-slot ring in shared memory (SCHED_OFF).
// FLEX_FA3_SMEM_COLS (the prelude's; src/config.ts sets it for a mask that reads a tensor under the
// identity score mod, e.g. a document mask): a partial tile's column values are computed once per
// warpgroup (one column a thread: one doc-id load instead of 32) into shared memory right after its
// S is issued, read back after a warpgroup barrier; and a partial tile inside the bounds evaluates
// the mask without the per-element q < Lq, kv < Lkv tests. H100 2026-12-07 (B4 H16 L4096 D64
// document): forward 0.73x of the per-thread loads with BM 128, and the 3-warpgroup BM 192 tile
// (which spilled 12 bytes before) 0.186 ms against 0.278. One buffer per warpgroup is enough: the
// turn barrier of the next S orders this tile's reads before the next tile's writes.
#ifndef FLEX_FA3_SMEM_COLS
#define FLEX_FA3_SMEM_COLS 0
#endif
// FLEX_SCORE_MOD_ADDITIVE (the prelude's, src/renderer.ts: the score mod is score + bias(b, h, q, kv)
// with a bias that does not read the score): lets Fa3Cfg::BACC fold the mod into S = Q Kᵀ.
#ifndef FLEX_SCORE_MOD_ADDITIVE
#define FLEX_SCORE_MOD_ADDITIVE 0
#endif
// FLEX_BIAS_KV_AFFINE (the prelude's, src/renderer.ts: additive, and the bias is affine in kv along a
// row, ir's kv-slope.ts: ALiBi, relative position, a head bias): the prelude defines
// flex_bias_kv_slope, dbias/dkv of a row. The bias of a row's columns in a key tile is then one
// base value per row and tile — flex_score_mod_rc(-0.f, …) at the thread's first column kvb, exactly
// the bias — plus slope·Δ by one FMA per element (Δ = the column's offset from kvb: 8·nt + (c & 1)),
// instead of the mod's per-element body (ALiBi: an integer subtract, the int→float trick's add and
// subtract and a multiply). Where the per-element path evaluates the mod it is the same sum, score·
// scale + bias, up to the FMA's rounding (kv-slope.ts: within about an ulp of the bias's magnitude).
// A warp whose base or far-end value (Δ = BN - 7) is not finite for some row keeps the per-element
// path for that tile: an infinite or NaN slope times Δ = 0 is NaN, where the mod may give ±inf.
#ifndef FLEX_BIAS_KV_AFFINE
#define FLEX_BIAS_KV_AFFINE 0
#endif

namespace flex {

// D: head dim of Q/K (64, 128 or 256), DV: of V (64, 128 or 256), BN: keys per stage (64 or 128; 80
// at D256, whose two stages of 80 keys just fit beside Q: FlashAttention-3's hdim-256 tile), NCWG:
// consumer warpgroups (2 or 3; BM = 64 · NCWG query rows per work tile), STAGES: K/V ring depth,
// EMU: of every 8 columns of 8 keys, how many take exp2 on the FMA pipe (fa3_exp2_fma) instead of
// the MUFU unit, whose 16 results per clock per SM balance the tensor cores only at D = 64.
// SMX: the softmax's instruction shape (0: fa3_softmax; 1: fa3_softmax_v, aimed at D64's dependency
// stalls). flex_fwd_entry.cuh picks both per head dim (measured there).
// BACC ("bias in the accumulator"): for an additive score mod (FLEX_SCORE_MOD_ADDITIVE; ignored
// otherwise) each S tile's accumulator starts at bias / scale (flex_score_mod_rc(-0, …): exactly the
// bias) and QKᵀ is accumulated onto it (wgmma scale-d 1), so the tensor cores do the add and the
// softmax takes the identity mod's path (scale·log2(e) in the exponent's FFMA, no per-element
// score·scale, + bias, ·log2(e)). Partial and boundary tiles still evaluate the mask and the bounds.
// Needs scale > 0 with a finite 1/scale (float): the host keeps the other body otherwise.
template <int D_, int DV_, int BN_, int NCWG_, int STAGES_, int EMU_ = 0, int SMX_ = 0, int BACC_ = 0>
struct Fa3Cfg {
  static constexpr int D = D_, DV = DV_, BN = BN_, NCWG = NCWG_, STAGES = STAGES_, EMU = EMU_, SMX = SMX_;
  static constexpr bool BACC = BACC_ != 0 && FLEX_SCORE_MOD_ADDITIVE != 0 && FLEX_SCORE_MOD_IS_IDENTITY == 0;
  static constexpr int BM = 64 * NCWG, MT = 1, MINB = 1;
  static constexpr int DP = D, DVP = DV;
  static constexpr int NWARPS = 4 * NCWG;                 // consumer warps
  static constexpr int NTHREADS = NWARPS * 32;            // consumer threads
  static constexpr int LAUNCH_THREADS = NTHREADS + 128;   // + the producer warpgroup
  // consumer warp w (0-based) owns rows 16w..16w+15 of the work tile (warpgroup w/4's 64-row block)
  static __device__ __forceinline__ int row0(int warp, int) { return warp * 16; }
  // the short tile first: rows the q tiles are shifted up by (q tile t starts at row t·BM − q_offset),
  // so that the last tile is whole; ir's shortTileFirstOffset (compile.test.ts pins the two together)
  static __host__ __device__ constexpr int q_offset(int Lq) { return (BM - Lq % BM) % BM; }
  using QTile = SmemTile<BM, D>;
  using KTile = SmemTile<BN, D>;
  using VTile = SmemTile<BN, DV>;
  // shared memory: Q, the K ring, the V ring (every panel 1024-byte aligned), then the mbarriers:
  // q_full, q_empty, k_full[STAGES], k_empty[STAGES], v_full[STAGES], v_empty[STAGES]
  static constexpr int K_OFF = QTile::BYTES;
  static constexpr int V_OFF = K_OFF + STAGES * KTile::BYTES;
  static constexpr int BAR_OFF = V_OFF + STAGES * VTile::BYTES;
  // the tile ring: sched_full[2], sched_empty[2], then the two slots (q tile, head, batch, -)
  static constexpr int SCHED_OFF = BAR_OFF + (2 + 4 * STAGES) * 8;
  static constexpr int SCHED_BYTES = 4 * 8 + 2 * 16;
  // FLEX_FA3_SMEM_COLS: each consumer warpgroup's column values of its current tile, a slot of
  // SCOL_SLOT bytes per key (src/config.ts reserves the same without knowing the mods' structs;
  // column values that do not fit take the per-thread loads: SMEM_COLS false)
  // Reserved where asked and where it fits beside the ring (not the harness's D128 3-stage variant).
  static constexpr int SCOL_SLOT = 16;
  static constexpr int SCOL_OFF = (SCHED_OFF + SCHED_BYTES + 15) / 16 * 16;
  static constexpr int SCOL_BYTES = NCWG * BN * SCOL_SLOT;
  static constexpr bool SCOL_RESERVED = FLEX_FA3_SMEM_COLS != 0 && SCOL_OFF + SCOL_BYTES <= 227 * 1024;
  static constexpr bool SMEM_COLS = SCOL_RESERVED && sizeof(FlexColVals) <= SCOL_SLOT;
  static constexpr int SMEM_BYTES = SCOL_RESERVED ? SCOL_OFF + SCOL_BYTES : SCHED_OFF + SCHED_BYTES;
  // The dynamic scheduler where the score mod is the identity (masks alone: the document mask and
  // causal, whose balance it was built for). Under a score mod the copy thread reading the ring
  // spills (196 bytes at D64 alibi, three warpgroups) or the consumers do at 224 registers (32 bytes,
  // D128 softcap): those keep the fixed round-robin and FA3's budgets.
  static constexpr bool DYN_SCHED = FLEX_SCORE_MOD_IS_IDENTITY != 0;
  // setmaxnreg budgets: 65536 registers over LAUNCH_THREADS. With DYN_SCHED the copy thread reads its
  // tiles from the scheduler's ring: with two consumer warpgroups it spills 44 bytes at FA3's 24
  // registers (D128 noop / causal, ptxas; 36 with the D64 document mask), none at 40, and the
  // consumers do not spill at 224 (232 at DV 256, whose O alone is 128 a thread); 40 · 128 + 224 ·
  // 256 and 40 · 128 + 232 · 256 fit the 168 · 384 the CTA is launched with. Three warpgroups: 32
  // and 160 either way (at 152 the consumers spill 48 bytes).
  static constexpr int REG_PRODUCER = NCWG == 3 ? 32 : DYN_SCHED ? 40 : 24;
  static constexpr int REG_CONSUMER = NCWG == 3 ? 160 : !DYN_SCHED ? 240 : DV <= 128 ? 224 : 232;
  // DV 256: O += P·V as two m64n128 products per k step (columns 0-127 and 128-255, two V panels each)
  static_assert((D == 64 || D == 128 || D == 256) && (DV == 64 || DV == 128 || DV == 256),
                "64-column panels, wgmma N of 64 or 128 (DV 256: two of 128)");
  static_assert(BN == 64 || BN == 128 || (BN == 80 && D == 256), "wgmma N of S");
  static_assert(NCWG == 2 || NCWG == 3, "ping-pong between two or three consumer warpgroups");
  static_assert(STAGES >= 2, "at least double buffering");
  static_assert(SMX == 0 || SMX == 1, "the default softmax or fa3_softmax_v");
  static_assert(setmaxnreg_fits(REG_PRODUCER, REG_CONSUMER, NTHREADS), "setmaxnreg: the registers the CTA is launched with");
  static_assert(SMEM_BYTES <= 227 * 1024, "shared memory");
};

// 2^x on the FMA pipe (FlashAttention-4's trick to unload the MUFU unit): x = j + f with j =
// round(x) (the 1.5·2^23 shift leaves it in the low mantissa bits) and |f| ≤ 1/2, 2^f by a cubic
// (Taylor; relative error below 1e-3, under a bf16 P's rounding), 2^j added to the exponent
// bits. x < -125 (masked keys, -inf included) gives exactly 0, as ex2.approx does.
__device__ __forceinline__ float fa3_exp2_fma(float x) {
  const float xc = fmaxf(x, -125.f);
  const float t = xc + 12582912.f;  // 1.5 · 2^23: round to nearest, j in the low bits
  const float f = xc - (t - 12582912.f);
  float p = fmaf(f, 0.0555041087f, 0.240226507f);
  p = fmaf(p, f, 0.693147181f);
  p = fmaf(p, f, 1.f);
  const int j = __float_as_int(t) - __float_as_int(12582912.f);
  const float r = __int_as_float(__float_as_int(p) + (int)((unsigned)j << 23));
  return x < -125.f ? 0.f : r;
}

// Online softmax of one 64-row block's tile with a lazily kept reference max (see above): turns
// S (u units, fwd_post) into P in place, updates l and the true max mx; alpha: the factor O's rows
// must be multiplied by. Returns whether any of this thread's rows moved its reference max.
template <class C>
__device__ __forceinline__ bool fa3_softmax(float (&s)[C::BN / 8][4], float (&m)[2], float (&l)[2], float (&mx)[2],
                                            float ku, float (&alpha)[2]) {
  constexpr int NTN = C::BN / 8;
  bool moved = false;
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const float tm = row_max<NTN>(s, hf);
    if constexpr (FLEX_MAX_SCORES != 0) mx[hf] = fmax_nan(mx[hf], tm);  // the true max keeps a NaN too
    float a = 1.f;
    // "!(… <= …)": a NaN tile max moves m too, and fmax_nan keeps it there (like +inf, which the
    // growth test takes anyway), so m decides the NaN rows in fwd_store with or without the true max
    if (m[hf] == -FLEX_INF || !((tm - m[hf]) * ku <= FA3_RESCALE_LOG2)) {
      const float m_new = fmax_nan(m[hf], tm);
      a = m[hf] == -FLEX_INF ? 0.f : fast_exp2((m[hf] - m_new) * ku);
      m[hf] = m_new;
      moved = true;
    }
    alpha[hf] = a;
    const float m_use = m[hf] == -FLEX_INF ? 0.f : m[hf] * ku;
    float sum = 0.f;
#pragma unroll
    for (int nt = 0; nt < NTN; ++nt) {
      const float x0 = fmaf(s[nt][2 * hf], ku, -m_use), x1 = fmaf(s[nt][2 * hf + 1], ku, -m_use);
      const bool emu = (nt & 7) < C::EMU;
      const float p0 = emu ? fa3_exp2_fma(x0) : fast_exp2(x0);
      const float p1 = emu ? fa3_exp2_fma(x1) : fast_exp2(x1);
      s[nt][2 * hf] = p0;
      s[nt][2 * hf + 1] = p1;
      sum += p0 + p1;
    }
    l[hf] = l[hf] * a + sum;
  }
  return moved;
}

// fa3_softmax with shorter dependency chains (same contract, same lazy reference max): each row's
// max in FA3_SMX_CHAINS interleaved chains (max is exact in any order), the two rows' quad shuffles
// side by side; the rescale decision by selects instead of a branch (an unmoved row computes
// exp2(0) = 1 and discards it), so ptxas can interleave the two rows' exp2 streams; the row sum in
// FA3_SMX_CHAINS chains too. A few chains, not a tree: at 3 consumer warpgroups S, P and O fill the
// 128 registers ptxas allots, and a full tree (16 partial maxes per row) spilled 108 bytes (ptxas -v;
// 4 chains: none, noop and alibi_rc). EMU as in fa3_softmax (the harness's v2: EMU 1 beside the
// shorter chains: 1 of 8 exp2 on the FMA pipe takes 1/8 off the MUFU unit, which balances the
// tensor cores at D64, for ~10 FMA-pipe instructions each; EMU 3 was issue-bound in session 7).
// ex2.approx.f16x2 is no way out on sm_90: ptxas emits two MUFU.EX2 and a PRMT for it.
#ifndef FA3_SMX_CHAINS
#define FA3_SMX_CHAINS 4
#endif
template <class C>
__device__ __forceinline__ bool fa3_softmax_v(float (&s)[C::BN / 8][4], float (&m)[2], float (&l)[2], float (&mx)[2],
                                              float ku, float (&alpha)[2]) {
  constexpr int NTN = C::BN / 8, CH = FA3_SMX_CHAINS;
  static_assert(CH >= 1 && NTN % CH == 0, "chains split the n8 blocks evenly");
  float tm[2];
  {
    float c[2][CH];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf)
#pragma unroll
      for (int i = 0; i < CH; ++i) c[hf][i] = fmax_nan(s[i][2 * hf], s[i][2 * hf + 1]);
#pragma unroll
    for (int nt = CH; nt < NTN; ++nt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) c[hf][nt % CH] = fmax_nan(c[hf][nt % CH], fmax_nan(s[nt][2 * hf], s[nt][2 * hf + 1]));
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      tm[hf] = c[hf][0];
#pragma unroll
      for (int i = 1; i < CH; ++i) tm[hf] = fmax_nan(tm[hf], c[hf][i]);
    }
  }
#pragma unroll
  for (int d = 1; d <= 2; d *= 2)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) tm[hf] = fmax_nan(tm[hf], __shfl_xor_sync(0xffffffffu, tm[hf], d));
  bool moved = false;
  float m_use[2];
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    if constexpr (FLEX_MAX_SCORES != 0) mx[hf] = fmax_nan(mx[hf], tm[hf]);
    // the same test as fa3_softmax: a NaN tile max moves m, and fmax_nan keeps it
    const bool was_empty = m[hf] == -FLEX_INF;
    const bool mv = was_empty || !((tm[hf] - m[hf]) * ku <= FA3_RESCALE_LOG2);
    const float m_new = mv ? fmax_nan(m[hf], tm[hf]) : m[hf];
    const float a = fast_exp2((m[hf] - m_new) * ku);  // was_empty: NaN or 0, replaced below
    alpha[hf] = was_empty ? 0.f : (mv ? a : 1.f);
    m[hf] = m_new;
    moved |= mv;
    m_use[hf] = m_new == -FLEX_INF ? 0.f : m_new * ku;
  }
  float sum[2][CH];
#pragma unroll
  for (int hf = 0; hf < 2; ++hf)
#pragma unroll
    for (int i = 0; i < CH; ++i) sum[hf][i] = 0.f;
#pragma unroll
  for (int nt = 0; nt < NTN; ++nt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const float x0 = fmaf(s[nt][2 * hf], ku, -m_use[hf]), x1 = fmaf(s[nt][2 * hf + 1], ku, -m_use[hf]);
      const bool emu = (nt & 7) < C::EMU;
      const float p0 = emu ? fa3_exp2_fma(x0) : fast_exp2(x0);
      const float p1 = emu ? fa3_exp2_fma(x1) : fast_exp2(x1);
      s[nt][2 * hf] = p0;
      s[nt][2 * hf + 1] = p1;
      sum[hf][nt % CH] += p0 + p1;
    }
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    float r = sum[hf][0];
#pragma unroll
    for (int i = 1; i < CH; ++i) r += sum[hf][i];
    l[hf] = l[hf] * alpha[hf] + r;
  }
  return moved;
}

// The persistent tile order. Heads (b·Hq + h) are cut into sections whose K/V fit in a share of L2
// (FA3_L2_BYTES); inside a section the work tiles go longest first (last q tile of every head of
// the section, then the one before, ...), so the CTAs running at once read the K/V of a few heads
// through L2 and a causal section ends with its short tiles. Each CTA's first tile is its
// blockIdx.x; with Fa3Cfg::DYN_SCHED the launch's counter hands out the rest in this order, to
// whichever CTA is free (decode), otherwise round k hands gridDim.x consecutive tiles to the CTAs,
// reversed in odd rounds (at). Both return false past the last tile, else (q tile, head, batch).
#ifndef FA3_L2_BYTES
#define FA3_L2_BYTES (24 << 20)
#endif
struct Fa3Tiles {
  int nQT, per, Hq, n_tiles, sec_heads;
  __device__ __forceinline__ Fa3Tiles(int nQT_, int Hq_, int B, int Lkv, int kv_row_bytes)
      : nQT(nQT_), per(Hq_ * B), Hq(Hq_), n_tiles(nQT_ * Hq_ * B) {
    const long long head_bytes = (long long)Lkv * kv_row_bytes;
    sec_heads = (int)max(1LL, min((long long)per, (long long)FA3_L2_BYTES / max(1LL, head_bytes)));
  }
  __device__ __forceinline__ bool at(int k, int& qt, int& h, int& b) const {
    const int pos = (k & 1) ? (int)gridDim.x - 1 - (int)blockIdx.x : (int)blockIdx.x;
    return decode(k * (int)gridDim.x + pos, qt, h, b);
  }
  // the t-th work tile of the order
  __device__ __forceinline__ bool decode(int t, int& qt, int& h, int& b) const {
    if (t >= n_tiles) return false;
    const int sec_tiles = sec_heads * nQT;
    const int sec = t / sec_tiles, local = t - sec * sec_tiles;
    const int heads = min(sec_heads, per - sec * sec_heads);  // the last section may be smaller
    qt = nQT - 1 - local / heads;  // longest first
    const int bh = sec * sec_heads + local % heads;
    h = bh % Hq;  // the heads of one GQA group next to each other
    b = bh / Hq;
    return true;
  }
};

template <class C, typename T>
__device__ __forceinline__ void fwd_fa3(const FlexFwdArgs& a, const FlexScoreParams& sp, const FlexMaskParams& mp,
                                        const FlexTensorMap& tq, const FlexTensorMap& tk, const FlexTensorMap& tv) {
#if FLEX_WGMMA
  constexpr int NTN = C::BN / 8, NTV = C::DV / 8, KSTEPS = C::D / 16, S = C::STAGES;
  constexpr int BAR_TURN0 = 1;  // named barrier of consumer warpgroup g's turn: BAR_TURN0 + g
  constexpr int TURN_THREADS = 256;  // the waiting warpgroup and the one handing over
  [[maybe_unused]] constexpr int BAR_COLS0 = 4;  // FLEX_FA3_SMEM_COLS: warpgroup g's column barrier 4 + g
  using QT = typename C::QTile;
  using KT = typename C::KTile;
  using VT = typename C::VTile;
  extern __shared__ __align__(1024) unsigned char flex_smem[];  // 1024: the 128-byte swizzle period
  T* sQ = reinterpret_cast<T*>(flex_smem);
  T* sK = reinterpret_cast<T*>(flex_smem + C::K_OFF);
  T* sV = reinterpret_cast<T*>(flex_smem + C::V_OFF);
  const unsigned bars = smem_u32(flex_smem + C::BAR_OFF);
  const unsigned q_full = bars, q_empty = bars + 8;
  auto k_full = [&](int st) { return bars + 16u + 8u * st; };
  auto k_empty = [&](int st) { return bars + 16u + 8u * (S + st); };
  auto v_full = [&](int st) { return bars + 16u + 8u * (2 * S + st); };
  auto v_empty = [&](int st) { return bars + 16u + 8u * (3 * S + st); };
  const unsigned sched_bars = smem_u32(flex_smem + C::SCHED_OFF);
  auto sched_full = [&](int slot) { return sched_bars + 8u * slot; };
  auto sched_empty = [&](int slot) { return sched_bars + 16u + 8u * slot; };
  volatile int* sched_tile = reinterpret_cast<volatile int*>(flex_smem + C::SCHED_OFF + 32);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  if (tid == 0) {
    for (int slot = 0; C::DYN_SCHED && slot < 2; ++slot) {
      mbar_init(sched_full(slot), 1);               // the scheduler thread, after writing the slot
      mbar_init(sched_empty(slot), C::NWARPS + 1);  // each consumer warp and the copy thread, after reading it
    }
    mbar_init(q_full, 1);  // the producer's arrive.expect_tx; the bytes complete the phase
    mbar_init(q_empty, C::NWARPS);
    for (int st = 0; st < S; ++st) {
      mbar_init(k_full(st), 1);
      mbar_init(k_empty(st), C::NWARPS);  // one arrival per consumer warp
      mbar_init(v_full(st), 1);
      mbar_init(v_empty(st), C::NWARPS);
    }
    fence_mbar_init();
  }
  __syncthreads();  // the only CTA-wide barrier

  const int Lq = a.Lq, Lkv = a.Lkv, nKT = (Lkv + C::BN - 1) / C::BN;
  const Fa3Tiles tiles((Lq + C::BM - 1) / C::BM, a.Hq, a.B, Lkv, (C::D + C::DV) * 2);
  const int G = a.Hq / a.Hkv;
  // this CTA's k-th work tile, for the copy thread (alone in its warp) and the consumer warps: from
  // the scheduler thread (DYN_SCHED), or the fixed order. False past the last.
  auto tile_of = [&](int k, int& qt, int& h, int& b, bool whole_warp) {
    if constexpr (C::DYN_SCHED) {
      const int slot = k & 1;
      mbar_wait(sched_full(slot), (k >> 1) & 1);
      qt = sched_tile[4 * slot];
      h = sched_tile[4 * slot + 1];
      b = sched_tile[4 * slot + 2];
      if (whole_warp) __syncwarp();  // every lane has read the slot before the warp frees it
      if (lane == 0) mbar_arrive(sched_empty(slot));
      return qt >= 0;  // -1: the scheduler's end mark
    } else {
      return tiles.at(k, qt, h, b);
    }
  };

  if (warp >= C::NWARPS) {
    // ---- producer warpgroup: one thread issues every copy ---------------------------------------
    setmaxnreg_dec<C::REG_PRODUCER>();
    if (lane != 0) return;
    if (C::DYN_SCHED && warp == C::NWARPS + 1) {
      // the scheduler thread: each CTA's first tile is its blockIdx.x, the launch's counter numbers
      // the rest; q tile -1 after the last. A warp of its own, and the slots hold the decoded tile,
      // so the copy thread fits its 32 registers beside three consumer warpgroups.
      for (int k = 0;; ++k) {
        const int t = k == 0 ? (int)blockIdx.x : (int)gridDim.x + atomicAdd(a.tile_counter, 1);
        const int slot = k & 1, use = k >> 1;
        int qt = -1, h = 0, b = 0;
        const bool more = tiles.decode(t, qt, h, b);
        if (use > 0) mbar_wait(sched_empty(slot), (use - 1) & 1);
        sched_tile[4 * slot] = more ? qt : -1;
        sched_tile[4 * slot + 1] = h;
        sched_tile[4 * slot + 2] = b;
        mbar_arrive(sched_full(slot));  // releases the slot's writes to the readers' wait
        if (!more) return;
      }
    }
    if (warp != C::NWARPS) return;
    tma_prefetch_desc(tq);
    tma_prefetch_desc(tk);
    tma_prefetch_desc(tv);
    int kv_it = 0, q_it = 0;
    int qt, h, b;
    auto next_tile = [&](int k) { return tile_of(k, qt, h, b, false); };
    for (int k = 0; next_tile(k); ++k) {
      const TileList tl = tile_list(a.bt, a.has_block_mask, b, h, qt, nKT);
      const int n = tl.count();
      if (n == 0) continue;
      if (q_it > 0) mbar_wait(q_empty, (q_it - 1) & 1);  // the previous tile's S products are done
      mbar_arrive_expect_tx(q_full, QT::BYTES);
      // the first tile's start row is negative where q_offset > 0: the copy engine zero-fills the
      // rows above the tensor as it does those past Lq (and counts them in the transaction bytes)
#pragma unroll
      for (int p = 0; p < C::D / 64; ++p)
        tma_load_3d(smem_u32(sQ + p * QT::PANEL), tq, q_full, p * 64, qt * C::BM - C::q_offset(a.Lq), b * a.Hq + h);
      ++q_it;
      const int hk = h / G;
      const int bk = a.k_batch_stride != 0 ? b : 0, bv = a.v_batch_stride != 0 ? b : 0;
      for (int i = 0; i < n; ++i, ++kv_it) {
        const int st = kv_it % S, use = kv_it / S;
        const int kv0 = tile_at(tl, i) * C::BN;
        if (use > 0) mbar_wait(k_empty(st), (use - 1) & 1);
        mbar_arrive_expect_tx(k_full(st), KT::BYTES);
#pragma unroll
        for (int p = 0; p < C::D / 64; ++p)
          tma_load_4d(smem_u32(sK + st * KT::ELEMS + p * KT::PANEL), tk, k_full(st), p * 64, kv0, hk, bk);
        if (use > 0) mbar_wait(v_empty(st), (use - 1) & 1);
        mbar_arrive_expect_tx(v_full(st), VT::BYTES);
#pragma unroll
        for (int p = 0; p < C::DV / 64; ++p)
          tma_load_4d(smem_u32(sV + st * VT::ELEMS + p * VT::PANEL), tv, v_full(st), p * 64, kv0, hk, bv);
      }
    }
    return;
  }

  // ---- consumer warpgroups ---------------------------------------------------------------------
  setmaxnreg_inc<C::REG_CONSUMER>();
  const int wg = warp >> 2;
  const int my_turn = BAR_TURN0 + wg, next_turn = BAR_TURN0 + (wg + 1) % C::NCWG;
  // warpgroup 0 takes the first turn: the last one hands it over before any was taken
  if (wg == C::NCWG - 1) named_bar_arrive(BAR_TURN0, TURN_THREADS);
  // scale·log2(e) folded into the exponent (the identity mod; BACC: S is score′ / scale), else 1
  const float ku = FLEX_SCORE_MOD_IS_IDENTITY || C::BACC ? a.scale * FLEX_LOG2E : 1.f;
  [[maybe_unused]] const float inv_scale = __frcp_rn(a.scale);  // BACC: the bias in S's units
  const T* sQw = sQ + wg * 64 * 64;  // this warpgroup's 64 rows (inside each Q panel)
  int kv_it = 0, q_it = 0;
  int qt, h, b;
  auto next_tile = [&](int k) { return tile_of(k, qt, h, b, true); };
  for (int k = 0; next_tile(k); ++k) {
    const TileList tl = tile_list(a.bt, a.has_block_mask, b, h, qt, nKT);
    const int n = tl.count();
    // below 0 in a shifted first tile. The offset is recomputed from the parameter every work tile:
    // held in a register across the loop it cost 80 bytes of spills (ptxas, D64 BACC alibi + causal,
    // three consumer warpgroups at 160 registers)
    const int q0 = qt * C::BM - C::q_offset(a.Lq);
    float o[1][NTV][4];
    float m[1][2], l[1][2], mx[1][2];
    FlexRowVals rv[1][2];
    // FLEX_BIAS_KV_AFFINE: the bias's kv slope of this thread's two rows (0 and unread without it)
    [[maybe_unused]] float kslope[2] = {0.f, 0.f};
#pragma unroll
    for (int i = 0; i < NTV; ++i) o[0][i][0] = o[0][i][1] = o[0][i][2] = o[0][i][3] = 0.f;
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      m[0][hf] = mx[0][hf] = -FLEX_INF;
      l[0][hf] = 0.f;
      // the mods' per-row parts, once per work tile (rows below 0 or past Lq compute on clamped
      // loads, never used)
      rv[0][hf] = flex_row_vals(b, h, q0 + warp * 16 + (lane >> 2) + hf * 8, sp, mp);
#if FLEX_BIAS_KV_AFFINE
      // a function of (b, h, q) and the parameters alone: score and kv are unread
      kslope[hf] = flex_bias_kv_slope(0.f, b, h, q0 + warp * 16 + (lane >> 2) + hf * 8, 0, sp);
#endif
    }
    if (n == 0) {  // every key masked: zero rows, lse = max = -inf; no loads were issued
      fwd_store<C, T>(a, o, m, l, ku, b, h, q0, warp, mx, sp, mp);
      continue;
    }
    // rows below 0 (a shifted first tile) or past Lq (the shift makes the last tile end at Lq: a
    // guard that costs one compare a work tile)
    const bool q_bound = q0 < 0 || q0 + C::BM > Lq;
    float s[1][NTN][4];
    unsigned pa[C::BN / 16][4];  // P of the previous tile, the A operand of its P·V
    auto issue_pv = [&](int st) {
      const T* cV = sV + st * VT::ELEMS;
      if constexpr (C::DV <= 128) {
#pragma unroll
        for (int k2 = 0; k2 < C::BN / 16; ++k2)
          wgmma_rs<C::DV, T>(&o[0][0][0], pa[k2], wgmma_desc_sw128_mn(smem_u32(cV + k2 * 16 * 64), VT::PANEL * 2));
      } else {
        // DV 256: the accumulator of columns 128c.. is o[0][16c..], read from V panels 2c and 2c+1
        // (one m64n256 instruction would need 128 accumulator operands in one asm statement)
#pragma unroll
        for (int k2 = 0; k2 < C::BN / 16; ++k2)
#pragma unroll
          for (int c = 0; c < C::DV / 128; ++c)
            wgmma_rs<128, T>(&o[0][16 * c][0], pa[k2],
                             wgmma_desc_sw128_mn(smem_u32(cV + 2 * c * VT::PANEL + k2 * 16 * 64), VT::PANEL * 2));
      }
      wgmma_commit();
    };
    auto tile_is_full = [&](int j) { return !a.has_block_mask || tl.is_full(j); };
    [[maybe_unused]] FlexColVals* sCol = reinterpret_cast<FlexColVals*>(flex_smem + C::SCOL_OFF) + wg * C::BN;
    auto fetch_cols = [&](int j) {
      if constexpr (C::SMEM_COLS && FwdNeedCols<true>::value) {
        if (FwdNeedCols<false>::value || !tile_is_full(j)) {
          const int kv0 = tile_at(tl, j) * C::BN;
          for (int c = tid & 127; c < C::BN; c += 128) sCol[c] = flex_col_vals(b, h, kv0 + c, sp, mp);
        }
      }
    };
#if FLEX_BIAS_KV_AFFINE
    // the bias of this thread's rows at its first column of the tile starting at kv0 (row half hf:
    // accumulator elements c with (c & 2) == 2·hf; column kv0 + 8·nt + 2·(lane & 3) + (c & 1)), and
    // whether the whole warp may take the fast path (every base and far end finite)
    auto affine_base = [&](int kv0, float (&base)[2]) {
      const int kvb = kv0 + 2 * (lane & 3);
      const FlexColVals cb = flex_col_vals(b, h, kvb, sp, mp);
      bool ok = true;
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        const int qi = q0 + C::row0(warp, 0) + (lane >> 2) + hf * 8;
        // -0 + bias = bias for every bias (NaN and -0 included): the mod's add folds away
        base[hf] = flex_score_mod_rc(-0.f, b, h, qi, kvb, rv[0][hf], cb, sp);
        ok = ok && isfinite(base[hf]) && isfinite(fmaf(kslope[hf], (float)(C::BN - 7), base[hf]));
      }
      return __all_sync(0xffffffffu, ok);
    };
#else
    auto affine_base = [](int, float (&)[2]) { return false; };
#endif
    auto post = [&](auto check_tag, auto partial_tag, int kv0) {
      constexpr bool PARTIAL = decltype(partial_tag)::value;
      if constexpr (C::SMEM_COLS && FwdNeedCols<PARTIAL>::value) {
        named_bar_sync(BAR_COLS0 + wg, 128);  // every column of the warpgroup's tile is in sCol
        FlexColVals cv[C::BN / 8][2];
#pragma unroll
        for (int nt = 0; nt < C::BN / 8; ++nt)
#pragma unroll
          for (int c = 0; c < 2; ++c) cv[nt][c] = sCol[nt * 8 + (lane & 3) * 2 + c];
        fwd_post<C, decltype(check_tag)::value, PARTIAL>(s, b, h, q0, warp, kv0, Lq, Lkv, a.scale, sp, mp, rv, cv);
      } else {
        FlexColVals cv[FwdNeedCols<PARTIAL>::value ? C::BN / 8 : 1][2];
        if constexpr (!C::BACC && FLEX_BIAS_KV_AFFINE != 0) {
          float base[2];
          if (affine_base(kv0, base)) {
            // fwd_post's flex_score_mod_rc(x·scale, …)·log2(e) with the bias by one FMA; then the
            // mask and the bounds alone (an element they hide becomes -inf whatever was computed)
#pragma unroll
            for (int nt = 0; nt < NTN; ++nt)
#pragma unroll
              for (int c = 0; c < 4; ++c)
                s[0][nt][c] = (s[0][nt][c] * a.scale + fmaf(kslope[c >> 1], (float)(nt * 8 + (c & 1)), base[c >> 1])) * FLEX_LOG2E;
            fwd_cols<C, PARTIAL>(cv, b, h, kv0, sp, mp);
            fwd_post<C, decltype(check_tag)::value, PARTIAL, 0, C::MT, false>(s, b, h, q0, warp, kv0, Lq, Lkv, a.scale, sp, mp, rv, cv);
            return;
          }
        }
        fwd_cols<C, PARTIAL>(cv, b, h, kv0, sp, mp);
        // BACC: the score mod is in S already; the mask and the bounds only
        fwd_post<C, decltype(check_tag)::value, PARTIAL, 0, C::MT, !C::BACC>(s, b, h, q0, warp, kv0, Lq, Lkv, a.scale, sp, mp, rv, cv);
      }
    };
    // S = Q Kᵀ of tile j into s, in this warpgroup's turn (the products of the warpgroups alternate);
    // BACC: S = bias / scale + Q Kᵀ (the bias written before the turn, while K may still be loading)
    auto issue_s = [&](int j, int st) {
      if constexpr (C::BACC) {
        const int kv0 = tile_at(tl, j) * C::BN;
        float base[2];
        if (FLEX_BIAS_KV_AFFINE != 0 && affine_base(kv0, base)) {
          // bias / scale by one FMA an element: base and slope taken to S's units once per tile
          const float bu[2] = {base[0] * inv_scale, base[1] * inv_scale};
          const float su[2] = {kslope[0] * inv_scale, kslope[1] * inv_scale};
#pragma unroll
          for (int nt = 0; nt < NTN; ++nt)
#pragma unroll
            for (int c = 0; c < 4; ++c) s[0][nt][c] = fmaf(su[c >> 1], (float)(nt * 8 + (c & 1)), bu[c >> 1]);
        } else {
#pragma unroll
          for (int nt = 0; nt < NTN; ++nt)
#pragma unroll
            for (int c = 0; c < 4; ++c) {
              const int qi = q0 + C::row0(warp, 0) + (lane >> 2) + ((c & 2) ? 8 : 0);
              const int kj = kv0 + nt * 8 + (lane & 3) * 2 + (c & 1);
              // -0 + bias = bias for every bias (NaN and -0 included): the mod's add folds away
              s[0][nt][c] = flex_score_mod_rc(-0.f, b, h, qi, kj, rv[0][c >> 1], flex_col_vals(b, h, kj, sp, mp), sp) * inv_scale;
            }
        }
      }
      mbar_wait(k_full(st), (kv_it / S) & 1);
      named_bar_sync(my_turn, TURN_THREADS);
      wgmma_fence();  // s (and for the P·V after it, pa and o) were last written by this thread's ALU code
      wgmma_rows<C::BN, KSTEPS, QT::PANEL, KT::PANEL, C::BACC>(&s[0][0][0], sQw, sK + st * KT::ELEMS);
      wgmma_commit();
    };
    // once S is in registers: free its K stage (and Q after the last tile), the mods, the softmax
    auto score = [&](int j, int st, float (&alpha)[2]) {
      wgmma_fence_regs<NTN * 4>(&s[0][0][0]);
      if (lane == 0) {
        mbar_arrive(k_empty(st));
        if (j == n - 1) mbar_arrive(q_empty);  // this tile's last read of Q
      }
      const int kv0 = tile_at(tl, j) * C::BN;
      const bool full = tile_is_full(j), bound = q_bound || kv0 + C::BN > Lkv;
      if (C::BACC && full && !bound) {
        // the fast path: nothing per element (the bias went in with QKᵀ)
      } else if (C::SMEM_COLS && !full && !bound) post(BoolTag<false>{}, BoolTag<true>{}, kv0);
      else if (!full) post(BoolTag<true>{}, BoolTag<true>{}, kv0);
      else if (bound) post(BoolTag<true>{}, BoolTag<false>{}, kv0);
      else post(BoolTag<false>{}, BoolTag<false>{}, kv0);
      if constexpr (C::SMX == 0) return fa3_softmax<C>(s[0], m[0], l[0], mx[0], ku, alpha);
      else return fa3_softmax_v<C>(s[0], m[0], l[0], mx[0], ku, alpha);
    };
    mbar_wait(q_full, q_it & 1);
    // The first tile alone (no P·V to issue with its S), peeled off the loop: with "if (j > 0) issue
    // P·V" in the body, o is an in-flight accumulator on one path into the join and plain registers
    // on the other, and ptxas injects a warpgroup.arrive there (C7519). Not at DV 256: the peeled
    // copy of the mods and the softmax spills beside O's 128 registers (ptxas -v), so that body
    // keeps the branch and the injected arrive.
    constexpr bool PEEL = C::DV <= 128;
    int j0 = 0;
    if constexpr (PEEL) {
      const int st = kv_it % S;
      issue_s(0, st);
      named_bar_arrive(next_turn, TURN_THREADS);
      fetch_cols(0);
      wgmma_wait<0>();
      float alpha[2];
      score(0, st, alpha);  // O is zero: nothing to rescale
#pragma unroll
      for (int k2 = 0; k2 < C::BN / 16; ++k2) pack_p<T, NTN>(pa[k2], s[0], k2);
      ++kv_it;
      j0 = 1;
    }
    for (int j = j0; j < n; ++j, ++kv_it) {
      const int st = kv_it % S, pv = kv_it - 1;
      const bool has_pv = PEEL || j > 0;  // a constant where the first tile is peeled
      issue_s(j, st);
      if (has_pv) {
        mbar_wait(v_full(pv % S), (pv / S) & 1);
        wgmma_fence();  // the V wait's loop lies between the fence above and P·V's reads of pa and o
        issue_pv(pv % S);
      } else {
        wgmma_commit();  // an empty group: the waits below are the same on every iteration
      }
      named_bar_arrive(next_turn, TURN_THREADS);
      fetch_cols(j);
      wgmma_wait<1>();  // S done (groups complete in order); P·V may still run
      float alpha[2];
      const bool moved = score(j, st, alpha);
      wgmma_wait<0>();  // P·V of tile j - 1 done: its V stage is free, O may be rescaled
      wgmma_fence_regs<NTV * 4>(&o[0][0][0]);
      if (has_pv && lane == 0) mbar_arrive(v_empty(pv % S));
      if (__any_sync(0xffffffffu, moved)) fwd_rescale_o<C>(o[0], alpha);
#pragma unroll
      for (int k2 = 0; k2 < C::BN / 16; ++k2) pack_p<T, NTN>(pa[k2], s[0], k2);
    }
    {  // the last tile's P·V (outside the turns: no S is issued with it)
      const int pv = kv_it - 1;
      mbar_wait(v_full(pv % S), (pv / S) & 1);
      wgmma_fence();
      issue_pv(pv % S);
      wgmma_wait<0>();
      wgmma_fence_regs<NTV * 4>(&o[0][0][0]);
      if (lane == 0) mbar_arrive(v_empty(pv % S));
    }
    ++q_it;
    fwd_store<C, T>(a, o, m, l, ku, b, h, q0, warp, mx, sp, mp);
  }
  // the last warpgroup's final hand-over is still pending on warpgroup 0's barrier: take it, so no
  // arrival outlives the CTA
  if (wg == 0) named_bar_sync(BAR_TURN0, TURN_THREADS);
#else
  __trap();  // launched without an sm_90a target: config.ts selects this body only for Hopper
#endif
}

}  // namespace flex

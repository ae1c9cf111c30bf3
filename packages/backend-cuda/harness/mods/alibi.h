// alibi: score + slope[h] * (kv - q), slope a captured f32 tensor that requires grad
#define MOD_NAME "alibi"
#define FLEX_SCORE_MOD_IS_IDENTITY 0
#define FLEX_MASK_MOD_IS_TRUE 1
#define FLEX_HAS_CAPTURE_GRADS 1
struct FlexScoreParams { const float* slope; float* grad_slope; int slope_dim0; int pad; };
struct FlexMaskParams { int unused; int pad; };
__device__ __forceinline__ float flex_score_mod(float score, int b, int h, int q, int kv, const FlexScoreParams& p) { return score + p.slope[h] * (float)(kv - q); }
__device__ __forceinline__ bool flex_mask_mod(int b, int h, int q, int kv, const FlexMaskParams& p) { return true; }
__device__ __forceinline__ float flex_score_mod_grad(float score, int b, int h, int q, int kv, const FlexScoreParams& p) { return 1.0f; }
__device__ __forceinline__ void flex_score_mod_capture_grads(float dpost, float score, int b, int h, int q, int kv, const FlexScoreParams& p) { atomicAdd(&p.grad_slope[h], dpost * (float)(kv - q)); }
#define HOST_HAS_CAPTURE 1
struct HostMod {
  static bool mask(const ModCtx&, int, int, int, int) { return true; }
  static double score(const ModCtx& c, double s, int, int h, int q, int kv) { return s + (double)c.slope[h] * (kv - q); }
  static double grad(const ModCtx&, double, int, int, int, int) { return 1.0; }
  // d post / d slope[h]
  static double capture(const ModCtx&, int, int, int q, int kv) { return (double)(kv - q); }
  static void setup(ModCtx& c, FlexScoreParams& sp, FlexMaskParams&) {
    sp.slope = c.d_slope; sp.grad_slope = c.d_grad_slope; sp.slope_dim0 = c.H;
  }
};

// softcap with tanh.approx.f32 (softcap({approx: true}))
#define MOD_NAME "softcap_approx"
#define FLEX_SCORE_MOD_IS_IDENTITY 0
#define FLEX_MASK_MOD_IS_TRUE 1
#define FLEX_HAS_CAPTURE_GRADS 0
struct FlexScoreParams { float cap; float inv_cap; };
struct FlexMaskParams { int unused; int pad; };
__device__ __forceinline__ float flex_tanh_approx(float x) { float y; asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
__device__ __forceinline__ float flex_score_mod(float score, int b, int h, int q, int kv, const FlexScoreParams& p) { return p.cap * flex_tanh_approx(score * p.inv_cap); }
__device__ __forceinline__ bool flex_mask_mod(int b, int h, int q, int kv, const FlexMaskParams& p) { return true; }
__device__ __forceinline__ float flex_score_mod_grad(float score, int b, int h, int q, int kv, const FlexScoreParams& p) { const float t = flex_tanh_approx(score * p.inv_cap); return 1.0f - t * t; }
__device__ __forceinline__ void flex_score_mod_capture_grads(float dpost, float score, int b, int h, int q, int kv, const FlexScoreParams& p) {}
struct HostMod {
  static bool mask(const ModCtx&, int, int, int, int) { return true; }
  static double score(const ModCtx&, double s, int, int, int, int) { return 20.0 * std::tanh(s / 20.0); }
  static double grad(const ModCtx&, double s, int, int, int, int) { const double t = std::tanh(s / 20.0); return 1.0 - t * t; }
  static void setup(ModCtx&, FlexScoreParams& sp, FlexMaskParams&) { sp.cap = 20.f; sp.inv_cap = 1.f / 20.f; }
};

// harness mod: no score mod, no mask. Prelude part = what src/renderer.ts generates.
#define MOD_NAME "noop"
#define FLEX_SCORE_MOD_IS_IDENTITY 1
#define FLEX_MASK_MOD_IS_TRUE 1
#define FLEX_HAS_CAPTURE_GRADS 0
struct FlexScoreParams { int unused; int pad; };
struct FlexMaskParams { int unused; int pad; };
__device__ __forceinline__ float flex_score_mod(float score, int b, int h, int q, int kv, const FlexScoreParams& p) { return score; }
__device__ __forceinline__ bool flex_mask_mod(int b, int h, int q, int kv, const FlexMaskParams& p) { return true; }
__device__ __forceinline__ float flex_score_mod_grad(float score, int b, int h, int q, int kv, const FlexScoreParams& p) { return 1.0f; }
__device__ __forceinline__ void flex_score_mod_capture_grads(float dpost, float score, int b, int h, int q, int kv, const FlexScoreParams& p) {}
// ---- host side ----
struct HostMod {
  static bool mask(const ModCtx&, int, int, int, int) { return true; }
  static double score(const ModCtx&, double s, int, int, int, int) { return s; }
  static double grad(const ModCtx&, double, int, int, int, int) { return 1.0; }
  static void setup(ModCtx&, FlexScoreParams&, FlexMaskParams&) {}
};

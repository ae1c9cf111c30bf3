// document mask: doc[q] == doc[kv], doc a captured int tensor
#define MOD_NAME "document"
#define FLEX_SCORE_MOD_IS_IDENTITY 1
#define FLEX_MASK_MOD_IS_TRUE 0
#define FLEX_HAS_CAPTURE_GRADS 0
struct FlexScoreParams { int unused; int pad; };
struct FlexMaskParams { const int* doc; int doc_dim0; int pad; };
__device__ __forceinline__ float flex_score_mod(float score, int b, int h, int q, int kv, const FlexScoreParams& p) { return score; }
__device__ __forceinline__ bool flex_mask_mod(int b, int h, int q, int kv, const FlexMaskParams& p) { return p.doc[q] == p.doc[kv]; }
__device__ __forceinline__ float flex_score_mod_grad(float score, int b, int h, int q, int kv, const FlexScoreParams& p) { return 1.0f; }
__device__ __forceinline__ void flex_score_mod_capture_grads(float dpost, float score, int b, int h, int q, int kv, const FlexScoreParams& p) {}
struct HostMod {
  static bool mask(const ModCtx& c, int, int, int q, int kv) { return c.doc[q] == c.doc[kv]; }
  static double score(const ModCtx&, double s, int, int, int, int) { return s; }
  static double grad(const ModCtx&, double, int, int, int, int) { return 1.0; }
  static void setup(ModCtx& c, FlexScoreParams&, FlexMaskParams& mp) { mp.doc = c.d_doc; mp.doc_dim0 = c.doc_len; }
};

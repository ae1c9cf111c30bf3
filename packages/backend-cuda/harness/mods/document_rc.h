// document mask with the row/column split the renderer generates (FLEX_HAS_ROW_COL): doc[q] once
// per row, doc[kv] once per column of a tile. Same host reference as document.h.
#include "document.h"
#undef MOD_NAME
#define MOD_NAME "document_rc"
#define FLEX_HAS_ROW_COL 1
struct FlexRowVals { int m0; };
struct FlexColVals { int m0; };
__device__ __forceinline__ int rc_clamp(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }
__device__ __forceinline__ FlexRowVals flex_row_vals(int b, int h, int q, const FlexScoreParams&, const FlexMaskParams& mp) {
  FlexRowVals r;
  r.m0 = mp.doc[rc_clamp(q, mp.doc_dim0)];
  return r;
}
__device__ __forceinline__ FlexColVals flex_col_vals(int b, int h, int kv, const FlexScoreParams&, const FlexMaskParams& mp) {
  FlexColVals r;
  r.m0 = mp.doc[rc_clamp(kv, mp.doc_dim0)];
  return r;
}
__device__ __forceinline__ float flex_score_mod_rc(float score, int, int, int, int, const FlexRowVals&, const FlexColVals&,
                                                   const FlexScoreParams&) {
  return score;
}
__device__ __forceinline__ bool flex_mask_mod_rc(int, int, int, int, const FlexRowVals& rv, const FlexColVals& cv,
                                                 const FlexMaskParams&) {
  return rv.m0 == cv.m0;
}
__device__ __forceinline__ float flex_score_mod_grad_rc(float, int, int, int, int, const FlexRowVals&, const FlexColVals&,
                                                        const FlexScoreParams&) {
  return 1.0f;
}

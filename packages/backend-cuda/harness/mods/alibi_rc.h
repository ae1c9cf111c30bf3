// alibi with the row/column split the renderer generates (FLEX_HAS_ROW_COL): slope[h] once per row,
// kv - q converted to float without the conversion unit. Same host reference as alibi.h.
#include "alibi.h"
#undef MOD_NAME
#define MOD_NAME "alibi_rc"
#define FLEX_HAS_ROW_COL 1
#define FLEX_SCORE_MOD_GRAD_IS_ONE 1  // d/dscore of score + slope·(kv − q): what the renderer marks
struct FlexRowVals { float s0; };
struct FlexColVals {};
__device__ __forceinline__ float flex_i2f_small(int x) { return __int_as_float(x + 0x4B400000) - 12582912.0f; }
__device__ __forceinline__ FlexRowVals flex_row_vals(int b, int h, int q, const FlexScoreParams& sp, const FlexMaskParams& mp) {
  FlexRowVals r;
  r.s0 = sp.slope[h];
  return r;
}
__device__ __forceinline__ FlexColVals flex_col_vals(int, int, int, const FlexScoreParams&, const FlexMaskParams&) { return {}; }
__device__ __forceinline__ float flex_score_mod_rc(float score, int b, int h, int q, int kv, const FlexRowVals& rv,
                                                   const FlexColVals&, const FlexScoreParams&) {
  return score + rv.s0 * flex_i2f_small(kv - q);
}
__device__ __forceinline__ bool flex_mask_mod_rc(int, int, int, int, const FlexRowVals&, const FlexColVals&, const FlexMaskParams&) {
  return true;
}
__device__ __forceinline__ float flex_score_mod_grad_rc(float, int, int, int, int, const FlexRowVals&, const FlexColVals&,
                                                        const FlexScoreParams&) {
  return 1.0f;
}

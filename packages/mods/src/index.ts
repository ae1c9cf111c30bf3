/**
 * @flexattn/mods — the catalogue of attention variants: mask mods, score mods and combinators.
 * Every factory returns a plain MaskMod / ScoreMod with its runtime parameters on `.params`.
 */
export { ModOptionError } from './errors';
export { type ModParams, type TunableMaskMod, type TunableScoreMod, type Rule, CheckedScalar, defineMaskMod, defineScoreMod, param as tunableScalar } from './params';
export { causal, type CausalOptions, type CausalMask } from './mask/causal';
export { slidingWindow, type SlidingWindowOptions, type SlidingWindowMask } from './mask/sliding-window';
export { dilatedSlidingWindow, type DilatedSlidingWindowMask } from './mask/dilated-sliding-window';
export { prefixLm, type PrefixLmMask } from './mask/prefix-lm';
export { documentMask, type DocumentSpec, type DocumentMask } from './mask/document';
export { chunkedAttention, type ChunkedAttentionMask } from './mask/chunked-attention';
export { attentionSinks, type AttentionSinksMask } from './mask/attention-sinks';
export { neighborhood2d, type Neighborhood2dOptions, type Neighborhood2dMask } from './mask/neighborhood2d';
export { crossAttention, type CrossAttentionMask } from './mask/cross-attention';
export { globalTokens, type GlobalTokensMask } from './mask/global-tokens';
export { noopMask } from './mask/noop';
export { alibi, alibiSlopes, type AlibiScoreMod } from './score/alibi';
export { softcap, type SoftcapScoreMod } from './score/softcap';
export { relativePosition, type RelativeTableOptions, type RelativePositionScoreMod, type RelativeTableScoreMod } from './score/relative-position';
export { t5RelativeBias, t5Bucket, type T5RelativeBiasScoreMod } from './score/t5-relative-bias';
export { headBias, type HeadBiasScoreMod } from './score/head-bias';
export { sandwichBias, sandwichDistanceBias, type SandwichScoreMod } from './score/sandwich';
export { temperature, type TemperatureScoreMod } from './score/temperature';
export { gelu, type GeluScoreMod } from './score/gelu';
export { learnedSinks, type LearnedSinks, type SinkAttentionResult } from './learned-sinks';
export { andMasks, orMasks, notMask, composeScoreMods, maskAsScoreMod, type CombinedMaskMod, type CombinedScoreMod } from './combinators';
export { catalogueExamples, type CatalogueExample } from './examples';

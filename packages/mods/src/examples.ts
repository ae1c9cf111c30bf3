import type { MaskMod, ScoreMod } from '@flexattn/ir';
import { andMasks, composeScoreMods, maskAsScoreMod, notMask, orMasks } from './combinators';
import { attentionSinks } from './mask/attention-sinks';
import { causal } from './mask/causal';
import { chunkedAttention } from './mask/chunked-attention';
import { crossAttention } from './mask/cross-attention';
import { dilatedSlidingWindow } from './mask/dilated-sliding-window';
import { documentMask } from './mask/document';
import { globalTokens } from './mask/global-tokens';
import { neighborhood2d } from './mask/neighborhood2d';
import { noopMask } from './mask/noop';
import { prefixLm } from './mask/prefix-lm';
import { slidingWindow } from './mask/sliding-window';
import { alibi } from './score/alibi';
import { headBias } from './score/head-bias';
import { relativePosition } from './score/relative-position';
import { sandwichBias } from './score/sandwich';
import { softcap } from './score/softcap';
import { t5RelativeBias } from './score/t5-relative-bias';
import { temperature } from './score/temperature';
import { gelu } from './score/gelu';

export interface CatalogueExample {
  /** A file-name-safe identifier: the factory, then what differs (`alibi_learnable`). */
  name: string;
  scoreMod?: ScoreMod;
  maskMod?: MaskMod;
}

/**
 * One small instance of every factory of the catalogue (and each variant that changes the traced
 * graph: learnable tables, approximate tanh, per-batch tensors, the combinators), built fresh on
 * every call. Backends render the hooks of each into golden files, so a reviewer sees the exact
 * kernel source a catalogue mod becomes; it is also a quick tour of the catalogue.
 */
export function catalogueExamples(): CatalogueExample[] {
  const ramp = (n: number, scale: number) => Float32Array.from({ length: n }, (_, i) => (i - n / 2) * scale);
  return [
    { name: 'noop_mask', maskMod: noopMask() },
    { name: 'causal', maskMod: causal() },
    { name: 'sliding_window', maskMod: slidingWindow(256) },
    { name: 'sliding_window_symmetric', maskMod: slidingWindow(64, 64) },
    { name: 'dilated_sliding_window', maskMod: dilatedSlidingWindow(128, 2) },
    { name: 'prefix_lm', maskMod: prefixLm(32) },
    { name: 'prefix_lm_per_batch', maskMod: prefixLm([16, 48]) },
    { name: 'document', maskMod: documentMask({ lengths: [40, 60, 28] }) },
    { name: 'document_causal', maskMod: documentMask({ lengths: [40, 60, 28] }, causal()) },
    { name: 'chunked_attention', maskMod: chunkedAttention(64) },
    { name: 'attention_sinks', maskMod: attentionSinks(4, 128) },
    { name: 'neighborhood2d', maskMod: neighborhood2d({ height: 8, width: 16, kernel: [3, 5] }) },
    { name: 'cross_attention', maskMod: crossAttention([0, 0, 1, 1, 1, 2], [0, 1, 1, 2, 2, 2]) },
    { name: 'global_tokens', maskMod: globalTokens(4, 64) },
    { name: 'and_or_not_masks', maskMod: andMasks(causal(), notMask(orMasks(prefixLm(8), slidingWindow(32)))) },
    { name: 'alibi', scoreMod: alibi(8) },
    { name: 'alibi_learnable', scoreMod: alibi(8, { learnable: true }) },
    { name: 'softcap', scoreMod: softcap(20) },
    { name: 'softcap_approx', scoreMod: softcap(20, { approx: true }) },
    { name: 'relative_position', scoreMod: relativePosition() },
    { name: 'relative_position_table', scoreMod: relativePosition({ table: ramp(2 * 16 + 1, 0.01), maxDistance: 16 }) },
    { name: 't5_relative_bias', scoreMod: t5RelativeBias(ramp(4 * 32, 0.001), 32, 128) },
    { name: 'head_bias_learnable', scoreMod: headBias(ramp(4, 0.1), { learnable: true }) },
    { name: 'sandwich_bias', scoreMod: sandwichBias(8) },
    { name: 'temperature', scoreMod: temperature(0.7) },
    { name: 'gelu', scoreMod: gelu() },
    { name: 'mask_as_score_mod', scoreMod: maskAsScoreMod(causal()) },
    { name: 'alibi_softcap_causal', scoreMod: composeScoreMods(alibi(4), softcap(30)), maskMod: causal() },
  ];
}

/**
 * The whole catalogue rewritten in operator syntax with jsMod (reading the factories' own
 * parameters as free variables) traces to the same IR — the same hash — as the method-chain
 * factories. (floorDiv has no JavaScript operator: those mods call the method, which jsMod allows.)
 * Mods that read free variables are given as source text (in TypeScript a function literal's names
 * must exist in scope); so are those calling imported functions, which the test runner rewrites in
 * compiled functions (`(0, __vi_import_0__.erf)(…)`), as bundlers may.
 */
import { erf, jsMod, type TracedMod, tanhApprox, traceMaskMod, traceScoreMod } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { catalogueFactories } from './factories.test-helpers';
import * as mods from './index';

const mask = (m: Parameters<typeof traceMaskMod>[0]) => traceMaskMod(m);
const score = (m: Parameters<typeof traceScoreMod>[0]) => traceScoreMod(m);

/** [name, the factory's mod, the same mod in operator syntax] */
function catalogue(): [string, TracedMod, TracedMod][] {
  const c = mods.causal({ offset: 3 });
  const sw = mods.slidingWindow(8, 2, { causal: true });
  const dsw = mods.dilatedSlidingWindow(4, 2);
  const dswc = mods.dilatedSlidingWindow(4, 2, { causal: true });
  const plm = mods.prefixLm(5);
  const plmB = mods.prefixLm([3, 4]);
  const doc = mods.documentMask({ lengths: [3, 5, 2] });
  const docInner = mods.documentMask({ lengths: [3, 5, 2] }, mods.causal());
  const chunk = mods.chunkedAttention(4);
  const sinks = mods.attentionSinks(2, 4);
  const nb = mods.neighborhood2d({ height: 6, width: 7, kernel: [3, 3], dilation: [1, 2] });
  const cross = mods.crossAttention([0, 0, 1, -1], [0, 1, 1, 1, 0]);
  const glob = mods.globalTokens(2, 3);
  const alibi = mods.alibi(4);
  const soft = mods.softcap(20);
  const softA = mods.softcap(20, { approx: true });
  const rel = mods.relativePosition();
  const relT = mods.relativePosition({ table: new Float32Array(9), maxDistance: 4 });
  const relH = mods.relativePosition({ table: new Float32Array(18), maxDistance: 4, numHeads: 2 });
  const t5 = mods.t5RelativeBias(new Float32Array(16), 8, 16);
  const hb = mods.headBias([0.1, 0.2]);
  const sand = mods.sandwichBias(4, { dim: 8, maxDistance: 32 });
  const temp = mods.temperature(0.7);
  const c2 = mods.causal();
  const w2 = mods.slidingWindow(4);
  const a2 = mods.alibi(2);
  const s2 = mods.softcap(5);
  const axis = (qc: string, kc: string, size: string, k: string, d: string) =>
    `(${kc} % ${d} === ${qc} % ${d} && Math.abs(${qc}.floorDiv(${d}).clamp(${k}.expr().floorDiv(2), (${size} - ${qc} % ${d} - 1).floorDiv(${d}) + 1 - 1 - ${k}.expr().floorDiv(2)) - ${kc}.floorDiv(${d})) <= ${k}.expr().floorDiv(2))`;
  return [
    ['causal', mask(c), mask(jsMod('(b, h, q, kv) => kv <= q + offset', c.params))],
    ['slidingWindow (causal)', mask(sw), mask(jsMod('(b, h, q, kv) => { const p = q + offset; const inWindow = kv >= p - left && kv <= p + right; return inWindow && kv <= p; }', sw.params))],
    ['dilatedSlidingWindow', mask(dsw), mask(jsMod('(b, h, q, kv) => { const dist = q - kv; return Math.abs(dist) <= window * dilation && dist % dilation === 0; }', dsw.params))],
    ['dilatedSlidingWindow (causal)', mask(dswc), mask(jsMod('(b, h, q, kv) => { const dist = q - kv; const span = window * dilation; return dist >= 0 && dist <= span && dist % dilation === 0; }', dswc.params))],
    ['prefixLm', mask(plm), mask(jsMod('(b, h, q, kv) => kv < prefix || kv <= q', plm.params))],
    ['prefixLm (per batch)', mask(plmB), mask(jsMod('(b, h, q, kv) => kv < prefix[b] || kv <= q', plmB.params))],
    ['documentMask', mask(doc), mask(jsMod('(b, h, q, kv) => docIds[q] === docIds[kv]', doc.params))],
    ['documentMask (inner causal)', mask(docInner), mask(jsMod('(b, h, q, kv) => docIds[q] === docIds[kv] && kv - docStart[kv] <= q - docStart[q] + offset', { ...docInner.params, offset: c2.params.offset }))],
    ['chunkedAttention', mask(chunk), mask(jsMod('(b, h, q, kv) => q.floorDiv(chunk) === kv.floorDiv(chunk) && kv <= q', chunk.params))],
    ['attentionSinks', mask(sinks), mask(jsMod('(b, h, q, kv) => { const p = q + offset; return kv <= p && (kv < sinks || p - kv < window); }', sinks.params))],
    [
      'neighborhood2d',
      mask(nb),
      mask(jsMod(`(b, h, q, kv) => q < height * width && kv < height * width && ${axis('q.floorDiv(width)', 'kv.floorDiv(width)', 'height', 'kernelH', 'dilationH')} && ${axis('(q % width)', '(kv % width)', 'width', 'kernelW', 'dilationW')}`, nb.params)),
    ],
    ['crossAttention', mask(cross), mask(jsMod('(b, h, q, kv) => { const image = queryImageIds[q]; return image >= 0 && image === kvImageIds[kv]; }', cross.params))],
    ['globalTokens', mask(glob), mask(jsMod('(b, h, q, kv) => q < global || kv < global || Math.abs(q - kv) <= window', glob.params))],
    ['noopMask', mask(mods.noopMask()), mask(jsMod(() => true))],
    ['alibi', score(alibi), score(jsMod('(s, b, h, q, kv) => s + slopes[h] * (kv - q)', alibi.params))],
    ['softcap', score(soft), score(jsMod('(s) => Math.tanh(s / cap) * cap', soft.params))],
    ['softcap (approx)', score(softA), score(jsMod('(s) => tanhApprox(s / cap) * cap', { ...softA.params, tanhApprox }))],
    ['relativePosition', score(rel), score(jsMod((s, b, h, q, kv) => s + (q - kv)))],
    ['relativePosition (table)', score(relT), score(jsMod('(s, b, h, q, kv) => s + table[Math.min(Math.max(q - kv, -M), M) + M]', { ...relT.params, M: 4 }))],
    ['relativePosition (per head)', score(relH), score(jsMod('(s, b, h, q, kv) => s + table[h][Math.min(Math.max(q - kv, -M), M) + M]', { ...relH.params, M: 4 }))],
    ['t5RelativeBias', score(t5), score(jsMod('(s, b, h, q, kv) => s + table[h][buckets[Math.min(Math.max(kv - q, -16), 16) + 16]]', t5.params))],
    ['headBias', score(hb), score(jsMod('(s, b, h) => s + bias[h]', hb.params))],
    ['sandwichBias', score(sand), score(jsMod('(s, b, h, q, kv) => s + distanceBias[Math.min(Math.abs(q - kv), 32)] * headScale[h]', sand.params))],
    ['temperature', score(temp), score(jsMod('(s) => s / temperature', temp.params))],
    ['gelu', score(mods.gelu()), score(jsMod('(s) => s * 0.5 * (erf(s * Math.SQRT1_2) + 1)', { erf }))],
    ['andMasks', mask(mods.andMasks(c2, w2)), mask(jsMod('(b, h, q, kv) => kv <= q + o1 && (kv >= q + o2 - left && kv <= q + o2 + right)', { o1: c2.params.offset, o2: w2.params.offset, left: w2.params.left, right: w2.params.right }))],
    ['orMasks', mask(mods.orMasks(c2, w2)), mask(jsMod('(b, h, q, kv) => kv <= q + o1 || (kv >= q + o2 - left && kv <= q + o2 + right)', { o1: c2.params.offset, o2: w2.params.offset, left: w2.params.left, right: w2.params.right }))],
    ['notMask', mask(mods.notMask(c2)), mask(jsMod('(b, h, q, kv) => !(kv <= q + offset)', c2.params))],
    ['composeScoreMods', score(mods.composeScoreMods(a2, s2)), score(jsMod('(s, b, h, q, kv) => Math.tanh((s + slopes[h] * (kv - q)) / cap) * cap', { ...a2.params, ...s2.params }))],
    ['maskAsScoreMod', score(mods.maskAsScoreMod(c2)), score(jsMod('(s, b, h, q, kv) => (kv <= q + offset ? s : -Infinity)', c2.params))],
  ];
}

describe('the catalogue in operator syntax (jsMod) = the method-chain factories', () => {
  const entries = catalogue();
  it('covers every factory of the package', () => {
    for (const name of catalogueFactories()) expect(entries.some(([e]) => e.split(' ')[0] === name), name).toBe(true);
  });
  for (const [name, traced, parsed] of entries) {
    it(name, () => {
      expect(parsed.hash).toBe(traced.hash);
      expect(parsed.root).toBe(traced.root);
    });
  }
});
